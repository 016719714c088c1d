package rx

import (
	"math/bits"
	"net/netip"
	"sync"

	"github.com/homalb/homalb/balance"
	"github.com/homalb/homalb/wire"
)

// softirqWorker plays SoftIRQ on one logical core: it takes the GRO batches
// that the policy steered to its core from a bounded queue, one wake-up per
// batch.
type softirqWorker struct {
	s    *Server
	core int
	q    chan *batch
	tx   txScratch
}

// txScratch is one thread's scratch space for the packets its protocol
// work sends.
type txScratch struct {
	buf    [MaxDatagram]byte
	grants grantList
	ranges [maxResendRanges]span
}

var txScratchPool = sync.Pool{New: func() any { return new(txScratch) }}

// run processes batches until the queue is closed and drained.
func (w *softirqWorker) run() {
	s := w.s
	cnt := &s.counters[w.core]
	for b := range w.q {
		t0 := s.clock()
		s.groHist[w.core].record(t0 - b.handoffNs)
		s.tab.SoftIRQStart(w.core, t0)
		s.softirqBatch(w.core, b, t0, &w.tx)
		t1 := s.clock()
		s.tab.SoftIRQEnd(w.core, t1)
		cnt.remoteBatches.Add(1)
		cnt.softirqPackets.Add(uint64(b.n))
		cnt.softirqNs.Add(t1 - t0)
		putBatch(b)
	}
}

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
	sgrant    uint32   // the highest grant the client's DATA packets reported
	g         grantee
	out       outMsg // the response
	outBuf    *[]byte
	lastNs    int64  // last progress: a DATA packet of the request, any packet about the response
	pokeNs    int64  // last RESEND or BUSY the timer sent
	xmits     uint32 // packets sent for this RPC, for fault decisions
}

var rpcPool = sync.Pool{New: func() any { return new(srvRPC) }}

// sender returns the packet writer of socket sock with tx's buffer.
func (s *Server) sender(sock int, tx *txScratch) pktSender {
	return pktSender{x: s.tx[sock], buf: &tx.buf}
}

// respHeader is the header template of the RPC's response packets.
func (r *srvRPC) respHeader() wire.Header {
	return wire.Header{Flags: wire.FlagResponse, Sender: r.key.sender, MsgID: r.key.id}
}

// softirqBatch runs SoftIRQ processing of a batch on core, in Homa's order:
// control packets and whole messages first, then the rest grouped per
// message, so that each message's lock is taken, and its grant decided,
// once per batch.
func (s *Server) softirqBatch(core int, b *batch, now int64, tx *txScratch) {
	var done uint64 // bit i: packet i processed (MaxGROLimit ≤ 64)
	for i := range b.pkts[:b.n] {
		p := &b.pkts[i]
		if p.hdr.Type != wire.TypeData || p.hdr.Whole() {
			s.softirqPacket(core, p, b.sock, now, tx)
			done |= 1 << i
		}
	}
	for i := range b.pkts[:b.n] {
		if done&(1<<i) != 0 {
			continue
		}
		p := &b.pkts[i]
		key := msgKey{from: p.from, sender: p.hdr.Sender, id: p.hdr.MsgID}
		sh := s.msgs.shard(&key)
		sh.mu.Lock()
		r, m := s.dataLocked(sh, core, &key, p, b.sock, now, tx)
		for j := i + 1; j < b.n; j++ {
			q := &b.pkts[j]
			if done&(1<<j) == 0 && q.hdr.Sender == key.sender && q.hdr.MsgID == key.id && q.from == key.from {
				r2, c := s.dataLocked(sh, core, &key, q, b.sock, now, tx)
				if r2 != nil {
					r = r2
				}
				if c != nil {
					m = c
				}
				done |= 1 << j
			}
		}
		s.grantLocked(r, tx)
		sh.mu.Unlock()
		s.flushGrants(tx)
		if m != nil {
			s.deliver(m)
		}
	}
}

