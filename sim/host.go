package sim

import (
	"math"
	"math/rand/v2"

	"github.com/homalb/homalb/balance"
	"github.com/homalb/homalb/stats"
	"github.com/homalb/homalb/workload"
)

// The host: its packets, messages, threads and cores, and the costs of the
// steps that move work between them. The stages live beside it: downlink.go
// (traffic and the downlink), nic.go (NIC rings and NAPI), softirq.go
// (softirq context: GRO, SoftIRQ, grants), threads.go (application threads).

const (
	// maxInFlight bounds the messages alive at once; beyond it a run stops
	// as overloaded (memory stays bounded whatever the load and duration).
	maxInFlight = 200_000
	maxCores    = 256     // a message records its SoftIRQ cores in a 256-bit set
	maxMessage  = 1 << 30 // bytes; sizes and offsets fit in int32
)

// packet is one packet in a NIC ring or a GRO batch.
//
// Packets are copied several times per step, which shaped this code: a
// packet is 16 bytes, so that a copy is one vector load and store (its
// payload size is derived, packetBytes, rather than stored), and whole
// packets are copied from memory that was written long before (a ring
// slot, a batch), not from a value just assembled field by field or
// spilled from registers: the wide load would wait for the narrow stores
// to complete (a store-to-load forwarding stall), and such stalls cost a
// fifth of the run time. Hence the pointers to packets.
type packet struct {
	msg   int32 // message index; −1 for a GRANT
	idx   int32 // packet number within its message
	flow  uint32
	kind  balance.Kind
	first bool // carries the message's first byte
}

// packetBytes is the payload of a DATA packet of message m: every packet of
// a message is full but the last.
func (h *host) packetBytes(m *message, p *packet) int32 {
	return min(h.mtu, m.size-p.idx*h.mtu)
}

// batch is a GRO batch on its way to, or being processed by, a SoftIRQ core.
type batch struct {
	pkts    []packet
	flushed int64 // when GRO handed it off
	costNs  int64 // oracle only: its cost as estimated at the handoff
}

// message is one incoming message, from its departure at the sender to its
// delivery to an application thread.
type message struct {
	size, npkts      int32
	sent, granted    int32 // downlink side: bytes serialised; bytes the sender may send
	sentPk           int32 // packets serialised
	grantedRx        int32 // receiver side: the highest limit granted so far
	processed        int32 // bytes through SoftIRQ
	copied           int32 // bytes copied out to threads
	arrivedPk, groPk int32 // packets at the NIC, through GRO
	softPk           int32 // packets through SoftIRQ
	flow             uint32
	lastCore         int32 // core that last touched its state; −1 none
	owner            int32 // thread copying it; −1 none
	queued           bool  // waiting in the ready queue
	inGrantList      bool
	inLink           bool  // in the downlink's SRPT heap
	appNeedsLock     bool  // its thread waits for the RPC lock (APP_NEEDS_LOCK)
	lockBy           int32 // core holding its RPC lock; −1 none
	spinners         int32 // cores spinning on its lock
	active           int32 // SoftIRQ steps on it in progress (invariant: ≤ 1)
	measured         bool
	live             bool
	seq              int64 // unique number of the message in the run
	created          int64 // left its sender
	firstAt          int64 // its first packet reached the NIC
	readyAt          int64 // it last became ready for a thread
	cores            [maxCores / 64]uint64
}

// thread states
const (
	tsPolling  uint8 = iota // waiting for a message, spinning on its core
	tsSleeping              // waiting for a message, off-core
	tsWaking                // chosen while asleep; wake-up in progress
	tsRunnable              // has work, queued behind another thread on its core
	tsWorking               // has work (possibly preempted by softirq)
)

// work phases of a thread that has a message
const (
	phaseWake    uint8 = iota // a polling thread notices the handoff
	phaseCopy                 // receive call + copy of one chunk
	phaseService              // the application's service time and the copy of its response
	phaseXmit                 // transmitting the response's unscheduled packets: BH off within each packet
)

