package sim

import (
	"math"
	"math/bits"
	"math/rand/v2"

	"github.com/homalb/homalb/balance"
	"github.com/homalb/homalb/stats"
	"github.com/homalb/homalb/workload"
)

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
	inLink           bool // in the downlink's SRPT heap
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
	phaseService              // the application's service time
)

type thread struct {
	id         int32
	state      uint8
	phase      uint8
	paused     bool  // preempted by softirq (or not yet started)
	needRecord bool  // record the SoftIRQ→App handoff when the copy phase starts
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
// GRO, SoftIRQ of a first packet, waking a polling thread, the receive call)
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

// ---- traffic and downlink ----

func (h *host) newMessage() int32 {
	var i int32
	if n := len(h.freeMsgs); n > 0 {
		i = h.freeMsgs[n-1]
		h.freeMsgs = h.freeMsgs[:n-1]
	} else {
		h.msgs = append(h.msgs, message{})
		i = int32(len(h.msgs) - 1)
	}
	return i
}

func (h *host) arrival() {
	now := h.now
	size := int32(h.dist.Sample(h.rSize))
	sender := uint64(h.rSender.IntN(h.cfg.Traffic.Senders))
	port := uint64(h.rSender.IntN(h.cfg.Traffic.Ports))
	if !h.cfg.Host.RSSByPort {
		port = 0
	}
	i := h.newMessage()
	m := &h.msgs[i]
	mtu := int32(h.cfg.Host.MTUPayload)
	*m = message{
		size: size, npkts: (size + mtu - 1) / mtu,
		granted: min(size, int32(h.cfg.Traffic.UnschedBytes)), flow: balance.FlowHash(h.cfg.Seed, sender, port),
		lastCore: -1, owner: -1, live: true, created: now, seq: h.nextSeq,
		measured: now >= h.cfg.WarmupNs && now < h.measureEnd,
	}
	h.nextSeq++
	m.grantedRx = m.granted
	if m.measured {
		h.pending++
	}
	if len(h.msgs)-len(h.freeMsgs) > maxInFlight {
		// Far more messages than a host can hold: the offered load exceeds
		// what the cores can process under this policy. Stop rather than let
		// memory grow with the run; the result says so.
		h.overloaded = true
		h.stopped = true
	}
	h.linkPush(i)
	if !h.linkBusy {
		h.linkStart()
	}
	h.q.push(now+int64(h.rArrive.ExpFloat64()*h.meanGapNs)+1, evArrival, 0, 0)
}

// linkLess orders the SRPT heap: fewest bytes left to send, then oldest.
func (h *host) linkLess(a, b int32) bool {
	ma, mb := &h.msgs[a], &h.msgs[b]
	ra, rb := ma.size-ma.sent, mb.size-mb.sent
	return ra < rb || ra == rb && ma.created < mb.created || ra == rb && ma.created == mb.created && a < b
}

func (h *host) linkPush(i int32) {
	m := &h.msgs[i]
	if m.inLink || m.sent >= m.granted {
		return
	}
	m.inLink = true
	hp := append(h.linkHeap, i)
	j := len(hp) - 1
	for j > 0 {
		p := (j - 1) / 2
		if !h.linkLess(hp[j], hp[p]) {
			break
		}
		hp[j], hp[p] = hp[p], hp[j]
		j = p
	}
	h.linkHeap = hp
}

func (h *host) linkPopTop() {
	hp := h.linkHeap
	h.msgs[hp[0]].inLink = false
	n := len(hp) - 1
	hp[0] = hp[n]
	hp = hp[:n]
	j := 0
	for {
		l := 2*j + 1
		if l >= n {
			break
		}
		if r := l + 1; r < n && h.linkLess(hp[r], hp[l]) {
			l = r
		}
		if !h.linkLess(hp[l], hp[j]) {
			break
		}
		hp[j], hp[l] = hp[l], hp[j]
		j = l
	}
	h.linkHeap = hp
}

// linkStart serialises the next packet of the message with the fewest bytes
// left (the switch's priority queues and the receiver's grants approximate
// SRPT on the downlink).
func (h *host) linkStart() {
	if len(h.linkHeap) == 0 {
		h.linkBusy = false
		return
	}
	i := h.linkHeap[0]
	m := &h.msgs[i]
	bytes := min(int32(h.cfg.Host.MTUPayload), m.size-m.sent)
	kind := balance.Data
	if m.npkts == 1 {
		kind = balance.WholeData
	}
	// Field by field: a composite literal is assembled on the stack and
	// copied with a wide load that waits for those stores.
	lp := &h.linkPkt
	lp.msg, lp.idx, lp.flow, lp.kind, lp.first = i, m.sentPk, m.flow, kind, m.sent == 0
	m.sent += bytes
	m.sentPk++
	if m.sent >= m.granted {
		h.linkPopTop() // the top's key only shrank, so otherwise it stays on top
	}
	h.linkBusy = true
	if h.linkInQueue {
		h.q.push(h.now+h.linkNs(bytes), evLinkDone, 0, 0)
		return
	}
	h.linkAt, h.linkSeq = h.now+h.linkNs(bytes), h.q.reserve(evLinkDone)
}

// linkDone: the packet on the downlink reaches the NIC, and the next one
// starts.
func (h *host) linkDone() {
	p := h.linkPkt
	h.linkStart()
	h.nicArrival(&p)
}

func (h *host) grantArrives(i, limit int32) {
	m := &h.msgs[i]
	if !m.live {
		h.r.inv.StaleEvents++
		return
	}
	if limit > m.granted {
		m.granted = limit
		h.linkPush(i)
		if !h.linkBusy {
			h.linkStart()
		}
	}
}

// ---- NIC and NAPI ----

// nicArrival puts packet *p in its channel's NIC ring (by pointer: see
// packet) and interrupts an idle channel. A policy that steers the RSS table
// may move it at any time: packets follow the table as it is when they reach
// the NIC.
func (h *host) nicArrival(p *packet) {
	var ch int32
	if h.steer != nil {
		ch = int32(h.steer.Steer(balance.RSSEntry(p.flow), h.now))
	} else {
		ch = h.rss[balance.RSSEntry(p.flow)]
	}
	if p.msg >= 0 {
		m := &h.msgs[p.msg]
		m.arrivedPk++
		if p.first {
			m.firstAt = h.now
		}
	}
	h.r.packets++
	c := &h.cores[h.chanCore[ch]]
	// Field by field: a GRANT's *p was just assembled that way (see packet).
	q := c.ring.pushSlot()
	q.msg, q.idx, q.flow, q.kind, q.first = p.msg, p.idx, p.flow, p.kind, p.first
	if !c.napi {
		c.napi, c.irq = true, true
		h.enterSoftirq(c)
	}
}

// ---- softirq context on a core ----

func (c *core) hasSoftirqWork() bool {
	return c.hasInline || c.cur >= 0 || c.napi || c.backlog.len() > 0
}

func (h *host) enterSoftirq(c *core) {
	if c.softirq {
		return
	}
	if h.now < c.deferTo && c.running >= 0 {
		return // ksoftirqd waits behind the application thread
	}
	c.softirq = true
	c.runStart = h.now
	if c.running >= 0 {
		h.pause(&h.threads[c.running])
	}
	h.dispatch(c)
}

func (h *host) exitSoftirq(c *core) {
	c.softirq = false
	h.appActivity(c)
	if c.running >= 0 {
		h.resume(&h.threads[c.running])
	}
}

// appActivity accounts what a core outside softirq context is doing.
func (h *host) appActivity(c *core) {
	switch {
	case c.softirq:
		return
	case c.running < 0:
		h.setActivity(c, stats.Idle)
	case h.threads[c.running].state == tsPolling:
		h.setActivity(c, stats.Poll)
	default:
		h.setActivity(c, stats.App)
	}
}

// setActivity accounts core c as doing a from now on. Most calls repeat the
// core's activity (a run of GRO steps), which changes nothing, so they stop
// here rather than in the accounting.
func (h *host) setActivity(c *core, a stats.Activity) {
	if a != c.act {
		c.act = a
		h.r.ct.Set(int(c.id), a, h.now)
	}
}

// dispatch starts the core's next softirq step, or leaves softirq context
// when there is none. Order of work, as in net_rx_action: a bypassed packet
// first, then the rest of the batch in progress, then NAPI polls of the NIC
// channel and turns of the backlog queue, alternately, each up to the NAPI
// budget.
func (h *host) dispatch(c *core) {
	b := &h.cfg.Balance
	var (
		kind uint8
		p    *packet // where the step's packet waits (see packet)
		d    int64
	)
	for {
		if c.hasInline {
			h.tab.SoftIRQStart(int(c.id), h.now)
			kind, p, d = stepSoftIRQ, &c.inline, h.softirqCost(c, &c.inline)
			break
		}
		if c.cur >= 0 {
			bt := &h.batches[c.cur]
			if c.curIdx < len(bt.pkts) {
				p = &bt.pkts[c.curIdx]
				kind, d = stepSoftIRQ, h.softirqCost(c, p)
				break
			}
			h.tab.SoftIRQEnd(int(c.id), h.now)
			h.freeBatch = append(h.freeBatch, c.cur)
			c.cur = -1
			continue
		}
		if c.inPoll {
			if c.ring.len() > 0 && c.polled < b.NAPIBudget {
				kind, p, d = stepGRO, c.ring.front(), h.cfg.Cost.GRONs
				c.ring.drop() // *p stays intact until the next push, after the copy below
				if c.irq {
					d += h.cfg.Cost.InterruptNs
					c.irq = false
				}
				c.polled++
				c.pollNs += d
				break
			}
			h.flush(c) // end of the poll: the open batch goes up
			c.inPoll = false
			if h.steer != nil {
				h.steer.NAPIPollEnd(int(c.id), c.polled, c.ring.len(), c.pollNs, h.now)
			}
			if c.ring.len() == 0 {
				c.napi = false // napi_complete: the next packet interrupts
			}
			c.inBacklog, c.backlogDone = true, 0
			continue
		}
		if h.shouldDefer(c) {
			return
		}
		if c.inBacklog {
			if c.backlog.len() > 0 && c.backlogDone < b.NAPIBudget {
				h.beginBatch(c, c.backlog.pop())
				continue
			}
			c.inBacklog = false
			if c.napi {
				c.inPoll, c.polled, c.pollNs = true, 0, 0
			}
			continue
		}
		if c.napi {
			c.inPoll, c.polled, c.pollNs = true, 0, 0
			continue
		}
		if c.backlog.len() > 0 {
			c.inBacklog, c.backlogDone = true, 0
			continue
		}
		h.exitSoftirq(c)
		return
	}
	// Start the step.
	if c.stepKind != stepNone {
		h.r.inv.CoreOverlaps++
	}
	c.stepKind, c.stepPkt = kind, *p
	c.stepAt, c.stepEnd = h.now, h.now+d
	c.stepGen++
	if kind == stepGRO {
		h.setActivity(c, stats.GRO)
	} else {
		h.setActivity(c, stats.SoftIRQ)
	}
	h.q.push(h.now+d, evCoreStep, c.id, c.stepGen)
}

// shouldDefer models ksoftirqd: after a softirq run longer than defer_us on a
// core with a runnable application thread, the remaining softirq work waits
// up to slice_us for that thread (less if it blocks first).
func (h *host) shouldDefer(c *core) bool {
	if c.running < 0 || h.now-c.runStart < int64(h.cfg.Balance.DeferUs*1000) || !c.hasSoftirqWork() {
		return false
	}
	c.deferTo = h.now + int64(h.cfg.Balance.SliceUs*1000)
	h.r.deferrals++
	h.q.push(c.deferTo, evDeferEnd, c.id, 0)
	h.exitSoftirq(c)
	return true
}

func (h *host) softirqCost(c *core, p *packet) int64 {
	cost := &h.cfg.Cost
	if p.msg < 0 {
		return cost.GrantNs
	}
	d := cost.SoftIRQNs
	if p.first {
		d += cost.SoftIRQFirstNs
	}
	if lc := h.msgs[p.msg].lastCore; lc >= 0 && lc != c.id {
		d += cost.MigrateNs
	}
	return d
}

// stepDone finishes the core's current step.
func (h *host) stepDone(c *core) {
	kind, p := c.stepKind, c.stepPkt
	c.stepKind = stepNone
	if h.tr != nil && h.now >= h.trFrom && c.stepAt < h.trTo {
		st := Step{Core: int(c.id), Start: c.stepAt, End: h.now, Msg: -1, Pkt: p.idx, Kind: StepGRO}
		if p.msg >= 0 {
			st.Msg = h.msgs[p.msg].seq
			st.Bytes = h.packetBytes(&h.msgs[p.msg], &p)
		}
		if kind == stepSoftIRQ {
			st.Kind, st.Inline = StepSoftIRQ, c.hasInline
		}
		h.tr.Step(st)
	}
	switch kind {
	case stepGRO:
		if p.msg >= 0 {
			m := &h.msgs[p.msg]
			m.groPk++
			if m.groPk > m.arrivedPk {
				h.r.inv.PacketCounts++
			}
		}
		if h.bal.GROPacket(int(c.id), p.kind, h.now) {
			c.hasInline, c.inline = true, p
			h.r.bypassed++
		} else {
			c.open = append(c.open, p)
			if len(c.open) >= h.cfg.Balance.MaxGRO {
				h.flush(c)
			}
		}
	case stepSoftIRQ:
		if c.hasInline {
			c.hasInline = false
			h.softirqPacket(c, &p, true)
			h.tab.SoftIRQEnd(int(c.id), h.now)
		} else {
			bt := &h.batches[c.cur]
			c.curIdx++
			c.backlogDone++
			lastOfRPC := c.curIdx == len(bt.pkts) || bt.pkts[c.curIdx].msg != p.msg
			h.softirqPacket(c, &p, lastOfRPC)
		}
	}
	h.dispatch(c)
}

// flush hands the open GRO batch to the core the balancer picks.
func (h *host) flush(c *core) {
	n := len(c.open)
	if n == 0 {
		return
	}
	target := h.bal.SoftIRQCore(int(c.id), c.open[0].flow, n, h.now)
	var bi int32
	if k := len(h.freeBatch); k > 0 {
		bi = h.freeBatch[k-1]
		h.freeBatch = h.freeBatch[:k-1]
	} else {
		h.batches = append(h.batches, batch{pkts: make([]packet, 0, h.cfg.Balance.MaxGRO)})
		bi = int32(len(h.batches) - 1)
	}
	bt := &h.batches[bi]
	bt.pkts = append(bt.pkts[:0], c.open...)
	bt.flushed = h.now
	c.open = c.open[:0]
	h.r.batches++
	h.r.batchPkts += int64(n)
	if int32(target) == c.id {
		h.beginBatch(c, bi) // processed right away, before the poll goes on
		return
	}
	if h.inflightNs != nil {
		bt.costNs = h.batchNs(&h.cores[target], bt)
		h.inflightNs[target] += bt.costNs
	}
	h.q.push(h.now+h.cfg.Cost.HandoffNs, evBatchArrive, int32(target), bi)
}

func (h *host) batchArrives(c *core, bi int32) {
	if h.inflightNs != nil {
		h.inflightNs[c.id] -= h.batches[bi].costNs
		h.queuedNs[c.id] += h.batches[bi].costNs
	}
	c.backlog.push(bi)
	h.enterSoftirq(c)
}

// batchNs is what processing a batch on c would cost now.
func (h *host) batchNs(c *core, bt *batch) int64 {
	var d int64
	for i := range bt.pkts {
		d += h.softirqCost(c, &bt.pkts[i])
	}
	return d
}

// oracleDelay is what the oracle policy knows and no real policy can: how
// long a batch handed off now by GRO core gro would wait before core starts
// it — the handoff, the rest of the core's current step, the batches queued
// for it or on their way, the rest of the batch in progress, and the packets
// waiting in its NIC ring.
func (h *host) oracleDelay(gro, core int) int64 {
	c := &h.cores[core]
	var d int64
	if core != gro {
		d += h.cfg.Cost.HandoffNs
	}
	if c.stepKind != stepNone {
		d += c.stepEnd - h.now
	}
	// Batches on their way or queued, at the cost estimated when they were
	// handed off (kept as running sums: an overloaded core may queue
	// thousands, and the oracle asks about every core for every batch).
	d += h.inflightNs[core] + h.queuedNs[core]
	if c.cur >= 0 {
		bt := &h.batches[c.cur]
		for i := c.curIdx; i < len(bt.pkts); i++ {
			d += h.softirqCost(c, &bt.pkts[i])
		}
	}
	return d + int64(c.ring.len())*h.cfg.Cost.GRONs
}

// beginBatch starts SoftIRQ processing of a batch: control packets and
// whole messages first, then the rest grouped per message in order of first
// appearance (one grant decision per message per batch).
func (h *host) beginBatch(c *core, bi int32) {
	bt := &h.batches[bi]
	if h.queuedNs != nil && bt.costNs > 0 {
		h.queuedNs[c.id] -= bt.costNs // it leaves the queue (same-core batches never entered it)
		bt.costNs = 0
	}
	h.tab.SoftIRQStart(int(c.id), h.now)
	if h.inWindow() {
		h.r.groToSoftirq.Record(h.now - bt.flushed)
	}
	p := bt.pkts
	key := func(i int) int {
		if p[i].msg < 0 || p[i].kind == balance.WholeData {
			return -1
		}
		for j := 0; j < i; j++ {
			if p[j].msg == p[i].msg {
				return j
			}
		}
		return i
	}
	var keys [64]int
	if len(p) <= len(keys) {
		for i := range p {
			keys[i] = key(i)
		}
		for i := 1; i < len(p); i++ { // stable insertion sort
			for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
				keys[j], keys[j-1] = keys[j-1], keys[j]
				p[j], p[j-1] = p[j-1], p[j]
			}
		}
	}
	c.cur, c.curIdx = bi, 0
}

