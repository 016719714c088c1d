package report

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/homalb/homalb/balance"
	"github.com/homalb/homalb/stats"
)

// Sizes of the charts in CSS pixels.
const (
	slowW, slowH                   = 1060, 440
	slowL, slowR, slowT, slowB     = 60, 190, 30, 92
	cdfW, cdfH                     = 520, 300
	cdfL, cdfR, cdfT, cdfB         = 66, 124, 30, 44
	coreW, coreH                   = 325, 236
	coreL, coreR, coreT, coreB     = 40, 8, 30, 36
	heatW                          = 325
	heatL, heatR, heatT, heatB     = 44, 10, 30, 36
	heatMinRow, heatMaxRow, heatPx = 3, 10, 200 // row height bounds; target plot height
)

// pcts are the slowdown percentiles drawn per run.
var pcts = []struct {
	key string
	get func(stats.Bucket) float64
}{
	{"p50", func(b stats.Bucket) float64 { return b.P50 }},
	{"p99", func(b stats.Bucket) float64 { return b.P99 }},
}

// slowdownChart draws slowdown against message size as Homa's benchmarks do:
// x is the cumulative fraction of messages, labelled with the sizes found
// there; y is the slowdown on a log scale; P50 (dashed) and P99 (solid) per run.
func slowdownChart(g *group, policies []string) string {
	x0, x1 := float64(slowL), float64(slowW-slowR)
	y0, y1 := float64(slowT), float64(slowH-slowB)
	lo, hi := math.Inf(1), 0.0
	runs := chartRuns(g, policies)
	var ref *run // the run whose buckets label the x-axis and the hover bands
	for _, r := range runs {
		if ref == nil && len(r.res.Slowdown) > 0 {
			ref = r
		}
		for _, b := range r.res.Slowdown {
			for _, p := range pcts {
				if v := p.get(b); v > 0 && !math.IsInf(v, 0) {
					lo, hi = min(lo, v), max(hi, v)
				}
			}
		}
	}
	if hi == 0 {
		lo, hi = 1, 10
	}
	ylo, yhi := logBounds(lo, hi)
	if lo < ylo*1.05 { // keep lines off the frame (P50s sit at 1)
		ylo = step125(index125(ylo) - 1)
	}
	if hi > yhi*0.95 {
		yhi = step125(index125(yhi) + 1)
	}
	ys := logScale{ylo, yhi, y1, y0}
	xs := linScale{0, 1, x0, x1}

	var b svg
	b.f(`<svg xmlns="http://www.w3.org/2000/svg" class="chart slowdown" id="%s-slowdown" data-workload="%s" data-load="%s" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="slowdown by message size, %s">`,
		g.id, esc(g.workload), fmtNum(g.load), slowW, slowH, slowW, slowH, esc(g.title))
	shown := ""
	if len(runs) < len(g.runs) {
		shown = fmt.Sprintf(` <tspan class="sub">%d of %d policies (pick with --chart-policies; "all" for every one)</tspan>`, len(runs), len(g.runs))
	}
	b.f(`<text class="title" x="%s" y="18">Slowdown by message size: P99 (solid) and P50 (dashed)%s</text>`, num(x0), shown)
	var xt []tick
	for i := 0; i <= 10; i++ {
		f := float64(i) / 10
		xt = append(xt, tick{xs.at(f), sizeAt(ref, f)})
	}
	// Consecutive equal size labels (few buckets) say nothing new.
	for i := len(xt) - 1; i > 0; i-- {
		if xt[i].label == xt[i-1].label {
			xt[i].label = ""
		}
	}
	var yt []tick
	for _, v := range logTicks(ylo, yhi) {
		yt = append(yt, tick{ys.at(v), fmtNum(v)})
	}
	b.axes(x0, y0, x1, y1, xt, yt)
	b.f(`<g class="ticks x sub">`)
	for i := 0; i <= 10; i++ {
		b.f(`<text x="%s" y="%s" text-anchor="middle">%d%%</text>`, num(xs.at(float64(i)/10)), num(y1+29), 10*i)
	}
	b.f(`</g>`)
	b.f(`<text class="axis-title" x="%s" y="%s" text-anchor="middle">message size (bytes), spaced by the cumulative fraction of messages (grey)</text>`, num((x0+x1)/2), num(y1+50))
	if ref != nil {
		b.bucketCounts(ref, xs, y1+68)
	}
	b.f(`<text class="axis-title" transform="translate(14 %s) rotate(-90)" text-anchor="middle">slowdown (log scale)</text>`, num((y0+y1)/2))
	if ylo < 1 && yhi > 1 {
		b.f(`<line class="ref" x1="%s" y1="%s" x2="%s" y2="%s"/>`, num(x0), num(ys.at(1)), num(x1), num(ys.at(1)))
	}
	if ref == nil {
		b.f(`<text class="empty" x="%s" y="%s" text-anchor="middle">no measured messages</text>`, num((x0+x1)/2), num((y0+y1)/2))
	}
	b.f(`<g class="plot">`)
	for _, r := range runs {
		bs := r.res.Slowdown
		for _, p := range pcts {
			var d path
			pen := false
			prev := 0.0
			var dots []string
			for _, bk := range bs {
				x := xs.at((prev + clamp01(bk.CumFrac)) / 2)
				prev = clamp01(bk.CumFrac)
				v := p.get(bk)
				if !(v > 0) || math.IsInf(v, 0) {
					pen = false
					continue
				}
				y := ys.at(v)
				if pen {
					d.line(x, y)
				} else {
					d.move(x, y)
					pen = true
				}
				dots = append(dots, fmt.Sprintf(`<circle cx="%s" cy="%s" r="2.5"/>`, num(x), num(y)))
			}
			b.f(`<path class="series %s" data-policy="%s" data-pct="%s" data-run="%d" stroke="%s" d="%s"><title>%s %s</title></path>`,
				p.key, esc(r.res.Policy), p.key, r.idx, r.color, d.String(), esc(r.label), strings.ToUpper(p.key))
			if len(bs) <= 30 && len(dots) > 0 { // few buckets: show the points themselves
				b.f(`<g class="series dots" data-run="%d" fill="%s">%s</g>`, r.idx, r.color, strings.Join(dots, ""))
			}
		}
	}
	b.f(`</g>`)
	if ref != nil {
		b.hoverBands(runs, ref, xs, y0, y1)
	}
	b.legend(runs, x1+18, y0+4, true)
	b.f(`</svg>`)
	return b.String()
}

