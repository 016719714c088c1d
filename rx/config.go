package rx

import (
	"cmp"
	"errors"
	"fmt"
	"log"
	"math"
	"net/netip"
	"slices"
	"time"

	"github.com/homalb/homalb/balance"
	"github.com/homalb/homalb/homa"
	"github.com/homalb/homalb/wire"
)

// Sizes and defaults of the pipeline.
const (
	// MaxDatagram is the largest datagram the pipeline accepts: an Ethernet
	// MTU of 1500 bytes less the IPv4 (20) and UDP (8) headers. Larger ones
	// are dropped as DropOversized.
	MaxDatagram = 1500 - 20 - 8
	// MaxPayload is the message bytes one packet carries: 1424, as Homa's
	// at MTU 1500.
	MaxPayload = MaxDatagram - wire.HeaderLen
	// pktBufSize is the size of a receive buffer: more than MaxDatagram, so
	// that an oversized datagram is seen as such.
	pktBufSize = 2048

	// DefaultMaxGRO is max_gro_skbs: packets per GRO batch.
	DefaultMaxGRO = homa.MaxGROSkbs
	// MaxGROLimit bounds Config.MaxGRO (a batch is a fixed array).
	MaxGROLimit = 64
	// DefaultReadBurst is the datagrams read by one recvmmsg call, as a NAPI
	// poll's budget of 64 packets.
	DefaultReadBurst = homa.NAPIBudget
	// DefaultPoll is poll_usecs: how long an application thread polls for a
	// message before it sleeps.
	DefaultPoll = homa.Poll
	// DefaultMaxMessageLen is Homa's longest message.
	DefaultMaxMessageLen = homa.MaxMessageLength
	// MaxMessageLenLimit bounds Config.MaxMessageLen.
	MaxMessageLenLimit = 1 << 26
	// DefaultMaxInflightBytes bounds the bytes of messages being assembled
	// or waiting for an application thread.
	DefaultMaxInflightBytes = 64 << 20
	// DefaultQueueDepth is the GRO batches a SoftIRQ core's queue holds.
	DefaultQueueDepth = 256
	// DefaultReadyDepth is the complete messages that may wait for an
	// application thread.
	DefaultReadyDepth = 4096
	// DefaultMessageTimeout frees a message whose next packet does not come.
	DefaultMessageTimeout = time.Second
	// DefaultSocketBuffer is each socket's kernel receive buffer.
	DefaultSocketBuffer = 4 << 20
	// DefaultBuffersPerGRO is the receive buffers each GRO thread owns; when
	// all are in flight the thread stops reading and the kernel's socket
	// buffer absorbs (then drops) the excess, as a NIC ring does.
	DefaultBuffersPerGRO = 2048

	// DefaultUnschedBytes is unsched_bytes: the bytes of a message sent
	// before any grant, and the bytes a receiver keeps granted beyond what
	// arrived for each message it grants (Homa's rtt_bytes).
	DefaultUnschedBytes = homa.UnschedBytes
	// DefaultMaxOvercommit is max_overcommit: messages granted at once.
	DefaultMaxOvercommit = homa.MaxOvercommit
	// DefaultMaxIncoming is max_incoming: bytes granted but not yet
	// received, over all messages (Homa's value at 25 Gbps).
	DefaultMaxIncoming = homa.MaxIncoming
	// DefaultResendInterval is how long a receiver waits without a packet
	// of an incomplete message before it asks for the missing bytes.
	DefaultResendInterval = 10 * time.Millisecond
	// DefaultCompletedCap is the ended RPCs remembered, so that their late
	// duplicates are dropped.
	DefaultCompletedCap = 1 << 16
	// rpcOverhead is charged to the in-flight budget for each RPC the
	// server holds, besides its bytes, so that a flood of tiny messages is
	// bounded by MaxInflightBytes too.
	rpcOverhead = 512
)

