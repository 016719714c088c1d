package rx

import (
	"math/bits"
	"sync"

	"github.com/homalb/homalb/wire"
)

// The server's RPC state machine: what each packet of a client does to the
// RPC it names, and what the timer does to RPCs that went quiet. Every
// function here runs under the lock of the RPC's shard of the message
// table. The rules against abuse (see the threat model in doc.go) are
// enforced here:
//
//   - Before an RPC's sender has shown the RPC's cookie (it is
//     unverified), everything the server sends about the RPC on its own
//     initiative or in answer to it (RESENDs, BUSYs, retransmissions) is
//     paid for by the bytes received for it: txBytes never passes rxBytes
//     because of such a packet. A stateless answer (UNKNOWN, ACK) is one
//     header for one header.
//   - DATA is accepted only below the server's grant: the unscheduled
//     bytes, then what the scheduler granted. Bytes past the unscheduled
//     part need the cookie, which a sender only has if it reads its
//     address.
//   - GRANTs and RESENDs from the client act on a response only when they
//     carry the cookie; a RESEND retransmits only bytes sent already, each
//     segment at most once per resend interval, within
//     maxRetransmitFactor times the response.
//   - Only progress (new request bytes, a grant that moves the response)
//     keeps an RPC alive; the timer's packets back off exponentially.

// rpcState is where a server RPC stands.
type rpcState uint8

const (
	// rpcReceiving: the request is being assembled.
	rpcReceiving rpcState = iota
	// rpcProcessing: the request is complete and with the application (or
	// waiting for a thread).
	rpcProcessing
	// rpcResponding: the response is being sent, or waits for the
	// client's ACK.
	rpcResponding
)

// srvRPC is the server's state of one RPC, from the first packet of its
// request until it ends: the client acknowledges the response or gives up,
// the application releases the request without a response, or a timeout.
// Guarded by its shard's lock, except g (see grantee).
type srvRPC struct {
	key       msgKey
	state     rpcState
	sock      int      // socket of the request's first packet; sends the RPC's packets
	msg       *Message // the request, while it is assembled
	scheduled bool     // the request needs grants (it is longer than its unscheduled bytes)
	verified  bool     // a packet of the client carried the cookie
	cookie    uint64
	unsched   uint32    // the request bytes the client may send without a grant
	peer      *peerAcct // the client's host, held until the RPC ends
	peerBytes int64     // charged to peer now
	g         grantee
	out       outMsg // the response
	outBuf    *[]byte
	lastNs    int64  // last progress: new request bytes, a grant that moved the response
	pokeNs    int64  // when the timer may next send a RESEND or BUSY
	pokes     uint8  // timer packets since the last progress: the backoff's exponent
	rxBytes   uint64 // datagram bytes received for this RPC
	txBytes   uint64 // datagram bytes sent for it
	xmits     uint32 // packets sent for this RPC, for fault decisions
}

var rpcPool = sync.Pool{New: func() any { return new(srvRPC) }}

// maxBackoff bounds the timer's backoff: at most 2^6 resend intervals
// between two of its packets for one RPC.
const maxBackoff = 6

// sender returns the packet writer of socket sock with tx's buffer,
// counting the bytes it sends in ledger (nil: not counted).
func (s *Server) sender(sock int, tx *txScratch, ledger *uint64) pktSender {
	return pktSender{x: s.tx[sock], buf: &tx.buf, ledger: ledger, q: &tx.batch, lazy: tx.lazy}
}

// rpcSender is the writer of r's packets, charged to r.
func (s *Server) rpcSender(r *srvRPC, tx *txScratch) pktSender {
	return s.sender(r.sock, tx, &r.txBytes)
}

// respHeader is the header template of the RPC's response packets.
func (r *srvRPC) respHeader() wire.Header {
	return wire.Header{Flags: wire.FlagResponse, Sender: r.key.sender, MsgID: r.key.id, Cookie: r.cookie}
}

// ctlHeader is a control packet of type t about r.
func (r *srvRPC) ctlHeader(t wire.Type, f wire.Flags, msgLen uint32) wire.Header {
	return wire.Header{Type: t, Flags: f, Sender: r.key.sender, MsgID: r.key.id, MsgLen: msgLen, Cookie: r.cookie}
}

