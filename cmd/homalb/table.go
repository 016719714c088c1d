package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/homalb/homalb/sweep"
)

func newTableCmd() *cobra.Command {
	var metric, cols, filter string
	var markdown bool
	cmd := &cobra.Command{
		Use:   "table RESULTS_DIR",
		Short: "Pivot a sweep's results: one metric, mean ± 95% interval, rows by axes, columns by one axis",
		Long: `Pivot the results of a finished sweep (or merge) into a table of one metric:
each cell is its mean ± 95% confidence interval across seeds; a cell in bold
(markdown) or marked * (text) is the best of its row and its interval separates
from every other cell of the row. Rows are every other axis's values.`,
		Example: `  homalb table results/eval-xl170 --metric short_p99 --cols policy
  homalb table results/eval-xl170 --metric protocol_cores --where load=0.2 --markdown`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, ok := sweep.MetricByName(metric); !ok {
				return badInput(fmt.Errorf("--metric %q: not a metric (%s)", metric, metricNames()))
			}
			m, files, err := sweep.Load(args[0])
			if err != nil {
				return badInput(err)
			}
			where, err := parseWhere(filter)
			if err != nil {
				return badInput(err)
			}
			t, err := sweep.Pivot(sweep.Summarize(m, files), metric, cols, where)
			if err != nil {
				return badInput(err)
			}
			mt, _ := sweep.MetricByName(metric)
			return writePivot(cmd.OutOrStdout(), t, mt, markdown)
		},
	}
	cmd.Flags().StringVar(&metric, "metric", "short_p99", "metric to show")
	cmd.Flags().StringVar(&cols, "cols", "policy", "axis whose values become the columns")
	cmd.Flags().StringVar(&filter, "where", "", "keep only groups with these axis values, key=value[,key=value]")
	cmd.Flags().BoolVar(&markdown, "markdown", false, "print a markdown table")
	return cmd
}

// parseWhere reads --where: key=value[,key=value].
func parseWhere(filter string) (map[string]string, error) {
	where := map[string]string{}
	for _, kv := range strings.Split(filter, ",") {
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("--where %q: want key=value[,key=value]", filter)
		}
		where[k] = v
	}
	return where, nil
}

// writePivot prints a pivot table in the metric's display unit (µs, %),
// marking overloaded cells with "!" and explaining the mark below.
func writePivot(w io.Writer, t sweep.PivotTable, mt sweep.Metric, markdown bool) error {
	header := append(append([]string{}, t.RowKeys...), t.Cols...)
	rows := make([][]string, len(t.Rows))
	over := false
	for i, r := range t.Rows {
		rows[i] = append(rows[i], r.Labels...)
		for j, e := range r.Cells {
			cell := "—"
			if e.N > 0 {
				cell = mt.Show(e).String()
				if r.Overloaded[j] {
					cell += " !"
					over = true
				}
				if j == r.Best {
					if markdown {
						cell = "**" + cell + "**"
					} else {
						cell += " *"
					}
				}
			}
			rows[i] = append(rows[i], cell)
		}
	}
	if mt.Unit != nil {
		fmt.Fprintf(w, "%s, mean ± 95%% interval\n", mt.Label())
	}
	if err := writeGrid(w, header, rows, markdown); err != nil {
		return err
	}
	if over {
		fmt.Fprintln(w, "\n! "+sweep.OverloadedNote)
	}
	return nil
}

// writeGrid prints a header and rows as a markdown table or as aligned text.
func writeGrid(w io.Writer, header []string, rows [][]string, markdown bool) error {
	if markdown {
		fmt.Fprintln(w, "| "+strings.Join(header, " | ")+" |")
		fmt.Fprintln(w, "|"+strings.Repeat("---|", len(header)))
		for _, r := range rows {
			fmt.Fprintln(w, "| "+strings.Join(r, " | ")+" |")
		}
		return nil
	}
	widths := make([]int, len(header))
	for _, r := range append([][]string{header}, rows...) {
		for i, c := range r {
			widths[i] = max(widths[i], len([]rune(c)))
		}
	}
	for _, r := range append([][]string{header}, rows...) {
		for i, c := range r {
			fmt.Fprintf(w, "%-*s  ", widths[i], c)
		}
		fmt.Fprintln(w)
	}
	return nil
}
