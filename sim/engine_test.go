package sim

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestLinkSlotMatchesQueue: keeping the downlink's pending event outside the
// queue (with a reserved sequence number) changes nothing: every step of
// every core and thread, at the same times, and the same result, as with
// the downlink's events in the queue. The scenarios cover both profiles,
// the policies, light and heavy load, tiny and large messages and the
// scheduler options.
func TestLinkSlotMatchesQueue(t *testing.T) {
	type tweak func(*Config)
	scenarios := map[string]tweak{
		"gen2-w4-80": func(c *Config) {},
		"gen3-w3-95": func(c *Config) { c.Policy, c.Workload, c.Load = "gen3", "w3", 0.95 },
		"gen4-w5-80": func(c *Config) { c.Policy, c.Workload = "gen4", "w5" },
		"idle-w1-50": func(c *Config) { c.Policy, c.Workload, c.Load = "idle", "w1", 0.5 },
		"same-w1-90": func(c *Config) { c.Policy, c.Workload, c.Load = "same", "w1", 0.9 },
		"rps-w2-pin": func(c *Config) {
			// Light enough for 6 threads on 3 cores to keep up with W2.
			c.Policy, c.Workload, c.Load, c.App.Sched, c.App.Cores, c.App.Threads = "rps", "w2", 0.1, "pinned", []int{2, 5, 9}, 6
		},
		"oracle-c6525": func(c *Config) {
			p, _ := ProfileConfig("c6525-100g")
			p.WarmupNs, p.DurationNs, p.DrainNs = c.WarmupNs, 2e6, 2e6
			p.Policy, p.Workload = "oracle", "w5"
			*c = p
		},
	}
	for name, tw := range scenarios {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := short("gen2", "w4", 0.8)
			tw(&c)
			run := func(inQueue bool) ([]Step, []byte) {
				var log stepLog
				r, err := runWith(c, RunOptions{Tracer: &log, TraceFrom: 0, TraceTo: 1 << 62},
					func(h *host) { h.linkInQueue = inQueue })
				if err != nil {
					t.Fatal(err)
				}
				checkInvariants(t, c, r)
				r.WallMs = 0
				b, err := json.Marshal(r)
				if err != nil {
					t.Fatal(err)
				}
				return log.steps, b
			}
			slotSteps, slotJSON := run(false)
			refSteps, refJSON := run(true)
			if len(refSteps) < 1000 {
				t.Fatalf("only %d steps traced", len(refSteps))
			}
			for i := range min(len(slotSteps), len(refSteps)) {
				if slotSteps[i] != refSteps[i] {
					t.Fatalf("step %d: %+v, reference %+v", i, slotSteps[i], refSteps[i])
				}
			}
			if len(slotSteps) != len(refSteps) {
				t.Fatalf("%d steps, reference %d", len(slotSteps), len(refSteps))
			}
			if !bytes.Equal(slotJSON, refJSON) {
				t.Fatal("results differ from the reference")
			}
		})
	}
}

// TestEventQueueFirst: the queue's record of its earliest event (before)
// matches a naive reference under random pushes, reservations and pops, and
// reserved sequence numbers order like pushed ones.
func TestEventQueueFirst(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	scales := []int64{1, 16, 64, 5000, horizon, 10 * horizon}
	for round := 0; round < 100; round++ {
		var q eventQueue
		var ref []event
		now := int64(r.IntN(1e6))
		q.advance(now &^ (1<<bucketShift - 1))
		for op := 0; op < 3000; op++ {
			switch k := r.IntN(10); {
			case len(ref) == 0 || k < 5:
				d := r.Int64N(scales[r.IntN(len(scales))])
				q.push(now+d, evGrant, int32(op), 0)
				ref = append(ref, event{t: now + d, seqKind: q.seq<<8 | uint64(evGrant), a: int32(op)})
			case k < 7:
				// A reserved event at now + d: it goes before the queue's
				// first exactly when the reference says so.
				d := r.Int64N(scales[r.IntN(len(scales))])
				sk := q.reserve(evLinkDone)
				want := true
				for i := range ref {
					if ref[i].t < now+d || ref[i].t == now+d && ref[i].seqKind < sk {
						want = false
					}
				}
				if got := q.before(now+d, sk); got != want {
					t.Fatalf("round %d op %d: before(%d) = %v, want %v", round, op, now+d, got, want)
				}
			default:
				got := q.pop()
				i := 0
				for j := range ref {
					if ref[j].before(&ref[i]) {
						i = j
					}
				}
				want := ref[i]
				ref = slices.Delete(ref, i, i+1)
				if got != want {
					t.Fatalf("round %d op %d: popped %+v, want %+v", round, op, got, want)
				}
				now = got.t
			}
			if q.Len() != len(ref) {
				t.Fatalf("Len %d, want %d", q.Len(), len(ref))
			}
		}
	}
}

// TestRing checks the FIFO ring against a slice through growth and
// wrap-around.
func TestRing(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	var rg ring[packet]
	var ref []packet
	for op := 0; op < 20000; op++ {
		if len(ref) == 0 || r.IntN(100) < 52 {
			p := packet{msg: int32(op), idx: int32(r.IntN(9)), flow: r.Uint32()}
			if op%2 == 0 {
				rg.push(p)
			} else {
				*rg.pushSlot() = p
			}
			ref = append(ref, p)
		} else if op%3 == 0 {
			if got := rg.pop(); got != ref[0] {
				t.Fatalf("op %d: pop %+v, want %+v", op, got, ref[0])
			}
			ref = ref[1:]
		} else {
			if got := *rg.front(); got != ref[0] {
				t.Fatalf("op %d: front %+v, want %+v", op, got, ref[0])
			}
			rg.drop()
			ref = ref[1:]
		}
		if rg.len() != len(ref) {
			t.Fatalf("op %d: len %d, want %d", op, rg.len(), len(ref))
		}
	}
}

// TestWaitList checks the waiter list against a slice kept newest first.
func TestWaitList(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	const threads = 21
	w := newWaitList(threads)
	var ref []int32 // newest first
	waiting := make([]bool, threads)
	core := func(ti int32) int32 { return ti*7%5 + 1 }
	for op := 0; op < 20000; op++ {
		if ti := int32(r.IntN(threads)); !waiting[ti] && (len(ref) == 0 || r.IntN(2) == 0) {
			w.add(ti, core(ti))
			ref = append([]int32{ti}, ref...)
			waiting[ti] = true
		} else if len(ref) > 0 {
			k := r.IntN(len(ref))
			if r.IntN(2) == 0 {
				k = 0 // the newest, the common choice
			}
			got := w.remove(k)
			if got != ref[k] {
				t.Fatalf("op %d: remove(%d) = %d, want %d", op, k, got, ref[k])
			}
			ref = slices.Delete(ref, k, k+1)
			waiting[got] = false
		}
		if w.len() != len(ref) {
			t.Fatalf("op %d: len %d, want %d", op, w.len(), len(ref))
		}
		cores := w.coreList()
		for i, ti := range ref {
			if cores[i] != int(core(ti)) {
				t.Fatalf("op %d: core of waiter %d is %d, want %d", op, i, cores[i], core(ti))
			}
		}
	}
}
