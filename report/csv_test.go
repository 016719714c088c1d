package report

import (
	"github.com/homalb/homalb/stats"

	"bytes"
	"encoding/csv"
	"slices"
	"strconv"
	"testing"
)

// ParseCSV reads a table written by WriteCSV back into buckets, keyed by
// policy and workload; it is the reader a test (or a user) would write.
func parseCSV(t *testing.T, data []byte) (map[[2]string][]stats.Bucket, [][]string) {
	t.Helper()
	rows, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		t.Fatalf("csv does not parse: %v", err)
	}
	if len(rows) == 0 || !slices.Equal(rows[0], CSVHeader()) {
		t.Fatalf("header %v, want %v", rows[0], CSVHeader())
	}
	out := map[[2]string][]stats.Bucket{}
	for _, r := range rows[1:] {
		f := func(i int) float64 {
			x, err := strconv.ParseFloat(r[i], 64)
			if err != nil {
				t.Fatalf("row %v, column %s: %v", r, CSVHeader()[i], err)
			}
			return x
		}
		mb, err := strconv.Atoi(r[6])
		if err != nil {
			t.Fatal(err)
		}
		n, err := strconv.ParseInt(r[8], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		k := [2]string{r[0], r[1]}
		out[k] = append(out[k], stats.Bucket{MaxBytes: mb, CumFrac: f(7), Count: n, P50: f(9), P99: f(10), P999: f(11)})
	}
	return out, rows
}

// TestCSVRoundTrip: write → encoding/csv read → the same buckets, exactly;
// and a workload name with commas and quotes survives.
func TestCSVRoundTrip(t *testing.T) {
	rs := append([]*Result{fake("gen2", `bimodal:100,"9000",0.9`, 0.8, 17, 4, 1), nil}, realResults(t)...)
	var buf bytes.Buffer
	if err := WriteCSV(&buf, rs); err != nil {
		t.Fatal(err)
	}
	got, rows := parseCSV(t, buf.Bytes())
	total := 0
	for _, r := range rs {
		if r == nil {
			continue
		}
		total += len(r.Slowdown)
		if b := got[[2]string{r.Policy, r.Workload}]; !slices.Equal(b, r.Slowdown) {
			t.Errorf("%s/%s: buckets differ after the round trip:\n got %v\nwant %v", r.Policy, r.Workload, b, r.Slowdown)
		}
	}
	if len(rows)-1 != total {
		t.Errorf("%d rows, want %d", len(rows)-1, total)
	}
	r := rows[1]
	if r[2] != "0.8" || r[3] != "7" || r[4] != "xl170" || r[5] != "4" {
		t.Errorf("scenario columns %v", r[:6])
	}
}

func TestCSVEmpty(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteCSV(&buf, nil); err != nil {
		t.Fatal(err)
	}
	if _, rows := parseCSV(t, buf.Bytes()); len(rows) != 1 {
		t.Errorf("no results: %d rows, want the header only", len(rows))
	}
}
