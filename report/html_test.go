package report

import (
	"github.com/homalb/homalb/stats"

	"bytes"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"image/png"
	"io"
	"math"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// doc is a parsed report with lookups by class.
type doc struct {
	root *html.Node
	raw  string
}

func parseReport(t *testing.T, results []*Result) doc {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteHTML(&buf, results, Options{}); err != nil {
		t.Fatal(err)
	}
	root, err := html.Parse(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("report does not parse as HTML: %v", err)
	}
	checkSVGWellFormed(t, buf.String())
	return doc{root, buf.String()}
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func hasClass(n *html.Node, class string) bool {
	return slices.Contains(strings.Fields(attr(n, "class")), class)
}

// find returns the elements under n named tag (any if "") with all classes.
func find(n *html.Node, tag string, classes ...string) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && (tag == "" || n.Data == tag) {
			ok := true
			for _, c := range classes {
				ok = ok && hasClass(n, c)
			}
			if ok {
				out = append(out, n)
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

var svgRE = regexp.MustCompile(`(?s)<svg .*?</svg>`)

// checkSVGWellFormed parses every inline SVG as XML: a chart can be cut out
// of the page and used on its own.
func checkSVGWellFormed(t *testing.T, page string) {
	t.Helper()
	for i, s := range svgRE.FindAllString(page, -1) {
		d := xml.NewDecoder(strings.NewReader(s))
		for {
			_, err := d.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("svg %d is not well-formed XML: %v\n%.300s", i, err, s)
			}
		}
	}
}

// TestHTMLCharts: one slowdown chart per workload with one series per policy
// and percentile; two handoff CDFs per workload with one series per policy;
// per run, a core chart with a stacked bar per core, a heatmap whose PNG has
// a pixel per core and bin, and a collapsed configuration.
func TestHTMLCharts(t *testing.T) {
	results := []*Result{
		fake("gen2", "w4", 0.8, 40, 8, 50),
		fake("gen3", "w4", 0.8, 40, 8, 50),
		fake("rps", "w4", 0.8, 40, 8, 50),
		fake("gen2", "w3", 0.5, 25, 8, 30),
		fake("newpolicy", "w3", 0.5, 25, 8, 30),
	}
	d := parseReport(t, results)
	want := map[string][]string{"w4": {"gen2", "gen3", "rps"}, "w3": {"gen2", "newpolicy"}}

	charts := find(d.root, "svg", "chart", "slowdown")
	if len(charts) != 2 {
		t.Fatalf("%d slowdown charts, want one per workload (2)", len(charts))
	}
	for _, c := range charts {
		w := attr(c, "data-workload")
		var got []string
		for _, s := range find(c, "path", "series") {
			got = append(got, attr(s, "data-policy")+"/"+attr(s, "data-pct"))
			if !strings.HasPrefix(attr(s, "d"), "M") {
				t.Errorf("%s: series %s/%s has no line: %q", w, attr(s, "data-policy"), attr(s, "data-pct"), attr(s, "d"))
			}
		}
		var exp []string
		for _, p := range want[w] {
			exp = append(exp, p+"/p50", p+"/p99")
		}
		slices.Sort(got)
		slices.Sort(exp)
		if !slices.Equal(got, exp) {
			t.Errorf("slowdown chart %q: series %v, want %v", w, got, exp)
		}
		if n := len(find(c, "g", "legend-item")); n != len(want[w]) {
			t.Errorf("slowdown chart %q: %d legend items, want %d", w, n, len(want[w]))
		}
		// The x-axis is labelled with sizes; the hover bands cover every bucket.
		if !strings.Contains(text(c), "K") {
			t.Errorf("slowdown chart %q: no size labels", w)
		}
		if n, nb := len(find(c, "rect")), len(results[0].Slowdown); w == "w4" && n < nb {
			t.Errorf("slowdown chart w4: %d rects, want a hover band for each of %d buckets", n, nb)
		}
	}

	hand := find(d.root, "svg", "chart", "handoff")
	if len(hand) != 4 {
		t.Fatalf("%d handoff charts, want 2 per workload (4)", len(hand))
	}
	for _, c := range hand {
		w, h := attr(c, "data-workload"), attr(c, "data-handoff")
		if h != "gro_to_softirq" && h != "softirq_to_app" {
			t.Errorf("handoff chart with data-handoff %q", h)
		}
		var got []string
		for _, s := range find(c, "path", "series") {
			got = append(got, attr(s, "data-policy"))
		}
		slices.Sort(got)
		exp := slices.Sorted(slices.Values(want[w]))
		if !slices.Equal(got, exp) {
			t.Errorf("handoff chart %s/%s: series %v, want %v", w, h, got, exp)
		}
	}

	cores := find(d.root, "svg", "chart", "cores")
	heat := find(d.root, "svg", "chart", "heatmap")
	configs := find(d.root, "details", "config")
	if len(cores) != len(results) || len(heat) != len(results) || len(configs) != len(results) {
		t.Fatalf("%d core charts, %d heatmaps, %d configurations; want %d of each", len(cores), len(heat), len(configs), len(results))
	}
	for i, c := range cores {
		bars := find(c, "g", "bar")
		if len(bars) != 8 {
			t.Errorf("core chart %d: %d bars, want 8", i, len(bars))
		}
		for _, b := range bars {
			var segs []string
			for _, s := range find(b, "rect", "seg") {
				segs = append(segs, strings.TrimPrefix(attr(s, "class"), "seg "))
			}
			if !slices.Equal(segs, []string{"gro", "softirq", "app", "poll", "idle"}) {
				t.Errorf("core chart %d, core %s: segments %v", i, attr(b, "data-core"), segs)
			}
		}
	}
	for i, h := range heat {
		imgs := find(h, "image")
		if len(imgs) != 1 {
			t.Fatalf("heatmap %d: %d images", i, len(imgs))
		}
		href := attr(imgs[0], "href")
		data, ok := strings.CutPrefix(href, "data:image/png;base64,")
		if !ok {
			t.Fatalf("heatmap %d: href %.40q is not an inline PNG", i, href)
		}
		raw, err := base64.StdEncoding.DecodeString(data)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("heatmap %d: %v", i, err)
		}
		if b := img.Bounds(); b.Dx() != len(results[i].Timeline.Busy[0]) || b.Dy() != 8 {
			t.Errorf("heatmap %d: PNG %v, want a pixel per bin and core", i, b)
		}
	}
	for i, c := range configs {
		if attr(c, "open") != "" || hasOpen(c) {
			t.Errorf("configuration %d is not collapsed", i)
		}
		if !strings.Contains(text(c), "policy: "+results[i].Policy) {
			t.Errorf("configuration %d lacks its YAML", i)
		}
	}
	checkSelfContained(t, d.root)
}

func hasOpen(n *html.Node) bool {
	for _, a := range n.Attr {
		if a.Key == "open" {
			return true
		}
	}
	return false
}

// checkSelfContained: nothing is fetched when the page is viewed.
func checkSelfContained(t *testing.T, root *html.Node) {
	t.Helper()
	for _, n := range find(root, "") {
		switch n.Data {
		case "link", "iframe", "object", "embed":
			t.Errorf("page has a <%s>", n.Data)
		}
		for _, a := range n.Attr {
			if (a.Key == "src" || a.Key == "href" || a.Key == "xlink:href") &&
				!strings.HasPrefix(a.Val, "#") && !strings.HasPrefix(a.Val, "data:") {
				t.Errorf("<%s %s=%q> refers to something outside the page", n.Data, a.Key, a.Val)
			}
		}
	}
}

// TestHTMLFromSimulator draws a real run.
func TestHTMLFromSimulator(t *testing.T) {
	rs := realResults(t)
	d := parseReport(t, rs)
	if n := len(find(d.root, "path", "series")); n != 2*2+2*2 {
		t.Errorf("%d series, want 8 (2 policies × P50/P99, 2 policies × 2 handoffs)", n)
	}
	for _, p := range find(d.root, "path", "series") {
		if strings.Count(attr(p, "d"), "L") < 2 {
			t.Errorf("series %s/%s%s is almost empty: %q", attr(p, "data-policy"), attr(p, "data-pct"), attr(p, "data-handoff"), attr(p, "d"))
		}
	}
}

// TestHTMLOddInputs: no panic and a page that parses, whatever the results.
func TestHTMLOddInputs(t *testing.T) {
	empty := &Result{Policy: "gen2", Workload: "w1", Load: 0.5}
	single := fake("gen3", "fixed:1000", 0.5, 1, 4, 1)
	single.Slowdown[0].CumFrac = 1
	weird := fake("x<y>&\"z'", "a,b\"c<", 0.3, 5, 3, 4)
	weird.Slowdown[1].P99 = math.NaN()
	weird.Slowdown[2].P50 = math.Inf(1)
	weird.Slowdown[3].P99 = -2
	weird.Slowdown[4].CumFrac = 7
	weird.Cores[0].GRO = 3
	weird.Cores[1].Idle = -1
	weird.Cores[2].App = math.NaN()
	inf := math.Inf(1)
	weird.Load, weird.HotspotFrac, weird.WallMs, weird.All.P99 = math.NaN(), &inf, math.NaN(), math.NaN()
	weird.Timeline.Busy[1] = weird.Timeline.Busy[1][:1] // ragged
	weird.Timeline.Busy[2][0] = math.NaN()
	weird.HandoffCDF.GROToSoftIRQ = [][2]float64{{-5, -1}, {math.Inf(1), 2}}
	weird.HandoffCDF.SoftIRQToApp = [][2]float64{{100, 1}}
	zeroBins := fake("gen2", "w2", 0.5, 3, 2, 0)
	zeroBins.Timeline.BinNs = 0
	allZero := fake("gen2", "w5", 0.5, 3, 2, 2)
	for i := range allZero.Slowdown {
		allZero.Slowdown[i] = stats.Bucket{MaxBytes: allZero.Slowdown[i].MaxBytes}
	}
	cases := map[string][]*Result{
		"no results":        nil,
		"a nil result":      {nil},
		"zero messages":     {empty},
		"a single bucket":   {single},
		"odd values":        {weird},
		"no timeline bins":  {zeroBins},
		"zero slowdowns":    {allZero},
		"same policy twice": {fake("gen2", "w4", 0.8, 10, 4, 4), fake("gen2", "w4", 0.8, 10, 4, 4)},
	}
	for name, rs := range cases {
		t.Run(name, func(t *testing.T) {
			d := parseReport(t, rs)
			for _, bad := range []string{"NaN", "Inf", "ZgotmplZ"} {
				if strings.Contains(d.raw, bad) {
					t.Errorf("page contains %q", bad)
				}
			}
			n := 0
			for _, r := range rs {
				if r != nil {
					n++
				}
			}
			if got := len(find(d.root, "details", "config")); got != n {
				t.Errorf("%d configurations, want %d", got, n)
			}
		})
	}
	// Two runs of one policy in one chart are told apart.
	d := parseReport(t, cases["same policy twice"])
	var labels []string
	for _, it := range find(find(d.root, "svg", "slowdown")[0], "g", "legend-item") {
		labels = append(labels, text(it))
	}
	if len(labels) != 2 || labels[0] == labels[1] {
		t.Errorf("legend of two gen2 runs: %q", labels)
	}
	// Text from the data is escaped.
	if d := parseReport(t, []*Result{weird}); strings.Contains(d.raw, "x<y>") {
		t.Error("policy name not escaped")
	}
}

func TestHTMLDeterministic(t *testing.T) {
	rs := []*Result{fake("gen2", "w4", 0.8, 30, 6, 20), fake("gen3", "w4", 0.8, 30, 6, 20)}
	var a, b bytes.Buffer
	if err := WriteHTML(&a, rs, Options{Title: "t"}); err != nil {
		t.Fatal(err)
	}
	if err := WriteHTML(&b, rs, Options{Title: "t"}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("same results, different pages")
	}
}

// TestScales pins the axis helpers.
func TestScales(t *testing.T) {
	for _, c := range []struct{ lo, hi, wlo, whi float64 }{
		{1, 87, 1, 100}, {0.93, 3.5, 0.5, 5}, {1.2, 1.2, 1, 2}, {10, 10, 10, 20}, {0.0012, 460000, 0.001, 500000},
	} {
		lo, hi := logBounds(c.lo, c.hi)
		if math.Abs(lo-c.wlo) > 1e-12*c.wlo || math.Abs(hi-c.whi) > 1e-9*c.whi {
			t.Errorf("logBounds(%g, %g) = %g, %g; want %g, %g", c.lo, c.hi, lo, hi, c.wlo, c.whi)
		}
	}
	if got := fmt.Sprint(logTicks(1, 100)); got != "[1 2 5 10 20 50 100]" {
		t.Errorf("logTicks(1, 100) = %s", got)
	}
	if got := fmt.Sprint(logTicks(10, 1e6)); got != "[10 100 1000 10000 100000 1e+06]" {
		t.Errorf("logTicks(10, 1e6) = %s", got)
	}
	if got := fmt.Sprint(linTicks(0, 500, 8)); got != "[0 50 100 150 200 250 300 350 400 450 500]" && got != "[0 100 200 300 400 500]" {
		t.Errorf("linTicks(0, 500) = %s", got)
	}
	for n, want := range map[int]string{64: "64", 1424: "1.4K", 12345: "12K", 940700: "941K", 1_000_000: "1M", 2_500_000: "2.5M"} {
		if got := fmtBytes(n); got != want {
			t.Errorf("fmtBytes(%d) = %q, want %q", n, got, want)
		}
	}
	s := tailScale{3, 300, 0}
	if s.at(0) != 300 || s.at(0.9) != 200 || math.Abs(s.at(0.99)-100) > 1e-9 || s.at(1) != 0 {
		t.Errorf("tailScale: %g %g %g %g", s.at(0), s.at(0.9), s.at(0.99), s.at(1))
	}
}
