package rx

import (
	"hash/maphash"
	"net/netip"
	"sync"

	"golang.org/x/sys/cpu"
)

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
	peak int    // largest len(m) since m was made
	done keySet // RPCs that ended recently
	_    cpu.CacheLinePad
}

// msgTable holds the server's RPCs. Any SoftIRQ thread may add to any
// request (Gen2 and Gen3 spread one message's batches over cores).
type msgTable struct {
	seed   maphash.Seed // keys the shard choice (see keySet.seed)
	shards [msgShards]msgShard
}

func (t *msgTable) init(completedCap int) {
	t.seed = maphash.MakeSeed()
	for i := range t.shards {
		t.shards[i].m = make(map[msgKey]*srvRPC)
		t.shards[i].done.init(completedCap / msgShards)
	}
}

func (t *msgTable) shard(k *msgKey) *msgShard {
	return &t.shards[maphash.Comparable(t.seed, *k)%msgShards]
}

// put adds r under the shard's lock.
func (sh *msgShard) put(r *srvRPC) {
	sh.m[r.key] = r
	sh.peak = max(sh.peak, len(sh.m))
}

// del removes k under the shard's lock. A Go map keeps the buckets of its
// largest size, so once a flood has passed (the shard holds an eighth of
// its peak) the map is copied into one of the size it needs.
func (sh *msgShard) del(k msgKey) {
	delete(sh.m, k)
	if sh.peak >= shrinkMin/msgShards && len(sh.m) < sh.peak/8 {
		m := make(map[msgKey]*srvRPC, len(sh.m))
		for k, v := range sh.m {
			m[k] = v
		}
		sh.m, sh.peak = m, len(m)
	}
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
