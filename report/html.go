package report

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"sort"
	"strings"

	"github.com/homalb/homalb/stats"
)

// Options change the text of an HTML report.
type Options struct {
	// Title heads the page; empty means "homalb report".
	Title string
	// Policies are drawn in the slowdown charts ("all": every run); empty
	// means Gen2, Gen3 and the best of the other policies, when a chart
	// has more than three runs.
	Policies []string
}

// run is one result as the report shows it.
type run struct {
	idx   int // position among the results given, from 0
	res   *Result
	label string // the policy, made unique within its group if needed
	color string
}

// group is a set of runs of one scenario (workload, load, machine): they
// share the slowdown and handoff charts.
type group struct {
	id, title, workload string
	load                float64
	runs                []*run
}

// groupKey is what runs of one chart have in common.
func groupKey(r *Result) string {
	return fmt.Sprintf("%s\x00%g\x00%s\x00%d\x00%t", r.Workload, r.Load, r.Config.Profile, r.Config.Host.Cores, r.Real())
}

// groupRuns sorts the results into groups, in order of first appearance;
// nil results are skipped.
func groupRuns(results []*Result) []*group {
	var groups []*group
	byKey := map[string]*group{}
	for i, r := range results {
		if r == nil {
			continue
		}
		k := groupKey(r)
		g := byKey[k]
		if g == nil {
			g = &group{
				id:       fmt.Sprintf("s%d", len(groups)),
				workload: r.Workload,
				load:     r.Load,
				title:    scenarioTitle(r),
			}
			byKey[k] = g
			groups = append(groups, g)
		}
		g.runs = append(g.runs, &run{idx: i, res: r, label: r.Policy, color: colorOf(r.Policy)})
	}
	for _, g := range groups {
		count := map[string]int{}
		for _, r := range g.runs {
			count[r.res.Policy]++
		}
		for _, r := range g.runs {
			if r.label == "" {
				r.label = "(no policy)"
			}
			if count[r.res.Policy] > 1 { // same policy twice: tell them apart
				r.label = fmt.Sprintf("%s (run %d)", r.label, r.idx+1)
			}
		}
	}
	return groups
}

func scenarioTitle(r *Result) string {
	c := r.Config
	s := fmt.Sprintf("%s at %s%% load", r.Workload, fmtVal(100*r.Load, 0))
	if r.Real() {
		s += " on the real pipeline"
		if r.Addr != "" {
			s += " at " + r.Addr
		}
		if c.Host.LinkGbps > 0 {
			s += fmt.Sprintf(" (%g Gbps measured)", c.Host.LinkGbps)
		}
		return s
	}
	if c.Profile != "" {
		s += " on " + c.Profile
	}
	if c.Host.Cores > 0 {
		s += fmt.Sprintf(" (%d cores", c.Host.Cores)
		if c.Host.LinkGbps > 0 {
			s += fmt.Sprintf(", %g Gbps", c.Host.LinkGbps)
		}
		s += ")"
	}
	return s
}

// WriteHTML writes a self-contained HTML report of the results: CSS, SVG
// charts and the little script that toggles series are inline, so the file
// needs no network to be viewed. Results of the same workload, load and
// machine share their slowdown and handoff charts; every run gets its own
// per-core charts and its configuration. nil results are skipped. The output
// depends only on the results and opt.
func WriteHTML(w io.Writer, results []*Result, opt Options) error {
	p := page{Title: opt.Title, Gradient: template.CSS(heatGradient()), HeatScale: heatScale()}
	if p.Title == "" {
		p.Title = "homalb report"
	}
	for _, a := range activities {
		p.Activities = append(p.Activities, key{a.name, template.CSS("background:" + a.color)})
	}
	groups := groupRuns(results)
	for _, g := range groups {
		sc := scenario{ID: g.id, Title: g.title, Workload: g.workload, Load: fmtNum(g.load),
			Slowdown: template.HTML(slowdownChart(g, opt.Policies))}
		for k := range handoffs {
			sc.Handoffs = append(sc.Handoffs, template.HTML(handoffChart(g, k)))
		}
		for _, r := range g.runs {
			sc.Cores = append(sc.Cores, template.HTML(coresChart(r)))
			sc.Heatmaps = append(sc.Heatmaps, template.HTML(heatmapChart(r)))
			p.Runs = append(p.Runs, runInfo(r))
		}
		sc.Rows = summaryRows(g)
		p.Scenarios = append(p.Scenarios, sc)
		for _, r := range g.runs {
			if r.res.Real() {
				p.NReal++
			} else {
				p.NSim++
			}
			if r.res.Overloaded {
				p.NOverloaded++
			}
		}
	}
	p.Sub = subtitle(p.NSim, p.NReal)
	if err := pageTmpl.Execute(w, p); err != nil {
		return fmt.Errorf("html report: %w", err)
	}
	return nil
}

