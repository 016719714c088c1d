package workload

import (
	"bytes"
	"math/rand/v2"
	"os"
	"testing"
	"time"
)

func TestZZHang(t *testing.T) {
	var seeds [][]byte
	for _, n := range []string{"w1", "w2", "w3", "w4", "w5"} {
		b, _ := os.ReadFile("../../shared/workloads/" + n + ".csv")
		seeds = append(seeds, b)
	}
	seeds = append(seeds, []byte(hdr+"8,0.5\n16,1\n"))
	r := rand.New(rand.NewPCG(3, 4))
	alpha := []byte("0123456789.,-+eE\n#naif ")
	start := time.Now()
	slow := 0
	for it := 0; time.Since(start) < 40*time.Second; it++ {
		b := append([]byte(nil), seeds[r.IntN(len(seeds))]...)
		for k := r.IntN(8) + 1; k > 0 && len(b) > 0; k-- {
			i := r.IntN(len(b))
			switch r.IntN(4) {
			case 0:
				b[i] = alpha[r.IntN(len(alpha))]
			case 1:
				b = append(b[:i], b[i+1:]...)
			case 2:
				b = append(b[:i], append([]byte{alpha[r.IntN(len(alpha))]}, b[i:]...)...)
			case 3:
				j := r.IntN(len(b))
				if j > i {
					b = append(b[:i], b[j:]...)
				}
			}
		}
		mb := []int{0, -1, 1, 5, 1000, 1 << 40, 1 << 62, -(1 << 62)}[r.IntN(8)]
		t0 := time.Now()
		d, err := ParseCDF("x", bytes.NewReader(b), Options{MaxBytes: mb})
		if err == nil {
			d.Buckets(0.0025)
			d.Quantile(0.5)
			rr := rand.New(rand.NewPCG(1, 2))
			for range 64 {
				d.Sample(rr)
			}
		}
		if el := time.Since(t0); el > 50*time.Millisecond {
			slow++
			if slow < 5 {
				t.Logf("slow %v: mb=%d %q", el, mb, b[:min(len(b), 200)])
			}
		}
		if it%200000 == 0 {
			t.Logf("it %d", it)
		}
	}
}
