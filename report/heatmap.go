package report

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html/template"
	"image"
	"image/color"
	"image/png"
	"math"
	"strings"
)

// The heatmap of each core's busy time over the measured window, and its
// colour scale.

// heatmapChart draws one run's timeline: a row per core, a column per bin,
// coloured by the busy fraction of the bin's busiest 100 µs window when the
// result has it (timeline.peak), else by the bin's mean, so that a short
// hotspot shows. The cells are a PNG (one pixel each) inside the SVG, scaled
// without smoothing.
func heatmapChart(r *run) string {
	tl := r.res.Timeline
	cells, what := tl.Busy, "mean of each"
	if len(tl.Peak) == len(tl.Busy) && len(tl.Peak) > 0 {
		cells, what = tl.Peak, "busiest 100 µs of each"
	}
	n := len(cells)
	bins := 0
	for _, row := range cells {
		bins = max(bins, len(row))
	}
	rowH := float64(min(max(heatPx/max(n, 1), heatMinRow), heatMaxRow))
	x0, x1 := float64(heatL), float64(heatW-heatR)
	y0 := float64(heatT)
	y1 := y0 + rowH*float64(max(n, 1))
	h := int(y1) + heatB
	var b svg
	b.f(`<svg xmlns="http://www.w3.org/2000/svg" class="chart heatmap" id="run%d-heatmap" data-policy="%s" data-run="%d" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="busy time per core over time, %s">`,
		r.idx, esc(r.res.Policy), r.idx, heatW, h, heatW, h, esc(r.label))
	b.f(`<text class="title" x="%s" y="18"><tspan fill="%s">■</tspan> %s <tspan class="sub">%s %s bin</tspan></text>`,
		num(x0), r.color, esc(r.label), what, fmtNs(float64(tl.BinNs)))
	spanNs := float64(tl.BinNs) * float64(bins)
	xs := linScale{0, spanNs / 1e6, x0, x1}
	var xt, yt []tick
	if bins > 0 && tl.BinNs > 0 {
		for _, v := range linTicks(0, spanNs/1e6, int((x1-x0)/55)) {
			xt = append(xt, tick{xs.at(v), fmtNum(v)})
		}
	}
	every := max(1, int(math.Ceil(float64(n)*12/(y1-y0)))) // labels 12 px apart at least
	for c := 0; c < n; c += every {
		yt = append(yt, tick{y0 + rowH*(float64(c)+0.5), fmt.Sprint(c)})
	}
	if bins == 0 || n == 0 {
		b.f(`<text class="empty" x="%s" y="%s" text-anchor="middle">not measured</text>`, num((x0+x1)/2), num((y0+y1)/2))
	} else {
		img := image.NewNRGBA(image.Rect(0, 0, bins, n))
		for c, row := range cells {
			for i := 0; i < bins; i++ {
				v := 0.0
				if i < len(row) {
					v = row[i]
				}
				img.SetNRGBA(i, c, heatColor(v))
			}
		}
		var buf bytes.Buffer
		_ = png.Encode(&buf, img) // writing to memory cannot fail
		b.f(`<image class="cells" x="%s" y="%s" width="%s" height="%s" preserveAspectRatio="none" style="image-rendering:pixelated" href="data:image/png;base64,%s"/>`,
			num(x0), num(y0), num(x1-x0), num(y1-y0), base64.StdEncoding.EncodeToString(buf.Bytes()))
	}
	b.f(`<rect class="frame" x="%s" y="%s" width="%s" height="%s"/>`, num(x0), num(y0), num(x1-x0), num(y1-y0))
	b.f(`<g class="ticks x">`)
	for _, t := range xt {
		b.f(`<line class="tick" x1="%s" y1="%s" x2="%s" y2="%s"/><text x="%s" y="%s" text-anchor="middle">%s</text>`,
			num(t.pos), num(y1), num(t.pos), num(y1+4), num(t.pos), num(y1+15), t.label)
	}
	b.f(`</g><g class="ticks y">`)
	for _, t := range yt {
		b.f(`<text x="%s" y="%s" text-anchor="end">%s</text>`, num(x0-5), num(t.pos+3.5), t.label)
	}
	b.f(`</g>`)
	b.f(`<text class="axis-title" x="%s" y="%s" text-anchor="middle">ms of the measured window</text>`, num((x0+x1)/2), num(y1+30))
	b.f(`<text class="axis-title" transform="translate(13 %s) rotate(-90)" text-anchor="middle">core</text>`, num((y0+y1)/2))
	b.f(`</svg>`)
	return b.String()
}

// heatStops is the heatmap's colour scale: pale for idle through orange to
// red at 90% busy, then dark purple for the hotspots above 90%.
var heatStops = []struct {
	at      float64
	r, g, b uint8
}{
	{0, 0xfb, 0xfb, 0xf4},
	{0.3, 0xfe, 0xd9, 0x76},
	{0.6, 0xfd, 0x8d, 0x3c},
	{0.9, 0xbd, 0x00, 0x26},
	{0.9001, 0x54, 0x00, 0x6b},
	{1, 0x2a, 0x00, 0x3a},
}

// heatColor maps a busy fraction to the heatmap's colour.
func heatColor(v float64) color.NRGBA {
	v = clamp01(v)
	for i := 1; i < len(heatStops); i++ {
		a, z := heatStops[i-1], heatStops[i]
		if v <= z.at {
			t := (v - a.at) / (z.at - a.at)
			mix := func(p, q uint8) uint8 { return uint8(math.Round(float64(p) + t*(float64(q)-float64(p)))) }
			return color.NRGBA{mix(a.r, z.r), mix(a.g, z.g), mix(a.b, z.b), 0xff}
		}
	}
	last := heatStops[len(heatStops)-1]
	return color.NRGBA{last.r, last.g, last.b, 0xff}
}

// heatTick is a labelled value of the heatmap's colour scale, at Pos
// percent of the scale's width.
type heatTick struct {
	Pos   template.CSS
	Label string
}

// heatScale labels the heatmap's colour scale.
func heatScale() []heatTick {
	var out []heatTick
	for _, v := range []float64{0, 0.25, 0.5, 0.75, 0.9, 1} {
		out = append(out, heatTick{template.CSS(fmt.Sprintf("left:%.0f%%", 100*v)), fmt.Sprintf("%.0f%%", 100*v)})
	}
	return out
}

// heatGradient is the CSS gradient of the heatmap's legend.
func heatGradient() string {
	var parts []string
	for _, s := range heatStops {
		parts = append(parts, fmt.Sprintf("#%02x%02x%02x %.2f%%", s.r, s.g, s.b, 100*s.at))
	}
	return "linear-gradient(to right, " + strings.Join(parts, ", ") + ")"
}
