package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const cliExperiment = `
name: cli
base:
  workload: w2
  load: 0.3
  duration_ns: 1ms
  warmup_ns: 100us
  drain_ns: 1ms
  host.cores: 8
axes:
  policy: [gen2, idle]
seeds: 2
`

func TestSweepShardMergeCLI(t *testing.T) {
	dir := t.TempDir()
	exp := filepath.Join(dir, "exp.yaml")
	os.WriteFile(exp, []byte(cliExperiment), 0o644)
	one := filepath.Join(dir, "one")
	code, out, stderr := cli(t, "sweep", exp, "-o", one)
	if code != 0 {
		t.Fatalf("sweep: exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, "4 ran") || !strings.Contains(out, "ranking by short_p99") {
		t.Errorf("sweep output:\n%s", out)
	}
	for i := 0; i < 2; i++ {
		code, out, stderr = cli(t, "sweep", exp, "-o", filepath.Join(dir, "s"+string(rune('0'+i))), "--shard", string(rune('0'+i))+"/2")
		if code != 0 || !strings.Contains(out, "run the other shards") && i == 0 {
			t.Fatalf("shard %d: exit %d %s %s", i, code, out, stderr)
		}
	}
	merged := filepath.Join(dir, "merged")
	code, out, stderr = cli(t, "merge", filepath.Join(dir, "s0"), filepath.Join(dir, "s1"), "-o", merged)
	if code != 0 || !strings.Contains(out, "merged 4 runs") {
		t.Fatalf("merge: exit %d %s %s", code, out, stderr)
	}
	a, _ := os.ReadFile(filepath.Join(one, "results.csv"))
	b, _ := os.ReadFile(filepath.Join(merged, "results.csv"))
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Fatal("merged results.csv differs from the single-machine one")
	}
	code, out, stderr = cli(t, "versus", one, "--policy", "idle", "--baselines", "gen2", "--goal", "0.7")
	if code != 0 || !strings.Contains(out, "best baseline") || !strings.Contains(out, "gen2 ") || strings.Count(strings.Split(out, "\n\n")[0], "\n") != 1 {
		t.Errorf("versus: exit %d, stdout:\n%s\nstderr: %s", code, out, stderr)
	}
	code, out, _ = cli(t, "table", one, "--metric", "offered_frac", "--markdown")
	if code != 0 || !strings.Contains(out, "| gen2 | idle |") {
		t.Errorf("table: exit %d, stdout:\n%s", code, out)
	}
	for _, args := range [][]string{
		{"versus", one, "--policy", "gen9"},
		{"versus", one, "--policy", "idle", "--baselines", "idle"},
		{"versus", one, "--baselines", "gen2"},
		{"versus", one, "--policy", "idle", "--baselines", "gen2", "--goal", "-1"},
		{"versus", one, "--policy", "idle", "--metric", "speed"},
		{"versus", one, "--policy", "idle", "--where", "load"},
		{"versus", filepath.Join(dir, "none"), "--policy", "idle"},
		{"sweep", exp},
		{"sweep", "/no/such.yaml", "-o", dir},
		{"sweep", exp, "-o", one, "--shard", "2/2"},
		{"sweep", exp, "-o", one, "--rank", "speed"},
		{"merge", "-o", merged},
		{"merge", filepath.Join(dir, "s0"), "-o", filepath.Join(dir, "half")},
	} {
		if code, _, stderr := cli(t, args...); code != 2 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
	}
}
