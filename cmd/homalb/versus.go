package main

import (
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/spf13/cobra"

	"github.com/homalb/homalb/sweep"
)

func newVersusCmd() *cobra.Command {
	var metric, filter, ours, baselines, axis string
	var goal float64
	var markdown bool
	cmd := &cobra.Command{
		Use:   "versus RESULTS_DIR --policy OURS --baselines A,B",
		Short: "Set one policy against the best of some baselines, scenario by scenario, with ratios and significance",
		Long: `Compare one policy of a finished sweep with the best of some baselines in
every scenario (every combination of the other axes): its mean ± 95%
interval, the baseline with the smallest mean and its interval, the ratio of
the means, and a verdict: "better" or "worse" only where the intervals
separate, "≈" where they overlap. With --goal R a scenario "meets" the goal
where ours is better and the ratio is at most R. "overloaded" replaces the
verdict where the host did not keep up in some run of either (the traffic asks
for more cores than it has, or messages were left unfinished): the numbers
then measure the overload, not a policy.`,
		Example: `  homalb versus results/eval-xl170 --policy gen6 --baselines gen2,gen3 --where load=0.8 --goal 0.7
  homalb versus results/eval-c6525 --policy gen6 --baselines gen2,gen3 --metric all_p99 --where workload=w5`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, ok := sweep.MetricByName(metric); !ok {
				return badInput(fmt.Errorf("--metric %q: not a metric (%s)", metric, metricNames()))
			}
			if ours == "" {
				return badInput(fmt.Errorf("--policy: name the policy to compare"))
			}
			if goal < 0 || math.IsNaN(goal) {
				return badInput(fmt.Errorf("--goal %v: want a ratio ≥ 0", goal))
			}
			where, err := parseWhere(filter)
			if err != nil {
				return badInput(err)
			}
			m, files, err := sweep.Load(args[0])
			if err != nil {
				return badInput(err)
			}
			var base []string
			for _, b := range strings.Split(baselines, ",") {
				if b = strings.TrimSpace(b); b != "" {
					base = append(base, b)
				}
			}
			v, err := sweep.Versus(sweep.Summarize(m, files), metric, axis, ours, base, where)
			if err != nil {
				return badInput(err)
			}
			mt, _ := sweep.MetricByName(metric)
			return writeVersus(cmd.OutOrStdout(), v, mt, goal, markdown)
		},
	}
	cmd.Flags().StringVar(&ours, "policy", "", "the policy to set against the baselines")
	cmd.Flags().StringVar(&baselines, "baselines", "gen2,gen3", "policies to compare with; the best of them in each scenario counts")
	cmd.Flags().StringVar(&axis, "axis", "policy", "the axis whose values --policy and --baselines name")
	cmd.Flags().StringVar(&metric, "metric", "short_p99", "metric to compare (smaller is better)")
	cmd.Flags().StringVar(&filter, "where", "", "keep only scenarios with these axis values, key=value[,key=value]")
	cmd.Flags().Float64Var(&goal, "goal", 0, "ratio ours ÷ best baseline to meet, as well as being better (0: no goal column)")
	cmd.Flags().BoolVar(&markdown, "markdown", false, "print a markdown table")
	return cmd
}

// writeVersus prints a versus table in the metric's display unit; an
// overloaded scenario gets no verdict, since its numbers measure the
// overload.
func writeVersus(w io.Writer, v sweep.VersusTable, mt sweep.Metric, goal float64, markdown bool) error {
	header := append(append([]string{}, v.RowKeys...), v.Ours, "best baseline", "ratio", "verdict")
	if goal > 0 {
		header = append(header, fmt.Sprintf("≤ %g×", goal))
	}
	var rows [][]string
	over := false
	for _, r := range v.Rows {
		row := append([]string{}, r.Labels...)
		cell := func(e sweep.Estimate) string {
			if e.N == 0 {
				return "—"
			}
			return mt.Show(e).String()
		}
		row = append(row, cell(r.Ours))
		ratio, verdict := "—", "—"
		if r.BaseName != "" {
			row = append(row, r.BaseName+" "+cell(r.Base))
			if !math.IsNaN(r.Ratio) {
				ratio = fmt.Sprintf("%.2f", r.Ratio)
			}
			switch {
			case r.Overloaded:
				verdict = "overloaded"
				over = true
			case r.Better:
				verdict = "better"
			case r.Worse:
				verdict = "worse"
			default:
				verdict = "≈"
			}
		} else {
			row = append(row, "—")
		}
		row = append(row, ratio, verdict)
		if goal > 0 {
			meets := "no"
			if r.Better && !r.Overloaded && !math.IsNaN(r.Ratio) && r.Ratio <= goal {
				meets = "meets"
			}
			row = append(row, meets)
		}
		rows = append(rows, row)
	}
	if mt.Unit != nil {
		fmt.Fprintf(w, "%s, mean ± 95%% interval\n", mt.Label())
	}
	if err := writeGrid(w, header, rows, markdown); err != nil {
		return err
	}
	if over {
		fmt.Fprintln(w, "\n"+sweep.OverloadedNote)
	}
	return nil
}
