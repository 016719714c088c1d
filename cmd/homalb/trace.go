package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/homalb/homalb/report"
	"github.com/homalb/homalb/sim"
)

// maxTraceWindow bounds the window a trace covers: at 80% load on xl170 a
// trace takes about 1.3 MB per ms of simulated time, so 20 ms is about
// 26 MB, already more than Perfetto opens comfortably.
const maxTraceWindow = 20 * time.Millisecond

// traceMargin is how long the run goes on after the window when trace stops
// it early: steps that started in the window and end later are still traced.
const traceMargin = 10 * int64(time.Millisecond)

func newTraceCmd() *cobra.Command {
	var sf scenarioFlags
	var window, out string
	cmd := &cobra.Command{
		Use:   "trace",
		Short: "Export every step of a window of simulated time as a Perfetto/Chrome trace",
		Long: `Simulate a scenario (the same flags as sim) and write every piece of work done
in a window of simulated time as Chrome trace-event JSON, which the Perfetto UI
(https://ui.perfetto.dev) and chrome://tracing open: one track per core, a
slice for each packet's GRO and SoftIRQ and each thread's copy and service
work, flow arrows from a packet's GRO to its SoftIRQ and from a message's last
SoftIRQ to the copy that delivered it.

--window DURATION@START: START is simulated time since the run began, warmup
included (the default profiles warm up for 10ms). The trace is written as the
run goes, and the run stops shortly after the window; the steps are those of
the full run.`,
		Example: `  homalb trace --window 2ms@40ms -o trace.json
  homalb trace --policy gen3 --workload w5 --window 500us@100ms -o gen3.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			from, to, err := parseWindow(window)
			if err != nil {
				return badInput(err)
			}
			cfg, err := sf.resolve(cmd)
			if err != nil {
				return badInput(err)
			}
			if err := cfg.Check(); err != nil {
				return badInput(err)
			}
			if err := checkOutputs([2]string{"output", out}); err != nil {
				return badInput(err)
			}
			if sf.printConfig {
				_, err := cmd.OutOrStdout().Write(cfg.YAML())
				return err
			}
			if end := runEnd(&cfg); from >= end {
				return badInput(fmt.Errorf("--window %s starts after the run ends at %v of simulated time (warmup + duration + drain)",
					window, time.Duration(end)))
			}
			var stats report.TraceStats
			err = writeOutput(out, cmd.OutOrStdout(), func(w io.Writer) error {
				var err error
				stats, err = traceRun(cfg, from, to, traceMargin, w, cmd.ErrOrStderr())
				return err
			})
			if err != nil {
				return err
			}
			if out != "-" {
				fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %d slices and %d flow arrows on %d cores, %v from %v of simulated time; open it in https://ui.perfetto.dev\n",
					out, stats.Slices, stats.Flows, cfg.Host.Cores, time.Duration(to-from), time.Duration(from))
			}
			return nil
		},
	}
	sf.register(cmd, true)
	cmd.Flags().StringVar(&window, "window", "2ms@40ms", "the simulated time to trace, `DURATION@START`")
	cmd.Flags().StringVarP(&out, "output", "o", "trace.json", "write the trace to `FILE` (- for stdout)")
	return cmd
}

// parseWindow parses DURATION@START into [from, to) in ns.
func parseWindow(s string) (from, to int64, err error) {
	dur, start, ok := strings.Cut(s, "@")
	if !ok {
		return 0, 0, fmt.Errorf("--window %q: want DURATION@START, e.g. 2ms@40ms", s)
	}
	d, err := time.ParseDuration(strings.TrimSpace(dur))
	if err != nil {
		return 0, 0, fmt.Errorf("--window %q: duration %q is not a duration such as 2ms or 500us", s, dur)
	}
	st, err := time.ParseDuration(strings.TrimSpace(start))
	if err != nil {
		return 0, 0, fmt.Errorf("--window %q: start %q is not a duration such as 40ms", s, start)
	}
	switch {
	case d <= 0:
		return 0, 0, fmt.Errorf("--window %q: the duration must be positive", s)
	case d > maxTraceWindow:
		return 0, 0, fmt.Errorf("--window %q: at most %v of simulated time can be traced (about 1.3 MB per ms); trace a shorter window", s, maxTraceWindow)
	case st < 0:
		return 0, 0, fmt.Errorf("--window %q: the start must not be negative", s)
	case int64(st) > math.MaxInt64-int64(d):
		return 0, 0, fmt.Errorf("--window %q: too far in the future", s)
	}
	return int64(st), int64(st + d), nil
}

// traceRun runs cfg with a tracer streaming the steps of [from, to) to w. If
// margin ≥ 0 and the run would go on more than margin after the window, it
// is stopped there: what happens up to then does not depend on when the run
// ends, so the trace is the same. Progress goes to stderr if a terminal.
func traceRun(cfg sim.Config, from, to, margin int64, w, stderr io.Writer) (report.TraceStats, error) {
	run := cfg
	if margin >= 0 && to+margin < cfg.WarmupNs+cfg.DurationNs {
		run.DurationNs = max(to+margin-cfg.WarmupNs, 1)
		run.DrainNs = 0
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return report.TraceStats{}, fmt.Errorf("trace: %w", err)
	}
	tw := report.NewTraceWriter(w, report.TraceMeta{
		Process: fmt.Sprintf("%s, %s at %.0f%% load, %s, seed %d", cfg.Policy, cfg.Workload, 100*cfg.Load, cfg.Profile, cfg.Seed),
		Cores:   cfg.Host.Cores,
		Other: map[string]string{
			"generator": "homalb trace",
			"policy":    cfg.Policy,
			"workload":  cfg.Workload,
			"load":      strconv.FormatFloat(cfg.Load, 'g', -1, 64),
			"seed":      strconv.FormatUint(cfg.Seed, 10),
			"window":    fmt.Sprintf("%v@%v", time.Duration(to-from), time.Duration(from)),
			"time":      "µs of simulated time since the start of the run (warmup included)",
			"config":    string(cfgJSON),
		},
	})
	bar := newProgress(stderr, "simulating", []int64{runEnd(&run)})
	_, err = sim.RunWith(run, sim.RunOptions{Progress: bar.hook(0), Tracer: simSteps{tw}, TraceFrom: from, TraceTo: to})
	bar.finish()
	if cerr := tw.Close(); err == nil {
		err = cerr
	}
	return tw.Stats(), err
}

// simSteps passes the simulator's steps to a trace writer, which knows
// nothing of the simulator.
type simSteps struct{ w *report.TraceWriter }

// traceKinds maps the simulator's step kinds to the trace's.
var traceKinds = [...]report.TraceKind{
	sim.StepGRO:     report.TraceGRO,
	sim.StepSoftIRQ: report.TraceSoftIRQ,
	sim.StepCopy:    report.TraceCopy,
	sim.StepService: report.TraceService,
}

func (a simSteps) Step(s sim.Step) {
	a.w.Step(report.TraceStep{Core: s.Core, Kind: traceKinds[s.Kind], Start: s.Start, End: s.End,
		Msg: s.Msg, Pkt: s.Pkt, Bytes: s.Bytes, Inline: s.Inline, Delivered: s.Delivered})
}
