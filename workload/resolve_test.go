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
		{"data/w3.csv", "data/w3.csv", 0, DefaultMaxBytes, 0},
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
		{"uniform:5,3", "bounds A = 5 above B = 3"},
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
		{"./data", "./data is a directory"},
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

// TestSearchPath: without $HOMALB_WORKLOADS the built-in tables, from any
// directory; with it, its directories in order, and no silent fallback when
// it is wrong.
func TestSearchPath(t *testing.T) {
	tmp := t.TempDir()
	env1, env2 := filepath.Join(tmp, "env1"), filepath.Join(tmp, "env2")
	writeFixed(t, env2, "4")
	t.Chdir(tmp) // no workloads directory anywhere near

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
	wantErr := func(what, want string) {
		t.Helper()
		_, err := size()
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %v, want one line containing %q", what, err, want)
		}
	}
	sep := string(os.PathListSeparator)

	t.Setenv(EnvSearchPath, "")
	check("built-in", 100_000) // W1's largest message
	if got := DefaultSearchPath(); len(got) != 0 {
		t.Errorf("DefaultSearchPath() = %q without the variable", got)
	}
	d, _ := Resolve("w1", Options{})
	if desc := d.(Describer).Describe(); !strings.Contains(desc, "built-in w1.csv") {
		t.Errorf("built-in description %q", desc)
	}

	if err := os.Mkdir(env1, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvSearchPath, env1+sep+sep+env2) // env1 has no w1.csv
	check("env list", 4)
	writeFixed(t, env1, "1")
	check("env list, first dir", 1)
	if got := DefaultSearchPath(); !slices.Equal(got, []string{env1, env2}) {
		t.Errorf("DefaultSearchPath() = %q", got)
	}

	// An explicit SearchPath replaces the default one; an empty one means
	// the built-in tables.
	if d, err := Resolve("w1", Options{SearchPath: []string{env2}}); err != nil || d.Max() != 4 {
		t.Errorf("explicit path: %v", err)
	}
	if d, err := Resolve("w1", Options{SearchPath: []string{}}); err != nil || d.Max() != 100_000 {
		t.Errorf("explicit built-in: %v", err)
	}

	// A variable that is wrong is reported, not ignored.
	t.Setenv(EnvSearchPath, env2)
	if err := os.Remove(filepath.Join(env2, "w1.csv")); err != nil {
		t.Fatal(err)
	}
	wantErr("not found", "w1.csv not found in $"+EnvSearchPath)
	wantErr("not found hint", "unset $"+EnvSearchPath)
	t.Setenv(EnvSearchPath, filepath.Join(tmp, "nonexistent"))
	wantErr("missing dir", "nonexistent")
	t.Setenv(EnvSearchPath, sep)
	wantErr("no directory", "lists no directory")
	t.Setenv(EnvSearchPath, filepath.Join(env1, "w1.csv"))
	wantErr("a file", "is not a directory")

	// A malformed file is an error, not a reason to look further.
	t.Setenv(EnvSearchPath, env1+sep+env2)
	writeFixed(t, env2, "3")
	if err := os.WriteFile(filepath.Join(env1, "w1.csv"), []byte("nonsense\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	wantErr("malformed", filepath.Join("env1", "w1.csv")+":1: wrong header")

	// So is a directory in the way.
	if err := os.Remove(filepath.Join(env1, "w1.csv")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(env1, "w1.csv"), 0o755); err != nil {
		t.Fatal(err)
	}
	wantErr("directory", filepath.Join("env1", "w1.csv")+" is a directory")
}

// TestBuiltinTablesMatchPublished: the compiled-in tables are the published
// ones, when a copy is at hand to compare with (CI keeps one beside the
// repository; a fresh clone has none, and then there is nothing to compare).
func TestBuiltinTablesMatchPublished(t *testing.T) {
	for _, name := range []string{"w1", "w2", "w3", "w4", "w5"} {
		want, err := os.ReadFile(filepath.Join("..", "..", "shared", "workloads", name+".csv"))
		if err != nil {
			t.Skipf("no published copy to compare with: %v", err)
		}
		got, err := builtinTables.ReadFile("data/" + name + ".csv")
		if err != nil || string(got) != string(want) {
			t.Errorf("%s: built-in table differs from the published one (%v)", name, err)
		}
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
