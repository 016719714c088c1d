package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/homalb/homalb/balance"
	"github.com/homalb/homalb/report"
	"github.com/homalb/homalb/sim"
	"github.com/homalb/homalb/sweep"
)

func newCompareCmd() *cobra.Command {
	var sf scenarioFlags
	var policies []string
	var jsonOut, csvOut, htmlOut string
	var seeds int
	var chartPolicies []string
	cmd := &cobra.Command{
		Use:   "compare",
		Short: "Run every policy on the same scenario and seed, and compare them (the main job)",
		Long: `Run every policy (or those given with --policies) on the same scenario and
seed, in parallel, and print one row per policy: slowdown of one-packet
messages (P50/P99/P99.9), P99 slowdown of all messages, P99 handoff latencies,
the busiest core's utilisation and the fraction of 100 µs windows with a
hotspot. The default scenario is the xl170 profile, W4, 80% load.

With --seeds N every policy runs with seeds seed … seed+N−1 and every column
is reported as mean ± 95% confidence interval; policies are ranked only where
the intervals separate. (For more, use 'homalb sweep'.)`,
		Example: `  homalb compare
  homalb compare --workload w3 --load 0.5 --policies gen2,gen3
  homalb compare --profile c6525-100g --workload w5 --json all.json
  homalb compare --html report.html --csv slowdown.csv
  homalb compare --seeds 10 --duration 100ms`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			base, err := sf.resolve(cmd)
			if err != nil {
				return badInput(err)
			}
			if len(policies) == 0 {
				policies = balance.Names()
			}
			if seeds < 1 || seeds > 1000 {
				return badInput(fmt.Errorf("--seeds %d: want 1..1000", seeds))
			}
			var cfgs []sim.Config
			for _, p := range policies {
				if _, err := balance.Lookup(p); err != nil {
					return badInput(err)
				}
				for k := 0; k < seeds; k++ {
					c := base
					c.Policy, c.Seed = p, base.Seed+uint64(k)
					cfgs = append(cfgs, c)
				}
			}
			// The scenario must be valid for some policy; a policy that
			// cannot run it (gen3's layout on 6 cores) says so in its row.
			var checkErr error
			for _, p := range policies {
				c := base
				c.Policy = p
				if checkErr = c.Check(); checkErr == nil {
					break
				}
			}
			if checkErr != nil {
				return badInput(checkErr)
			}
			if err := checkOutputs([2]string{"json", jsonOut}, [2]string{"csv", csvOut}, [2]string{"html", htmlOut}); err != nil {
				return badInput(err)
			}
			out := cmd.OutOrStdout()
			if sf.printConfig {
				_, err := out.Write(base.YAML())
				return err
			}
			ends := make([]int64, len(cfgs))
			for i := range cfgs {
				ends[i] = runEnd(&cfgs[i])
			}
			bar := newProgress(cmd.ErrOrStderr(), fmt.Sprintf("simulating %d policies", len(cfgs)), ends)
			results, errs := runAll(cfgs, bar)
			bar.finish()
			var ok []*sim.Result
			for _, r := range results {
				if r != nil {
					ok = append(ok, r)
				}
			}
			if jsonOut != "" {
				if err := writeJSON(jsonOut, out, ok); err != nil {
					return err
				}
			}
			if csvOut != "" {
				if err := writeReport(csvOut, out, ok, report.WriteCSV); err != nil {
					return err
				}
			}
			if htmlOut != "" {
				title := fmt.Sprintf("homalb compare: %s at %.0f%% load on %s", base.Workload, 100*base.Load, base.Profile)
				var first []*sim.Result // the report draws one run per policy: the first seed's
				for _, r := range ok {
					if r.Config.Seed == base.Seed {
						first = append(first, r)
					}
				}
				if err := writeReport(htmlOut, out, first, func(w io.Writer, rs []*report.Result) error {
					return report.WriteHTML(w, rs, report.Options{Title: title, Policies: chartPolicies})
				}); err != nil {
					return err
				}
			}
			if jsonOut == "-" || csvOut == "-" || htmlOut == "-" {
				return nil
			}
			if seeds > 1 {
				return printSeedComparison(out, base, seeds, ok, errs)
			}
			return printComparison(out, base, policies, results, errs)
		},
	}
	sf.register(cmd, false)
	cmd.Flags().StringSliceVar(&policies, "policies", nil, "policies to compare, comma-separated (default: all)")
	cmd.Flags().IntVar(&seeds, "seeds", 1, "run each policy with this many seeds and report mean ± 95% CI")
	cmd.Flags().StringVar(&jsonOut, "json", "", "write the results as a JSON array to `FILE` (- for stdout)")
	cmd.Flags().StringVar(&csvOut, "csv", "", "write the slowdown by size as CSV to `FILE`, one row per policy and size bucket (- for stdout)")
	cmd.Flags().StringVar(&htmlOut, "html", "", "write an HTML report with charts to `FILE` (- for stdout; see 'homalb report')")
	cmd.Flags().StringSliceVar(&chartPolicies, "chart-policies", nil, "policies drawn in the --html slowdown chart, comma-separated, or all (default: gen2, gen3 and the best other policy)")
	_ = cmd.RegisterFlagCompletionFunc("policies", fixedCompletion(balance.Names()...))
	return cmd
}

