package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/homalb/homalb/validate"
)

// compare says when its rows differ in more than the steering rule, and
// --set puts one deployment knob on every row.
func TestCompareShowsDeployments(t *testing.T) {
	args := append([]string{"compare", "--policies", "gen2,gen3"}, fast...)
	code, out, errs := cli(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"rows differ in more than the steering rule", "gen2", "GRO on 20 cores (0-19)", "gro_busy 0 µs", "GRO on 5 cores (0,2,4,6,8)", "gro_busy 2 µs"} {
		if !strings.Contains(out, want) {
			t.Errorf("compare output lacks %q:\n%s", want, out)
		}
	}
	code, out, errs = cli(t, append(args, "--set", "balance.gro_busy_ns=5us", "--set", "host.gro_cores=[0,2]")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "deployed: every row: GRO on 2 cores (0,2), gro_busy 5 µs") {
		t.Errorf("--set did not apply to every row:\n%s", out)
	}
}

func TestCoreList(t *testing.T) {
	for in, want := range map[string]string{"0,1,2,3": "4 cores (0-3)", "0,2,4": "3 cores (0,2,4)", "0,1,5,6,7": "5 cores (0,1,5-7)"} {
		var cores []int
		for _, f := range strings.Split(in, ",") {
			var n int
			for _, ch := range f {
				n = n*10 + int(ch-'0')
			}
			cores = append(cores, n)
		}
		if got := coreList(cores); got != want {
			t.Errorf("coreList(%s) = %q, want %q", in, got, want)
		}
	}
}

// validate prints every check with its source and result, writes them as
// JSON, and exits 0 only when every check passes, or every failure is a
// known gap and --allow-gaps is given.
func TestValidateCommand(t *testing.T) {
	gap := "gen2 GRO→SoftIRQ P99" // one of validate's known gaps
	if validate.Gap(gap) == "" {
		t.Fatalf("%q is no longer a known gap: pick another for this test", gap)
	}
	pass := validate.Check{Name: "M/D/1", Source: "Pollaczek–Khinchine", Scenario: "s", Published: "1500", Tolerance: "±5%", Unit: "ns", Measured: 1502, Low: 1425, High: 1575, Pass: true}
	gapFail := validate.Check{Name: gap, Source: "perf#49", Scenario: "s", Published: "43.6–71.3", Tolerance: "×2", Unit: "µs", Measured: 4, Low: 21.8, High: math.Inf(1)}
	fail := validate.Check{Name: "unloaded one-packet receive", Source: "perf#32", Scenario: "s", Published: "2.85–3.3", Tolerance: "±15%", Unit: "µs", Measured: 9, Low: 2.4, High: 3.8}
	defer func(f func(validate.Mode) ([]validate.Check, error)) { runValidation = f }(runValidation)
	for _, tc := range []struct {
		checks []validate.Check
		args   []string
		code   int
	}{
		{[]validate.Check{pass}, nil, 0},
		{[]validate.Check{pass, gapFail}, nil, 1},
		{[]validate.Check{pass, gapFail}, []string{"--allow-gaps"}, 0},
		{[]validate.Check{pass, gapFail, fail}, []string{"--allow-gaps"}, 1},
	} {
		runValidation = func(validate.Mode) ([]validate.Check, error) { return tc.checks, nil }
		out := filepath.Join(t.TempDir(), "v.json")
		code, stdout, _ := cli(t, append([]string{"validate", "--quick", "--json", out}, tc.args...)...)
		if code != tc.code {
			t.Errorf("%d checks %v: exit %d, want %d\n%s", len(tc.checks), tc.args, code, tc.code, stdout)
		}
		var back []map[string]any
		data, _ := os.ReadFile(out)
		if err := json.Unmarshal(data, &back); err != nil || len(back) != len(tc.checks) {
			t.Errorf("JSON holds %d checks (%v), want %d", len(back), err, len(tc.checks))
		}
		for _, c := range tc.checks {
			if !strings.Contains(stdout, c.Name) || !strings.Contains(stdout, c.Source) {
				t.Errorf("output lacks %s (%s):\n%s", c.Name, c.Source, stdout)
			}
		}
	}
	if code, _, errs := cli(t, "validate", "--quick", "extra"); code != 2 || strings.Count(errs, "\n") != 1 {
		t.Errorf("validate with an argument: exit %d, stderr %q", code, errs)
	}
}
