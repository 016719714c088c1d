package rx

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// DropReason says why the pipeline dropped a packet or a message.
type DropReason uint8

// Reasons for drops. Packet-level reasons count datagrams; DropReadyFull and
// DropTimeout count messages.
const (
	// DropOversized: a datagram longer than MaxDatagram.
	DropOversized DropReason = iota
	// DropTruncated: shorter than a header, or than its payload length says.
	DropTruncated
	// DropMalformed: not a valid packet (magic, version, type, ranges, …).
	DropMalformed
	// DropTooLong: a message longer than Config.MaxMessageLen.
	DropTooLong
	// DropMemory: a new message beyond Config.MaxInflightBytes.
	DropMemory
	// DropInconsistent: a packet whose message length disagrees with the
	// earlier packets of its message.
	DropInconsistent
	// DropDuplicate: bytes of a message received already.
	DropDuplicate
	// DropGaps: a packet that would leave a message too many holes.
	DropGaps
	// DropQueueFull: a packet of a GRO batch refused by a full SoftIRQ queue.
	DropQueueFull
	// DropUnsupported: a packet this endpoint has no use for (a response
	// at a server, BUSY or UNKNOWN at a server, a request at a client).
	DropUnsupported
	// DropReadyFull: a complete message refused by a full ready queue.
	DropReadyFull
	// DropTimeout: a partly received message freed after MessageTimeout.
	DropTimeout
	// DropStale: a packet of an RPC that ended here (a late duplicate), or
	// a GRANT for a response this endpoint does not hold.
	DropStale
	// DropResponseTimeout: a response freed after MessageTimeout without
	// news from its client (its ACK was lost, or the client is gone).
	DropResponseTimeout
	// DropUngranted: request bytes past the server's grant, or past the
	// unscheduled bytes without the RPC's cookie (sent blind).
	DropUngranted
	// DropUnverified: a GRANT, RESEND or ACK that would act on an RPC
	// without carrying its cookie.
	DropUnverified
	// DropPeerMemory: a new request from a client host whose share of
	// memory (Config.MaxPeerBytes) is spent.
	DropPeerMemory
	// DropShed: the first packet of a new request refused at the door
	// because the server is full (admission control, Config.ShedDelay).
	DropShed
	// NumDropReasons is the number of reasons.
	NumDropReasons
)

var dropNames = [NumDropReasons]string{"oversized", "truncated", "malformed", "too_long", "memory",
	"inconsistent", "duplicate", "gaps", "queue_full", "unsupported", "ready_full", "timeout",
	"stale", "response_timeout", "ungranted", "unverified", "peer_memory", "shed"}

func (r DropReason) String() string {
	if r < NumDropReasons {
		return dropNames[r]
	}
	return fmt.Sprintf("DropReason(%d)", uint8(r))
}

// coreCounters is one logical core's telemetry, written with atomics by the
// threads of that core (and by GRO threads for the work they run inline on
// their own core). Padded so cores do not false-share.
type coreCounters struct {
	groPackets     atomic.Uint64
	groBursts      atomic.Uint64
	groBatches     atomic.Uint64
	groNs          atomic.Int64
	inlinePackets  atomic.Uint64
	localBatches   atomic.Uint64
	remoteBatches  atomic.Uint64
	softirqPackets atomic.Uint64
	softirqNs      atomic.Int64
	appMessages    atomic.Uint64
	appNs          atomic.Int64
	_              [40]byte
}

// transportCounters count the transport protocol's packets at a server.
type transportCounters struct {
	dataOut    atomic.Uint64 // DATA packets of responses sent, retransmissions included
	retransOut atomic.Uint64 // of which retransmissions
	retransIn  atomic.Uint64 // DATA packets received flagged FlagRetransmit
	grantsOut  atomic.Uint64
	grantsIn   atomic.Uint64
	resendsIn  atomic.Uint64
	acksIn     atomic.Uint64
	ctlOut     [8]atomic.Uint64 // control packets sent by wire.Type (GRANTs counted in grantsOut)
	stateless  atomic.Uint32    // answers about RPCs the server does not hold, for fault decisions
	withheld   atomic.Uint64    // RESENDs and BUSYs not sent: the RPC's unverified client had not paid for them
}

