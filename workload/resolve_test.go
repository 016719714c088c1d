package workload

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestResolveSpecs(t *testing.T) {
	for _, tc := range []struct {
		spec, name string
		max        int // Options.MaxBytes
		wantMax    int
		mean       float64 // 0: not checked
	}{
		{"W1", "w1", 0, 100_000, 0},
		{" w2 ", "w2", 0, DefaultMaxBytes, 0},
		{"w5", "w5", -1, 29_400_000, 0},
		{"w5", "w5", 2 * MaxSize, 29_400_000, 0},
		{"../../shared/workloads/w3.csv", "../../shared/workloads/w3.csv", 0, DefaultMaxBytes, 0},
		{"fixed:1e6", "fixed:1000000", 0, 1_000_000, 1_000_000},
		{"fixed:2000000", "fixed:2000000", 0, DefaultMaxBytes, DefaultMaxBytes},
		{"fixed:2000000", "fixed:2000000", -1, 2_000_000, 2_000_000},
		{"Fixed:100", "fixed:100", 10, 10, 10},
		{"uniform:10,20", "uniform:10,20", 0, DefaultMaxBytes, 15},
		{"uniform:7,7", "uniform:7,7", 0, DefaultMaxBytes, 7},
		{"bimodal:100,10000,0.9", "bimodal:100,10000,0.9", 0, 10_000, 0.9*100 + 0.1*10_000},
		{"bimodal:100,100,0.3", "bimodal:100,100,0.3", 0, 100, 100},
		{"bimodal:100,10000,1", "bimodal:100,10000,1", 0, 100, 100},
		{"EXP:1e3", "exp:1000", -1, MaxSize, 1000},
		{"exp:2.5", "exp:2.5", -1, MaxSize, 2.5},
		{"lognormal:1000, 1.5", "lognormal:1000,1.5", 0, DefaultMaxBytes, 0},
		{"pareto:100,1.1", "pareto:100,1.1", 5000, 5000, 0},
	} {
		d, err := Resolve(tc.spec, Options{MaxBytes: tc.max, SearchPath: testPath})
		if err != nil {
			t.Errorf("%q: %v", tc.spec, err)
			continue
		}
		if d.Name() != tc.name || d.Max() != tc.wantMax {
			t.Errorf("%q: name %q max %d, want %q %d", tc.spec, d.Name(), d.Max(), tc.name, tc.wantMax)
		}
		if tc.mean != 0 && d.Mean() != tc.mean && !(abs(d.Mean()-tc.mean) < 1e-9*tc.mean) {
			t.Errorf("%q: mean %v, want %v", tc.spec, d.Mean(), tc.mean)
		}
		if desc := d.(Describer).Describe(); desc == "" {
			t.Errorf("%q: no description", tc.spec)
		}
	}
}

func abs(x float64) float64 { return max(x, -x) }

func TestResolveRejects(t *testing.T) {
	for _, tc := range []struct{ spec, reason string }{
		{"", "empty spec"},
		{"w6", "unknown workload"},
		{"nope", "unknown workload; want one of w1, w2"},
		{"gauss:3", "unknown workload"},
		{"exp", "unknown workload"},
		{"exp:", "wants 1 parameter"},
		{"exp:1,2", "wants 1 parameter"},
		{"exp:abc", "not a finite number"},
		{"exp:NaN", "not a finite number"},
		{"exp:Inf", "not a finite number"},
		{"exp:0.5", "MEAN = 0.5"},
		{"fixed:0", "whole number of bytes"},
		{"fixed:1.5", "whole number of bytes"},
		{"fixed:-3", "whole number of bytes"},
		{"fixed:2e12", "whole number of bytes"},
		{"uniform:5,3", "A = 5 above B = 3"},
		{"bimodal:1,2", "wants 3 parameter"},
		{"bimodal:1,2,1.5", "probability"},
		{"lognormal:1000,0", "SIGMA"},
		{"lognormal:1000,50", "SIGMA"},
		{"lognormal:0,1", "MEDIAN"},
		{"pareto:0,1", "MIN"},
		{"pareto:1,0", "ALPHA"},
		{"pareto:1,1000", "ALPHA"},
		{"missing.csv", "no such file"},
		{"./nowhere/w1", "no such file"},
		{"../../shared/workloads", "../../shared/workloads is a directory"},
	} {
		_, err := Resolve(tc.spec, Options{SearchPath: testPath})
		if err == nil {
			t.Errorf("%q: accepted", tc.spec)
			continue
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, `workload "`+tc.spec+`": `) || !strings.Contains(msg, tc.reason) || strings.Contains(msg, "\n") {
			t.Errorf("%q: error %q, want it to name the spec and say %q on one line", tc.spec, msg, tc.reason)
		}
	}
}

func TestResolveBadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.csv")
	if err := os.WriteFile(path, []byte("# x\nbytes,cumulative_fraction\n8,0.5\n9,0.4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Resolve(path, Options{})
	want := `workload "` + path + `": ` + path + `:4: cumulative fraction 0.4 below 0.5 of line 3`
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("error %v, want %s", err, want)
	}
}

func writeFixed(t *testing.T, dir string, size string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "w1.csv"), []byte(hdr+size+",1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestSearchPath: $HOMALB_WORKLOADS first (a list), then ./workloads, then
// ../shared/workloads.
func TestSearchPath(t *testing.T) {
	tmp := t.TempDir()
	env1, env2 := filepath.Join(tmp, "env1"), filepath.Join(tmp, "env2")
	local, shared := filepath.Join(tmp, "cwd", "workloads"), filepath.Join(tmp, "shared", "workloads")
	writeFixed(t, env2, "4")
	writeFixed(t, local, "2")
	writeFixed(t, shared, "3")
	t.Chdir(filepath.Join(tmp, "cwd"))

	size := func() (int, error) {
		d, err := Resolve("w1", Options{})
		if err != nil {
			return 0, err
		}
		return d.Max(), nil
	}
	check := func(what string, want int) {
		t.Helper()
		got, err := size()
		if err != nil || got != want {
			t.Errorf("%s: size %d (%v), want %d", what, got, err, want)
		}
	}
	sep := string(os.PathListSeparator)

	t.Setenv(EnvSearchPath, env1+sep+sep+env2) // env1 has no w1.csv
	check("env list", 4)
	writeFixed(t, env1, "1")
	check("env list, first dir", 1)
	if got := DefaultSearchPath(); !slices.Equal(got, []string{env1, env2, "workloads", filepath.Join("..", "shared", "workloads")}) {
		t.Errorf("DefaultSearchPath() = %q", got)
	}

	t.Setenv(EnvSearchPath, "")
	check("./workloads", 2)
	if err := os.Remove(filepath.Join(local, "w1.csv")); err != nil {
		t.Fatal(err)
	}
	check("../shared/workloads", 3)

	// An explicit SearchPath replaces the default one.
	d, err := Resolve("w1", Options{SearchPath: []string{env2}})
	if err != nil || d.Max() != 4 {
		t.Errorf("explicit path: %v", err)
	}

	if err := os.Remove(filepath.Join(shared, "w1.csv")); err != nil {
		t.Fatal(err)
	}
	_, err = size()
	if err == nil || !strings.Contains(err.Error(), "w1.csv not found in search path") || !strings.Contains(err.Error(), EnvSearchPath) {
		t.Errorf("not found: %v", err)
	}

	// A malformed file is an error, not a reason to look further.
	if err := os.WriteFile(filepath.Join(local, "w1.csv"), []byte("nonsense\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	writeFixed(t, shared, "3")
	_, err = size()
	if err == nil || !strings.Contains(err.Error(), filepath.Join("workloads", "w1.csv")+":1: wrong header") {
		t.Errorf("malformed: %v", err)
	}

	// So is a directory in the way.
	if err := os.Remove(filepath.Join(local, "w1.csv")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(local, "w1.csv"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err = size()
	if err == nil || !strings.Contains(err.Error(), filepath.Join("workloads", "w1.csv")+" is a directory") {
		t.Errorf("directory: %v", err)
	}
}

func TestCatalog(t *testing.T) {
	names := Names()
	for _, want := range []string{"w1", "w2", "w3", "w4", "w5", "fixed:N", "uniform:A,B", "bimodal:A,B,P", "exp:MEAN", "lognormal:MEDIAN,SIGMA", "pareto:MIN,ALPHA", "PATH.csv"} {
		if !slices.Contains(names, want) {
			t.Errorf("Names() = %q lacks %q", names, want)
		}
	}
	for _, e := range Catalog() {
		if e.Help == "" || strings.Contains(e.Help, "\n") {
			t.Errorf("%s: help %q", e.Name, e.Help)
		}
	}
}