// softirqPacket applies the protocol processing of one packet.
func (h *host) softirqPacket(c *core, p *packet, lastOfRPC bool) {
	h.r.softirqPkts++
	if p.msg < 0 {
		return // a GRANT for one of our responses: its effect is on the send side
	}
	m := &h.msgs[p.msg]
	m.softPk++
	if m.softPk > m.groPk {
		h.r.inv.PacketCounts++
	}
	m.processed += h.packetBytes(m, p)
	m.lastCore = c.id
	m.cores[c.id/64] |= 1 << (c.id % 64)
	if m.grantedRx < m.size && !m.inGrantList {
		m.inGrantList = true
		h.grantList = append(h.grantList, p.msg)
	}
	i := p.msg
	if lastOfRPC && len(h.grantList) > 0 {
		h.grantCheck()
	}
	h.makeReady(i)
}

// grantCheck is the receiver's grant decision: the MaxOvercommit messages
// with the fewest bytes left to receive are granted up to GrantWindow bytes
// beyond what has arrived; the grant takes effect one RTT later.
func (h *host) grantCheck() {
	gl := h.grantList
	less := func(a, b int32) bool {
		ma, mb := &h.msgs[a], &h.msgs[b]
		ra, rb := ma.size-ma.processed, mb.size-mb.processed
		return ra < rb || ra == rb && ma.created < mb.created || ra == rb && ma.created == mb.created && a < b
	}
	for i := 1; i < len(gl); i++ {
		for j := i; j > 0 && less(gl[j], gl[j-1]); j-- {
			gl[j], gl[j-1] = gl[j-1], gl[j]
		}
	}
	k := min(len(gl), h.cfg.Traffic.MaxOvercommit)
	done := 0
	for _, i := range gl[:k] {
		m := &h.msgs[i]
		limit := min(m.size, m.processed+int32(h.cfg.Traffic.GrantWindow))
		if limit > m.grantedRx {
			m.grantedRx = limit
			h.q.push(h.now+h.cfg.Traffic.RTTNs, evGrant, i, limit)
		}
		if m.grantedRx >= m.size {
			m.inGrantList = false
			done++
		}
	}
	if done > 0 {
		out := gl[:0]
		for _, i := range gl {
			if h.msgs[i].inGrantList {
				out = append(out, i)
			}
		}
		h.grantList = out
	}
}

