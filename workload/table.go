package workload

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
)

// Limits on CDF files, so that a wrong file fails fast instead of filling
// memory.
const (
	MaxFileBytes = 16 << 20 // largest CDF file accepted, in bytes
	MaxRows      = 1 << 20  // most data rows accepted in a CDF file
	MaxLineBytes = 4096     // longest line accepted in a CDF file, in bytes
)

// Header is the header line that CDF files must have before their rows.
const Header = "bytes,cumulative_fraction"

// lastFracTolerance is how far the last cumulative fraction of a file may
// be from 1; it is then taken as exactly 1.
const lastFracTolerance = 1e-6

// ParseError reports a malformed CDF file: the file, the line (1-based; 0
// for an empty file) and the reason.
type ParseError struct {
	File   string
	Line   int
	Reason string
	Err    error // underlying error (reading, too long a line), if any
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Reason)
}

func (e *ParseError) Unwrap() error { return e.Err }

// ParseCDF reads a message-size CDF in the CSV format of the published
// workloads (see data/w1.csv) and returns it as the
// distribution called name:
//
//	# comment lines begin with '#'; blank lines are ignored
//	bytes,cumulative_fraction
//	8,0.31094
//	9,0.31931
//	...
//	100000,1.0
//
// Each row gives a size in bytes (an integer in [1, MaxSize], strictly
// increasing) and the fraction of messages no larger than it (in [0, 1],
// never decreasing; the last within 1e-6 of 1, and taken as exactly 1).
// The CDF is a step function: P(size = bytes_i) = frac_i - frac_{i-1}.
// Sample draws u uniform in [0, 1) and returns the first row whose
// fraction exceeds u, as Homa's own generator does; sizes above the
// truncation opts.MaxBytes become opts.MaxBytes. opts.SearchPath is not
// used.
//
// A malformed input yields a *ParseError naming name, the line and the
// reason. Inputs over MaxFileBytes, MaxRows rows or MaxLineBytes per line
// are rejected. ParseCDF never panics.
func ParseCDF(name string, r io.Reader, opts Options) (Dist, error) {
	t, err := parseTable(name, name, r, opts.maxBytes())
	if err != nil {
		return nil, err
	}
	return t, nil
}

// capReader reads at most max+1 bytes of r and records whether it went
// past max.
type capReader struct {
	r    io.Reader
	n    int64
	max  int64
	over bool
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.over {
		return 0, io.EOF
	}
	if room := c.max + 1 - c.n; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n > c.max {
		c.over = true
	}
	return n, err
}

// parseTable parses a CDF file; file names it in errors, name is the
// resulting distribution's name.
func parseTable(name, file string, r io.Reader, maxBytes int) (*table, error) {
	fail := func(line int, format string, args ...any) error {
		return &ParseError{File: file, Line: line, Reason: fmt.Sprintf(format, args...)}
	}
	cr := &capReader{r: r, max: MaxFileBytes}
	sc := bufio.NewScanner(cr)
	sc.Buffer(make([]byte, 0, 512), MaxLineBytes)
	var (
		sizes    []int
		cum      []float64
		line     int
		header   bool
		lastLine int // line of the last row
	)
	for sc.Scan() {
		if cr.over {
			return nil, fail(line+1, "file larger than %d bytes", MaxFileBytes)
		}
		line++
		text := sc.Text()
		if line == 1 {
			text = strings.TrimPrefix(text, "\ufeff") // byte order mark
		}
		text = strings.TrimSpace(text)
		if text == "" || text[0] == '#' {
			continue
		}
		fields := strings.Split(text, ",")
		for i := range fields {
			fields[i] = strings.TrimSpace(fields[i])
		}
		if !header {
			if len(fields) == 2 && strings.EqualFold(fields[0], "bytes") && strings.EqualFold(fields[1], "cumulative_fraction") {
				header = true
				continue
			}
			if _, err := strconv.ParseFloat(fields[0], 64); err == nil {
				return nil, fail(line, "missing header %q before the first row", Header)
			}
			return nil, fail(line, "wrong header %s, want %q", quote(text), Header)
		}
		if len(fields) != 2 {
			return nil, fail(line, "%d fields, want 2 (%s)", len(fields), Header)
		}
		size, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				return nil, fail(line, "bytes %s out of range (largest size is %d)", quote(fields[0]), MaxSize)
			}
			if _, ferr := strconv.ParseFloat(fields[0], 64); ferr == nil {
				return nil, fail(line, "bytes %s is not an integer", quote(fields[0]))
			}
			return nil, fail(line, "bytes %s is not a number", quote(fields[0]))
		}
		if size <= 0 {
			return nil, fail(line, "bytes %d must be >= 1", size)
		}
		if size > MaxSize {
			return nil, fail(line, "bytes %d above the largest size %d", size, MaxSize)
		}
		frac, err := strconv.ParseFloat(fields[1], 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return nil, fail(line, "cumulative fraction %s is not a number", quote(fields[1]))
		}
		if math.IsNaN(frac) || math.IsInf(frac, 0) {
			return nil, fail(line, "cumulative fraction %s is not finite", quote(fields[1]))
		}
		if frac < 0 || frac > 1 {
			return nil, fail(line, "cumulative fraction %v outside [0, 1]", frac)
		}
		if n := len(sizes); n > 0 {
			if int(size) <= sizes[n-1] {
				return nil, fail(line, "bytes %d not above %d of line %d: sizes must strictly increase", size, sizes[n-1], lastLine)
			}
			if frac < cum[n-1] {
				return nil, fail(line, "cumulative fraction %v below %v of line %d: fractions must not decrease", frac, cum[n-1], lastLine)
			}
		}
		if len(sizes) == MaxRows {
			return nil, fail(line, "more than %d rows", MaxRows)
		}
		sizes = append(sizes, int(size))
		cum = append(cum, frac)
		lastLine = line
	}
	if cr.over {
		return nil, fail(line+1, "file larger than %d bytes", MaxFileBytes)
	}
	if err := sc.Err(); err != nil {
		pe := &ParseError{File: file, Line: line + 1, Err: err}
		if errors.Is(err, bufio.ErrTooLong) {
			pe.Reason = fmt.Sprintf("line longer than %d bytes", MaxLineBytes)
		} else {
			pe.Reason = "read: " + err.Error()
		}
		return nil, pe
	}
	switch {
	case !header:
		return nil, fail(line, "no header %q and no rows", Header)
	case len(sizes) == 0:
		return nil, fail(line, "no rows after the header")
	}
	if last := cum[len(cum)-1]; math.Abs(last-1) > lastFracTolerance {
		return nil, fail(lastLine, "last cumulative fraction %v is not 1 (within %g)", last, lastFracTolerance)
	}
	cum[len(cum)-1] = 1
	return newTable(name, "CDF file "+file, sizes, cum, maxBytes), nil
}

