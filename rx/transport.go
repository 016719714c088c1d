package rx

import (
	"net/netip"
	"sync"

	"github.com/homalb/homalb/balance"
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
//     ones with the fewest bytes left, then the oldest), up to UnschedBytes
//     granted beyond what it received, and at most MaxIncoming bytes granted
//     but not received over all of them. It decides once per message per
//     SoftIRQ batch and sends a GRANT when the grant moved by a grant
//     increment or reached the end of the message.
//   - A receiver that heard nothing of an incomplete message for
//     ResendInterval asks for each missing range below its grant (RESEND);
//     the sender sends those bytes again, flagged FlagRetransmit. A RESEND
//     also grants up to its end, so a lost GRANT is recovered the same way.
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
}

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

// pktSender writes packets of one endpoint from one thread: the socket's
// xmitter and a scratch buffer. Not safe for concurrent use.
type pktSender struct {
	x   *xmitter
	buf *[MaxDatagram]byte
}

// data sends the DATA segments of o that start in [from, to) (segments are
// cut every MaxPayload bytes, the same way every time), under header
// template h (Type, Flags, Sender and MsgID set). xmits counts the packets
// sent for the message, for fault decisions. It returns the packets sent.
func (ps pktSender) data(to netip.AddrPort, h wire.Header, o *outMsg, from, end uint32, xmits *uint32) (int, error) {
	n := 0
	from -= from % MaxPayload
	end = min(end, o.length())
	h.Type = wire.TypeData
	h.MsgLen = o.length()
	h.GrantOffset = o.granted
	for off := from; off < end; off += MaxPayload {
		segEnd := min(off+MaxPayload, o.length())
		h.Offset = off
		k, err := wire.Encode(ps.buf[:], h, o.data[off:segEnd])
		if err != nil {
			return n, err
		}
		*xmits++
		if err := ps.x.write(ps.buf[:k], to, faultKey(h.MsgID, *xmits)); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
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

// resend answers a RESEND of [from, end): it sends again, flagged
// FlagRetransmit, what it had sent of that range, then takes the RESEND as
// a grant up to end and sends what that allows. It returns the packets
// retransmitted and sent anew.
func (ps pktSender) resend(to netip.AddrPort, h wire.Header, o *outMsg, from, end uint32, xmits *uint32) (re, fresh int, err error) {
	if from < o.next {
		rh := h
		rh.Flags |= wire.FlagRetransmit
		re, err = ps.data(to, rh, o, from, min(end, o.next), xmits)
		if err != nil {
			return re, 0, err
		}
	}
	o.grant(end)
	fresh, err = ps.sendGranted(to, h, o, xmits)
	return re, fresh, err
}

// ctl sends a control packet: typ with the given fields. key identifies
// the packet for fault decisions.
func (ps pktSender) ctl(to netip.AddrPort, typ wire.Type, flags wire.Flags, sender, id uint64, msgLen, off, grantOff uint32, key uint64) error {
	h := wire.Header{Type: typ, Flags: flags, Sender: sender, MsgID: id, MsgLen: msgLen, Offset: off, GrantOffset: grantOff}
	k, err := wire.Encode(ps.buf[:], h, nil)
	if err != nil {
		return err
	}
	return ps.x.write(ps.buf[:k], to, key)
}

// grantee is a message as the grant scheduler sees it. The scheduler's
// fields are guarded by its lock; the rest is set once.
type grantee struct {
	pos     int    // 1 + index in grantSched.list; 0 when not listed
	seq     uint64 // arrival order, breaks ties
	length  uint32
	have    uint32 // bytes received
	granted uint32 // the receiver's grant (at least what the sender was given unscheduled)

	// Where its GRANTs go.
	to     netip.AddrPort
	sock   int
	sender uint64
	id     uint64
	flags  wire.Flags
}

// grantOut is a GRANT to send, decided under the scheduler's lock and sent
// after it is released.
type grantOut struct {
	to     netip.AddrPort
	sock   int
	sender uint64
	id     uint64
	length uint32
	offset uint32
	flags  wire.Flags
}

// MaxOvercommitLimit bounds Config.MaxOvercommit.
const MaxOvercommitLimit = 64

// grantList collects the GRANTs of one decision (at most one per active
// message).
type grantList struct {
	n int
	g [MaxOvercommitLimit]grantOut
}

// grantSched is a receiver's grant scheduler: the incomplete messages that
// need grants, ordered by bytes remaining (then age), of which the first
// overcommit are granted. Any SoftIRQ thread may call it; its lock is
// taken under a message table's lock, never the other way round.
type grantSched struct {
	mu          sync.Mutex
	list        []*grantee
	seq         uint64
	overcommit  int
	window      uint32 // bytes kept granted beyond what arrived (rtt_bytes)
	increment   uint32 // smallest grant worth a packet, unless it ends the message
	maxIncoming int64
	sent        uint64 // GRANTs decided (under mu)
}

func (s *grantSched) init(overcommit, window, maxIncoming int) {
	s.overcommit = overcommit
	s.window = uint32(window)
	s.increment = uint32(max(MaxPayload, window/8))
	s.maxIncoming = int64(maxIncoming)
	s.list = make([]*grantee, 0, 256)
}

func remaining(g *grantee) uint32 { return g.length - g.have }

func (s *grantSched) less(a, b *grantee) bool {
	if ra, rb := remaining(a), remaining(b); ra != rb {
		return ra < rb
	}
	return a.seq < b.seq
}

// update records that g has now received have bytes and that its sender
// holds a grant of at least senderGrant; a message that needs grants joins
// the schedule. The GRANTs to send are appended to out.
func (s *grantSched) update(g *grantee, have, senderGrant uint32, out *grantList) {
	s.mu.Lock()
	g.have = have
	g.granted = max(g.granted, senderGrant)
	if g.pos == 0 {
		if g.granted >= g.length || g.have >= g.length {
			s.mu.Unlock()
			return
		}
		s.seq++
		g.seq = s.seq
		s.list = append(s.list, g)
		g.pos = len(s.list)
	}
	for i := g.pos - 1; i > 0 && s.less(s.list[i], s.list[i-1]); i-- {
		s.list[i], s.list[i-1] = s.list[i-1], s.list[i]
		s.list[i].pos, s.list[i-1].pos = i+1, i
	}
	s.decide(out)
	s.mu.Unlock()
}

// remove takes g out of the schedule (its message completed or was
// freed); the GRANTs this frees for others are appended to out.
func (s *grantSched) remove(g *grantee, out *grantList) {
	s.mu.Lock()
	if g.pos == 0 {
		s.mu.Unlock()
		return
	}
	i := g.pos - 1
	copy(s.list[i:], s.list[i+1:])
	s.list[len(s.list)-1] = nil
	s.list = s.list[:len(s.list)-1]
	for j := i; j < len(s.list); j++ {
		s.list[j].pos = j + 1
	}
	g.pos = 0
	s.decide(out)
	s.mu.Unlock()
}

// decide grants the first overcommit messages up to window bytes beyond
// what they received, within maxIncoming in total.
func (s *grantSched) decide(out *grantList) {
	k := min(s.overcommit, len(s.list))
	var outstanding int64
	for _, g := range s.list[:k] {
		if g.granted > g.have {
			outstanding += int64(g.granted - g.have)
		}
	}
	budget := s.maxIncoming - outstanding
	for _, g := range s.list[:k] {
		if budget <= 0 {
			return
		}
		target := min(uint64(g.have)+uint64(s.window), uint64(g.length))
		if target <= uint64(g.granted) {
			continue
		}
		inc := min(int64(target)-int64(g.granted), budget)
		t := g.granted + uint32(inc)
		if uint32(inc) < s.increment && t < g.length {
			continue
		}
		g.granted = t
		budget -= inc
		s.sent++
		if out.n < len(out.g) {
			out.g[out.n] = grantOut{to: g.to, sock: g.sock, sender: g.sender, id: g.id, length: g.length, offset: t, flags: g.flags}
			out.n++
		}
	}
}

// active reports the number of messages waiting for grants.
func (s *grantSched) waiting() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.list)
}

