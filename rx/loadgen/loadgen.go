// Package loadgen drives an rx echo server with open-loop load, as Homa's
// cluster benchmarks do: RPCs arrive as a Poisson process at a given rate,
// their sizes drawn from a workload; the echo's response has the request's
// size. It measures each RPC's round trip and its slowdown, by size bucket,
// in the terms of the simulator's results so that the two can be drawn
// side by side.
//
// # Slowdown of a real run
//
// An RPC's slowdown is its round-trip time divided by the best an idle
// server offers for its size:
//
//	slowdown = RTT / (BaseRTT + 2 × size × 8 / LinkGbps)
//
// BaseRTT is the unloaded round trip of a tiny (100-byte) request, and
// LinkGbps the rate at which the unloaded path carries bytes; the factor 2
// is the request and the response, which carry size bytes each. Unless
// given, both are measured before the load starts (Calibrate): BaseRTT as
// the median of sequential tiny calls, LinkGbps from the median of
// sequential large calls. A slowdown near 1 is an RPC that met no queue;
// an RPC slightly faster than the median of the unloaded ones has a
// slowdown a little below 1.
//
// RTT runs from the moment the generator starts the call. Arrivals are
// scheduled on a Poisson clock but the generator wakes up late (Go's
// timers fire up to about a millisecond late on some hosts), so several
// arrivals may start together; Result.ArrivalLag reports how late they
// started. The load is not thinned: a late arrival still happens.
package loadgen

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/homalb/homalb/rx"
	"github.com/homalb/homalb/stats"
	"github.com/homalb/homalb/workload"
)

// Defaults of Config.
const (
	DefaultClients          = 4
	DefaultTimeout          = 5 * time.Second
	DefaultMaxOutstanding   = 20_000
	DefaultCalibrationCalls = 200
	// CalibrationTinySize is the size of the tiny calls of the calibration.
	CalibrationTinySize = 100
	// CalibrationLargeSize is the size of the large calls of the
	// calibration.
	CalibrationLargeSize = 500_000
)

// Config describes a load run.
type Config struct {
	// Addr is the echo server's address, "IP:PORT".
	Addr string
	// Sizes is the request size distribution. Sizes beyond
	// Client.MaxMessageLen (default rx.DefaultMaxMessageLen) are cut to it.
	Sizes workload.Dist
	// Rate is the mean arrival rate of RPCs, per second.
	Rate float64
	// Duration is how long RPCs arrive; Warmup is the first part of it,
	// whose RPCs are sent but not measured.
	Duration, Warmup time.Duration
	// Seed makes the arrivals and sizes reproducible.
	Seed uint64
	// Clients is the number of client sockets, so that the server's
	// SO_REUSEPORT sockets see several flows (default 4).
	Clients int
	// Timeout is each RPC's deadline (default 5 s).
	Timeout time.Duration
	// MaxOutstanding bounds the RPCs in progress; an arrival beyond it
	// fails as "backlog" (default 20,000).
	MaxOutstanding int
	// Client configures the clients (faults included).
	Client rx.ClientConfig
	// BaseRTT and LinkGbps normalise slowdowns (see the package doc); zero
	// means measured by Calibrate before the load.
	BaseRTT  time.Duration
	LinkGbps float64
	// CalibrationCalls is the tiny calls of the calibration (default 200;
	// a tenth as many large ones).
	CalibrationCalls int
}

// Calibration is what the unloaded path measured.
type Calibration struct {
	// BaseRTT is the median round trip of tiny calls; LargeRTT that of
	// large calls of LargeSize bytes; LinkGbps the rate they imply.
	BaseRTT, LargeRTT time.Duration
	LargeSize         int
	LinkGbps          float64
}

