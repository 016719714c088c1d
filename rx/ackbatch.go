package rx

import (
	"net/netip"

	"github.com/homalb/homalb/wire"
)

// The ACKs an application thread owes its clients, gathered per client
// endpoint: a request taken without a response is ended by an ACK, and on
// a loopback or virtual NIC a datagram costs its sender several times what
// it costs to read one, so one ACK per request made the ACKs the cost of
// one-way traffic. Gathered, one ACK ends up to ackBatchIDs RPCs of one
// client (its payload lists the other IDs, see package wire), as Homa
// gathers its acknowledgements per peer.
//
// An ACK answers requests that reached the server: it is smaller than the
// datagrams that provoked it, and it goes only to the address they came
// from, so gathering does not make the server a reflector.

// ackBatchIDs bounds the RPCs one gathered ACK ends: 64 IDs are 512 bytes
// of payload, well inside a datagram.
const ackBatchIDs = 64

// ackSlots is how many client endpoints a thread gathers ACKs for at once;
// a request from a fifth sends the oldest endpoint's ACK.
const ackSlots = 4

// pendingAck is the ACK a thread owes one client endpoint.
type pendingAck struct {
	sock int
	to   netip.AddrPort
	h    wire.Header // the first RPC's ACK: its Sender, MsgID and Cookie
	ids  [ackBatchIDs - 1]uint64
	n    int // IDs after the first
}

// ackBatch is one thread's pending ACKs, oldest first.
type ackBatch struct {
	a       [ackSlots]pendingAck
	n       int
	payload [(ackBatchIDs - 1) * wire.AckIDLen]byte
}

// ackLater adds to tx's pending ACKs the end of the RPC of header h (an
// ACK of a request) from sock to to, sending a gathered ACK first when it
// is full or when the slots are taken by other endpoints.
func (s *Server) ackLater(tx *txScratch, sock int, to netip.AddrPort, h wire.Header) {
	ab := &tx.acks
	for i := range ab.a[:ab.n] {
		p := &ab.a[i]
		if p.sock != sock || p.to != to || p.h.Sender != h.Sender {
			continue
		}
		if p.n == len(p.ids) {
			s.sendAck(tx, p)
			p.h, p.n = h, 0
			return
		}
		p.ids[p.n] = h.MsgID
		p.n++
		return
	}
	if ab.n == ackSlots {
		s.sendAck(tx, &ab.a[0])
		copy(ab.a[:], ab.a[1:])
		ab.n--
	}
	ab.a[ab.n] = pendingAck{sock: sock, to: to, h: h}
	ab.n++
}

// flushAcks queues every pending ACK in tx's batch (the caller flushes it).
func (s *Server) flushAcks(tx *txScratch) {
	ab := &tx.acks
	for i := range ab.a[:ab.n] {
		s.sendAck(tx, &ab.a[i])
	}
	ab.n = 0
}

// sendAck queues the gathered ACK p.
func (s *Server) sendAck(tx *txScratch, p *pendingAck) {
	b := tx.acks.payload[:0]
	for _, id := range p.ids[:p.n] {
		b = wire.AppendAckID(b, id)
	}
	// A failed send is counted by the xmitter; the client's probe finds
	// the RPC ended.
	_, _ = tx.batch.queue(s.tx[p.sock], p.to, p.h, b)
}

// clientAckBatch is the ACK a client's reader owes its server for the
// responses completed in one burst: one datagram ends up to ackBatchIDs
// RPCs (its payload lists the others with their cookies, see package
// wire). Under load a burst completes tens of responses, and one ACK
// datagram each was most of what the reader spent.
type clientAckBatch struct {
	h       wire.Header // the first RPC's ACK
	has     bool
	n       int // RPCs after the first
	ids     [ackBatchIDs - 1][2]uint64
	payload [(ackBatchIDs - 1) * wire.AckCookieLen]byte
}

// ackLater adds the end of cl to the ACK the reader's tx owes the server,
// queueing the gathered ACK first when it is full.
func (c *Client) ackLater(tx *txScratch, cl *clientCall) {
	b := &tx.cacks
	switch {
	case b.has && b.n < len(b.ids):
		b.ids[b.n] = [2]uint64{cl.id, cl.cookie}
		b.n++
		return
	case b.has:
		c.flushAcks(tx)
	}
	b.h, b.has, b.n = cl.ctlHeader(c, wire.TypeAck, 0, 0), true, 0
}

// flushAcks queues the gathered ACK in tx's batch (the caller flushes it).
func (c *Client) flushAcks(tx *txScratch) {
	b := &tx.cacks
	if !b.has {
		return
	}
	p := b.payload[:0]
	for _, e := range b.ids[:b.n] {
		p = wire.AppendAckCookie(p, e[0], e[1])
	}
	// A lost ACK is recovered like any other: the server's timer asks.
	if _, err := tx.batch.queue(c.x, c.peer, b.h, p); err == nil {
		c.ctr.acks.Add(uint64(1 + b.n))
	}
	b.has, b.n = false, 0
}

// moreAcks ends the other RPCs a client's gathered ACK from from lists,
// each only with its cookie (the header's RPC was ended by onAck). The
// work is bounded by the datagram: at most MaxPayload/AckCookieLen
// lookups, and no reply.
func (s *Server) moreAcks(from netip.AddrPort, sender uint64, payload []byte, tx *txScratch) {
	n, whole := wire.AckCookies(payload)
	if !whole {
		s.drop(DropMalformed)
		return
	}
	for i := range n {
		id, cookie := wire.AckCookie(payload, i)
		key := msgKey{from: from, sender: sender, id: id}
		sh := s.msgs.shard(&key)
		sh.mu.Lock()
		s.tc.acksIn.Add(1)
		if r := sh.m[key]; r != nil {
			if cookie == r.cookie {
				s.endLocked(sh, r, true, tx)
			} else {
				s.drop(DropUnverified)
			}
		}
		sh.mu.Unlock()
	}
}

// flushApp sends what an application thread queued: its gathered ACKs and
// its batch of datagrams.
func (s *Server) flushApp(tx *txScratch) {
	s.flushAcks(tx)
	_ = tx.batch.flush() // a failed send is counted by the xmitter; timers recover
}
