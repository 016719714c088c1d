package rx

import (
	"math/bits"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/homalb/homalb/wire"
)

// pktBuf is one receive buffer, owned by the GRO thread that reads into it
// and lent to a SoftIRQ worker with its batch.
type pktBuf struct {
	b [pktBufSize]byte
}

// pkt is one parsed packet of a GRO batch.
type pkt struct {
	buf     *pktBuf
	hdr     wire.Header
	payload []byte // in buf
	from    netip.AddrPort
}

// batch is a GRO batch on its way to a SoftIRQ core. Each GRO thread owns
// its batches as it owns its buffers (see bufStack): a pooled batch would
// be dropped by every garbage collection and allocated again, 7 KB each.
type batch struct {
	n         int
	owner     *groThread // the GRO thread that collected it (its core, its socket), whose buffers it holds
	handoffNs int64      // when the GRO thread queued it
	pkts      [MaxGROLimit]pkt
}

// putBatch gives b and its buffers back to the GRO thread that collected
// it.
func putBatch(b *batch) { b.owner.bufs.give(b) }

// Message buffers come from free lists by power-of-two size class, so a
// message's bytes are reused once the application releases it. The bound on
// memory in use is Config.MaxInflightBytes; the lists keep at most
// msgBufKeep bytes more, idle.
//
// Why not sync.Pool: a garbage collection empties it, and a server that
// receives 200 KB messages allocates (and zeroes) one for each message
// after every collection, which brings the next collection sooner. In
// BenchmarkPipeline/200KB every message's buffer was a new one, and the
// collector's worker held a processor for milliseconds at a time, during
// which the SoftIRQ thread waited for one (its batches waited 1.3 ms at
// the median).
const (
	minClassShift = 8  // 256 B
	maxClassShift = 26 // 64 MiB = MaxMessageLenLimit
	numClasses    = maxClassShift - minClassShift + 1
	// msgBufKeep is how many idle bytes the free lists keep, over all
	// classes: enough for 80 messages of 200 KB in flight; beyond it a
	// released buffer is left to the collector. An assumption, not a
	// measurement: after a flood the process keeps up to this much.
	msgBufKeep = 16 << 20
)

// bufClass is the free list of one size class, the last freed first out
// (its bytes are likely still in the caches).
type bufClass struct {
	mu   sync.Mutex
	free []*[]byte
}

var (
	msgBufFree [numClasses]bufClass
	msgBufIdle atomic.Int64 // bytes in all the free lists
)

func sizeClass(n int) int {
	if n <= 1<<minClassShift {
		return 0
	}
	return bits.Len(uint(n-1)) - minClassShift
}

// getMsgBuf returns a buffer of length n (n <= MaxMessageLenLimit).
func getMsgBuf(n int) *[]byte {
	c := sizeClass(n)
	fl := &msgBufFree[c]
	fl.mu.Lock()
	if k := len(fl.free); k > 0 {
		bp := fl.free[k-1]
		fl.free[k-1] = nil
		fl.free = fl.free[:k-1]
		fl.mu.Unlock()
		msgBufIdle.Add(-int64(cap(*bp)))
		*bp = (*bp)[:n]
		return bp
	}
	fl.mu.Unlock()
	b := make([]byte, n, 1<<(c+minClassShift))
	return &b
}

func putMsgBuf(bp *[]byte) {
	size := cap(*bp)
	c := sizeClass(size)
	if size != 1<<(c+minClassShift) {
		return // not one of ours
	}
	if msgBufIdle.Add(int64(size)) > msgBufKeep {
		msgBufIdle.Add(-int64(size))
		return
	}
	*bp = (*bp)[:0]
	fl := &msgBufFree[c]
	fl.mu.Lock()
	fl.free = append(fl.free, bp)
	fl.mu.Unlock()
}

// Recycle gives a buffer returned by Client.Call back to the pools, for a
// later message; b must not be used afterwards. Calling it is optional (it
// saves the allocation of a buffer per response); a buffer that did not
// come from Call is ignored.
func Recycle(b []byte) {
	if c := sizeClass(cap(b)); cap(b) == 1<<(c+minClassShift) && c < numClasses {
		b = b[:0]
		putMsgBuf(&b)
	}
}