// Result is the outcome of a run. RPCs that arrived during the warmup are
// counted in Sent, Completed and Failed but not measured.
type Result struct {
	// Sent counts the RPCs that arrived (those refused as backlog
	// included), Completed those that came back with exactly the request's
	// bytes, Failed the others by reason: timeout, no_response, closed,
	// too_long, canceled, backlog, wrong_response, error.
	Sent, Completed int64
	Failed          map[string]int64
	// Measured is the RPCs completed after the warmup; RTT their round
	// trips in ns; ArrivalLag how late, in ns, the generator started them
	// after their scheduled arrival.
	Measured   int64
	RTT        stats.Percentiles
	ArrivalLag stats.Percentiles
	// Slowdown by size bucket (workload.Dist.Buckets(0.0025)); Short over
	// one-packet requests, All over every measured RPC.
	stats.Slowdowns
	// BaseRTT and LinkGbps normalised the slowdowns; Calibration is set
	// when they were measured.
	BaseRTT     time.Duration
	LinkGbps    float64
	Calibration *Calibration
	// OfferedGbps is the request bytes per second asked for (rate × mean
	// size), AchievedGbps the request bytes of completed RPCs over the run.
	OfferedGbps, AchievedGbps float64
	// Wall is the run's duration, from the first arrival until the last
	// RPC ended.
	Wall time.Duration
	// Client sums the clients' counters.
	Client rx.ClientStats
}

// Validate reports the first field of cfg that cannot work.
func (cfg *Config) Validate() error {
	switch {
	case cfg.Sizes == nil:
		return errors.New("loadgen: no size distribution")
	case !(cfg.Rate > 0) || math.IsInf(cfg.Rate, 0):
		return fmt.Errorf("loadgen: rate %v: want a positive number of RPCs per second", cfg.Rate)
	case cfg.Duration <= 0:
		return fmt.Errorf("loadgen: duration %v: want a positive duration", cfg.Duration)
	case cfg.Warmup < 0 || cfg.Warmup >= cfg.Duration:
		return fmt.Errorf("loadgen: warmup %v: want 0 up to the duration %v", cfg.Warmup, cfg.Duration)
	case cfg.Clients < 0 || cfg.Clients > 256:
		return fmt.Errorf("loadgen: %d clients: want 1..256", cfg.Clients)
	case cfg.Timeout < 0 || cfg.MaxOutstanding < 0 || cfg.CalibrationCalls < 0:
		return errors.New("loadgen: timeout, max outstanding and calibration calls must not be negative")
	case cfg.BaseRTT < 0 || cfg.LinkGbps < 0 || math.IsNaN(cfg.LinkGbps):
		return errors.New("loadgen: base RTT and link rate must not be negative")
	}
	if err := cfg.Client.Validate(); err != nil {
		return fmt.Errorf("loadgen: client: %w", err)
	}
	return nil
}

func (cfg *Config) withDefaults() Config {
	c := *cfg
	c.Clients = cmp.Or(c.Clients, DefaultClients)
	c.Timeout = cmp.Or(c.Timeout, DefaultTimeout)
	c.MaxOutstanding = cmp.Or(c.MaxOutstanding, DefaultMaxOutstanding)
	c.CalibrationCalls = cmp.Or(c.CalibrationCalls, DefaultCalibrationCalls)
	c.Client.MaxMessageLen = cmp.Or(c.Client.MaxMessageLen, rx.DefaultMaxMessageLen)
	return c
}

// Calibrate measures the unloaded path of the echo server at addr: the
// median round trip of calls tiny calls (CalibrationTinySize bytes) made
// one at a time, that of calls/10 (at least 5) large ones
// (CalibrationLargeSize bytes, or maxLen if smaller), and the link rate
// they imply: 2 × (large − tiny) bytes × 8 over the difference of the two
// round trips. The client's faults are not applied.
func Calibrate(ctx context.Context, addr string, cc rx.ClientConfig, calls int, maxLen int) (*Calibration, error) {
	cc.Faults = rx.Faults{} // the unloaded path, without faults
	c, err := rx.DialConfig(addr, cc)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	median := func(size, n int) (time.Duration, error) {
		req := make([]byte, size)
		rtts := make([]time.Duration, 0, n)
		for i := range n + max(n/10, 2) { // the first ones warm up
			cctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
			t0 := time.Now()
			resp, err := c.Call(cctx, req)
			d := time.Since(t0)
			cancel()
			if err != nil {
				return 0, fmt.Errorf("loadgen: calibration call of %d bytes: %w", size, err)
			}
			if len(resp) != size {
				return 0, fmt.Errorf("loadgen: calibration call of %d bytes: %d bytes back (not an echo server?)", size, len(resp))
			}
			rx.Recycle(resp)
			if i >= max(n/10, 2) {
				rtts = append(rtts, d)
			}
		}
		slices.Sort(rtts)
		return rtts[len(rtts)/2], nil
	}
	cal := &Calibration{LargeSize: min(CalibrationLargeSize, maxLen)}
	if cal.BaseRTT, err = median(CalibrationTinySize, max(calls, 5)); err != nil {
		return nil, err
	}
	if cal.LargeRTT, err = median(cal.LargeSize, max(calls/10, 5)); err != nil {
		return nil, err
	}
	extra := cal.LargeRTT - cal.BaseRTT
	if extra <= 0 {
		extra = 1
	}
	cal.LinkGbps = 2 * float64(cal.LargeSize-CalibrationTinySize) * 8 / float64(extra)
	return cal, nil
}

