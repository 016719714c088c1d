package sweep

import (
	"runtime"
	"sync"
)

// Each calls do(i) for every i in [0, n) on parallel workers (workers ≤ 0:
// GOMAXPROCS; never more than n) and returns when every call has returned.
// It is the one worker pool of sweeps and of compare: a simulation is
// single-threaded and deterministic, so running them side by side changes
// nothing but the wall time. do must be safe to call concurrently.
func Each(n, workers int, do func(i int)) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(workers, n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				do(i)
			}
		}()
	}
	for i := 0; i < n; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
}
