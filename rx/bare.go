package rx

import (
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync/atomic"

	"github.com/homalb/homalb/wire"
)

// BareEcho is the echo path's floor: one thread that reads bursts of
// datagrams with recvmmsg, answers each request that fits in one packet
// with one DATA packet of the same payload, and sends a burst's answers
// with one sendmmsg, through rx's own batched I/O. It has nothing else: no
// transport (grants, retransmission, ACKs, cookies that mean anything),
// no policy, no cores, no admission control. What Server spends beyond it
// per request, on the same host under the same load, is the pipeline's
// (homalb serve --bare; BenchmarkEchoBare beside BenchmarkEcho).
//
// Facing hostile traffic it keeps no state, does bounded work per
// datagram, and answers only a request, with a datagram of the request's
// size, to the request's source: it reflects, but never amplifies.
type BareEcho struct {
	conn     *net.UDPConn
	x        *xmitter
	rd       *batchReader
	addr     netip.AddrPort
	answered atomic.Uint64
	ignored  atomic.Uint64
	done     chan struct{}
}

// ListenBareEcho opens the floor's socket on addr (IP:PORT) and starts its
// thread.
func ListenBareEcho(addr string) (*BareEcho, error) {
	conn, err := listenUDP(addr, false)
	if err != nil {
		return nil, fmt.Errorf("rx: bare echo: %w", err)
	}
	if _, err := setSocketBuffers(conn, DefaultSocketBuffer); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("rx: bare echo: socket buffers: %w", err)
	}
	x, err := newXmitter(conn, false)
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("rx: bare echo: %w", err)
	}
	rd, err := newBatchReader(conn, DefaultReadBurst)
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("rx: bare echo: %w", err)
	}
	e := &BareEcho{conn: conn, x: x, rd: rd, done: make(chan struct{}),
		addr: conn.LocalAddr().(*net.UDPAddr).AddrPort()}
	go func() {
		defer close(e.done)
		runtime.LockOSThread() // one thread, as each of the pipeline's
		e.run()
	}()
	return e, nil
}

// Addr returns the address the socket is bound to.
func (e *BareEcho) Addr() netip.AddrPort { return e.addr }

// Answered reports the requests answered so far.
func (e *BareEcho) Answered() uint64 { return e.answered.Load() }

// Ignored reports the datagrams read and not answered: ACKs, packets of
// longer messages, responses, garbage.
func (e *BareEcho) Ignored() uint64 { return e.ignored.Load() }

// Close closes the socket and waits for the thread to stop.
func (e *BareEcho) Close() error {
	err := e.conn.Close()
	<-e.done
	return err
}

// run answers requests until the socket is closed.
func (e *BareEcho) run() {
	slots := make([]*pktBuf, DefaultReadBurst)
	for i := range slots {
		slots[i] = new(pktBuf)
	}
	meta := make([]rxMeta, DefaultReadBurst)
	var q txBatch
	for {
		n, err := e.rd.read(slots, meta)
		if err != nil {
			if isTransient(err) {
				continue
			}
			return
		}
		for i := range n {
			if !e.answer(&q, slots[i].b[:meta[i].n], &meta[i]) {
				e.ignored.Add(1)
			}
		}
		_ = q.flush()
	}
}

// answer queues the answer to datagram b, if it is a whole request.
func (e *BareEcho) answer(q *txBatch, b []byte, m *rxMeta) bool {
	if m.trunc {
		return false
	}
	h, p, err := wire.Decode(b)
	if err != nil || h.Type != wire.TypeData || !h.Whole() || h.Flags&wire.FlagResponse != 0 {
		return false
	}
	// Any nonzero cookie: the client echoes it back, and nothing here
	// checks it.
	rh := wire.Header{Type: wire.TypeData, Flags: wire.FlagResponse, Sender: h.Sender, MsgID: h.MsgID,
		MsgLen: h.MsgLen, GrantOffset: h.MsgLen, Cookie: 1}
	if _, err := q.queue(e.x, m.from, rh, p); err != nil {
		return false
	}
	e.answered.Add(1)
	return true
}
