package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
)

// CSVHeader returns the header row of [WriteCSV]: the scenario's identity,
// then the size bucket (its upper bound in bytes, the cumulative fraction of
// messages up to it, its message count), its slowdown percentiles, and
// whether the run was overloaded (1: its slowdowns measure the overload, not
// the policy).
func CSVHeader() []string {
	return []string{"policy", "workload", "load", "seed", "profile", "cores",
		"max_bytes", "cum_frac", "count", "p50", "p99", "p999", "overloaded"}
}

// WriteCSV writes the slowdown buckets of the results as a tidy table: a
// header row, then one row per size bucket per result (pandas.read_csv and
// R's read.csv take it as it is). Floats are written in the shortest form
// that reads back to the same value. nil results are skipped.
func WriteCSV(w io.Writer, results []*Result) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader()); err != nil {
		return fmt.Errorf("csv: %w", err)
	}
	f := func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
	for _, r := range results {
		if r == nil {
			continue
		}
		id := []string{r.Policy, r.Workload, f(r.Load), strconv.FormatUint(r.Config.Seed, 10), r.Config.Profile, strconv.Itoa(r.Config.Host.Cores)}
		over := "0"
		if r.Overloaded {
			over = "1"
		}
		for _, b := range r.Slowdown {
			row := append(id[:len(id):len(id)], strconv.Itoa(b.MaxBytes), f(b.CumFrac), strconv.FormatInt(b.Count, 10), f(b.P50), f(b.P99), f(b.P999), over)
			if err := cw.Write(row); err != nil {
				return fmt.Errorf("csv: %w", err)
			}
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("csv: %w", err)
	}
	return nil
}
