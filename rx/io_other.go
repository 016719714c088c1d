//go:build !linux

package rx

import (
	"errors"
	"net"
	"syscall"

	"golang.org/x/net/bpf"
)

// multiSocket: without Linux's SO_REUSEPORT flow hashing, one socket (one
// GRO thread) serves the address.
const multiSocket = false

func listenUDP(addr string, _ bool) (*net.UDPConn, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	return net.ListenUDP("udp", ua)
}

func setSocketBuffers(c *net.UDPConn, bytes int) (int, error) {
	if err := c.SetReadBuffer(bytes); err != nil {
		return 0, err
	}
	_ = c.SetWriteBuffer(bytes)
	return bytes, nil
}

// batchReader reads one datagram per call on systems without recvmmsg.
type batchReader struct{ c *net.UDPConn }

func newBatchReader(c *net.UDPConn, _ int) (*batchReader, error) { return &batchReader{c: c}, nil }

func (r *batchReader) read(slots []*pktBuf, meta []rxMeta) (int, error) {
	n, from, err := r.c.ReadFromUDPAddrPort(slots[0].b[:])
	if err != nil {
		return 0, err
	}
	meta[0] = rxMeta{n: n, from: from, trunc: n == len(slots[0].b)}
	return 1, nil
}

// arrivalTimes: this platform's reader does not learn arrival times.
func (r *batchReader) arrivalTimes() bool { return false }

// oldestArrival: this platform's reader does not learn arrival times.
func (r *batchReader) oldestArrival() int64 { return 0 }

// kernelDrops: this platform's reader does not learn the socket's drops.
func (r *batchReader) kernelDrops() (uint64, bool) { return 0, false }

func isTransient(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED)
}

// attachReuseport: there is no SO_REUSEPORT group to program here.
func attachReuseport(*net.UDPConn, []bpf.RawInstruction) error {
	return errors.New("socket-selection programs need Linux")
}

// batchWriter sends a batch one datagram at a time on systems without
// sendmmsg.
type batchWriter struct{}

func (w *batchWriter) send(x *xmitter, q *txBatch, n int) error {
	var first error
	for i := range n {
		if err := x.raw(q.data[i][:q.size[i]], q.to[i]); err != nil && first == nil {
			first = err
		}
	}
	return first
}
