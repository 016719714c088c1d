//go:build linux

package rx

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// TestPinThreadRunsOnItsCPU: a thread pinned to each allowed CPU in turn has
// an affinity of exactly that CPU and runs there (getcpu). Where the system
// refuses sched_setaffinity, the refusal is an error the pipeline reports
// (Stats.PinError), and that is what is checked instead.
func TestPinThreadRunsOnItsCPU(t *testing.T) {
	cpus, err := allowedCPUs()
	if err != nil || len(cpus) == 0 {
		t.Fatalf("allowed CPUs %v: %v", cpus, err)
	}
	for _, cpu := range cpus {
		type result struct {
			err     error
			mask    unix.CPUSet
			running int
			known   bool
		}
		done := make(chan result)
		go func() {
			// The goroutine ends locked, so its pinned thread is retired.
			var r result
			if r.err = pinThread(cpu); r.err == nil {
				runtime.Gosched() // the pinned thread is on its CPU after the next schedule
				_ = unix.SchedGetaffinity(0, &r.mask)
				r.running, r.known = currentCPU()
			}
			done <- r
		}()
		r := <-done
		if r.err != nil {
			s := listen(t, Config{GROCores: []int{0}, CPUs: []int{cpu}})
			if s.Pinned() || s.Stats().PinError == "" {
				t.Errorf("pinning to CPU %d refused (%v), but the server reports pinned=%v, PinError %q", cpu, r.err, s.Pinned(), s.Stats().PinError)
			}
			continue
		}
		if r.mask.Count() != 1 || !r.mask.IsSet(cpu) {
			t.Errorf("pinned to CPU %d, affinity mask holds %d CPUs", cpu, r.mask.Count())
		}
		if r.known && r.running != cpu {
			t.Errorf("pinned to CPU %d, running on CPU %d", cpu, r.running)
		}
	}
}
