package stats

import (
	"math/rand/v2"
	"reflect"
	"testing"
)

// TestCoreTimeRepeatedSetIsNoOp: setting a core to the activity it already
// has must not change any result (totals, hotspot windows, timeline), so
// that a caller may report every step without deduplicating. The reference
// receives only the switches; the other receives every call, repeats
// included, at random times that straddle window and bin boundaries.
func TestCoreTimeRepeatedSetIsNoOp(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for round := 0; round < 100; round++ {
		const cores = 3
		from, to := int64(r.IntN(5000)), int64(20_000+r.IntN(400_000))
		win := int64(1000 + r.IntN(20_000))
		bins := 1 + r.IntN(40)
		all := NewCoreTime(cores, from, to, win, 0.5, bins)
		sw := NewCoreTime(cores, from, to, win, 0.5, bins)
		cur := make([]Activity, cores)
		now := int64(0)
		for now < to+50_000 {
			now += int64(r.IntN(3000))
			c := r.IntN(cores)
			a := Activity(r.IntN(int(numActivities)))
			if r.IntN(3) > 0 {
				a = cur[c] // a repeat
			}
			all.Set(c, a, now)
			if a != cur[c] {
				sw.Set(c, a, now)
				cur[c] = a
			}
		}
		all.Finish()
		sw.Finish()
		for c := 0; c < cores; c++ {
			for a := Activity(0); a < numActivities; a++ {
				if all.Total(c, a) != sw.Total(c, a) {
					t.Fatalf("round %d core %d activity %d: total %d, want %d", round, c, a, all.Total(c, a), sw.Total(c, a))
				}
			}
		}
		if all.HotspotFrac() != sw.HotspotFrac() || !reflect.DeepEqual(all.hot, sw.hot) {
			t.Fatalf("round %d: hotspots differ", round)
		}
		_, b1 := all.Timeline()
		_, b2 := sw.Timeline()
		if !reflect.DeepEqual(b1, b2) {
			t.Fatalf("round %d: timelines differ", round)
		}
		if all.Violations() != 0 || sw.Violations() != 0 {
			t.Fatalf("round %d: violations", round)
		}
	}
}

// TestCoreTimeCountsBackwardSet: a Set earlier than the previous one (even a
// repeat of the same activity) is a violation and is not applied.
func TestCoreTimeCountsBackwardSet(t *testing.T) {
	c := NewCoreTime(1, 0, 1000, 100, 0.9, 10)
	c.Set(0, GRO, 100)
	c.Set(0, GRO, 300)
	c.Set(0, GRO, 200)
	c.Set(0, Idle, 250)
	if c.Violations() != 2 {
		t.Fatalf("violations %d, want 2", c.Violations())
	}
	c.Set(0, Idle, 400)
	c.Finish()
	if got := c.Total(0, GRO); got != 300 {
		t.Fatalf("GRO total %d, want 300", got)
	}
}

// TestCoreTimeMatchesReference checks totals, hotspot windows and timeline
// bins against a direct computation from the list of switches, for random
// windows, bin widths and switch times (many short intervals inside a
// window, some spanning several windows, some outside [from, to)).
func TestCoreTimeMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for round := 0; round < 200; round++ {
		from := int64(r.IntN(10_000))
		win := int64(100 + r.IntN(5000))
		to := from + win*int64(1+r.IntN(30)) - int64(r.IntN(int(win)))
		maxBins := 1 + r.IntN(12)
		threshold := 0.2 + 0.6*r.Float64()
		ct := NewCoreTime(1, from, to, win, threshold, maxBins)
		type sw struct {
			t int64
			a Activity
		}
		var sws []sw
		now := int64(0)
		for now < to+3*win {
			if r.IntN(10) == 0 {
				now += r.Int64N(3 * win) // a long interval
			} else {
				now += r.Int64N(win / 10)
			}
			a := Activity(r.IntN(int(numActivities)))
			ct.Set(0, a, now)
			sws = append(sws, sw{now, a})
		}
		ct.Finish()

		// Reference: walk every interval ns-window by window.
		nwin := (to - from + win - 1) / win
		busyWin := make([]int64, nwin)
		var totals [numActivities]int64
		binNs, _ := ct.Timeline()
		bins := make([]int64, (to-from+binNs-1)/binNs)
		act, since := Idle, int64(0)
		account := func(a Activity, t0, t1 int64) {
			t0, t1 = max(t0, from), min(t1, to)
			for x := t0; x < t1; {
				w := (x - from) / win
				end := min(from+(w+1)*win, t1)
				totals[a] += end - x
				if a != Idle && a != Poll {
					busyWin[w] += end - x
					bins[(x-from)/binNs] += end - x
				}
				x = end
			}
		}
		for _, s := range sws {
			account(act, since, s.t)
			act, since = s.a, s.t
		}
		account(act, since, to)

		for a := Activity(0); a < numActivities; a++ {
			if ct.Total(0, a) != totals[a] {
				t.Fatalf("round %d: activity %d total %d, want %d", round, a, ct.Total(0, a), totals[a])
			}
		}
		hot := 0
		for _, b := range busyWin {
			if float64(b) > threshold*float64(win) {
				hot++
			}
		}
		if want := float64(hot) / float64(nwin); ct.HotspotFrac() != want {
			t.Fatalf("round %d: hotspot fraction %v, want %v", round, ct.HotspotFrac(), want)
		}
		for i, b := range bins {
			if ct.cores[0].bins[i] != b {
				t.Fatalf("round %d: bin %d busy %d, want %d", round, i, ct.cores[0].bins[i], b)
			}
		}
		peaks := make([]float64, len(bins))
		for w, b := range busyWin {
			span := min(win, to-from-int64(w)*win)
			bin := int64(w) * win / binNs
			peaks[bin] = max(peaks[bin], float64(b)/float64(span))
		}
		for i, p := range ct.Peaks()[0] {
			if p != peaks[i] {
				t.Fatalf("round %d: bin %d peak %v, want %v", round, i, p, peaks[i])
			}
		}
	}
}

// TestCoreTimePeakShowsShortHotspot: one 100 µs window fully busy inside a
// 2 ms bin that is otherwise idle averages 5%, and its peak says 100%.
func TestCoreTimePeakShowsShortHotspot(t *testing.T) {
	c := NewCoreTime(1, 0, 10_000_000, 100_000, 0.9, 5) // 2 ms bins
	c.Set(0, SoftIRQ, 300_000)
	c.Set(0, Idle, 400_000)
	c.Finish()
	_, busy := c.Timeline()
	if p := c.Peaks()[0][0]; p != 1 || busy[0][0] != 0.05 {
		t.Fatalf("bin 0: mean %v peak %v, want 0.05 and 1", busy[0][0], p)
	}
}
