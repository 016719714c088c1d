package workload

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

const hdr = "bytes,cumulative_fraction\n"

func TestParseCDFRejects(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		line     int
		reason   string
	}{
		{"empty", "", 0, "no header"},
		{"only comments", "# a\n\n# b\n", 3, "no header"},
		{"header only", hdr, 1, "no rows"},
		{"header and comments", "# c\n" + hdr + "# c\n\n", 4, "no rows"},
		{"missing header", "8,0.5\n9,1\n", 1, "missing header"},
		{"wrong header", "size,cdf\n8,1\n", 1, "wrong header"},
		{"header with 3 fields", "bytes,cumulative_fraction,x\n8,1\n", 1, "wrong header"},
		{"too many fields", hdr + "8,0.5,1\n", 2, "3 fields"},
		{"too few fields", hdr + "8,0.5\n9\n", 3, "1 fields"},
		{"wrong separator", hdr + "8;1\n", 2, "1 fields"},
		{"empty field", hdr + ",1\n", 2, "not a number"},
		{"bytes not numeric", hdr + "8,0.5\nabc,1\n", 3, "not a number"},
		{"bytes fractional", hdr + "8.5,1\n", 2, "not an integer"},
		{"bytes zero", hdr + "0,1\n", 2, "must be >= 1"},
		{"bytes negative", hdr + "-5,1\n", 2, "must be >= 1"},
		{"bytes above MaxSize", hdr + fmt.Sprintf("%d,1\n", MaxSize+1), 2, "above the largest size"},
		{"bytes overflow", hdr + "99999999999999999999,1\n", 2, "out of range"},
		{"fraction not numeric", hdr + "8,x\n", 2, "is not a number"},
		{"fraction NaN", hdr + "8,0.5\n9,NaN\n", 3, "not finite"},
		{"fraction Inf", hdr + "8,+Inf\n", 2, "not finite"},
		{"fraction overflow", hdr + "8,1e400\n", 2, "not finite"},
		{"fraction negative", hdr + "8,-0.1\n9,1\n", 2, "outside [0, 1]"},
		{"fraction above 1", hdr + "8,0.5\n9,1.5\n", 3, "outside [0, 1]"},
		{"fraction barely above 1", hdr + "8,1.0000001\n", 2, "outside [0, 1]"},
		{"sizes equal", hdr + "8,0.5\n8,1\n", 3, "strictly increase"},
		{"sizes decreasing", hdr + "9,0.5\n\n8,1\n", 4, "strictly increase"},
		{"fractions decreasing", hdr + "8,0.6\n9,0.5\n10,1\n", 3, "must not decrease"},
		{"last fraction not 1", hdr + "8,0.5\n9,0.99\n", 3, "not 1"},
		{"last fraction not 1, trailing comment", hdr + "8,0.5\n9,0.99\n# end\n\n", 3, "not 1"},
		{"last fraction just outside tolerance", hdr + "8,0.5\n9,0.999998\n", 3, "not 1"},
		{"line too long", hdr + "8,0.5\n#" + strings.Repeat("x", MaxLineBytes) + "\n9,1\n", 3, "longer than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := ParseCDF("in.csv", strings.NewReader(tc.in), Options{})
			if err == nil {
				t.Fatalf("accepted, mean %v", d.Mean())
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *ParseError", err)
			}
			if pe.Line != tc.line {
				t.Errorf("line %d, want %d (%v)", pe.Line, tc.line, err)
			}
			prefix := fmt.Sprintf("in.csv:%d: ", tc.line)
			if msg := err.Error(); !strings.HasPrefix(msg, prefix) || !strings.Contains(msg, tc.reason) || strings.Contains(msg, "\n") {
				t.Errorf("error %q, want prefix %q, %q, one line", msg, prefix, tc.reason)
			}
		})
	}
}

