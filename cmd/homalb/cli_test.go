package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/homalb/homalb/balance"
	"github.com/homalb/homalb/internal/testenv"
)

func TestMain(m *testing.M) {
	testenv.UseBuiltinWorkloads()
	os.Exit(m.Run())
}

// cli runs the CLI in-process and returns its exit status, stdout and stderr.
func cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := runWith(args, &out, &errb)
	return code, out.String(), errb.String()
}

// fast keeps simulations in CLI tests short.
var fast = []string{"--duration", "2ms", "--warmup", "1ms", "--set", "drain_ns=1ms"}

func TestBadInputExits2WithOneLine(t *testing.T) {
	yamlBad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(yamlBad, []byte("host: [1, 2\n"), 0o644)
	yamlUnknown := filepath.Join(t.TempDir(), "unknown.yaml")
	os.WriteFile(yamlUnknown, []byte("host:\n  corez: 4\n"), 0o644)
	cases := [][]string{
		{"sim", "--policy", "nope"},
		{"sim", "--workload", "w9"},
		{"sim", "--workload", "/no/such/file.csv"},
		{"sim", "--load", "1.5"},
		{"sim", "--load", "0"},
		{"sim", "--cores", "0"},
		{"sim", "--cores", "-3"},
		{"sim", "--duration", "0s"},
		{"sim", "--duration", "soon"},
		{"sim", "--set", "host.nope=1"},
		{"sim", "--set", "novalue"},
		{"sim", "--set", "host.gro_cores=0,99"},
		{"sim", "--set", "app.cores=25"},
		// the model's mechanisms (issue 12's keys)
		{"sim", "--set", "balance.netdev_budget=0"},
		{"sim", "--set", "balance.restarts=-1"},
		{"sim", "--set", "app.timeslice_ns=-1"},
		{"sim", "--set", "traffic.grant_pkts=0"},
		{"sim", "--set", "cost.c1_exit_ns=-5"},
		{"sim", "--set", "cost.ip_ns=x"},
		{"sim", "--set", "cost.xmit_ns=-1"},
		{"sim", "--set", "host.ipi_batching=maybe"},
		{"sim", "--set", "balance.rpc_lock=2"},
		{"sim", "--set", "host.gro_cores=[0,2"},
		{"validate", "--quick", "extra"},
		{"sim", "--config", yamlBad},
		{"sim", "--config", yamlUnknown},
		{"sim", "--config", "/no/such.yaml"},
		{"sim", "--profile", "laptop"},
		{"sim", "extra-arg"},
		{"compare", "--policies", "gen2,gen9"},
		{"compare", "--load", "-1"},
		{"nosuchcommand"},
		{"sim", "--nosuchflag"},
		{"policies", "x"},
	}
	for _, args := range cases {
		code, _, stderr := cli(t, args...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", args, code, stderr)
		}
		if lines := strings.Count(strings.TrimRight(stderr, "\n"), "\n"); lines != 0 || stderr == "" {
			t.Errorf("%v: stderr is not one line: %q", args, stderr)
		}
	}
}

func TestPoliciesListsEveryPolicy(t *testing.T) {
	code, out, _ := cli(t, "policies")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, p := range balance.Catalog() {
		if !strings.Contains(out, p.Name) || !strings.Contains(out, p.Rule) {
			t.Errorf("policies output lacks %s and its rule", p.Name)
		}
	}
}

