package balance

import (
	"strings"
	"sync"
	"testing"
)

func TestDeployedGen3GroupsXL170(t *testing.T) {
	groups, err := DeployedGen3Groups(20)
	if err != nil {
		t.Fatal(err)
	}
	// HomaModule's balance.txt: Gen3's layout as deployed.
	const want = "0:1,10,11;2:3,12,13;4:5,14,15;6:7,16,17;8:9,18,19"
	if got := FormatGroups(groups); got != want {
		t.Fatalf("layout %s, want %s", got, want)
	}
	parsed, err := ParseGroups(want)
	if err != nil || FormatGroups(parsed) != want {
		t.Fatalf("round trip: %v %v", FormatGroups(parsed), err)
	}
	if got := GROCores(groups); len(got) != 5 || got[4] != 8 {
		t.Fatalf("GRO cores %v", got)
	}
	// The deployed layout never overlaps, for any valid core count.
	for n := 4; n <= 256; n += 4 {
		g, err := DeployedGen3Groups(n)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := compileGroups(g, n); err != nil {
			t.Fatalf("%d cores: %v", n, err)
		}
	}
}

func TestParseGroupsErrors(t *testing.T) {
	for _, s := range []string{"", ";", "0", "x:1", "0:1,y", "0:"} {
		if _, err := ParseGroups(s); err == nil {
			t.Errorf("ParseGroups(%q) accepted", s)
		}
	}
}

func TestNewErrors(t *testing.T) {
	tab, _ := NewTable(8)
	cases := []struct {
		name string
		mod  func(*Options)
		want string
	}{
		{"nope", func(*Options) {}, `unknown policy "nope"`},
		{"gen2", func(o *Options) { o.BusyNs = -1 }, "busy window -1 ns is negative"},
		{"gen2", func(o *Options) { o.GROBusyNs = -2 }, "GRO busy window"},
		{"idle", func(o *Options) { o.ScanCores = 0 }, "cores to scan 0"},
		{"gen3", func(o *Options) { o.Gen3Groups = []Group{{GRO: 9, SoftIRQ: []int{1}}} }, "names core 9, outside 0..7"},
		{"gen3", func(o *Options) { o.Gen3Groups = []Group{} }, "no core groups"},
		{"gen3", func(o *Options) { o.Gen3Groups = []Group{{GRO: 0, SoftIRQ: make([]int, 9)}} }, "at most 8"},
	}
	for _, c := range cases {
		o := DefaultOptions()
		c.mod(&o)
		_, err := New(c.name, tab, o)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
	if _, err := NewTable(0); err == nil {
		t.Error("NewTable(0) accepted")
	}
	if _, err := New("gen2", nil, DefaultOptions()); err == nil {
		t.Error("nil table accepted")
	}
}

func TestCatalog(t *testing.T) {
	want := []string{"rps", "same", "next", "idle", "gen2", "gen3"}
	got := Names()
	if len(got) < len(want) {
		t.Fatalf("names %v", got)
	}
	for i, n := range want {
		if got[i] != n {
			t.Fatalf("names %v, want prefix %v", got, want)
		}
		info, err := Lookup(n)
		if err != nil || info.Rule == "" {
			t.Errorf("%s: %v, rule %q", n, err, info.Rule)
		}
		tab, _ := NewTable(8)
		b, err := New(n, tab, DefaultOptions())
		if err != nil || b.Policy().Name() != n {
			t.Errorf("%s: built %v, %v", n, b, err)
		}
	}
}

// TestDeploy pins each policy's deployment: the GRO busy window as
// deployed (Gen2 0, Gen3 2 µs, the module's 5 µs otherwise) and its GRO
// cores on the two profiles' core counts.
func TestDeploy(t *testing.T) {
	asDeployed := DefaultOptions()
	asDeployed.GROBusyNs = GROBusyAsDeployed
	for _, n := range []int{20, 48} {
		for _, name := range Names() {
			d, err := Deploy(name, n, asDeployed)
			if err != nil {
				t.Fatalf("%s on %d: %v", name, n, err)
			}
			want := DefaultGROBusyNs
			switch name {
			case "gen2":
				want = 0
			case "gen3":
				want = 2_000
			}
			if d.GROBusyNs != want {
				t.Errorf("%s: GRO busy %d ns, deployed %d", name, d.GROBusyNs, want)
			}
			var wantGRO int
			switch name {
			case "gen3", "gen4", "oracle":
				wantGRO = n / 4
			case "gen5", "gen6", "oracle6":
				wantGRO = n / 2
			default:
				wantGRO = n
			}
			if len(d.GROCores) != wantGRO {
				t.Errorf("%s on %d: %d GRO cores %v, want %d", name, n, len(d.GROCores), d.GROCores, wantGRO)
			}
		}
	}
	if _, err := Deploy("gen3", 6, DefaultOptions()); err == nil {
		t.Error("gen3 deployed on 6 cores, which its layout cannot cover")
	}
	o := DefaultOptions()
	o.GROCores = []int{1, 3}
	for _, name := range []string{"same", "gen2", "gen3", "gen6"} {
		if d, err := Deploy(name, 8, o); err != nil || len(d.GROCores) != 2 || d.GROCores[0] != 1 || d.GROCores[1] != 3 {
			t.Errorf("%s with GRO cores [1 3] named: deployed %v, %v", name, d.GROCores, err)
		}
	}
	if d, _ := Deploy("gen3", 8, DefaultOptions()); d.GROBusyNs != DefaultGROBusyNs {
		t.Errorf("a GRO busy window the driver sets (%d ns) was replaced by %d", DefaultGROBusyNs, d.GROBusyNs)
	}
	if _, err := Deploy("nope", 4, DefaultOptions()); err == nil {
		t.Error("unknown policy deployed")
	}
}

// TestGROBusyTiming checks Homa's timing of the GRO busy test: the test
// runs at the entry of homa_gro_receive against the previous packet's end,
// and last_gro is stored at the end (after an inline SoftIRQ), not at entry.
func TestGROBusyTiming(t *testing.T) {
	tab, _ := NewTable(4)
	o := DefaultOptions()
	o.GROBusyNs = 5_000
	b, err := New("gen2", tab, o)
	if err != nil {
		t.Fatal(err)
	}
	if !b.GROStart(0, WholeData, 100_000) {
		t.Fatal("first packet on an idle core was not bypassed")
	}
	// A long inline SoftIRQ: the packet's GRO ends 4 µs after it started.
	b.GROEnd(0, 104_000)
	if got := tab.Core(0).LastGRO; got != 104_000 {
		t.Fatalf("last_gro %d, want the end of the inline work (104000)", got)
	}
	if got := tab.Core(0).LastActive; got != 100_000 {
		t.Fatalf("last_active %d, want the entry (100000)", got)
	}
	// 8 µs after the first entry but 4 µs after its end: busy, not bypassed.
	if b.GROStart(0, WholeData, 108_000) {
		t.Error("packet 4 µs after the previous GRO ended was bypassed with a 5 µs window")
	}
	b.GROEnd(0, 108_300)
	if !b.GROStart(0, Grant, 113_400) {
		t.Error("grant 5.1 µs after the previous GRO ended was not bypassed")
	}
}

// TestConcurrentUse runs GRO, SoftIRQ and application threads against one
// table at once; under -race it checks that the table is safe to share, and
// in any mode that every decision stays in range and backlogs balance.
func TestConcurrentUse(t *testing.T) {
	for _, name := range Names() {
		tab, _ := NewTable(8)
		o := DefaultOptions()
		o.Oracle = func(g, c int) int64 { return int64(c * g % 7) }
		b, err := New(name, tab, o)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		steered := make([][8]int, 4)
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := 0; i < 2000; i++ {
					now := int64(i * 1000)
					g := (w * 2) % 8
					b.GROPacket(g, Data, now)
					c := b.SoftIRQCore(g, uint32(i), 2, now)
					if c < 0 || c >= 8 {
						t.Errorf("%s: core %d", name, c)
						return
					}
					steered[w][c]++
					tab.SoftIRQStart(c, now)
					tab.AppActive((w*2+1)%8, now)
					b.ChooseThread([]int{1, 3, 5}, now)
				}
			}(w)
		}
		wg.Wait()
		if name == "gen2" {
			// Every batch raised its target's backlog once; none ended.
			var total int32
			for c := 0; c < 8; c++ {
				total += tab.Core(c).Backlog
			}
			if total != 4*2000 {
				t.Errorf("gen2: backlogs add up to %d, want %d", total, 4*2000)
			}
		}
	}
}

