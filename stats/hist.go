package stats

import (
	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// Hist is a distribution of non-negative integer values (ns, or slowdown in
// thousandths) with a bounded relative error, backed by HdrHistogram. Values
// above the range are clamped to its top and counted in Clamped.
type Hist struct {
	h       *hdr.Histogram
	Clamped int64
}

// NewHist returns a histogram of values in [0, max] with the given number
// of significant decimal digits (1–5).
func NewHist(max int64, digits int) *Hist {
	return &Hist{h: hdr.New(1, max, digits)}
}

// Record adds one value; values below 1 count as 1.
func (h *Hist) Record(v int64) {
	if v < 1 {
		v = 1
	}
	if v > h.h.HighestTrackableValue() {
		v = h.h.HighestTrackableValue()
		h.Clamped++
	}
	_ = h.h.RecordValue(v) // cannot fail: v is in range
}

// Count is the number of recorded values.
func (h *Hist) Count() int64 { return h.h.TotalCount() }

// Quantile returns the value at percentile p (0–100); 0 for an empty histogram.
func (h *Hist) Quantile(p float64) int64 { return h.h.ValueAtQuantile(p) }

// Mean returns the mean of the recorded values.
func (h *Hist) Mean() float64 { return h.h.Mean() }

// Max returns the largest recorded value (within the histogram's precision).
func (h *Hist) Max() int64 { return h.h.Max() }

// Merge adds every value of o into h.
func (h *Hist) Merge(o *Hist) {
	h.h.Merge(o.h)
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
	for _, b := range h.h.CumulativeDistribution() {
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
