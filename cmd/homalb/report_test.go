package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/homalb/homalb/report"
	"github.com/homalb/homalb/sim"
	"github.com/homalb/homalb/stats"
)

// htmlSeries parses an HTML report and returns, per slowdown chart (by
// workload), its series as "policy/pct", sorted.
func htmlSeries(t *testing.T, path string) map[string][]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	root, err := html.Parse(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	get := func(n *html.Node, k string) string {
		for _, a := range n.Attr {
			if a.Key == k {
				return a.Val
			}
		}
		return ""
	}
	out := map[string][]string{}
	var walk func(n *html.Node, chart string)
	walk = func(n *html.Node, chart string) {
		if n.Type == html.ElementNode {
			cls := strings.Fields(get(n, "class"))
			if n.Data == "svg" && slices.Contains(cls, "slowdown") {
				chart = get(n, "data-workload")
				out[chart] = []string{}
			}
			if n.Data == "path" && slices.Contains(cls, "series") && chart != "" {
				out[chart] = append(out[chart], get(n, "data-policy")+"/"+get(n, "data-pct"))
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, chart)
		}
	}
	walk(root, "")
	for k := range out {
		slices.Sort(out[k])
	}
	return out
}

func series(policies ...string) []string {
	var s []string
	for _, p := range policies {
		s = append(s, p+"/p50", p+"/p99")
	}
	slices.Sort(s)
	return s
}

// TestReportFromFiles: `report` takes the JSON of sim (an object) and of
// compare (an array) and draws one slowdown chart per workload.
func TestReportFromFiles(t *testing.T) {
	dir := t.TempDir()
	one, all, page := filepath.Join(dir, "one.json"), filepath.Join(dir, "all.json"), filepath.Join(dir, "r.html")
	if code, _, stderr := cli(t, append([]string{"sim", "--policy", "gen3", "--workload", "w3", "--json", one}, fast...)...); code != 0 {
		t.Fatalf("sim: exit %d: %s", code, stderr)
	}
	if code, _, stderr := cli(t, append([]string{"compare", "--policies", "gen2,idle", "--workload", "w2", "--json", all}, fast...)...); code != 0 {
		t.Fatalf("compare: exit %d: %s", code, stderr)
	}
	code, out, stderr := cli(t, "report", one, all, "-o", page)
	if code != 0 || stderr != "" {
		t.Fatalf("report: exit %d, stderr %q", code, stderr)
	}
	if !strings.Contains(out, ": 3 runs\n") {
		t.Errorf("report output %q", out)
	}
	got := htmlSeries(t, page)
	want := map[string][]string{"w3": series("gen3"), "w2": series("gen2", "idle")}
	if len(got) != 2 || !slices.Equal(got["w3"], want["w3"]) || !slices.Equal(got["w2"], want["w2"]) {
		t.Errorf("slowdown charts %v, want %v", got, want)
	}
}

// TestCompareWritesHTMLAndCSV: compare --html --csv --json in one run; the
// CSV holds exactly the buckets of the JSON.
func TestCompareWritesHTMLAndCSV(t *testing.T) {
	dir := t.TempDir()
	page, table, js := filepath.Join(dir, "c.html"), filepath.Join(dir, "c.csv"), filepath.Join(dir, "c.json")
	args := append([]string{"compare", "--policies", "gen2,gen3,rps", "--workload", "w4", "--html", page, "--csv", table, "--json", js}, fast...)
	code, out, stderr := cli(t, args...)
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if !strings.Contains(out, "gen3") {
		t.Errorf("the text table is still printed:\n%s", out)
	}
	if got := htmlSeries(t, page)["w4"]; !slices.Equal(got, series("gen2", "gen3", "rps")) {
		t.Errorf("series %v", got)
	}
	results, err := report.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	checkCSV(t, table, results)
}

// checkCSV reads path with encoding/csv and compares it with the buckets of
// results, value for value.
func checkCSV(t *testing.T, path string, results []*report.Result) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if !slices.Equal(rows[0], []string{"policy", "workload", "load", "seed", "profile", "cores", "max_bytes", "cum_frac", "count", "p50", "p99", "p999", "overloaded"}) {
		t.Fatalf("header %v", rows[0])
	}
	rows = rows[1:]
	i := 0
	for _, r := range results {
		for _, b := range r.Slowdown {
			if i >= len(rows) {
				t.Fatalf("%d rows, fewer than the buckets", len(rows))
			}
			row := rows[i]
			i++
			num := func(k int) float64 {
				x, err := strconv.ParseFloat(row[k], 64)
				if err != nil {
					t.Fatalf("row %v: %v", row, err)
				}
				return x
			}
			got := stats.Bucket{MaxBytes: int(num(6)), CumFrac: num(7), Count: int64(num(8)), P50: num(9), P99: num(10), P999: num(11)}
			if row[0] != r.Policy || row[1] != r.Workload || num(2) != r.Load || row[3] != strconv.FormatUint(r.Config.Seed, 10) ||
				row[4] != r.Config.Profile || row[5] != strconv.Itoa(r.Config.Host.Cores) || got != b || (row[12] == "1") != r.Overloaded {
				t.Fatalf("row %v, want %s %s %+v", row, r.Policy, r.Workload, b)
			}
		}
	}
	if i != len(rows) {
		t.Errorf("%d rows, want %d", len(rows), i)
	}
}