// ---- application threads ----

// makeReady offers a message with data not yet copied to a waiting thread
// (Homa's thread chooser), or queues it.
func (h *host) makeReady(i int32) {
	m := &h.msgs[i]
	if m.owner >= 0 || m.queued || m.processed <= m.copied {
		return
	}
	m.readyAt = h.now
	if h.waiters.len() == 0 {
		m.queued = true
		h.readyQ.push(i)
		return
	}
	ti := h.waiters.remove(h.bal.ChooseThread(h.waiters.coreList(), h.now))
	th := &h.threads[ti]
	h.assign(ti, i)
	if th.state == tsPolling {
		th.gen++ // its poll deadline no longer matters
		th.state, th.phase = tsWorking, phaseWake
		th.remaining = h.cfg.Cost.WakePollNs
		th.paused = true
		h.appActivity(&h.cores[th.core])
		h.resume(th)
		return
	}
	th.state = tsWaking
	h.q.push(h.now+h.cfg.Cost.WakeSleepNs, evWake, ti, 0)
}

// addWaiter registers a thread as the newest waiter.
func (h *host) addWaiter(ti int32) {
	h.waiters.add(ti, h.threads[ti].core)
}

// waitList holds the threads waiting for a message, newest first, with the
// core of each: ChooseThread takes the cores in that order. A waiter's core
// does not change while it waits (only a chosen thread moves), so it is
// recorded once rather than looked up at every choice.
//
// The entries fill the end of arrays as long as the number of threads, from
// off on: the newest enters at off−1, and a chosen waiter, usually one of the
// newest, leaves by shifting the few before it. (With the newest at index 0
// of a slice, every arrival moved every entry.)
type waitList struct {
	threads []int32
	cores   []int
	off     int
}

