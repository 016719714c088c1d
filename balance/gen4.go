package balance

import "fmt"

// Tunables of gen4, in ns where they are times.
const (
	gen4Sample     = 4         // pool cores sampled per decision
	gen4GrowGapNs  = 20_000    // at most one growth per 20 µs
	gen4ShrinkNs   = 2_000_000 // shrink after 2 ms without pressure…
	gen4ShrinkGap  = 1_000_000 // …and at most once per 1 ms
	gen4MinPoolDiv = 4         // the pool never shrinks below a quarter of its cores (at least one)
	// gen4QueueBatches: a decision under pressure is one whose best sampled
	// core already has a batch waiting behind the one it runs.
	gen4QueueBatches = 1
)

// gen4 is homalb's own policy. It differs from Gen2 and Gen3 in three ways:
//
//  1. It steers by queued work, not by recency: a core's backlog (batches
//     handed to it and not yet finished) says whether a batch would wait;
//     last_active only breaks ties. Gen2's "no GRO within 100 µs" test
//     rejects every core of a busy host and falls back to blind rotation;
//     Gen3's app-activity test lets one core take all of a group's work.
//  2. It keeps a GRO core's batches on the same SoftIRQ core while that core
//     keeps up (backlog ≤ 0), so a message's packets are processed where its
//     state is warm, and moves only when a queue forms.
//  3. The pool of SoftIRQ cores is elastic: the non-GRO cores in a fixed
//     order, of which only a prefix is used. The prefix grows by one core
//     when a decision finds every sampled core backlogged (at most every
//     20 µs) and shrinks by one after 2 ms without such pressure (at most
//     every 1 ms): the asymmetric rates are the hysteresis that keeps it
//     from oscillating. At low load protocol work stays on few cores.
//
// Like Gen3 it marks the chosen core's last_active, so that the thread
// chooser hands messages to threads elsewhere. GRO runs on Gen3's cores.
type gen4 struct {
	pool []int32     // SoftIRQ cores in order of preference
	pos  []int32     // core → its position in pool, or a value ≥ len(pool)
	size elasticSize // the pool prefix in use; pressure: every sampled core has a batch queued
}

func newGen4(t *Table, o Options) (Policy, error) {
	n := t.NumCores()
	gro, err := gen3GROCores(n, o)
	if err != nil {
		return nil, err
	}
	isGRO := make([]bool, n)
	for _, c := range gro {
		isGRO[c] = true
	}
	// Preference order: the first candidate of every Gen3 group, then the
	// second of every group, …, then any other core; so a small pool is
	// spread over the groups' neighbourhoods.
	var pool []int32
	seen := make([]bool, n)
	groups := o.Gen3Groups
	if groups == nil {
		groups, _ = DeployedGen3Groups(n) // none when n is not a multiple of 4: the pool is every non-GRO core
	}
	for j := 0; j < MaxGen3Candidates; j++ {
		for _, g := range groups {
			if j < len(g.SoftIRQ) && g.SoftIRQ[j] >= 0 && !seen[g.SoftIRQ[j]] && !isGRO[g.SoftIRQ[j]] {
				seen[g.SoftIRQ[j]] = true
				pool = append(pool, int32(g.SoftIRQ[j]))
			}
		}
	}
	for c := 0; c < n; c++ {
		if !seen[c] && !isGRO[c] {
			pool = append(pool, int32(c))
		}
	}
	if len(pool) == 0 {
		return nil, fmt.Errorf("every core does GRO; no core left for SoftIRQ")
	}
	pos := make([]int32, n)
	for c := range pos {
		pos[c] = int32(n + 1)
	}
	for i, c := range pool {
		pos[c] = int32(i)
	}
	p := &gen4{pool: pool, pos: pos}
	p.size.init(int32(max(1, len(pool)/gen4MinPoolDiv)), int32(len(pool)))
	return p, nil
}

func (*gen4) Name() string { return "gen4" }

// ActiveCores reports how many pool cores gen4 uses now (for telemetry).
func (p *gen4) ActiveCores() int { return int(p.size.size()) }

func (p *gen4) Pick(t *Table, g int, flow uint32, now int64) int {
	k := p.size.relax(p.size.size(), now)
	gs := &t.cores[g]
	if last := gs.lastPick.Load(); last >= 0 && p.pos[last] < k && t.cores[last].backlog.Load() <= 0 {
		return p.take(t, gs, last, now)
	}
	// Sample gen4Sample cores of the prefix from a pseudo-random start: a
	// hash of the GRO core, the flow and the time, so that the decision is
	// deterministic yet GRO cores do not all probe the same cores.
	start := int32(uint64(uint32(Mix64(uint64(now)^uint64(flow)<<20^uint64(g)))) * uint64(k) >> 32)
	best := p.pool[start]
	bb, ba := t.cores[best].backlog.Load(), t.cores[best].lastActive.Load()
	for i := int32(1); i < min(gen4Sample, k); i++ {
		j := start + i
		if j >= k {
			j -= k
		}
		c := p.pool[j]
		b, a := t.cores[c].backlog.Load(), t.cores[c].lastActive.Load()
		if b < bb || b == bb && a < ba {
			best, bb, ba = c, b, a
		}
	}
	if bb > gen4QueueBatches && p.size.press(k, now) {
		best = p.pool[k] // the core just added is idle: use it
	}
	return p.take(t, gs, best, now)
}

func (p *gen4) take(t *Table, gs *coreState, c int32, now int64) int {
	if gs.lastPick.Load() != c { // a locked store only when it changes
		gs.lastPick.Store(c)
	}
	cs := &t.cores[c]
	cs.backlog.Add(1)
	cs.lastActive.Store(now)
	return int(c)
}