// proven notes whether h carries r's cookie, which verifies r's client.
func (r *srvRPC) proven(h *wire.Header) bool {
	if h.Cookie == r.cookie {
		r.verified = true
		return true
	}
	return false
}

// afford reports whether r may be sent n more bytes: always once its client
// is verified, else while the bytes sent stay within those received.
func (r *srvRPC) afford(n int) bool {
	return r.verified || r.txBytes+uint64(n) <= r.rxBytes
}

// progress records that r moved forward at now: the timer starts over.
func (r *srvRPC) progress(now, resend int64) {
	r.lastNs, r.pokes, r.pokeNs = now, 0, now+resend
}

// grantBound is how far r's client may send its request: the unscheduled
// bytes, then what the scheduler granted.
func (r *srvRPC) grantBound() uint32 { return max(r.unsched, r.g.pub.Load()) }

// dataLocked adds a DATA segment of a request to its RPC, under the
// shard's lock, creating the RPC at its first packet. It returns the RPC
// (nil if the packet was refused before reaching one) and the request if
// the packet completed it.
func (s *Server) dataLocked(sh *msgShard, core int, key *msgKey, p *pkt, sock int, now int64, tx *txScratch) (*srvRPC, *Message) {
	h := &p.hdr
	if h.Flags&wire.FlagResponse != 0 { // responses go to clients
		s.drop(DropUnsupported)
		return nil, nil
	}
	n := uint32(len(p.payload))
	end := h.Offset + n
	r := sh.m[*key]
	switch {
	case r == nil:
		if sh.done.has(key) {
			s.drop(DropStale)
			return nil, nil
		}
		if s.shedding(sock, now) {
			s.shed(key, h, sock, tx)
			return nil, nil
		}
		if r = s.newRPC(sh, key, h, sock, now); r == nil {
			return nil, nil
		}
	case r.state != rpcReceiving:
		s.drop(DropDuplicate)
		return r, nil
	case r.msg.asm.length != h.MsgLen:
		s.drop(DropInconsistent)
		return r, nil
	}
	r.rxBytes += uint64(wire.HeaderLen) + uint64(n)
	proven := r.proven(h)
	if h.Offset >= r.grantBound() || h.Offset >= r.unsched && !proven {
		// Past the grant, or past the unscheduled bytes from a sender that
		// never read a GRANT: sent blind. (A sender cuts its message the
		// same way every time and sends every segment that starts below
		// its grant, so the last one may end past it.)
		s.drop(DropUngranted)
		return r, nil
	}
	m := r.msg
	if !s.grow(r, m, end) {
		s.drop(DropMemory)
		return r, nil
	}
	switch m.asm.add(h.Offset, n) {
	case addDup:
		s.drop(DropDuplicate)
		return r, nil
	case addGaps:
		s.drop(DropGaps)
		return r, nil
	}
	copy((*m.buf)[h.Offset:], p.payload)
	if h.Flags&wire.FlagRetransmit != 0 {
		s.tc.retransIn.Add(1)
	}
	r.progress(now, int64(s.l.transport.resend))
	m.cores |= coreBit(core)
	if !m.asm.complete() {
		return r, nil
	}
	// Complete: the request leaves its peer's budget for the server's.
	r.msg = nil
	r.state = rpcProcessing
	m.Data = (*m.buf)[:m.asm.length]
	s.peers.uncharge(r.peer, m.charged)
	r.peerBytes -= m.charged
	if r.scheduled {
		s.grants.remove(&r.g, &tx.grants)
	}
	if m.asm.length > MaxPayload {
		s.multi.Add(1)
		s.multiCPU.Add(uint64(bits.OnesCount64(m.cores)))
	}
	return r, m
}

// shed turns a new request away at the door: dropped and counted, and its
// first packet answered with a BUSY marked FlagShed, so that the client
// sends it again after a backoff instead of probing a server that has no
// trace of it (which, from every waiting call, is what turns overload
// into collapse). One header answers a packet of at least a header, to
// its source only, and no state is kept.
func (s *Server) shed(key *msgKey, h *wire.Header, sock int, tx *txScratch) {
	s.drop(DropShed)
	if h.Offset == 0 {
		s.answerStateless(key, wire.TypeBusy, wire.FlagShed, h.MsgLen, sock, tx)
	}
}