// quote quotes s for an error message, shortened to 40 bytes.
func quote(s string) string {
	if len(s) > 40 {
		return strconv.Quote(s[:40]) + "..."
	}
	return strconv.Quote(s)
}

// table is a step CDF over a list of sizes: CSV files, fixed and bimodal.
// Only sizes of positive probability are kept, so that every row is a size
// Sample can return.
type table struct {
	name, desc string
	sizes      []int     // ascending sizes in bytes
	cum        []float64 // cum[i] = P(size <= sizes[i]); the last is 1
	bytes      []float64 // bytes[i] = E[size; size <= sizes[i]]

	// guide[k] is the first row whose cum exceeds k/(len(guide)-1): the row
	// that Sample returns for u lies in [guide[k], guide[k+1]] when
	// k = floor(u * (len(guide)-1)), a range of about one row, so that
	// Sample seldom searches. len(guide)-1 is a power of two, which makes
	// u * (len(guide)-1) and k/(len(guide)-1) exact.
	guide []int32
}

// maxGuide bounds the guide table of a table (4 bytes per entry).
const maxGuide = 1 << 16

// newTable builds a table from ascending sizes and their non-decreasing
// cumulative fractions (the last exactly 1), truncated at maxBytes: the
// mass of sizes >= maxBytes moves to maxBytes.
func newTable(name, desc string, sizes []int, cum []float64, maxBytes int) *table {
	t := &table{name: name, desc: desc}
	prev := 0.0
	add := func(size int, c float64) {
		if c <= prev {
			return // zero probability: Sample never returns it
		}
		b := float64(size) * (c - prev)
		if n := len(t.bytes); n > 0 {
			b += t.bytes[n-1]
		}
		t.sizes = append(t.sizes, size)
		t.cum = append(t.cum, c)
		t.bytes = append(t.bytes, b)
		prev = c
	}
	for i, s := range sizes {
		if s >= maxBytes {
			break
		}
		add(s, cum[i])
	}
	add(maxBytes, 1) // no-op unless some mass lies at or above maxBytes
	t.sizes = t.sizes[:len(t.sizes):len(t.sizes)]

	g := 1
	for g < len(t.sizes) && g < maxGuide {
		g *= 2
	}
	t.guide = make([]int32, g+1)
	i := 0
	for k := range t.guide {
		u := float64(k) / float64(g)
		for i < len(t.cum)-1 && t.cum[i] <= u {
			i++
		}
		t.guide[k] = int32(i)
	}
	return t
}

func (t *table) Name() string     { return t.name }
func (t *table) Describe() string { return t.desc }
func (t *table) Max() int         { return t.sizes[len(t.sizes)-1] }
func (t *table) Mean() float64    { return t.bytes[len(t.bytes)-1] }

// Sample returns the first size whose cumulative fraction exceeds u, a
// uniform draw from [0, 1).
func (t *table) Sample(r *rand.Rand) int {
	u := r.Float64()
	g := len(t.guide) - 1
	k := int(u * float64(g)) // < g, as u < 1
	lo, hi := int(t.guide[k]), int(t.guide[k+1])
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if t.cum[mid] > u {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return t.sizes[lo]
}

// row returns the index of the largest size <= n, or -1.
func (t *table) row(n int) int {
	if n >= t.Max() {
		return len(t.sizes) - 1
	}
	return sort.SearchInts(t.sizes, n+1) - 1
}

func (t *table) CDF(n int) float64 {
	if i := t.row(n); i >= 0 {
		return t.cum[i]
	}
	return 0
}

func (t *table) BytesCDF(n int) float64 {
	i := t.row(n)
	switch {
	case i < 0:
		return 0
	case i == len(t.sizes)-1:
		return 1
	}
	return clamp01(t.bytes[i] / t.Mean())
}

func (t *table) Quantile(p float64) int {
	if !(p > 0) {
		return t.sizes[0]
	}
	return t.sizes[sort.Search(len(t.cum)-1, func(i int) bool { return t.cum[i] >= p })]
}

func (t *table) Buckets(minFrac float64) []int { return buckets(t, minFrac) }
