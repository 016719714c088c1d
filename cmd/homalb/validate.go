package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"text/tabwriter"
	"time"

	"github.com/homalb/homalb/validate"
	"github.com/spf13/cobra"
)

// runValidation runs the checks; the CLI's tests put canned checks here
// (package validate's own tests run the real ones).
var runValidation = validate.Run

func newValidateCmd() *cobra.Command {
	var (
		quick, allowGaps bool
		jsonOut          string
	)
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Hold the simulator to what Homa measured: one check per published observation",
		Long: `validate runs each published observation (HomaModule perf.txt items, and
queueing theory) as a scenario that states the deployment it reproduces, and
prints the published figure, the tolerance, the model's value and pass/fail.
It exits 1 if any check fails.

--quick runs shorter scenarios with one seed (CI); --allow-gaps tolerates the
checks listed as known gaps of the model (each printed with its reason) and
still fails on any other.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			mode := validate.Full
			if quick {
				mode = validate.Quick
			}
			start := time.Now()
			checks, err := runValidation(mode)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(w, "RESULT\tCHECK\tSOURCE\tPUBLISHED\tTOLERANCE\tMEASURED\tACCEPTED")
			failed, gapsFailed, gapsPassed := 0, 0, 0
			for _, c := range checks {
				res := "pass"
				gap := validate.Gap(c.Name)
				switch {
				case !c.Pass && gap != "":
					res, gapsFailed = "FAIL (gap)", gapsFailed+1
				case !c.Pass:
					res, failed = "FAIL", failed+1
				case gap != "":
					gapsPassed++
				}
				hi := fmt.Sprintf("%g", c.High)
				if math.IsInf(c.High, 1) {
					hi = "∞"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%g %s\t[%g, %s]\n", res, c.Name, c.Source, c.Published, c.Tolerance, c.Measured, c.Unit, c.Low, hi)
			}
			w.Flush()
			fmt.Fprintln(cmd.OutOrStdout(), "\nscenarios:")
			seen := map[string]bool{}
			for _, c := range checks {
				if key := c.Source + ": " + c.Scenario; !seen[key] {
					seen[key] = true
					fmt.Fprintln(cmd.OutOrStdout(), "  "+key)
				}
			}
			if gapsFailed > 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "\nknown gaps of the model:")
				for _, c := range checks {
					if g := validate.Gap(c.Name); g != "" && !c.Pass {
						fmt.Fprintf(cmd.OutOrStdout(), "  %s: %s\n", c.Name, g)
					}
				}
			}
			if gapsPassed > 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "\n%d check(s) listed as gaps now pass: take them off the list (validate.gaps)\n", gapsPassed)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "\n%d checks, %d failed, %d known gaps failed (%.0f s)\n", len(checks), failed, gapsFailed, time.Since(start).Seconds())
			if jsonOut != "" {
				data, err := json.MarshalIndent(checks, "", "  ")
				if err != nil {
					return err
				}
				if err := writeOutput(jsonOut, cmd.OutOrStdout(), func(w io.Writer) error {
					_, err := w.Write(append(data, '\n'))
					return err
				}); err != nil {
					return err
				}
			}
			if failed > 0 || gapsFailed > 0 && !allowGaps {
				return fmt.Errorf("validate: %d of %d checks failed", failed+gapsFailed, len(checks))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&quick, "quick", false, "shorter scenarios, one seed (CI)")
	cmd.Flags().BoolVar(&allowGaps, "allow-gaps", false, "do not fail on the checks listed as known gaps of the model")
	cmd.Flags().StringVar(&jsonOut, "json", "", "write the checks as JSON to `FILE` (- for stdout)")
	return cmd
}