func newWaitList(threads int) waitList {
	return waitList{threads: make([]int32, threads), cores: make([]int, threads), off: threads}
}

func (w *waitList) len() int { return len(w.threads) - w.off }

// coreList returns the waiters' cores, newest first.
func (w *waitList) coreList() []int { return w.cores[w.off:] }

// add registers thread ti, on core c, as the newest waiter.
func (w *waitList) add(ti, c int32) {
	w.off--
	w.threads[w.off], w.cores[w.off] = ti, int(c)
}

// remove takes out the k-th newest waiter and returns it.
func (w *waitList) remove(k int) int32 {
	i := w.off + k
	ti := w.threads[i]
	for ; i > w.off; i-- {
		w.threads[i], w.cores[i] = w.threads[i-1], w.cores[i-1]
	}
	w.off++
	return ti
}

func (h *host) assign(ti, mi int32) {
	th, m := &h.threads[ti], &h.msgs[mi]
	m.owner = ti
	th.msg = mi
	th.chunk = min(m.processed-m.copied, int32(h.cfg.App.CopyPackets*h.cfg.Host.MTUPayload))
	th.needRecord = true
}

func (h *host) pause(th *thread) {
	if th.state != tsWorking || th.paused {
		return
	}
	th.remaining = th.workEnd - h.now
	th.paused = true
	th.gen++
	h.traceApp(th, false)
}