// TestSimJSONContract checks the output contract of DESIGN.md: the field names
// users' scripts rely on.
func TestSimJSONContract(t *testing.T) {
	args := append([]string{"sim", "--policy", "gen3", "--workload", "w3", "--json", "-"}, fast...)
	code, out, stderr := cli(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	for _, k := range []string{"config", "policy", "workload", "load", "sim_ns", "wall_ms", "messages", "packets",
		"slowdown", "short", "handoff_ns", "cores", "hotspot_frac", "softirq_cores_per_msg", "latency_ns"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	b := m["slowdown"].([]any)[0].(map[string]any)
	for _, k := range []string{"max_bytes", "count", "p50", "p99", "p999"} {
		if _, ok := b[k]; !ok {
			t.Errorf("slowdown bucket lacks %q", k)
		}
	}
	h := m["handoff_ns"].(map[string]any)
	for _, k := range []string{"gro_to_softirq", "softirq_to_app"} {
		if _, ok := h[k].(map[string]any)["p99"]; !ok {
			t.Errorf("handoff_ns.%s lacks p99", k)
		}
	}
	c := m["cores"].([]any)[0].(map[string]any)
	for _, k := range []string{"id", "gro", "softirq", "app", "idle"} {
		if _, ok := c[k]; !ok {
			t.Errorf("cores[0] lacks %q", k)
		}
	}
	if m["config"].(map[string]any)["seed"] == nil {
		t.Error("config lacks the seed")
	}
}

// TestConfigLayers: YAML file, then flags, then --set, in that order.
func TestConfigLayers(t *testing.T) {
	f := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(f, []byte("profile: c6525-100g\nload: 0.3\nhost:\n  mtu_payload: 2924\ncost:\n  gro_ns: 111\n"), 0o644)
	code, out, stderr := cli(t, "sim", "--config", f, "--load", "0.4", "--set", "cost.gro_ns=222", "--print-config")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"profile: c6525-100g", "load: 0.4", "mtu_payload: 2924", "gro_ns: 222", "cores: 48"} {
		if !strings.Contains(out, want) {
			t.Errorf("resolved config lacks %q:\n%s", want, out)
		}
	}
}

func TestCompareRunsEveryPolicy(t *testing.T) {
	args := append([]string{"compare", "--workload", "w2", "--load", "0.5"}, fast...)
	code, out, stderr := cli(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, p := range balance.Names() {
		found := false
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) > 0 && f[0] == p {
				found = true
				if strings.Contains(line, " - ") {
					t.Errorf("%s did not run: %s", p, line)
				}
			}
		}
		if !found {
			t.Errorf("no row for %s:\n%s", p, out)
		}
	}
	// gen3 cannot run on 6 cores with its deployed layout: that row says so,
	// the others still run.
	args = append([]string{"compare", "--cores", "6", "--workload", "w2"}, fast...)
	code, out, _ = cli(t, args...)
	if code != 0 || !strings.Contains(out, "divisible by 4") || !strings.Contains(out, "gen2") {
		t.Errorf("compare on 6 cores: exit %d\n%s", code, out)
	}
}

// TestCompareSeeds: --seeds reports mean ± interval per policy and ranks only
// where intervals separate; an overloaded scenario says so.
func TestCompareSeeds(t *testing.T) {
	args := append([]string{"compare", "--seeds", "3", "--policies", "gen2,gen4", "--workload", "w3"}, fast...)
	code, out, stderr := cli(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, "seeds 1…3") || !strings.Contains(out, " ± ") || !strings.Contains(out, "ranking by short_p99") {
		t.Errorf("compare --seeds output:\n%s", out)
	}
	if code, _, _ := cli(t, "compare", "--seeds", "0"); code != 2 {
		t.Errorf("--seeds 0: exit %d", code)
	}
	args = append([]string{"compare", "--policies", "gen4", "--workload", "w1", "--load", "0.9"}, fast...)
	if _, out, _ := cli(t, args...); !strings.Contains(out, "no policy can keep up") || !strings.Contains(out, "OVERLOADED") || !strings.Contains(out, "lower the load (--load 0.") {
		t.Errorf("overloaded scenario without a note:\n%s", out)
	}
}

// TestCompletion: --workload completes to names that work as written and to
// the synthetic families' prefixes, not to their placeholders.
func TestCompletion(t *testing.T) {
	_, out, _ := cli(t, "__complete", "sim", "--workload", "")
	for _, want := range []string{"w4\n", "fixed:\n", "lognormal:\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("completion lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "fixed:N") || strings.Contains(out, ".csv") {
		t.Errorf("completion offers placeholders:\n%s", out)
	}
	_, out, _ = cli(t, "__complete", "compare", "--policies", "")
	if !strings.Contains(out, "gen4\n") {
		t.Errorf("--policies completion lacks gen4:\n%s", out)
	}
}

// TestSimOverloadNote: a run on an overloaded host says so.
func TestSimOverloadNote(t *testing.T) {
	args := append([]string{"sim", "--policy", "gen4", "--workload", "w1", "--load", "0.9"}, fast...)
	if code, out, _ := cli(t, args...); code != 0 || !strings.Contains(out, "no policy can keep up") || !strings.Contains(out, "OVERLOADED") || !strings.Contains(out, "lower the load (--load 0.") {
		t.Errorf("exit %d, output:\n%s", code, out)
	}
}