// Config describes a pipeline. The zero value is a working one-core pipeline
// running gen2 on a free loopback port; see each field for its default.
//
// Cores are the pipeline's logical cores 0..Cores−1, the ids of the policy's
// activity table. Each is mapped onto a CPU (CPUs), several onto one when
// the host has fewer CPUs than the pipeline has cores, and every thread of a
// core is pinned to that CPU when the system allows it.
type Config struct {
	// Addr is the UDP address to listen on (default "127.0.0.1:0": a free
	// port of the loopback).
	Addr string
	// Policy is the name of a balance policy (default "gen2").
	Policy string
	// Options are the balancer's tunables; nil means
	// balance.DefaultOptions(). For gen3 without Gen3Groups, the groups are
	// built from GROCores and SoftIRQCores (see SoftIRQCores).
	Options *balance.Options
	// Cores is the number of logical cores; 0 means one more than the
	// largest core named in GROCores, SoftIRQCores and AppCores.
	Cores int
	// GROCores lists the cores that run a GRO thread, one socket each
	// (default [0]). On systems other than Linux only one is allowed.
	GROCores []int
	// SoftIRQCores lists the cores meant for SoftIRQ work. For gen3 they
	// are dealt out, in order and in equal shares, as the SoftIRQ candidates
	// of the GRO cores; nil then means the deployed layout, which needs a
	// multiple of 4 cores. Other policies steer by their own rule over all
	// cores, so there the list only counts toward Cores. Every core has a
	// SoftIRQ worker, idle unless the policy sends it work.
	SoftIRQCores []int
	// AppCores lists the cores of the application threads of Serve,
	// assigned round-robin (default: SoftIRQCores, else [0]).
	AppCores []int
	// Threads is the number of application threads Serve runs (default
	// len(AppCores)).
	Threads int
	// MaxGRO is max_gro_skbs, the packets of a GRO batch (default 20, at
	// most MaxGROLimit).
	MaxGRO int
	// ReadBurst is the datagrams one read may return (default 64); a GRO
	// batch is also closed at the end of each read.
	ReadBurst int
	// Poll is how long an application thread polls before it sleeps
	// (default 50 µs; negative: never poll).
	Poll time.Duration
	// MaxMessageLen is the longest message accepted (default 1,000,000);
	// the packets of longer ones are dropped (DropTooLong).
	MaxMessageLen int
	// MaxInflightBytes bounds the bytes of requests held by the pipeline,
	// from their first packet until Release, with the responses held until
	// their clients acknowledge them and a fixed charge per RPC (default 64
	// MiB). Beyond it the packets of new requests are dropped (DropMemory;
	// their clients send them again later); a response is charged but never
	// refused, so the bound may be passed by the responses of the requests
	// admitted.
	MaxInflightBytes int64
	// MaxPeerBytes bounds the bytes of the requests one client host (an IP
	// address, whatever its ports) has in assembly, with the same fixed
	// charge per RPC (default MaxInflightBytes/8, but at least the smaller
	// of MaxInflightBytes and 2 MiB). Beyond it the host's
	// packets that need memory are dropped (DropPeerMemory, DropMemory), so
	// that one host cannot hold the server's whole budget.
	MaxPeerBytes int64
	// ShedDelay is the admission limit: while the time a request's first
	// packet waited in the socket's buffer and the time the oldest
	// complete request has waited for an application thread add up to
	// this, the first packets of new requests are dropped at the door
	// (DropShed, answered with a BUSY marked FlagShed) and their clients
	// send them again after a backoff, so that an overloaded server keeps
	// finishing what it admitted instead of queueing work its clients will
	// have given up on (default 4 × ResendInterval: a queue that long is overload, not a
	// scheduling hiccup, whose shedding would only bring retries; negative:
	// never shed).
	ShedDelay time.Duration
	// QueueDepth is the GRO batches each SoftIRQ queue holds (default 256);
	// beyond it batches are dropped (DropQueueFull, counted per packet).
	QueueDepth int
	// ReadyDepth is the complete messages that may wait for a thread
	// (default 4096); beyond it messages are dropped (DropReadyFull).
	ReadyDepth int
	// MessageTimeout frees a partly received message when no packet of it
	// came for this long (default 1 s; DropTimeout).
	MessageTimeout time.Duration
	// SocketBuffer is each socket's kernel receive buffer in bytes (default
	// 4 MiB; set with SO_RCVBUFFORCE when allowed).
	SocketBuffer int
	// BuffersPerGRO is the receive buffers of each GRO thread (default 2048).
	BuffersPerGRO int
	// CPUs maps logical core i to CPU CPUs[i % len(CPUs)]; nil means the
	// CPUs this process may run on.
	CPUs []int
	// NoPin disables pinning: threads still lock to OS threads but run on
	// any CPU.
	NoPin bool
	// NoPriority leaves GRO and SoftIRQ threads at ordinary priority. By
	// default they ask for SCHED_FIFO priority 1, so that their work
	// preempts application threads on a shared CPU as softirq work does in
	// the kernel; where that is refused they run at ordinary priority
	// (one warning, Server.Prioritized false).
	NoPriority bool
	// UnschedBytes is the bytes of a response sent before the client
	// grants more, and the bytes the server keeps granted beyond what
	// arrived for each request it grants (default 60,000; see Transport in
	// the package doc).
	UnschedBytes int
	// MaxOvercommit is the requests granted at once, those with the fewest
	// bytes left first (default 8, at most MaxOvercommitLimit).
	MaxOvercommit int
	// MaxIncoming bounds the request bytes granted but not yet received,
	// over all requests (default 480,000).
	MaxIncoming int
	// ResendInterval is how long the server waits without a packet of an
	// incomplete request before it asks for the missing bytes, and without
	// news of a response before it tells the client it still has it
	// (default 10 ms).
	ResendInterval time.Duration
	// CompletedCap is the number of ended RPCs remembered so that their
	// late duplicates are dropped, not taken for new requests (default
	// 65,536).
	CompletedCap int
	// Faults are injected into the server's send path (responses, grants,
	// resends; for tests and demonstrations).
	Faults Faults
	// Logf receives the pipeline's rare warnings (default log.Printf).
	Logf func(format string, args ...any)
}

