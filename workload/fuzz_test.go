package workload

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
)

// FuzzParseCDF feeds arbitrary bytes to the parser, with an arbitrary
// truncation. It must never panic; what it accepts must be a proper
// distribution, and what it rejects must come with a one-line *ParseError.
// Seeds: testdata/fuzz/FuzzParseCDF and the published tables.
func FuzzParseCDF(f *testing.F) {
	for _, name := range []string{"w1", "w4"} {
		if b, err := os.ReadFile("data/" + name + ".csv"); err == nil {
			f.Add(b, 0)
		}
	}
	f.Add([]byte(hdr+"8,0.5\n16,1\n"), 12)
	f.Add([]byte("\ufeff# c\r\nbytes,cumulative_fraction\r\n1,0\r\n2,1e-300\r\n3,0.9999995\r\n"), -1)
	f.Fuzz(func(t *testing.T, data []byte, maxBytes int) {
		d, err := ParseCDF("fuzz.csv", bytes.NewReader(data), Options{MaxBytes: maxBytes})
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Line < 0 || strings.Contains(err.Error(), "\n") {
				t.Fatalf("bad error %q", err)
			}
			return
		}
		m := d.Max()
		limit := Options{MaxBytes: maxBytes}.maxBytes()
		if m < 1 || m > limit {
			t.Fatalf("Max %d outside [1, %d]", m, limit)
		}
		if mean := d.Mean(); !(mean >= 1-1e-9 && mean <= float64(m)*(1+1e-9)) {
			t.Fatalf("Mean %v outside [1, %d]", mean, m)
		}
		if d.CDF(0) != 0 || d.CDF(m) != 1 || d.BytesCDF(0) != 0 || d.BytesCDF(m) != 1 {
			t.Fatalf("CDF(0) %v CDF(Max) %v BytesCDF(0) %v BytesCDF(Max) %v", d.CDF(0), d.CDF(m), d.BytesCDF(0), d.BytesCDF(m))
		}
		for _, p := range []float64{0, 0.5, 0.999, 1} {
			q := d.Quantile(p)
			if q < 1 || q > m || d.CDF(q) < p {
				t.Fatalf("Quantile(%v) = %d, CDF there %v", p, q, d.CDF(q))
			}
		}
		b := d.Buckets(0.0025)
		if len(b) == 0 || b[len(b)-1] != m || len(b) > 401 {
			t.Fatalf("Buckets %v", b)
		}
		r := rand.New(rand.NewPCG(1, 2))
		for range 64 {
			if s := d.Sample(r); s < 1 || s > m || math.IsNaN(d.BytesCDF(s)) {
				t.Fatalf("sample %d outside [1, %d]", s, m)
			}
		}
	})
}