// answerStateless sends the client of key a control packet of type t about
// an RPC the server holds no state for (none to charge: the caller answers
// one header with one), stamped with the RPC's cookie and counted.
func (s *Server) answerStateless(key *msgKey, t wire.Type, f wire.Flags, msgLen uint32, sock int, tx *txScratch) {
	out := wire.Header{Type: t, Flags: f, Sender: key.sender, MsgID: key.id, MsgLen: msgLen, Cookie: s.cookies.of(key)}
	if s.sender(sock, tx, nil).ctlKey(key.from, out, ctlFaultKey(key.id, s.tc.stateless.Add(1), t)) == nil {
		s.tc.ctlOut[t].Add(1)
	}
}

// newRPC admits the first packet of a request: a charge per RPC to the
// server's and the client host's budgets, and no bytes yet. It returns nil
// (the packet dropped and counted) when a budget is spent.
func (s *Server) newRPC(sh *msgShard, key *msgKey, h *wire.Header, sock int, now int64) *srvRPC {
	peer := s.peers.acquire(key.from.Addr())
	if !s.reserve(rpcOverhead) {
		s.peers.release(peer)
		s.drop(DropMemory)
		return nil
	}
	if !s.peers.charge(peer, rpcOverhead) {
		s.inflight.Add(-rpcOverhead)
		s.peers.release(peer)
		s.drop(DropPeerMemory)
		return nil
	}
	unsched := min(h.MsgLen, uint32(s.l.transport.unsched))
	cookie := s.cookies.of(key)
	r := rpcPool.Get().(*srvRPC)
	*r = srvRPC{key: *key, sock: sock, cookie: cookie, unsched: unsched, peer: peer, peerBytes: rpcOverhead,
		msg:       s.newMessage(*key, h.MsgLen, h.Flags&^wire.FlagRetransmit, sock, now),
		scheduled: unsched < h.MsgLen,
		g: grantee{peer: peerKey{addr: key.from.Addr()}, length: h.MsgLen, granted: unsched,
			to: key.from, sock: sock, sender: key.sender, id: key.id, cookie: cookie}}
	r.progress(now, int64(s.l.transport.resend))
	sh.put(r)
	s.rpcs.Add(1)
	return r
}

// grow makes m's buffer hold at least its first end bytes, charging what
// it adds to the server's and the peer's budgets: a request takes memory as
// its bytes arrive, not as its first packet claims. The buffer grows to the
// next power of two (at most the message's length), so growing costs at
// most one more copy of the bytes.
func (s *Server) grow(r *srvRPC, m *Message, end uint32) bool {
	have := int64(0)
	if m.buf != nil {
		have = int64(len(*m.buf))
	}
	if int64(end) <= have {
		return true
	}
	want := int64(min(m.asm.length, uint32(1)<<bits.Len32(end-1)))
	if end <= 1<<minClassShift {
		want = int64(min(m.asm.length, 1<<minClassShift))
	}
	delta := want - have
	if !s.reserve(delta) {
		return false
	}
	if !s.peers.charge(r.peer, delta) {
		s.inflight.Add(-delta)
		return false
	}
	r.peerBytes += delta
	m.charged += delta
	nb := getMsgBuf(int(want))
	if m.buf != nil {
		copy(*nb, (*m.buf)[:m.asm.recvEnd])
		putMsgBuf(m.buf)
	}
	m.buf = nb
	return true
}

// grantLocked makes the grant decision for r's request after its packets
// of a batch (one decision per message per batch).
func (s *Server) grantLocked(r *srvRPC, tx *txScratch) {
	if r != nil && r.scheduled && r.state == rpcReceiving {
		s.grants.update(&r.g, r.msg.asm.have, 0, &tx.grants)
	}
}

// onGrant lets a response go further, when the GRANT carries the cookie.
func (s *Server) onGrant(sh *msgShard, key *msgKey, h *wire.Header, now int64, tx *txScratch) {
	s.tc.grantsIn.Add(1)
	r := sh.m[*key]
	if r == nil || r.state != rpcResponding || h.Flags&wire.FlagResponse == 0 {
		s.drop(DropStale)
		return
	}
	r.rxBytes += wire.HeaderLen
	if !r.proven(h) {
		s.drop(DropUnverified)
		return
	}
	if h.MsgLen != r.out.length() {
		s.drop(DropInconsistent)
		return
	}
	if r.out.grant(h.GrantOffset) || r.out.next < r.out.granted {
		// A grant that moves, or the first GRANT of a client that just
		// proved its address (the response waited for it).
		r.progress(now, int64(s.l.transport.resend))
		n, _ := s.rpcSender(r, tx).sendGranted(key.from, r.respHeader(), &r.out, &r.xmits)
		s.tc.dataOut.Add(uint64(n))
	}
}

