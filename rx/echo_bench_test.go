package rx

import (
	"context"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// BenchmarkEcho measures the echo path per request: closed-loop calls of
// 100 bytes from 16 goroutines of one client to a one-socket server that
// answers with Echo, both in this process. Metrics: ns/op is wall time per
// completed call (the inverse of throughput), cpu_us/call the process's CPU
// time (user + system, client and server together, from getrusage) per
// call. BenchmarkEchoBare runs the same load against a bare loop, the
// floor. This file uses only the package's public API, so that it runs
// unchanged against an older tree for a before/after comparison:
//
//	go test -run XXX -bench Echo -benchtime 20000x ./rx
func BenchmarkEcho(b *testing.B) {
	for _, sc := range []struct {
		name string
		cfg  Config
	}{
		{"same-1core", Config{Policy: "same", Threads: 2, NoPriority: true}},
		{"gen2-2core", Config{Policy: "gen2", GROCores: []int{0}, AppCores: []int{1}, Threads: 2, NoPriority: true}},
	} {
		b.Run(sc.name, func(b *testing.B) {
			sc.cfg.Logf = b.Logf
			s, err := Listen(sc.cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			go func() { _ = s.Serve(Echo) }()
			echoCalls(b, s.Addr().String())
		})
	}
}

// echoCalls runs BenchmarkEcho's load against the echo server at addr and
// reports its metrics: after 200 calls that warm the pools and caches, b.N
// closed-loop calls of 100 bytes from 16 goroutines of one client.
func echoCalls(b *testing.B, addr string) {
	c, err := Dial(addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := make([]byte, 100)
	for range 200 {
		if _, err := c.Call(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
	const callers = 16
	var left atomic.Int64
	left.Store(int64(b.N))
	var failed atomic.Int64
	var wg sync.WaitGroup
	cpu0 := cpuTime()
	b.ResetTimer()
	t0 := time.Now()
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for left.Add(-1) >= 0 {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				resp, err := c.Call(ctx, req)
				cancel()
				if err != nil || len(resp) != len(req) {
					failed.Add(1)
				}
				Recycle(resp)
			}
		}()
	}
	wg.Wait()
	wall := time.Since(t0)
	b.StopTimer()
	cpu := cpuTime() - cpu0
	if f := failed.Load(); f > int64(b.N)/100 {
		b.Errorf("%d of %d calls failed", f, b.N)
	}
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu_us/call")
	b.ReportMetric(float64(b.N)/wall.Seconds(), "calls/s")
}

// cpuTime is the process's CPU time so far, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
