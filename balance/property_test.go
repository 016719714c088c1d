package balance

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// refState is a plain copy of the table for the reference implementations.
type refState []CoreState

func snapshot(t *Table) refState {
	s := make(refState, t.NumCores())
	for i := range s {
		s[i] = t.Core(i)
	}
	return s
}

// following lists the k cores after g, circularly, the naive way.
func following(g, k, n int) []int {
	out := make([]int, k)
	for i := range out {
		out[i] = (g + 1 + i) % n
	}
	return out
}

// refPick is a naive reference of every policy's Pick, written from
// HomaModule's rules (homa_offload.c) without looking at the optimised code. It mutates s
// the way the rules say the decision does.
func refPick(name string, s refState, o Options, groups []Group, g int, flow uint32, now int64) int {
	n := len(s)
	switch name {
	case "rps":
		return int(uint64(uint32(Mix64(uint64(flow)^o.HashSeed))) * uint64(n) >> 32)
	case "same":
		return g
	case "next":
		return (g + 1) % n
	case "idle":
		cands := following(g, o.ScanCores, n)
		best := cands[0]
		for _, c := range cands[1:] {
			if s[c].LastActive < s[best].LastActive {
				best = c
			}
		}
		return best
	case "gen2":
		for _, c := range following(g, o.ScanCores, n) {
			busy := s[c].Backlog > 0 || now-s[c].LastGRO < o.BusyNs
			if !busy {
				s[c].Backlog++
				return c
			}
		}
		off := int(s[g].Rotation)%o.ScanCores + 1
		s[g].Rotation = int32(off)
		c := (g + off) % n
		s[c].Backlog++
		return c
	case "gen3":
		var cands []int
		for _, grp := range groups {
			if grp.GRO == g {
				for _, c := range grp.SoftIRQ {
					if c < 0 {
						break
					}
					cands = append(cands, c)
				}
			}
		}
		if len(cands) == 0 && g^1 < n {
			cands = []int{g ^ 1} // HomaModule's default candidate list
		}
		if len(cands) == 0 {
			return g
		}
		choice := cands[0]
		for _, c := range cands {
			if s[c].LastAppActive+o.BusyNs < now {
				choice = c
				break
			}
		}
		s[choice].LastActive = now
		return choice
	}
	panic("no reference for " + name)
}

func randomState(r *rand.Rand, t *Table, now int64, scan int) {
	for c := 0; c < t.NumCores(); c++ {
		at := func() int64 {
			switch r.IntN(4) {
			case 0:
				return Never
			case 1: // right at the busy window's edges
				return now - DefaultBusyNs + int64(r.IntN(3)) - 1
			default:
				return now - int64(r.IntN(int(3*DefaultBusyNs)))
			}
		}
		t.SetCore(c, CoreState{
			LastGRO: at(), LastActive: at(), LastAppActive: at(),
			Backlog:  int32(r.IntN(5)) - 2,
			Rotation: int32(r.IntN(scan + 1)),
		})
	}
}

// TestPoliciesMatchReference checks every policy against the naive reference
// over random tables, GRO cores, flows and times, including the resulting
// table state.
func TestPoliciesMatchReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, name := range []string{"rps", "same", "next", "idle", "gen2", "gen3"} {
		for _, n := range []int{1, 2, 3, 4, 8, 20, 48} {
			for _, scan := range []int{1, 4, 6} {
				o := DefaultOptions()
				o.ScanCores = scan
				o.HashSeed = r.Uint64()
				var groups []Group
				if name == "gen3" {
					if n%4 != 0 {
						continue
					}
					groups, _ = DeployedGen3Groups(n)
				}
				tab, _ := NewTable(n)
				b, err := New(name, tab, o)
				if err != nil {
					t.Fatalf("%s on %d cores: %v", name, n, err)
				}
				for i := 0; i < 2000; i++ {
					now := int64(1_000_000 + r.IntN(1_000_000))
					randomState(r, tab, now, scan)
					want := snapshot(tab)
					g, flow := r.IntN(n), r.Uint32()
					got := b.Policy().Pick(tab, g, flow, now)
					wantCore := refPick(name, want, o, groups, g, flow, now)
					if got != wantCore {
						t.Fatalf("%s n=%d scan=%d g=%d now=%d: picked %d, reference %d\nstate %+v", name, n, scan, g, now, got, wantCore, want)
					}
					if after := snapshot(tab); !equalState(after, want) {
						t.Fatalf("%s n=%d g=%d: state after pick\n got %+v\nwant %+v", name, n, g, after, want)
					}
				}
			}
		}
	}
}

// TestChooseThreadMatchesReference checks the thread chooser the same way:
// Homa's (the table's, as every Homa policy uses it) and gen6's, which takes
// a waiter on one of its active GRO cores only when every waiter sits on one,
// and then by Homa's rule.
func TestChooseThreadMatchesReference(t *testing.T) {
	homa, _ := NewTable(20)
	g6, p6 := newGen6Policy(t, 48)
	k6 := p6.ActiveChannels()
	for _, c := range []struct {
		name    string
		tab     *Table
		choose  func(waiters []int, now int64) int
		avoided func(core int) bool
	}{
		{"homa", homa, func(w []int, now int64) int { return homa.ChooseThread(w, DefaultBusyNs, now) },
			func(int) bool { return false }},
		{"gen6", g6.Table(), g6.ChooseThread, func(core int) bool { return core%2 == 0 && core/2 < k6 }},
	} {
		r := rand.New(rand.NewPCG(3, 4))
		n := c.tab.NumCores()
		for i := 0; i < 5000; i++ {
			now := int64(1_000_000)
			randomState(r, c.tab, now, 4)
			waiters := make([]int, r.IntN(6))
			for j := range waiters {
				waiters[j] = r.IntN(n)
			}
			want := snapshot(c.tab)
			idle := func(core int) bool { return want[core].LastActive < now-DefaultBusyNs }
			wantIdx := -1
			for _, ok := range []func(int) bool{
				func(core int) bool { return !c.avoided(core) && idle(core) },
				func(core int) bool { return !c.avoided(core) },
				idle,
				func(int) bool { return true },
			} {
				if wantIdx = slices.IndexFunc(waiters, ok); wantIdx >= 0 {
					break
				}
			}
			if wantIdx >= 0 {
				want[waiters[wantIdx]].LastAppActive = now
			}
			if got := c.choose(waiters, now); got != wantIdx {
				t.Fatalf("%s: waiters %v: chose %d, reference %d", c.name, waiters, got, wantIdx)
			}
			if !equalState(snapshot(c.tab), want) {
				t.Fatalf("%s: waiters %v: state differs from reference", c.name, waiters)
			}
		}
	}
}

func equalState(a, b refState) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return len(a) == len(b)
}

// TestRPSSpreadsFlows checks that rps spreads many flows evenly: no core gets
// more than twice its share of 20,000 random flows.
func TestRPSSpreadsFlows(t *testing.T) {
	tab, _ := NewTable(20)
	b, _ := New("rps", tab, DefaultOptions())
	counts := make([]int, 20)
	for f := uint64(0); f < 20000; f++ {
		counts[b.SoftIRQCore(0, FlowHash(7, f, 0), 2, 0)]++
	}
	for c, k := range counts {
		if k < 500 || k > 2000 {
			t.Errorf("core %d got %d of 20000 flows", c, k)
		}
	}
}