// oracleForTest checks that the oracle policy name refuses to run without a
// driver's knowledge, then builds it on 8 cores with delays as that
// knowledge.
func oracleForTest(t *testing.T, name string, delays map[int]int64) (*Balancer, *Table) {
	t.Helper()
	tab, _ := NewTable(8)
	if _, err := New(name, tab, DefaultOptions()); err == nil || !strings.Contains(err.Error(), "cannot run in a real pipeline") {
		t.Fatalf("%s without a driver: %v", name, err)
	}
	o := DefaultOptions()
	o.Oracle = func(g, c int) int64 { return delays[c] }
	b, err := New(name, tab, o)
	if err != nil {
		t.Fatal(err)
	}
	return b, tab
}

// TestOracle: the oracle takes the non-GRO core with the least delay its
// driver reports (first on ties), and refuses to run without a driver.
func TestOracle(t *testing.T) {
	b, tab := oracleForTest(t, "oracle", map[int]int64{0: -5, 1: 40, 2: -9, 3: 10, 4: 10, 5: 30, 6: 11, 7: 99}) // GRO cores 0 and 2
	if c := b.SoftIRQCore(0, 0, 5, 1000); c != 3 {
		t.Fatalf("oracle chose %d, want 3 (GRO cores excluded, first of the ties)", c)
	}
	if tab.Core(3).LastActive != 1000 {
		t.Error("oracle did not mark its choice active")
	}
}

// TestOracle6: the oracle's placement on gen6's deployment takes the core of
// least delay among the odd cores (gen6's GRO cores are the even ones), keeps
// gen6's RSS steering and thread chooser, and refuses to run without a
// driver's knowledge.
func TestOracle6(t *testing.T) {
	b, _ := oracleForTest(t, "oracle6", map[int]int64{0: -50, 1: 40, 2: -9, 3: 10, 4: -99, 5: 30, 6: 11, 7: 9})
	if c := b.SoftIRQCore(0, 0, 5, 1000); c != 7 {
		t.Fatalf("oracle6 chose %d, want 7 (even cores do GRO)", c)
	}
	if b.RSS() == nil {
		t.Error("oracle6 does not steer RSS as gen6 does")
	}
	// gen6's chooser: the waiter off the active GRO core (0) wins.
	if got := b.ChooseThread([]int{0, 5}, 1000); got != 1 {
		t.Errorf("oracle6's chooser took waiter %d, want 1", got)
	}
}
