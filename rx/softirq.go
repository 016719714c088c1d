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
}

// run processes batches until the queue is closed and drained.
func (w *softirqWorker) run() {
	s := w.s
	cnt := &s.counters[w.core]
	for b := range w.q {
		t0 := s.clock()
		s.groHist[w.core].record(t0 - b.handoffNs)
		s.tab.SoftIRQStart(w.core, t0)
		s.softirqBatch(w.core, b, t0)
		t1 := s.clock()
		s.tab.SoftIRQEnd(w.core, t1)
		cnt.remoteBatches.Add(1)
		cnt.softirqPackets.Add(uint64(b.n))
		cnt.softirqNs.Add(t1 - t0)
		putBatch(b)
	}
}

// softirqBatch runs SoftIRQ processing of a batch on core, in Homa's order:
// control packets and whole messages first, then the rest grouped per
// message, so that each message's lock is taken once per batch.
func (s *Server) softirqBatch(core int, b *batch, now int64) {
	var done uint64 // bit i: packet i processed (MaxGROLimit ≤ 64)
	for i := range b.pkts[:b.n] {
		p := &b.pkts[i]
		if p.hdr.Type != wire.TypeData || p.hdr.Whole() {
			s.softirqPacket(core, p, b.sock, now)
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
		m := s.dataLocked(sh, core, &key, p, b.sock, now)
		var more *Message
		for j := i + 1; j < b.n; j++ {
			q := &b.pkts[j]
			if done&(1<<j) == 0 && q.hdr.Sender == key.sender && q.hdr.MsgID == key.id && q.from == key.from {
				if c := s.dataLocked(sh, core, &key, q, b.sock, now); c != nil {
					more = c
				}
				done |= 1 << j
			}
		}
		sh.mu.Unlock()
		if m != nil {
			s.deliver(m)
		}
		if more != nil {
			s.deliver(more)
		}
	}
}

// softirqPacket runs SoftIRQ processing of one packet on core.
func (s *Server) softirqPacket(core int, p *pkt, sock int, now int64) {
	switch {
	case p.hdr.Type != wire.TypeData:
		s.drop(DropUnsupported)
	case p.hdr.Whole():
		n := int64(len(p.payload))
		if !s.reserve(n) {
			s.drop(DropMemory)
			return
		}
		m := s.newMessage(msgKey{from: p.from, sender: p.hdr.Sender, id: p.hdr.MsgID}, p.hdr.MsgLen, p.hdr.Flags, sock, now)
		copy(m.Data, p.payload)
		m.asm.add(0, p.hdr.MsgLen)
		m.cores = coreBit(core)
		s.deliver(m)
	default:
		key := msgKey{from: p.from, sender: p.hdr.Sender, id: p.hdr.MsgID}
		sh := s.msgs.shard(&key)
		sh.mu.Lock()
		m := s.dataLocked(sh, core, &key, p, sock, now)
		sh.mu.Unlock()
		if m != nil {
			s.deliver(m)
		}
	}
}

// dataLocked adds a DATA segment to its message, under the shard's lock,
// and returns the message if that completed it (it is then out of the
// table).
func (s *Server) dataLocked(sh *msgShard, core int, key *msgKey, p *pkt, sock int, now int64) *Message {
	m := sh.m[*key]
	if m == nil {
		if !s.reserve(int64(p.hdr.MsgLen)) {
			s.drop(DropMemory)
			return nil
		}
		m = s.newMessage(*key, p.hdr.MsgLen, p.hdr.Flags, sock, now)
		sh.m[*key] = m
	} else if m.asm.length != p.hdr.MsgLen {
		s.drop(DropInconsistent)
		return nil
	}
	switch m.asm.add(p.hdr.Offset, uint32(len(p.payload))) {
	case addDup:
		s.drop(DropDuplicate)
		return nil
	case addGaps:
		s.drop(DropGaps)
		return nil
	}
	copy(m.Data[p.hdr.Offset:], p.payload)
	m.lastNs = now
	m.cores |= coreBit(core)
	if !m.asm.complete() {
		return nil
	}
	delete(sh.m, *key)
	s.multi.Add(1)
	s.multiCPU.Add(uint64(bits.OnesCount64(m.cores)))
	return m
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
// message id).
type msgKey struct {
	from   netip.AddrPort
	sender uint64
	id     uint64
}

// msgShards is the number of independently locked parts of the table of
// messages being assembled (Homa's bucket locks).
const msgShards = 64

type msgShard struct {
	mu sync.Mutex
	m  map[msgKey]*Message
	_  [40]byte
}

// msgTable holds the messages being assembled. Any SoftIRQ thread may add to
// any message (Gen2 and Gen3 spread one message's batches over cores).
type msgTable struct {
	shards [msgShards]msgShard
}

func (t *msgTable) init() {
	for i := range t.shards {
		t.shards[i].m = make(map[msgKey]*Message)
	}
}

func (t *msgTable) shard(k *msgKey) *msgShard {
	h := balance.Mix64(k.sender ^ balance.Mix64(k.id^uint64(k.from.Port())<<48))
	return &t.shards[h%msgShards]
}

// expire frees the messages whose latest packet is older than before and
// returns how many.
func (t *msgTable) expire(s *Server, before int64) int {
	n := 0
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		for k, m := range sh.m {
			if m.lastNs < before {
				delete(sh.m, k)
				s.free(m)
				n++
			}
		}
		sh.mu.Unlock()
	}
	return n
}

// freeAll frees every message being assembled (at Close).
func (t *msgTable) freeAll(s *Server) {
	t.expire(s, int64(^uint64(0)>>1))
}
