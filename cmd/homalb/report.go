package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/homalb/homalb/report"
	"github.com/homalb/homalb/sim"
)

func newReportCmd() *cobra.Command {
	var out, title string
	cmd := &cobra.Command{
		Use:   "report RUN.json…",
		Short: "Draw an HTML report (slowdown, handoffs, per-core load) from JSON results",
		Long: `Read results written by 'homalb sim --json' (one object) or 'homalb compare
--json' (an array), any number of files, and write one self-contained HTML page:
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
			var results []*sim.Result
			for _, path := range args {
				rs, err := report.ReadFile(path)
				if err != nil {
					return badInput(fmt.Errorf("report: %w", err))
				}
				results = append(results, rs...)
			}
			if err := writeOutput(out, cmd.OutOrStdout(), func(w io.Writer) error {
				return report.WriteHTML(w, results, report.Options{Title: title})
			}); err != nil {
				return err
			}
			if out != "-" {
				fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %d run(s)\n", out, len(results))
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "report.html", "write the HTML to `FILE` (- for stdout)")
	cmd.Flags().StringVar(&title, "title", "", "title of the page (default \"homalb report\")")
	return cmd
}

// writeOutput writes what write produces to path, or to stdout for "-". A
// file is written under a temporary name and renamed at the end, so a failed
// write never leaves half a file under the name asked for.
func writeOutput(path string, stdout io.Writer, write func(io.Writer) error) error {
	if path == "-" {
		return write(stdout)
	}
	if path == "" {
		return errors.New("empty output file name")
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) { // name the file asked for, not the temporary one
			err = pe.Err
		}
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename, a no-op
	bw := bufio.NewWriterSize(tmp, 256<<10)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// oneStdout checks that at most one of the outputs (flag name → path) is
// "-": they cannot share stdout.
func oneStdout(outputs ...[2]string) error {
	var dash []string
	for _, o := range outputs {
		if o[1] == "-" {
			dash = append(dash, "--"+o[0])
		}
	}
	if len(dash) > 1 {
		return fmt.Errorf("%s and %s both write to stdout (-): give one of them a file", dash[0], dash[1])
	}
	return nil
}
