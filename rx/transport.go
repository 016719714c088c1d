package rx

import (
	"net/netip"

	"github.com/homalb/homalb/wire"
)

// This file holds the parts of the transport protocol that the server and
// the client share: the sender's state of a message (outMsg), the
// receiver's grant scheduler (grantSched), the set of recently ended RPCs
// (keySet) and the packet writers. The protocol is Homa's, reduced to what
// one client and one server need:
//
//   - A sender sends the first UnschedBytes of a message at once (each DATA
//     packet says in GrantOffset how far the sender may go); the rest only
//     as the receiver grants it.
//   - The receiver keeps, for at most MaxOvercommit messages at once (the
//     ones with the fewest bytes left, then the oldest; one per peer), up to UnschedBytes
//     granted beyond what it received, and at most MaxIncoming bytes granted
//     but not received over all of them. It decides once per message per
//     SoftIRQ batch and sends a GRANT when the grant moved by a grant
//     increment or reached the end of the message.
//   - A receiver that heard nothing of an incomplete message for
//     ResendInterval asks for each missing range below its grant (RESEND);
//     the sender sends those bytes again, flagged FlagRetransmit, each
//     segment at most once per resend interval. A RESEND also grants up to
//     its end, so a lost GRANT is recovered the same way.
//   - Every packet a server sends about an RPC carries its cookie, and the
//     client echoes it; the server acts on a client's GRANT or RESEND, and
//     accepts request bytes past the unscheduled part, only with the
//     cookie (see the threat model in doc.go and srvrpc.go).
//   - A client that heard nothing of a call for ResendInterval probes the
//     server (RESEND without FlagResponse, an empty range). The server
//     answers with what it knows: UNKNOWN (never heard of it or forgot an
//     incomplete request: the client sends the request again from the
//     start), BUSY (the request is with the application, or waits for the
//     server's grants), a RESEND of its own for missing request bytes, the
//     response bytes sent so far, or ACK (the RPC ended here: a one-way
//     message was taken, or the application gave no response).
//   - The client acknowledges a complete response with ACK and the server
//     forgets the RPC, remembering its id in a bounded set of recently ended
//     RPCs so that late duplicates are dropped instead of starting a new
//     message. A client that gives up on a call sends ACK too. A server
//     that heard nothing from the client of a response for ResendInterval
//     sends BUSY; a client answers ACK for any packet of a call it no
//     longer has. Whatever is lost, MessageTimeout frees the server's state
//     and the call's deadline frees the client's.

// outMsg is the sender's state of one message. Guarded by the lock of the
// table that holds it.
type outMsg struct {
	data    []byte
	granted uint32 // bytes the receiver lets the sender send
	next    uint32 // first byte never sent
	// reNs is, per segment, when it was last retransmitted (ns; allocated
	// at the first retransmission): a range is sent again at most once per
	// resend interval, however many RESENDs ask for it.
	reNs []int64
	// resent counts the bytes retransmitted, bounded by
	// maxRetransmitFactor times the message.
	resent uint64
}

// maxRetransmitFactor bounds the bytes a sender retransmits for one
// message, as a multiple of its length: ample for any loss rate a
// transfer survives, and a ceiling on what a receiver that keeps asking
// can draw out.
const maxRetransmitFactor = 8

// length of the message.
func (o *outMsg) length() uint32 { return uint32(len(o.data)) }

// grant raises the grant to off (bounded by the length); it reports
// whether it moved.
func (o *outMsg) grant(off uint32) bool {
	off = min(off, o.length())
	if off <= o.granted {
		return false
	}
	o.granted = off
	return true
}

// pktSender writes the packets of one endpoint from one thread: the
// socket's xmitter, a scratch buffer, and the ledger that counts the bytes
// sent (nil: not counted). Not safe for concurrent use.
type pktSender struct {
	x      *xmitter
	buf    *[MaxDatagram]byte
	ledger *uint64
	q      *txBatch // DATA segments go out through it, one sendmmsg per batch (nil: one at a time)
	lazy   bool     // control packets queue too, and nothing is sent until the owner flushes q
}

// write sends the k bytes encoded in ps.buf.
func (ps pktSender) write(k int, to netip.AddrPort, key uint64) error {
	if ps.ledger != nil {
		*ps.ledger += uint64(k)
	}
	return ps.x.write(ps.buf[:k], to, key)
}

// data sends the DATA segments of o that start in [from, to) (segments are
// cut every MaxPayload bytes, the same way every time), under header
// template h (Type, Flags, Sender, MsgID and Cookie set). xmits counts the
// packets sent for the message, for fault decisions. It returns the
// packets sent.
func (ps pktSender) data(to netip.AddrPort, h wire.Header, o *outMsg, from, end uint32, xmits *uint32) (int, error) {
	n := 0
	from -= from % MaxPayload
	end = min(end, o.length())
	h.Type = wire.TypeData
	h.MsgLen = o.length()
	h.GrantOffset = o.granted
	for off := from; off < end; off += MaxPayload {
		if err := ps.segment(to, h, o, off, xmits); err != nil {
			ps.flush()
			return n, err
		}
		n++
	}
	return n, ps.flush()
}