// traceApp reports the piece of application work a thread just ran.
func (h *host) traceApp(th *thread, done bool) {
	if h.tr == nil || h.now < h.trFrom || th.runSince >= h.trTo || th.phase == phaseWake {
		return
	}
	st := Step{Core: int(th.core), Kind: StepCopy, Start: th.runSince, End: h.now, Msg: -1, Pkt: -1, Bytes: th.chunk}
	if th.phase == phaseService {
		st.Kind, st.Bytes = StepService, 0
	}
	if th.msg >= 0 && th.phase == phaseCopy {
		m := &h.msgs[th.msg]
		st.Msg = m.seq
		st.Delivered = done && m.copied+th.chunk >= m.size
	}
	h.tr.Step(st)
}

func (h *host) resume(th *thread) {
	if th.state != tsWorking || !th.paused || h.cores[th.core].softirq {
		return // softirq context resumes it when it leaves the core
	}
	th.paused = false
	if th.needRecord && th.phase == phaseCopy {
		// The copy starts now: take every byte that is ready by now.
		h.recordHandoff(th)
		m := &h.msgs[th.msg]
		th.chunk = min(m.processed-m.copied, int32(h.cfg.App.CopyPackets*h.cfg.Host.MTUPayload))
		th.remaining = h.cfg.Cost.RecvNs + h.copyNs(th.chunk)
	}
	th.workEnd = h.now + th.remaining
	th.runSince = h.now
	th.gen++
	h.q.push(th.workEnd, evThreadDone, th.id, th.gen)
}