// hoverBands covers each bucket of ref with a transparent band whose tooltip
// lists every run's percentiles for that size.
func (b *svg) hoverBands(runs []*run, ref *run, xs linScale, y0, y1 float64) {
	byRun := make([]map[int]stats.Bucket, len(runs))
	for i, r := range runs {
		byRun[i] = make(map[int]stats.Bucket, len(r.res.Slowdown))
		for _, bk := range r.res.Slowdown {
			byRun[i][bk.MaxBytes] = bk
		}
	}
	b.f(`<g class="hover">`)
	prev := 0.0
	var lower int
	for _, bk := range ref.res.Slowdown {
		cum := clamp01(bk.CumFrac)
		var t strings.Builder
		fmt.Fprintf(&t, "%s–%s bytes: %.1f%%–%.1f%% of messages", fmtBytes(lower+1), fmtBytes(bk.MaxBytes), 100*prev, 100*cum)
		for i, r := range runs {
			if x, ok := byRun[i][bk.MaxBytes]; ok {
				fmt.Fprintf(&t, "\n%s: P50 %s  P99 %s  P99.9 %s  (n=%d)", r.label, fmtVal(x.P50, 2), fmtVal(x.P99, 2), fmtVal(x.P999, 2), x.Count)
			}
		}
		if w := xs.at(cum) - xs.at(prev); w > 0 {
			b.f(`<rect x="%s" y="%s" width="%s" height="%s"><title>%s</title></rect>`, num(xs.at(prev)), num(y0), num(w), num(y1-y0), esc(t.String()))
		}
		prev, lower = cum, bk.MaxBytes
	}
	b.f(`</g>`)
}