// runAll runs the configurations on sweep's worker pool, one per CPU; each
// run is single-threaded and deterministic, so the results do not depend on
// the parallelism. bar (nil for none) shows their progress.
func runAll(cfgs []sim.Config, bar *progressBar) ([]*sim.Result, []error) {
	results := make([]*sim.Result, len(cfgs))
	errs := make([]error, len(cfgs))
	sweep.Each(len(cfgs), 0, func(i int) {
		results[i], errs[i] = sim.RunWith(cfgs[i], sim.RunOptions{Progress: bar.hook(i)})
		if h := bar.hook(i); errs[i] != nil && h != nil { // a failed run counts as done
			h(runEnd(&cfgs[i]), runEnd(&cfgs[i]))
		}
	})
	return results, errs
}

func printComparison(w io.Writer, base sim.Config, policies []string, results []*sim.Result, errs []error) error {
	fmt.Fprintf(w, "%s (%d cores, %g Gbps), %s at %.0f%% load, %.0f ms measured, seed %d\n\n",
		base.Profile, base.Host.Cores, base.Host.LinkGbps, base.Workload, 100*base.Load, float64(base.DurationNs)/1e6, base.Seed)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tshort\tshort\tshort\tall\tGRO→SoftIRQ\tSoftIRQ→app\tbusiest\thotspot\t\t\t")
	fmt.Fprintln(tw, "policy\tp50\tp99\tp99.9\tp99\tp99 µs\tp99 µs\tcore %\t%\tmessages\t\t")
	var failed []string
	for i, p := range policies {
		r := results[i]
		if r == nil {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t-\t-\t-\t-\t\t\n", p)
			failed = append(failed, fmt.Sprintf("%s: %v", p, errs[i]))
			continue
		}
		busiest := 0.0
		for _, c := range r.Cores {
			busiest = max(busiest, c.Busy())
		}
		mark := ""
		if r.Overloaded {
			mark = "OVERLOADED"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.0f\t%.0f\t%d\t%s\t\n", p,
			slowdown(r.Short.Count, r.Short.P50), slowdown(r.Short.Count, r.Short.P99), slowdown(r.Short.Count, r.Short.P999), slowdown(r.All.Count, r.All.P99),
			us(r.HandoffNs.GROToSoftIRQ.P99), us(r.HandoffNs.SoftIRQToApp.P99),
			100*busiest, 100*r.HotspotFrac, r.Messages, mark)
		if !r.Invariants.OK() {
			failed = append(failed, fmt.Sprintf("%s: model invariants violated: %+v", p, r.Invariants))
		}
	}
	tw.Flush()
	printLegend(w)
	printDeployments(w, policies, results)
	if len(failed) > 0 {
		fmt.Fprintln(w, "\n"+strings.Join(failed, "\n"))
	}
	overloadNote(w, base, results)
	return nil
}

// compareMetrics are the columns of compare --seeds.
var compareMetrics = []string{"short_p50", "short_p99", "short_p999", "all_p99", "gro_softirq_p99_ns", "softirq_app_p99_ns", "busiest_core", "hotspot_frac"}

func printSeedComparison(w io.Writer, base sim.Config, seeds int, results []*sim.Result, errs []error) error {
	fmt.Fprintf(w, "%s (%d cores, %g Gbps), %s at %.0f%% load, %.0f ms measured, seeds %d…%d: mean ± 95%% interval\n\n",
		base.Profile, base.Host.Cores, base.Host.LinkGbps, base.Workload, 100*base.Load, float64(base.DurationNs)/1e6, base.Seed, base.Seed+uint64(seeds)-1)
	s := sweep.SummarizeResults(results)
	if err := s.Table(w, compareMetrics); err != nil {
		return err
	}
	for _, m := range []string{"short_p99", "all_p99"} {
		if lines := s.Ranking(m); len(lines) > 0 {
			fmt.Fprintf(w, "\nranking by %s (\"<\": intervals separate; \"≈\": they overlap): %s\n", m, strings.Join(lines, "; "))
		}
	}
	printLegend(w)
	seen := map[string]bool{}
	for _, err := range errs {
		if err != nil && !seen[err.Error()] {
			seen[err.Error()] = true
			fmt.Fprintln(w, "\n"+err.Error())
		}
	}
	overloadNote(w, base, results)
	return nil
}

