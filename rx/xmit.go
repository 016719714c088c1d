package rx

import (
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"

	"github.com/homalb/homalb/wire"
)

// xmitter is an endpoint's send path: one socket (connected for a client,
// unconnected for a server socket) and, when faults are configured, a
// fault line in front of it. Safe for concurrent use.
type xmitter struct {
	conn      *net.UDPConn
	rc        syscall.RawConn
	connected bool
	faults    *faultLine // nil: none
	packets   atomic.Uint64
	errors    atomic.Uint64
}

// newXmitter returns the send path of conn.
func newXmitter(conn *net.UDPConn, connected bool) (*xmitter, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	return &xmitter{conn: conn, rc: rc, connected: connected}, nil
}

// write sends one packet to to (ignored on a connected socket). key
// identifies the packet for fault decisions. The packet is not retained.
func (x *xmitter) write(b []byte, to netip.AddrPort, key uint64) error {
	x.packets.Add(1)
	if x.faults != nil {
		return x.faults.write(b, to, key)
	}
	return x.raw(b, to)
}

func (x *xmitter) raw(b []byte, to netip.AddrPort) error {
	var err error
	if x.connected {
		_, err = x.conn.Write(b)
	} else {
		_, err = x.conn.WriteToUDPAddrPort(b, to)
	}
	if err != nil {
		x.errors.Add(1)
	}
	return err
}

// close stops the fault line's goroutine; held packets are lost.
func (x *xmitter) close() {
	if x.faults != nil {
		x.faults.close()
	}
}

// txBatchSize is the datagrams one sendmmsg(2) sends: the segments of a
// message go out in batches, as the receive side reads them.
const txBatchSize = 32

// txBatch is one thread's queue of datagrams for one sendmmsg. Not safe for
// concurrent use.
type txBatch struct {
	x    *xmitter // the socket the queued datagrams go out of
	n    int
	size [txBatchSize]int
	to   [txBatchSize]netip.AddrPort
	data [txBatchSize][MaxDatagram]byte
	w    batchWriter
}

// queue encodes a DATA packet of header h and payload p at the end of the
// batch for x, flushing first when the batch is full or for another
// socket. It returns the datagram's length.
func (q *txBatch) queue(x *xmitter, to netip.AddrPort, h wire.Header, p []byte) (int, error) {
	if q.n == txBatchSize || q.n > 0 && q.x != x {
		if err := q.flush(); err != nil {
			return 0, err
		}
	}
	k, err := wire.Encode(q.data[q.n][:], h, p)
	if err != nil {
		return 0, err
	}
	q.x, q.size[q.n], q.to[q.n] = x, k, to
	q.n++
	x.packets.Add(1)
	return k, nil
}

// flush sends the queued datagrams.
func (q *txBatch) flush() error {
	if q.n == 0 {
		return nil
	}
	n := q.n
	q.n = 0
	err := q.w.send(q.x, q, n)
	if err != nil {
		q.x.errors.Add(1)
	}
	return err
}