func TestParseCDFAccepts(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		sizes    []int
		cum      []float64
	}{
		{"minimal", hdr + "100,1\n", []int{100}, []float64{1}},
		{"comments, blanks, CRLF, spaces, BOM",
			"\ufeff# comment\r\n\r\n  Bytes , Cumulative_Fraction \r\n# mid\r\n 8 , 0.25\r\n\t\r\n16,1\r\n# end", []int{8, 16}, []float64{0.25, 1}},
		{"no final newline", hdr + "8,0.5\n16,1", []int{8, 16}, []float64{0.5, 1}},
		{"zero-probability rows dropped", hdr + "1,0\n8,0.5\n9,0.5\n16,1\n20,1\n", []int{8, 16}, []float64{0.5, 1}},
		{"last fraction within tolerance is 1", hdr + "8,0.5\n16,0.9999995\n", []int{8, 16}, []float64{0.5, 1}},
		{"tiny fraction underflows to 0", hdr + "8,1e-400\n16,1\n", []int{16}, []float64{1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := ParseCDF("in.csv", strings.NewReader(tc.in), Options{})
			if err != nil {
				t.Fatal(err)
			}
			tab := d.(*table)
			if fmt.Sprint(tab.sizes, tab.cum) != fmt.Sprint(tc.sizes, tc.cum) {
				t.Errorf("rows %v %v, want %v %v", tab.sizes, tab.cum, tc.sizes, tc.cum)
			}
			if d.Name() != "in.csv" || !strings.Contains(d.(Describer).Describe(), "in.csv") {
				t.Errorf("name %q, describe %q", d.Name(), d.(Describer).Describe())
			}
		})
	}
}

// endless is a reader of an endless CDF file: a header, then rows or
// comments forever.
type endless struct {
	line func(i int) string
	i    int
	buf  []byte
}

func (e *endless) Read(p []byte) (int, error) {
	for len(e.buf) < len(p) {
		if e.i == 0 {
			e.buf = append(e.buf, hdr...)
		} else {
			e.buf = append(e.buf, e.line(e.i)...)
		}
		e.i++
	}
	n := copy(p, e.buf)
	e.buf = e.buf[n:]
	return n, nil
}