func (h *host) recordHandoff(th *thread) {
	th.needRecord = false
	if h.inWindow() {
		h.r.softirqToApp.Record(h.now - h.msgs[th.msg].readyAt)
	}
}

// inWindow reports whether now is inside the measured window.
func (h *host) inWindow() bool { return h.now >= h.cfg.WarmupNs && h.now < h.measureEnd }

// phaseDone moves a thread on when its current phase of work ends.
func (h *host) phaseDone(ti int32) {
	th := &h.threads[ti]
	h.traceApp(th, true)
	switch th.phase {
	case phaseWake:
		th.phase = phaseCopy
		th.remaining = 0 // set by resume when the copy starts
		th.paused = true
		h.resume(th)
	case phaseCopy:
		m := &h.msgs[th.msg]
		m.copied += th.chunk
		m.owner = -1
		if m.copied < m.size {
			h.makeReady(th.msg) // more has arrived meanwhile, or will
			h.threadWait(ti)
			return
		}
		th.respSize, th.respFlow = m.size, m.flow
		h.deliver(th.msg)
		if h.cfg.Cost.AppNs > 0 {
			th.phase = phaseService
			th.remaining = h.cfg.Cost.AppNs
			th.paused = true
			h.resume(th)
			return
		}
		h.respond(th)
		h.threadWait(ti)
	case phaseService:
		h.respond(th)
		h.threadWait(ti)
	}
}

