package rx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/homalb/homalb/wire"
)

// The client's side of the protocol as the server's packets drive it (the
// reader goroutine: responses, grants, resends, BUSY, UNKNOWN, ACK) and its
// timer (deadlines, probes and RESENDs, backing off while the server is
// silent). client.go holds the calls themselves.

// runReader takes the server's packets until Close.
func (c *Client) runReader() {
	defer c.wg.Done()
	slots := make([]*pktBuf, DefaultReadBurst)
	for i := range slots {
		slots[i] = new(pktBuf)
	}
	meta := make([]rxMeta, DefaultReadBurst)
	tx := &txScratch{lazy: true} // what a burst sends goes out in one sendmmsg
	for {
		n, err := c.rd.read(slots, meta)
		if err != nil {
			select {
			case <-c.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if !isTransient(err) {
				time.Sleep(time.Millisecond) // do not spin on a broken socket
			}
			continue
		}
		now := c.clock()
		c.ctr.pktsIn.Add(uint64(n))
		for i := range n {
			if meta[i].trunc || meta[i].n > MaxDatagram {
				c.drop(DropOversized)
				continue
			}
			c.packet(slots[i].b[:meta[i].n], now, tx)
		}
		c.flushAcks(tx)
		_ = tx.batch.flush() // a lost packet is recovered like any other
	}
}

// packet processes one packet from the server.
func (c *Client) packet(b []byte, now int64, tx *txScratch) {
	h, payload, err := wire.Decode(b)
	if err != nil {
		c.drop(decodeDrop(err))
		return
	}
	if h.Sender != c.sender {
		c.drop(DropUnsupported)
		return
	}
	sh := c.shard(h.MsgID)
	sh.mu.Lock()
	cl := sh.m[h.MsgID]
	if cl == nil {
		sh.mu.Unlock()
		c.drop(DropStale)
		if h.Type != wire.TypeAck && h.Type != wire.TypeUnknown && h.Flags&wire.FlagShed == 0 && h.MsgID != 0 && h.MsgID <= c.nextID.Load() {
			// A call that ended here: tell the server to forget it.
			ack := wire.Header{Type: wire.TypeAck, Sender: c.sender, MsgID: h.MsgID, Cookie: h.Cookie}
			if c.sender0(tx).ctlKey(c.peer, ack, ctlFaultKey(h.MsgID, c.staleAcks.Add(1), wire.TypeAck)) == nil {
				c.ctr.acks.Add(1)
			}
		}
		return
	}
	ps := c.sender0(tx)
	if h.Cookie != 0 {
		cl.cookie = h.Cookie
	}
	if h.Type == wire.TypeBusy && h.Flags&wire.FlagShed != 0 {
		if cl.resp == nil && !cl.shed { // the server kept nothing of the request
			// Send it again from the start when the timer's backoff
			// allows, not at once, and not before: no probe can tell
			// more.
			c.ctr.shed.Add(1)
			cl.shed = true
			cl.sheds++
			cl.heardNs = now
			cl.backOff(now, int64(c.tp.resend))
		}
		sh.mu.Unlock()
		return
	}
	if h.Type == wire.TypeBusy {
		// Alive but busy: no call fails for silence, but the probes keep
		// backing off, so that an overloaded server is not asked again
		// every resend interval by every waiting call.
		cl.heardNs = now
	} else {
		cl.heard(now)
	}
	reqHdr := wire.Header{Sender: c.sender, MsgID: cl.id, Cookie: cl.cookie}
	switch h.Type {
	case wire.TypeData:
		c.dataLocked(sh, cl, &h, payload, now, tx)
	case wire.TypeGrant:
		c.ctr.grantsIn.Add(1)
		cl.heardNs = now
		if h.MsgLen != cl.req.length() {
			c.drop(DropInconsistent)
		} else if cl.req.grant(h.GrantOffset) {
			n, _ := ps.sendGranted(c.peer, reqHdr, &cl.req, &cl.xmits)
			c.ctr.dataOut.Add(uint64(n))
		}
	case wire.TypeResend:
		c.ctr.resendsIn.Add(1)
		cl.heardNs = now
		if h.MsgLen != cl.req.length() {
			c.drop(DropInconsistent)
			break
		}
		re, fresh, _ := ps.resend(c.peer, reqHdr, &cl.req, h.Offset, h.GrantOffset, now, int64(c.tp.resend), &cl.xmits)
		c.ctr.retrans.Add(uint64(re))
		c.ctr.dataOut.Add(uint64(re + fresh))
	case wire.TypeBusy:
		if h.Flags&wire.FlagResponse != 0 && cl.resp == nil && !cl.oneWay && h.Cookie != 0 {
			// The server holds a response it sends only to a client that
			// proved its address: a probe with the cookie does, at once
			// rather than a resend interval later.
			if ps.ctl(c.peer, cl.ctlHeader(c, wire.TypeResend, 0, cl.req.length()), &cl.xmits) == nil {
				c.ctr.probes.Add(1)
			}
		}
	case wire.TypeUnknown:
		// The server has no trace of the request: send it again from the
		// start (it never reached the application).
		cl.heardNs = now
		c.restartLocked(cl, ps, tx)
	case wire.TypeAck:
		c.ackedLocked(sh, cl, tx)
	}
	sh.mu.Unlock()
	if h.Type == wire.TypeAck {
		c.moreAcked(payload, tx)
	}
	c.flushGrants(tx)
}

// ackedLocked ends call cl, which the server acknowledged without a
// response: a Send completes, a Call fails with ErrNoResponse.
func (c *Client) ackedLocked(sh *callShard, cl *clientCall, tx *txScratch) {
	if cl.oneWay {
		c.finishLocked(sh, cl, nil, nil, false, tx)
	} else {
		c.finishLocked(sh, cl, nil, c.callError(cl, ErrNoResponse), false, tx)
	}
}

// moreAcked ends the calls listed in an ACK's payload (a server gathers
// the ACKs it owes a client); IDs of calls that ended already are ignored.
func (c *Client) moreAcked(payload []byte, tx *txScratch) {
	for i := range wire.AckIDs(payload) {
		id := wire.AckID(payload, i)
		sh := c.shard(id)
		sh.mu.Lock()
		if cl := sh.m[id]; cl != nil {
			c.ackedLocked(sh, cl, tx)
		}
		sh.mu.Unlock()
	}
}

// dataLocked adds a packet of cl's response.
func (c *Client) dataLocked(sh *callShard, cl *clientCall, h *wire.Header, payload []byte, now int64, tx *txScratch) {
	if h.Flags&wire.FlagResponse == 0 {
		c.drop(DropUnsupported)
		return
	}
	cl.heardNs = now
	if cl.oneWay { // the server answered a one-way message: it took it
		c.finishLocked(sh, cl, nil, nil, true, tx)
		return
	}
	if cl.resp == nil {
		if int(h.MsgLen) > c.maxMsg {
			c.finishLocked(sh, cl, nil, c.callError(cl, fmt.Errorf("response of %d bytes, at most %d accepted: %w", h.MsgLen, c.maxMsg, ErrTooLong)), true, tx)
			return
		}
		n := int64(h.MsgLen)
		if c.respBytes.Add(n) > c.maxResp {
			c.respBytes.Add(-n)
			c.drop(DropMemory)
			return
		}
		c.inflight.Add(n)
		cl.resp = getMsgBuf(int(h.MsgLen))
		cl.asm.reset(h.MsgLen)
		sgrant := max(h.GrantOffset, h.Offset+uint32(len(payload)))
		cl.scheduled = sgrant < h.MsgLen
		cl.g = grantee{peer: peerKey{sub: cl.id}, length: h.MsgLen, granted: sgrant, to: c.peer, sender: c.sender,
			id: cl.id, flags: wire.FlagResponse, cookie: cl.cookie}
	} else if cl.asm.length != h.MsgLen {
		c.drop(DropInconsistent)
		return
	}
	switch cl.asm.add(h.Offset, uint32(len(payload))) {
	case addDup:
		c.drop(DropDuplicate)
		return
	case addGaps:
		c.drop(DropGaps)
		return
	}
	copy((*cl.resp)[h.Offset:], payload)
	cl.sgrant = max(cl.sgrant, h.GrantOffset, h.Offset+uint32(len(payload)))
	if cl.asm.complete() {
		c.finishLocked(sh, cl, *cl.resp, nil, true, tx)
		return
	}
	if cl.scheduled {
		c.grants.update(&cl.g, cl.asm.have, cl.sgrant, &tx.grants)
	}
}

// timerParts is how many ticks of the client's timer visit every call
// once: each tick visits the calls of a quarter of the shards, every
// quarter of the resend interval, so that each call is looked at once per
// interval. (Visiting all of them every tick cost a client with 20,000
// calls waiting 8 M visits a second, its largest single cost.)
const timerParts = 4

// restartLocked sends cl's request again from its start: the server has
// no trace of it (UNKNOWN), or shed it at the door.
func (c *Client) restartLocked(cl *clientCall, ps pktSender, tx *txScratch) {
	c.ctr.restarts.Add(1)
	cl.restarts++
	cl.shed = false
	if cl.resp != nil {
		if cl.scheduled {
			c.grants.remove(&cl.g, &tx.grants)
		}
		n := int64(cl.asm.length)
		c.respBytes.Add(-n)
		c.inflight.Add(-n)
		putMsgBuf(cl.resp)
		cl.resp, cl.scheduled, cl.sgrant = nil, false, 0
	}
	cl.req.next, cl.req.granted = 0, uint32(min(len(cl.req.data), c.tp.unsched))
	rh := wire.Header{Flags: wire.FlagRetransmit, Sender: c.sender, MsgID: cl.id, Cookie: cl.cookie}
	n, _ := ps.sendGranted(c.peer, rh, &cl.req, &cl.xmits)
	c.ctr.retrans.Add(uint64(n))
	c.ctr.dataOut.Add(uint64(n))
}

// runTimer fails calls past their deadline and asks for what is missing:
// timerParts ticks per resend interval, each over 1/timerParts of the calls.
func (c *Client) runTimer() {
	defer c.wg.Done()
	t := time.NewTicker(max(c.tp.resend/timerParts, 100*time.Microsecond))
	defer t.Stop()
	tx := new(txScratch)
	for k := 0; ; k = (k + 1) % timerParts {
		select {
		case <-c.done:
			return
		case <-t.C:
			c.tickPart(c.clock(), tx, k, timerParts)
		}
	}
}

// timerBudget bounds the packets one tick of the client's timer sends (the
// probes and RESENDs of silent calls): 32 per quarter resend interval,
// 12,800/s at Homa's 10 ms. A server that is slow rather than dead would
// otherwise be asked about every one of thousands of waiting calls each
// interval, and answering takes the CPU it needs to catch up; a call left
// out is asked about at a later tick.
const timerBudget = 32

// tick is the client's timer work at now, over every call.
func (c *Client) tick(now int64, tx *txScratch) { c.tickPart(now, tx, 0, 1) }

// tickPart is the client's timer work at now over the calls of shards
// first, first+step, ….
func (c *Client) tickPart(now int64, tx *txScratch, first, step int) {
	resend := int64(c.tp.resend)
	budget := timerBudget
	for i := first; i < len(c.shards); i += step {
		sh := &c.shards[i]
		sh.mu.Lock()
		for _, cl := range sh.m {
			if now >= cl.deadline {
				c.finishLocked(sh, cl, nil, c.callError(cl, fmt.Errorf("%w (%w)", ErrTimeout, context.DeadlineExceeded)), true, tx)
				continue
			}
			if now-cl.heardNs < resend || now < cl.pokeNs || budget <= 0 {
				continue
			}
			budget--
			cl.backOff(now, resend) // while the server stays silent
			ps := c.sender0(tx)
			if cl.shed { // refused at the door: try again, backing off
				c.restartLocked(cl, ps, tx)
				continue
			}
			if cl.resp == nil { // probe: what became of the request?
				if ps.ctl(c.peer, cl.ctlHeader(c, wire.TypeResend, 0, cl.req.length()), &cl.xmits) == nil {
					c.ctr.probes.Add(1)
				}
				continue
			}
			end := cl.sgrant
			if cl.scheduled {
				end = max(end, c.grants.granted(&cl.g))
			}
			n := cl.asm.missing(end, tx.ranges[:])
			for _, sp := range tx.ranges[:n] {
				h := cl.ctlHeader(c, wire.TypeResend, wire.FlagResponse, cl.asm.length)
				h.Offset, h.GrantOffset = sp.start, sp.end
				if ps.ctl(c.peer, h, &cl.xmits) == nil {
					c.ctr.resendsOut.Add(1)
				}
			}
		}
		sh.mu.Unlock()
		c.flushGrants(tx)
	}
}
