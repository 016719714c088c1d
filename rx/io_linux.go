//go:build linux

package rx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// multiSocket: Linux spreads the datagrams of a port over SO_REUSEPORT
// sockets by a hash of each flow, as RSS spreads them over NIC channels.
const multiSocket = true

// listenUDP opens a UDP socket on addr; with reuse, SO_REUSEPORT is set so
// that several sockets can share the address.
func listenUDP(addr string, reuse bool) (*net.UDPConn, error) {
	lc := net.ListenConfig{}
	if reuse {
		lc.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
			}); err != nil {
				return err
			}
			if serr != nil {
				return fmt.Errorf("SO_REUSEPORT: %w", serr)
			}
			return nil
		}
	}
	pc, err := lc.ListenPacket(context.Background(), "udp", addr)
	if err != nil {
		return nil, err
	}
	return pc.(*net.UDPConn), nil
}

// setSocketBuffers sets the socket's receive and send buffers to bytes,
// beyond net.core.rmem_max when the process may (SO_RCVBUFFORCE), and
// returns the receive buffer the kernel granted.
func setSocketBuffers(c *net.UDPConn, bytes int) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var got int
	var serr error
	err = rc.Control(func(fd uintptr) {
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, bytes) != nil {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, bytes)
		}
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, bytes) != nil {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF, bytes)
		}
		got, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF)
	})
	if err == nil {
		err = serr
	}
	return got, err
}

// batchReader reads up to len(slots) datagrams per system call with
// recvmmsg(2), through the runtime's poller (so Close interrupts it). Its
// arrays are allocated once; a read allocates nothing.
//
// It also reads the socket's drop counter: with SO_RXQ_OVFL set, the kernel
// attaches to each datagram the number of datagrams the socket dropped so
// far (its receive buffer was full), when that is not zero. With
// SO_TIMESTAMPNS set, it attaches the time the datagram reached the
// socket; the reader keeps that of the first datagram of each read, the
// oldest waiting, so the pipeline sees the queue in the kernel's buffer.
type batchReader struct {
	rc     syscall.RawConn
	hdrs   []unix.Mmsghdr
	iovs   []unix.Iovec
	names  []unix.RawSockaddrInet6
	oob    [][oobLen]byte
	want   int
	got    int
	errno  syscall.Errno
	fn     func(fd uintptr) bool // r.recv, bound once
	drops  atomic.Uint32         // the latest drop count the kernel reported
	ovfl   bool                  // SO_RXQ_OVFL is set
	stamps bool                  // SO_TIMESTAMPNS is set
	oldest int64                 // the last read's first arrival, Unix ns (0: unknown)
}

// oobLen holds a 32-bit drop count and a timespec, each in its control
// message (CmsgSpace(4) + CmsgSpace(16) is 56 bytes on 64-bit Linux).
const oobLen = 64

func newBatchReader(c *net.UDPConn, max int) (*batchReader, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	r := &batchReader{
		rc:    rc,
		hdrs:  make([]unix.Mmsghdr, max),
		iovs:  make([]unix.Iovec, max),
		names: make([]unix.RawSockaddrInet6, max),
		oob:   make([][oobLen]byte, max),
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 1)
	}); err == nil && serr == nil {
		r.ovfl = true
	}
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	}); err == nil && serr == nil {
		r.stamps = true
	}
	r.fn = r.recv
	return r, nil
}

// arrivalTimes reports whether the kernel stamps each datagram's arrival.
func (r *batchReader) arrivalTimes() bool { return r.stamps }

// oldestArrival is when the first datagram of the last read reached the
// socket, in Unix ns (0: unknown). Datagrams queue in arrival order, so
// it is the oldest the read found waiting.
func (r *batchReader) oldestArrival() int64 { return r.oldest }

// kernelDrops reports the datagrams the kernel dropped at this socket
// because its buffer was full, and whether the platform reports them.
func (r *batchReader) kernelDrops() (uint64, bool) { return uint64(r.drops.Load()), r.ovfl }

// control reads the control messages of datagram i: the socket's drop
// count, when the kernel attached one (it is cumulative and wraps at 2³²),
// and the arrival time when stamp is set.
func (r *batchReader) control(i int, stamp bool) {
	b := r.oob[i][:min(int(r.hdrs[i].Hdr.Controllen), oobLen)]
	for len(b) >= unix.CmsgLen(0) {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
		if int(h.Len) < unix.CmsgLen(0) || int(h.Len) > len(b) {
			return
		}
		data := b[unix.CmsgLen(0):h.Len]
		if h.Level == unix.SOL_SOCKET {
			switch {
			case h.Type == unix.SO_RXQ_OVFL && len(data) >= 4:
				r.drops.Store(*(*uint32)(unsafe.Pointer(&data[0])))
			case h.Type == unix.SO_TIMESTAMPNS && stamp && len(data) >= int(unsafe.Sizeof(unix.Timespec{})):
				r.oldest = (*unix.Timespec)(unsafe.Pointer(&data[0])).Nano()
			}
		}
		next := unix.CmsgSpace(int(h.Len) - unix.CmsgLen(0))
		if next > len(b) {
			return
		}
		b = b[next:]
	}
}

func (r *batchReader) recv(fd uintptr) bool {
	for {
		n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&r.hdrs[0])),
			uintptr(r.want), unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false // wait for the poller
		}
		r.got, r.errno = int(n), e
		return true
	}
}

