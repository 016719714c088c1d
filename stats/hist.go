package stats

import (
	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// Hist is a distribution of non-negative integer values (ns, or slowdown in
// thousandths) with a bounded relative error, backed by HdrHistogram. Values
// above the range are clamped to its top and counted in Clamped.
//
// The dense HdrHistogram (tens to hundreds of KB of counters) is built only
// once more than histBuffer values have been recorded, or when a query needs
// it; until then the values wait in a short list, and Count and Quantile
// answer from a sparse PackedHistogram of them (same bucket geometry, same
// answers). A simulation keeps one histogram per message-size bucket,
// hundreds of them mostly holding a few values, and allocating and zeroing
// their counters cost more than a short run. Every answer depends only on
// the bucket counts, so it is the same either way.
type Hist struct {
	h       *hdr.Histogram // nil until built
	max     int64
	digits  int
	pending []int64              // values recorded before h was built
	packed  *hdr.PackedHistogram // the pending values, for queries; nil when stale
	Clamped int64
}

// histBuffer is how many values a Hist holds before it builds its counters.
const histBuffer = 256

// NewHist returns a histogram of values in [0, max] with the given number
// of significant decimal digits (1–5).
func NewHist(max int64, digits int) *Hist {
	return &Hist{max: max, digits: digits}
}

// hist returns the dense HdrHistogram, building it (with the pending values)
// if needed.
func (h *Hist) hist() *hdr.Histogram {
	if h.h == nil {
		h.h = hdr.New(1, h.max, h.digits)
		for _, v := range h.pending {
			_ = h.h.RecordValue(v) // cannot fail: v is in range
		}
		h.pending, h.packed = nil, nil
	}
	return h.h
}

// Record adds one value; values below 1 count as 1.
func (h *Hist) Record(v int64) {
	if v < 1 {
		v = 1
	}
	if v > h.max {
		v = h.max
		h.Clamped++
	}
	if h.h == nil && len(h.pending) < histBuffer {
		h.pending = append(h.pending, v)
		h.packed = nil
		return
	}
	_ = h.hist().RecordValue(v) // cannot fail: v is in range
}

// Count is the number of recorded values.
func (h *Hist) Count() int64 {
	if h.h == nil {
		return int64(len(h.pending))
	}
	return h.h.TotalCount()
}

// Quantile returns the value at percentile p (0–100); 0 for an empty histogram.
func (h *Hist) Quantile(p float64) int64 {
	if h.h != nil {
		return h.h.ValueAtQuantile(p)
	}
	if h.packed == nil {
		h.packed = hdr.NewPacked(1, h.max, h.digits)
		for _, v := range h.pending {
			_ = h.packed.RecordValue(v) // cannot fail: v is in range
		}
	}
	return h.packed.ValueAtPercentile(p)
}

// Mean returns the mean of the recorded values.
func (h *Hist) Mean() float64 { return h.hist().Mean() }

// Max returns the largest recorded value (within the histogram's precision).
func (h *Hist) Max() int64 { return h.hist().Max() }

// Merge adds every value of o into h.
func (h *Hist) Merge(o *Hist) {
	h.hist().Merge(o.hist())
	h.Clamped += o.Clamped
}

// CDF returns up to n points (value, cumulative fraction) describing the
// distribution, for plots.
func (h *Hist) CDF(n int) [][2]float64 {
	total := float64(h.Count())
	if total == 0 || n <= 0 {
		return nil
	}
	var pts [][2]float64
	for _, b := range h.hist().CumulativeDistribution() {
		pts = append(pts, [2]float64{float64(b.ValueAt), b.Quantile / 100})
	}
	if len(pts) <= n {
		return pts
	}
	out := make([][2]float64, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, pts[i*(len(pts)-1)/(n-1)])
	}
	return out
}
