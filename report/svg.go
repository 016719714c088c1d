package report

import (
	"fmt"
	"hash/fnv"
	"html/template"
	"math"
	"strconv"
	"strings"
)

// svg accumulates the markup of one chart. Every string that comes from the
// data goes through esc; numbers are written by num.
type svg struct{ strings.Builder }

func (b *svg) f(format string, args ...any) { fmt.Fprintf(&b.Builder, format, args...) }

// esc escapes s for HTML/SVG text and attribute values.
func esc(s string) string { return template.HTMLEscapeString(s) }

// num formats a coordinate with at most one decimal.
func num(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "0"
	}
	return strconv.FormatFloat(math.Round(x*10)/10, 'f', -1, 64)
}

// linScale maps [d0, d1] onto [r0, r1].
type linScale struct{ d0, d1, r0, r1 float64 }

func (s linScale) at(v float64) float64 {
	if s.d1 == s.d0 {
		return (s.r0 + s.r1) / 2
	}
	return s.r0 + (v-s.d0)/(s.d1-s.d0)*(s.r1-s.r0)
}

// logScale maps [lo, hi] (both > 0) onto [r0, r1] logarithmically; values
// outside the domain are clamped to it.
type logScale struct{ lo, hi, r0, r1 float64 }

func (s logScale) at(v float64) float64 {
	v = min(max(v, s.lo), s.hi)
	if s.hi <= s.lo {
		return (s.r0 + s.r1) / 2
	}
	return s.r0 + (math.Log(v)-math.Log(s.lo))/(math.Log(s.hi)-math.Log(s.lo))*(s.r1-s.r0)
}

// tailScale maps a cumulative fraction q onto [r0, r1] by −log10(1−q), so
// that 0.9, 0.99 and 0.999 are evenly spaced: the tail of a latency CDF gets
// the room it deserves. q is clamped to [0, 1−10^−umax].
type tailScale struct {
	umax, r0, r1 float64
}

func tailU(q float64) float64 {
	if q >= 1 {
		return math.Inf(1)
	}
	return -math.Log10(1 - max(q, 0))
}

func (s tailScale) at(q float64) float64 {
	u := min(tailU(q), s.umax)
	return s.r0 + u/s.umax*(s.r1-s.r0)
}

// step125 returns the 1-2-5 value at index i: …, 0.5, 1, 2, 5, 10, 20, ….
func step125(i int) float64 {
	d := math.Floor(float64(i) / 3)
	return [3]float64{1, 2, 5}[((i%3)+3)%3] * math.Pow(10, d)
}

// index125 returns the largest i with step125(i) ≤ v (v > 0).
func index125(v float64) int {
	i := 3 * int(math.Floor(math.Log10(v)))
	for step125(i+1) <= v*(1+1e-9) {
		i++
	}
	for step125(i) > v*(1+1e-9) {
		i--
	}
	return i
}

// logBounds returns 1-2-5 bounds enclosing [lo, hi] (lo > 0), at least one
// step apart.
func logBounds(lo, hi float64) (float64, float64) {
	if !(lo > 0) || math.IsInf(lo, 0) || math.IsNaN(hi) || math.IsInf(hi, 0) {
		return 1, 10
	}
	hi = max(hi, lo)
	a := index125(lo)
	b := index125(hi)
	if step125(b) < hi*(1-1e-9) {
		b++
	}
	if b <= a {
		b = a + 1
	}
	return step125(a), step125(b)
}

// logTicks returns the ticks of a log axis over [lo, hi]: every 1-2-5 value
// when the axis spans at most three decades, else the powers of ten.
func logTicks(lo, hi float64) []float64 {
	decadesOnly := math.Log10(hi/lo) > 3.01
	var out []float64
	for i := index125(lo); ; i++ {
		v := step125(i)
		if v > hi*(1+1e-9) {
			break
		}
		if v < lo*(1-1e-9) || decadesOnly && ((i%3)+3)%3 != 0 {
			continue
		}
		out = append(out, v)
	}
	return out
}

// linTicks returns about n round ticks covering [lo, hi].
func linTicks(lo, hi float64, n int) []float64 {
	if !(hi > lo) || n < 1 {
		return []float64{lo}
	}
	raw := (hi - lo) / float64(n)
	step := step125(index125(raw))
	if (hi-lo)/step > float64(n)*1.5 {
		step = step125(index125(raw) + 1)
	}
	var out []float64
	for v := math.Ceil(lo/step-1e-9) * step; v <= hi+step*1e-9; v += step {
		t := math.Round(v/step) * step
		if t == 0 {
			t = 0 // not -0
		}
		out = append(out, t)
	}
	return out
}

// fmtVal formats a value with digits decimals, or "–" if it is not finite.
func fmtVal(x float64, digits int) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "–"
	}
	return strconv.FormatFloat(x, 'f', digits, 64)
}

