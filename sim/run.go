package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/homalb/homalb/balance"
	"github.com/homalb/homalb/workload"
)

// Stream identifiers of the run's random generators: each purpose has its own
// stream, so a change in how one part of the model draws numbers does not
// reshuffle the others.
const (
	streamArrivals uint64 = 0x61727276 + iota
	streamSizes
	streamSenders
	streamSched
)

// Run simulates one scenario. The result depends only on cfg (wall_ms and
// sim_pkts_per_sec aside).
func Run(cfg Config) (*Result, error) {
	return RunWith(cfg, RunOptions{})
}

// RunWith is Run with progress reports and tracing.
func RunWith(cfg Config, opt RunOptions) (*Result, error) {
	return runWith(cfg, opt, nil)
}

// runWith is RunWith; tweak, if not nil, adjusts the host before the run
// (tests use it to select reference implementations).
func runWith(cfg Config, opt RunOptions, tweak func(*host)) (*Result, error) {
	start := time.Now()
	h, err := newHost(cfg)
	if err != nil {
		return nil, err
	}
	if tweak != nil {
		tweak(h)
	}
	h.tr, h.trFrom, h.trTo = opt.Tracer, opt.TraceFrom, opt.TraceTo
	h.loop(opt.Progress)
	res := &Result{Config: h.cfg, Policy: cfg.Policy, Workload: cfg.Workload, Load: cfg.Load, SimNs: h.now, Incomplete: h.pending,
		StoppedEarly: h.overloaded, OfferedCores: round4(h.offeredCores())}
	h.r.fill(res, cfg.Host.Cores)
	res.Overloaded = res.IsOverloaded()
	wall := time.Since(start)
	res.WallMs = float64(wall.Microseconds()) / 1000
	if wall > 0 {
		res.SimPktsPerSec = float64(h.r.packets) / wall.Seconds()
	}
	return res, nil
}

// Validate also resolves the workload, so that a bad name is reported before
// any run starts.
func (c *Config) check() (workload.Dist, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	d, err := workload.Resolve(c.Workload, workload.Options{MaxBytes: c.Traffic.MaxMessage})
	if err != nil {
		return nil, err
	}
	return d, nil
}

// Check validates cfg completely, workload included, without running it.
func (c *Config) Check() error {
	_, err := c.check()
	return err
}

func newHost(cfg Config) (*host, error) {
	dist, err := cfg.check()
	if err != nil {
		return nil, err
	}
	opts, err := cfg.balanceOptions()
	if err != nil {
		return nil, err
	}
	tab, err := balance.NewTable(cfg.Host.Cores)
	if err != nil {
		return nil, err
	}
	var h *host
	opts.Oracle = func(gro, core int) int64 { return h.oracleDelay(gro, core) }
	bal, err := balance.New(cfg.Policy, tab, opts)
	if err != nil {
		return nil, err
	}
	dep, err := cfg.Deployment()
	if err != nil {
		return nil, err
	}
	gro := dep.GROCores
	// Record the deployment's choices in the result's config, so that it
	// reruns the same way whatever the defaults become.
	cfg.Host.GROCores = gro
	cfg.Balance.GROBusyNs = dep.GROBusyNs
	n := cfg.Host.Cores
	h = &host{
		cfg: cfg, bal: bal, tab: tab, dist: dist,
		rArrive:    newRand(cfg.Seed, streamArrivals),
		rSize:      newRand(cfg.Seed, streamSizes),
		rSender:    newRand(cfg.Seed, streamSenders),
		rSched:     newRand(cfg.Seed, streamSched),
		linkBps:    cfg.Host.LinkGbps,
		cores:      make([]core, n),
		threads:    make([]thread, cfg.App.Threads),
		waiters:    newWaitList(cfg.App.Threads),
		measureEnd: cfg.WarmupNs + cfg.DurationNs,
	}
	h.stopAt = h.measureEnd + cfg.DrainNs
	if info, _ := balance.Lookup(cfg.Policy); info.Oracle { // checked by Config.Check
		h.inflightNs = make([]int64, n)
		h.queuedNs = make([]int64, n)
	}
	h.mtu = int32(cfg.Host.MTUPayload)
	h.mtuLinkNs = int64(math.Round(float64(cfg.Host.MTUPayload+cfg.Host.HeaderBytes) * 8 / h.linkBps))
	// Message departures: a Poisson process whose byte rate is load × link.
	bytesPerNs := cfg.Load * cfg.Host.LinkGbps / 8
	h.meanGapNs = dist.Mean() / bytesPerNs
	h.chanCore = make([]int32, len(gro))
	for i, c := range gro {
		h.chanCore[i] = int32(c)
	}
	h.steer = bal.RSS()
	for i := range h.rss { // as a driver spreads it by default: entry i on channel i mod K
		h.rss[i] = int32(i % len(gro))
	}
	for i := range h.cores {
		h.cores[i] = core{id: int32(i), channel: -1, cur: -1, running: -1, spinMsg: -1, lastChose: -1}
	}
	for ch, c := range gro {
		h.cores[c].channel = int32(ch)
	}
	if len(cfg.App.Cores) > 0 {
		for _, c := range cfg.App.Cores {
			h.appCores = append(h.appCores, int32(c))
		}
	} else {
		for c := 0; c < n; c++ {
			h.appCores = append(h.appCores, int32(c))
		}
	}
	h.r = newRecorder(&h.cfg, dist.Buckets(0.0025), h.measureEnd)
	// Threads start on their cores, spread round-robin, and wait.
	for i := range h.threads {
		h.threads[i] = thread{id: int32(i), core: h.appCores[i%len(h.appCores)], msg: -1, state: tsSleeping}
	}
	for i := range h.threads {
		th := &h.threads[i]
		c := &h.cores[th.core]
		if c.running < 0 {
			c.running = int32(i)
			th.state = tsWorking

		}
	}
	for i := range h.threads {
		th := &h.threads[i]
		if th.state == tsWorking {
			th.state = tsPolling
			h.startWaiting(int32(i))
		} else {
			h.addWaiter(int32(i))
		}
	}
	h.q.push(0, evArrival, 0, 0)
	h.q.push(h.stopAt, evStop, 0, 0)
	return h, nil
}