// TransportStats counts the transport protocol's work at a server.
type TransportStats struct {
	// RPCs is the RPCs held now (from a request's first packet until the
	// client acknowledges the response); Remembered the ended ones kept to
	// recognise late duplicates; GrantWaiting the requests waiting for
	// grants.
	RPCs, Remembered, GrantWaiting int64
	// DataSent counts DATA packets of responses sent, Retransmitted those
	// sent again; RetransmitsReceived the request packets received flagged
	// FlagRetransmit.
	DataSent, Retransmitted, RetransmitsReceived uint64
	// GrantsSent and GrantsReceived count GRANT packets; ResendsSent the
	// RESENDs asking for request bytes, ResendsReceived the client's
	// RESENDs and probes.
	GrantsSent, GrantsReceived, ResendsSent, ResendsReceived uint64
	// BusySent, UnknownSent and AcksSent answer probes; AcksReceived end
	// RPCs.
	BusySent, UnknownSent, AcksSent, AcksReceived uint64
	// Withheld counts the RESENDs and BUSYs the server did not send because
	// the RPC's client had not proven its address and had not sent as many
	// bytes as the reply would cost (see the threat model in the package
	// doc).
	Withheld uint64
	// Peers is the client hosts with RPCs in progress.
	Peers int64
	// Faults are the faults injected into the server's send path.
	Faults FaultStats
}

// latencyMax bounds recorded latencies (10 s); longer ones are clamped.
const latencyMax = int64(10 * time.Second)

// latencyHist is a histogram of handoff latencies in ns. Each core has its
// own, so the lock is uncontended except while Stats reads it.
type latencyHist struct {
	mu sync.Mutex
	h  *hdr.Histogram
}

func newLatencyHist() *latencyHist {
	return &latencyHist{h: hdr.New(1, latencyMax, 2)}
}

func (l *latencyHist) record(ns int64) {
	ns = min(max(ns, 1), latencyMax)
	l.mu.Lock()
	_ = l.h.RecordValue(ns) // in range by construction
	l.mu.Unlock()
}

func (l *latencyHist) mergeInto(dst *hdr.Histogram) {
	l.mu.Lock()
	dst.Merge(l.h)
	l.mu.Unlock()
}

// Latency summarises a handoff latency distribution, in ns.
type Latency struct {
	Count         int64
	P50, P99, Max int64
	Mean          float64
}

func summarize(h *hdr.Histogram) Latency {
	if h.TotalCount() == 0 {
		return Latency{}
	}
	return Latency{Count: h.TotalCount(), P50: h.ValueAtQuantile(50), P99: h.ValueAtQuantile(99),
		Max: h.Max(), Mean: h.Mean()}
}

// CoreStats is one logical core's telemetry. Busy times are ns of wall time
// the core's threads spent in each role.
type CoreStats struct {
	// Core is the logical core; CPU the CPU it is mapped to.
	Core, CPU int
	// GRO: this core runs a GRO thread.
	GRO bool
	// GROPackets are datagrams read by this core's GRO thread, GROBursts
	// the reads that returned them, GROBatches the batches it closed.
	GROPackets, GROBursts, GROBatches uint64
	// InlinePackets ran SoftIRQ inline on this GRO core (bypass).
	InlinePackets uint64
	// LocalBatches are batches this core's GRO thread processed itself
	// (the policy or SAME_CORE kept them here); RemoteBatches came through
	// this core's SoftIRQ queue from a GRO thread.
	LocalBatches, RemoteBatches uint64
	// SoftIRQPackets are packets given SoftIRQ processing on this core,
	// inline and batched.
	SoftIRQPackets uint64
	// AppMessages are messages taken by application threads of this core.
	AppMessages uint64
	// GRONs, SoftIRQNs, AppNs are busy times per role (AppNs: handlers run
	// by Serve).
	GRONs, SoftIRQNs, AppNs int64
}

// SoftIRQBatches is the SoftIRQ batches run on the core, inline packets
// included (each is a batch of one).
func (c CoreStats) SoftIRQBatches() uint64 {
	return c.InlinePackets + c.LocalBatches + c.RemoteBatches
}