type thread struct {
	id         int32
	state      uint8
	phase      uint8
	paused     bool  // preempted by softirq (or not yet started)
	needRecord bool  // record the SoftIRQ→App handoff when the copy phase starts
	homaRecord bool  // ... and Homa's metric of it: it was handed the message while waiting
	lockWait   bool  // waits for its message's RPC lock to start a copy
	handedAt   int64 // when the thread chooser handed it the message
	core       int32 // current core, or the core it last ran on
	gen        int32 // invalidates scheduled events of an earlier state
	msg        int32
	chunk      int32
	workEnd    int64
	pollUntil  int64 // end of the current poll
	pollTimer  bool  // a poll timer event is pending
	runSince   int64 // when the current phase last started running
	remaining  int64
	respSize   int32
	respFlow   uint32
}

// step kinds of a core in softirq context
const (
	stepNone uint8 = iota
	stepGRO
	stepSoftIRQ
)

type core struct {
	id       int32
	act      stats.Activity // as last accounted
	softirq  bool           // in softirq context
	stepKind uint8
	stepPkt  packet
	stepGen  int32
	stepAt   int64 // start of the current step
	stepEnd  int64 // end of the current step
	runStart int64 // start of the current continuous softirq run
	deferTo  int64 // ksoftirqd: softirq waits for the app until then
	runPkts  int   // packets through GRO or SoftIRQ in the current softirq run
	resched  bool  // a thread was woken onto the core during the softirq run
	spinMsg  int32 // message whose RPC lock the core spins on; −1 none
	spinAt   int64 // when it started spinning
	// lastChose is when a GRO core last chose this core for a batch, until
	// the next homa_softirq entry here pairs with it (Homa's metric); −1 none.
	lastChose int64
	groInline bool             // the GRO step in progress bypasses to SoftIRQ
	ipis      []pendingHandoff // handoffs waiting for the end of the run (IPI batching)
	sliceGen  int32
	sliceSet  bool  // a time-slice event is pending
	bhWake    int64 // a softirq held off by a thread's transmission retries then; 0 none

	channel int32 // NIC channel served; −1 none
	ring    ring[packet]
	napi    bool // NAPI scheduled (interrupt taken)
	irq     bool // the next GRO step pays the interrupt
	inPoll  bool
	polled  int      // packets handled by the current NAPI poll
	pollNs  int64    // its GRO time so far
	open    []packet // the GRO batch being built

	backlog     ring[int32] // batches handed to this core
	inBacklog   bool
	backlogDone int
	cur         int32 // batch in progress; −1 none
	curIdx      int
	hasInline   bool // a bypassed packet awaits its SoftIRQ step
	inline      packet

	running int32 // thread in this core's app context; −1 none
	runq    ring[int32]
}

// pendingHandoff is a batch whose IPI waits for the end of a softirq run.
type pendingHandoff struct{ target, batch int32 }

// ring is a growable FIFO that reuses its storage. Its capacity is a power
// of two, so that wrapping an index is a mask, not a division (the NIC rings
// are pushed and popped once per packet).
type ring[T any] struct {
	buf        []T
	head, size int
}

func (r *ring[T]) len() int { return r.size }
func (r *ring[T]) push(v T) {
	if r.size == len(r.buf) {
		n := make([]T, max(8, 2*len(r.buf)))
		for i := 0; i < r.size; i++ {
			n[i] = r.buf[(r.head+i)&(len(r.buf)-1)]
		}
		r.buf, r.head = n, 0
	}
	r.buf[(r.head+r.size)&(len(r.buf)-1)] = v
	r.size++
}

// pushSlot appends an element and returns it, for the caller to fill in.
func (r *ring[T]) pushSlot() *T {
	if r.size == len(r.buf) {
		var zero T
		r.push(zero) // grows the ring
	} else {
		r.size++
	}
	return &r.buf[(r.head+r.size-1)&(len(r.buf)-1)]
}

