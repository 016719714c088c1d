package sim

import "math/bits"

// evKind says what an event does when it fires.
type evKind uint8

const (
	evArrival     evKind = iota // the next message leaves its sender
	evLinkDone                  // the downlink finished a packet: it reaches the NIC
	evGrant                     // a grant takes effect at the sender: a = message, b = new limit
	evCoreStep                  // a core finished its softirq step: a = core, b = generation
	evBatchArrive               // a handed-off batch reaches its SoftIRQ core: a = core, b = batch
	evThreadDone                // a thread finished its work phase: a = thread, b = generation
	evPollEnd                   // a thread's poll timer: a = thread
	evWake                      // a woken thread wants a core: a = thread
	evRespGrant                 // a GRANT for one of the host's responses arrives: a = flow, b = how many follow
	evDeferEnd                  // ksoftirqd's wait on a core is over: a = core
	evStop                      // end of the run
)

// event is a 24-byte value: the queue holds no pointers, so it costs the
// garbage collector nothing and allocates only when it grows. seqKind packs
// the scheduling sequence number (high 56 bits) with the kind (low 8 bits);
// since sequence numbers are unique, ordering by (t, seqKind) is ordering by
// (t, sequence).
type event struct {
	t       int64
	seqKind uint64
	a, b    int32
}

func (e *event) kind() evKind { return evKind(e.seqKind) }

func (e *event) before(o *event) bool {
	return e.t < o.t || e.t == o.t && e.seqKind < o.seqKind
}

// The timing wheel: wheelSize buckets of 2^bucketShift ns each cover the
// next wheelSize << bucketShift ns (65.5 µs), where almost every event of
// the model falls (packet steps are 0.3–3 µs away). Events further out wait
// in a heap.
const (
	bucketShift = 6
	wheelBits   = 10
	wheelSize   = 1 << wheelBits
	wheelMask   = wheelSize - 1
	horizon     = wheelSize << bucketShift
)

// eventQueue delivers events in (time, sequence number) order, so that events
// at the same time fire in the order they were scheduled and runs are
// deterministic. It is a timing wheel of small sorted buckets in front of a
// 4-ary heap for far events; BenchmarkEventQueue compares it with the heap
// alone.
//
// Invariants: every wheel event has base ≤ t < base + horizon, and every far
// event has t ≥ base + horizon, so each far event is later than every wheel
// event. Events must not be scheduled before the last one popped.
type eventQueue struct {
	buckets [wheelSize][]event // each sorted by (t, seq)
	used    [wheelSize / 64]uint64
	base    int64 // start of the bucket at cur
	cur     int
	n       int // events in the wheel
	far     farHeap
	seq     uint64
}

func (q *eventQueue) Len() int { return q.n + len(q.far.h) }

// push schedules an event.
func (q *eventQueue) push(t int64, kind evKind, a, b int32) {
	q.seq++
	e := event{t: t, seqKind: q.seq<<8 | uint64(kind), a: a, b: b}
	if t-q.base >= horizon {
		q.far.push(e)
		return
	}
	q.insert(e)
}

func (q *eventQueue) insert(e event) {
	i := int(e.t>>bucketShift) & wheelMask
	bk := append(q.buckets[i], e)
	for j := len(bk) - 1; j > 0 && e.before(&bk[j-1]); j-- {
		bk[j], bk[j-1] = bk[j-1], e
	}
	q.buckets[i] = bk
	q.used[i>>6] |= 1 << (i & 63)
	q.n++
}

// nextUsed returns the first used bucket at or after cur, circularly; the
// wheel must not be empty.
func (q *eventQueue) nextUsed() int {
	w := q.cur >> 6
	if m := q.used[w] &^ (1<<(q.cur&63) - 1); m != 0 {
		return w<<6 | bits.TrailingZeros64(m)
	}
	for k := 1; k <= len(q.used); k++ {
		w2 := (w + k) % len(q.used)
		if m := q.used[w2]; m != 0 {
			return w2<<6 | bits.TrailingZeros64(m)
		}
	}
	panic("sim: empty timing wheel")
}

// advance moves the wheel's start to base (a bucket boundary) and takes in
// the far events that now fall inside the horizon.
func (q *eventQueue) advance(base int64) {
	q.base = base
	q.cur = int(base>>bucketShift) & wheelMask
	for len(q.far.h) > 0 && q.far.h[0].t-q.base < horizon {
		q.insert(q.far.pop())
	}
}

// pop removes and returns the earliest event; the queue must not be empty.
func (q *eventQueue) pop() event {
	if q.n == 0 {
		q.advance(q.far.h[0].t &^ (1<<bucketShift - 1))
	}
	i := q.nextUsed()
	if i != q.cur {
		q.advance(q.base + int64((i-q.cur)&wheelMask)<<bucketShift)
	}
	bk := q.buckets[i]
	e := bk[0]
	copy(bk, bk[1:])
	bk = bk[:len(bk)-1]
	q.buckets[i] = bk
	if len(bk) == 0 {
		q.used[i>>6] &^= 1 << (i & 63)
	}
	q.n--
	return e
}

// farHeap is a 4-ary min-heap of events ordered by (time, sequence).
type farHeap struct{ h []event }

func (f *farHeap) push(e event) {
	f.h = append(f.h, e)
	h := f.h
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 4
		if !e.before(&h[p]) {
			break
		}
		h[i] = h[p]
		i = p
	}
	h[i] = e
}

func (f *farHeap) pop() event {
	h := f.h
	top := h[0]
	n := len(h) - 1
	e := h[n]
	h = h[:n]
	f.h = h
	if n == 0 {
		return top
	}
	i := 0
	for {
		c := 4*i + 1
		if c >= n {
			break
		}
		m := c
		for j := c + 1; j < min(c+4, n); j++ {
			if h[j].before(&h[m]) {
				m = j
			}
		}
		if !h[m].before(&e) {
			break
		}
		h[i] = h[m]
		i = m
	}
	h[i] = e
	return top
}