// Stats is a snapshot of the pipeline's telemetry. Counters are read one at
// a time while the pipeline runs, so they are not a consistent cut.
type Stats struct {
	Policy string
	Addr   string
	// Pinned reports whether every thread started so far was pinned to its
	// CPU; PinError is the first refusal.
	Pinned   bool
	PinError string
	// Prioritized reports whether GRO and SoftIRQ threads run at real-time
	// priority (Config.NoPriority); PriorityError is the first refusal.
	Prioritized   bool
	PriorityError string
	// RSSSteered reports whether a policy that programs the RSS table
	// (gen5, gen6) decides which GRO socket receives each datagram, through
	// a program attached to the sockets; RSSPrograms counts the programs
	// attached, RSSError says why steering is off when it was wanted.
	RSSSteered  bool
	RSSPrograms uint64
	RSSError    string
	UptimeNs    int64
	Cores       []CoreStats
	// Drops counts drops by reason.
	Drops [NumDropReasons]uint64
	// KernelDrops counts the datagrams the kernel dropped before the
	// pipeline could read them (the socket buffers were full), over all
	// sockets, as SO_RXQ_OVFL reports them; KernelDropsKnown is false where
	// the platform does not report them.
	KernelDrops      uint64
	KernelDropsKnown bool
	// Messages and MessageBytes count messages handed to the application.
	Messages, MessageBytes uint64
	// Replies counts responses sent; ReplyErrors the sends that failed.
	Replies, ReplyErrors uint64
	// InflightBytes are held now (requests assembling, ready or not yet
	// released, responses not yet acknowledged, and a fixed charge per
	// RPC).
	InflightBytes int64
	// Transport counts the flow control and recovery work.
	Transport TransportStats
	// SoftIRQCoresPerMsg is the mean number of distinct SoftIRQ cores that
	// processed the packets of a multi-packet message.
	SoftIRQCoresPerMsg float64
	// GROToSoftIRQ is the latency from the end of a GRO batch to the start
	// of its SoftIRQ processing on another thread; SoftIRQToApp from a
	// message's completion to its taking by an application thread.
	GROToSoftIRQ, SoftIRQToApp Latency
}

// TotalDrops sums the drops of every reason.
func (s *Stats) TotalDrops() uint64 {
	var n uint64
	for _, d := range s.Drops {
		n += d
	}
	return n
}

// WriteText prints the telemetry as a few aligned tables.
func (s *Stats) WriteText(w io.Writer) error {
	pin := "yes"
	if !s.Pinned {
		pin = "no"
		if s.PinError != "" {
			pin += " (" + s.PinError + ")"
		}
	}
	prio := "yes"
	if !s.Prioritized {
		prio = "no"
		if s.PriorityError != "" {
			prio += " (" + s.PriorityError + ")"
		}
	}
	up := time.Duration(s.UptimeNs)
	fmt.Fprintf(w, "rx %s on %s: %d logical cores, pinned %s, softirq priority %s, up %v\n",
		s.Policy, s.Addr, len(s.Cores), pin, prio, up.Round(time.Millisecond))
	switch {
	case s.RSSSteered:
		fmt.Fprintf(w, "RSS table steered by %s: %d programs attached\n", s.Policy, s.RSSPrograms)
	case s.RSSError != "":
		fmt.Fprintf(w, "RSS steering of %s off: %s\n", s.Policy, s.RSSError)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "core\tcpu\tgro pkts\tbatches\tinline\tsoftirq pkts\tlocal\tremote\tapp msgs\tgro busy\tsoftirq busy\tapp busy\t")
	pct := func(ns int64) string {
		if s.UptimeNs <= 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f%%", 100*float64(ns)/float64(s.UptimeNs))
	}
	for _, c := range s.Cores {
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t\n", c.Core, c.CPU, c.GROPackets, c.GROBatches,
			c.InlinePackets, c.SoftIRQPackets, c.LocalBatches, c.RemoteBatches, c.AppMessages,
			pct(c.GRONs), pct(c.SoftIRQNs), pct(c.AppNs))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "messages %d (%d bytes), replies %d (%d failed), in flight %d bytes, softirq cores/msg %.2f\n",
		s.Messages, s.MessageBytes, s.Replies, s.ReplyErrors, s.InflightBytes, s.SoftIRQCoresPerMsg)
	lat := func(name string, l Latency) {
		fmt.Fprintf(w, "handoff %-15s n=%d p50=%v p99=%v max=%v\n", name, l.Count,
			time.Duration(l.P50), time.Duration(l.P99), time.Duration(l.Max))
	}
	t := &s.Transport
	fmt.Fprintf(w, "transport: rpcs %d, waiting for grants %d, grants sent %d, resends sent %d / received %d, retransmitted %d / received %d, acks received %d\n",
		t.RPCs, t.GrantWaiting, t.GrantsSent, t.ResendsSent, t.ResendsReceived, t.Retransmitted, t.RetransmitsReceived, t.AcksReceived)
	lat("gro→softirq", s.GROToSoftIRQ)
	lat("softirq→app", s.SoftIRQToApp)
	if s.KernelDropsKnown {
		fmt.Fprintf(w, "kernel drops (socket buffers full): %d\n", s.KernelDrops)
	}
	var drops []string
	for r, n := range s.Drops {
		if n > 0 {
			drops = append(drops, fmt.Sprintf("%s %d", DropReason(r), n))
		}
	}
	if len(drops) == 0 {
		drops = []string{"none"}
	}
	_, err := fmt.Fprintf(w, "drops: %s\n", strings.Join(drops, ", "))
	return err
}