type page struct {
	Title       string
	Sub         string
	NSim, NReal int
	NOverloaded int
	HeatScale   []heatTick
	Scenarios   []scenario
	Runs        []runView
	Activities  []key
	Gradient    template.CSS
}

type key struct {
	Name  string
	Style template.CSS
}

type scenario struct {
	ID, Title, Workload, Load string
	Rows                      []row
	Slowdown                  template.HTML
	Handoffs, Cores, Heatmaps []template.HTML
}

type row struct {
	Run        int
	Label      string
	Color      template.CSS
	Messages   int64
	Cells      []cell
	Violation  string
	Overloaded string // why the run is overloaded; empty if it is not
}

type cell struct {
	Text string
	Best bool
}

type runView struct {
	ID         string
	Run        int
	Policy     string
	Summary    string
	Facts      []fact
	YAML       string
	Warning    string
	Overloaded string
}

type fact struct{ Name, Value string }

// Columns of the summary table: lower is better in every one; NaN is a
// value the run did not measure, shown as "–".
var summaryCols = []struct {
	head   string
	digits int
	get    func(*Result) float64
}{
	{"short P50", 2, func(r *Result) float64 { return count(r.Short.Count, r.Short.P50) }},
	{"short P99", 2, func(r *Result) float64 { return count(r.Short.Count, r.Short.P99) }},
	{"short P99.9", 2, func(r *Result) float64 { return count(r.Short.Count, r.Short.P999) }},
	{"all P99", 2, func(r *Result) float64 { return count(r.All.Count, r.All.P99) }},
	{"GRO→SoftIRQ P99 µs", 1, func(r *Result) float64 {
		if r.HandoffNs == nil {
			return math.NaN()
		}
		return float64(r.HandoffNs.GROToSoftIRQ.P99) / 1000
	}},
	{"SoftIRQ→app P99 µs", 1, func(r *Result) float64 {
		if r.HandoffNs == nil {
			return math.NaN()
		}
		return float64(r.HandoffNs.SoftIRQToApp.P99) / 1000
	}},
	{"busiest core %", 0, func(r *Result) float64 { return 100 * busiest(r) }},
	{"hotspots %", 0, func(r *Result) float64 { return 100 * opt(r.HotspotFrac) }},
}

// count returns v if it summarises at least one value, else NaN.
func count(n int64, v float64) float64 {
	if n == 0 {
		return math.NaN()
	}
	return v
}

