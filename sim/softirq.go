package sim

import (
	"github.com/homalb/homalb/balance"
	"github.com/homalb/homalb/stats"
)

// Softirq context on a core: NAPI polls and GRO, the handoff of batches to
// SoftIRQ cores, SoftIRQ processing, the receiver's grant decisions and
// ksoftirqd deferral.

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
	if c.running >= 0 && h.bhHeldOff(c, &h.threads[c.running]) {
		return
	}
	c.softirq = true
	c.runStart = h.now
	c.runPkts = 0
	if c.running >= 0 {
		h.pause(&h.threads[c.running])
	}
	h.dispatch(c)
}

func (h *host) exitSoftirq(c *core) {
	h.sendIPIs(c)
	c.resched = false
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
			p = &c.inline
			if !h.lock(c, p) {
				return // spins until the message's RPC lock is free
			}
			// homa_softirq, called from homa_gro_receive: no IP layer.
			h.tab.SoftIRQStart(int(c.id), h.now)
			h.homaSoftirqEntry(c, h.now)
			kind, d = stepSoftIRQ, h.softirqCost(c, p)
			break
		}
		if c.cur >= 0 {
			bt := &h.batches[c.cur]
			if c.curIdx < len(bt.pkts) {
				p = &bt.pkts[c.curIdx]
				if !h.lock(c, p) {
					return // spins until the message's RPC lock is free
				}
				kind, d = stepSoftIRQ, h.softirqCost(c, p)
				if c.curIdx == 0 {
					d += h.cfg.Cost.IPNs // the IP layer, once for the batch's skb chain
				}
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
				if b.GROBusyAtEntry {
					// homa_gro_receive starts once the interrupt is taken.
					c.groInline = h.bal.GROStart(int(c.id), p.kind, h.now+d-h.cfg.Cost.GRONs)
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
			h.sendIPIs(c) // net_rx_action ends: its IPIs go out
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
	if kind == stepSoftIRQ && p.msg >= 0 {
		m := &h.msgs[p.msg]
		if m.active++; m.active > 1 {
			h.r.rpcOverlaps++ // two cores in SoftIRQ on one message
		}
	}
	c.stepAt, c.stepEnd = h.now, h.now+d
	c.stepGen++
	if kind == stepGRO {
		h.setActivity(c, stats.GRO)
	} else {
		h.setActivity(c, stats.SoftIRQ)
	}
	h.q.push(h.now+d, evCoreStep, c.id, c.stepGen)
}

// bhHeldOff reports whether softirq on c must wait for thread th, which is
// transmitting a packet with BH disabled (dev_queue_xmit; Homa holds no RPC
// lock while it transmits since Jan 2023, perf#44). BH is enabled again
// between packets, every cost.xmit_ns of the phase: the softirq runs at the
// next such boundary (a retry event), or when the phase ends.
func (h *host) bhHeldOff(c *core, th *thread) bool {
	if th.phase != phaseXmit || th.state != tsWorking || th.paused {
		return false
	}
	chunk := h.cfg.Cost.XmitNs
	ran := h.now - th.runSince
	if ran > 0 && ran%chunk == 0 {
		return false // between two packets
	}
	next := th.runSince + (ran/chunk+1)*chunk
	if next >= th.workEnd {
		return true // the phase's end runs the softirq (phaseDone)
	}
	if c.bhWake != next {
		c.bhWake = next
		h.q.push(next, evDeferEnd, c.id, 0)
	}
	return true
}

// shouldDefer models ksoftirqd: after a softirq run longer than defer_ns on a
// core with a runnable application thread, the remaining softirq work waits
// up to slice_ns for that thread (less if it blocks first).
func (h *host) shouldDefer(c *core) bool {
	if c.running < 0 || !c.hasSoftirqWork() {
		return false
	}
	b := &h.cfg.Balance
	// __do_softirq restarts net_rx_action each time it spends its budget
	// (netdev_budget packets) and checks, at each restart, its time limit,
	// need_resched and its restart count.
	long := h.now-c.runStart >= b.DeferNs
	restarts := b.Restarts > 0 && c.runPkts >= b.Restarts*b.NetdevBudget
	resched := b.DeferOnResched && c.resched && c.runPkts >= b.NetdevBudget
	if !long && !restarts && !resched {
		return false
	}
	c.deferTo = h.now + h.cfg.Balance.SliceNs
	h.r.deferrals++
	h.q.push(c.deferTo, evDeferEnd, c.id, 0)
	h.exitSoftirq(c)
	return true
}

func (h *host) softirqCost(c *core, p *packet) int64 {
	cost := &h.cfg.Cost
	if p.msg < 0 {
		// A GRANT for a response. The packets it allows are sent by Homa's
		// pacer and the NIC queue, outside this receive model.
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
	c.runPkts++
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
		var inline bool
		if h.cfg.Balance.GROBusyAtEntry {
			inline = c.groInline
			if !inline {
				h.bal.GROEnd(int(c.id), h.now)
			} // else last_gro is stored when the inline SoftIRQ ends
		} else {
			inline = h.bal.GROPacket(int(c.id), p.kind, h.now)
		}
		if inline {
			c.hasInline, c.inline = true, p
			h.r.bypassed++
		} else {
			c.open = append(c.open, p)
			if len(c.open) >= h.cfg.Balance.MaxGRO {
				h.flush(c)
			}
		}
	case stepSoftIRQ:
		if p.msg >= 0 {
			h.msgs[p.msg].active--
		}
		if c.hasInline {
			c.hasInline = false
			h.softirqPacket(c, &p, true)
			h.unlock(c, p.msg)
			h.tab.SoftIRQEnd(int(c.id), h.now)
			if h.cfg.Balance.GROBusyAtEntry {
				h.bal.GROEnd(int(c.id), h.now) // homa_gro_receive returns
			}
		} else {
			bt := &h.batches[c.cur]
			c.curIdx++
			c.backlogDone++
			lastOfRPC := c.curIdx == len(bt.pkts) || bt.pkts[c.curIdx].msg != p.msg
			h.softirqPacket(c, &p, lastOfRPC)
			if p.msg >= 0 && (lastOfRPC || h.msgs[p.msg].appNeedsLock) {
				h.unlock(c, p.msg) // homa_dispatch_pkts lets go of the RPC
			}
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
	if h.bal.Steers(n) {
		h.cores[target].lastChose = h.now // "homa_gro_* chose core X"
	}
	if int32(target) == c.id {
		if h.cfg.Host.SameCoreBacklog {
			c.backlog.push(bi) // enqueue_to_backlog: after the poll, no IPI
			return
		}
		h.beginBatch(c, bi) // processed right away, before the poll goes on
		return
	}
	if h.inflightNs != nil {
		bt.costNs = h.batchNs(&h.cores[target], bt)
		h.inflightNs[target] += bt.costNs
	}
	if h.cfg.Host.IPIBatching {
		c.ipis = append(c.ipis, pendingHandoff{int32(target), bi})
		return
	}
	h.handoff(int32(target), bi)
}

// handoff sends the IPI that hands batch bi to core target: it arrives after
// the wake-up, plus a C-state exit when the target is idle.
func (h *host) handoff(target, bi int32) {
	d := h.cfg.Cost.HandoffNs
	if t := &h.cores[target]; !t.softirq && t.running < 0 {
		d += h.cfg.Cost.C1ExitNs
	}
	h.q.push(h.now+d, evBatchArrive, target, bi)
}

// sendIPIs sends the handoffs a softirq run queued (IPI batching): Linux
// before Feb 2024 sent a net_rx_action's IPIs when it ended (perf#50).
func (h *host) sendIPIs(c *core) {
	for _, p := range c.ipis {
		h.handoff(p.target, p.batch)
	}
	c.ipis = c.ipis[:0]
}

// homaSoftirqEntry pairs a homa_softirq entry on c at t with the latest
// choice of c by a GRO core, as Homa's timetrace analyzer did for perf#49.
func (h *host) homaSoftirqEntry(c *core, t int64) {
	if c.lastChose < 0 {
		return
	}
	if h.inWindow() {
		h.r.homaGRO.Record(t - c.lastChose)
	}
	c.lastChose = -1
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
	h.homaSoftirqEntry(c, h.now+h.cfg.Cost.IPNs) // homa_softirq starts after the IP layer
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