// wireBytes is the datagram bytes of the first n bytes of a message.
func wireBytes(n uint32) int {
	return int(n) + wire.HeaderLen*int((n+MaxPayload-1)/MaxPayload)
}

// onResend answers a client's RESEND: for bytes of the response
// (FlagResponse), or a probe about the RPC.
func (s *Server) onResend(sh *msgShard, key *msgKey, h *wire.Header, sock int, now int64, tx *txScratch) {
	s.tc.resendsIn.Add(1)
	r := sh.m[*key]
	if r == nil {
		// No state to charge: one header answers one header.
		t := wire.TypeUnknown // send the request again
		if sh.done.has(key) {
			t = wire.TypeAck // it ended here: nothing more will come
		}
		s.answerStateless(key, t, 0, h.MsgLen, sock, tx)
		return
	}
	r.rxBytes += wire.HeaderLen
	proven := r.proven(h)
	resend := int64(s.l.transport.resend)
	switch {
	case r.state == rpcResponding && !proven:
		// Prove the address first: the BUSY carries the cookie.
		s.busy(r, tx)
	case h.Flags&wire.FlagResponse != 0 && r.state == rpcResponding:
		if h.MsgLen != r.out.length() {
			s.drop(DropInconsistent)
			return
		}
		granted := r.out.granted
		re, fresh, _ := s.rpcSender(r, tx).resend(key.from, r.respHeader(), &r.out, h.Offset, h.GrantOffset, now, resend, &r.xmits)
		if r.out.granted > granted {
			r.progress(now, resend)
		}
		s.tc.retransOut.Add(uint64(re))
		s.tc.dataOut.Add(uint64(re + fresh))
	case r.state == rpcResponding: // a probe: the client has none of the response
		// Send again what was sent, and what waited for this proof of
		// address (a response larger than its request).
		ps := s.rpcSender(r, tx)
		re, _ := ps.retransmit(key.from, r.respHeader(), &r.out, 0, r.out.next, now, resend, &r.xmits)
		fresh, _ := ps.sendGranted(key.from, r.respHeader(), &r.out, &r.xmits)
		s.tc.retransOut.Add(uint64(re))
		s.tc.dataOut.Add(uint64(re + fresh))
	case r.state == rpcReceiving && s.askMissing(r, tx) > 0:
	default:
		s.busy(r, tx) // with the application, or waiting for our grants
	}
}

// onAck ends r at its client's word. Once the client proved its address,
// only a packet with the cookie may end the RPC, so that a sender who
// guesses ids cannot cut other clients' RPCs.
func (s *Server) onAck(sh *msgShard, key *msgKey, h *wire.Header, tx *txScratch) {
	s.tc.acksIn.Add(1)
	r := sh.m[*key]
	if r == nil {
		return
	}
	if !r.proven(h) && r.verified {
		s.drop(DropUnverified)
		return
	}
	s.endLocked(sh, r, true, tx)
}

// busy sends r's client a BUSY, if r can afford it; it reports whether it
// did, and counts a withheld reply otherwise.
func (s *Server) busy(r *srvRPC, tx *txScratch) bool {
	if !r.afford(wire.HeaderLen) {
		s.tc.withheld.Add(1)
		return false
	}
	f := wire.Flags(0)
	n := uint32(0)
	if r.state == rpcResponding {
		f, n = wire.FlagResponse, r.out.length()
	}
	if s.rpcSender(r, tx).ctl(r.key.from, r.ctlHeader(wire.TypeBusy, f, n), &r.xmits) != nil {
		return false
	}
	s.tc.ctlOut[wire.TypeBusy].Add(1)
	return true
}