// bucketCounts writes under the x-axis how many messages of ref each size
// bucket holds, where the bucket is wide enough for the number (every
// bucket's count is in the hover text): a P99 over a few dozen messages is
// their maximum, not a tail.
func (b *svg) bucketCounts(ref *run, xs linScale, y float64) {
	type label struct {
		x     float64
		bound int
		text  string
	}
	var labels []label
	var counts []int64
	prev := 0.0
	lastEnd := math.Inf(-1)
	for _, bk := range ref.res.Slowdown {
		cum := clamp01(bk.CumFrac)
		mid := xs.at((prev + cum) / 2)
		text := fmtCount(bk.Count)
		half := 3.2 * float64(len(text))
		if mid-half > lastEnd+4 && xs.at(cum)-xs.at(prev) >= 2*half {
			labels = append(labels, label{mid, bk.MaxBytes, text})
			lastEnd = mid + half
		}
		counts = append(counts, bk.Count)
		prev = cum
	}
	b.f(`<g class="ticks x sub counts">`)
	if 2*len(labels) >= len(counts) {
		b.f(`<text x="%s" y="%s" text-anchor="end">messages</text>`, num(xs.r0-6), num(y))
		for _, l := range labels {
			b.f(`<text x="%s" y="%s" text-anchor="middle" data-bucket="%d">%s</text>`, num(l.x), num(y), l.bound, l.text)
		}
	} else {
		// Too many buckets to number each: say their range.
		slices.Sort(counts)
		b.f(`<text x="%s" y="%s" text-anchor="middle">messages per size bucket (%s): %s to %s, median %s; hover a size for its count</text>`,
			num((xs.r0+xs.r1)/2), num(y), esc(ref.label), fmtCount(counts[0]), fmtCount(counts[len(counts)-1]), fmtCount(counts[len(counts)/2]))
	}
	b.f(`</g>`)
}

// fmtCount writes a count compactly: 950, 12K, 1.2M.
func fmtCount(n int64) string {
	switch {
	case n < 1000:
		return strconv.FormatInt(n, 10)
	case n < 10_000:
		return strconv.FormatFloat(math.Round(float64(n)/100)/10, 'f', -1, 64) + "K"
	case n < 1_000_000:
		return strconv.FormatInt((n+500)/1000, 10) + "K"
	default:
		return strconv.FormatFloat(math.Round(float64(n)/100_000)/10, 'f', -1, 64) + "M"
	}
}

// homaPolicies are the policies of Homa and Linux, against which the slowdown
// chart shows the best of the others by default.
var homaPolicies = []string{"rps", "same", "next", "idle", "gen2", "gen3"}

// defaultChartPolicies are drawn in every slowdown chart by default.
var defaultChartPolicies = []string{"gen2", "gen3"}