func TestParseCDFLimits(t *testing.T) {
	t.Run("file size", func(t *testing.T) {
		r := &endless{line: func(int) string { return "# " + strings.Repeat("pad ", 20) + "\n" }}
		_, err := ParseCDF("big.csv", r, Options{})
		if err == nil || !strings.Contains(err.Error(), "file larger than") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("rows", func(t *testing.T) {
		r := &endless{line: func(i int) string { return fmt.Sprintf("%d,0\n", i) }}
		_, err := ParseCDF("rows.csv", r, Options{})
		want := fmt.Sprintf("rows.csv:%d: more than %d rows", MaxRows+2, MaxRows)
		if err == nil || err.Error() != want {
			t.Fatalf("err %v, want %s", err, want)
		}
	})
	t.Run("read error", func(t *testing.T) {
		boom := errors.New("boom")
		_, err := ParseCDF("r.csv", io.MultiReader(strings.NewReader(hdr+"8,0.5\n"), errReader{boom}), Options{})
		if !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), "r.csv:3: read: boom") {
			t.Fatalf("err %v", err)
		}
	})
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// fixedSource makes r.Float64() return the given values, each a multiple
// of 2^-53.
type fixedSource struct {
	u []float64
	i int
}

func (f *fixedSource) Uint64() uint64 {
	v := f.u[f.i%len(f.u)]
	f.i++
	return uint64(v * (1 << 53))
}

// TestTableSampleRule pins Homa's sampling rule: the first row whose
// cumulative fraction exceeds u.
func TestTableSampleRule(t *testing.T) {
	d, err := ParseCDF("t.csv", strings.NewReader(hdr+"10,0.25\n20,0.5\n30,0.5\n40,1\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		u    float64
		want int
	}{
		{0, 10},
		{0.25 - 1.0/(1<<53), 10},
		{0.25, 20}, // equal is not "exceeds"
		{0.375, 20},
		{0.5, 40}, // 30 has probability 0
		{0.75, 40},
		{1 - 1.0/(1<<53), 40},
	} {
		r := rand.New(&fixedSource{u: []float64{tc.u}})
		if got := d.Sample(r); got != tc.want {
			t.Errorf("u=%v: %d, want %d", tc.u, got, tc.want)
		}
	}
}

func TestTableTruncation(t *testing.T) {
	in := hdr + "10,0.25\n20,0.5\n40,0.75\n80,1\n"
	full, err := ParseCDF("t.csv", strings.NewReader(in), Options{MaxBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		max, wantMax int
		mean         float64
		cdf          map[int]float64
	}{
		{-1, 80, 0.25*10 + 0.25*20 + 0.25*40 + 0.25*80, map[int]float64{9: 0, 10: 0.25, 39: 0.5, 79: 0.75, 80: 1}},
		{80, 80, 37.5, map[int]float64{79: 0.75, 80: 1}},
		{50, 50, 0.25*10 + 0.25*20 + 0.25*40 + 0.25*50, map[int]float64{40: 0.75, 49: 0.75, 50: 1}},
		{40, 40, 0.25*10 + 0.25*20 + 0.5*40, map[int]float64{20: 0.5, 39: 0.5, 40: 1}},
		{30, 30, 0.25*10 + 0.25*20 + 0.5*30, map[int]float64{29: 0.5, 30: 1}},
		{5, 5, 5, map[int]float64{4: 0, 5: 1}},
		{1, 1, 1, map[int]float64{0: 0, 1: 1}},
	} {
		d, err := ParseCDF("t.csv", strings.NewReader(in), Options{MaxBytes: tc.max})
		if err != nil {
			t.Fatal(err)
		}
		if d.Max() != tc.wantMax || d.Mean() != tc.mean {
			t.Errorf("max %d: Max %d Mean %v, want %d %v", tc.max, d.Max(), d.Mean(), tc.wantMax, tc.mean)
		}
		for n, want := range tc.cdf {
			if got := d.CDF(n); got != want {
				t.Errorf("max %d: CDF(%d) = %v, want %v", tc.max, n, got, want)
			}
		}
		// Truncating the table samples min(untruncated sample, max).
		r1, r2 := rand.New(rand.NewPCG(7, 7)), rand.New(rand.NewPCG(7, 7))
		for range 1000 {
			if a, b := d.Sample(r1), min(full.Sample(r2), tc.wantMax); a != b {
				t.Fatalf("max %d: sample %d, want %d", tc.max, a, b)
			}
		}
	}
}

// TestPublishedWorkloads checks W1..W5 against the facts published with
// them (the Homa papers' workload descriptions).
func TestPublishedWorkloads(t *testing.T) {
	for _, tc := range []struct {
		name      string
		mean      float64 // bytes, untruncated, rounded to unit
		unit      float64
		onePacket float64 // percent of messages <= 1424 B, rounded
	}{
		{"w1", 189, 1, 98},
		{"w2", 442, 1, 97},
		{"w3", 2.9, 1e3, 89},
		{"w4", 128, 1e3, 64},
		{"w4", 127_797, 1, 64},
		{"w5", 2.6, 1e6, 0},
	} {
		d := mustResolve(t, tc.name, Options{MaxBytes: -1})
		scale := 1.0
		if tc.unit > 1 {
			scale = 10 // the published figures with a unit have one decimal or are whole
			if tc.mean == math.Trunc(tc.mean) {
				scale = 1
			}
		}
		if got := math.Round(d.Mean()/tc.unit*scale) / scale; got != tc.mean {
			t.Errorf("%s: mean %v (%v B), want %v", tc.name, got, d.Mean(), tc.mean)
		}
		if got := math.Round(100 * d.CDF(1424)); got != tc.onePacket {
			t.Errorf("%s: one-packet share %v%%, want %v%%", tc.name, got, tc.onePacket)
		}
		// Truncation at 1 MB changes only what lies above 1 MB.
		tr := mustResolve(t, tc.name, Options{})
		if tr.CDF(1424) != d.CDF(1424) || tr.Max() > DefaultMaxBytes || tr.Mean() > d.Mean() {
			t.Errorf("%s truncated: CDF(1424) %v, max %d, mean %v", tc.name, tr.CDF(1424), tr.Max(), tr.Mean())
		}
		if d.Max() > DefaultMaxBytes {
			if want := 1 - d.CDF(DefaultMaxBytes-1); math.Abs(tr.CDF(DefaultMaxBytes)-tr.CDF(DefaultMaxBytes-1)-want) > 1e-12 {
				t.Errorf("%s: mass at 1 MB %v, want %v", tc.name, tr.CDF(DefaultMaxBytes)-tr.CDF(DefaultMaxBytes-1), want)
			}
		}
	}
	// The truncated W4 mean, as printed by `homalb workload w4`.
	if got := math.Round(mustResolve(t, "w4", Options{}).Mean()); got != 60_175 {
		t.Errorf("w4 truncated at 1 MB: mean %v, want 60175", got)
	}
}

// TestTableMomentsNaive recomputes Mean and BytesCDF of the published
// tables from their rows.
func TestTableMomentsNaive(t *testing.T) {
	for _, name := range []string{"w1", "w2", "w3", "w4", "w5"} {
		for _, mb := range []int{0, -1, 3000} {
			d := mustResolve(t, name, Options{MaxBytes: mb}).(*table)
			var mean float64
			prev := 0.0
			for i, s := range d.sizes {
				mean += float64(s) * (d.cum[i] - prev)
				prev = d.cum[i]
			}
			if math.Abs(mean-d.Mean()) > 1e-9*mean {
				t.Errorf("%s/%d: mean %v, naive %v", name, mb, d.Mean(), mean)
			}
			var part float64
			prev = 0
			for i, s := range d.sizes {
				part += float64(s) * (d.cum[i] - prev)
				prev = d.cum[i]
				for _, n := range []int{s - 1, s} {
					want := part / mean
					if n == s-1 {
						want = (part - float64(s)*(d.cum[i]-prevCum(d, i))) / mean
					}
					if got := d.BytesCDF(n); math.Abs(got-want) > 1e-9 {
						t.Fatalf("%s/%d: BytesCDF(%d) = %v, naive %v", name, mb, n, got, want)
					}
				}
			}
		}
	}
}

func prevCum(d *table, i int) float64 {
	if i == 0 {
		return 0
	}
	return d.cum[i-1]
}

// rawSource makes r.Float64() return k/2^53 for the given k.
type rawSource struct {
	k []uint64
	i int
}

func (s *rawSource) Uint64() uint64 {
	v := s.k[s.i%len(s.k)]
	s.i++
	return v
}

// TestTableSampleGuide checks the guided search of Sample against a scan
// for the first row whose fraction exceeds u, at every row boundary and at
// random points.
func TestTableSampleGuide(t *testing.T) {
	const one = 1 << 53
	for _, c := range allCases {
		d, ok := mustResolve(t, c.spec, Options{MaxBytes: c.max}).(*table)
		if !ok {
			continue
		}
		var ks []uint64
		for _, f := range d.cum {
			k := uint64(f * one) // the largest u <= f
			for _, v := range []uint64{k - 1, k, k + 1} {
				if v < one {
					ks = append(ks, v)
				}
			}
		}
		r := rand.New(rand.NewPCG(5, 5))
		for range 10000 {
			ks = append(ks, r.Uint64N(one))
		}
		ks = append(ks, 0, one-1)
		src := &rawSource{k: ks}
		sr := rand.New(src)
		for _, k := range ks {
			u := float64(k) / one
			want := d.sizes[len(d.sizes)-1]
			for i, f := range d.cum {
				if f > u {
					want = d.sizes[i]
					break
				}
			}
			if got := d.Sample(sr); got != want {
				t.Fatalf("%s: u = %v: %d, want %d", c.spec, u, got, want)
			}
		}
	}
}