// missing lists the ranges of a message below end that have not arrived:
// the assembly's gaps, then [recvEnd, end). It fills out and returns how
// many it found.
func (a *assembly) missing(end uint32, out []span) int {
	n := 0
	for i := 0; i < a.ngaps && n < len(out); i++ {
		if a.gaps[i].start >= end {
			return n
		}
		out[n] = span{a.gaps[i].start, min(a.gaps[i].end, end)}
		n++
	}
	if a.recvEnd < end && n < len(out) {
		out[n] = span{a.recvEnd, min(end, a.length)}
		n++
	}
	return n
}

// maxResendRanges bounds the RESENDs sent for one message at a time: its
// gaps and its tail.
const maxResendRanges = maxGaps + 1

// keySet is a bounded set of message keys: the RPCs that ended recently,
// so that their late duplicates are recognised. When full, the oldest key
// is forgotten. Open addressing with linear probing over a table twice the
// capacity, and a ring of keys in insertion order; it does not allocate
// after init. Guarded by its shard's lock.
type keySet struct {
	slots []keySlot
	ring  []msgKey
	head  int
	n     int
	mask  uint64
}

type keySlot struct {
	key  msgKey
	used bool
}

func (s *keySet) init(capacity int) {
	capacity = max(capacity, 1)
	size := 1
	for size < 2*capacity {
		size <<= 1
	}
	s.slots = make([]keySlot, size)
	s.ring = make([]msgKey, capacity)
	s.mask = uint64(size - 1)
}

