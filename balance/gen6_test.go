package balance

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func newGen6Policy(t *testing.T, n int) (*Balancer, *gen6) {
	t.Helper()
	tab, _ := NewTable(n)
	b, err := New("gen6", tab, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if b.RSS() == nil {
		t.Fatal("gen6 does not steer the RSS table")
	}
	return b, b.Policy().(*gen6)
}

func (p *gen6) snapshotTable() []int32 {
	s := make([]int32, RSSEntries)
	for e := range s {
		s[e] = p.table[e].Load()
	}
	return s
}

// TestGen6BalancesTable feeds gen6 a steady stream from senders whose
// entries collide on a few channels, holding the channel count fixed, and
// checks the rebalancing contract: every entry always maps to an active
// channel, at most 4 entries move per rebalance, RSSTable's copy and version
// follow every move, and the busiest channel ends within 25% of the best any
// assignment could do.
func TestGen6BalancesTable(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 6))
	b, p := newGen6Policy(t, 48)
	e := b.RSS()
	k := p.ActiveChannels() // 6: a quarter of 24 channels
	// 30 senders, all hashed onto entries of the first two channels, with
	// rates of 1 to 8 packets per µs-step.
	rate := map[int]int{}
	for len(rate) < 30 {
		ent := r.IntN(RSSEntries/k) * k // entries ≡ 0 (mod k): channel 0 at start
		if len(rate)%2 == 1 {
			ent++ // …or channel 1
		}
		rate[ent] = 1 + r.IntN(8)
	}
	entries := make([]int, 0, len(rate))
	for ent := range rate {
		entries = append(entries, ent)
	}
	slices.Sort(entries)
	now, prev, rebalances := int64(1_000_000), p.snapshotTable(), 0
	var scratch [RSSEntries]int32
	version := e.RSSTable(&scratch)
	for step := 0; step < 20_000; step++ { // 20 ms of 1 µs steps
		now += 1000
		for _, ent := range entries {
			for range rate[ent] {
				if ch := e.Steer(ent, now); ch >= p.ActiveChannels() {
					t.Fatalf("entry %d steered to inactive channel %d", ent, ch)
				}
			}
		}
		// GRO time that keeps k channels between the thresholds: no resize.
		e.NAPIPollEnd(0, 1, 0, int64(k)*1000*30/100, now)
		if got := p.ActiveChannels(); got != k {
			t.Fatalf("channel count moved %d → %d with GRO at 30%%", k, got)
		}
		cur := p.snapshotTable()
		moved := 0
		for i := range cur {
			if cur[i] != prev[i] {
				moved++
			}
		}
		var copied [RSSEntries]int32
		v := e.RSSTable(&copied)
		if !slices.Equal(copied[:], cur) {
			t.Fatal("RSSTable's copy differs from the table")
		}
		if moved > 0 {
			rebalances++
			if v <= version {
				t.Fatalf("entries moved but the version stayed %d", v)
			}
		} else if v != version {
			t.Fatalf("version moved %d → %d with no entry moved", version, v)
		}
		version = v
		if moved > gen6Moves {
			t.Fatalf("%d entries moved in one rebalance", moved)
		}
		prev = cur
	}
	if rebalances == 0 {
		t.Fatal("the table never changed")
	}
	load := make([]int, k)
	total, biggest := 0, 0
	for _, ent := range entries {
		load[p.table[ent].Load()] += rate[ent]
		total += rate[ent]
		biggest = max(biggest, rate[ent])
	}
	best := max(biggest, (total+k-1)/k)
	if busiest := slices.Max(load); busiest*4 > best*5 {
		t.Errorf("busiest channel carries %d of %d packets/µs on %d channels (per-channel %v); best possible %d", busiest, total, k, load, best)
	}
}

// TestGen6ChannelCount drives gen6's channel count with GRO time alone: above
// 40% of the active channels it grows by one per rebalance; one saturated
// channel among several does not grow it; below 25% of one channel fewer it
// shrinks, one at a time, only after 2 ms, at most once per ms; it stays
// within [a quarter of the deployment, all of it].
func TestGen6ChannelCount(t *testing.T) {
	b, p := newGen6Policy(t, 48)
	e := b.RSS()
	lo, hi := int(p.chans.min), int(p.chans.max)
	now := int64(1_000_000)
	// period runs one rebalance period with GRO busy for frac of k channels.
	period := func(frac float64) (before, after int) {
		before = p.ActiveChannels()
		now += gen6PeriodNs
		e.NAPIPollEnd(0, 1, 0, int64(frac*float64(before)*gen6PeriodNs), now)
		e.Steer(0, now)
		return before, p.ActiveChannels()
	}
	// One channel saturated, the others idle: splitting cannot help.
	for range 20 {
		if before, after := period(1 / float64(lo)); after != before {
			t.Fatalf("one busy channel grew the count %d → %d", before, after)
		}
	}
	for range 2 * hi {
		before, after := period(0.6)
		if after != min(before+1, hi) {
			t.Fatalf("at 60%% GRO the count went %d → %d", before, after)
		}
	}
	if got := p.ActiveChannels(); got != hi {
		t.Fatalf("count %d after sustained load, want %d", got, hi)
	}
	// Calm: 10% of the channels. No shrink for 2 ms, then one per ms.
	calmFrom, lastShrink := now, Never
	for p.ActiveChannels() > lo {
		before, after := period(0.1)
		switch {
		case after < before-1:
			t.Fatalf("shrank %d → %d at once", before, after)
		case after == before-1:
			if now-calmFrom < gen4ShrinkNs || now-lastShrink < gen4ShrinkGap {
				t.Fatalf("shrank %d ns into the calm, %d ns after the last shrink", now-calmFrom, now-lastShrink)
			}
			lastShrink = now
		}
		if now-calmFrom > 100*gen4ShrinkNs {
			t.Fatalf("still %d channels after 200 ms of calm", p.ActiveChannels())
		}
	}
	for range 50 {
		if _, after := period(0); after != lo {
			t.Fatalf("count %d below the minimum %d", after, lo)
		}
	}
	// Every entry is on an active channel after all the shrinking.
	for ent := range RSSEntries {
		if ch := e.Steer(ent, now); ch >= lo {
			t.Fatalf("entry %d on channel %d of %d", ent, ch, lo)
		}
	}
}

// TestGen6Errors: gen6 refuses hosts it cannot deploy on, with an error that
// names gen6 and the reason, not the policies it is built from.
func TestGen6Errors(t *testing.T) {
	one, _ := NewTable(1)
	two, _ := NewTable(2)
	allGRO := DefaultOptions()
	allGRO.GROCores = []int{0, 1}
	for _, c := range []struct {
		tab  *Table
		o    Options
		want string
	}{
		{one, DefaultOptions(), "policy gen6: needs at least 2 cores"},
		{two, allGRO, "policy gen6: every core does GRO"},
	} {
		_, err := New("gen6", c.tab, c.o)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%d cores, GRO on %v: error %v, want one starting %q", c.tab.NumCores(), c.o.GROCores, err, c.want)
		}
	}
}
