package sweep

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/homalb/homalb/internal/testenv"
)

func TestMain(m *testing.M) {
	testenv.UseBuiltinWorkloads()
	os.Exit(m.Run())
}

const small = `
name: tiny
base:
  workload: w2
  duration_ns: 1ms
  warmup_ns: 200us
  drain_ns: 1ms
  host:
    cores: 8
axes:
  policy: [gen2, idle]
  load: [0.3, 0.6]
seeds: 3
`

func plan(t *testing.T, src string) (*Experiment, []Run) {
	t.Helper()
	e, err := Parse([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	runs, err := e.Plan()
	if err != nil {
		t.Fatal(err)
	}
	return e, runs
}

func TestPlanOrderAndHashes(t *testing.T) {
	_, runs := plan(t, small)
	if len(runs) != 12 {
		t.Fatalf("%d runs, want 2×2×3", len(runs))
	}
	// The last axis varies fastest, seeds fastest of all.
	want := []string{"gen2 0.3 1", "gen2 0.3 2", "gen2 0.3 3", "gen2 0.6 1"}
	for i, w := range want {
		v := runs[i].Values
		if got := v["policy"] + " " + v["load"] + " " + v["seed"]; got != w {
			t.Errorf("run %d is %s, want %s", i, got, w)
		}
	}
	seen := map[string]bool{}
	for _, r := range runs {
		if seen[r.Hash] {
			t.Fatalf("hash %s twice", r.Hash)
		}
		seen[r.Hash] = true
		if r.Config.Host.Cores != 8 || r.Config.DurationNs != 1e6 || r.Config.Workload != "w2" {
			t.Fatalf("base not applied: %+v", r.Config)
		}
	}
	_, again := plan(t, small)
	if again[5].Hash != runs[5].Hash {
		t.Error("hashes are not stable")
	}
}

func TestParseErrors(t *testing.T) {
	cases := map[string]string{
		"not yaml":      "axes: [",
		"unknown key":   "axis:\n  load: [0.5]\n",
		"bad seeds":     "seeds: -2\n",
		"dup seed":      "seeds: [1, 1]\n",
		"empty axis":    "axes:\n  load: []\n",
		"seed axis":     "axes:\n  seed: [1,2]\n",
		"base not map":  "base: 3\n",
		"mapping value": "axes:\n  load: [{a: 1}]\n",
		"bad key":       "axes:\n  host.corez: [4]\n",
		"bad value":     "axes:\n  load: [1.5]\n",
		"bad workload":  "base:\n  workload: w9\n",
		"too many runs": "seeds: 300\naxes:\n  load: [" + strings.Repeat("0.5,", 400) + "0.5]\n",
	}
	for name, src := range cases {
		e, err := Parse([]byte(src))
		if err == nil {
			_, err = e.Plan()
		}
		if err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: multi-line error %q", name, err)
		}
	}
}

func TestEstimate95(t *testing.T) {
	e := Estimate95([]float64{1, 2, 3, 4, 5})
	// mean 3, s = √2.5, t(0.975, 4) = 2.776445
	want := 2.776445 * math.Sqrt(2.5) / math.Sqrt(5)
	if e.N != 5 || e.Mean != 3 || math.Abs(e.CI95-want) > 1e-5 {
		t.Fatalf("got %+v, want mean 3 ± %.5f", e, want)
	}
	if one := Estimate95([]float64{7}); one.CI95 != 0 || one.Mean != 7 {
		t.Fatalf("one sample: %+v", one)
	}
	a, b := Estimate{N: 5, Mean: 1, CI95: 0.4}, Estimate{N: 5, Mean: 2, CI95: 0.5}
	if !a.Below(b) || b.Below(a) {
		t.Error("separated intervals not ranked")
	}
	if c := (Estimate{N: 5, Mean: 1.5, CI95: 0.5}); c.Below(b) {
		t.Error("overlapping intervals ranked")
	}
}

func TestRankingOnlyWhereIntervalsSeparate(t *testing.T) {
	s := Summary{Columns: []string{"policy"}}
	idx := 0
	for i, m := range Metrics() {
		if m.Name == "short_p99" {
			idx = i
		}
	}
	add := func(p string, mean, ci float64) {
		est := make([]Estimate, len(Metrics()))
		est[idx] = Estimate{N: 10, Mean: mean, CI95: ci}
		s.Groups = append(s.Groups, Group{Values: map[string]string{"policy": p}, Estimates: est})
	}
	add("gen3", 9, 1)
	add("gen2", 5, 1)
	add("idle", 5.5, 1)
	got := s.Ranking("short_p99")
	if len(got) != 1 || got[0] != "gen2 ≈ idle < gen3" {
		t.Fatalf("ranking %q", got)
	}
}

// TestExecuteResumeShardMerge: a sweep writes one JSON per run and
// results.csv; a rerun skips everything; a lost run is redone alone; shards
// run on "other machines" and merged give byte-identical results.csv.
func TestExecuteResumeShardMerge(t *testing.T) {
	e, runs := plan(t, small)
	dir := t.TempDir()
	rep, err := Execute(e, runs, Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Ran != 12 || rep.Skipped != 0 || !rep.Complete {
		t.Fatalf("first run: %+v", rep)
	}
	single, err := os.ReadFile(filepath.Join(dir, "results.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(string(single), "\n"); lines != 13 {
		t.Fatalf("results.csv has %d lines, want header + 12", lines)
	}
	rep, err = Execute(e, runs, Options{Dir: dir})
	if err != nil || rep.Ran != 0 || rep.Skipped != 12 {
		t.Fatalf("rerun: %+v %v", rep, err)
	}
	os.Remove(runPath(dir, runs[4].Hash))
	os.WriteFile(runPath(dir, runs[5].Hash), []byte(`{"hash": "trunc`), 0o644) // killed mid-write without rename
	rep, err = Execute(e, runs, Options{Dir: dir})
	if err != nil || rep.Ran != 2 {
		t.Fatalf("resume after loss: %+v %v", rep, err)
	}
	again, _ := os.ReadFile(filepath.Join(dir, "results.csv"))
	if !bytes.Equal(single, again) {
		t.Fatal("results.csv changed after redoing lost runs")
	}

	var shards []string
	for i := 0; i < 3; i++ {
		d := t.TempDir()
		rep, err := Execute(e, runs, Options{Dir: d, Shard: i, Shards: 3, Workers: 1})
		if err != nil || rep.Ran != 4 || rep.Complete {
			t.Fatalf("shard %d: %+v %v", i, rep, err)
		}
		shards = append(shards, d)
	}
	if _, err := Merge(shards[:2], t.TempDir()); err == nil || !strings.Contains(err.Error(), "4 of 12 runs missing") {
		t.Fatalf("merge of 2 of 3 shards: %v", err)
	}
	out := t.TempDir()
	if n, err := Merge(shards, out); err != nil || n != 12 {
		t.Fatalf("merge: %d %v", n, err)
	}
	merged, _ := os.ReadFile(filepath.Join(out, "results.csv"))
	if !bytes.Equal(single, merged) {
		t.Fatalf("merged results.csv differs from the single-machine one:\n%s\n---\n%s", single, merged)
	}
	s1, _ := os.ReadFile(filepath.Join(dir, "summary.csv"))
	s2, _ := os.ReadFile(filepath.Join(out, "summary.csv"))
	if !bytes.Equal(s1, s2) || len(s1) == 0 {
		t.Fatal("summary.csv differs")
	}

	other, _ := plan(t, strings.Replace(small, "seeds: 3", "seeds: 2", 1))
	if _, err := Execute(other, mustPlan(t, other), Options{Dir: dir}); err == nil {
		t.Fatal("a different experiment was run into the same directory")
	}
}

func mustPlan(t *testing.T, e *Experiment) []Run {
	runs, err := e.Plan()
	if err != nil {
		t.Fatal(err)
	}
	return runs
}

func TestParseShard(t *testing.T) {
	if i, n, err := ParseShard("2/5"); err != nil || i != 2 || n != 5 {
		t.Fatalf("2/5: %d %d %v", i, n, err)
	}
	for _, bad := range []string{"5/5", "-1/3", "1", "a/b", "1/0", ""} {
		if _, _, err := ParseShard(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestPivot(t *testing.T) {
	s := Summary{Columns: []string{"load", "policy"}}
	idx := 0
	for i, m := range Metrics() {
		if m.Name == "short_p99" {
			idx = i
		}
	}
	add := func(load, p string, mean float64) {
		est := make([]Estimate, len(Metrics()))
		est[idx] = Estimate{N: 10, Mean: mean, CI95: 0.5}
		s.Groups = append(s.Groups, Group{Values: map[string]string{"load": load, "policy": p}, Estimates: est})
	}
	add("0.5", "gen2", 3)
	add("0.5", "gen4", 1)
	add("0.8", "gen2", 5)
	add("0.8", "gen4", 4.8)
	tab, err := Pivot(s, "short_p99", "policy", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(tab.Rows) != 2 || len(tab.Cols) != 2 || tab.Cols[1] != "gen4" {
		t.Fatalf("shape: %+v", tab)
	}
	if tab.Rows[0].Best != 1 || tab.Rows[1].Best != -1 {
		t.Fatalf("best cells %d, %d; want 1 (separated) and -1 (overlapping)", tab.Rows[0].Best, tab.Rows[1].Best)
	}
	only, _ := Pivot(s, "short_p99", "policy", map[string]string{"load": "0.8"})
	if len(only.Rows) != 1 || only.Rows[0].Labels[0] != "0.8" {
		t.Fatalf("where: %+v", only)
	}
	if _, err := Pivot(s, "short_p99", "profile", nil); err == nil {
		t.Error("unknown column axis accepted")
	}
}