// fmtNum formats a tick value compactly: 0.5, 1, 20, 1000.
func fmtNum(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// fmtBytes formats a message size as Homa's graphs label it: 64, 1.4K, 12K, 1M.
func fmtBytes(n int) string {
	x := float64(n)
	switch {
	case n < 1000:
		return strconv.Itoa(n)
	case n < 10_000:
		return strconv.FormatFloat(math.Round(x/100)/10, 'f', -1, 64) + "K"
	case n < 1_000_000:
		return strconv.FormatFloat(math.Round(x/1000), 'f', -1, 64) + "K"
	case n < 10_000_000:
		return strconv.FormatFloat(math.Round(x/100_000)/10, 'f', -1, 64) + "M"
	default:
		return strconv.FormatFloat(math.Round(x/1_000_000), 'f', -1, 64) + "M"
	}
}

// fmtNs formats a duration in ns on a log axis: 10 ns, 1 µs, 100 µs, 1 ms.
func fmtNs(ns float64) string {
	switch {
	case ns < 1000:
		return fmtNum(ns) + " ns"
	case ns < 1e6:
		return fmtNum(ns/1e3) + " µs"
	default:
		return fmtNum(ns/1e6) + " ms"
	}
}

// policyColors gives the known policies fixed colours, so a policy looks the
// same in every report. They are picked from the Okabe-Ito and Paul Tol
// palettes so that every pair stays at least 19 ΔE apart for normal vision
// and for readers with deuteranopia or protanopia
// (TestPolicyColorsColourBlindSafe checks it): Homa's Gen2 and Gen3 blue and
// vermillion, ours green, purple and orange, the oracles black and brown.
var policyColors = map[string]string{
	"rps":     "#33bbee", // cyan
	"same":    "#332288", // indigo
	"next":    "#eecc66", // sand
	"idle":    "#ffaabb", // pink
	"gen2":    "#0072b2", // blue
	"gen3":    "#d55e00", // vermillion
	"gen4":    "#009e73", // bluish green
	"gen5":    "#aa3377", // purple
	"gen6":    "#e69f00", // orange
	"oracle":  "#000000", // a bound, not a policy
	"oracle6": "#663333", // brown
}

// otherColors are for policies not listed above, picked by a hash of the
// name.
var otherColors = []string{"#117733", "#999933", "#cc6677", "#88ccee", "#44aa99", "#6699cc"}

// colorOf returns the colour of policy: fixed for known policies, else picked
// by a hash of the name (stable from report to report).
func colorOf(policy string) string {
	if c, ok := policyColors[policy]; ok {
		return c
	}
	h := fnv.New32a()
	h.Write([]byte(policy))
	return otherColors[h.Sum32()%uint32(len(otherColors))]
}

// Activity colours of the per-core charts.
var activities = []struct{ class, name, color string }{
	{"gro", "GRO", "#e4572e"},
	{"softirq", "SoftIRQ", "#f3a712"},
	{"app", "app", "#29335c"},
	{"poll", "poll", "#7fa7c9"},
	{"idle", "idle", "#ececec"},
}

// frame draws the plot area's border, the grid and the tick labels of a
// chart: xs and ys are the tick positions in pixels with their labels.
type tick struct {
	pos   float64
	label string
}

func (b *svg) axes(x0, y0, x1, y1 float64, xs, ys []tick) {
	b.f(`<g class="grid">`)
	for _, t := range xs {
		b.f(`<line x1="%s" y1="%s" x2="%s" y2="%s"/>`, num(t.pos), num(y0), num(t.pos), num(y1))
	}
	for _, t := range ys {
		b.f(`<line x1="%s" y1="%s" x2="%s" y2="%s"/>`, num(x0), num(t.pos), num(x1), num(t.pos))
	}
	b.f(`</g><rect class="frame" x="%s" y="%s" width="%s" height="%s"/>`, num(x0), num(y0), num(x1-x0), num(y1-y0))
	b.f(`<g class="ticks x">`)
	for _, t := range xs {
		if t.label != "" {
			b.f(`<text x="%s" y="%s" text-anchor="middle">%s</text>`, num(t.pos), num(y1+15), esc(t.label))
		}
	}
	b.f(`</g><g class="ticks y">`)
	for _, t := range ys {
		if t.label != "" {
			b.f(`<text x="%s" y="%s" text-anchor="end">%s</text>`, num(x0-6), num(t.pos+4), esc(t.label))
		}
	}
	b.f(`</g>`)
}

// path builds the d attribute of a polyline.
type path struct {
	strings.Builder
	n int
}

func (p *path) move(x, y float64) { p.add("M", x, y) }
func (p *path) line(x, y float64) { p.add("L", x, y) }

func (p *path) add(op string, x, y float64) {
	if p.n > 0 {
		p.WriteByte(' ')
	}
	p.WriteString(op)
	p.WriteString(num(x))
	p.WriteByte(',')
	p.WriteString(num(y))
	p.n++
}