func hashKey(k *msgKey) uint64 {
	a := k.from.Addr().As16()
	h := uint64(a[8])<<56 | uint64(a[9])<<48 | uint64(a[10])<<40 | uint64(a[11])<<32 |
		uint64(a[12])<<24 | uint64(a[13])<<16 | uint64(a[14])<<8 | uint64(a[15])
	return balance.Mix64(h ^ uint64(k.from.Port())<<32 ^ balance.Mix64(k.sender^balance.Mix64(k.id)))
}

func (s *keySet) find(k *msgKey) (int, bool) {
	i := hashKey(k) & s.mask
	for {
		sl := &s.slots[i]
		if !sl.used {
			return int(i), false
		}
		if sl.key == *k {
			return int(i), true
		}
		i = (i + 1) & s.mask
	}
}

// has reports whether k is in the set.
func (s *keySet) has(k *msgKey) bool {
	_, ok := s.find(k)
	return ok
}

// add puts k in the set, forgetting the oldest key when full.
func (s *keySet) add(k msgKey) {
	if _, ok := s.find(&k); ok {
		return
	}
	if s.n == len(s.ring) {
		s.del(&s.ring[s.head])
		s.head = (s.head + 1) % len(s.ring)
		s.n--
	}
	i, _ := s.find(&k)
	s.slots[i] = keySlot{key: k, used: true}
	s.ring[(s.head+s.n)%len(s.ring)] = k
	s.n++
}

// del removes k from the table (not from the ring) by backward shifting.
func (s *keySet) del(k *msgKey) {
	i, ok := s.find(k)
	if !ok {
		return
	}
	j := uint64(i)
	for {
		s.slots[j] = keySlot{}
		next := j
		for {
			next = (next + 1) & s.mask
			sl := &s.slots[next]
			if !sl.used {
				return
			}
			home := hashKey(&sl.key) & s.mask
			// Move sl back to j unless its home lies cyclically in (j, next].
			if (next > j && (home <= j || home > next)) || (next < j && home <= j && home > next) {
				s.slots[j] = *sl
				j = next
				break
			}
		}
	}
}

// len reports the keys held.
func (s *keySet) len() int { return s.n }