// flush sends the segments queued in the batch.
func (ps pktSender) flush() error {
	if ps.q == nil || ps.lazy {
		return nil
	}
	return ps.q.flush()
}

// segment sends o's segment at off (a multiple of MaxPayload).
func (ps pktSender) segment(to netip.AddrPort, h wire.Header, o *outMsg, off uint32, xmits *uint32) error {
	h.Offset = off
	seg := o.data[off:min(off+MaxPayload, o.length())]
	*xmits++
	if ps.q != nil && ps.x.faults == nil { // faults decide packet by packet
		return ps.put(to, h, seg, true, 0)
	}
	return ps.put(to, h, seg, false, faultKey(h.MsgID, *xmits))
}

// put sends packet h with payload p: into the batch when queue (it leaves
// with the batch's sendmmsg), else at once under fault key key.
func (ps pktSender) put(to netip.AddrPort, h wire.Header, p []byte, queue bool, key uint64) error {
	if queue {
		k, err := ps.q.queue(ps.x, to, h, p)
		if ps.ledger != nil {
			*ps.ledger += uint64(k)
		}
		return err
	}
	k, err := wire.Encode(ps.buf[:], h, p)
	if err != nil {
		return err
	}
	return ps.write(k, to, key)
}

// sendGranted sends o's bytes from next up to its grant and advances next.
func (ps pktSender) sendGranted(to netip.AddrPort, h wire.Header, o *outMsg, xmits *uint32) (int, error) {
	if o.next >= o.granted {
		return 0, nil
	}
	n, err := ps.data(to, h, o, o.next, o.granted, xmits)
	if err == nil {
		o.next = min(o.length(), o.granted+(MaxPayload-o.granted%MaxPayload)%MaxPayload)
	}
	return n, err
}

// retransmit answers a RESEND of [from, end) at now: it sends again,
// flagged FlagRetransmit, the segments of that range that were sent
// already and were not sent again within the last interval ns, and no
// more than the message's retransmission budget allows. It returns the
// packets sent. It never sends what was not sent before: a RESEND is not
// a grant here (see resend).
func (ps pktSender) retransmit(to netip.AddrPort, h wire.Header, o *outMsg, from, end uint32, now, interval int64, xmits *uint32) (int, error) {
	end = min(end, o.next)
	if from >= end {
		return 0, nil
	}
	if o.reNs == nil {
		o.reNs = make([]int64, (o.length()+MaxPayload-1)/MaxPayload)
		for i := range o.reNs {
			o.reNs[i] = -interval
		}
	}
	h.Type = wire.TypeData
	h.Flags |= wire.FlagRetransmit
	h.MsgLen = o.length()
	h.GrantOffset = o.granted
	budget := uint64(o.length()) * maxRetransmitFactor
	n := 0
	for off := from - from%MaxPayload; off < end; off += MaxPayload {
		seg := off / MaxPayload
		if now-o.reNs[seg] < interval {
			continue
		}
		size := uint64(min(off+MaxPayload, o.length()) - off)
		if o.resent+size > budget {
			break
		}
		if err := ps.segment(to, h, o, off, xmits); err != nil {
			ps.flush()
			return n, err
		}
		o.reNs[seg] = now
		o.resent += size
		n++
	}
	return n, ps.flush()
}

// resend answers a RESEND of [from, end) from a receiver whose address is
// proven: retransmit what was sent of the range, then take the RESEND as a
// grant up to end and send what that allows. It returns the packets
// retransmitted and sent anew.
func (ps pktSender) resend(to netip.AddrPort, h wire.Header, o *outMsg, from, end uint32, now, interval int64, xmits *uint32) (re, fresh int, err error) {
	re, err = ps.retransmit(to, h, o, from, end, now, interval, xmits)
	if err != nil {
		return re, 0, err
	}
	o.grant(end)
	fresh, err = ps.sendGranted(to, h, o, xmits)
	return re, fresh, err
}

// ctl sends a control packet h (no payload); xmits counts the packets sent
// for its message, and with the packet's type makes its fault key.
func (ps pktSender) ctl(to netip.AddrPort, h wire.Header, xmits *uint32) error {
	*xmits++
	return ps.ctlKey(to, h, ctlFaultKey(h.MsgID, *xmits, h.Type))
}

// queues reports whether control packets wait in the batch until its owner
// flushes it: a lazy sender's do, unless faults decide packet by packet.
func (ps pktSender) queues() bool { return ps.lazy && ps.q != nil && ps.x.faults == nil }

// ctlKey sends a control packet h under an explicit fault key.
func (ps pktSender) ctlKey(to netip.AddrPort, h wire.Header, key uint64) error {
	return ps.put(to, h, nil, ps.queues(), key)
}
