package stats

// Activity is what a core is doing.
type Activity uint8

const (
	Idle Activity = iota
	GRO
	SoftIRQ
	App  // an application thread doing work
	Poll // an application thread polling for a message: CPU used, no work done
	numActivities
)

// CoreTime accounts the time of each core by activity inside a measurement
// window, and finds hotspot windows: fixed intervals (100 µs by default) in
// which some core was busy (GRO, SoftIRQ or application work; not polling)
// more than a threshold fraction of the time.
type CoreTime struct {
	from, to   int64 // measurement window, ns
	binNs      int64 // timeline bin
	nbins      int
	win        int64 // hotspot window length, ns
	threshold  float64
	cores      []coreAcct
	hot        []uint64 // bitmap of hotspot windows
	violations int64
}

type coreAcct struct {
	act    Activity
	since  int64 // start of the current activity
	last   int64 // time of the latest Set
	total  [numActivities]int64
	winIdx int64
	winBsy int64
	winEnd int64     // end of window winIdx
	winBin int       // the timeline bin holding window winIdx
	bins   []int64   // busy ns per timeline bin
	peak   []float64 // per timeline bin, the busy fraction of its busiest window
}

// NewCoreTime accounts n cores, all idle at time 0, measuring [from, to).
// It also keeps a timeline of each core's busy time in at most maxBins bins
// (a multiple of the hotspot window), for heatmaps.
func NewCoreTime(n int, from, to, window int64, threshold float64, maxBins int) *CoreTime {
	c := &CoreTime{from: from, to: to, win: window, threshold: threshold, cores: make([]coreAcct, n)}
	nwin := (to - from + window - 1) / window
	c.hot = make([]uint64, (nwin+63)/64)
	per := (nwin + int64(maxBins) - 1) / int64(max(maxBins, 1))
	c.binNs = max(per, 1) * window
	c.nbins = int((to - from + c.binNs - 1) / c.binNs)
	for i := range c.cores {
		c.cores[i].bins = make([]int64, c.nbins)
		c.cores[i].peak = make([]float64, c.nbins)
		c.cores[i].winEnd = from + window
	}
	return c
}

// Timeline returns the width of a timeline bin in ns and, per core, the
// fraction of each bin it was busy (polling excluded).
func (c *CoreTime) Timeline() (binNs int64, busy [][]float64) {
	busy = make([][]float64, len(c.cores))
	for i := range c.cores {
		busy[i] = make([]float64, c.nbins)
		for b, v := range c.cores[i].bins {
			span := min(c.binNs, c.to-c.from-int64(b)*c.binNs)
			busy[i][b] = float64(v) / float64(span)
		}
	}
	return c.binNs, busy
}

// Set records that core switches to activity a at time now. Times of one
// core must not go backwards; a violation is counted, not applied.
func (c *CoreTime) Set(core int, a Activity, now int64) {
	ca := &c.cores[core]
	if now < ca.last {
		c.violations++
		return
	}
	ca.last = now
	if a == ca.act {
		// Nothing changes: the interval since the last switch simply goes
		// on, and accounting it in one piece later gives the same totals,
		// windows and bins. The simulator calls Set for every step of a
		// core, often the same activity thousands of times in a row.
		return
	}
	c.add(ca, ca.since, now)
	ca.act, ca.since = a, now
}

func (c *CoreTime) add(ca *coreAcct, t0, t1 int64) {
	if t0 < c.from {
		t0 = c.from
	}
	if t1 > c.to {
		t1 = c.to
	}
	if t1 <= t0 {
		return
	}
	ca.total[ca.act] += t1 - t0
	busy := ca.act != Idle && ca.act != Poll // polling waits; it does no work
	if t0 >= ca.winEnd-c.win && t1 <= ca.winEnd {
		// Within the current window (almost every interval: they last
		// microseconds, windows 100 µs), so without the divisions below.
		if busy {
			ca.winBsy += t1 - t0
			ca.bins[ca.winBin] += t1 - t0
		}
		return
	}
	for t0 < t1 {
		w := (t0 - c.from) / c.win
		end := c.from + (w+1)*c.win
		if end > t1 {
			end = t1
		}
		if w != ca.winIdx {
			c.closeWindow(ca)
			ca.winIdx, ca.winBsy = w, 0
			ca.winEnd = c.from + (w+1)*c.win
			ca.winBin = int(w * c.win / c.binNs)
		}
		if busy {
			ca.winBsy += end - t0
			ca.bins[(t0-c.from)/c.binNs] += end - t0
		}
		t0 = end
	}
}

func (c *CoreTime) closeWindow(ca *coreAcct) {
	if float64(ca.winBsy) > c.threshold*float64(c.win) {
		c.hot[ca.winIdx/64] |= 1 << (ca.winIdx % 64)
	}
	if ca.winBin < len(ca.peak) {
		span := min(c.win, c.to-c.from-ca.winIdx*c.win) // the last window may be short
		if f := float64(ca.winBsy) / float64(max(span, 1)); f > ca.peak[ca.winBin] {
			ca.peak[ca.winBin] = f
		}
	}
}

// Peaks returns, per core and timeline bin, the busy fraction of the
// busiest hotspot window (100 µs in the simulator) inside the bin: a bin of
// 2 ms that averages 30% can hide a window at 100%, and this shows it. Call
// it after Finish.
func (c *CoreTime) Peaks() [][]float64 {
	out := make([][]float64, len(c.cores))
	for i := range c.cores {
		out[i] = append([]float64(nil), c.cores[i].peak...)
	}
	return out
}

// Finish closes the accounting at the end of the window; call it once, after
// the last Set.
func (c *CoreTime) Finish() {
	for i := range c.cores {
		ca := &c.cores[i]
		c.add(ca, ca.since, c.to)
		ca.since, ca.last = c.to, c.to
		c.closeWindow(ca)
	}
}

// Fraction returns the fraction of the window core spent in activity a.
func (c *CoreTime) Fraction(core int, a Activity) float64 {
	return float64(c.cores[core].total[a]) / float64(c.to-c.from)
}

// Total returns the time core spent in activity a inside the window.
func (c *CoreTime) Total(core int, a Activity) int64 { return c.cores[core].total[a] }

// HotspotFrac is the fraction of windows in which some core was busy more
// than the threshold.
func (c *CoreTime) HotspotFrac() float64 {
	nwin := (c.to - c.from + c.win - 1) / c.win
	if nwin <= 0 {
		return 0
	}
	hot := 0
	for _, w := range c.hot {
		for ; w != 0; w &= w - 1 {
			hot++
		}
	}
	return float64(hot) / float64(nwin)
}

// Violations counts Set calls whose time went backwards (must be 0).
func (c *CoreTime) Violations() int64 { return c.violations }

// Window returns the length of the measurement window in ns.
func (c *CoreTime) Window() int64 { return c.to - c.from }