// chartRuns picks the runs the slowdown chart draws: those of the policies
// asked for ("all": every run); by default, with more than three runs, Gen2,
// Gen3 and the best other policy that is not an oracle (the lowest short P99,
// or all P99 where no message is short, among the runs not overloaded).
func chartRuns(g *group, policies []string) []*run {
	if slices.Contains(policies, "all") || len(policies) == 0 && len(g.runs) <= 3 {
		return g.runs
	}
	want := policies
	if len(want) == 0 {
		want = slices.Clone(defaultChartPolicies)
		var best *run
		score := func(r *run) float64 {
			if r.res.Short.Count > 0 {
				return r.res.Short.P99
			}
			return r.res.All.P99
		}
		for _, r := range g.runs {
			p := r.res.Policy
			if slices.Contains(homaPolicies, p) || r.res.Overloaded || isOracle(p) || r.res.All.Count == 0 {
				continue
			}
			if best == nil || score(r) < score(best) {
				best = r
			}
		}
		if best != nil {
			want = append(want, best.res.Policy)
		}
	}
	var out []*run
	for _, r := range g.runs {
		if slices.Contains(want, r.res.Policy) {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return g.runs
	}
	return out
}

// isOracle says whether a policy is a reference that cheats.
func isOracle(policy string) bool {
	info, err := balance.Lookup(policy)
	return err == nil && info.Oracle
}

// legend lists the runs with their colours; the items toggle their series
// (see the page's script).
func (b *svg) legend(runs []*run, x, y float64, withPcts bool) {
	b.f(`<g class="legend">`)
	for i, r := range runs {
		yy := y + float64(i)*17
		b.f(`<g class="legend-item" data-run="%d" data-policy="%s"><rect x="%s" y="%s" width="150" height="16" fill="transparent"/><line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="3"/><text x="%s" y="%s">%s</text></g>`,
			r.idx, esc(r.res.Policy), num(x-2), num(yy-4), num(x), num(yy+4), num(x+22), num(yy+4), r.color, num(x+28), num(yy+8), esc(r.label))
	}
	if withPcts {
		yy := y + float64(len(runs))*17 + 12
		b.f(`<line class="key" x1="%s" y1="%s" x2="%s" y2="%s"/><text x="%s" y="%s">P99</text>`, num(x), num(yy), num(x+22), num(yy), num(x+28), num(yy+4))
		yy += 17
		b.f(`<line class="key p50" x1="%s" y1="%s" x2="%s" y2="%s"/><text x="%s" y="%s">P50</text>`, num(x), num(yy), num(x+22), num(yy), num(x+28), num(yy+4))
		yy += 22
		b.f(`<text class="sub" x="%s" y="%s">click a name to hide it</text>`, num(x), num(yy))
	}
	b.f(`</g>`)
}

// sizeAt returns the size label at cumulative fraction f of ref's buckets:
// the upper bound of the first bucket reaching f.
func sizeAt(ref *run, f float64) string {
	if ref == nil || f == 0 {
		return ""
	}
	for _, bk := range ref.res.Slowdown {
		if bk.CumFrac >= f-1e-9 {
			return fmtBytes(bk.MaxBytes)
		}
	}
	return fmtBytes(ref.res.Slowdown[len(ref.res.Slowdown)-1].MaxBytes)
}

func clamp01(x float64) float64 {
	if math.IsNaN(x) {
		return 0
	}
	return min(max(x, 0), 1)
}

// Handoffs drawn as CDFs.
var handoffs = []struct {
	key, title string
	get        func(stats.HandoffCDF) [][2]float64
}{
	{"gro_to_softirq", "GRO → SoftIRQ handoff", func(h stats.HandoffCDF) [][2]float64 { return h.GROToSoftIRQ }},
	{"softirq_to_app", "SoftIRQ → app handoff", func(h stats.HandoffCDF) [][2]float64 { return h.SoftIRQToApp }},
}

// minCDFNs is the left end of the handoff axes: shorter handoffs (a batch
// processed on its GRO core counts as 0) are drawn at it.
const minCDFNs = 10

// handoffChart draws the CDF of handoff latency k (an index of handoffs), one
// step line per run: latency on a log axis, the fraction on a tail-stretched
// axis (0.9, 0.99, 0.999 evenly spaced).
func handoffChart(g *group, k int) string {
	h := handoffs[k]
	x0, x1 := float64(cdfL), float64(cdfW-cdfR)
	y0, y1 := float64(cdfT), float64(cdfH-cdfB)
	lo, hi := math.Inf(1), 0.0
	umax := 2.0
	for _, r := range g.runs {
		for _, p := range h.get(r.res.HandoffCDF) {
			if p[0] > 0 && !math.IsInf(p[0], 0) {
				lo, hi = min(lo, p[0]), max(hi, p[0])
			}
			if u := tailU(p[1]); !math.IsInf(u, 0) {
				umax = max(umax, math.Ceil(u-1e-9))
			}
		}
	}
	umax = min(umax, 5)
	if hi == 0 {
		lo, hi = minCDFNs, 10*minCDFNs
	}
	xlo, xhi := logBounds(max(lo, minCDFNs), max(hi, minCDFNs))
	xs := logScale{xlo, xhi, x0, x1}
	ys := tailScale{umax, y1, y0}

	var b svg
	b.f(`<svg xmlns="http://www.w3.org/2000/svg" class="chart handoff" id="%s-%s" data-handoff="%s" data-workload="%s" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s latency CDF, %s">`,
		g.id, h.key, h.key, esc(g.workload), cdfW, cdfH, cdfW, cdfH, esc(h.title), esc(g.title))
	b.f(`<text class="title" x="%s" y="18">%s: CDF</text>`, num(x0), esc(h.title))
	var xt, yt []tick
	ticks := logTicks(xlo, xhi)
	for _, v := range ticks {
		l := ""
		if math.Abs(math.Log10(v)-math.Round(math.Log10(v))) < 1e-9 || len(ticks) <= 6 {
			l = fmtNs(v)
		}
		xt = append(xt, tick{xs.at(v), l})
	}
	yt = append(yt, tick{ys.at(0), "0"}, tick{ys.at(0.5), "0.5"})
	for u := 1; u <= int(umax); u++ {
		q := 1 - math.Pow(10, -float64(u))
		yt = append(yt, tick{ys.at(q), "0." + strings.Repeat("9", u)})
	}
	b.axes(x0, y0, x1, y1, xt, yt)
	b.f(`<text class="axis-title" x="%s" y="%s" text-anchor="middle">latency (log scale)</text>`, num((x0+x1)/2), num(y1+34))
	b.f(`<text class="axis-title" transform="translate(11 %s) rotate(-90)" text-anchor="middle">fraction ≤ latency (tail stretched)</text>`, num((y0+y1)/2))
	empty := true
	b.f(`<g class="plot">`)
	for _, r := range g.runs {
		pts := h.get(r.res.HandoffCDF)
		if len(pts) == 0 {
			continue
		}
		empty = false
		var d path
		d.move(xs.at(pts[0][0]), ys.at(0))
		q := 0.0
		for _, p := range pts {
			x := xs.at(p[0])
			d.line(x, ys.at(q))
			q = clamp01(p[1])
			d.line(x, ys.at(q))
		}
		d.line(x1, ys.at(q))
		b.f(`<path class="series" data-policy="%s" data-handoff="%s" data-run="%d" stroke="%s" d="%s"><title>%s</title></path>`,
			esc(r.res.Policy), h.key, r.idx, r.color, d.String(), esc(r.label))
	}
	b.f(`</g>`)
	if empty {
		b.f(`<text class="empty" x="%s" y="%s" text-anchor="middle">no handoffs measured</text>`, num((x0+x1)/2), num((y0+y1)/2))
	}
	b.legend(g.runs, x1+14, y0+4, false)
	b.f(`</svg>`)
	return b.String()
}

// coresChart draws one run's per-core time as stacked bars: GRO, SoftIRQ,
// app, poll and idle from the bottom.
func coresChart(r *run) string {
	x0, x1 := float64(coreL), float64(coreW-coreR)
	y0, y1 := float64(coreT), float64(coreH-coreB)
	ys := linScale{0, 1, y1, y0}
	cores := r.res.Cores
	var b svg
	b.f(`<svg xmlns="http://www.w3.org/2000/svg" class="chart cores" id="run%d-cores" data-policy="%s" data-run="%d" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="per-core utilisation, %s">`,
		r.idx, esc(r.res.Policy), r.idx, coreW, coreH, coreW, coreH, esc(r.label))
	busiest := 0.0
	for _, c := range cores {
		if b := c.Busy(); b > busiest {
			busiest = b
		}
	}
	b.f(`<text class="title" x="%s" y="18"><tspan fill="%s">■</tspan> %s <tspan class="sub">busiest core %s%%, hotspots %s%%</tspan></text>`,
		num(x0), r.color, esc(r.label), fmtVal(100*busiest, 0), fmtVal(100*opt(r.res.HotspotFrac), 0))
	n := len(cores)
	band := (x1 - x0) / float64(max(n, 1))
	every := max(1, int(math.Ceil(16/band))) // labels 16 px apart at least
	var xt, yt []tick
	for i := range cores {
		if i%every == 0 {
			xt = append(xt, tick{x0 + band*(float64(i)+0.5), fmt.Sprint(cores[i].ID)})
		}
	}
	for _, v := range []float64{0, 0.25, 0.5, 0.75, 1} {
		yt = append(yt, tick{ys.at(v), fmt.Sprintf("%.0f%%", 100*v)})
	}
	b.axes(x0, y0, x1, y1, nil, yt)
	b.f(`<g class="ticks x">`)
	for _, t := range xt {
		b.f(`<text x="%s" y="%s" text-anchor="middle">%s</text>`, num(t.pos), num(y1+13), t.label)
	}
	b.f(`</g><text class="axis-title" x="%s" y="%s" text-anchor="middle">core</text>`, num((x0+x1)/2), num(y1+29))
	if n == 0 {
		b.f(`<text class="empty" x="%s" y="%s" text-anchor="middle">no cores</text>`, num((x0+x1)/2), num((y0+y1)/2))
	}
	w := band * 0.8
	for i, c := range cores {
		vals := []float64{c.GRO, c.SoftIRQ, c.App, c.Poll, c.Idle}
		x := x0 + band*float64(i) + (band-w)/2
		b.f(`<g class="bar" data-core="%d"><title>core %d: GRO %s%%, SoftIRQ %s%%, app %s%%, poll %s%%, idle %s%%</title>`,
			c.ID, c.ID, fmtVal(100*c.GRO, 1), fmtVal(100*c.SoftIRQ, 1), fmtVal(100*c.App, 1), fmtVal(100*c.Poll, 1), fmtVal(100*c.Idle, 1))
		acc := 0.0
		for k, v := range vals {
			v = clamp01(v)
			top := min(acc+v, 1)
			if top > acc {
				b.f(`<rect class="seg %s" x="%s" y="%s" width="%s" height="%s"/>`,
					activities[k].class, num(x), num(ys.at(top)), num(w), num(ys.at(acc)-ys.at(top)))
			}
			acc = top
		}
		b.f(`</g>`)
	}
	b.f(`</svg>`)
	return b.String()
}