// TestSimCSV: sim --csv FILE beside --json FILE; --csv - alone on stdout.
func TestSimCSV(t *testing.T) {
	dir := t.TempDir()
	table, js := filepath.Join(dir, "s.csv"), filepath.Join(dir, "s.json")
	code, out, stderr := cli(t, append([]string{"sim", "--workload", "w1", "--csv", table, "--json", js}, fast...)...)
	if code != 0 || stderr != "" || !strings.Contains(out, "slowdown") {
		t.Fatalf("exit %d, stderr %q, out %q", code, stderr, out)
	}
	results, err := report.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	checkCSV(t, table, results)

	code, out, _ = cli(t, append([]string{"sim", "--workload", "w1", "--csv", "-"}, fast...)...)
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if code != 0 || err != nil || len(rows) != len(results[0].Slowdown)+1 {
		t.Errorf("--csv -: exit %d, %v, %d rows", code, err, len(rows))
	}
}

func TestReportBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(data), 0o644)
		return p
	}
	good := write("good.json", `{"policy":"gen2","workload":"w4","load":0.8}`)
	cases := [][]string{
		{"report"},
		{"report", "/no/such/run.json"},
		{"report", dir},
		{"report", write("empty.json", "")},
		{"report", write("trunc.json", `{"policy": "gen2", "slowdown": [`)},
		{"report", write("text.json", "hello")},
		{"report", write("type.json", "{\n\"policy\": 7}")},
		{"report", write("other.json", `{"name": "x"}`)},
		{"report", write("none.json", `[]`)},
		{"report", write("mixed.json", `[{"policy":"gen2"}, {"a":1}]`)},
		{"report", good, "/no/such/run.json"},
		{"sim", "--json", "-", "--csv", "-"},
		{"compare", "--html", "-", "--csv", "-"},
	}
	for _, args := range cases {
		code, _, stderr := cli(t, args...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", args, code, stderr)
		}
		if strings.Count(strings.TrimRight(stderr, "\n"), "\n") != 0 || stderr == "" {
			t.Errorf("%v: stderr is not one line: %q", args, stderr)
		}
	}
	// The messages say what is wrong and where.
	_, _, stderr := cli(t, "report", filepath.Join(dir, "type.json"))
	if !strings.Contains(stderr, "type.json") || !strings.Contains(stderr, "line 2") {
		t.Errorf("type error message: %q", stderr)
	}
	_, _, stderr = cli(t, "report", filepath.Join(dir, "other.json"))
	if !strings.Contains(stderr, "not a homalb result") {
		t.Errorf("not-a-result message: %q", stderr)
	}
	// A minimal result draws (charts say "no measured messages").
	if code, _, stderr := cli(t, "report", good, "-o", filepath.Join(dir, "g.html")); code != 0 {
		t.Errorf("minimal result: exit %d %s", code, stderr)
	}
	// An output that cannot be written is refused before any work.
	code, _, stderr := cli(t, "report", good, "-o", filepath.Join(dir, "no", "such", "dir", "r.html"))
	if code != 2 || !strings.Contains(stderr, "r.html") || !strings.Contains(stderr, "does not exist") {
		t.Errorf("unwritable output: exit %d %q", code, stderr)
	}
}

// TestReportJSONRoundTrip: sim --json reads back into sim.Result exactly,
// and report reads the measurements it draws from it unchanged.
func TestReportJSONRoundTrip(t *testing.T) {
	code, out, stderr := cli(t, append([]string{"sim", "--workload", "w2", "--json", "-"}, fast...)...)
	if code != 0 {
		t.Fatal(stderr)
	}
	var r sim.Result
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	again, _ := json.MarshalIndent(&r, "", "  ")
	if string(again)+"\n" != out {
		t.Error("decoding and encoding a result changes it")
	}
	rs, err := report.Decode([]byte(out))
	if err != nil || len(rs) != 1 {
		t.Fatalf("%v %d", err, len(rs))
	}
	g := rs[0]
	if g.Real() || g.Policy != r.Policy || g.Short != r.Short || g.All != r.All || !slices.Equal(g.Slowdown, r.Slowdown) ||
		!slices.Equal(g.Cores, r.Cores) || g.HandoffNs == nil || *g.HandoffNs != r.HandoffNs || g.HotspotFrac == nil || *g.HotspotFrac != r.HotspotFrac ||
		g.Config.Seed != r.Config.Seed || g.Config.Host.Cores != r.Config.Host.Cores || len(g.Timeline.Busy) != len(r.Timeline.Busy) {
		t.Errorf("report reads %+v from a result", g)
	}
}