// respond sends the response (as large as the request); for one larger than
// the unscheduled bytes the client's GRANTs come back to this host, one per
// scheduled packet, from one RTT after the response starts.
func (h *host) respond(th *thread) {
	h.tab.AppActive(int(th.core), h.now)
	if !h.cfg.Traffic.Responses || int(th.respSize) <= h.cfg.Traffic.UnschedBytes {
		return
	}
	mtu := h.cfg.Host.MTUPayload
	n := (int(th.respSize) - h.cfg.Traffic.UnschedBytes + mtu - 1) / mtu
	h.q.push(h.now+h.cfg.Traffic.RTTNs, evRespGrant, int32(th.respFlow), int32(n))
}

// respGrant delivers one GRANT of a response to the NIC; flow is the
// request's flow hash as int32 bits, left counts this GRANT and those that
// follow, one per packet time.
func (h *host) respGrant(flow, left int32) {
	p := packet{msg: -1, idx: -1, flow: uint32(flow), kind: balance.Grant}
	h.nicArrival(&p)
	if left > 1 {
		h.q.push(h.now+h.mtuLinkNs, evRespGrant, flow, left-1)
	}
}

// threadWait: the thread asks for a message. It takes a ready one at once,
// or registers as the newest waiter and polls, then sleeps.
func (h *host) threadWait(ti int32) {
	th := &h.threads[ti]
	h.tab.AppActive(int(th.core), h.now)
	if h.readyQ.len() > 0 {
		mi := h.readyQ.pop()
		h.msgs[mi].queued = false
		h.assign(ti, mi)
		th.state, th.phase = tsWorking, phaseCopy
		th.remaining = 0 // set by resume when the copy starts
		th.paused = true
		h.resume(th)
		return
	}
	h.addWaiter(ti)
	c := &h.cores[th.core]
	if h.cfg.App.PollUs > 0 && c.runq.len() == 0 {
		th.state = tsPolling
		th.pollUntil = h.now + int64(h.cfg.App.PollUs*1000)
		if !th.pollTimer { // else the pending timer fires earlier and re-arms
			th.pollTimer = true
			h.q.push(th.pollUntil, evPollEnd, ti, 0)
		}
		h.appActivity(c)
		return
	}
	th.state = tsSleeping
	h.release(c)
}

