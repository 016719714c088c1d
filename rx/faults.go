package rx

import (
	"container/heap"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/homalb/homalb/wire"
)

// Faults are faults injected into an endpoint's send path, for tests and
// demonstrations of recovery: each packet the endpoint sends (DATA and
// control packets alike) may be lost, duplicated, held back so that later
// packets overtake it, and delayed. The zero value injects nothing.
//
// Decisions are deterministic: the fate of a packet is a function of Seed,
// the message id and the number of packets the endpoint sent before for
// that message (retransmissions included), not of timing or of which
// goroutine sends it.
type Faults struct {
	// Loss is the fraction of packets dropped, in [0, 1).
	Loss float64
	// Dup is the fraction of packets sent twice, in [0, 1].
	Dup float64
	// Reorder is the fraction of packets held back by a random time of up
	// to ReorderWindow, so that the packets sent after them overtake them,
	// in [0, 1].
	Reorder float64
	// ReorderWindow bounds how long a reordered packet is held back
	// (default 500 µs).
	ReorderWindow time.Duration
	// Delay is added to every packet's departure (default 0).
	Delay time.Duration
	// Seed makes the decisions reproducible.
	Seed uint64
}

// DefaultReorderWindow is Faults.ReorderWindow's default.
const DefaultReorderWindow = 500 * time.Microsecond

// maxHeld bounds the packets a fault line holds back at once; beyond it a
// packet that should wait is lost instead (Faults stats: Overflow).
const maxHeld = 8192

// Enabled reports whether f injects anything.
func (f Faults) Enabled() bool {
	return f.Loss > 0 || f.Dup > 0 || f.Reorder > 0 || f.Delay > 0
}

// Validate reports the first field of f out of range.
func (f Faults) Validate() error {
	switch {
	case !(f.Loss >= 0 && f.Loss < 1):
		return fmt.Errorf("loss %v: want a fraction in [0, 1)", f.Loss)
	case !(f.Dup >= 0 && f.Dup <= 1):
		return fmt.Errorf("dup %v: want a fraction in [0, 1]", f.Dup)
	case !(f.Reorder >= 0 && f.Reorder <= 1):
		return fmt.Errorf("reorder %v: want a fraction in [0, 1]", f.Reorder)
	case f.ReorderWindow < 0 || f.ReorderWindow > 10*time.Second:
		return fmt.Errorf("reorder window %v: want 0..10s", f.ReorderWindow)
	case f.Delay < 0 || f.Delay > 10*time.Second:
		return fmt.Errorf("delay %v: want 0..10s", f.Delay)
	}
	return nil
}

// FaultStats counts the faults an endpoint injected, in packets.
type FaultStats struct {
	Lost, Duplicated, Reordered, Delayed uint64
	// Overflow counts packets lost because too many were held back.
	Overflow uint64
}

// faultKey identifies a packet for fault decisions: the message id and the
// number of packets sent for it before (so a retransmission has a fresh
// fate).
func faultKey(id uint64, xmits uint32) uint64 {
	p := rand.NewPCG(id, uint64(xmits))
	return p.Uint64()
}

// ctlFaultKey is the fault key of a control packet of type t, the n-th
// packet sent for message id: the type keeps a RESEND and a BUSY sent at
// the same count from sharing a fate.
func ctlFaultKey(id uint64, n uint32, t wire.Type) uint64 { return faultKey(id, n) ^ uint64(t)<<56 }

// grantFaultKey is the fault key of a GRANT: its message and offset, so
// that the same grant sent twice meets the same fate.
func grantFaultKey(id uint64, off uint32) uint64 { return faultKey(id, off) }

// faultLine applies Faults to the packets of an xmitter: drops and
// duplicates inline, and holds delayed or reordered packets in a bounded
// heap that its goroutine releases on time.
type faultLine struct {
	f     Faults
	x     *xmitter
	lossT uint64 // thresholds on 53-bit uniforms
	dupT  uint64
	reorT uint64

	mu     sync.Mutex
	held   heldHeap
	seq    uint64
	wake   chan struct{}
	stop   chan struct{}
	wg     sync.WaitGroup
	closed bool

	lost, dups, reordered, delayed, overflow atomic.Uint64
}

// heldPkt is a packet held back by the fault line.
type heldPkt struct {
	at   int64 // release time, ns of the line's clock
	seq  uint64
	to   netip.AddrPort
	n    int
	data [MaxDatagram]byte
}

type heldHeap []*heldPkt

