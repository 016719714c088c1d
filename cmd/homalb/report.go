package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/homalb/homalb/report"
)

func newReportCmd() *cobra.Command {
	var out, title string
	var chartPolicies []string
	cmd := &cobra.Command{
		Use:   "report RUN.json…",
		Short: "Draw an HTML report (slowdown, handoffs, per-core load) from JSON results",
		Long: `Read results written by 'homalb sim --json' (one object), 'homalb compare
--json' (an array) or 'homalb load --json' (a real run), any number of files,
and write one self-contained HTML page:
slowdown versus message size as Homa's benchmarks draw it (one chart per
workload and load, P50 and P99 per policy), CDFs of the GRO→SoftIRQ and
SoftIRQ→app handoff latencies, per-core utilisation and a heatmap of every
core's busy time per run, and each run's configuration. The page needs no
network to be viewed: CSS and SVG are inline.`,
		Example: `  homalb compare --json all.json && homalb report all.json -o report.html
  homalb sim --policy gen3 --json g3.json && homalb report all.json g3.json -o r.html
  homalb compare --html report.html     # the same in one step`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutputs([2]string{"output", out}); err != nil {
				return badInput(fmt.Errorf("report: %w", err))
			}
			var results []*report.Result
			for _, path := range args {
				rs, err := report.ReadFile(path)
				if err != nil {
					return badInput(fmt.Errorf("report: %w", err))
				}
				results = append(results, rs...)
			}
			if err := writeOutput(out, cmd.OutOrStdout(), func(w io.Writer) error {
				return report.WriteHTML(w, results, report.Options{Title: title, Policies: chartPolicies})
			}); err != nil {
				return err
			}
			if out != "-" {
				fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %s\n", out, plural(len(results), "run"))
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "report.html", "write the HTML to `FILE` (- for stdout)")
	cmd.Flags().StringVar(&title, "title", "", "title of the page (default \"homalb report\")")
	cmd.Flags().StringSliceVar(&chartPolicies, "chart-policies", nil, "policies drawn in the slowdown charts, comma-separated, or all (default: gen2, gen3 and the best other policy)")
	return cmd
}
