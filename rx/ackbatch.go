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

// flushApp sends what an application thread queued: its gathered ACKs and
// its batch of datagrams.
func (s *Server) flushApp(tx *txScratch) {
	s.flushAcks(tx)
	_ = tx.batch.flush() // a failed send is counted by the xmitter; timers recover
}