// ErrConfig marks a configuration that cannot work; test with errors.Is.
var ErrConfig = errors.New("rx: bad configuration")

func configErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
}

// layout is a validated Config with every default applied.
type layout struct {
	Config
	opts      balance.Options
	cores     int
	cpus      []int // logical core → CPU
	transport transportParams
}

// transportParams are the validated protocol parameters of an endpoint.
type transportParams struct {
	unsched      int
	overcommit   int
	maxIncoming  int
	resend       time.Duration
	completedCap int
	faults       Faults
}

// set applies the defaults to the given parameters and validates them.
func (t *transportParams) set(unsched, overcommit, maxIncoming int, resend time.Duration, completedCap int, faults Faults) error {
	*t = transportParams{unsched: unsched, overcommit: overcommit, maxIncoming: maxIncoming,
		resend: resend, completedCap: completedCap, faults: faults}
	t.unsched = cmp.Or(t.unsched, DefaultUnschedBytes)
	t.overcommit = cmp.Or(t.overcommit, DefaultMaxOvercommit)
	t.maxIncoming = cmp.Or(t.maxIncoming, DefaultMaxIncoming)
	t.resend = cmp.Or(t.resend, DefaultResendInterval)
	t.completedCap = cmp.Or(t.completedCap, DefaultCompletedCap)
	switch {
	case t.unsched < MaxPayload || t.unsched > MaxMessageLenLimit:
		return configErr("unscheduled bytes %d out of range %d..%d", t.unsched, MaxPayload, MaxMessageLenLimit)
	case t.overcommit < 1 || t.overcommit > MaxOvercommitLimit:
		return configErr("max overcommit %d out of range 1..%d", t.overcommit, MaxOvercommitLimit)
	case t.maxIncoming < MaxPayload:
		return configErr("max incoming %d below one packet (%d bytes)", t.maxIncoming, MaxPayload)
	case t.resend < 100*time.Microsecond || t.resend > time.Minute:
		return configErr("resend interval %v out of range 100µs..1m", t.resend)
	case t.completedCap < msgShards || t.completedCap > 1<<24:
		return configErr("completed RPCs remembered %d out of range %d..%d", t.completedCap, msgShards, 1<<24)
	}
	if err := faults.Validate(); err != nil {
		return configErr("faults: %v", err)
	}
	return nil
}

// Validate reports the first field of c that cannot work, as an error
// matching ErrConfig. It does not touch the network.
func (c Config) Validate() error {
	_, err := c.layout()
	return err
}

