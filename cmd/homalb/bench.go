package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/homalb/homalb/balance"
	"github.com/homalb/homalb/report"
	"github.com/homalb/homalb/rx"
	"github.com/homalb/homalb/rx/loadgen"
)

func newBenchCmd() *cobra.Command {
	var lf loadFlags
	var sf serveFlags
	var policies []string
	var htmlOut string
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Run the real pipeline under the same load with each policy and compare them",
		Long: `bench runs, for each policy in turn, an echo server of the real pipeline
(package rx, on a free loopback port, with the layout of the flags as 'homalb
serve' takes them) and the load generator of 'homalb load' against it, in one
process, and prints one row per policy as 'homalb compare' does for the
simulator: slowdown of one-packet RPCs (P50/P99/P99.9), P99 slowdown of all,
RTT P50/P99, P99 handoff latencies, the busiest core's busy time, RPCs
completed and failed. Every policy that rx can run is benchmarked unless
--policies names some (oracle and oracle6 need the simulator's knowledge of the queues).

Before any load, each policy's idle server is calibrated (see below); every
policy's slowdowns are then normalised by the same ideal: the smallest base RTT
and the highest link rate seen, so that the rows compare (--base-rtt and
--link-gbps give it instead). The load generator shares the host's CPUs with
the server: on a small host its work shows in the results.

` + slowdownHelp,
		Example: `  homalb bench --workload w3 --rate 5000 --duration 3s
  homalb bench --policies gen2,gen3 --workload w4 --gbps 0.3 --json bench.json
  homalb bench --cores 4 --gro-cores 0 --softirq-cores 1,2,3 --app-cores 1,2,3 --threads 3 --html bench.html`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sf.addr, sf.maxMsg, sf.maxInflight = "127.0.0.1:0", rx.DefaultMaxMessageLen, rx.DefaultMaxInflightBytes
			sf.queue, sf.timeout = rx.DefaultQueueDepth, rx.DefaultMessageTimeout
			sf.faults = faultFlags{seed: 1} // faults apply to the clients (--loss …)
			lf.unsched, lf.overcommit = sf.unsched, sf.overcommit
			if err := checkOutputs([2]string{"json", lf.jsonOut}, [2]string{"html", htmlOut}); err != nil {
				return badInput(fmt.Errorf("bench: %w", err))
			}
			runs, skipped, err := benchPlan(&sf, policies)
			if err != nil {
				return badInput(fmt.Errorf("bench: %w", err))
			}
			lcfg, err := lf.config("")
			if err != nil {
				return badInput(fmt.Errorf("bench: %w", err))
			}
			ctx, stop := loadContext(cmd)
			defer stop()
			out, errw := cmd.OutOrStdout(), cmd.ErrOrStderr()
			for i := range runs {
				runs[i].Logf = func(format string, args ...any) {
					fmt.Fprintf(errw, "bench: warning: "+format+"\n", args...)
				}
			}
			var results []*realResult
			var failures []string
			cals := make([]*loadgen.Calibration, len(runs))
			if lcfg.BaseRTT == 0 || lcfg.LinkGbps == 0 {
				base, link, err := benchCalibrate(ctx, errw, runs, lcfg, cals)
				if err != nil {
					return fmt.Errorf("bench: %w", err)
				}
				if lcfg.BaseRTT == 0 {
					lcfg.BaseRTT = base
				}
				if lcfg.LinkGbps == 0 {
					lcfg.LinkGbps = link
				}
			}
			for i, run := range runs {
				if ctx.Err() != nil {
					break
				}
				fmt.Fprintf(errw, "bench: %s (%d of %d): %v of load\n", run.Policy, i+1, len(runs), lcfg.Duration)
				r, err := benchOne(ctx, run, lcfg, lf.workload, cals[i])
				if err != nil {
					failures = append(failures, fmt.Sprintf("%s: %v", run.Policy, err))
				}
				results = append(results, r)
			}
			var ok []*realResult
			for _, r := range results {
				if r != nil {
					ok = append(ok, r)
				}
			}
			if lf.jsonOut != "" {
				if err := writeJSON(lf.jsonOut, out, ok); err != nil {
					return fmt.Errorf("bench: %w", err)
				}
			}
			if htmlOut != "" {
				title := fmt.Sprintf("homalb bench: %s at %.0f RPC/s on loopback", lf.workload, lcfg.Rate)
				if err := writeReport(htmlOut, out, ok, func(w io.Writer, rs []*report.Result) error {
					return report.WriteHTML(w, rs, report.Options{Title: title})
				}); err != nil {
					return fmt.Errorf("bench: %w", err)
				}
			}
			if lf.jsonOut == "-" || htmlOut == "-" {
				return nil
			}
			printBench(out, runs, results, &lcfg, lf.workload, skipped)
			if len(failures) > 0 {
				fmt.Fprintln(out, "\n"+strings.Join(failures, "\n"))
				return fmt.Errorf("bench: %d of %d policies failed", len(failures), len(runs))
			}
			return ctx.Err()
		},
	}
	fl := cmd.Flags()
	fl.StringSliceVar(&policies, "policies", nil, "policies to benchmark, comma-separated (default: every policy rx runs)")
	sf.registerLayout(fl)
	lf.register(fl, 2*time.Second)
	fl.StringVar(&htmlOut, "html", "", "write an HTML report with charts to `FILE` (- for stdout; see 'homalb report')")
	_ = cmd.RegisterFlagCompletionFunc("policies", fixedCompletion(balance.Names()...))
	return cmd
}