// reqPool holds request buffers by power-of-two size, filled with a
// pattern the echo must return.
type reqPool struct {
	pools [21]sync.Pool // up to 1 MiB
}

func (p *reqPool) get(n int) *[]byte {
	c := 0
	for 1<<c < n {
		c++
	}
	if c >= len(p.pools) {
		b := pattern(n)
		return &b
	}
	if v := p.pools[c].Get(); v != nil {
		b := v.(*[]byte)
		*b = (*b)[:n]
		return b
	}
	b := pattern(1 << c)[:n]
	return &b
}

func (p *reqPool) put(b *[]byte) {
	c := 0
	for 1<<c < cap(*b) {
		c++
	}
	if c < len(p.pools) && cap(*b) == 1<<c {
		p.pools[c].Put(b)
	}
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

// recorder gathers the measurements of the RPCs completed after warmup;
// the clients' goroutines share it.
type recorder struct {
	mu       sync.Mutex
	slow     *stats.SlowdownTable
	rtt      *stats.Hist
	lag      *stats.Hist
	baseNs   float64
	nsPerB   float64 // 2 × 8 / LinkGbps: ns per request byte of the ideal
	measured int64
}

func newRecorder(bounds []int, base time.Duration, gbps float64) *recorder {
	return &recorder{slow: stats.NewSlowdownTable(bounds), rtt: stats.NewHist(int64(100*time.Second), 3),
		lag:    stats.NewHist(int64(100*time.Second), 2),
		baseNs: float64(base), nsPerB: 16 / gbps}
}

func (r *recorder) record(size int, rtt, lag time.Duration) {
	sd := stats.Slowdown(float64(rtt), r.baseNs+r.nsPerB*float64(size))
	r.mu.Lock()
	r.measured++
	r.rtt.Record(int64(rtt))
	r.lag.Record(int64(lag))
	r.slow.Record(size, sd, size <= rx.MaxPayload)
	r.mu.Unlock()
}

// Run calibrates the unloaded path (unless cfg gives BaseRTT and LinkGbps),
// then runs the load and waits for every RPC to end. ctx ends the run
// early: RPCs still in progress then fail as canceled.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := cfg.withDefaults()
	res := &Result{Failed: map[string]int64{}, BaseRTT: c.BaseRTT, LinkGbps: c.LinkGbps}
	if c.BaseRTT == 0 || c.LinkGbps == 0 {
		cal, err := Calibrate(ctx, c.Addr, c.Client, c.CalibrationCalls, c.Client.MaxMessageLen)
		if err != nil {
			return nil, err
		}
		res.Calibration = cal
		res.BaseRTT = cmp.Or(res.BaseRTT, cal.BaseRTT)
		res.LinkGbps = cmp.Or(res.LinkGbps, cal.LinkGbps)
	}
	clients := make([]*rx.Client, c.Clients)
	for i := range clients {
		cc := c.Client
		cc.Faults.Seed += uint64(i) * 0x9e3779b97f4a7c15
		cl, err := rx.DialConfig(c.Addr, cc)
		if err != nil {
			for _, d := range clients[:i] {
				_ = d.Close()
			}
			return nil, err
		}
		clients[i] = cl
	}
	bounds := c.Sizes.Buckets(0.0025)
	rec := newRecorder(bounds, res.BaseRTT, res.LinkGbps)
	var (
		pool                reqPool
		fmu                 sync.Mutex
		completed, reqBytes atomic.Int64
		outstanding         atomic.Int64
		wg                  sync.WaitGroup
		sent                int64
		maxLen              = c.Client.MaxMessageLen
		rng                 = rand.New(rand.NewPCG(c.Seed, 0x10ad))
		start               = time.Now()
		warmEnd             = start.Add(c.Warmup)
		fail                = func(reason string) { fmu.Lock(); res.Failed[reason]++; fmu.Unlock() }
		at                  float64 // seconds since start of the next arrival
	)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		at += rng.ExpFloat64() / c.Rate
		if at >= c.Duration.Seconds() {
			break
		}
		size := min(c.Sizes.Sample(rng), maxLen)
		due := start.Add(time.Duration(at * 1e9))
		if d := time.Until(due); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			break
		}
		sent++
		if outstanding.Load() >= int64(c.MaxOutstanding) {
			fail("backlog")
			continue
		}
		outstanding.Add(1)
		wg.Add(1)
		seq := uint64(sent)
		cl := clients[sent%int64(len(clients))]
		go func() {
			defer wg.Done()
			defer outstanding.Add(-1)
			req := pool.get(size)
			defer pool.put(req)
			if size >= 8 {
				binary.LittleEndian.PutUint64(*req, seq)
			}
			t0 := time.Now()
			cctx, cancel := context.WithDeadline(ctx, t0.Add(c.Timeout))
			resp, err := cl.Call(cctx, *req)
			rtt := time.Since(t0)
			cancel()
			switch {
			case err == nil && bytes.Equal(resp, *req):
				completed.Add(1)
				reqBytes.Add(int64(size))
				if !due.Before(warmEnd) {
					rec.record(size, rtt, t0.Sub(due))
				}
				rx.Recycle(resp)
			case err == nil:
				fail("wrong_response")
			default:
				fail(reason(err))
			}
		}()
	}
	wg.Wait()
	res.Wall = time.Since(start)
	for _, cl := range clients {
		_ = cl.Close()
		addStats(&res.Client, cl.Stats())
	}
	res.Sent, res.Completed = sent, completed.Load()
	res.Measured = rec.measured
	res.OfferedGbps = c.Rate * c.Sizes.Mean() * 8 / 1e9
	res.AchievedGbps = float64(reqBytes.Load()) * 8 / res.Wall.Seconds() / 1e9
	res.RTT, res.ArrivalLag = stats.Summary(rec.rtt, 1), stats.Summary(rec.lag, 1)
	res.Slowdowns = rec.slow.Result()
	return res, nil
}

