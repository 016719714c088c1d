package rx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/homalb/homalb/balance"
	"github.com/homalb/homalb/wire"
)

// ErrClosed is returned by Serve, Receive and Reply once the server is
// closed.
var ErrClosed = errors.New("rx: server closed")

// Server is a running receive pipeline: K sockets on one address, a GRO
// thread per socket, a SoftIRQ worker per logical core, and the handoff of
// complete messages to application threads (Serve) or callers (Receive).
// Its methods are safe for concurrent use.
type Server struct {
	l     *layout
	bal   *balance.Balancer
	tab   *balance.Table
	epoch time.Time
	addr  netip.AddrPort

	conns    []*net.UDPConn
	gros     []*groThread
	workers  []*softirqWorker // by logical core
	counters []coreCounters   // by logical core
	groHist  []*latencyHist   // GRO→SoftIRQ, by SoftIRQ core
	appHist  []*latencyHist   // SoftIRQ→app, by app core
	cpuCore  map[int]int      // CPU → logical core, for Receive

	msgs     msgTable
	grants   grantSched
	peers    peerTable
	cookies  cookieJar
	tx       []*xmitter // by socket
	tc       transportCounters
	rpcs     atomic.Int64
	inflight atomic.Int64
	drops    [NumDropReasons]atomic.Uint64
	messages atomic.Uint64
	msgBytes atomic.Uint64
	replies  atomic.Uint64
	replyErr atomic.Uint64
	multi    atomic.Uint64 // multi-packet messages completed
	multiCPU atomic.Uint64 // sum of their distinct SoftIRQ cores

	app appState

	pinFailed atomic.Bool
	pinOnce   sync.Once
	pinErr    atomic.Value // string

	prioFailed atomic.Bool
	prioOnce   sync.Once
	prioErr    atomic.Value // string

	// RSS steering, for a policy that programs the RSS table: nil when it
	// does not, or when the socket group cannot be programmed (rssErr says
	// why). Set before the threads start.
	steer       balance.SteersRSS
	rssOff      atomic.Bool  // reprogramming failed after start: the policy is no longer told
	rssNext     atomic.Int64 // when a GRO thread next checks the table
	rssPrograms atomic.Uint64
	rssErr      atomic.Value // string
	rssMu       sync.Mutex   // one check at a time; guards the two below
	rssVer      uint64
	rssTab      [balance.RSSEntries]int32

	mu        sync.Mutex // guards closing (with the atomic) and wgApp.Add
	closing   atomic.Bool
	serving   bool
	stopGRO   chan struct{} // closed first by Close
	appStop   chan struct{} // closed once no message can arrive any more
	timerStop chan struct{}
	wgGRO     sync.WaitGroup
	wgSoftIRQ sync.WaitGroup
	wgApp     sync.WaitGroup
	wgAux     sync.WaitGroup
	closeOnce sync.Once
	closeErr  error

	// hold, when set, stops the GRO threads before their next read until
	// it is closed, and held counts the threads it stopped: a benchmark
	// fills the sockets of a running server, then times the drain.
	hold atomic.Pointer[chan struct{}]
	held atomic.Int32
	// roleCPU is the CPU time the exited threads of each role used (GRO,
	// SoftIRQ, application; ns, from the threads' own clocks): what a
	// benchmark compares with its drain time to tell work from waiting.
	roleCPU [3]atomic.Int64
}

// roleIndex is the index in Server.roleCPU of a thread role.
func roleIndex(role string) int {
	switch role {
	case "gro":
		return 0
	case "softirq":
		return 1
	}
	return 2
}

// Listen validates cfg, opens its sockets and starts the pipeline.
func Listen(cfg Config) (*Server, error) {
	s, err := newServer(cfg)
	if err != nil {
		return nil, err
	}
	s.start()
	return s, nil
}

