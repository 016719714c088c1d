package rx

import (
	"math/bits"
	"net/netip"
	"sync"

	"github.com/homalb/homalb/wire"
)

// pktBuf is one receive buffer, owned by the GRO thread that reads into it
// and lent to a SoftIRQ worker with its batch.
type pktBuf struct {
	b     [pktBufSize]byte
	owner *groThread
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
// be dropped by every garbage collection and allocated again, 4 KB each.
type batch struct {
	n         int
	owner     *groThread // the GRO thread that collected it, whose buffers it holds
	gro       int        // GRO core that collected it
	sock      int        // socket it was read from
	handoffNs int64      // when the GRO thread queued it
	pkts      [MaxGROLimit]pkt
}

// putBatch gives b and its buffers back to the GRO thread that collected
// it.
func putBatch(b *batch) { b.owner.bufs.give(b) }

// Message buffers come from pools by power-of-two size class, so a
// message's bytes are reused once the application releases it. The bound on
// memory is Config.MaxInflightBytes, not the pools.
const (
	minClassShift = 8  // 256 B
	maxClassShift = 26 // 64 MiB = MaxMessageLenLimit
	numClasses    = maxClassShift - minClassShift + 1
)

var msgBufPools [numClasses]sync.Pool

func sizeClass(n int) int {
	if n <= 1<<minClassShift {
		return 0
	}
	return bits.Len(uint(n-1)) - minClassShift
}

// getMsgBuf returns a buffer of length n (n <= MaxMessageLenLimit).
func getMsgBuf(n int) *[]byte {
	c := sizeClass(n)
	if v := msgBufPools[c].Get(); v != nil {
		bp := v.(*[]byte)
		*bp = (*bp)[:n]
		return bp
	}
	b := make([]byte, n, 1<<(c+minClassShift))
	return &b
}

func putMsgBuf(bp *[]byte) {
	c := sizeClass(cap(*bp))
	if cap(*bp) != 1<<(c+minClassShift) {
		return // not one of ours
	}
	*bp = (*bp)[:0]
	msgBufPools[c].Put(bp)
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
