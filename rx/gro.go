package rx

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/homalb/homalb/balance"
	"github.com/homalb/homalb/wire"
)

// rxMeta describes one datagram of a read.
type rxMeta struct {
	n     int
	trunc bool
	from  netip.AddrPort
}

// groThread plays NAPI/GRO for one socket (one NIC channel) on one core.
type groThread struct {
	s     *Server
	core  int
	sock  int
	rd    *batchReader
	bufs  *bufStack // this thread's idle buffers
	slots []*pktBuf // buffers of the next read; nil where a batch took one
	meta  []rxMeta
	open  *batch // the one open GRO batch, nil when empty
	cnt   *coreCounters
	tx    txScratch
	errs  int
	// lagNs is how long the oldest datagram of the latest read waited in
	// the socket's buffer: the queue in front of the pipeline, which
	// admission control counts with the one behind it.
	lagNs atomic.Int64
}

func newGROThread(s *Server, core, sock int, c *net.UDPConn) (*groThread, error) {
	rd, err := newBatchReader(c, s.l.ReadBurst)
	if err != nil {
		return nil, err
	}
	g := &groThread{
		s: s, core: core, sock: sock, rd: rd,
		bufs:  newBufStack(s.l.BuffersPerGRO),
		slots: make([]*pktBuf, s.l.ReadBurst),
		meta:  make([]rxMeta, s.l.ReadBurst),
		cnt:   &s.counters[core],
	}
	for range s.l.BuffersPerGRO {
		g.bufs.push(new(pktBuf))
	}
	return g, nil
}

// run is the GRO thread's loop: read a burst, run GRO on each packet, close
// the open batch at the end of the burst.
func (g *groThread) run() {
	for {
		if h := g.s.hold.Load(); h != nil {
			g.s.held.Add(1)
			select {
			case <-*h:
			case <-g.s.stopGRO:
			}
			g.s.held.Add(-1)
		}
		k := g.refill()
		if k == 0 {
			return
		}
		n, err := g.rd.read(g.slots[:k], g.meta)
		if err != nil {
			if g.s.closing.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			if !isTransient(err) {
				if g.errs == 0 {
					g.s.l.Logf("rx: GRO core %d: read: %v", g.core, err)
				}
				g.errs++
				time.Sleep(time.Millisecond) // do not spin on a broken socket
			}
			continue
		}
		if t := g.rd.oldestArrival(); t != 0 {
			g.lagNs.Store(max(time.Now().UnixNano()-t, 0))
		}
		g.burst(n, g.s.clock())
	}
}

// refill gives every slot a buffer when buffers are free and moves the
// filled slots to the front. It returns how many slots are filled, waiting
// for at least one; 0 means the server is closing.
func (g *groThread) refill() int {
	for {
		g.bufs.fill(g.slots)
		filled := 0
		for i := range g.slots {
			if g.slots[i] != nil {
				g.slots[filled], g.slots[i] = g.slots[i], g.slots[filled]
				filled++
			}
		}
		if filled > 0 {
			return filled
		}
		if !g.bufs.wait() {
			continue
		}
		select { // every buffer is in a batch: wait as a full NIC ring waits
		case <-g.bufs.avail:
		case <-g.s.stopGRO:
			return 0
		}
	}
}

// burst runs GRO over the n datagrams just read at now.
func (g *groThread) burst(n int, now int64) {
	s := g.s
	start := now
	var softirq int64 // ns of SoftIRQ work run on this thread during the burst
	g.cnt.groBursts.Add(1)
	g.cnt.groPackets.Add(uint64(n))
	for i := 0; i < n; i++ {
		m := &g.meta[i]
		if m.trunc || m.n > MaxDatagram {
			s.drop(DropOversized)
			continue
		}
		buf := g.slots[i]
		h, payload, err := wire.Decode(buf.b[:m.n])
		if err != nil {
			s.drop(decodeDrop(err))
			continue
		}
		if h.Type == wire.TypeData && int(h.MsgLen) > s.l.MaxMessageLen {
			s.drop(DropTooLong)
			continue
		}
		if st := s.steering(); st != nil {
			st.Steer(rssEntry(h.Sender), now) // the policy counts packets per table entry
		}
		p := pkt{buf: buf, hdr: h, payload: payload, from: m.from}
		if s.bal.GROPacket(g.core, kindOf(&h), now) {
			// Bypass: SoftIRQ runs here, a batch of one.
			t0, t1 := s.softirq(g.core, softirqInline, nil, &p, g.sock, &g.tx)
			now, softirq = t1, softirq+t1-t0
			continue
		}
		if g.open == nil {
			g.open = g.bufs.batch(g)
		}
		g.open.pkts[g.open.n] = p
		g.open.n++
		g.slots[i] = nil // the batch owns the buffer now
		if g.open.n == s.l.MaxGRO {
			now, softirq = g.flush(now, softirq)
		}
	}
	_, softirq = g.flush(now, softirq)
	end := s.clock()
	g.cnt.groNs.Add(end - start - softirq)
	g.cnt.softirqNs.Add(softirq)
	if st := s.steering(); st != nil {
		left := 0
		if n == len(g.slots) {
			left = 1 // a full read: more datagrams are likely waiting
		}
		st.NAPIPollEnd(g.core, n, left, end-start-softirq, end)
		s.refreshRSS(end)
	}
}

// flush hands the open batch to the SoftIRQ core the balancer picks: run
// here when it is this core, else queued to that core's worker (one
// wake-up per batch). It returns the updated time and SoftIRQ time.
func (g *groThread) flush(now, softirq int64) (int64, int64) {
	b := g.open
	if b == nil {
		return now, softirq
	}
	g.open = nil
	s := g.s
	core := s.bal.SoftIRQCore(g.core, flowHash(s.l.opts.HashSeed, b.pkts[0].from), b.n, now)
	g.cnt.groBatches.Add(1)
	if core == g.core {
		t0, t1 := s.softirq(core, softirqLocal, b, nil, g.sock, &g.tx)
		putBatch(b)
		return t1, softirq + t1 - t0
	}
	b.handoffNs = s.clock()
	select {
	case s.workers[core].q <- b:
	default:
		s.drops[DropQueueFull].Add(uint64(b.n))
		putBatch(b)
	}
	return now, softirq
}

// kindOf classifies a packet for the balancer.
func kindOf(h *wire.Header) balance.Kind {
	switch h.Type {
	case wire.TypeData:
		if h.Whole() {
			return balance.WholeData
		}
		return balance.Data
	case wire.TypeGrant:
		return balance.Grant
	}
	return balance.Control
}

// flowHash is the flow hash rps steers by: the sender's address and port,
// as RPS hashes a packet's flow.
func flowHash(seed uint64, from netip.AddrPort) uint32 {
	ip := from.Addr().As16()
	host := binary.BigEndian.Uint64(ip[:8]) ^ binary.BigEndian.Uint64(ip[8:])
	return balance.FlowHash(seed, host, uint64(from.Port()))
}

// decodeDrop maps a wire error to a drop reason.
func decodeDrop(err error) DropReason {
	if err == wire.ErrShort || err == wire.ErrTruncated {
		return DropTruncated
	}
	return DropMalformed
}