// newServer opens the sockets and builds every thread's state without
// starting any; datagrams sent meanwhile wait in the sockets' buffers.
func newServer(cfg Config) (*Server, error) {
	l, err := cfg.layout()
	if err != nil {
		return nil, err
	}
	tab, err := balance.NewTable(l.cores)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	bal, err := balance.New(l.Policy, tab, l.opts)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	s := &Server{
		l: l, bal: bal, tab: tab, epoch: time.Now(),
		counters:  make([]coreCounters, l.cores),
		groHist:   make([]*latencyHist, l.cores),
		appHist:   make([]*latencyHist, l.cores),
		cpuCore:   make(map[int]int),
		stopGRO:   make(chan struct{}),
		appStop:   make(chan struct{}),
		timerStop: make(chan struct{}),
	}
	for c := range l.cores {
		s.groHist[c] = newLatencyHist()
		s.appHist[c] = newLatencyHist()
		if _, ok := s.cpuCore[l.cpus[c]]; !ok {
			s.cpuCore[l.cpus[c]] = c
		}
	}
	for i := len(l.AppCores) - 1; i >= 0; i-- { // app cores win, the first listed most
		s.cpuCore[l.cpus[l.AppCores[i]]] = l.AppCores[i]
	}
	s.msgs.init(l.transport.completedCap)
	s.peers.init(l.MaxPeerBytes)
	s.cookies = newCookieJar()
	s.grants.init(l.transport.overcommit, l.transport.unsched, l.transport.maxIncoming)
	s.app.init(l.ReadyDepth, l.Threads)

	addr := l.Addr
	reuse := len(l.GROCores) > 1
	for i := range l.GROCores {
		c, err := listenUDP(addr, reuse)
		if err != nil {
			s.closeConns()
			return nil, fmt.Errorf("rx: listen %s (socket %d of %d): %w", addr, i+1, len(l.GROCores), err)
		}
		s.conns = append(s.conns, c)
		if i == 0 {
			s.addr = c.LocalAddr().(*net.UDPAddr).AddrPort()
			addr = s.addr.String()
		}
		if got, err := setSocketBuffers(c, l.SocketBuffer); err != nil || got < l.SocketBuffer && i == 0 {
			l.Logf("rx: socket buffer of %s: asked %d bytes, got %d (%v)", addr, l.SocketBuffer, got, err)
		}
		x, err := newXmitter(c, false)
		if err != nil {
			s.closeConns()
			return nil, fmt.Errorf("rx: socket %d of %s: %w", i+1, addr, err)
		}
		f := l.transport.faults
		f.Seed ^= uint64(i) * 0x9e3779b97f4a7c15
		x.faults = newFaultLine(x, f, "server-faults")
		s.tx = append(s.tx, x)
	}
	if st := bal.RSS(); st != nil && len(s.conns) > 1 {
		s.steer = st
		s.rssVer = st.RSSTable(&s.rssTab)
		if err := s.programRSS(); err != nil {
			s.steer = nil
			s.rssErr.Store(err.Error())
			l.Logf("rx: %s's RSS table is not applied (%v): the kernel's flow hash spreads senders over the sockets", l.Policy, err)
		}
	}
	for i, core := range l.GROCores {
		g, err := newGROThread(s, core, i, s.conns[i])
		if err != nil {
			s.closeConns()
			return nil, fmt.Errorf("rx: GRO core %d: %w", core, err)
		}
		s.gros = append(s.gros, g)
	}
	s.workers = make([]*softirqWorker, l.cores)
	for c := range l.cores {
		s.workers[c] = &softirqWorker{s: s, core: c, q: make(chan *batch, l.QueueDepth)}
	}
	return s, nil
}

// rssCheckNs: GRO threads look for a new RSS table at most once a
// millisecond; reprogramming the socket group is a system call.
const rssCheckNs = 1_000_000

