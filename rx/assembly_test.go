package rx

import (
	"math/rand/v2"
	"testing"
	"testing/quick"
)

func TestAssemblyInOrder(t *testing.T) {
	var a assembly
	a.reset(3000)
	for _, seg := range [][2]uint32{{0, 1424}, {1424, 1424}, {2848, 152}} {
		if r := a.add(seg[0], seg[1]); r != addNew {
			t.Fatalf("add %v = %v", seg, r)
		}
	}
	if !a.complete() || a.ngaps != 0 {
		t.Errorf("complete=%v gaps=%d", a.complete(), a.ngaps)
	}
}

func TestAssemblyGapsAndDuplicates(t *testing.T) {
	var a assembly
	a.reset(10)
	steps := []struct {
		off, n uint32
		want   addResult
		gaps   int
	}{
		{8, 2, addNew, 1}, // gap [0,8)
		{8, 2, addDup, 1},
		{3, 2, addNew, 2}, // split: [0,3) [5,8)
		{0, 3, addNew, 1}, // fills [0,3)
		{4, 2, addDup, 1}, // overlaps received 4
		{7, 1, addNew, 1}, // shrinks [5,8) to [5,7)
		{5, 2, addNew, 0},
	}
	for i, s := range steps {
		if r := a.add(s.off, s.n); r != s.want || a.ngaps != s.gaps {
			t.Fatalf("step %d add(%d,%d) = %v with %d gaps, want %v with %d", i, s.off, s.n, r, a.ngaps, s.want, s.gaps)
		}
	}
	if !a.complete() {
		t.Errorf("not complete: have %d of %d", a.have, a.length)
	}
}

func TestAssemblyGapLimit(t *testing.T) {
	var a assembly
	a.reset(1000)
	for i := uint32(0); i < maxGaps; i++ {
		if r := a.add(2*i+1, 1); r != addNew {
			t.Fatalf("gap %d: %v", i, r)
		}
	}
	if r := a.add(2*maxGaps+1, 1); r != addGaps {
		t.Errorf("gap %d past the limit: %v", maxGaps+1, r)
	}
	if r := a.add(0, 1); r != addNew { // filling a hole is still fine
		t.Errorf("fill: %v", r)
	}
}

// TestAssemblyQuick checks the gap list against a naive byte map: the same
// verdict for every segment and the same completion, over random orders of
// a message cut into segments, with duplicates.
func TestAssemblyQuick(t *testing.T) {
	f := func(seed uint64, lenSeed uint16, segSeed uint8) bool {
		rng := rand.New(rand.NewPCG(seed, 1))
		length := uint32(lenSeed)%5000 + 1
		seg := uint32(segSeed)%700 + 1
		var offs []uint32
		for o := uint32(0); o < length; o += seg {
			offs = append(offs, o)
		}
		for i := 0; i < len(offs)/2; i++ { // duplicates
			offs = append(offs, offs[rng.IntN(len(offs))])
		}
		rng.Shuffle(len(offs), func(i, j int) { offs[i], offs[j] = offs[j], offs[i] })
		var a assembly
		a.reset(length)
		got := make([]bool, length)
		for _, o := range offs {
			n := min(seg, length-o)
			fresh := true
			for i := o; i < o+n; i++ {
				fresh = fresh && !got[i]
			}
			r := a.add(o, n)
			if r == addGaps {
				continue // the naive map has no limit: skip
			}
			if (r == addNew) != fresh {
				return false
			}
			if r == addNew {
				for i := o; i < o+n; i++ {
					got[i] = true
				}
			}
		}
		all := true
		have := uint32(0)
		for _, g := range got {
			all = all && g
			if g {
				have++
			}
		}
		return a.complete() == all && a.have == have
	}
	if err := quick.Check(f, &quick.Config{MaxCount: 500}); err != nil {
		t.Error(err)
	}
}
