// Package report turns the results of runs into things people look at: a
// self-contained HTML page of SVG charts, a tidy CSV of the slowdown buckets,
// and Chrome/Perfetto trace-event JSON of a window of a run.
//
// The input is the JSON output contract, read into [Result] values: by
// [ReadFile] from the files of `homalb sim --json` (one object), `homalb
// compare --json` (an array) or `homalb load --json` (a real run), or by
// [Results] from the values themselves. The report knows the measurement
// types of package stats and nothing of the simulator: a real run is drawn
// as a real run, and what it did not measure is shown as not measured.
// Nothing here runs anything or reads a clock: the output is a function of
// the input, so the same results give the same bytes.
//
//   - [WriteHTML] draws, per scenario (workload, load, machine), slowdown
//     against message size as Homa's benchmarks do (x the cumulative fraction
//     of messages, y the slowdown on a log scale, P50 and P99 per policy),
//     the CDFs of the two handoff latencies; and per run the stacked
//     utilisation of every core and a heatmap of each core's busy time over
//     the measured window, and its configuration, collapsed. The page needs
//     no network: CSS, SVG and a few lines of script are inline. Charts carry
//     stable classes and data- attributes (svg.chart.slowdown[data-workload],
//     path.series[data-policy][data-pct], …) for tests and for scripts.
//   - [WriteCSV] writes one row per size bucket per result, with the
//     scenario's identity on every row, for pandas or R.
//   - [TraceWriter] streams the steps of a window (a driver adapts its own
//     steps to [TraceStep]) as
//     trace events: a track per core, a slice per step, flow arrows from a
//     packet's GRO to its SoftIRQ and from a message's last SoftIRQ to its
//     delivery. The caller must Close it after the run.
//
// Example:
//
//	res, err := sim.Run(cfg)
//	if err != nil { … }
//	rs, err := report.Results(res)
//	if err != nil { … }
//	f, _ := os.Create("report.html")
//	defer f.Close()
//	err = report.WriteHTML(f, rs, report.Options{Title: "gen2 vs gen3"})
package report
