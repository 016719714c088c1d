package rx

import (
	"runtime"
	"testing"
)

// BenchmarkWake measures what a channel wake-up costs the pipeline's
// threads: two goroutines hand a token back and forth, each wake-up a
// channel send to a goroutine blocked on a receive. "locked" pins them to
// two CPUs (where the system allows), as the pipeline's threads are;
// "goroutines" leaves them to the scheduler, which runs the woken one on
// the waker's thread. Metrics: ns/op per round trip (two wake-ups), and
// cpu_ns/wake, the process's CPU time (getrusage) per wake-up. rx/doc.go
// quotes it:
//
//	go test -run XXX -bench Wake -benchtime 20000x ./rx
func BenchmarkWake(b *testing.B) {
	for _, sc := range []struct {
		name   string
		locked bool
	}{{"goroutines", false}, {"locked", true}} {
		b.Run(sc.name, func(b *testing.B) {
			ping, pong := make(chan struct{}), make(chan struct{})
			done := make(chan struct{})
			cpus, _ := allowedCPUs()
			pinTo := func(i int) {
				if !sc.locked {
					return
				}
				if len(cpus) == 0 {
					runtime.LockOSThread()
					return
				}
				_ = pinThread(cpus[i%len(cpus)]) // unpinned where refused: still locked
			}
			go func() {
				defer close(done)
				pinTo(1)
				for range b.N {
					<-ping
					pong <- struct{}{}
				}
			}()
			cpu := make(chan int64)
			go func() { // the timing side: its own goroutine, so that pinning it ends with it
				pinTo(0)
				c0 := cpuTime()
				b.ResetTimer()
				for range b.N {
					ping <- struct{}{}
					<-pong
				}
				b.StopTimer()
				cpu <- int64(cpuTime() - c0)
			}()
			used := <-cpu
			<-done
			b.ReportMetric(float64(used)/float64(2*b.N), "cpu_ns/wake")
		})
	}
}