// benchPlan returns the server configuration of each policy to run, and
// the policies skipped (with why) when none were named. A named policy that
// cannot run is an error.
func benchPlan(sf *serveFlags, named []string) (runs []rx.Config, skipped []string, err error) {
	all := len(named) == 0
	if all {
		named = balance.Names()
	}
	for _, p := range named {
		f := *sf
		f.policy = p
		cfg, err := f.config(func(string, ...any) {})
		if err != nil {
			if !all {
				return nil, nil, err
			}
			skipped = append(skipped, fmt.Sprintf("%s (%s)", p, strings.TrimPrefix(oneLine(err), "serve: ")))
			continue
		}
		runs = append(runs, cfg)
	}
	if len(runs) == 0 {
		return nil, nil, errors.New("no policy can run with this layout: " + strings.Join(skipped, "; "))
	}
	return runs, skipped, nil
}

// benchCalibrate measures the idle path of each policy's server (into
// cals) and returns the best base RTT and link rate seen: the normaliser of
// every policy's slowdowns, so that they compare.
func benchCalibrate(ctx context.Context, errw io.Writer, runs []rx.Config, lcfg loadgen.Config, cals []*loadgen.Calibration) (time.Duration, float64, error) {
	var base time.Duration
	var link float64
	for i, run := range runs {
		fmt.Fprintf(errw, "bench: %s (%d of %d): calibrating the idle server\n", run.Policy, i+1, len(runs))
		s, err := rx.Listen(run)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %w", run.Policy, err)
		}
		go func() { _ = s.Serve(rx.Echo) }() // returns at Close
		cals[i], err = loadgen.Calibrate(ctx, s.Addr().String(), lcfg.Client, lcfg.CalibrationCalls, rx.DefaultMaxMessageLen)
		_ = s.Close()
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %w", run.Policy, err)
		}
		if base == 0 || cals[i].BaseRTT < base {
			base = cals[i].BaseRTT
		}
		link = max(link, cals[i].LinkGbps)
	}
	return base, link, nil
}

// benchOne runs one policy: a server, the load, and the server's telemetry
// over the load. cal (may be nil) is the policy's own calibration.
func benchOne(ctx context.Context, srv rx.Config, lcfg loadgen.Config, spec string, cal *loadgen.Calibration) (*realResult, error) {
	s, err := rx.Listen(srv)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	go func() { _ = s.Serve(rx.Echo) }() // returns at Close
	lcfg.Addr = s.Addr().String()
	m, err := runMeasured(ctx, s, lcfg)
	if err != nil {
		return nil, err
	}
	m.res.Calibration = cal
	return m.result(srv, spec, &lcfg), nil
}

// measured is a load run with the server's telemetry over it.
type measured struct {
	res *loadgen.Result
	st  rx.Stats
}

