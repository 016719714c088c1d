package rx

import (
	"runtime"
	"testing"

	"github.com/homalb/homalb/wire"
)

// BenchmarkEchoBare is BenchmarkEcho's floor: the same calls against a bare
// echo loop on one thread, with rx's own batched I/O and no pipeline. The
// loop reads a burst with recvmmsg, answers each single-packet request with
// one DATA packet, and sends the answers with one sendmmsg; it ignores
// everything else (the client's ACKs) and knows nothing of grants,
// retransmission, policies or cores. What BenchmarkEcho spends beyond it
// per call is the pipeline's: run both side by side,
//
//	go test -run XXX -bench Echo -benchtime 20000x ./rx
func BenchmarkEchoBare(b *testing.B) {
	conn, err := listenUDP("127.0.0.1:0", false)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := setSocketBuffers(conn, DefaultSocketBuffer); err != nil {
		b.Logf("socket buffers: %v", err)
	}
	x, err := newXmitter(conn, false)
	if err != nil {
		b.Fatal(err)
	}
	rd, err := newBatchReader(conn, DefaultReadBurst)
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // as the pipeline's threads are
		bareEcho(rd, x)
	}()
	echoCalls(b, conn.LocalAddr().String())
	conn.Close()
	<-done
}

// bareEcho answers requests until the socket is closed.
func bareEcho(rd *batchReader, x *xmitter) {
	slots := make([]*pktBuf, DefaultReadBurst)
	for i := range slots {
		slots[i] = new(pktBuf)
	}
	meta := make([]rxMeta, DefaultReadBurst)
	var q txBatch
	for {
		n, err := rd.read(slots, meta)
		if err != nil {
			if isTransient(err) {
				continue
			}
			return
		}
		for i := range n {
			h, p, err := wire.Decode(slots[i].b[:meta[i].n])
			if err != nil || h.Type != wire.TypeData || !h.Whole() || h.Flags&wire.FlagResponse != 0 {
				continue
			}
			// Any nonzero cookie: the client echoes it, nobody checks it.
			rh := wire.Header{Type: wire.TypeData, Flags: wire.FlagResponse, Sender: h.Sender, MsgID: h.MsgID,
				MsgLen: h.MsgLen, GrantOffset: h.MsgLen, Cookie: 1}
			if _, err := q.queue(x, meta[i].from, rh, p); err != nil {
				continue
			}
		}
		_ = q.flush()
	}
}
