package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	code, out, errs = cli(t, append(args, "--set", "balance.gro_busy_us=5", "--set", "host.gro_cores=[0,2]")...)
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

// validate --quick --json writes every check, exits 0 with the known gaps
// allowed and 1 without.
func TestValidateCommand(t *testing.T) {
	out := filepath.Join(t.TempDir(), "v.json")
	code, stdout, errs := cli(t, "validate", "--quick", "--allow-gaps", "--json", out)
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, errs, stdout)
	}
	var checks []struct {
		Name string
		Pass bool
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &checks); err != nil || len(checks) < 17 {
		t.Fatalf("%d checks in %s: %v", len(checks), out, err)
	}
	for _, want := range []string{"perf#49", "perf#32", "perf#62", "perf#45", "perf#47", "Pollaczek", "known gaps of the model"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("validate output lacks %q", want)
		}
	}
	if code, _, _ := cli(t, "validate", "--quick"); code != 1 {
		t.Errorf("validate without --allow-gaps exited %d with known gaps failing, want 1", code)
	}
	if code, _, errs := cli(t, "validate", "--quick", "extra"); code != 2 || strings.Count(errs, "\n") != 1 {
		t.Errorf("validate with an argument: exit %d, stderr %q", code, errs)
	}
}
