package balance

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// gen6 tunables.
const (
	// gen6PeriodNs: the table is rebalanced, and the channel count
	// reconsidered, once per period.
	gen6PeriodNs = 200_000
	// gen6Moves: at most this many entries move per rebalance, so that a
	// burst never reshuffles the table.
	gen6Moves = 4
	// gen6GrowPct, gen6ShrinkPct: GRO time over a period, in percent of the
	// active channels' time, above which a channel is added; below which,
	// counted over one channel fewer, the channels count as calm (2 ms of
	// calm removes one, as gen4's pool).
	gen6GrowPct   = 40
	gen6ShrinkPct = 25
)

// gen6 is gen5 with the RSS table balanced by measured load and with the
// thread chooser kept off the GRO cores. It answers two things the
// simulator showed about gen5 on a host whose GRO is slow (c6525-100g):
//
//  1. RSS hashes by sender, and an even spread of the table's entries is not
//     an even spread of senders: a few channels carry two or three busy
//     senders while others idle. gen6 counts packets per table entry (the RX
//     descriptor carries the hash, as RSS++ counts them) and every 200 µs
//     moves up to 4 entries from the busiest active channel to the least
//     busy, each move at most half their difference, so it converges
//     without ping-pong. A channel saturated by one sender's large message
//     cannot be split, but its other senders are moved away from it.
//  2. With application threads everywhere, a thread handed a message on a
//     core that runs GRO continuously makes Linux defer that core's softirq
//     work to ksoftirqd, which then waits milliseconds behind the thread.
//     gen6's thread chooser takes a waiter on a core without an active
//     channel whenever there is one.
//
// The number of active channels follows one signal, the GRO time of the last
// period against the capacity of the active channels: above 40% a channel
// is added (at most every 20 µs), below 25% of one channel fewer for 2 ms
// one is removed (at most every 1 ms). A single burst cannot grow it, only
// sustained load. SoftIRQ work goes to the odd cores with gen4's rule.
type gen6 struct {
	*gen5          // its deployment, its SoftIRQ pool and its channel count (chans)
	chanOf []int32 // core → its channel, or −1

	table [RSSEntries]atomic.Int32 // entry → channel
	count [RSSEntries]atomic.Int64 // packets per entry since the last rebalance
	groNs atomic.Int64             // GRO time of every poll since the last rebalance
	next  atomic.Int64             // when the next rebalance is due
	ver   atomic.Uint64            // a seqlock over the table: odd while a rebalance moves entries

	mu     sync.Mutex // held by the one rebalance in progress; guards the fields below
	last   int64      // when the last rebalance ran
	load   [RSSEntries]int64
	chLoad []int64
}

func newGen6(t *Table, o Options) (Policy, error) {
	p5, err := newGen5(t, o)
	if err != nil {
		return nil, err
	}
	gro, _ := gen5GROCores(t.NumCores(), o) // newGen5 accepted it
	p := &gen6{gen5: p5.(*gen5), chanOf: make([]int32, t.NumCores()), chLoad: make([]int64, len(gro))}
	for c := range p.chanOf {
		p.chanOf[c] = -1
	}
	for ch, c := range gro {
		p.chanOf[c] = int32(ch)
	}
	for e := range p.table {
		p.table[e].Store(int32(e) % p.chans.min)
	}
	p.last = Never
	return p, nil
}

func (*gen6) Name() string { return "gen6" }

// Steer counts a packet of entry e and returns the entry's channel. The
// packet that finds a rebalance due runs it; others never wait for it.
func (p *gen6) Steer(e int, now int64) int {
	p.count[e].Add(1)
	if now >= p.next.Load() && p.mu.TryLock() {
		p.rebalance(now)
		p.mu.Unlock()
	}
	return int(p.table[e].Load())
}

// RSSTable copies the table as one rebalance left it; the version counts
// the rebalances that moved an entry.
func (p *gen6) RSSTable(dst *[RSSEntries]int32) uint64 {
	for {
		v := p.ver.Load()
		if v&1 == 1 {
			runtime.Gosched() // a rebalance is moving entries: a few µs
			continue
		}
		for e := range dst {
			dst[e] = p.table[e].Load()
		}
		if p.ver.Load() == v {
			return v / 2
		}
	}
}

// move points entry e at channel ch; the first move of a rebalance opens
// the seqlock that RSSTable reads under (rebalance closes it).
func (p *gen6) move(e int, ch int32, moved *bool) {
	if !*moved {
		p.ver.Add(1)
		*moved = true
	}
	p.table[e].Store(ch)
}

// NAPIPollEnd adds a poll's GRO time to the period's.
func (p *gen6) NAPIPollEnd(_, _, _ int, busyNs, _ int64) {
	p.groNs.Add(busyNs)
}

// rebalance resizes the active channels and moves entries between them; the
// caller holds p.mu.
func (p *gen6) rebalance(now int64) {
	if now < p.next.Load() {
		return // another caller ran it
	}
	period := int64(gen6PeriodNs)
	if p.last != Never {
		period = max(now-p.last, 1)
	}
	p.last = now
	p.next.Store(now + gen6PeriodNs)

	k := p.chans.size()
	busy := p.groNs.Swap(0) * 100
	switch {
	case busy > gen6GrowPct*int64(k)*period:
		if p.chans.press(k, now) {
			k++
		}
	case busy >= gen6ShrinkPct*int64(k-1)*period:
		p.chans.hold(now) // one channel fewer would be too busy: not calm
	default:
		k = p.chans.relax(k, now)
	}

	// Per-entry load: packets, decayed by a quarter per period (a memory of
	// about a millisecond, the length of a large message's burst).
	load := p.chLoad[:k]
	clear(load)
	for e := range p.table {
		p.load[e] += p.count[e].Swap(0) - p.load[e]/4
		if ch := p.table[e].Load(); ch < k {
			load[ch] += p.load[e]
		}
	}
	// Entries of a channel just removed go to the least loaded ones.
	moved := false
	defer func() {
		if moved {
			p.ver.Add(1)
		}
	}()
	for e := range p.table {
		if p.table[e].Load() >= k {
			lo := argMin(load)
			p.move(e, int32(lo), &moved)
			load[lo] += p.load[e]
		}
	}
	for range gen6Moves {
		hi, lo := argMax(load), argMin(load)
		half := (load[hi] - load[lo]) / 2
		best := -1
		for e := range p.table {
			if l := p.load[e]; l > 0 && l <= half && int(p.table[e].Load()) == hi && (best < 0 || l > p.load[best]) {
				best = e
			}
		}
		if best < 0 {
			return
		}
		p.move(best, int32(lo), &moved)
		load[hi] -= p.load[best]
		load[lo] += p.load[best]
	}
}

// avoidsThreadsOn reports whether core runs an active channel: the thread
// chooser hands messages to threads elsewhere when it can.
func (p *gen6) avoidsThreadsOn(core int) bool {
	ch := p.chanOf[core]
	return ch >= 0 && ch < p.chans.size()
}

func argMax(xs []int64) int {
	i := 0
	for j, x := range xs {
		if x > xs[i] {
			i = j
		}
	}
	return i
}

func argMin(xs []int64) int {
	i := 0
	for j, x := range xs {
		if x < xs[i] {
			i = j
		}
	}
	return i
}