// opt returns *p, or NaN if it was not measured.
func opt(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

// busiest returns the busy fraction of the busiest core, NaN without cores.
func busiest(r *Result) float64 {
	if len(r.Cores) == 0 {
		return math.NaN()
	}
	b := 0.0
	for _, c := range r.Cores {
		b = max(b, c.Busy())
	}
	return b
}

// overloadText says why a run is overloaded, or "" if it is not.
func overloadText(r *Result) string {
	if !r.Overloaded {
		return ""
	}
	var why []string
	if r.OfferedCores != nil && r.Config.Host.Cores > 0 && *r.OfferedCores > float64(r.Config.Host.Cores) {
		why = append(why, fmt.Sprintf("the traffic asks for %.1f cores of %d", *r.OfferedCores, r.Config.Host.Cores))
	}
	if r.Incomplete > 0 {
		why = append(why, fmt.Sprintf("%d messages unfinished", r.Incomplete))
	}
	if len(why) == 0 {
		why = append(why, "the run stopped early with too many messages alive")
	}
	return "overloaded: " + strings.Join(why, ", ") + "; its slowdowns measure the overload, not the policy"
}

// summaryRows is the group's table: one row per run, the best value of each
// column in bold when there is more than one run that is not overloaded
// (overloaded runs are not ranked).
func summaryRows(g *group) []row {
	best := make([]float64, len(summaryCols))
	ranked := 0
	for _, r := range g.runs {
		if !r.res.Overloaded {
			ranked++
		}
	}
	for i, c := range summaryCols {
		best[i] = math.Inf(1)
		for _, r := range g.runs {
			if r.res.Overloaded {
				continue
			}
			if v := round(c.get(r.res), c.digits); v < best[i] { // NaN never wins
				best[i] = v
			}
		}
	}
	var rows []row
	for _, r := range g.runs {
		rw := row{Run: r.idx, Label: r.label, Color: template.CSS("background:" + r.color), Messages: r.res.Messages, Overloaded: overloadText(r.res)}
		for i, c := range summaryCols {
			v := round(c.get(r.res), c.digits)
			rw.Cells = append(rw.Cells, cell{Text: fmtVal(v, c.digits), Best: ranked > 1 && !r.res.Overloaded && v == best[i]})
		}
		if r.res.Violated() {
			rw.Violation = "model invariants violated: " + invariantsText(r.res.Invariants)
		}
		rows = append(rows, rw)
	}
	return rows
}

// invariantsText lists the non-zero counts of violated invariants.
func invariantsText(inv map[string]int64) string {
	var parts []string
	for k, n := range inv {
		if n != 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, n))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// subtitle says what the page holds.
func subtitle(nsim, nreal int) string {
	plural := func(n int, one, many string) string {
		if n == 1 {
			return "1 " + one
		}
		return fmt.Sprintf("%d %s", n, many)
	}
	var parts []string
	if nsim > 0 {
		parts = append(parts, plural(nsim, "run of the homalb simulator", "runs of the homalb simulator"))
	}
	if nreal > 0 {
		parts = append(parts, plural(nreal, "real run (homalb load over UDP)", "real runs (homalb load over UDP)"))
	}
	if len(parts) == 0 {
		return "No runs."
	}
	s := strings.Join(parts, " and ") + ". Slowdown = latency ÷ the latency of the same size on an idle host"
	if nsim > 0 {
		s += "; in the simulator, latency runs from the first packet at the NIC to the whole message with a thread"
	}
	if nreal > 0 {
		s += "; in a real run, it is the RPC's round trip, and the ideal comes from calibration on the idle server"
	}
	return s + ". Hover over the charts for values; – means not measured."
}

func round(x float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(x*p) / p
}

func runInfo(r *run) runView {
	res := r.res
	c := res.Config
	v := runView{ID: fmt.Sprintf("run%d", r.idx), Run: r.idx, Policy: res.Policy, Overloaded: overloadText(res)}
	us := func(ns int64) string { return fmt.Sprintf("%.1f µs", float64(ns)/1000) }
	pct := func(p *float64) string {
		if p == nil {
			return "–"
		}
		return fmtVal(100**p, 1) + "%"
	}
	val := func(p *float64) string {
		if p == nil {
			return "–"
		}
		return fmtVal(*p, 2)
	}
	slow := func(p stats.Percentiles) string {
		if p.Count == 0 {
			return "–"
		}
		return fmtVal(p.P50, 2) + " / " + fmtVal(p.P99, 2) + " / " + fmtVal(p.P999, 2)
	}
	handoff := func(get func(*stats.Handoffs) stats.P2) string {
		if res.HandoffNs == nil {
			return "–"
		}
		p := get(res.HandoffNs)
		return us(p.P50) + " / " + us(p.P99)
	}
	if res.Real() {
		v.Summary = fmt.Sprintf("run %d: %s, %s at %s%% load, real pipeline%s, seed %d, %s measured",
			r.idx+1, r.label, res.Workload, fmtVal(100*res.Load, 0), prefixed(" at ", res.Addr), c.Seed, fmtNs(float64(c.DurationNs)))
		v.Facts = []fact{
			{"RPCs sent / completed", fmt.Sprintf("%d / %d", res.Sent, res.Completed)},
			{"RPCs measured", fmt.Sprint(res.Messages)},
			{"RPCs failed", fmt.Sprint(res.Incomplete)},
		}
		if res.RTTNs != nil && res.RTTNs.Count > 0 {
			v.Facts = append(v.Facts, fact{"round trip P50 / P99 / P99.9", us(int64(res.RTTNs.P50)) + " / " + us(int64(res.RTTNs.P99)) + " / " + us(int64(res.RTTNs.P999))})
		}
		v.Facts = append(v.Facts,
			fact{"slowdown, all: P50 / P99 / P99.9", slow(res.All)},
			fact{"GRO→SoftIRQ P50 / P99 (server)", handoff(func(h *stats.Handoffs) stats.P2 { return h.GROToSoftIRQ })},
			fact{"SoftIRQ→app P50 / P99 (server)", handoff(func(h *stats.Handoffs) stats.P2 { return h.SoftIRQToApp })},
			fact{"SoftIRQ cores per multi-packet message", val(res.SoftIRQCoresPerMsg)},
			fact{"packets per GRO batch", val(res.MeanBatch)},
			fact{"packets bypassed (SoftIRQ inline)", pct(res.BypassFrac)},
			fact{"wall time", fmtVal(res.WallMs, 0) + " ms"},
		)
	} else {
		v.Summary = fmt.Sprintf("run %d: %s, %s at %s%% load, %s, seed %d, %s measured",
			r.idx+1, r.label, res.Workload, fmtVal(100*res.Load, 0), orDash(c.Profile), c.Seed, fmtNs(float64(c.DurationNs)))
		lat := "–"
		if l := res.LatencyNs; l != nil && res.Messages > 0 {
			lat = us(l.P50) + " / " + us(l.P99) + " / " + us(l.P999)
		}
		offered := "–"
		if res.OfferedCores != nil {
			offered = fmt.Sprintf("%.1f of %d", *res.OfferedCores, c.Host.Cores)
		}
		deferrals := "–"
		if res.Deferrals != nil {
			deferrals = fmt.Sprint(*res.Deferrals)
		}
		v.Facts = []fact{
			{"messages measured", fmt.Sprint(res.Messages)},
			{"unfinished", fmt.Sprint(res.Incomplete)},
			{"cores the traffic asks for", offered},
			{"packets", fmt.Sprint(res.Packets)},
			{"latency P50 / P99 / P99.9", lat},
			{"slowdown, all: P50 / P99 / P99.9", slow(res.All)},
			{"GRO→SoftIRQ P50 / P99", handoff(func(h *stats.Handoffs) stats.P2 { return h.GROToSoftIRQ })},
			{"SoftIRQ→app P50 / P99", handoff(func(h *stats.Handoffs) stats.P2 { return h.SoftIRQToApp })},
			{"SoftIRQ cores per multi-packet message", val(res.SoftIRQCoresPerMsg)},
			{"packets per GRO batch", val(res.MeanBatch)},
			{"packets bypassed (SoftIRQ inline)", pct(res.BypassFrac)},
			{"thread wake-ups that migrated", pct(res.ThreadMigration)},
			{"ksoftirqd deferrals", deferrals},
			{"simulated / wall time", fmtNs(float64(res.SimNs)) + " / " + fmtVal(res.WallMs, 0) + " ms"},
		}
	}
	v.YAML = c.YAML()
	if res.Violated() {
		v.Warning = "model invariants violated: " + invariantsText(res.Invariants)
	}
	return v
}

// prefixed returns p+s, or "" if s is empty.
func prefixed(p, s string) string {
	if s == "" {
		return ""
	}
	return p + s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

var pageTmpl = template.Must(template.New("page").Parse(pageHTML))

const pageHTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="homalb report">
<title>{{.Title}}</title>
<style>
:root { --fg: #1d1d1f; --muted: #6b6b70; --rule: #e2e2e6; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--fg); margin: 18px 24px 40px; max-width: 1360px; }
h1 { font-size: 22px; margin: 0 0 2px; }
h2 { font-size: 18px; margin: 26px 0 6px; padding-bottom: 4px; border-bottom: 1px solid var(--rule); }
.sub, .note { color: var(--muted); }
.note { margin: 0 0 8px; max-width: 980px; }
details.part { margin: 4px 0 10px; }
details > summary { cursor: pointer; font-weight: 600; margin: 8px 0 6px; }
.charts { display: flex; flex-wrap: wrap; gap: 10px 14px; align-items: flex-start; }
svg.chart { font: 11px system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; background: #fff; overflow: visible; }
svg .title { font-size: 13px; font-weight: 600; fill: var(--fg); }
svg .sub, svg .sub text { fill: #8a8a90; font-weight: 400; }
svg .frame { fill: none; stroke: #9a9aa0; }
svg .grid line { stroke: #ececf0; }
svg .tick { stroke: #9a9aa0; }
svg .ticks text { fill: #3a3a40; }
svg .ticks.sub text { fill: #9a9aa0; font-size: 10px; }
svg .axis-title { fill: #55555a; font-size: 11.5px; }
svg .ref { stroke: #b0b0b8; stroke-dasharray: 2 3; }
svg .empty { fill: var(--muted); font-size: 14px; }
svg path.series { fill: none; stroke-width: 1.5; stroke-linejoin: round; }
svg path.series.p50 { stroke-width: 1.3; stroke-dasharray: 5 3; }
svg .series.dots { stroke: none; }
svg .hidden { display: none; }
svg .key { stroke: #333; stroke-width: 2; }
svg .key.p50 { stroke-dasharray: 5 3; stroke-width: 1.5; }
svg .legend-item { cursor: pointer; }
svg .legend-item.off { opacity: .3; }
svg .hover rect { fill: transparent; }
svg .hover rect:hover { fill: rgba(0, 0, 0, .06); }
svg .seg.gro { fill: #e4572e; } svg .seg.softirq { fill: #f3a712; } svg .seg.app { fill: #29335c; }
svg .seg.poll { fill: #7fa7c9; } svg .seg.idle { fill: #ececec; }
svg .bar:hover .seg { stroke: #000; stroke-width: .6; }
.keys { margin: 0 0 6px; color: var(--muted); }
.keys span { margin-right: 14px; white-space: nowrap; }
.keys i { display: inline-block; width: 11px; height: 11px; margin-right: 5px; vertical-align: -1px; border-radius: 2px; }
.keys .scale { display: inline-block; position: relative; width: 300px; height: 26px; vertical-align: -14px; margin: 0 14px 0 8px; }
.keys .gradient { display: block; width: 300px; height: 11px; border: 1px solid #ccc; }
.keys .scale .tick { position: absolute; top: 12px; transform: translateX(-50%); font-size: 10.5px; color: #3a3a40; }
table.summary { border-collapse: collapse; font-variant-numeric: tabular-nums; margin: 4px 0 6px; }
table.summary th, table.summary td { padding: 3px 9px; border-bottom: 1px solid var(--rule); text-align: right; }
table.summary th { font-weight: 600; font-size: 12px; color: #44444a; vertical-align: bottom; }
table.summary td.name, table.summary th.name { text-align: left; }
table.summary td.best { font-weight: 700; }
table.summary i { display: inline-block; width: 10px; height: 10px; margin-right: 6px; border-radius: 2px; }
.warn { color: #b00020; font-weight: 600; }
details.config { margin: 2px 0; }
details.config > summary { font-weight: 400; }
details.config table { border-collapse: collapse; margin: 4px 0 6px 18px; font-variant-numeric: tabular-nums; }
details.config td { padding: 1px 10px 1px 0; }
details.config td:first-child { color: var(--muted); }
pre { background: #f6f6f8; padding: 8px 12px; margin: 4px 0 10px 18px; overflow: auto; font-size: 12px; max-height: 420px; }
</style>
</head>
<body>
<header>
<h1>{{.Title}}</h1>
<p class="sub">{{.Sub}}</p>
{{if .NOverloaded}}<p class="warn overloaded-note">{{.NOverloaded}} run{{if ne .NOverloaded 1}}s are{{else}} is{{end}} overloaded (marked ⚠ overloaded): the host could not keep up, so those slowdowns measure the overload, not the policy, and they are left out of the bold "best" values. Lower the load or use a larger host.</p>{{end}}
</header>
{{if not .Scenarios}}<p class="empty">No results to show.</p>{{end}}
{{range .Scenarios}}
<section class="scenario" id="{{.ID}}" data-workload="{{.Workload}}" data-load="{{.Load}}">
<h2>{{.Title}}</h2>
<table class="summary">
<thead><tr><th class="name">policy</th><th>messages</th><th>short<br>P50</th><th>short<br>P99</th><th>short<br>P99.9</th><th>all<br>P99</th><th>GRO→SoftIRQ<br>P99 µs</th><th>SoftIRQ→app<br>P99 µs</th><th>busiest<br>core %</th><th>hotspots<br>%</th></tr></thead>
<tbody>
{{range .Rows}}<tr data-run="{{.Run}}"><td class="name"><i style="{{.Color}}"></i><a href="#run{{.Run}}">{{.Label}}</a>{{if .Violation}} <span class="warn" title="{{.Violation}}">⚠</span>{{end}}{{if .Overloaded}} <span class="warn overloaded" title="{{.Overloaded}}">⚠ overloaded</span>{{end}}</td><td>{{.Messages}}</td>{{range .Cells}}<td{{if .Best}} class="best"{{end}}>{{.Text}}</td>{{end}}</tr>
{{end}}</tbody>
</table>
<p class="note">short: one-packet messages. Hotspots: 100 µs windows in which some core was more than 90% busy (GRO + SoftIRQ + app work; polling excluded). Bold: the best of the column among the runs that are not overloaded. –: not measured.</p>
<details class="part" open><summary>Slowdown by message size</summary>
{{.Slowdown}}
</details>
<details class="part" open><summary>Handoff latency</summary>
<p class="note">GRO → SoftIRQ: a GRO batch's flush to the start of its SoftIRQ processing (a batch processed on its GRO core counts as 0, drawn at the left edge). SoftIRQ → app: a message becoming ready to a thread starting to copy it.</p>
<div class="charts">{{range .Handoffs}}{{.}}{{end}}</div>
</details>
<details class="part" open><summary>Core utilisation</summary>
<p class="keys">{{range $.Activities}}<span><i style="{{.Style}}"></i>{{.Name}}</span>{{end}}</p>
<div class="charts">{{range .Cores}}{{.}}{{end}}</div>
</details>
<details class="part" open><summary>Busy time per core over the measured window</summary>
<p class="keys heatscale">share of the time a core was busy (GRO + SoftIRQ + app work): <span class="scale"><span class="gradient" style="background: {{$.Gradient}}"></span>{{range $.HeatScale}}<span class="tick" style="{{.Pos}}">{{.Label}}</span>{{end}}</span> above 90% (dark purple): a hotspot</p>
<div class="charts">{{range .Heatmaps}}{{.}}{{end}}</div>
</details>
</section>
{{end}}
{{if .Runs}}<section id="runs">
<h2>Runs</h2>
{{range .Runs}}<details class="config" id="{{.ID}}" data-run="{{.Run}}" data-policy="{{.Policy}}"><summary>{{.Summary}}{{if .Warning}} <span class="warn">{{.Warning}}</span>{{end}}{{if .Overloaded}} <span class="warn overloaded">⚠ {{.Overloaded}}</span>{{end}}</summary>
<table>{{range .Facts}}<tr><td>{{.Name}}</td><td>{{.Value}}</td></tr>{{end}}</table>
<pre>{{.YAML}}</pre>
</details>
{{end}}</section>{{end}}
<script>
document.addEventListener("click", function (e) {
  var item = e.target.closest(".legend-item");
  if (!item) return;
  var sc = item.closest(".scenario"), run = item.getAttribute("data-run");
  var off = !item.classList.contains("off");
  sc.querySelectorAll('.legend-item[data-run="' + run + '"]').forEach(function (x) { x.classList.toggle("off", off); });
  sc.querySelectorAll('.series[data-run="' + run + '"]').forEach(function (x) { x.classList.toggle("hidden", off); });
});
</script>
</body>
</html>
`