// programRSS compiles s.rssTab into the socket group's selection program.
func (s *Server) programRSS() error {
	prog, err := rssProgram(&s.rssTab)
	if err == nil {
		err = attachReuseport(s.conns[0], prog)
	}
	if err != nil {
		return err
	}
	s.rssPrograms.Add(1)
	return nil
}

// refreshRSS reprograms the socket group if the policy's table has changed
// since it was last programmed. At most one GRO thread checks at a time,
// and none more often than rssCheckNs. A failure is reported once and ends
// the steering: the table last programmed stays in force, and the policy is
// no longer told of packets, since its table no longer says where they go.
func (s *Server) refreshRSS(now int64) {
	if now < s.rssNext.Load() || !s.rssMu.TryLock() {
		return
	}
	defer s.rssMu.Unlock()
	s.rssNext.Store(now + rssCheckNs)
	v := s.steer.RSSTable(&s.rssTab)
	if v == s.rssVer {
		return
	}
	if err := s.programRSS(); err != nil {
		s.rssOff.Store(true)
		s.rssErr.Store(err.Error())
		s.l.Logf("rx: RSS steering stopped, the last table programmed stays: %v", err)
		return
	}
	s.rssVer = v
}

// steering is the policy's RSS steering while it decides where datagrams
// go, else nil.
func (s *Server) steering() balance.SteersRSS {
	if s.steer == nil || s.rssOff.Load() {
		return nil
	}
	return s.steer
}

// RSSSteered reports whether the policy's RSS table decides which GRO
// socket receives each datagram (policies that program it, with more than
// one GRO core, where the socket group accepts a selection program).
func (s *Server) RSSSteered() bool { return s.steering() != nil }

// start launches the pipeline's threads and returns once each has tried to
// pin itself, so that Pinned is meaningful.
func (s *Server) start() {
	var started sync.WaitGroup
	for _, w := range s.workers {
		s.wgSoftIRQ.Add(1)
		started.Add(1)
		go s.roleGoroutine("softirq", w.core, &s.wgSoftIRQ, &started, w.run)
	}
	for _, g := range s.gros {
		s.wgGRO.Add(1)
		started.Add(1)
		go s.roleGoroutine("gro", g.core, &s.wgGRO, &started, g.run)
	}
	s.wgAux.Add(1)
	go s.runTimer()
	started.Wait()
}

// roleGoroutine runs body as a long-lived pipeline thread of core: labelled
// for profiles, locked to an OS thread pinned to the core's CPU.
func (s *Server) roleGoroutine(role string, core int, wg, started *sync.WaitGroup, body func()) {
	defer wg.Done()
	pprof.Do(context.Background(), pprof.Labels("rx", role, "core", strconv.Itoa(core)), func(context.Context) {
		s.pin(core)
		if role != "app" {
			s.prioritize()
		}
		if started != nil {
			started.Done()
		}
		t0 := threadCPU()
		body()
		if t1 := threadCPU(); t0 >= 0 && t1 >= t0 {
			s.roleCPU[roleIndex(role)].Add(t1 - t0)
		}
	})
}

// pin locks the calling goroutine to its thread and pins the thread to the
// CPU of core; a refusal is logged once and the thread runs unpinned.
func (s *Server) pin(core int) {
	if s.l.NoPin {
		runtime.LockOSThread()
		return
	}
	if err := pinThread(s.l.cpus[core]); err != nil {
		s.pinFailed.Store(true)
		s.pinOnce.Do(func() {
			s.pinErr.Store(err.Error())
			s.l.Logf("rx: threads run unpinned: %v", err)
		})
	}
}

// prioritize raises the calling GRO or SoftIRQ thread above application
// threads (Config.NoPriority); a refusal is logged once and the thread keeps
// its ordinary priority.
func (s *Server) prioritize() {
	if s.l.NoPriority {
		return
	}
	if err := raisePriority(); err != nil {
		s.prioFailed.Store(true)
		s.prioOnce.Do(func() {
			s.prioErr.Store(err.Error())
			s.l.Logf("rx: GRO and SoftIRQ threads run at ordinary priority: %v", err)
		})
	}
}

