package balance

import (
	"math/rand/v2"
	"testing"
)

// TestGen5ChannelRule drives gen5's elastic RSS with random NAPI polls over
// bursts and lulls and checks its contract: the active channels stay within
// [a quarter of the deployment, all of it], change by one at a time, grow at
// most once per 20 µs and only after a long poll, and shrink only after 2 ms
// without one. SoftIRQ batches never go to a GRO-capable core.
func TestGen5ChannelRule(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	for _, n := range []int{2, 8, 20, 48} {
		tab, _ := NewTable(n)
		b, err := New("gen5", tab, DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		e := b.RSS()
		if e == nil {
			t.Fatal("gen5 has no elastic RSS")
		}
		p := b.Policy().(*gen5)
		now, lastGrow, lastPressure := int64(1e6), Never, Never
		prev := p.ActiveChannels()
		for i := 0; i < 20000; i++ {
			burst := (i/3000)%2 == 0
			if burst {
				now += int64(r.IntN(5000))
			} else {
				now += int64(r.IntN(500_000))
			}
			polled, left := 1+r.IntN(8), 0
			if burst && r.IntN(4) == 0 {
				polled, left = 64, r.IntN(10)
			}
			g := 2 * r.IntN(n/2)
			e.NAPIPollEnd(g, polled, left, 0, now)
			if polled >= gen5PollPressure || left > 0 {
				lastPressure = now
			}
			k := p.ActiveChannels()
			switch {
			case k > prev+1 || k < prev-1:
				t.Fatalf("n=%d: channels jumped %d → %d", n, prev, k)
			case k == prev+1:
				if now-lastGrow < gen4GrowGapNs || lastPressure != now {
					t.Fatalf("n=%d: grew without a long poll or within 20 µs", n)
				}
				lastGrow = now
			case k == prev-1 && now-lastPressure < gen4ShrinkNs:
				t.Fatalf("n=%d: shrank %d ns after pressure", n, now-lastPressure)
			}
			if k < int(p.chans.min) || k > int(p.chans.max) {
				t.Fatalf("n=%d: %d channels outside [%d,%d]", n, k, p.chans.min, p.chans.max)
			}
			prev = k
			if c := b.SoftIRQCore(g, r.Uint32(), 5, now); c%2 == 0 {
				t.Fatalf("n=%d: batch sent to GRO-capable core %d", n, c)
			}
		}
	}
}

// TestGen5RSSTable: gen5's table is entry mod the active channels, and its
// version is their number.
func TestGen5RSSTable(t *testing.T) {
	tab, _ := NewTable(48)
	b, _ := New("gen5", tab, DefaultOptions())
	s, p := b.RSS(), b.Policy().(*gen5)
	now := int64(1e6)
	for range 3 { // grow by three channels
		now += gen4GrowGapNs
		s.NAPIPollEnd(0, 64, 1, 0, now)
	}
	var dst [RSSEntries]int32
	v := s.RSSTable(&dst)
	k := p.ActiveChannels()
	if v != uint64(k) || k != int(p.chans.min)+3 {
		t.Fatalf("version %d, %d channels (min %d)", v, k, p.chans.min)
	}
	for e, ch := range dst {
		if int(ch) != e%k || s.Steer(e, now) != e%k {
			t.Fatalf("entry %d: table %d, Steer %d, want %d", e, ch, s.Steer(e, now), e%k)
		}
	}
}
