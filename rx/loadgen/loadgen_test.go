package loadgen

import (
	"context"
	"errors"
	"math"
	"runtime"
	"testing"
	"time"

	"github.com/homalb/homalb/internal/rxtest"
	"github.com/homalb/homalb/rx"
	"github.com/homalb/homalb/workload"
)

func dist(t *testing.T, spec string) workload.Dist {
	t.Helper()
	d, err := workload.Resolve(spec, workload.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestRun: an open-loop run against an echo server completes every RPC,
// and its result is consistent: buckets cover what was measured, the
// slowdowns are normalised by the calibration, and nothing is left in
// flight.
func TestRun(t *testing.T) {
	before := runtime.NumGoroutine()
	s := rxtest.EchoServer(t)
	res, err := Run(context.Background(), Config{Addr: s.Addr().String(), Sizes: dist(t, "lognormal:800,1.5"),
		Rate: 2000, Duration: 300 * time.Millisecond, Warmup: 50 * time.Millisecond, Seed: 3, CalibrationCalls: 40})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", *res)
	if res.Sent < 300 || res.Completed != res.Sent || len(res.Failed) != 0 {
		t.Errorf("sent %d, completed %d, failed %v", res.Sent, res.Completed, res.Failed)
	}
	if res.Calibration == nil || res.BaseRTT != res.Calibration.BaseRTT || res.LinkGbps <= 0 {
		t.Errorf("calibration %+v, base %v, link %v", res.Calibration, res.BaseRTT, res.LinkGbps)
	}
	var n int64
	for _, b := range res.Slowdown {
		n += b.Count
		if b.P50 <= 0 || b.P99 < b.P50 {
			t.Errorf("bucket %+v", b)
		}
	}
	if n != res.Measured || res.All.Count != res.Measured || res.Measured == 0 || res.Measured >= res.Completed {
		t.Errorf("buckets hold %d, all %d, measured %d of %d completed (warmup excluded)", n, res.All.Count, res.Measured, res.Completed)
	}
	if last := res.Slowdown[len(res.Slowdown)-1]; math.Abs(last.CumFrac-1) > 1e-9 {
		t.Errorf("last bucket's cumulative fraction %v", last.CumFrac)
	}
	if res.RTT.P50 <= 0 || res.RTT.P99 < res.RTT.P50 || res.Client.InflightBytes != 0 || res.Client.Pending != 0 {
		t.Errorf("rtt %+v, client %+v", res.RTT, res.Client)
	}
	_ = s.Close()
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if runtime.NumGoroutine() > before {
		t.Errorf("%d goroutines, %d before", runtime.NumGoroutine(), before)
	}
}

// TestRunFailures: RPCs to nobody fail as timeouts, counted by reason;
// a cancelled run stops early.
func TestRunFailures(t *testing.T) {
	dead, err := rx.Listen(rx.Config{Logf: t.Logf}) // a server that never serves
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	res, err := Run(context.Background(), Config{Addr: dead.Addr().String(), Sizes: dist(t, "fixed:100"), Rate: 500,
		Duration: 40 * time.Millisecond, Timeout: 30 * time.Millisecond, BaseRTT: 20 * time.Microsecond, LinkGbps: 10})
	if err != nil {
		t.Fatal(err)
	}
	if res.Completed != 0 || res.Failed["timeout"] != res.Sent || res.Sent == 0 {
		t.Errorf("sent %d, completed %d, failed %v", res.Sent, res.Completed, res.Failed)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	res, err = Run(ctx, Config{Addr: dead.Addr().String(), Sizes: dist(t, "fixed:100"), Rate: 100,
		Duration: time.Minute, BaseRTT: time.Microsecond, LinkGbps: 1})
	if err != nil {
		t.Fatal(err)
	}
	// Requests that found the ready queue 40 ms old (ShedDelay) were
	// refused at the door: those calls fail at once as overloaded.
	if time.Since(t0) > 10*time.Second || res.Failed["canceled"]+res.Failed["timeout"]+res.Failed["overloaded"] != res.Sent {
		t.Errorf("cancelled run: %v, %+v", time.Since(t0), res.Failed)
	}
	for _, bad := range []Config{
		{Sizes: dist(t, "fixed:1"), Rate: 0, Duration: time.Second},
		{Sizes: dist(t, "fixed:1"), Rate: 1, Duration: 0},
		{Sizes: dist(t, "fixed:1"), Rate: 1, Duration: time.Second, Warmup: time.Second},
		{Rate: 1, Duration: time.Second},
		{Sizes: dist(t, "fixed:1"), Rate: 1, Duration: time.Second, Client: rx.ClientConfig{Faults: rx.Faults{Loss: 2}}},
	} {
		if _, err := Run(context.Background(), bad); err == nil || errors.Is(err, context.Canceled) {
			t.Errorf("bad config %+v accepted", bad)
		}
	}
}
