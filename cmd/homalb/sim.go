package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/homalb/homalb/report"
	"github.com/homalb/homalb/sim"
	"github.com/homalb/homalb/stats"
)

func newSimCmd() *cobra.Command {
	var sf scenarioFlags
	var jsonOut, csvOut string
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Simulate one scenario: a many-core host receiving Homa traffic under one policy",
		Long: `Simulate one scenario: a many-core host receiving Homa traffic (open-loop
Poisson messages at a fraction of the link rate) with the chosen policy steering
every GRO batch, and report slowdown by message size, handoff latencies and
per-core load. Same configuration and seed, same result.

The configuration starts from the profile's defaults, then --config FILE.yaml,
then the flags, then each --set key=value. --print-config shows every key.`,
		Example: `  homalb sim --policy gen3 --workload w3 --load 0.5
  homalb sim --profile c6525-100g --workload w5 --json run.json
  homalb sim --workload w3 --csv w3.csv     # slowdown by size, for pandas or R
  homalb sim --set cost.migrate_ns=0 --set app.sched=pinned --print-config`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := sf.resolve(cmd)
			if err != nil {
				return badInput(err)
			}
			if err := cfg.Check(); err != nil {
				return badInput(err)
			}
			if err := checkOutputs([2]string{"json", jsonOut}, [2]string{"csv", csvOut}); err != nil {
				return badInput(err)
			}
			out := cmd.OutOrStdout()
			if sf.printConfig {
				_, err := out.Write(cfg.YAML())
				return err
			}
			bar := newProgress(cmd.ErrOrStderr(), "simulating", []int64{runEnd(&cfg)})
			res, err := sim.RunWith(cfg, sim.RunOptions{Progress: bar.hook(0)})
			bar.finish()
			if err != nil {
				return err
			}
			if jsonOut != "" {
				if err := writeJSON(jsonOut, out, res); err != nil {
					return err
				}
			}
			if csvOut != "" {
				if err := writeReport(csvOut, out, res, report.WriteCSV); err != nil {
					return err
				}
			}
			if jsonOut == "-" || csvOut == "-" {
				return nil
			}
			return printResult(out, res)
		},
	}
	sf.register(cmd, true)
	cmd.Flags().StringVar(&jsonOut, "json", "", "write the result as JSON to `FILE` (- for stdout, instead of the text report)")
	cmd.Flags().StringVar(&csvOut, "csv", "", "write the slowdown by size as CSV to `FILE`, one row per size bucket (- for stdout)")
	return cmd
}

func us(ns int64) string { return fmt.Sprintf("%.1f", float64(ns)/1000) }

// printResult writes the text report of one run.
func printResult(w io.Writer, r *sim.Result) error {
	c := r.Config
	fmt.Fprintf(w, "%s on %s (%d cores, %g Gbps), %s at %.0f%% load, seed %d\n",
		r.Policy, c.Profile, c.Host.Cores, c.Host.LinkGbps, r.Workload, 100*r.Load, c.Seed)
	if r.Overloaded {
		fmt.Fprintln(w, "OVERLOADED: the host did not keep up; see the note at the end")
	}
	fmt.Fprintf(w, "measured %d messages over %.1f ms simulated (%d packets in the run; %d unfinished); %.0f ms wall, %.2f M packets/s\n\n",
		r.Messages, float64(c.DurationNs)/1e6, r.Packets, r.Incomplete, r.WallMs, r.SimPktsPerSec/1e6)
	fmt.Fprintf(w, "latency (µs): mean %.1f  p50 %s  p99 %s  p99.9 %s\n", r.LatencyNs.Mean/1000, us(r.LatencyNs.P50), us(r.LatencyNs.P99), us(r.LatencyNs.P999))
	fmt.Fprintf(w, "slowdown, one-packet messages: p50 %s  p99 %s  p99.9 %s   all: p50 %s  p99 %s  p99.9 %s\n",
		slowdown(r.Short.Count, r.Short.P50), slowdown(r.Short.Count, r.Short.P99), slowdown(r.Short.Count, r.Short.P999),
		slowdown(r.All.Count, r.All.P50), slowdown(r.All.Count, r.All.P99), slowdown(r.All.Count, r.All.P999))
	fmt.Fprintf(w, "handoffs (µs): GRO→SoftIRQ p50 %s p99 %s   SoftIRQ→App p50 %s p99 %s\n",
		us(r.HandoffNs.GROToSoftIRQ.P50), us(r.HandoffNs.GROToSoftIRQ.P99), us(r.HandoffNs.SoftIRQToApp.P50), us(r.HandoffNs.SoftIRQToApp.P99))
	fmt.Fprintf(w, "hotspots %.1f%% of 100 µs windows; %.2f SoftIRQ cores per multi-packet message; %.1f packets per batch; %.1f%% bypassed\n\n",
		100*r.HotspotFrac, r.SoftIRQCoresPerMsg, r.MeanBatch, 100*r.BypassFrac)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "size ≤ (B)\tcum frac\tcount\tp50\tp99\tp99.9\t")
	for _, b := range thin(r.Slowdown, 12) {
		fmt.Fprintf(tw, "%d\t%.3f\t%d\t%.2f\t%.2f\t%.2f\t\n", b.MaxBytes, b.CumFrac, b.Count, b.P50, b.P99, b.P999)
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "core\tGRO %\tSoftIRQ %\tapp %\tpoll %\tidle %\t")
	for _, cu := range r.Cores {
		fmt.Fprintf(tw, "%d\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t\n", cu.ID, 100*cu.GRO, 100*cu.SoftIRQ, 100*cu.App, 100*cu.Poll, 100*cu.Idle)
	}
	tw.Flush()
	if !r.Invariants.OK() {
		fmt.Fprintf(w, "\nWARNING: model invariants violated: %+v\n", r.Invariants)
	}
	overloadNote(w, r.Config, []*sim.Result{r})
	return nil
}

// thin keeps at most n buckets, evenly spread over the cumulative fraction,
// always keeping the last; the JSON output has them all.
func thin(b []stats.Bucket, n int) []stats.Bucket {
	if len(b) <= n {
		return b
	}
	var out []stats.Bucket
	next := 0.0
	for i, x := range b {
		if x.CumFrac >= next || i == len(b)-1 {
			out = append(out, x)
			next = x.CumFrac + 1/float64(n)
		}
	}
	return out
}
