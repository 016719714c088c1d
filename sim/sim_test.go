package sim

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/homalb/homalb/balance"
	"github.com/homalb/homalb/internal/testenv"
)

// The tests check numbers of the published tables, compiled in.
func TestMain(m *testing.M) {
	testenv.UseBuiltinWorkloads()
	os.Exit(m.Run())
}

// short returns the default config cut to a few ms, so tests stay fast under -race.
func short(policy, wl string, load float64) Config {
	c := DefaultConfig()
	c.Policy, c.Workload, c.Load = policy, wl, load
	c.WarmupNs, c.DurationNs, c.DrainNs = 1e6, 4e6, 4e6
	if raceEnabled {
		c.DurationNs, c.DrainNs = 2e6, 2e6
	}
	return c
}

func mustRun(t *testing.T, c Config) *Result {
	t.Helper()
	r, err := Run(c)
	if err != nil {
		t.Fatalf("%v: %v", c, err)
	}
	checkInvariants(t, c, r)
	return r
}

// checkInvariants asserts what every run must satisfy.
func checkInvariants(t *testing.T, c Config, r *Result) {
	t.Helper()
	if !r.Invariants.OK() {
		t.Errorf("%v: invariants violated: %+v", c, r.Invariants)
	}
	if c.Balance.RPCLock && r.RPCOverlaps != 0 {
		t.Errorf("%v: %d RPC overlaps under the RPC lock", c, r.RPCOverlaps)
	}
	if r.Messages == 0 {
		t.Errorf("%v: no message delivered", c)
	}
	for _, cu := range r.Cores {
		sum := cu.GRO + cu.SoftIRQ + cu.App + cu.Poll + cu.Idle
		if math.Abs(sum-1) > 1e-3 {
			t.Errorf("%v: core %d time fractions add up to %v", c, cu.ID, sum)
		}
	}
	var n int64
	for _, b := range r.Slowdown {
		n += b.Count
		if b.P50 > b.P99 || b.P99 > b.P999 {
			t.Errorf("%v: bucket %d percentiles out of order: %+v", c, b.MaxBytes, b)
		}
	}
	if n != r.Messages {
		t.Errorf("%v: buckets hold %d messages, result says %d", c, n, r.Messages)
	}
}

// TestInvariantsAcrossScenarios runs every policy on small scenarios chosen
// to exercise different parts of the model (tiny messages, grants, overload,
// ksoftirqd, pinned threads, both profiles) and checks the invariants.
func TestInvariantsAcrossScenarios(t *testing.T) {
	type tweak func(*Config)
	scenarios := map[string]tweak{
		"w1-50": func(c *Config) { c.Workload, c.Load = "w1", 0.5 },
		"w4-80": func(c *Config) {},
		"w5-90": func(c *Config) { c.Workload, c.Load = "w5", 0.9 },
		"w3-pin": func(c *Config) {
			c.Workload, c.App.Sched, c.App.Cores, c.App.Threads = "w3", "pinned", []int{2, 5, 9}, 6
		},
		"c6525": func(c *Config) {
			p, _ := ProfileConfig("c6525-100g")
			p.WarmupNs, p.DurationNs, p.DrainNs = c.WarmupNs, 2e6, 2e6
			p.Workload = "w2"
			*c = p
		},
		"no-poll": func(c *Config) { c.App.PollNs = 0; c.Workload = "w2" },
		"defer":   func(c *Config) { c.Balance.DeferNs = 5_000; c.Balance.SliceNs = 20_000; c.Load = 1 },
		"port":    func(c *Config) { c.Host.RSSByPort = true; c.Cost.AppNs = 0 },
	}
	for name, tw := range scenarios {
		for _, p := range balance.Names() {
			c := short(p, "w4", 0.8)
			c.Policy = p
			tw(&c)
			c.Policy = p
			t.Run(name+"/"+p, func(t *testing.T) {
				t.Parallel()
				mustRun(t, c)
			})
		}
	}
}