// read fills slots[:n] and meta[:n] with the next datagrams, blocking until
// at least one arrives. A datagram longer than its slot is cut and flagged.
func (r *batchReader) read(slots []*pktBuf, meta []rxMeta) (int, error) {
	if len(slots) > len(r.hdrs) {
		slots = slots[:len(r.hdrs)]
	}
	for i, s := range slots {
		r.iovs[i].Base = &s.b[0]
		r.iovs[i].SetLen(len(s.b))
		h := &r.hdrs[i].Hdr
		h.Iov = &r.iovs[i]
		h.SetIovlen(1)
		h.Name = (*byte)(unsafe.Pointer(&r.names[i]))
		h.Namelen = unix.SizeofSockaddrInet6
		if r.ovfl || r.stamps {
			h.Control = &r.oob[i][0]
			h.SetControllen(oobLen)
		}
		h.Flags = 0
		r.hdrs[i].Len = 0
	}
	r.want = len(slots)
	if err := r.rc.Read(r.fn); err != nil {
		return 0, err
	}
	if r.errno != 0 {
		return 0, r.errno
	}
	for i := 0; i < r.got; i++ {
		m := &meta[i]
		m.n = int(r.hdrs[i].Len)
		m.trunc = r.hdrs[i].Hdr.Flags&unix.MSG_TRUNC != 0
		m.from = sockaddrToAddrPort(&r.names[i])
	}
	r.oldest = 0
	if r.got > 0 {
		if r.stamps {
			r.control(0, true)
		}
		if r.ovfl && (r.got > 1 || !r.stamps) {
			r.control(r.got-1, false) // the latest count is the last one's
		}
	}
	return r.got, nil
}

// sockaddrToAddrPort converts a raw IPv4 or IPv6 socket address.
func sockaddrToAddrPort(sa *unix.RawSockaddrInet6) netip.AddrPort {
	p := (*[2]byte)(unsafe.Pointer(&sa.Port))
	port := uint16(p[0])<<8 | uint16(p[1])
	switch sa.Family {
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), port)
	case unix.AF_INET6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), port)
	}
	return netip.AddrPort{}
}

// isTransient reports read errors that concern one earlier datagram, not
// the socket: an ICMP error for a reply we sent (ECONNREFUSED), and the like.
func isTransient(err error) bool {
	for _, e := range [...]unix.Errno{unix.ECONNREFUSED, unix.EHOSTUNREACH, unix.ENETUNREACH, unix.EMSGSIZE, unix.ENOBUFS, unix.ENOMEM} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// attachReuseport installs prog as the socket-selection program of the
// SO_REUSEPORT group c belongs to; it replaces any earlier one.
func attachReuseport(c *net.UDPConn, prog []bpf.RawInstruction) error {
	filter := make([]unix.SockFilter, len(prog))
	for i, in := range prog {
		filter[i] = unix.SockFilter{Code: in.Op, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	fprog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptSockFprog(int(fd), unix.SOL_SOCKET, unix.SO_ATTACH_REUSEPORT_CBPF, &fprog)
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("SO_ATTACH_REUSEPORT_CBPF: %w", serr)
	}
	return nil
}

// batchWriter sends a batch of datagrams with sendmmsg(2), through the
// runtime's poller. Its arrays are allocated once; a send allocates
// nothing.
type batchWriter struct {
	hdrs  [txBatchSize]unix.Mmsghdr
	iovs  [txBatchSize]unix.Iovec
	names [txBatchSize]unix.RawSockaddrInet6
	want  int
	done  int
	errno syscall.Errno
	fn    func(fd uintptr) bool // w.sendmmsg, bound once
}

// send sends the first n datagrams of q out of x. A datagram the kernel
// refuses is skipped (and its error returned once the rest went), as a
// failed sendto would be.
func (w *batchWriter) send(x *xmitter, q *txBatch, n int) error {
	for i := range n {
		w.iovs[i].Base = &q.data[i][0]
		w.iovs[i].SetLen(q.size[i])
		h := &w.hdrs[i].Hdr
		h.Iov = &w.iovs[i]
		h.SetIovlen(1)
		h.Name, h.Namelen = nil, 0
		if !x.connected {
			h.Name = (*byte)(unsafe.Pointer(&w.names[i]))
			h.Namelen = putSockaddr(&w.names[i], q.to[i])
		}
		h.Control = nil
		h.SetControllen(0)
		w.hdrs[i].Len = 0
	}
	if w.fn == nil {
		w.fn = w.sendmmsg
	}
	w.want, w.done = n, 0
	var first error
	for w.done < w.want {
		if err := x.rc.Write(w.fn); err != nil {
			return err
		}
		if w.errno != 0 {
			if first == nil {
				first = w.errno
			}
			w.errno = 0
			w.done++ // skip the datagram refused
		}
	}
	return first
}

func (w *batchWriter) sendmmsg(fd uintptr) bool {
	for {
		n, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&w.hdrs[w.done])),
			uintptr(w.want-w.done), unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false // wait until the socket may be written
		case 0:
			w.done += int(n)
		default:
			w.errno = e
		}
		return true
	}
}

// putSockaddr writes ap as a raw socket address (IPv4 when it is one) and
// returns its length.
func putSockaddr(sa *unix.RawSockaddrInet6, ap netip.AddrPort) uint32 {
	port := ap.Port()
	if a := ap.Addr(); a.Is4() {
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		sa4.Family = unix.AF_INET
		p := (*[2]byte)(unsafe.Pointer(&sa4.Port))
		p[0], p[1] = byte(port>>8), byte(port)
		sa4.Addr = a.As4()
		sa4.Zero = [8]uint8{}
		return unix.SizeofSockaddrInet4
	}
	*sa = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: ap.Addr().As16()}
	p := (*[2]byte)(unsafe.Pointer(&sa.Port))
	p[0], p[1] = byte(port>>8), byte(port)
	return unix.SizeofSockaddrInet6
}
