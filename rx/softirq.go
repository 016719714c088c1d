package rx

import (
	"sync"

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
	buf   [MaxDatagram]byte
	batch txBatch
	// lazy: packets wait in batch until the owner flushes it (an
	// application thread before it waits, the client's reader after a
	// burst), so that replies go out many to a sendmmsg under load.
	lazy   bool
	grants grantList
	ranges [maxResendRanges]span
	acks   ackBatch       // lazy scratch of an application thread only
	cacks  clientAckBatch // lazy scratch of a client's reader only
}

var txScratchPool = sync.Pool{New: func() any { return new(txScratch) }}

// run processes batches until the queue is closed and drained.
func (w *softirqWorker) run() {
	s := w.s
	for b := range w.q {
		t0, _ := s.softirq(w.core, softirqRemote, b, nil, b.owner.sock, &w.tx)
		s.groHist[w.core].record(t0 - b.handoffNs)
		putBatch(b)
	}
}

// softirqKind says where a SoftIRQ run happens, for the core's counters.
type softirqKind uint8

const (
	softirqInline softirqKind = iota // one packet the policy let bypass, on its GRO thread
	softirqLocal                     // a batch kept on its GRO core, on the GRO thread
	softirqRemote                    // a batch from another core's GRO, on this core's worker
)

// softirq runs SoftIRQ processing on core of batch b (or, when b is nil,
// of the one packet p) between the activity table's SoftIRQStart and
// SoftIRQEnd, as the kernel's softirq does, and counts it. It returns the
// start and end times; the work's time is accounted as SoftIRQ busy time
// by the caller's role (a GRO thread subtracts it from its GRO time).
func (s *Server) softirq(core int, kind softirqKind, b *batch, p *pkt, sock int, tx *txScratch) (t0, t1 int64) {
	cnt := &s.counters[core]
	t0 = s.clock()
	s.tab.SoftIRQStart(core, t0)
	n := 1
	if b != nil {
		s.softirqBatch(core, b, t0, tx)
		n = b.n
	} else {
		s.softirqPacket(core, p, sock, t0, tx)
	}
	t1 = s.clock()
	s.tab.SoftIRQEnd(core, t1)
	cnt.softirqPackets.Add(uint64(n))
	switch kind {
	case softirqInline:
		cnt.inlinePackets.Add(1)
	case softirqLocal:
		cnt.localBatches.Add(1)
	case softirqRemote:
		cnt.remoteBatches.Add(1)
		cnt.softirqNs.Add(t1 - t0)
	}
	return t0, t1
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
			s.softirqPacket(core, p, b.owner.sock, now, tx)
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
		r, m := s.dataLocked(sh, core, &key, p, b.owner.sock, now, tx)
		for j := i + 1; j < b.n; j++ {
			q := &b.pkts[j]
			if done&(1<<j) == 0 && q.hdr.Sender == key.sender && q.hdr.MsgID == key.id && q.from == key.from {
				r2, c := s.dataLocked(sh, core, &key, q, b.owner.sock, now, tx)
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
		s.onAck(sh, &key, h, tx)
	default: // BUSY, UNKNOWN: a client's answers, not a server's
		s.drop(DropUnsupported)
	}
	sh.mu.Unlock()
	if h.Type == wire.TypeAck && len(p.payload) > 0 {
		s.moreAcks(p.from, h.Sender, p.payload, tx)
	}
	s.flushGrants(tx)
	if m != nil {
		s.deliver(m)
	}
}

// flushGrants sends the GRANTs collected in tx. A GRANT's fault key is its
// message and offset: the same grant sent twice meets the same fate.
func (s *Server) flushGrants(tx *txScratch) {
	gl := &tx.grants
	for i := range gl.g[:gl.n] {
		g := &gl.g[i]
		h := wire.Header{Type: wire.TypeGrant, Flags: g.flags, Sender: g.sender, MsgID: g.id, MsgLen: g.length,
			GrantOffset: g.offset, Cookie: g.cookie}
		if s.sender(g.sock, tx, nil).ctlKey(g.to, h, grantFaultKey(g.id, g.offset)) == nil {
			s.tc.grantsOut.Add(1)
		}
		*g = grantOut{}
	}
	gl.n = 0
}
