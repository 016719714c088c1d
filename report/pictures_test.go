package report

import (
	"bytes"
	"encoding/base64"
	"image"
	"image/color"
	"image/png"
	"slices"
	"strings"
	"testing"

	"github.com/homalb/homalb/stats"
)

// chartPolicies returns the policies of the P99 series of the first
// slowdown chart.
func chartPolicies(d doc) []string {
	var out []string
	for _, p := range find(find(d.root, "svg", "slowdown")[0], "path", "series") {
		if attr(p, "data-pct") == "p99" {
			out = append(out, attr(p, "data-policy"))
		}
	}
	return out
}

// TestSlowdownChartPicksPolicies: with every policy in a scenario the chart
// draws Gen2, Gen3 and the best other policy that is not an oracle and not
// overloaded, unless asked for others; the table still lists them all.
func TestSlowdownChartPicksPolicies(t *testing.T) {
	var rs []*Result
	for _, p := range []string{"rps", "same", "gen2", "gen3", "gen4", "gen5", "gen6", "oracle6"} {
		r := fake(p, "w4", 0.8, 12, 4, 4)
		r.Short.P99 = map[string]float64{"gen4": 6, "gen5": 3.4, "gen6": 3.9, "oracle6": 1}[p] + 20*float64(len(p)%2)
		rs = append(rs, r)
	}
	rs[5].Overloaded = true // gen5: best number, but overloaded
	d := parseReport(t, rs)
	if got := chartPolicies(d); !slices.Equal(got, []string{"gen2", "gen3", "gen6"}) {
		t.Errorf("default chart %v, want gen2, gen3 and gen6", got)
	}
	if !strings.Contains(d.raw, "3 of 8 policies") {
		t.Error("the chart does not say it shows 3 of 8 policies")
	}
	var b strings.Builder
	if err := WriteHTML(&b, rs, Options{Policies: []string{"all"}}); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(b.String(), `data-pct="p99"`); n != 8 {
		t.Errorf("--chart-policies all: %d series", n)
	}
	b.Reset()
	WriteHTML(&b, rs, Options{Policies: []string{"same", "gen5"}})
	if n := strings.Count(b.String(), `data-pct="p99"`); n != 2 {
		t.Errorf("two policies asked for: %d series", n)
	}
	// The overloaded run is marked in its row and not bold.
	if !strings.Contains(d.raw, "⚠ overloaded") || !strings.Contains(d.raw, "1 run is overloaded") {
		t.Error("overloaded run not marked")
	}
}

// TestBucketCountsShown: the slowdown chart writes how many messages each
// (wide enough) size bucket holds, or their range when most are too narrow.
func TestBucketCountsShown(t *testing.T) {
	r := fake("gen2", "w4", 0.8, 5, 4, 4)
	for i := range r.Slowdown {
		r.Slowdown[i].Count = int64(1000 * (i + 1))
	}
	d := parseReport(t, []*Result{r})
	counts := find(find(d.root, "svg", "slowdown")[0], "g", "counts")
	if len(counts) != 1 || !strings.Contains(text(counts[0]), "1K") || !strings.Contains(text(counts[0]), "5K") || !strings.Contains(text(counts[0]), "messages") {
		t.Errorf("counts %q", text(counts[0]))
	}
	many := fake("gen2", "w4", 0.8, 400, 4, 4)
	for i := range many.Slowdown {
		many.Slowdown[i].Count = int64(50 + i)
	}
	d = parseReport(t, []*Result{many})
	counts = find(find(d.root, "svg", "slowdown")[0], "g", "counts")
	if got := text(counts[0]); !strings.Contains(got, "50 to 449, median 250") {
		t.Errorf("counts of 400 buckets: %q", got)
	}
}

// TestHeatmapScaleAndPeaks: the colour scale has numbers, and the heatmap
// colours a bin by its busiest 100 µs window when the result has them.
func TestHeatmapScaleAndPeaks(t *testing.T) {
	r := fake("gen2", "w4", 0.8, 5, 2, 3)
	r.Timeline.Busy = [][]float64{{0.05, 0.05, 0.05}, {0, 0, 0}}
	r.Timeline.Peak = [][]float64{{1, 0.05, 0.05}, {0, 0, 0}}
	d := parseReport(t, []*Result{r})
	scale := find(d.root, "p", "heatscale")
	if len(scale) != 1 || !strings.Contains(text(scale[0]), "0%") || !strings.Contains(text(scale[0]), "90%") || !strings.Contains(text(scale[0]), "100%") {
		t.Fatalf("colour scale without numbers")
	}
	if !strings.Contains(d.raw, "busiest 100 µs of each") {
		t.Error("heatmap does not say it shows the busiest window")
	}
	img := heatmapPNG(t, d)
	if got, want := color.NRGBAModel.Convert(img.At(0, 0)), color.Color(heatColor(1)); got != want {
		t.Errorf("hot bin drawn %v, want the colour of 100%% %v", got, want)
	}
}

// TestRealRunNotMeasured: a real run without the server's telemetry shows
// "–" where a simulated run has handoffs, cores and hotspots, and the page
// does not call it a simulation.
func TestRealRunNotMeasured(t *testing.T) {
	r := &Result{Source: "real", Policy: "gen3", Workload: "w3", Load: 0.05, Messages: 100, Addr: "127.0.0.1:4000"}
	r.Slowdowns = stats.Slowdowns{Slowdown: []stats.Bucket{{MaxBytes: 1424, Count: 100, CumFrac: 1, P50: 1.1, P99: 2, P999: 3}},
		Short: stats.Percentiles{Count: 100, P50: 1.1, P99: 2, P999: 3}, All: stats.Percentiles{Count: 100, P50: 1.1, P99: 2, P999: 3}}
	d := parseReport(t, []*Result{r})
	if strings.Contains(d.raw, "simulator") || strings.Contains(d.raw, "loopback") || !strings.Contains(d.raw, "real run") {
		t.Error("a real run is described as a simulation")
	}
	rows := find(d.root, "tr")
	var cells []string
	for _, td := range find(rows[1], "td") {
		cells = append(cells, text(td))
	}
	// messages, short P50/P99/P99.9, all P99, two handoffs, busiest core, hotspots
	if len(cells) != 10 || cells[2] != "1.10" || cells[6] != "–" || cells[7] != "–" || cells[8] != "–" || cells[9] != "–" {
		t.Errorf("row %q", cells)
	}
	if strings.Contains(d.raw, "<td>0.0</td>") || strings.Contains(d.raw, ">0.0 µs") {
		t.Error("0.0 shown for something not measured")
	}
}

// heatmapPNG decodes the first heatmap's cells.
func heatmapPNG(t *testing.T, d doc) image.Image {
	t.Helper()
	imgs := find(find(d.root, "svg", "heatmap")[0], "image", "cells")
	if len(imgs) != 1 {
		t.Fatalf("%d heatmap images", len(imgs))
	}
	data, _ := strings.CutPrefix(attr(imgs[0], "href"), "data:image/png;base64,")
	raw, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return img
}
