package balance

import (
	"math/rand/v2"
	"testing"
)

// TestGen4Invariants drives gen4 with random batches, batch ends and times
// on both profiles' core counts and checks its contract: it never hands a
// multi-packet batch to a GRO core, it only uses the active prefix of its
// pool, the prefix changes by one core at a time, grows at most once per
// 20 µs, and shrinks only after 2 ms without pressure.
func TestGen4Invariants(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	for _, n := range []int{8, 20, 48} {
		tab, _ := NewTable(n)
		b, err := New("gen4", tab, DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		p := b.Policy().(*gen4)
		gro, _ := gen3GROCores(n, DefaultOptions())
		isGRO := map[int]bool{}
		for _, c := range gro {
			isGRO[c] = true
		}
		now := int64(1e6)
		prevK, lastGrowAt := p.ActiveCores(), Never
		lastPressure := Never
		for i := 0; i < 20000; i++ {
			// bursts and lulls: the load varies over time
			if (i/2000)%2 == 0 {
				now += int64(r.IntN(3000))
			} else {
				now += int64(r.IntN(400_000))
			}
			if r.IntN(3) == 0 {
				tab.SoftIRQEnd(int(p.pool[r.IntN(len(p.pool))]), now)
				continue
			}
			g := gro[r.IntN(len(gro))]
			c := b.SoftIRQCore(g, r.Uint32(), 2+r.IntN(19), now)
			k := p.ActiveCores()
			if isGRO[c] {
				t.Fatalf("n=%d: batch sent to GRO core %d", n, c)
			}
			if p.pos[c] >= int32(k) && !(k < prevK && p.pos[c] < int32(prevK)) {
				t.Fatalf("n=%d: core %d outside the active prefix of %d", n, c, k)
			}
			if p.size.pressure.Load() == now {
				lastPressure = now
			}
			switch {
			case k > prevK+1 || k < prevK-1:
				t.Fatalf("n=%d: prefix jumped %d → %d", n, prevK, k)
			case k == prevK+1:
				if now-lastGrowAt < gen4GrowGapNs {
					t.Fatalf("n=%d: grew twice within %d ns", n, now-lastGrowAt)
				}
				lastGrowAt = now
			case k == prevK-1:
				if now-lastPressure < gen4ShrinkNs {
					t.Fatalf("n=%d: shrank %d ns after pressure", n, now-lastPressure)
				}
			}
			if k < int(p.size.min) || k > len(p.pool) {
				t.Fatalf("n=%d: prefix %d outside [%d,%d]", n, k, p.size.min, len(p.pool))
			}
			prevK = k
		}
	}
}