// slowdown formats a slowdown percentile, or "-" when no message of the
// kind was measured (W5 has no one-packet messages).
func slowdown(n int64, v float64) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", v)
}

// overloadNote says when runs were overloaded, why, and what to do, so that
// no one reads slowdowns of thousands as a verdict on a policy.
func overloadNote(w io.Writer, base sim.Config, results []*sim.Result) {
	offered, over, unfinished, early := 0.0, 0, int64(0), 0
	for _, r := range results {
		if r == nil {
			continue
		}
		offered = max(offered, r.OfferedCores)
		if r.Overloaded {
			over++
		}
		unfinished += r.Incomplete
		if r.StoppedEarly {
			early++
		}
	}
	if over == 0 {
		return
	}
	fmt.Fprintf(w, "\nOVERLOADED: %s of %d did not keep up: an overloaded run's slowdowns measure the overload, not the policy.\n", plural(over, "run"), len(results))
	if offered > float64(base.Host.Cores) {
		fmt.Fprintf(w, "The traffic asks for ≈%.1f cores of %d (offered_cores): no policy can keep up.\n", offered, base.Host.Cores)
	}
	if unfinished > 0 || early > 0 {
		fmt.Fprintf(w, "%d measured messages were left unfinished at the end of the drain", unfinished)
		if early > 0 {
			fmt.Fprintf(w, "; %s stopped early with more than 200,000 messages alive", plural(early, "run"))
		}
		fmt.Fprintln(w, ".")
	}
	fmt.Fprintln(w, "To compare policies, lower the load"+suggestLoad(base, offered)+", use the larger host (--profile c6525-100g), or a lighter workload.")
}

// suggestLoad proposes a load at which the traffic asks for 80% of the
// host's cores, when the offered cores say the host is too small.
func suggestLoad(base sim.Config, offered float64) string {
	if offered <= float64(base.Host.Cores) || offered <= 0 {
		return ""
	}
	return fmt.Sprintf(" (--load %.2f asks for about %.0f of the %d cores)", base.Load*0.8*float64(base.Host.Cores)/offered, 0.8*float64(base.Host.Cores), base.Host.Cores)
}

func printLegend(w io.Writer) {
	fmt.Fprintln(w, `
short: slowdown of one-packet messages; all: of every message. Slowdown = latency
(first packet at the NIC → whole message with a thread) ÷ the same size's latency
on an idle host. busiest core: its GRO + SoftIRQ + app work (polling excluded).
hotspot: 100 µs windows in which some core was > 90% busy.`)
}

// printDeployments shows what each row ran besides its steering rule: the
// cores its NIC channels feed and its GRO busy window, as the policy was
// deployed (balance.Deploy) or as --set made them.
func printDeployments(w io.Writer, policies []string, results []*sim.Result) {
	type dep struct{ gro, busy string }
	deps := make([]dep, len(results))
	differ := false
	for i, r := range results {
		if r == nil {
			continue
		}
		deps[i] = dep{coreList(r.Config.Host.GROCores), fmt.Sprintf("%g µs", float64(r.Config.Balance.GROBusyNs)/1000)}
		if deps[i] != deps[0] {
			differ = true
		}
	}
	fmt.Fprint(w, "\ndeployed: ")
	if !differ {
		fmt.Fprintf(w, "every row: GRO on %s, gro_busy %s\n", deps[0].gro, deps[0].busy)
		return
	}
	fmt.Fprintln(w, "rows differ in more than the steering rule (--set balance.gro_busy_ns=… or host.gro_cores=… sets one for every row):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for i, p := range policies {
		if results[i] != nil {
			fmt.Fprintf(tw, "  %s\tGRO on %s\tgro_busy %s\n", p, deps[i].gro, deps[i].busy)
		}
	}
	tw.Flush()
}

// coreList writes a set of cores compactly: "20 cores (0-19)", "5 cores (0,2,4,6,8)".
func coreList(cores []int) string {
	var parts []string
	for i := 0; i < len(cores); {
		j := i
		for j+1 < len(cores) && cores[j+1] == cores[j]+1 {
			j++
		}
		if j > i+1 {
			parts = append(parts, fmt.Sprintf("%d-%d", cores[i], cores[j]))
		} else {
			for k := i; k <= j; k++ {
				parts = append(parts, fmt.Sprint(cores[k]))
			}
		}
		i = j + 1
	}
	return fmt.Sprintf("%d cores (%s)", len(cores), strings.Join(parts, ","))
}