// clock is the pipeline's time: ns since the server started, monotonic.
func (s *Server) clock() int64 { return int64(time.Since(s.epoch)) }

func (s *Server) drop(r DropReason) { s.drops[r].Add(1) }

// shedding reports whether the server is full at now for a request read
// from socket sock: the time its first packet waited in the socket's
// buffer and the time the oldest complete request has waited for a thread
// add up to ShedDelay, so the new request would wait longer still.
func (s *Server) shedding(sock int, now int64) bool {
	wait := s.gros[sock].lagNs.Load()
	if h := s.app.headNs.Load(); h != 0 {
		wait += now - h
	}
	return wait >= int64(s.l.ShedDelay)
}

// Addr returns the address the sockets are bound to.
func (s *Server) Addr() netip.AddrPort { return s.addr }

// Balancer returns the balancer that steers the pipeline; its table is the
// pipeline's live activity table.
func (s *Server) Balancer() *balance.Balancer { return s.bal }

// NumCores reports the number of logical cores.
func (s *Server) NumCores() int { return s.l.cores }

// CPU returns the CPU logical core is mapped to.
func (s *Server) CPU(core int) int { return s.l.cpus[core] }

// Pinned reports whether every thread started so far is pinned to its CPU.
// It is false with NoPin and once any pin was refused.
func (s *Server) Pinned() bool { return !s.l.NoPin && !s.pinFailed.Load() }

// Prioritized reports whether every GRO and SoftIRQ thread runs at
// real-time priority (false with NoPriority or once a raise was refused).
func (s *Server) Prioritized() bool { return !s.l.NoPriority && !s.prioFailed.Load() }

// Stats returns a snapshot of the telemetry.
func (s *Server) Stats() Stats {
	st := Stats{
		Policy:        s.l.Policy,
		Addr:          s.addr.String(),
		Pinned:        s.Pinned(),
		Prioritized:   s.Prioritized(),
		UptimeNs:      s.clock(),
		Cores:         make([]CoreStats, s.l.cores),
		Messages:      s.messages.Load(),
		MessageBytes:  s.msgBytes.Load(),
		Replies:       s.replies.Load(),
		ReplyErrors:   s.replyErr.Load(),
		InflightBytes: s.inflight.Load(),
	}
	st.Transport = s.transportStats()
	if v, ok := s.pinErr.Load().(string); ok {
		st.PinError = v
	}
	if v, ok := s.prioErr.Load().(string); ok {
		st.PriorityError = v
	}
	st.RSSSteered, st.RSSPrograms = s.RSSSteered(), s.rssPrograms.Load()
	if v, ok := s.rssErr.Load().(string); ok {
		st.RSSError = v
	}
	for r := range st.Drops {
		st.Drops[r] = s.drops[r].Load()
	}
	for _, g := range s.gros {
		n, ok := g.rd.kernelDrops()
		st.KernelDrops += n
		st.KernelDropsKnown = st.KernelDropsKnown || ok
	}
	if n := s.multi.Load(); n > 0 {
		st.SoftIRQCoresPerMsg = float64(s.multiCPU.Load()) / float64(n)
	}
	gro := make(map[int]bool)
	for _, g := range s.l.GROCores {
		gro[g] = true
	}
	for c := range st.Cores {
		k := &s.counters[c]
		st.Cores[c] = CoreStats{
			Core: c, CPU: s.l.cpus[c], GRO: gro[c],
			GROPackets: k.groPackets.Load(), GROBursts: k.groBursts.Load(), GROBatches: k.groBatches.Load(),
			InlinePackets: k.inlinePackets.Load(), LocalBatches: k.localBatches.Load(),
			RemoteBatches: k.remoteBatches.Load(), SoftIRQPackets: k.softirqPackets.Load(),
			AppMessages: k.appMessages.Load(),
			GRONs:       k.groNs.Load(), SoftIRQNs: k.softirqNs.Load(), AppNs: k.appNs.Load(),
		}
	}
	g2s := hdr.New(1, latencyMax, 2)
	s2a := hdr.New(1, latencyMax, 2)
	for c := range s.l.cores {
		s.groHist[c].mergeInto(g2s)
		s.appHist[c].mergeInto(s2a)
	}
	st.GROToSoftIRQ, st.SoftIRQToApp = summarize(g2s), summarize(s2a)
	return st
}