// softirqPacket runs SoftIRQ processing of one packet on core.
func (s *Server) softirqPacket(core int, p *pkt, sock int, now int64, tx *txScratch) {
	h := &p.hdr
	key := msgKey{from: p.from, sender: h.Sender, id: h.MsgID}
	sh := s.msgs.shard(&key)
	var m *Message
	sh.mu.Lock()
	switch h.Type {
	case wire.TypeData:
		var r *srvRPC
		r, m = s.dataLocked(sh, core, &key, p, sock, now, tx)
		s.grantLocked(r, tx)
	case wire.TypeGrant:
		s.onGrant(sh, &key, h, now, tx)
	case wire.TypeResend:
		s.onResend(sh, &key, h, sock, now, tx)
	case wire.TypeAck:
		s.tc.acksIn.Add(1)
		if r := sh.m[key]; r != nil {
			s.endLocked(sh, r, true, tx)
		}
	default: // BUSY, UNKNOWN: a client's answers, not a server's
		s.drop(DropUnsupported)
	}
	sh.mu.Unlock()
	s.flushGrants(tx)
	if m != nil {
		s.deliver(m)
	}
}

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
	// The sender was allowed at least what it sent.
	sgrant := max(h.GrantOffset, h.Offset+uint32(len(p.payload)))
	r := sh.m[*key]
	switch {
	case r == nil:
		if sh.done.has(key) {
			s.drop(DropStale)
			return nil, nil
		}
		if !s.reserve(int64(h.MsgLen) + rpcOverhead) {
			s.drop(DropMemory)
			return nil, nil
		}
		r = rpcPool.Get().(*srvRPC)
		*r = srvRPC{key: *key, sock: sock, lastNs: now, pokeNs: now,
			msg:       s.newMessage(*key, h.MsgLen, h.Flags&^wire.FlagRetransmit, sock, now),
			scheduled: sgrant < h.MsgLen,
			g:         grantee{length: h.MsgLen, granted: sgrant, to: key.from, sock: sock, sender: key.sender, id: key.id}}
		sh.m[*key] = r
		s.rpcs.Add(1)
	case r.state != rpcReceiving:
		s.drop(DropDuplicate)
		return r, nil
	case r.msg.asm.length != h.MsgLen:
		s.drop(DropInconsistent)
		return r, nil
	}
	m := r.msg
	switch m.asm.add(h.Offset, uint32(len(p.payload))) {
	case addDup:
		s.drop(DropDuplicate)
		return r, nil
	case addGaps:
		s.drop(DropGaps)
		return r, nil
	}
	copy(m.Data[h.Offset:], p.payload)
	if h.Flags&wire.FlagRetransmit != 0 {
		s.tc.retransIn.Add(1)
	}
	r.lastNs = now
	r.sgrant = max(r.sgrant, sgrant)
	m.cores |= coreBit(core)
	if !m.asm.complete() {
		return r, nil
	}
	r.msg = nil
	r.state = rpcProcessing
	if r.scheduled {
		s.grants.remove(&r.g, &tx.grants)
	}
	if m.asm.length > MaxPayload {
		s.multi.Add(1)
		s.multiCPU.Add(uint64(bits.OnesCount64(m.cores)))
	}
	return r, m
}

// grantLocked makes the grant decision for r's request after its packets
// of a batch (one decision per message per batch).
func (s *Server) grantLocked(r *srvRPC, tx *txScratch) {
	if r != nil && r.scheduled && r.state == rpcReceiving {
		s.grants.update(&r.g, r.msg.asm.have, r.sgrant, &tx.grants)
	}
}

