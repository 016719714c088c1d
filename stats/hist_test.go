package stats

import (
	"math/rand/v2"
	"reflect"
	"testing"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

var testQuantiles = []float64{0, 0.1, 10, 50, 90, 99, 99.9, 100}

// checkLike asserts that h answers as the dense reference does.
func checkLike(t *testing.T, tag string, h *Hist, ref *hdr.Histogram) {
	t.Helper()
	if h.Count() != ref.TotalCount() {
		t.Fatalf("%s: count %d, want %d", tag, h.Count(), ref.TotalCount())
	}
	for _, q := range testQuantiles {
		if got, want := h.Quantile(q), ref.ValueAtQuantile(q); got != want {
			t.Fatalf("%s: P%v %d, want %d", tag, q, got, want)
		}
	}
}

// TestHistMatchesHdr: a Hist answers exactly as a dense HdrHistogram that
// received the same values, whether it still holds them in its pending list
// or has built its counters, and after a merge. The values include bucket
// edges (powers of two and their neighbours) and clamped ones.
func TestHistMatchesHdr(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 2, 7, histBuffer - 1, histBuffer, histBuffer + 1, 3 * histBuffer} {
		for _, digits := range []int{2, 3} {
			for _, top := range []int64{1e9, 100e9} {
				h, o := NewHist(top, digits), NewHist(top, digits)
				ref, oref := hdr.New(1, top, digits), hdr.New(1, top, digits)
				clamped := int64(0)
				for i := 0; i < n; i++ {
					var v int64
					switch i % 4 {
					case 0:
						v = int64(r.ExpFloat64() * 5000)
					case 1:
						v = int64(1)<<r.IntN(40) + int64(r.IntN(3)) - 1
					case 2:
						v = r.Int64N(2 * top)
					default:
						v = int64(r.IntN(3000))
					}
					if v > top {
						clamped++
					}
					h.Record(v)
					o.Record(v / 3)
					_ = ref.RecordValue(min(max(v, 1), top))
					_ = oref.RecordValue(min(max(v/3, 1), top))
				}
				checkLike(t, "pending or built", h, ref)
				if h.Clamped != clamped {
					t.Fatalf("clamped %d, want %d", h.Clamped, clamped)
				}
				if built := h.h != nil; built != (n > histBuffer) {
					t.Fatalf("n=%d: built %v after Count and Quantile", n, built)
				}
				if h.Mean() != ref.Mean() || h.Max() != ref.Max() {
					t.Fatalf("n=%d: mean/max %v/%d, want %v/%d", n, h.Mean(), h.Max(), ref.Mean(), ref.Max())
				}
				want := (&Hist{h: ref, max: top, digits: digits}).CDF(60)
				if got := h.CDF(60); !reflect.DeepEqual(got, want) {
					t.Fatalf("n=%d: CDF differs", n)
				}
				h.Merge(o)
				ref.Merge(oref)
				checkLike(t, "merged", h, ref)
			}
		}
	}
}

// TestHistRecordAfterQuery: values recorded after a query of the pending
// list are seen by the next query.
func TestHistRecordAfterQuery(t *testing.T) {
	h := NewHist(1e9, 2)
	ref := hdr.New(1, 1e9, 2)
	for i := int64(1); i <= 50; i++ {
		h.Record(i * 997)
		_ = ref.RecordValue(i * 997)
		checkLike(t, "interleaved", h, ref)
	}
}
