package rx

import (
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/homalb/homalb/wire"
)

// The receiver's grant scheduler. Homa grants the messages with the fewest
// bytes left first, at most MaxOvercommit at once; a peer gets at most one
// of those slots (Homa's max_rpcs_per_peer), so that a few senders cannot
// take every grant by keeping many short messages alive. The incomplete
// messages are kept in two levels of heaps: each peer orders its own
// messages, and one heap orders the peers by their best message. Adding,
// moving and removing a message costs O(log n); a decision looks at the
// top MaxOvercommit peers only, O(k²) with k = MaxOvercommit, without
// touching the rest.

// peerKey names a peer of the grant scheduler: its address, and a
// sub-key that lets the client make each call a peer of its own (it has one
// peer, the server, and wants every response granted by size alone).
type peerKey struct {
	addr netip.Addr
	sub  uint64
}

// grantee is a message as the grant scheduler sees it. The scheduler's
// fields are guarded by its lock; the rest is set once.
type grantee struct {
	peer    peerKey
	gp      *grantPeer // nil when not scheduled
	hidx    int        // index in gp.msgs
	seq     uint64     // arrival order, breaks ties
	length  uint32
	have    uint32 // bytes received
	granted uint32 // the receiver's grant (at least what the sender was given unscheduled)
	// pub is granted, published for readers that do not hold the
	// scheduler's lock (the server's check of DATA against the grant).
	pub atomic.Uint32

	// Where its GRANTs go.
	to     netip.AddrPort
	sock   int
	sender uint64
	id     uint64
	flags  wire.Flags
	cookie uint64
}

// grantPeer is one peer's messages waiting for grants, a heap by bytes
// left (then age).
type grantPeer struct {
	key  peerKey
	msgs []*grantee
	pidx int // index in grantSched.peers
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
	cookie uint64
}

// MaxOvercommitLimit bounds Config.MaxOvercommit.
const MaxOvercommitLimit = 64

// grantList collects the GRANTs of one decision (at most one per active
// message).
type grantList struct {
	n int
	g [MaxOvercommitLimit]grantOut
}

// grantSched is a receiver's grant scheduler. Any SoftIRQ thread may call
// it; its lock is taken under a message table's lock, never the other way
// round.
type grantSched struct {
	mu          sync.Mutex
	byKey       map[peerKey]*grantPeer
	peers       []*grantPeer // heap by each peer's best message
	peakPeers   int          // largest len(byKey) since the map was made
	n           int          // messages scheduled
	seq         uint64
	overcommit  int
	window      uint32 // bytes kept granted beyond what arrived (rtt_bytes)
	increment   uint32 // smallest grant worth a packet, unless it ends the message
	maxIncoming int64
	sent        uint64 // GRANTs decided (under mu)

	pick [MaxOvercommitLimit]*grantee // scratch of decide
	cand [2*MaxOvercommitLimit + 1]int
	free []*grantPeer // idle peer records
}

func (s *grantSched) init(overcommit, window, maxIncoming int) {
	s.overcommit = overcommit
	s.window = uint32(window)
	s.increment = uint32(max(MaxPayload, window/8))
	s.maxIncoming = int64(maxIncoming)
	s.byKey = make(map[peerKey]*grantPeer)
}

func remaining(g *grantee) uint32 { return g.length - g.have }

func lessGrantee(a, b *grantee) bool {
	if ra, rb := remaining(a), remaining(b); ra != rb {
		return ra < rb
	}
	return a.seq < b.seq
}

func lessPeer(a, b *grantPeer) bool { return lessGrantee(a.msgs[0], b.msgs[0]) }

// update records that g has now received have bytes and that its sender
// holds a grant of at least senderGrant; a message that needs grants joins
// the schedule. The GRANTs to send are appended to out.
func (s *grantSched) update(g *grantee, have, senderGrant uint32, out *grantList) {
	s.mu.Lock()
	g.have = have
	g.granted = max(g.granted, senderGrant)
	g.pub.Store(g.granted)
	if g.gp == nil {
		if g.granted >= g.length || g.have >= g.length {
			s.mu.Unlock()
			return
		}
		s.seq++
		g.seq = s.seq
		s.insert(g)
	} else {
		s.moved(g)
	}
	s.decide(out)
	s.mu.Unlock()
}

// insert puts g in its peer's heap, creating the peer's record.
func (s *grantSched) insert(g *grantee) {
	p := s.byKey[g.peer]
	if p == nil {
		if k := len(s.free); k > 0 {
			p, s.free = s.free[k-1], s.free[:k-1]
		} else {
			p = new(grantPeer)
		}
		p.key = g.peer
		s.byKey[g.peer] = p
		s.peakPeers = max(s.peakPeers, len(s.byKey))
		p.pidx = len(s.peers)
		p.msgs = append(p.msgs[:0], g)
		g.gp, g.hidx = p, 0
		s.peers = append(s.peers, p)
		s.peerUp(p.pidx)
		s.n++
		return
	}
	g.gp, g.hidx = p, len(p.msgs)
	p.msgs = append(p.msgs, g)
	msgUp(p.msgs, g.hidx)
	s.n++
	s.peerFix(p.pidx)
}

// moved restores the heaps after g's bytes left changed.
func (s *grantSched) moved(g *grantee) {
	p := g.gp
	msgFix(p.msgs, g.hidx)
	s.peerFix(p.pidx)
}

// remove takes g out of the schedule (its message completed, was freed or
// stalled); the GRANTs this frees for others are appended to out.
func (s *grantSched) remove(g *grantee, out *grantList) {
	s.mu.Lock()
	if s.unlink(g) {
		s.decide(out)
	}
	s.mu.Unlock()
}

