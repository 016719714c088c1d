package stats

import "math"

// SlowdownScale is the resolution of recorded slowdowns: a slowdown s is
// recorded as round(s × SlowdownScale), i.e. in thousandths.
const SlowdownScale = 1000

// maxSlowdown bounds the recorded slowdowns (in thousandths): a million.
const maxSlowdown = 1e9

// SlowdownTable records slowdowns by message size: one histogram per size
// bucket (allocated at a bucket's first message), and over one-packet and all
// messages. It is the one slowdown recorder of both drivers. Not safe for
// concurrent use.
type SlowdownTable struct {
	bounds     []int
	slow       []*Hist
	counts     []int64
	short, all *Hist
	n          int64
}

// NewSlowdownTable records into the size buckets whose upper bounds are
// bounds (ascending, as workload.Dist.Buckets returns them); sizes above the
// last bound count in the last bucket.
func NewSlowdownTable(bounds []int) *SlowdownTable {
	return &SlowdownTable{bounds: bounds, slow: make([]*Hist, len(bounds)), counts: make([]int64, len(bounds)),
		short: NewHist(maxSlowdown, 3), all: NewHist(maxSlowdown, 3)}
}

// Slowdown returns the slowdown of a latency against the ideal, in the
// table's unit (thousandths).
func Slowdown(latency, ideal float64) int64 {
	return int64(math.Round(latency / ideal * SlowdownScale))
}

// Record adds a message of size bytes whose slowdown is sd thousandths;
// short says it was a one-packet message.
func (t *SlowdownTable) Record(size int, sd int64, short bool) {
	t.n++
	t.all.Record(sd)
	if short {
		t.short.Record(sd)
	}
	b := bucketOf(t.bounds, size)
	if t.slow[b] == nil {
		t.slow[b] = NewHist(maxSlowdown, 2)
	}
	t.slow[b].Record(sd)
	t.counts[b]++
}

// Count is the number of messages recorded.
func (t *SlowdownTable) Count() int64 { return t.n }

// Result returns the table: the buckets that saw messages, each with the
// cumulative fraction of messages up to it, and the short and all summaries.
func (t *SlowdownTable) Result() Slowdowns {
	var s Slowdowns
	var cum int64
	for i, b := range t.bounds {
		if t.counts[i] == 0 {
			continue
		}
		cum += t.counts[i]
		p := slowdownPct(t.slow[i])
		s.Slowdown = append(s.Slowdown, Bucket{MaxBytes: b, Count: t.counts[i], CumFrac: float64(cum) / float64(t.n), P50: p.P50, P99: p.P99, P999: p.P999})
	}
	s.Short, s.All = slowdownPct(t.short), slowdownPct(t.all)
	return s
}

// bucketOf returns the index of the first bound ≥ size (the last bucket for
// larger sizes).
func bucketOf(bounds []int, size int) int {
	lo, hi := 0, len(bounds)-1
	for lo < hi {
		mid := (lo + hi) / 2
		if bounds[mid] >= size {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// slowdownPct summarises a histogram of slowdowns in thousandths.
func slowdownPct(h *Hist) Percentiles {
	if h == nil || h.Count() == 0 {
		return Percentiles{}
	}
	return Percentiles{Count: h.Count(),
		P50:  float64(h.Quantile(50)) / SlowdownScale,
		P99:  float64(h.Quantile(99)) / SlowdownScale,
		P999: float64(h.Quantile(99.9)) / SlowdownScale}
}

// Summary summarises h with its mean and maximum, every value divided by
// scale (1 for ns).
func Summary(h *Hist, scale float64) Percentiles {
	if h == nil || h.Count() == 0 {
		return Percentiles{}
	}
	return Percentiles{Count: h.Count(), Mean: h.Mean() / scale, P50: float64(h.Quantile(50)) / scale,
		P99: float64(h.Quantile(99)) / scale, P999: float64(h.Quantile(99.9)) / scale, Max: float64(h.Max()) / scale}
}