// TestDeterministic: the same config and seed give the same bytes of JSON,
// wall time aside; another seed gives other bytes.
func TestDeterministic(t *testing.T) {
	enc := func(seed uint64) []byte {
		c := short("gen3", "w3", 0.7)
		c.Seed = seed
		r := mustRun(t, c)
		r.WallMs = 0
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, b, other := enc(7), enc(7), enc(8)
	if !bytes.Equal(a, b) {
		t.Fatal("two runs with the same seed differ")
	}
	if bytes.Equal(a, other) {
		t.Fatal("runs with different seeds are identical")
	}
}

// idleHost is a host so lightly loaded that messages never meet.
func idleHost(size string) Config {
	c := DefaultConfig()
	c.Workload = "fixed:" + size
	c.Load = 1e-5 // a message every ~20 ms at 25 Gbps for 500 B... scaled below
	c.WarmupNs, c.DurationNs, c.DrainNs = 0, 2e9, 1e6
	c.App.Sched, c.App.Cores, c.App.Threads = "pinned", []int{5}, 1
	c.Traffic.Responses = false
	return c
}

// TestUnloadedLatencyIsSumOfCosts: on an idle host a one-packet message
// takes exactly interrupt + GRO + SoftIRQ (+ first packet) + wake-up + receive
// call + copy, with a polling thread and with a sleeping one.
func TestUnloadedLatencyIsSumOfCosts(t *testing.T) {
	for _, poll := range []bool{true, false} {
		c := idleHost("500")
		c.Policy = "gen2"
		wake := c.Cost.WakeSleepNs
		if poll {
			c.App.PollNs = 1e12 // polls for ever
			wake = c.Cost.WakePollNs
		} else {
			c.App.PollNs = 0
		}
		r := mustRun(t, c)
		k := c.Cost
		want := k.InterruptNs + k.GRONs + k.SoftIRQNs + k.SoftIRQFirstNs + wake + k.RecvNs + int64(math.Round(500*k.CopyNsPerKB/1024))
		for _, got := range []int64{r.LatencyNs.P50, r.LatencyNs.P99} {
			if math.Abs(float64(got-want)) > 0.002*float64(want) {
				t.Errorf("poll=%v: latency %d ns, want %d (sum of the path's costs)", poll, got, want)
			}
		}
		if poll && math.Abs(r.Short.P50-1) > 0.005 {
			t.Errorf("idle polling slowdown %v, want 1", r.Short.P50)
		}
		if r.Messages < 50 {
			t.Errorf("only %d messages", r.Messages)
		}
	}
}

func TestConfigSetAndYAML(t *testing.T) {
	c := DefaultConfig()
	for _, kv := range [][2]string{
		{"host.cores", "48"}, {"host.gro_cores", "0, 2,4"}, {"cost.gro_ns", "850"},
		{"balance.short_bypass", "false"}, {"duration_ns", "20ms"}, {"app.poll_ns", "12.5us"},
		{"app.cores", "[1, 3]"}, {"balance.restarts", "0"}, {"app.timeslice_ns", "0"}, {"traffic.grant_pkts", "2"},
	} {
		if err := c.Set(kv[0], kv[1]); err != nil {
			t.Fatalf("Set(%s): %v", kv[0], err)
		}
	}
	if c.Host.Cores != 48 || len(c.Host.GROCores) != 3 || c.Cost.GRONs != 850 || c.Balance.ShortBypass || c.DurationNs != 20e6 || c.App.PollNs != 12_500 ||
		len(c.App.Cores) != 2 || c.App.Cores[1] != 3 || c.Balance.Restarts != 0 || c.App.TimesliceNs != 0 || c.Traffic.GrantPkts != 2 {
		t.Fatalf("Set did not apply: %+v", c)
	}
	var back Config
	if err := back.LoadYAML(c.YAML()); err != nil {
		t.Fatal(err)
	}
	if string(back.YAML()) != string(c.YAML()) {
		t.Fatal("YAML does not round-trip")
	}
	for _, k := range Keys() {
		if _, ok := field(reflectValue(&c), strings.Split(k, ".")); !ok {
			t.Errorf("key %s listed but not settable", k)
		}
	}
	for _, bad := range [][2]string{{"host.nope", "1"}, {"host.cores", "x"}, {"balance.fast_grants", "maybe"}, {"host.gro_cores", "1,a"}, {"host", "1"}, {"host.gro_cores", "[0,2"}} {
		if err := c.Set(bad[0], bad[1]); err == nil {
			t.Errorf("Set(%s=%s) accepted", bad[0], bad[1])
		}
	}
	if err := new(Config).LoadYAML([]byte("host:\n  corez: 3\n")); err == nil {
		t.Error("unknown YAML key accepted")
	}
}

func TestValidateRejects(t *testing.T) {
	cases := map[string]func(*Config){
		"unknown policy":  func(c *Config) { c.Policy = "gen9" },
		"load":            func(c *Config) { c.Load = 1.5 },
		"load 0":          func(c *Config) { c.Load = 0 },
		"cores":           func(c *Config) { c.Host.Cores = 0 },
		"duration":        func(c *Config) { c.DurationNs = 0 },
		"gro core":        func(c *Config) { c.Host.GROCores = []int{20} },
		"app core":        func(c *Config) { c.App.Cores = []int{-1} },
		"sched":           func(c *Config) { c.App.Sched = "cfs" },
		"negative cost":   func(c *Config) { c.Cost.GRONs = -1 },
		"gen3 on 6 cores": func(c *Config) { c.Policy = "gen3"; c.Host.Cores = 6 },
		"workload":        func(c *Config) { c.Workload = "w9" },
		"restarts":        func(c *Config) { c.Balance.Restarts = -1 },
		"netdev_budget":   func(c *Config) { c.Balance.NetdevBudget = 0 },
		"timeslice":       func(c *Config) { c.App.TimesliceNs = -5 },
		"grant_pkts":      func(c *Config) { c.Traffic.GrantPkts = 0 },
		"c1_exit_ns":      func(c *Config) { c.Cost.C1ExitNs = -1 },
		"ip_ns":           func(c *Config) { c.Cost.IPNs = -1 },
		"xmit_ns":         func(c *Config) { c.Cost.XmitNs = -1 },
	}
	for name, mod := range cases {
		c := DefaultConfig()
		mod(&c)
		if err := c.Check(); err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error spans lines: %q", name, err)
		}
	}
}