func (h heldHeap) Len() int { return len(h) }
func (h heldHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].seq < h[j].seq
}
func (h heldHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *heldHeap) Push(v any)   { *h = append(*h, v.(*heldPkt)) }
func (h *heldHeap) Pop() any {
	old := *h
	p := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return p
}

var heldPool = sync.Pool{New: func() any { return new(heldPkt) }}

// epoch is the fault lines' clock origin.
var epoch = time.Now()

func monoNs() int64 { return int64(time.Since(epoch)) }

func threshold(p float64) uint64 {
	if p <= 0 {
		return 0
	}
	if p >= 1 {
		return math.MaxUint64
	}
	return uint64(p * (1 << 53))
}

// newFaultLine returns the fault line of x, or nil when f injects nothing.
// role names its goroutine in profiles.
func newFaultLine(x *xmitter, f Faults, role string) *faultLine {
	if !f.Enabled() {
		return nil
	}
	if f.ReorderWindow == 0 {
		f.ReorderWindow = DefaultReorderWindow
	}
	l := &faultLine{f: f, x: x, lossT: threshold(f.Loss), dupT: threshold(f.Dup), reorT: threshold(f.Reorder),
		wake: make(chan struct{}, 1), stop: make(chan struct{})}
	if f.Delay > 0 || f.Reorder > 0 {
		l.wg.Add(1)
		go pprof.Do(context.Background(), pprof.Labels("rx", role), func(context.Context) { l.run() })
	}
	return l
}

// uniform returns the i-th 53-bit uniform of a packet's decisions.
func (l *faultLine) uniform(key uint64, i uint64) uint64 {
	// A PCG stream per (seed, packet), drawn i+1 times: reproducible for a
	// seed, independent between packets and between decisions.
	p := rand.NewPCG(l.f.Seed, key)
	v := p.Uint64()
	for ; i > 0; i-- {
		v = p.Uint64()
	}
	return v >> 11
}

func (l *faultLine) write(b []byte, to netip.AddrPort, key uint64) error {
	if l.uniform(key, 1) < l.lossT {
		l.lost.Add(1)
		return nil
	}
	copies := 1
	if l.uniform(key, 2) < l.dupT {
		copies = 2
		l.dups.Add(1)
	}
	var err error
	for c := range copies {
		wait := int64(l.f.Delay)
		if l.uniform(key, 3+uint64(c)) < l.reorT {
			wait += 1 + int64(l.uniform(key, 5+uint64(c))%uint64(l.f.ReorderWindow))
			l.reordered.Add(1)
		}
		if wait == 0 {
			if e := l.x.raw(b, to); e != nil && err == nil {
				err = e
			}
			continue
		}
		l.hold(b, to, wait)
	}
	return err
}

// hold queues a copy of b for release after wait ns.
func (l *faultLine) hold(b []byte, to netip.AddrPort, wait int64) {
	l.mu.Lock()
	if l.closed || len(l.held) >= maxHeld {
		l.mu.Unlock()
		l.overflow.Add(1)
		return
	}
	p := heldPool.Get().(*heldPkt)
	p.at, p.seq, p.to, p.n = monoNs()+wait, l.seq, to, copy(p.data[:], b)
	l.seq++
	heap.Push(&l.held, p)
	first := l.held[0] == p
	l.mu.Unlock()
	l.delayed.Add(1)
	if first {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
}

// run releases held packets when their time comes.
func (l *faultLine) run() {
	defer l.wg.Done()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		l.mu.Lock()
		var next int64 = -1
		now := monoNs()
		for len(l.held) > 0 && l.held[0].at <= now {
			p := heap.Pop(&l.held).(*heldPkt)
			l.mu.Unlock()
			_ = l.x.raw(p.data[:p.n], p.to)
			heldPool.Put(p)
			l.mu.Lock()
			now = monoNs()
		}
		if len(l.held) > 0 {
			next = l.held[0].at - now
		}
		l.mu.Unlock()
		if next >= 0 {
			t.Reset(time.Duration(next))
		}
		select {
		case <-l.stop:
			return
		case <-l.wake:
		case <-t.C:
		}
	}
}

func (l *faultLine) close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	l.mu.Unlock()
	close(l.stop)
	l.wg.Wait()
	l.mu.Lock()
	for len(l.held) > 0 {
		heldPool.Put(heap.Pop(&l.held))
	}
	l.mu.Unlock()
}

func (l *faultLine) stats() FaultStats {
	if l == nil {
		return FaultStats{}
	}
	return FaultStats{Lost: l.lost.Load(), Duplicated: l.dups.Load(), Reordered: l.reordered.Load(),
		Delayed: l.delayed.Load(), Overflow: l.overflow.Load()}
}
