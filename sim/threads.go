package sim

import (
	"math"
	"math/bits"

	"github.com/homalb/homalb/balance"
)

// Application threads: the ready queue, Homa's thread chooser, waking,
// polling, copy-out, service and responses.

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
	th.homaRecord, th.handedAt = true, h.now // homa_rpc_handoff to a waiting thread
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
	th.homaRecord = false
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
	if th.phase == phaseService || th.phase == phaseXmit {
		st.Kind, st.Bytes = StepService, 0 // the application's work: service, the response's copy and transmission
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
	if th.needRecord && th.phase == phaseCopy {
		if th.homaRecord {
			th.homaRecord = false // the thread has found its message
			if h.inWindow() {
				h.r.homaApp.Record(h.now - th.handedAt)
			}
		}
		// homa_copy_to_user takes the RPC lock to collect the packets, then
		// copies without it. While SoftIRQ holds the lock the thread spins
		// on its core and asks for it (APP_NEEDS_LOCK); unlock resumes it.
		if m := &h.msgs[th.msg]; h.cfg.Balance.RPCLock {
			if m.lockBy >= 0 {
				th.lockWait, m.appNeedsLock = true, true
				return
			}
			th.lockWait, m.appNeedsLock = false, false
			if m.active > 0 {
				h.r.rpcOverlaps++ // took the lock during a SoftIRQ step on the message
			}
		}
	}
	th.paused = false
	if th.needRecord && th.phase == phaseCopy {
		// The copy starts now: take every byte that is ready by now.
		h.recordHandoff(th)
		m := &h.msgs[th.msg]
		th.chunk = min(m.processed-m.copied, int32(h.cfg.App.CopyPackets*h.cfg.Host.MTUPayload))
		th.remaining = h.cfg.Cost.RecvNs + h.copyNs(th.chunk)
		if h.inWindow() {
			h.r.recvAppNs += th.remaining
		}
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
		if d := h.serviceNs(m.size); d > 0 {
			th.phase = phaseService
			th.remaining = d
			th.paused = true
			h.resume(th)
			return
		}
		h.xmit(ti)
	case phaseService:
		h.xmit(ti)
	case phaseXmit:
		h.respond(th)
		h.threadWait(ti)
		if c := &h.cores[th.core]; c.hasSoftirqWork() && !c.softirq {
			h.enterSoftirq(c) // softirq held off by the transmission runs now
		}
	}
}

// xmit has the thread transmit its response's unscheduled packets, as
// homa_sendmsg does: each packet's transmission runs with BH disabled, so
// softirq on its core waits for the packet in progress (bhHeldOff).
func (h *host) xmit(ti int32) {
	th := &h.threads[ti]
	d := h.xmitNs(th.respSize)
	if d == 0 {
		h.respond(th)
		h.threadWait(ti)
		return
	}
	h.tab.AppActive(int(th.core), h.now) // homa_sendmsg marks its core app-active on entry
	th.phase = phaseXmit
	th.remaining = d
	th.paused = true
	h.resume(th)
}

// xmitNs is the time to transmit the unscheduled packets of a response of
// size bytes; the rest goes out from SoftIRQ as its GRANTs arrive.
func (h *host) xmitNs(size int32) int64 {
	if !h.cfg.Traffic.Responses || h.cfg.Cost.XmitNs == 0 {
		return 0
	}
	mtu := int32(h.cfg.Host.MTUPayload)
	unsched := min(size, int32(h.cfg.Traffic.UnschedBytes))
	return int64((unsched+mtu-1)/mtu) * h.cfg.Cost.XmitNs
}

// respond sends the response (as large as the request); for one larger than
// the unscheduled bytes the client's GRANTs come back to this host from one
// RTT after the response starts, one per traffic.grant_pkts scheduled
// packets: the client's SoftIRQ grants once per RPC per batch.
func (h *host) respond(th *thread) {
	h.tab.AppActive(int(th.core), h.now)
	if !h.cfg.Traffic.Responses || int(th.respSize) <= h.cfg.Traffic.UnschedBytes {
		return
	}
	mtu, per := h.cfg.Host.MTUPayload, h.cfg.Traffic.GrantPkts
	pkts := (int(th.respSize) - h.cfg.Traffic.UnschedBytes + mtu - 1) / mtu
	n := (pkts + per - 1) / per
	h.q.push(h.now+h.cfg.Traffic.RTTNs, evRespGrant, int32(th.respFlow), int32(n))
}

// respGrant delivers one GRANT of a response to the NIC; flow is the
// request's flow hash as int32 bits, left counts this GRANT and those that
// follow, one per traffic.grant_pkts packet times.
func (h *host) respGrant(flow, left int32) {
	p := packet{msg: -1, idx: -1, flow: uint32(flow), kind: balance.Grant}
	h.nicArrival(&p)
	if left > 1 {
		h.q.push(h.now+h.mtuLinkNs*int64(h.cfg.Traffic.GrantPkts), evRespGrant, flow, left-1)
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
	if h.cfg.App.PollNs > 0 && c.runq.len() == 0 {
		th.state = tsPolling
		th.pollUntil = h.now + h.cfg.App.PollNs
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
		if c.runq.len() > 0 {
			h.armSlice(c)
		}
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
	if c.softirq {
		c.resched = true // need_resched: net_rx_action stops at its next check
	}
	if c.running >= 0 {
		other := &h.threads[c.running]
		if other.state != tsPolling {
			c.runq.push(ti)
			h.armSlice(c)
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

// armSlice starts a CFS time slice on core c, whose thread now has company
// in the run queue: when it ends, the running thread yields (sliceEnd).
func (h *host) armSlice(c *core) {
	if h.cfg.App.TimesliceNs <= 0 || c.sliceSet {
		return
	}
	c.sliceSet = true
	c.sliceGen++
	h.q.push(h.now+h.cfg.App.TimesliceNs, evSlice, c.id, c.sliceGen)
}

// sliceEnd ends a time slice: the running thread goes to the back of the
// run queue and the next one runs. A thread holds no RPC lock while it runs
// (it drops the lock before it copies), so preempting it blocks no one.
func (h *host) sliceEnd(c *core, gen int32) {
	if gen != c.sliceGen {
		return
	}
	c.sliceSet = false
	if c.runq.len() == 0 || c.running < 0 {
		return
	}
	if c.softirq {
		h.armSlice(c) // the scheduler runs when softirq context ends; check again then
		return
	}
	prev := &h.threads[c.running]
	h.pause(prev)
	prev.state = tsRunnable
	c.runq.push(prev.id)
	h.release(c) // the next thread runs; prev waits its turn
	h.r.slices++
	if c.runq.len() > 0 {
		h.armSlice(c)
	}
}

// serviceNs is a thread's work after a message's last byte: the service
// time, then copying the response (as large as the request) into packets
// when there is one.
func (h *host) serviceNs(size int32) int64 {
	d := h.cfg.Cost.AppNs
	if h.cfg.Traffic.Responses {
		d += int64(math.Round(float64(size) * h.cfg.Cost.SendNsPerKB / 1024))
	}
	return d
}
