package sim

import (
	"sort"
	"testing"
	"testing/quick"
)

// TestEventQueueMatchesSort checks the heap against a naive reference: pushing
// events in any order and popping them all yields them sorted by (time,
// sequence), with interleaved pushes and pops.
func TestEventQueueMatchesSort(t *testing.T) {
	f := func(times []uint8, popEvery uint8) bool {
		var q eventQueue
		var ref []event
		var got, want []event
		for i, tm := range times {
			q.push(int64(tm), evArrival, int32(i), 0)
			ref = append(ref, event{t: int64(tm), seq: q.seq, a: int32(i)})
			if popEvery > 0 && i%int(popEvery) == 0 {
				got = append(got, q.pop())
				sort.Slice(ref, func(a, b int) bool { return ref[a].before(&ref[b]) })
				want = append(want, ref[0])
				ref = ref[1:]
			}
		}
		for q.Len() > 0 {
			got = append(got, q.pop())
		}
		sort.Slice(ref, func(a, b int) bool { return ref[a].before(&ref[b]) })
		want = append(want, ref...)
		if len(got) != len(want) {
			return false
		}
		for i := range got {
			if got[i].t != want[i].t || got[i].seq != want[i].seq || got[i].a != want[i].a {
				return false
			}
		}
		return true
	}
	cfg := &quick.Config{MaxCount: 500}
	if err := quick.Check(f, cfg); err != nil {
		t.Fatal(err)
	}
}
