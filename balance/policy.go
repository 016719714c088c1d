package balance

import (
	"fmt"
	"sort"
	"strings"
)

// Policy picks the SoftIRQ core of a GRO batch. Implementations may update
// the table as part of the decision (Gen2 raises the target's backlog, Gen3
// marks its last_active) and must be safe for concurrent use when the table
// is shared.
type Policy interface {
	// Name is the policy's name as the CLI shows it.
	Name() string
	// Pick returns the SoftIRQ core, in 0..t.NumCores()−1, for a batch
	// collected on GRO core gro. flow is the batch's flow hash (used by
	// rps); now is in ns.
	Pick(t *Table, gro int, flow uint32, now int64) int
}

// Info describes one policy of the [Catalog].
type Info struct {
	Name string
	// Rule is the policy's decision rule in one line.
	Rule string
	// HomaGRO says whether Homa's GRO handler runs under this policy, so
	// that the bypasses and SAME_CORE of [Options] apply. False for rps,
	// which is Linux with no Homa logic in GRO.
	HomaGRO bool
	// New builds the policy for a table with the given options.
	New func(t *Table, o Options) (Policy, error)
	// Oracle says the policy needs the driver's exact knowledge of queued
	// work (Options.Oracle): a reference for the simulator, not a policy a
	// real pipeline can run.
	Oracle bool
	// GROCores gives the policy's deployment: the cores whose NIC channels
	// feed GRO on a host of n cores. Nil means every core (one channel per
	// core, as Gen2 was deployed).
	GROCores func(n int, o Options) ([]int, error)
	// GROBusyNs is gro_busy_usecs as the policy is deployed: 0 for Gen2 and
	// 2 µs for Gen3 (the values of their deployments, HomaModule's balance.txt
	// "Gen3 layout as deployed"), the module's default 5 µs for the rest.
	GROBusyNs int64
}

// DeployedGROCores returns the GRO cores of a policy's deployment on n cores.
func (i Info) DeployedGROCores(n int, o Options) ([]int, error) {
	if i.GROCores != nil {
		return i.GROCores(n, o)
	}
	all := make([]int, n)
	for c := range all {
		all[c] = c
	}
	return all, nil
}

// gen3GROCores is the GRO cores of Gen3's layout (explicit or deployed).
func gen3GROCores(n int, o Options) ([]int, error) {
	if o.GROCores != nil {
		return o.GROCores, nil
	}
	groups := o.Gen3Groups
	if groups == nil {
		var err error
		if groups, err = DeployedGen3Groups(n); err != nil {
			return nil, err
		}
	}
	return GROCores(groups), nil
}

// catalog is fixed at compile time: policies are added here, never at run
// time, so that every driver and every result sees the same set.
var catalog = []Info{
	{Name: "rps", Rule: "Linux default: SoftIRQ core = hash of the flow (RPS); no Homa logic in GRO",
		GROBusyNs: DefaultGROBusyNs, New: func(t *Table, o Options) (Policy, error) { return rps{seed: o.HashSeed}, nil }},
	{Name: "same", Rule: "SoftIRQ on the GRO core", HomaGRO: true,
		GROBusyNs: DefaultGROBusyNs, New: func(*Table, Options) (Policy, error) { return same{}, nil }},
	{Name: "next", Rule: "SoftIRQ on the next core, circularly", HomaGRO: true,
		GROBusyNs: DefaultGROBusyNs, New: func(*Table, Options) (Policy, error) { return next{}, nil }},
	{Name: "idle", Rule: "of the next 4 cores, the one with the oldest last_active (first on ties)", HomaGRO: true,
		GROBusyNs: DefaultGROBusyNs, New: func(t *Table, o Options) (Policy, error) { return idle{scan: o.ScanCores}, nil }},
	{Name: "gen2", Rule: "first of the next 4 cores with no SoftIRQ backlog and no GRO in the busy window; none: rotate 1,2,3,4 per GRO core; chosen backlog +1", HomaGRO: true,
		GROBusyNs: 0, New: func(t *Table, o Options) (Policy, error) { return gen2{scan: o.ScanCores, busy: o.BusyNs}, nil }},
	{Name: "gen3", Rule: "first SoftIRQ core of the GRO core's group not app-active in the busy window, else the first; marks its last_active", HomaGRO: true,
		GROBusyNs: 2_000, New: newGen3, GROCores: gen3GROCores},
	{Name: "gen4", Rule: "GRO on Gen3's cores; SoftIRQ on an elastic pool of the other cores: stay on the last core while it has no backlog, else the least backlogged of 4 sampled; grow the pool under pressure, shrink it after 2 ms without", HomaGRO: true,
		GROBusyNs: DefaultGROBusyNs, New: newGen4, GROCores: gen3GROCores},
	{Name: "gen5", Rule: "gen4 with elastic GRO: channels on every even core, the RSS table spread over a prefix of them that grows after a long NAPI poll (≤ once per 20 µs) and shrinks after 2 ms without one", HomaGRO: true,
		GROBusyNs: DefaultGROBusyNs, New: newGen5, GROCores: gen5GROCores},
	{Name: "gen6", Rule: "gen5 with the RSS table balanced by load: every 200 µs up to 4 entries move from the busiest channel to the least busy; channels added above 40% GRO time, removed after 2 ms below 25%; the thread chooser avoids active GRO cores", HomaGRO: true,
		GROBusyNs: DefaultGROBusyNs, New: newGen6, GROCores: gen5GROCores},
	{Name: "oracle", Rule: "reference that cheats: the non-GRO core where the batch would start soonest, from the driver's exact knowledge of queued work (simulator only)", HomaGRO: true, Oracle: true,
		GROBusyNs: DefaultGROBusyNs, New: newOracle, GROCores: gen3GROCores},
	{Name: "oracle6", Rule: "the oracle's placement on gen6's deployment: gen6's balanced RSS table and thread chooser, each batch on the non-GRO core where it would start soonest (simulator only)", HomaGRO: true, Oracle: true,
		GROBusyNs: DefaultGROBusyNs, New: newOracle6, GROCores: gen5GROCores},
}