// unlink takes g out of its peer's heap; it reports whether g was there.
func (s *grantSched) unlink(g *grantee) bool {
	p := g.gp
	if p == nil {
		return false
	}
	p.msgs = heapRemove(p.msgs, g.hidx, lessGrantee, setHidx)
	g.gp = nil
	s.n--
	if len(p.msgs) > 0 {
		s.peerFix(p.pidx)
		return true
	}
	// The peer has nothing waiting: out of the heap and the map.
	s.peers = heapRemove(s.peers, p.pidx, lessPeer, setPidx)
	delete(s.byKey, p.key)
	p.key = peerKey{}
	if len(s.free) < 1024 {
		s.free = append(s.free, p)
	}
	s.shrink()
	return true
}

// shrink replaces the peer map once it holds far fewer peers than it once
// did: a Go map keeps its peak size, so after a flood of peers the memory
// would stay.
func (s *grantSched) shrink() {
	if s.peakPeers >= shrinkMin && len(s.byKey) < s.peakPeers/8 {
		m := make(map[peerKey]*grantPeer, len(s.byKey))
		for k, v := range s.byKey {
			m[k] = v
		}
		s.byKey = m
		s.peakPeers = len(m)
		s.peers = append(make([]*grantPeer, 0, len(s.peers)), s.peers...)
	}
}

// shrinkMin is the size below which a map is not worth replacing.
const shrinkMin = 4096

// decide grants the best message of each of the first overcommit peers up
// to window bytes beyond what it received, within maxIncoming in total.
func (s *grantSched) decide(out *grantList) {
	k := s.top()
	var outstanding int64
	for _, g := range s.pick[:k] {
		if g.granted > g.have {
			outstanding += int64(g.granted - g.have)
		}
	}
	budget := s.maxIncoming - outstanding
	for _, g := range s.pick[:k] {
		if budget <= 0 {
			break
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
		g.pub.Store(t)
		budget -= inc
		s.sent++
		if out.n < len(out.g) {
			out.g[out.n] = grantOut{to: g.to, sock: g.sock, sender: g.sender, id: g.id, length: g.length, offset: t,
				flags: g.flags, cookie: g.cookie}
			out.n++
		}
	}
	clear(s.pick[:k])
}

// top fills s.pick with the best message of each of the first overcommit
// peers, best first, and returns how many. It walks the peer heap from its
// root, keeping the frontier of candidates (the children of the peers
// picked), so it touches at most 2·overcommit+1 peers.
func (s *grantSched) top() int {
	if len(s.peers) == 0 {
		return 0
	}
	nc := 1
	s.cand[0] = 0
	k := 0
	for k < s.overcommit && nc > 0 {
		best := 0
		for i := 1; i < nc; i++ {
			if lessPeer(s.peers[s.cand[i]], s.peers[s.cand[best]]) {
				best = i
			}
		}
		j := s.cand[best]
		nc--
		s.cand[best] = s.cand[nc]
		s.pick[k] = s.peers[j].msgs[0]
		k++
		for _, c := range [2]int{2*j + 1, 2*j + 2} {
			if c < len(s.peers) && nc < len(s.cand) {
				s.cand[nc] = c
				nc++
			}
		}
	}
	return k
}

// waiting reports the number of messages waiting for grants.
func (s *grantSched) waiting() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// granted returns g's grant.
func (s *grantSched) granted(g *grantee) uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return g.granted
}

// The scheduler's two heaps (a peer's messages, and the peers) share one
// indexed binary heap: each element records its index, so that remove and
// fix are O(log n). The element types are pointers, so nothing is boxed;
// the scheduler runs in SoftIRQ for every scheduled packet batch.

func setHidx(g *grantee, i int)   { g.hidx = i }
func setPidx(p *grantPeer, i int) { p.pidx = i }

func msgUp(h []*grantee, i int)  { heapUp(h, i, lessGrantee, setHidx) }
func msgFix(h []*grantee, i int) { heapFix(h, i, lessGrantee, setHidx) }

func (s *grantSched) peerUp(i int)  { heapUp(s.peers, i, lessPeer, setPidx) }
func (s *grantSched) peerFix(i int) { heapFix(s.peers, i, lessPeer, setPidx) }

// heapUp moves h[i] up to its place in the min-heap ordered by less;
// setIdx records an element's new index.
func heapUp[E any](h []E, i int, less func(a, b E) bool, setIdx func(E, int)) {
	for i > 0 {
		p := (i - 1) / 2
		if !less(h[i], h[p]) {
			return
		}
		h[i], h[p] = h[p], h[i]
		setIdx(h[i], i)
		setIdx(h[p], p)
		i = p
	}
}

// heapRemove takes h[i] out of the heap and returns the shorter heap; the
// last element fills the hole and moves to its place.
func heapRemove[E any](h []E, i int, less func(a, b E) bool, setIdx func(E, int)) []E {
	last := len(h) - 1
	if i != last {
		h[i] = h[last]
		setIdx(h[i], i)
	}
	var zero E
	h[last] = zero // no stale pointer past the end
	h = h[:last]
	if i != last {
		heapFix(h, i, less, setIdx)
	}
	return h
}

// heapFix restores the heap after h[i] changed, in either direction.
func heapFix[E any](h []E, i int, less func(a, b E) bool, setIdx func(E, int)) {
	heapUp(h, i, less, setIdx)
	for {
		l, best := 2*i+1, i
		if l < len(h) && less(h[l], h[best]) {
			best = l
		}
		if r := l + 1; r < len(h) && less(h[r], h[best]) {
			best = r
		}
		if best == i {
			return
		}
		h[i], h[best] = h[best], h[i]
		setIdx(h[i], i)
		setIdx(h[best], best)
		i = best
	}
}