// pollTimer fires a thread's poll timer. A thread keeps at most one timer
// pending: one armed for an earlier poll re-arms itself for the current one,
// so quick successions of polls cost one event, not one each.
func (h *host) pollTimer(ti int32) {
	th := &h.threads[ti]
	th.pollTimer = false
	if th.state != tsPolling {
		return
	}
	if h.now < th.pollUntil {
		th.pollTimer = true
		h.q.push(th.pollUntil, evPollEnd, ti, 0)
		return
	}
	th.state = tsSleeping
	h.tab.AppActive(int(th.core), h.now) // its last poll iteration
	h.release(&h.cores[th.core])
}

// release frees a core's app context: the next queued thread runs, or the
// core idles; softirq work waiting for ksoftirqd runs at once.
func (h *host) release(c *core) {
	c.running = -1
	if c.runq.len() > 0 {
		ti := c.runq.pop()
		c.running = ti
		th := &h.threads[ti]
		th.state = tsWorking
		h.appActivity(c)
		h.resume(th)
		return
	}
	if !c.softirq {
		h.appActivity(c)
		if c.hasSoftirqWork() {
			c.deferTo = 0
			h.enterSoftirq(c)
		}
	}
}

// wake places a thread that has finished waking on a core.
func (h *host) wake(ti int32) {
	th := &h.threads[ti]
	prev := th.core
	target := prev
	if h.cfg.App.Sched == "linux" {
		idle := func(c *core) bool { return !c.softirq && c.running < 0 }
		stay := idle(&h.cores[prev]) && h.rSched.Float64() >= h.cfg.App.MigrateFrac
		if !stay {
			cand := h.idleCores[:0]
			for _, ci := range h.appCores {
				if ci != prev && idle(&h.cores[ci]) {
					cand = append(cand, ci)
				}
			}
			h.idleCores = cand
			if len(cand) > 0 {
				target = cand[h.rSched.IntN(len(cand))]
			}
		}
		h.r.wakeups++
		if target != prev {
			h.r.migrations++
		}
	}
	th.core = target
	th.state, th.phase = tsRunnable, phaseCopy
	th.remaining = 0 // set by resume when the copy starts
	th.paused = true
	c := &h.cores[target]
	if c.running >= 0 {
		other := &h.threads[c.running]
		if other.state != tsPolling {
			c.runq.push(ti)
			return
		}
		other.state = tsSleeping // a polling thread yields the core and sleeps
		other.gen++
		h.tab.AppActive(int(other.core), h.now)
	}
	c.running = ti
	th.state = tsWorking
	h.appActivity(c)
	h.resume(th)
}

func (h *host) deliver(mi int32) {
	m := &h.msgs[mi]
	if !m.live {
		h.r.inv.DuplicateDeliveries++
		return
	}
	if m.arrivedPk != m.npkts || m.groPk != m.npkts || m.softPk != m.npkts {
		h.r.inv.PacketCounts++
	}
	if m.measured {
		h.pending--
		ncores := 0
		for _, w := range m.cores {
			ncores += bits.OnesCount64(w)
		}
		h.r.delivered(m, h.now-m.firstAt, h.idealNs(m.size), ncores)
	}
	m.live = false
	h.freeMsgs = append(h.freeMsgs, mi)
}