// flushGrants sends the GRANTs collected in tx.
func (s *Server) flushGrants(tx *txScratch) {
	gl := &tx.grants
	for i := range gl.g[:gl.n] {
		g := &gl.g[i]
		if err := s.sender(g.sock, tx).ctl(g.to, wire.TypeGrant, g.flags, g.sender, g.id, g.length, 0, g.offset, faultKey(g.id, g.offset)); err == nil {
			s.tc.grantsOut.Add(1)
		}
		*g = grantOut{}
	}
	gl.n = 0
}

// onGrant lets a response go further.
func (s *Server) onGrant(sh *msgShard, key *msgKey, h *wire.Header, now int64, tx *txScratch) {
	s.tc.grantsIn.Add(1)
	r := sh.m[*key]
	if r == nil || r.state != rpcResponding || h.Flags&wire.FlagResponse == 0 {
		s.drop(DropStale)
		return
	}
	if h.MsgLen != r.out.length() {
		s.drop(DropInconsistent)
		return
	}
	r.lastNs = now
	if r.out.grant(h.GrantOffset) {
		n, _ := s.sender(r.sock, tx).sendGranted(key.from, r.respHeader(), &r.out, &r.xmits)
		s.tc.dataOut.Add(uint64(n))
	}
}

// onResend answers a client's RESEND: for bytes of the response
// (FlagResponse), or a probe about the RPC.
func (s *Server) onResend(sh *msgShard, key *msgKey, h *wire.Header, sock int, now int64, tx *txScratch) {
	s.tc.resendsIn.Add(1)
	r := sh.m[*key]
	ps := s.sender(sock, tx)
	reply := func(t wire.Type) {
		var fk uint64
		if r != nil {
			r.xmits++
			fk = faultKey(key.id, r.xmits)
		} else { // no RPC to count its packets: a fresh fate all the same
			fk = faultKey(key.id, s.tc.stateless.Add(1))
		}
		if ps.ctl(key.from, t, 0, key.sender, key.id, h.MsgLen, 0, 0, fk^uint64(t)<<56) == nil {
			s.tc.ctlOut[t].Add(1)
		}
	}
	switch {
	case r == nil && sh.done.has(key):
		reply(wire.TypeAck) // it ended here: nothing more will come
	case r == nil:
		reply(wire.TypeUnknown) // send the request again
	case h.Flags&wire.FlagResponse != 0 && r.state == rpcResponding:
		if h.MsgLen != r.out.length() {
			s.drop(DropInconsistent)
			return
		}
		r.lastNs = now
		re, fresh, _ := ps.resend(key.from, r.respHeader(), &r.out, h.Offset, h.GrantOffset, &r.xmits)
		s.tc.retransOut.Add(uint64(re))
		s.tc.dataOut.Add(uint64(re + fresh))
	case r.state == rpcResponding: // a probe: the client has none of the response
		r.lastNs = now
		re, _, _ := ps.resend(key.from, r.respHeader(), &r.out, 0, r.out.next, &r.xmits)
		s.tc.retransOut.Add(uint64(re))
		s.tc.dataOut.Add(uint64(re))
	case r.state == rpcReceiving && s.askMissing(r, ps, tx) > 0:
	default:
		reply(wire.TypeBusy) // with the application, or waiting for our grants
	}
}

// askMissing sends a RESEND for each range of r's request missing below
// the grant; it returns how many it sent.
func (s *Server) askMissing(r *srvRPC, ps pktSender, tx *txScratch) int {
	end := r.sgrant
	if r.scheduled {
		end = max(end, s.grants.granted(&r.g))
	}
	n := r.msg.asm.missing(end, tx.ranges[:])
	for _, sp := range tx.ranges[:n] {
		r.xmits++
		if ps.ctl(r.key.from, wire.TypeResend, 0, r.key.sender, r.key.id, r.msg.asm.length, sp.start, sp.end,
			faultKey(r.key.id, r.xmits)^uint64(wire.TypeResend)<<56) == nil {
			s.tc.ctlOut[wire.TypeResend].Add(1)
		}
	}
	return n
}

// granted returns g's grant.
func (s *grantSched) granted(g *grantee) uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return g.granted
}

