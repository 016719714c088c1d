package main

import (
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/homalb/homalb/sim"
	"github.com/homalb/homalb/sweep"
)

// The tests of this file follow the path of someone who has just cloned the
// repository: what they type, what they read, and the mistakes they make.

// TestVersion: --version says which build this is.
func TestVersion(t *testing.T) {
	code, out, _ := cli(t, "--version")
	if code != 0 || !strings.HasPrefix(out, "homalb ") || !strings.Contains(out, "go1.") {
		t.Errorf("--version: exit %d %q", code, out)
	}
}

// TestCompletionUnknownShell: a shell cobra cannot complete is an error, not
// help text with status 0.
func TestCompletionUnknownShell(t *testing.T) {
	code, out, stderr := cli(t, "completion", "tcsh")
	if code != 2 || !strings.Contains(stderr, "tcsh") || strings.Contains(out, "Usage") {
		t.Errorf("completion tcsh: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	if code, _, _ := cli(t, "completion", "zsh", "--help"); code != 0 {
		t.Errorf("completion zsh --help: exit %d", code)
	}
}

// TestDefaultPolicyIsHomas: sim and serve run the same policy by default,
// gen3, Homa's current balancer.
func TestDefaultPolicyIsHomas(t *testing.T) {
	_, out, _ := cli(t, "sim", "--print-config")
	if !strings.Contains(out, "policy: gen3\n") {
		t.Errorf("sim's default policy:\n%s", out)
	}
	if d := newServeCmd().Flags().Lookup("policy").DefValue; d != "gen3" || sim.DefaultConfig().Policy != d {
		t.Errorf("serve's default policy %q, sim's %q", d, sim.DefaultConfig().Policy)
	}
	if d := newSimCmd().Flags().Lookup("policy").DefValue; d != "gen3" {
		t.Errorf("sim --policy default %q", d)
	}
}

// TestSizesAreBounded: sizes that used to exhaust memory, run for days or
// write hundreds of MB are refused at once with one line.
func TestSizesAreBounded(t *testing.T) {
	for _, args := range [][]string{
		{"sim", "-d", "100000h"},
		{"sim", "--warmup", "100000h"},
		{"sim", "--set", "drain_ns=100000h"},
		{"compare", "-d", "2m"},
		{"trace", "--window", "10s@40ms"},
	} {
		code, out, stderr := cli(t, args...)
		if code != 2 || strings.Count(stderr, "\n") != 1 || out != "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
		if !strings.Contains(stderr, "at most") {
			t.Errorf("%v: %q does not say the bound", args, stderr)
		}
	}
}

// TestOutputPathsCheckedFirst: an output that cannot be written is refused
// before any simulation runs (exit 2, the path named), and a directory given
// as a file is named as such.
func TestOutputPathsCheckedFirst(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nonexistent", "x.json")
	for _, args := range [][]string{
		{"compare", "--json", missing},
		{"compare", "--html", missing},
		{"sim", "--csv", missing},
		{"trace", "-o", missing},
		{"report", "-o", missing, "whatever.json"},
		{"load", "--json", missing},
		{"bench", "--json", missing},
	} {
		code, out, stderr := cli(t, args...)
		if code != 2 || !strings.Contains(stderr, missing) || !strings.Contains(stderr, "does not exist") || strings.Contains(out, "policy") {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
	}
	code, _, stderr := cli(t, "trace", "-o", dir)
	if code != 2 || !strings.Contains(stderr, dir+" is a directory") || strings.Contains(stderr, ".trace") {
		t.Errorf("trace -o DIR: exit %d %q", code, stderr)
	}
	// --json goes through the temporary file and rename: nothing is left
	// beside the result.
	out := filepath.Join(dir, "r.json")
	if code, _, stderr := cli(t, append([]string{"sim", "--json", out}, fast...)...); code != 0 {
		t.Fatal(stderr)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "r.json" {
		t.Errorf("directory holds %v", entries)
	}
}

// TestConfigTakesDurations: --config takes duration_ns: 20ms as sweep's base
// and --set do.
func TestConfigTakesDurations(t *testing.T) {
	f := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(f, []byte("# a comment\nduration_ns: 20ms\nwarmup_ns: 1500us\nload: 0.5\n"), 0o644)
	code, out, stderr := cli(t, "sim", "--config", f, "--print-config")
	if code != 0 || !strings.Contains(out, "duration_ns: 20000000\n") || !strings.Contains(out, "warmup_ns: 1500000\n") || !strings.Contains(out, "load: 0.5\n") {
		t.Errorf("exit %d %s\n%s", code, stderr, out)
	}
	os.WriteFile(f, []byte("duration_ns: twenty\n"), 0o644)
	if code, _, stderr := cli(t, "sim", "--config", f); code != 2 || !strings.Contains(stderr, "twenty") {
		t.Errorf("a bad duration: exit %d %q", code, stderr)
	}
}

// TestNoInternalWords: help text speaks to users, not to the project's
// tracker or its private files.
func TestNoInternalWords(t *testing.T) {
	bad := regexp.MustCompile(`issue-\d|\bCAL\b|CALIBRATION|\.\./shared`)
	root := newRootCmd()
	check := func(args []string) {
		_, out, _ := cli(t, append(args, "--help")...)
		if m := bad.FindString(out); m != "" {
			t.Errorf("homalb %s --help says %q", strings.Join(args, " "), m)
		}
	}
	check(nil)
	for _, c := range root.Commands() {
		check([]string{c.Name()})
	}
}

// TestPlural: "1 worker", not "1 workers".
func TestPlural(t *testing.T) {
	if plural(1, "worker") != "1 worker" || plural(2, "worker") != "2 workers" || plural(0, "run") != "0 runs" {
		t.Error(plural(1, "worker"), plural(2, "worker"))
	}
}

// TestLoadWithoutServer: load against an address where nothing listens says
// so, naming the address, instead of blaming a deadline after 5 s.
func TestLoadWithoutServer(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close() // nothing listens there now
	code, _, stderr := cli(t, "load", "--addr", addr, "--duration", "1s")
	if code != 1 || !strings.Contains(stderr, "nothing answers at "+addr+" within 1s") || !strings.Contains(stderr, "homalb serve") {
		t.Errorf("exit %d %q", code, stderr)
	}
}

// TestQuickExampleIsNotOverloaded: the sweep the README offers for a laptop
// compares policies: at its heaviest load every policy keeps up.
func TestQuickExampleIsNotOverloaded(t *testing.T) {
	e, err := sweep.ParseFile(filepath.Join("..", "..", "examples", "quick.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	runs, err := e.Plan()
	if err != nil {
		t.Fatal(err)
	}
	heaviest := 0.0
	for _, r := range runs {
		heaviest = max(heaviest, r.Config.Load)
	}
	policies := map[string]bool{}
	for _, r := range runs {
		if r.Config.Load != heaviest || r.Config.Seed != runs[0].Config.Seed {
			continue
		}
		policies[r.Config.Policy] = true
		// The first 5 ms of the measured window: enough for unfinished
		// messages to pile up if the policy could not keep up, at a quarter
		// of the cost under -race (offered cores do not depend on it).
		r.Config.DurationNs = min(r.Config.DurationNs, 5e6)
		res, err := sim.Run(r.Config)
		if err != nil {
			t.Fatal(err)
		}
		if res.IsOverloaded() || res.OfferedCores > 0.5*float64(res.Config.Host.Cores) {
			t.Errorf("%s at load %v: overloaded %v, offered %.1f cores of %d", r.Config.Policy, heaviest, res.IsOverloaded(), res.OfferedCores, res.Config.Host.Cores)
		}
	}
	if len(policies) < 3 {
		t.Errorf("the example compares %d policies", len(policies))
	}
}

// TestFiltersMatchingNothing: --where compares numbers as numbers (load=.8
// is load 0.80), and a filter that matches nothing is an error that lists
// the values present.
func TestFiltersMatchingNothing(t *testing.T) {
	dir := t.TempDir()
	exp := filepath.Join(dir, "exp.yaml")
	os.WriteFile(exp, []byte("name: f\nbase:\n  workload: w2\n  duration_ns: 1ms\n  warmup_ns: 100us\n  drain_ns: 1ms\n  host.cores: 8\naxes:\n  policy: [gen2, idle]\n  load: [0.3, 0.5]\nseeds: 1\n"), 0o644)
	res := filepath.Join(dir, "r")
	if code, _, stderr := cli(t, "sweep", exp, "-o", res); code != 0 {
		t.Fatal(stderr)
	}
	for _, args := range [][]string{
		{"table", res, "--where", "load=.3"},
		{"table", res, "--where", "load=0.30"},
		{"versus", res, "--policy", "idle", "--baselines", "gen2", "--where", "load=.3"},
	} {
		if code, out, stderr := cli(t, args...); code != 0 || !strings.Contains(out, "gen2") {
			t.Errorf("%v: exit %d %s\n%s", args, code, stderr, out)
		}
	}
	for _, args := range [][]string{
		{"table", res, "--where", "load=0.80"},
		{"versus", res, "--policy", "idle", "--baselines", "gen2", "--where", "load=.8"},
		{"table", res, "--where", "policy=gen9"},
	} {
		code, _, stderr := cli(t, args...)
		if code != 2 || !strings.Contains(stderr, "matches nothing") || !strings.Contains(stderr, "0.3, 0.5") && !strings.Contains(stderr, "gen2, idle") {
			t.Errorf("%v: exit %d %q", args, code, stderr)
		}
	}
}

// TestUnitsAgree: compare shows the handoffs in µs and the busiest core and
// hotspots in % with one seed and with --seeds; sweep tables do too.
func TestUnitsAgree(t *testing.T) {
	args := append([]string{"compare", "--policies", "gen2,gen6", "--workload", "w3", "--load", "0.5"}, fast...)
	_, one, _ := cli(t, args...)
	_, many, _ := cli(t, append(args, "--seeds", "2")...)
	for _, want := range []string{"µs", "core %"} {
		if !strings.Contains(one, want) {
			t.Errorf("one seed lacks %q:\n%s", want, one)
		}
	}
	for _, want := range []string{"gro_softirq_p99 µs", "busiest_core %", "hotspot %"} {
		if !strings.Contains(many, want) {
			t.Errorf("--seeds lacks %q:\n%s", want, many)
		}
	}
	// The same run's numbers are of the same size both ways: seed 1's
	// GRO→SoftIRQ P99 in µs is within the 2-seed table's range of values,
	// not 1000 times larger.
	gro := func(out, policy string, col int) string {
		for _, l := range strings.Split(out, "\n") {
			if f := strings.Fields(l); len(f) > col && f[0] == policy {
				return f[col]
			}
		}
		return ""
	}
	a, b := gro(one, "gen2", 5), gro(many, "gen2", 7)
	if a == "" || b == "" || len(strings.Split(a, ".")[0]) > len(strings.Split(b, ".")[0])+1 || len(strings.Split(b, ".")[0]) > len(strings.Split(a, ".")[0])+1 {
		t.Errorf("GRO→SoftIRQ P99 %q (one seed) against %q (--seeds):\n%s\n%s", a, b, one, many)
	}
	dir := t.TempDir()
	exp := filepath.Join(dir, "exp.yaml")
	os.WriteFile(exp, []byte(cliExperiment), 0o644)
	code, out, _ := cli(t, "sweep", exp, "-o", filepath.Join(dir, "r"))
	if code != 0 || !strings.Contains(out, "gro_softirq_p99 µs") || regexp.MustCompile(`\d{5,} ± `).MatchString(out) {
		t.Errorf("sweep table not in µs:\n%s", out)
	}
	_, out, _ = cli(t, "table", filepath.Join(dir, "r"), "--metric", "gro_softirq_p99_ns")
	if !strings.Contains(out, "gro_softirq_p99 µs") {
		t.Errorf("table in ns:\n%s", out)
	}
}

// TestOverloadMarkedEverywhere: an overloaded scenario (W1 at 60% of a
// 5 Gbps link asks for about 5.6 cores of 4, and still delivers some
// messages; the small link keeps the runs cheap under -race) is marked in sim, compare, compare --seeds, sweep,
// table, versus and the CSV and HTML outputs, and is never ranked.
func TestOverloadMarkedEverywhere(t *testing.T) {
	small := []string{"--cores", "4", "--set", "host.link_gbps=5"}
	ovl := append(append([]string{"--workload", "w1", "--load", "0.6"}, small...), fast...)
	_, out, _ := cli(t, append([]string{"sim"}, ovl...)...)
	if !strings.Contains(out, "OVERLOADED") {
		t.Errorf("sim:\n%s", out)
	}
	_, out, _ = cli(t, append([]string{"compare", "--policies", "gen2,gen3"}, ovl...)...)
	if strings.Count(out, "OVERLOADED") < 3 { // two rows and the note
		t.Errorf("compare:\n%s", out)
	}
	_, out, _ = cli(t, append([]string{"compare", "--policies", "gen2,gen3", "--seeds", "2"}, ovl...)...)
	if !strings.Contains(out, "OVERLOADED") || !strings.Contains(out, "none ranked; overloaded, not ranked: gen2, gen3") {
		t.Errorf("compare --seeds:\n%s", out)
	}
	dir := t.TempDir()
	csvFile, htmlFile := filepath.Join(dir, "o.csv"), filepath.Join(dir, "o.html")
	cli(t, append([]string{"compare", "--policies", "gen2", "--csv", csvFile, "--html", htmlFile}, ovl...)...)
	if b, _ := os.ReadFile(csvFile); !strings.Contains(string(b), ",overloaded\n") || !strings.HasSuffix(strings.TrimSpace(string(b)), ",1") {
		t.Errorf("CSV without the overloaded column set")
	}
	if b, _ := os.ReadFile(htmlFile); !strings.Contains(string(b), "⚠ overloaded") {
		t.Errorf("HTML without the mark")
	}
	exp := filepath.Join(dir, "exp.yaml")
	os.WriteFile(exp, []byte("name: ovl\nbase:\n  workload: w1\n  load: 0.6\n  host.cores: 4\n  host.link_gbps: 5\n  duration_ns: 2ms\n  warmup_ns: 1ms\n  drain_ns: 1ms\naxes:\n  policy: [gen2, gen3]\nseeds: 2\n"), 0o644)
	res := filepath.Join(dir, "r")
	_, out, _ = cli(t, "sweep", exp, "-o", res)
	if strings.Count(out, "OVERLOADED") < 2 || !strings.Contains(out, "overloaded, not ranked") {
		t.Errorf("sweep:\n%s", out)
	}
	// results.csv: overloaded is 1 in every row (the runs end with messages
	// unfinished without reaching the 200,000-message stop).
	rows, _ := os.ReadFile(filepath.Join(res, "results.csv"))
	lines := strings.Split(strings.TrimSpace(string(rows)), "\n")
	if !strings.HasSuffix(lines[0], ",overloaded") || len(lines) != 5 {
		t.Fatalf("results.csv:\n%s", rows)
	}
	for _, l := range lines[1:] {
		if !strings.HasSuffix(l, ",1") {
			t.Errorf("results.csv row not overloaded: %s", l)
		}
	}
	_, out, _ = cli(t, "table", res)
	if !strings.Contains(out, " !") || strings.Contains(out, " *") {
		t.Errorf("table:\n%s", out)
	}
	_, out, _ = cli(t, "versus", res, "--policy", "gen3", "--baselines", "gen2")
	if !strings.Contains(out, "overloaded") || strings.Contains(out, "better") || strings.Contains(out, "worse") {
		t.Errorf("versus:\n%s", out)
	}
}

// TestRunsFromAnyDirectory: with no workload tables anywhere near, in a
// fresh directory and another HOME, compare runs on the built-in W4.
func TestRunsFromAnyDirectory(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("HOME", t.TempDir())
	t.Setenv("HOMALB_WORKLOADS", "")
	code, out, stderr := cli(t, append([]string{"compare", "--policies", "gen2"}, fast...)...)
	if code != 0 || !strings.Contains(out, "w4 at 80% load") {
		t.Errorf("exit %d %s\n%s", code, stderr, out)
	}
}

// TestJSONReplacesTheName: --json renames a finished temporary file onto
// the name: a symbolic link there is replaced, the file it pointed to is
// left alone (writing in place would have gone through the link).
func TestJSONReplacesTheName(t *testing.T) {
	dir := t.TempDir()
	other, link := filepath.Join(dir, "other"), filepath.Join(dir, "r.json")
	os.WriteFile(other, []byte("keep"), 0o644)
	if err := os.Symlink(other, link); err != nil {
		t.Skip(err)
	}
	if code, _, stderr := cli(t, append([]string{"sim", "--json", link}, fast...)...); code != 0 {
		t.Fatal(stderr)
	}
	if b, _ := os.ReadFile(other); string(b) != "keep" {
		t.Error("the link's target was overwritten")
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink != 0 {
		t.Errorf("%s is still a link (%v)", link, err)
	}
}