func (c Config) layout() (*layout, error) {
	l := &layout{Config: c}
	l.GROCores = slices.Clone(c.GROCores)
	l.SoftIRQCores = slices.Clone(c.SoftIRQCores)
	l.AppCores = slices.Clone(c.AppCores)
	if l.Addr == "" {
		l.Addr = "127.0.0.1:0"
	}
	if _, err := netip.ParseAddrPort(l.Addr); err != nil {
		return nil, configErr("address %q: want IP:PORT", l.Addr)
	}
	if l.Policy == "" {
		l.Policy = "gen2"
	}
	info, err := balance.Lookup(l.Policy)
	if err != nil {
		return nil, configErr("%v", err)
	}
	if len(l.GROCores) == 0 && l.Cores > 0 {
		// The policy's deployment on the cores asked for, as in the
		// simulator: balance.Deploy is the one rule.
		o := balance.DefaultOptions()
		if c.Options != nil {
			o = *c.Options
		}
		d, err := balance.Deploy(l.Policy, l.Cores, o)
		if err != nil {
			return nil, configErr("%v", err)
		}
		l.GROCores = d.GROCores
	}
	if len(l.GROCores) == 0 {
		l.GROCores = []int{0}
	}
	if len(l.AppCores) == 0 {
		l.AppCores = slices.Clone(l.SoftIRQCores)
		if len(l.AppCores) == 0 {
			l.AppCores = []int{0}
		}
	}
	// Application threads may share a core; GRO and SoftIRQ cores may not
	// be listed twice. balance.CheckCores is the one check of a core list.
	appCores := slices.Compact(slices.Sorted(slices.Values(l.AppCores)))
	maxCore := 0
	for _, list := range []struct {
		name  string
		cores []int
	}{{"GRO cores", l.GROCores}, {"SoftIRQ cores", l.SoftIRQCores}, {"app cores", appCores}} {
		if err := balance.CheckCores(list.name, list.cores, balance.MaxCores); err != nil {
			return nil, configErr("%v", err)
		}
		for _, x := range list.cores {
			maxCore = max(maxCore, x)
		}
	}
	if len(l.GROCores) > 1 && !multiSocket {
		return nil, configErr("%d GRO cores: this system spreads a port over one socket only", len(l.GROCores))
	}
	l.cores = l.Cores
	l.cores = cmp.Or(l.cores, maxCore+1)
	if l.cores <= maxCore || l.cores > balance.MaxCores {
		return nil, configErr("%d cores cannot hold core %d", l.cores, maxCore)
	}
	l.Threads = cmp.Or(l.Threads, len(l.AppCores))
	if l.Threads < 0 || l.Threads > 1024 {
		return nil, configErr("threads %d out of range 1..1024", l.Threads)
	}
	l.MaxGRO = cmp.Or(l.MaxGRO, DefaultMaxGRO)
	if l.MaxGRO < 1 || l.MaxGRO > MaxGROLimit {
		return nil, configErr("max GRO batch %d out of range 1..%d", l.MaxGRO, MaxGROLimit)
	}
	l.ReadBurst = cmp.Or(l.ReadBurst, DefaultReadBurst)
	if l.ReadBurst < 1 || l.ReadBurst > 1024 {
		return nil, configErr("read burst %d out of range 1..1024", l.ReadBurst)
	}
	l.Poll = cmp.Or(l.Poll, DefaultPoll)
	if l.Poll < 0 {
		l.Poll = 0
	}
	l.MaxMessageLen = cmp.Or(l.MaxMessageLen, DefaultMaxMessageLen)
	if l.MaxMessageLen < 1 || l.MaxMessageLen > MaxMessageLenLimit {
		return nil, configErr("max message length %d out of range 1..%d", l.MaxMessageLen, MaxMessageLenLimit)
	}
	l.MaxInflightBytes = cmp.Or(l.MaxInflightBytes, DefaultMaxInflightBytes)
	if l.MaxInflightBytes < 1 {
		return nil, configErr("in-flight byte limit %d is not positive", l.MaxInflightBytes)
	}
	l.MaxPeerBytes = cmp.Or(l.MaxPeerBytes, max(l.MaxInflightBytes/8, min(l.MaxInflightBytes, 2<<20)))
	if l.MaxPeerBytes < rpcOverhead {
		return nil, configErr("per-peer byte limit %d below one RPC's charge (%d)", l.MaxPeerBytes, rpcOverhead)
	}
	l.QueueDepth = cmp.Or(l.QueueDepth, DefaultQueueDepth)
	l.ReadyDepth = cmp.Or(l.ReadyDepth, DefaultReadyDepth)
	if l.QueueDepth < 1 || l.ReadyDepth < 1 {
		return nil, configErr("queue depths %d and %d must be positive", l.QueueDepth, l.ReadyDepth)
	}
	l.MessageTimeout = cmp.Or(l.MessageTimeout, DefaultMessageTimeout)
	if l.MessageTimeout < time.Millisecond {
		return nil, configErr("message timeout %v below 1ms", l.MessageTimeout)
	}
	l.SocketBuffer = cmp.Or(l.SocketBuffer, DefaultSocketBuffer)
	l.BuffersPerGRO = cmp.Or(l.BuffersPerGRO, DefaultBuffersPerGRO)
	if l.BuffersPerGRO < l.ReadBurst {
		return nil, configErr("%d buffers per GRO thread, fewer than a read burst of %d", l.BuffersPerGRO, l.ReadBurst)
	}
	if l.Logf == nil {
		l.Logf = log.Printf
	}
	if err := l.transport.set(c.UnschedBytes, c.MaxOvercommit, c.MaxIncoming, c.ResendInterval, c.CompletedCap, c.Faults); err != nil {
		return nil, err
	}
	l.ShedDelay = cmp.Or(l.ShedDelay, 4*l.transport.resend)
	if l.ShedDelay < 0 {
		l.ShedDelay = math.MaxInt64
	}
	if l.MessageTimeout < 2*l.transport.resend {
		return nil, configErr("message timeout %v shorter than two resend intervals (%v)", l.MessageTimeout, l.transport.resend)
	}

	// The balancer's options, and gen3's groups from the core lists.
	if c.Options != nil {
		l.opts = *c.Options
	} else {
		l.opts = balance.DefaultOptions()
		l.opts.GROBusyNs = balance.GROBusyAsDeployed // as the simulator runs it: balance.Deploy
	}
	if info.Name == "gen3" && l.opts.Gen3Groups == nil {
		if len(l.SoftIRQCores) > 0 {
			g, err := dealGroups(l.GROCores, l.SoftIRQCores)
			if err != nil {
				return nil, err
			}
			l.opts.Gen3Groups = g
		} else if l.cores%4 != 0 {
			return nil, configErr("gen3 on %d cores: name the SoftIRQ cores (or give groups), the deployed layout needs a multiple of 4", l.cores)
		}
	}
	if l.opts.GROCores == nil { // the policies that place work away from GRO learn where GRO is
		l.opts.GROCores = slices.Clone(l.GROCores)
	}
	if err := l.opts.Validate(l.cores); err != nil {
		return nil, configErr("policy %s: %v", info.Name, err)
	}
	if tab, err := balance.NewTable(l.cores); err != nil {
		return nil, configErr("%v", err)
	} else if _, err := balance.NewFrom(info, tab, l.opts); err != nil {
		return nil, configErr("%v", err)
	}
	if info.Name == "gen3" {
		groups := l.opts.Gen3Groups
		if groups == nil {
			groups, _ = balance.DeployedGen3Groups(l.cores)
		}
		gro := balance.GROCores(groups)
		for _, g := range l.GROCores {
			if !slices.Contains(gro, g) {
				return nil, configErr("gen3: GRO core %d has no group in %s", g, balance.FormatGroups(groups))
			}
		}
	}

	// Logical cores onto CPUs.
	cpus := l.CPUs
	if cpus == nil {
		if cpus, err = allowedCPUs(); err != nil || len(cpus) == 0 {
			cpus = []int{0}
		}
	}
	for _, x := range cpus {
		if x < 0 || x >= 1024 {
			return nil, configErr("CPU %d out of range 0..1023", x)
		}
	}
	l.cpus = make([]int, l.cores)
	for i := range l.cpus {
		l.cpus[i] = cpus[i%len(cpus)]
	}
	return l, nil
}

// dealGroups builds gen3 groups: the SoftIRQ cores, in order, dealt out in
// equal contiguous shares (the first groups take one more when they do not
// divide evenly) to the GRO cores.
func dealGroups(gro, softirq []int) ([]balance.Group, error) {
	if len(softirq) < len(gro) {
		return nil, configErr("gen3: %d SoftIRQ cores for %d GRO cores; each group needs one", len(softirq), len(gro))
	}
	groups := make([]balance.Group, len(gro))
	per, extra := len(softirq)/len(gro), len(softirq)%len(gro)
	next := 0
	for i, g := range gro {
		n := per
		if i < extra {
			n++
		}
		groups[i] = balance.Group{GRO: g, SoftIRQ: slices.Clone(softirq[next : next+n])}
		next += n
	}
	return groups, nil
}

// Deployment returns how the pipeline deploys its policy: its GRO cores and
// GRO busy window, resolved as the simulator resolves them (balance.Deploy).
func (c Config) Deployment() (balance.Deployment, error) {
	l, err := c.layout()
	if err != nil {
		return balance.Deployment{}, err
	}
	o := l.opts
	o.GROCores = l.GROCores
	return balance.Deploy(l.Policy, l.cores, o)
}