// TestGen5SpreadsGROWithLoad: gen5's elastic RSS keeps GRO on few cores at
// low load and spreads it at high load; with a fixed deployment (gen4) the
// number of GRO cores does not change.
func TestGen5SpreadsGROWithLoad(t *testing.T) {
	groCores := func(policy string, load float64) int {
		c := short(policy, "w4", load)
		c.DurationNs = 10e6
		r := mustRun(t, c)
		n := 0
		for _, cu := range r.Cores {
			if cu.GRO >= 0.002 {
				n++
			}
		}
		return n
	}
	low, high := groCores("gen5", 0.2), groCores("gen5", 0.9)
	if low >= high {
		t.Errorf("gen5: GRO on %d cores at 20%% load and %d at 90%%; want fewer at low load", low, high)
	}
	if g4 := groCores("gen4", 0.9); g4 > 5 {
		t.Errorf("gen4 did GRO on %d cores; its deployment has 5", g4)
	}
}

// TestGen6EvensGROLoad: on c6525-100g, whose GRO is slow, gen5's even spread
// of the RSS table leaves some channels near saturation and others light;
// gen6's load-balanced table narrows the range of GRO load over the cores
// that do GRO.
func TestGen6EvensGROLoad(t *testing.T) {
	spread := func(policy string) (lo, hi float64) {
		c, err := ProfileConfig("c6525-100g")
		if err != nil {
			t.Fatal(err)
		}
		c.Policy, c.Workload, c.Load = policy, "w4", 0.8
		c.WarmupNs, c.DurationNs, c.DrainNs = 2e6, 8e6, 2e6
		r := mustRun(t, c)
		lo = 1
		for _, cu := range r.Cores {
			if cu.GRO >= 0.01 {
				lo, hi = min(lo, cu.GRO), max(hi, cu.GRO)
			}
		}
		return lo, hi
	}
	lo5, hi5 := spread("gen5")
	lo6, hi6 := spread("gen6")
	if hi6-lo6 >= hi5-lo5 {
		t.Errorf("GRO load per core: gen6 %.2f–%.2f, gen5 %.2f–%.2f; want gen6's range narrower", lo6, hi6, lo5, hi5)
	}
}