// Catalog lists every known policy, in the order the CLI shows them.
func Catalog() []Info { return append([]Info(nil), catalog...) }

// Names lists the names of every known policy, in catalog order.
func Names() []string {
	names := make([]string, len(catalog))
	for i, c := range catalog {
		names[i] = c.Name
	}
	return names
}

// Lookup finds a policy of the catalog by name.
func Lookup(name string) (Info, error) {
	for _, c := range catalog {
		if c.Name == name {
			return c, nil
		}
	}
	known := Names()
	sort.Strings(known)
	return Info{}, fmt.Errorf("unknown policy %q (known: %s)", name, strings.Join(known, ", "))
}

// rps is Linux's Receive Packet Steering: the SoftIRQ core is a hash of the
// flow scaled onto the cores (reciprocal_scale in get_rps_cpu), blind to load.
type rps struct{ seed uint64 }

func (rps) Name() string { return "rps" }
func (p rps) Pick(t *Table, _ int, flow uint32, _ int64) int {
	h := uint32(Mix64(uint64(flow) ^ p.seed))
	return int(uint64(h) * uint64(len(t.cores)) >> 32)
}

// same processes every batch on its GRO core (HOMA_GRO_SAME_CORE for all).
type same struct{}

func (same) Name() string                                { return "same" }
func (same) Pick(_ *Table, g int, _ uint32, _ int64) int { return g }

// next hands every batch to the core after its GRO core (HOMA_GRO_NEXT).
type next struct{}

func (next) Name() string { return "next" }
func (next) Pick(t *Table, g int, _ uint32, _ int64) int {
	if g+1 >= len(t.cores) {
		return 0
	}
	return g + 1
}

// idle is HOMA_GRO_IDLE: of the scan cores after the GRO core, the one whose
// last_active is oldest; the first in scan order on ties.
type idle struct{ scan int }

func (idle) Name() string { return "idle" }
func (p idle) Pick(t *Table, g int, _ uint32, _ int64) int {
	n := len(t.cores)
	best, bestTime := g, int64(0)
	c := g
	for i := 0; i < p.scan; i++ {
		if c++; c >= n {
			c = 0
		}
		if last := t.cores[c].lastActive.Load(); i == 0 || last < bestTime {
			best, bestTime = c, last
		}
	}
	return best
}

// gen2 is homa_gro_gen2: scan the cores after the GRO core circularly and
// take the first with no SoftIRQ backlog (≤ 0) whose last GRO is outside the
// busy window (now − last_gro ≥ busy). If every one is busy, rotate: the GRO
// core's offset goes 1, 2, …, scan, 1, … and the target is GRO core + offset.
// Either way the target's backlog is raised by one; it falls at the end of
// every SoftIRQ batch there.
type gen2 struct {
	scan int
	busy int64
}

func (gen2) Name() string { return "gen2" }
func (p gen2) Pick(t *Table, g int, _ uint32, now int64) int {
	n := len(t.cores)
	c := g
	for i := 0; i < p.scan; i++ {
		if c++; c >= n {
			c = 0
		}
		cs := &t.cores[c]
		if cs.backlog.Load() > 0 || now-cs.lastGRO.Load() < p.busy {
			continue
		}
		cs.backlog.Add(1)
		return c
	}
	rot := &t.cores[g].rotation
	off := rot.Load() + 1
	if off > int32(p.scan) {
		off = 1
	}
	rot.Store(off)
	c = (g + int(off)) % n
	t.cores[c].backlog.Add(1)
	return c
}

// gen3 is homa_gro_gen3: each GRO core owns a short list of SoftIRQ cores;
// take the first whose last_app_active is older than the busy window
// (now − last_app_active > busy), else the first of the list, and mark the
// choice's last_active so that the thread chooser steers application work
// away from it. A GRO core with no group uses the module's default list,
// core^1 (see compileGroups).
type gen3 struct {
	cands []candidates
	busy  int64
}

func newGen3(t *Table, o Options) (Policy, error) {
	groups := o.Gen3Groups
	if groups == nil {
		var err error
		if groups, err = DeployedGen3Groups(t.NumCores()); err != nil {
			return nil, err
		}
	}
	cands, err := compileGroups(groups, t.NumCores())
	if err != nil {
		return nil, err
	}
	return gen3{cands: cands, busy: o.BusyNs}, nil
}

func (gen3) Name() string { return "gen3" }
func (p gen3) Pick(t *Table, g int, _ uint32, now int64) int {
	list := &p.cands[g]
	core := int(list[0])
	if core < 0 {
		return g
	}
	for _, c := range list {
		if c < 0 {
			break
		}
		if now-t.cores[c].lastAppActive.Load() > p.busy {
			core = int(c)
			break
		}
	}
	t.cores[core].lastActive.Store(now)
	return core
}

// Mix64 is a strong 64-bit mixer (the SplitMix64 finalizer): drivers use it
// to derive RSS and RPS hashes from flow identifiers and a seed.
func Mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// FlowHash is the 32-bit hash of a flow (sender host, sender port) under a
// seed, as a NIC's Toeplitz hash would give: uniform, and stable for a flow.
func FlowHash(seed, sender, port uint64) uint32 {
	return uint32(Mix64(Mix64(seed^sender)^port) >> 32)
}
