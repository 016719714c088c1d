package sim

import "github.com/homalb/homalb/balance"

// Traffic and the downlink: messages leave their senders as a Poisson
// process and cross the downlink packet by packet in SRPT order, limited by
// the receiver's grants.

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
		lastCore: -1, owner: -1, lockBy: -1, live: true, created: now, seq: h.nextSeq,
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