func (s *Server) transportStats() TransportStats {
	t := &s.tc
	ts := TransportStats{
		RPCs: s.rpcs.Load(), Remembered: int64(s.msgs.remembered()), GrantWaiting: int64(s.grants.waiting()),
		DataSent: t.dataOut.Load(), Retransmitted: t.retransOut.Load(), RetransmitsReceived: t.retransIn.Load(),
		GrantsSent: t.grantsOut.Load(), GrantsReceived: t.grantsIn.Load(), Withheld: t.withheld.Load(),
		Peers:       int64(s.peers.len()),
		ResendsSent: t.ctlOut[wire.TypeResend].Load(), ResendsReceived: t.resendsIn.Load(),
		BusySent: t.ctlOut[wire.TypeBusy].Load(), UnknownSent: t.ctlOut[wire.TypeUnknown].Load(),
		AcksSent: t.ctlOut[wire.TypeAck].Load(), AcksReceived: t.acksIn.Load(),
	}
	for _, x := range s.tx {
		f := x.faults.stats()
		ts.Faults.Lost += f.Lost
		ts.Faults.Duplicated += f.Duplicated
		ts.Faults.Reordered += f.Reordered
		ts.Faults.Delayed += f.Delayed
		ts.Faults.Overflow += f.Overflow
	}
	return ts
}

// Close stops the pipeline: it closes the sockets, lets the GRO threads and
// then the SoftIRQ workers finish what they hold, wakes every waiting
// thread with ErrClosed, frees every message the application does not hold,
// and waits for all of the server's goroutines (handlers of Serve included)
// to return. It is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closing.Store(true)
		s.mu.Unlock()
		close(s.stopGRO)
		s.closeErr = s.closeConns()
		s.wgGRO.Wait()
		for _, w := range s.workers {
			close(w.q)
		}
		s.wgSoftIRQ.Wait()
		s.app.close(s)
		close(s.appStop)
		s.wgApp.Wait()
		close(s.timerStop)
		s.wgAux.Wait()
		s.msgs.freeAll(s, new(txScratch))
		for _, x := range s.tx {
			x.close()
		}
	})
	return s.closeErr
}

func (s *Server) closeConns() error {
	var first error
	for _, c := range s.conns {
		if err := c.Close(); err != nil && first == nil {
			first = fmt.Errorf("rx: close socket: %w", err)
		}
	}
	return first
}

// runTimer is the server's timer thread: every quarter of the shorter of
// ResendInterval and MessageTimeout it frees what timed out and asks for
// what is missing (see tick).
func (s *Server) runTimer() {
	defer s.wgAux.Done()
	pprof.Do(context.Background(), pprof.Labels("rx", "timer"), func(context.Context) {
		// Like the client's timer: timerParts ticks per interval, each over
		// 1/timerParts of the RPCs (all of them every tick was the
		// largest single cost of a server holding 10,000 RPCs).
		period := max(min(s.l.transport.resend, s.l.MessageTimeout)/timerParts, 100*time.Microsecond)
		t := time.NewTicker(period)
		defer t.Stop()
		var tx txScratch
		for k := 0; ; k = (k + 1) % timerParts {
			select {
			case <-s.timerStop:
				return
			case <-t.C:
				s.tickPart(s.clock(), &tx, k, timerParts)
			}
		}
	})
}
