package rx

import (
	"hash/maphash"
	"net/netip"
	"sync"
	"sync/atomic"
)

// A peer is a client host, named by its IP address: every port of a host
// shares its peer's budget, so that a sender cannot multiply its share by
// opening sockets. The server charges a peer for the requests it is
// assembling (the bytes allocated so far and a fixed charge per RPC), up
// to Config.MaxPeerBytes; a request's bytes leave the peer's budget when
// it completes (they stay in the server's, MaxInflightBytes, until
// Release).

// peerAcct is one peer's charge. bytes is updated with atomics by any
// SoftIRQ thread; refs (the RPCs holding the record) by its table shard's
// lock.
type peerAcct struct {
	addr  netip.Addr
	bytes atomic.Int64
	refs  int
}

// peerShards is the number of independently locked parts of the peer
// table.
const peerShards = 16

// peerTable holds the peers with RPCs in progress.
type peerTable struct {
	seed   maphash.Seed // keys the shard choice (see keySet.seed)
	limit  int64
	shards [peerShards]peerShard
}

type peerShard struct {
	mu   sync.Mutex
	m    map[netip.Addr]*peerAcct
	peak int
	idle []*peerAcct // records to reuse: a peer comes and goes with its RPCs
}

func (t *peerTable) init(limit int64) {
	t.seed = maphash.MakeSeed()
	t.limit = limit
	for i := range t.shards {
		t.shards[i].m = make(map[netip.Addr]*peerAcct)
	}
}

func (t *peerTable) shard(a netip.Addr) *peerShard {
	return &t.shards[maphash.Comparable(t.seed, a)%peerShards]
}

// acquire returns a's record, held until release.
func (t *peerTable) acquire(a netip.Addr) *peerAcct {
	sh := t.shard(a)
	sh.mu.Lock()
	p := sh.m[a]
	if p == nil {
		if k := len(sh.idle); k > 0 {
			p, sh.idle = sh.idle[k-1], sh.idle[:k-1]
			p.addr = a
		} else {
			p = &peerAcct{addr: a}
		}
		sh.m[a] = p
		sh.peak = max(sh.peak, len(sh.m))
	}
	p.refs++
	sh.mu.Unlock()
	return p
}

// release drops a hold on p; the last one forgets the peer.
func (t *peerTable) release(p *peerAcct) {
	sh := t.shard(p.addr)
	sh.mu.Lock()
	p.refs--
	if p.refs == 0 {
		delete(sh.m, p.addr)
		if len(sh.idle) < 64 {
			sh.idle = append(sh.idle, p)
		}
		if sh.peak >= shrinkMin/peerShards && len(sh.m) < sh.peak/8 {
			m := make(map[netip.Addr]*peerAcct, len(sh.m))
			for k, v := range sh.m {
				m[k] = v
			}
			sh.m, sh.peak = m, len(m)
		}
	}
	sh.mu.Unlock()
}

// charge takes n bytes of p's budget; it reports false, taking nothing,
// when that would pass the limit.
func (t *peerTable) charge(p *peerAcct, n int64) bool {
	for {
		cur := p.bytes.Load()
		if cur+n > t.limit {
			return false
		}
		if p.bytes.CompareAndSwap(cur, cur+n) {
			return true
		}
	}
}

// uncharge gives n bytes back to p's budget.
func (t *peerTable) uncharge(p *peerAcct, n int64) { p.bytes.Add(-n) }

// len reports the peers held.
func (t *peerTable) len() int {
	n := 0
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}