func (r *ring[T]) pop() T {
	v := r.buf[r.head]
	r.drop()
	return v
}

// front returns the oldest element in place; the ring must not be empty.
func (r *ring[T]) front() *T { return &r.buf[r.head] }

// drop removes the oldest element.
func (r *ring[T]) drop() {
	r.head = (r.head + 1) & (len(r.buf) - 1)
	r.size--
}

// host is the state of one run.
type host struct {
	cfg  Config
	bal  *balance.Balancer
	tab  *balance.Table
	dist workload.Dist
	q    eventQueue
	now  int64

	// random streams, one per purpose
	rArrive, rSize, rSender, rSched *rand.Rand

	meanGapNs float64                   // mean time between message departures
	mtu       int32                     // payload bytes per packet
	mtuLinkNs int64                     // wire time of a full packet
	rss       [balance.RSSEntries]int32 // the RSS table when the policy does not steer it
	steer     balance.SteersRSS         // the policy's RSS steering; nil: the fixed table
	chanCore  []int32
	linkBps   float64 // bits per ns
	linkBusy  bool
	linkPkt   packet
	// The downlink's pending event (the end of linkPkt's serialisation) is
	// kept here rather than in the queue: there is at most one, and comparing
	// it with the queue's first event is cheaper than pushing and popping it.
	// Its sequence number is reserved in the queue's sequence when it is
	// scheduled, so the loop runs it exactly where the queue would have.
	linkAt  int64
	linkSeq uint64 // its seqKind
	// linkInQueue (tests only) puts the downlink's events in the queue
	// instead, the reference the slot must match.
	linkInQueue bool
	linkHeap    []int32
	cores       []core
	threads     []thread
	appCores    []int32
	msgs        []message
	freeMsgs    []int32
	batches     []batch
	freeBatch   []int32
	waiters     waitList
	idleCores   []int32 // scratch
	readyQ      ring[int32]
	grantList   []int32
	stopAt      int64
	measureEnd  int64
	pending     int64 // measured messages not yet delivered
	stopped     bool

	r          *recorder
	nextSeq    int64
	inflightNs []int64 // per core: cost of batches handed to it, not yet arrived (oracle only)
	queuedNs   []int64 // per core: cost of batches in its backlog queue (oracle only)
	overloaded bool

	tr           Tracer // nil unless tracing
	trFrom, trTo int64
}

// costs in ns, precomputed
func (h *host) copyNs(bytes int32) int64 {
	return int64(math.Round(float64(bytes) * h.cfg.Cost.CopyNsPerKB / 1024))
}

func (h *host) linkNs(bytes int32) int64 {
	if bytes == h.mtu {
		return h.mtuLinkNs
	}
	return int64(math.Round(float64(int(bytes)+h.cfg.Host.HeaderBytes) * 8 / h.linkBps))
}

// idealNs is the latency of a message of size bytes on an idle host with a
// polling thread and perfect pipelining: the one-packet path (interrupt,
// GRO, Homa's SoftIRQ of a first packet inline in GRO (the short-message
// bypass skips the IP layer), waking a polling thread, the receive call)
// plus the wire time of every packet after the first, plus copying the last
// packet. Slowdowns are measured against it, as Homa's benchmarks measure
// against the best-case RTT plus the message's transmission time.
func (h *host) idealNs(size int32) int64 {
	c := h.cfg.Cost
	mtu := int32(h.cfg.Host.MTUPayload)
	npk := (size + mtu - 1) / mtu
	last := size - (npk-1)*mtu
	return c.InterruptNs + c.GRONs + c.SoftIRQNs + c.SoftIRQFirstNs + c.WakePollNs + c.RecvNs +
		h.copyNs(last) + int64(npk-1)*h.linkNs(mtu)
}