// askMissing sends a RESEND for each range of r's request missing below
// its grant, as many as r can afford; it returns how many it sent.
func (s *Server) askMissing(r *srvRPC, tx *txScratch) int {
	n := r.msg.asm.missing(r.grantBound(), tx.ranges[:])
	sent := 0
	for _, sp := range tx.ranges[:n] {
		if !r.afford(wire.HeaderLen) {
			s.tc.withheld.Add(1)
			break
		}
		h := r.ctlHeader(wire.TypeResend, 0, r.msg.asm.length)
		h.Offset, h.GrantOffset = sp.start, sp.end
		if s.rpcSender(r, tx).ctl(r.key.from, h, &r.xmits) == nil {
			s.tc.ctlOut[wire.TypeResend].Add(1)
			sent++
		}
	}
	return sent
}

// endLocked ends r: out of the table, its memory freed, its key remembered
// (remember) so that late duplicates are dropped, or forgotten so that the
// client may send the request again (the application never saw it).
func (s *Server) endLocked(sh *msgShard, r *srvRPC, remember bool, tx *txScratch) {
	sh.del(r.key)
	if remember {
		sh.done.add(r.key)
	}
	if r.scheduled {
		s.grants.remove(&r.g, &tx.grants)
	}
	if r.msg != nil {
		s.free(r.msg)
	}
	s.peers.uncharge(r.peer, r.peerBytes)
	s.peers.release(r.peer)
	if r.outBuf != nil {
		s.inflight.Add(-int64(len(*r.outBuf)))
		putMsgBuf(r.outBuf)
	}
	s.inflight.Add(-rpcOverhead)
	s.rpcs.Add(-1)
	*r = srvRPC{}
	rpcPool.Put(r)
}

// forget ends the RPC of a request the application will never see (it was
// dropped on its way), so that the client's next probe learns it is
// unknown and sends it again.
func (s *Server) forget(k msgKey) {
	sh := s.msgs.shard(&k)
	tx := txScratchPool.Get().(*txScratch)
	sh.mu.Lock()
	if r := sh.m[k]; r != nil && r.state == rpcProcessing {
		s.endLocked(sh, r, false, tx)
	}
	sh.mu.Unlock()
	s.flushGrants(tx)
	txScratchPool.Put(tx)
}

// coreBit is core's bit in a message's set of SoftIRQ cores (cores past 63
// share the top bit: the statistic is then a lower bound).
func coreBit(core int) uint64 { return 1 << min(core, 63) }

// reserve takes n bytes of the in-flight budget. The count never passes
// the budget, even for an instant (a reader of Stats sees it within).
func (s *Server) reserve(n int64) bool {
	for {
		cur := s.inflight.Load()
		if cur+n > s.l.MaxInflightBytes {
			return false
		}
		if s.inflight.CompareAndSwap(cur, cur+n) {
			return true
		}
	}
}

// tick is the server's timer work at now: it frees what timed out, asks
// for the missing bytes of stalled requests and tells the clients of
// silent responses that they are still held, each RPC's packets backing
// off exponentially while it makes no progress.
func (s *Server) tick(now int64, tx *txScratch) { s.tickPart(now, tx, 0, 1) }

// tickPart is the server's timer work at now over the RPCs of shards
// first, first+step, ….
func (s *Server) tickPart(now int64, tx *txScratch, first, step int) {
	timeout, resend := int64(s.l.MessageTimeout), int64(s.l.transport.resend)
	for i := first; i < len(s.msgs.shards); i += step {
		sh := &s.msgs.shards[i]
		sh.mu.Lock()
		for _, r := range sh.m {
			idle := now - r.lastNs
			switch r.state {
			case rpcReceiving:
				if idle > timeout {
					s.endLocked(sh, r, false, tx)
					s.drop(DropTimeout)
					continue
				}
				if idle < resend || now < r.pokeNs {
					continue
				}
				if r.scheduled && r.g.pub.Load() > r.msg.asm.have {
					// Its sender does not use its grant: give the slot to
					// others until its bytes come again.
					s.grants.remove(&r.g, &tx.grants)
				}
				s.askMissing(r, tx)
			case rpcResponding:
				if idle > timeout {
					s.endLocked(sh, r, true, tx)
					s.drop(DropResponseTimeout)
					continue
				}
				if idle < resend || now < r.pokeNs {
					continue
				}
				s.busy(r, tx)
			default:
				continue
			}
			r.pokes = min(r.pokes+1, maxBackoff)
			r.pokeNs = now + resend<<r.pokes
		}
		sh.mu.Unlock()
		s.flushGrants(tx)
	}
}