// reason names the failure of a call.
func reason(err error) string {
	switch {
	case errors.Is(err, rx.ErrOverloaded): // before timeout, which it comes with
		return "overloaded"
	case errors.Is(err, rx.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, rx.ErrNoResponse):
		return "no_response"
	case errors.Is(err, rx.ErrClientClosed):
		return "closed"
	case errors.Is(err, rx.ErrTooLong):
		return "too_long"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return "error"
}

func addStats(dst *rx.ClientStats, s rx.ClientStats) {
	dst.Calls += s.Calls
	dst.Completed += s.Completed
	dst.Failed += s.Failed
	dst.Pending += s.Pending
	dst.InflightBytes += s.InflightBytes
	dst.PacketsSent += s.PacketsSent
	dst.PacketsReceived += s.PacketsReceived
	dst.DataSent += s.DataSent
	dst.Retransmitted += s.Retransmitted
	dst.GrantsSent += s.GrantsSent
	dst.GrantsReceived += s.GrantsReceived
	dst.ResendsSent += s.ResendsSent
	dst.ResendsReceived += s.ResendsReceived
	dst.Probes += s.Probes
	dst.Restarts += s.Restarts
	dst.Acks += s.Acks
	for i := range dst.Drops {
		dst.Drops[i] += s.Drops[i]
	}
	dst.Faults.Lost += s.Faults.Lost
	dst.Faults.Duplicated += s.Faults.Duplicated
	dst.Faults.Reordered += s.Faults.Reordered
	dst.Faults.Delayed += s.Faults.Delayed
	dst.Faults.Overflow += s.Faults.Overflow
}