// offeredCores estimates the CPU work the traffic asks for, in cores, if
// every message took the unloaded path: per message the first-packet
// SoftIRQ cost, one wake-up and receive call, the copy and the service time;
// per packet GRO and SoftIRQ; per response GRANT GRO and its SoftIRQ. Above
// the host's core count no policy can keep up.
func (h *host) offeredCores() float64 {
	c := h.cfg.Cost
	perMsgPerNs := 1 / h.meanGapNs
	mean := h.dist.Mean()
	mtu := float64(h.cfg.Host.MTUPayload)
	pkts := mean/mtu + 0.5 // a message wastes half a packet on average
	grants := 0.0
	if h.cfg.Traffic.Responses {
		// upper bound: every byte beyond the unscheduled ones is granted
		grants = math.Max(0, (mean-float64(h.cfg.Traffic.UnschedBytes))/mtu)
	}
	grants /= float64(h.cfg.Traffic.GrantPkts)
	batches := math.Ceil(pkts / float64(h.cfg.Balance.MaxGRO)) // the IP layer runs once per batch
	send := 0.0
	if h.cfg.Traffic.Responses {
		send = mean * c.SendNsPerKB / 1024
	}
	perMsg := float64(c.SoftIRQFirstNs+c.WakePollNs+c.RecvNs+c.AppNs) + mean*c.CopyNsPerKB/1024 + send +
		pkts*float64(c.GRONs+c.SoftIRQNs) + batches*float64(c.IPNs) + grants*float64(c.GRONs+c.GrantNs)
	return perMsgPerNs * perMsg
}

// startWaiting puts a thread that owns its core into the waiting state at
// time 0.
func (h *host) startWaiting(ti int32) {
	h.threadWait(ti)
}

func newRand(seed, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, stream))
}

func (h *host) loop(progress func(done, end int64)) {
	var n uint64
	for !h.stopped {
		if h.linkBusy && !h.linkInQueue && h.linkFirst() {
			if h.linkAt < h.now {
				h.r.inv.TimeReversals++
			}
			h.now = h.linkAt
			h.linkDone()
			h.afterEvent(&n, progress)
			continue
		}
		if h.q.Len() == 0 {
			break
		}
		e := h.q.pop()
		if e.t < h.now {
			h.r.inv.TimeReversals++
		}
		h.now = e.t
		switch e.kind() {
		case evArrival:
			h.arrival()
		case evLinkDone: // only with linkInQueue
			h.linkDone()
		case evGrant:
			h.grantArrives(e.a, e.b)
		case evCoreStep:
			c := &h.cores[e.a]
			if e.b == c.stepGen {
				h.stepDone(c)
			}
		case evBatchArrive:
			h.batchArrives(&h.cores[e.a], e.b)
		case evThreadDone:
			if th := &h.threads[e.a]; th.gen == e.b && th.state == tsWorking && !th.paused {
				if h.cores[th.core].softirq || h.cores[th.core].running != e.a {
					h.r.inv.CoreOverlaps++ // worked while its core did something else
				}
				h.phaseDone(e.a)
			}
		case evPollEnd:
			h.pollTimer(e.a)
		case evWake:
			h.wake(e.a)
		case evRespGrant:
			h.respGrant(e.a, e.b)
		case evSlice:
			h.sliceEnd(&h.cores[e.a], e.b)
		case evDeferEnd:
			if c := &h.cores[e.a]; !c.softirq && c.hasSoftirqWork() {
				h.enterSoftirq(c)
			}
		case evStop:
			h.stopped = true
		}
		h.afterEvent(&n, progress)
	}
	if progress != nil {
		progress(h.stopAt, h.stopAt)
	}
}

// linkFirst reports whether the downlink's pending event comes before every
// queued event.
func (h *host) linkFirst() bool {
	return h.q.before(h.linkAt, h.linkSeq)
}

// afterEvent ends the processing of every event: the run stops once the
// measured messages are all delivered, and progress is reported every 65,536
// events (n counts them).
func (h *host) afterEvent(n *uint64, progress func(done, end int64)) {
	if h.now >= h.measureEnd && h.pending == 0 {
		h.stopped = true
	}
	if *n++; progress != nil && *n&0xffff == 0 {
		progress(h.now, h.stopAt)
	}
}

// String summarises a config in one line, for logs and errors.
func (c Config) String() string {
	return fmt.Sprintf("%s %s load=%.2f cores=%d seed=%d", c.Policy, c.Workload, c.Load, c.Host.Cores, c.Seed)
}