// runMeasured runs the load against s and takes the difference of the
// server's counters over it (its handoff histograms include the
// calibration's few calls).
func runMeasured(ctx context.Context, s *rx.Server, lcfg loadgen.Config) (*measured, error) {
	st0 := s.Stats()
	res, err := loadgen.Run(ctx, lcfg)
	if err != nil {
		return nil, err
	}
	st1 := s.Stats()
	d := st1
	d.UptimeNs = st1.UptimeNs - st0.UptimeNs
	for i := range d.Cores {
		a, b := &st0.Cores[i], &d.Cores[i]
		b.GROPackets -= a.GROPackets
		b.GROBursts -= a.GROBursts
		b.GROBatches -= a.GROBatches
		b.InlinePackets -= a.InlinePackets
		b.LocalBatches -= a.LocalBatches
		b.RemoteBatches -= a.RemoteBatches
		b.SoftIRQPackets -= a.SoftIRQPackets
		b.AppMessages -= a.AppMessages
		b.GRONs -= a.GRONs
		b.SoftIRQNs -= a.SoftIRQNs
		b.AppNs -= a.AppNs
	}
	for r := range d.Drops {
		d.Drops[r] -= st0.Drops[r]
	}
	d.Messages -= st0.Messages
	d.MessageBytes -= st0.MessageBytes
	d.Replies -= st0.Replies
	d.ReplyErrors -= st0.ReplyErrors
	return &measured{res: res, st: d}, nil
}

func (m *measured) result(srv rx.Config, spec string, lcfg *loadgen.Config) *realResult {
	return newRealResult(srv.Policy, spec, lcfg, m.res, &srv, &m.st)
}

// printBench writes the comparison table.
func printBench(w io.Writer, runs []rx.Config, results []*realResult, lcfg *loadgen.Config, spec string, skipped []string) {
	first := runs[0]
	fmt.Fprintf(w, "loopback, %d logical cores (GRO %v, SoftIRQ %v, app %v × %d threads), %s at %.0f RPC/s (%.3f Gbps offered), %v per policy, seed %d\n",
		coresOf(results), first.GROCores, first.SoftIRQCores, first.AppCores, first.Threads, spec, lcfg.Rate,
		lcfg.Rate*lcfg.Sizes.Mean()*8/1e9, lcfg.Duration, lcfg.Seed)
	fmt.Fprintf(w, "slowdown ideal: base RTT %s µs + 2 × size × 8 ÷ %.2f Gbps\n\n", us(int64(lcfg.BaseRTT)), lcfg.LinkGbps)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tshort\tshort\tshort\tall\tRTT\tRTT\tGRO→SoftIRQ\tSoftIRQ→app\tbusiest\tidle\t\t\t\t")
	fmt.Fprintln(tw, "policy\tp50\tp99\tp99.9\tp99\tp50 µs\tp99 µs\tp99 µs\tp99 µs\tcore %\tRTT µs\tdone\tfailed\t\t")
	for i, run := range runs {
		if i >= len(results) {
			break
		}
		r := results[i]
		if r == nil {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t\t\n", run.Policy)
			continue
		}
		busiest := 0.0
		for _, c := range r.Cores {
			busiest = max(busiest, c.Busy())
		}
		var failed int64
		for _, n := range r.Failed {
			failed += n
		}
		own := "-"
		if r.Calibration != nil {
			own = us(int64(r.Calibration.BaseRTT))
		}
		mark := ""
		if r.Overloaded {
			mark = "OVERLOADED"
		}
		gro, app := "-", "-"
		if h := r.HandoffNs; h != nil {
			gro, app = us(h.GROToSoftIRQ.P99), us(h.SoftIRQToApp.P99)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.0f\t%s\t%d\t%d\t%s\t\n", r.Policy,
			slowdown(r.Short.Count, r.Short.P50), slowdown(r.Short.Count, r.Short.P99), slowdown(r.Short.Count, r.Short.P999), slowdown(r.All.Count, r.All.P99),
			us(int64(r.RTTNs.P50)), us(int64(r.RTTNs.P99)), gro, app, 100*busiest, own, r.Completed, failed, mark)
	}
	tw.Flush()
	fmt.Fprintln(w, `
short: slowdown of one-packet RPCs; all: of every RPC. Slowdown = RTT ÷ (base RTT
+ 2 × size × 8 ÷ link rate), one ideal for every policy: the smallest base RTT
and the highest link rate that the policies' idle servers showed (idle RTT: each
policy's own; see 'homalb bench --help'). busiest core: its GRO + SoftIRQ + app
busy time over the load. done/failed: RPCs completed, and failed by timeout,
backlog or error (the JSON has the reasons); OVERLOADED: some RPCs failed, so
the slowdowns describe a server that did not keep up, not its policy.`)
	if len(skipped) > 0 {
		fmt.Fprintln(w, "\nskipped: "+strings.Join(skipped, "; "))
	}
}

func coresOf(results []*realResult) int {
	for _, r := range results {
		if r != nil {
			return r.Config.Host.Cores
		}
	}
	return 0
}
