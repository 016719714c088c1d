package sim

import (
	"math/rand/v2"
	"sort"
	"testing"
)

// TestEventQueueMatchesSort checks the queue against a naive reference under
// random interleavings of pushes and pops, with delays from 0 ns to seconds
// so that same-time ties, the wheel, the far heap and the migrations between
// them are all exercised.
func TestEventQueueMatchesSort(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	scales := []int64{1, 64, 5000, horizon, 10 * horizon, 1e9}
	for round := 0; round < 200; round++ {
		var q eventQueue
		var ref []event
		now := int64(r.IntN(1e6))
		q.advance(now &^ (1<<bucketShift - 1))
		for op := 0; op < 2000; op++ {
			if len(ref) == 0 || r.IntN(5) < 3 {
				d := r.Int64N(scales[r.IntN(len(scales))])
				q.push(now+d, evArrival, int32(op), 0)
				// The reference stays sorted: insert in order (a sort per
				// pop made this the slowest test of the package).
				e := event{t: now + d, seqKind: q.seq << 8, a: int32(op)}
				i := sort.Search(len(ref), func(i int) bool { return e.before(&ref[i]) })
				ref = append(ref, event{})
				copy(ref[i+1:], ref[i:])
				ref[i] = e
				continue
			}
			got, want := q.pop(), ref[0]
			ref = ref[1:]
			if got.t != want.t || got.seqKind>>8 != want.seqKind>>8 || got.a != want.a {
				t.Fatalf("round %d op %d: popped (t=%d a=%d), want (t=%d a=%d)", round, op, got.t, got.a, want.t, want.a)
			}
			now = got.t
			if q.Len() != len(ref) {
				t.Fatalf("Len %d, want %d", q.Len(), len(ref))
			}
		}
	}
}

// BenchmarkEventQueue measures a push and a pop at a steady queue length of
// 64 (the mean in the default scenario) with delays like the model's: the
// timing wheel against the plain 4-ary heap it replaced.
func BenchmarkEventQueue(b *testing.B) {
	delays := make([]int64, 4096)
	r := rand.New(rand.NewPCG(1, 1))
	for i := range delays {
		delays[i] = 300 + r.Int64N(3000)
		if i%16 == 0 {
			delays[i] = 50_000 // poll deadlines
		}
	}
	b.Run("wheel", func(b *testing.B) {
		var q eventQueue
		for i := 0; i < 64; i++ {
			q.push(delays[i], evCoreStep, 0, 0)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			e := q.pop()
			q.push(e.t+delays[i&4095], evCoreStep, 0, 0)
		}
	})
	b.Run("heap", func(b *testing.B) {
		var f farHeap
		var seq uint64
		for i := 0; i < 64; i++ {
			seq++
			f.push(event{t: delays[i], seqKind: seq << 8})
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			e := f.pop()
			seq++
			f.push(event{t: e.t + delays[i&4095], seqKind: seq << 8})
		}
	})
}