// endLocked ends r: out of the table, its memory freed, its key remembered
// (remember) so that late duplicates are dropped, or forgotten so that the
// client may send the request again (the application never saw it).
func (s *Server) endLocked(sh *msgShard, r *srvRPC, remember bool, tx *txScratch) {
	delete(sh.m, r.key)
	if remember {
		sh.done.add(r.key)
	}
	if r.scheduled {
		s.grants.remove(&r.g, &tx.grants)
	}
	if r.msg != nil {
		s.free(r.msg)
	}
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

// reserve takes n bytes of the in-flight budget.
func (s *Server) reserve(n int64) bool {
	if s.inflight.Add(n) > s.l.MaxInflightBytes {
		s.inflight.Add(-n)
		return false
	}
	return true
}

// msgKey identifies a message: the sender's address and its (sender id,
// message id). A request and its response share their key.
type msgKey struct {
	from   netip.AddrPort
	sender uint64
	id     uint64
}

// msgShards is the number of independently locked parts of the table of
// RPCs (Homa's bucket locks).
const msgShards = 64

type msgShard struct {
	mu   sync.Mutex
	m    map[msgKey]*srvRPC
	done keySet // RPCs that ended recently
	_    [40]byte
}

// msgTable holds the server's RPCs. Any SoftIRQ thread may add to any
// request (Gen2 and Gen3 spread one message's batches over cores).
type msgTable struct {
	shards [msgShards]msgShard
}

func (t *msgTable) init(completedCap int) {
	for i := range t.shards {
		t.shards[i].m = make(map[msgKey]*srvRPC)
		t.shards[i].done.init(completedCap / msgShards)
	}
}

func (t *msgTable) shard(k *msgKey) *msgShard {
	h := balance.Mix64(k.sender ^ balance.Mix64(k.id^uint64(k.from.Port())<<48))
	return &t.shards[h%msgShards]
}

// remembered counts the ended RPCs remembered.
func (t *msgTable) remembered() int {
	n := 0
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		n += sh.done.len()
		sh.mu.Unlock()
	}
	return n
}

// tick is the server's timer work at now: it frees what timed out, asks
// for the missing bytes of stalled requests and tells the clients of
// silent responses that they are still held.
func (s *Server) tick(now int64, tx *txScratch) {
	timeout, resend := int64(s.l.MessageTimeout), int64(s.l.transport.resend)
	for i := range s.msgs.shards {
		sh := &s.msgs.shards[i]
		sh.mu.Lock()
		for _, r := range sh.m {
			idle := now - r.lastNs
			switch r.state {
			case rpcReceiving:
				if idle > timeout {
					s.endLocked(sh, r, false, tx)
					s.drop(DropTimeout)
				} else if idle >= resend && now-r.pokeNs >= resend {
					r.pokeNs = now
					s.askMissing(r, s.sender(r.sock, tx), tx)
				}
			case rpcResponding:
				if idle > timeout {
					s.endLocked(sh, r, true, tx)
					s.drop(DropResponseTimeout)
				} else if idle >= resend && now-r.pokeNs >= resend {
					r.pokeNs = now
					r.xmits++
					if s.sender(r.sock, tx).ctl(r.key.from, wire.TypeBusy, wire.FlagResponse, r.key.sender, r.key.id,
						r.out.length(), 0, 0, faultKey(r.key.id, r.xmits)^uint64(wire.TypeBusy)<<56) == nil {
						s.tc.ctlOut[wire.TypeBusy].Add(1)
					}
				}
			}
		}
		sh.mu.Unlock()
		s.flushGrants(tx)
	}
}

// freeAll frees every RPC (at Close).
func (t *msgTable) freeAll(s *Server, tx *txScratch) {
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		for _, r := range sh.m {
			s.endLocked(sh, r, false, tx)
		}
		sh.mu.Unlock()
		tx.grants.n = 0
	}
}
