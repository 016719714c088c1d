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
	evSlice                     // a CFS time slice ends on a core: a = core, b = generation
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
// in a heap. Buckets are narrow (16 ns) so that most hold one event, kept
// in place, and few hold events of different instants, which need a walk
// whose exit the branch predictor cannot guess (64 ns buckets were 10%
// slower).
const (
	bucketShift = 4
	wheelBits   = 12
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
// A bucket holds its first event in place, and any others in a sorted list
// threaded through a pool of nodes. Buckets are narrow, so most hold one
// event, and pushing or popping it touches only the bucket: no node to take
// from a free list or to follow. (A slice per bucket spread the events over
// thousands of small arrays, and every pop of the next bucket was a cache
// miss; a list per bucket cost a dependent load per push and pop.) A later
// event of the bucket usually goes last in its list (among the events of one
// instant the new one is the latest): one comparison with the tail, no walk.
//
// The queue always knows its first bucket (minIdx), and the time and
// sequence of its earliest event (firstT, firstSK), which the simulator
// compares with the downlink's pending event, kept outside the queue, before
// every event.
//
// Invariants: every wheel event has base ≤ t < base + horizon, and every far
// event has t ≥ base + horizon, so each far event is later than every wheel
// event; minIdx is the first used bucket from cur on when the wheel is not
// empty. Events must not be scheduled before the last one popped.
type eventQueue struct {
	buckets [wheelSize]bucket
	used    [wheelSize / 64]uint64
	nodes   []qnode // nodes[0] is unused, so that 0 means none
	free    int32   // first free node, 0 if none
	base    int64   // start of the bucket at cur
	cur     int
	minIdx  int // first used bucket, from cur on
	n       int // events in the wheel
	// The earliest event's time and seqKind, when the queue is not empty.
	firstT  int64
	firstSK uint64
	far     farHeap
	seq     uint64
}

// bucket is one slot of the wheel: its first event, valid when its bit in
// used is set, and the list of its later events, in order.
type bucket struct {
	e          event
	more, last int32 // first and last nodes of the list, 0 if empty
}

// qnode is a later event in a bucket's list, or a free node.
type qnode struct {
	e    event
	next int32
}

func (q *eventQueue) Len() int { return q.n + len(q.far.h) }

// push schedules an event.
func (q *eventQueue) push(t int64, kind evKind, a, b int32) {
	q.seq++
	q.insert(t, q.seq<<8|uint64(kind), a, b)
}

// reserve takes the sequence number an event of this kind scheduled now
// would get, for an event the caller keeps outside the queue, and returns
// its seqKind: ordering it against the queue's events by (time, seqKind)
// is then exactly as if it had been pushed.
func (q *eventQueue) reserve(kind evKind) uint64 {
	q.seq++
	return q.seq<<8 | uint64(kind)
}

// before reports whether an event at t with seqKind sk would come before
// every queued event.
func (q *eventQueue) before(t int64, sk uint64) bool {
	return q.Len() == 0 || t < q.firstT || t == q.firstT && sk < q.firstSK
}

// insert puts an event in the wheel, or in the far heap if it is beyond the
// horizon. It takes the event's fields rather than an event, and stores them
// one by one: an event passed by value is spilled field by field and
// reloaded in wider pieces, and those loads stall waiting for the stores
// (the store-to-load forwarding failure cost a tenth of the run time).
func (q *eventQueue) insert(t int64, seqKind uint64, a, b int32) {
	if q.before(t, seqKind) {
		q.firstT, q.firstSK = t, seqKind
	}
	if t-q.base >= horizon {
		q.far.push(event{t: t, seqKind: seqKind, a: a, b: b})
		return
	}
	i := int(t>>bucketShift) & wheelMask
	bk := &q.buckets[i]
	q.n++
	if q.used[i>>6]&(1<<(i&63)) == 0 { // the bucket was empty
		bk.e.t, bk.e.seqKind, bk.e.a, bk.e.b = t, seqKind, a, b
		q.used[i>>6] |= 1 << (i & 63)
		if q.n == 1 || (i-q.cur)&wheelMask < (q.minIdx-q.cur)&wheelMask {
			q.minIdx = i
		}
		return
	}
	ni := q.newNode()
	nodes := q.nodes
	nd := &nodes[ni]
	nd.e.t, nd.e.seqKind, nd.e.a, nd.e.b = t, seqKind, a, b
	switch {
	case bk.last != 0 && !nd.e.before(&nodes[bk.last].e): // the new event goes last
		nd.next = 0
		nodes[bk.last].next = ni
		bk.last = ni
	case nd.e.before(&bk.e): // it goes first: the first event moves to the list
		nd.e, bk.e = bk.e, nd.e
		nd.next = bk.more
		bk.more = ni
		if bk.last == 0 {
			bk.last = ni
		}
	case bk.more == 0: // it starts the list
		nd.next = 0
		bk.more, bk.last = ni, ni
	case nd.e.before(&nodes[bk.more].e): // it heads the list
		nd.next = bk.more
		bk.more = ni
	default: // after the last node that is before it, and before the last
		prev := bk.more
		for nx := nodes[prev].next; nodes[nx].e.before(&nd.e); nx = nodes[nx].next {
			prev = nx
		}
		nd.next = nodes[prev].next
		nodes[prev].next = ni
	}
}

// newNode takes a node from the free list, or grows the pool.
func (q *eventQueue) newNode() int32 {
	if ni := q.free; ni != 0 {
		q.free = q.nodes[ni].next
		return ni
	}
	if len(q.nodes) == 0 {
		q.nodes = make([]qnode, 1, 64)
	}
	q.nodes = append(q.nodes, qnode{})
	return int32(len(q.nodes) - 1)
}

// nextUsedAfterWord returns the first used bucket after the bitmap word w,
// circularly; the wheel must not be empty.
func (q *eventQueue) nextUsedAfterWord(w int) int {
	for k := 1; k <= len(q.used); k++ {
		w2 := (w + k) % len(q.used)
		if m := q.used[w2]; m != 0 {
			return w2<<6 | bits.TrailingZeros64(m)
		}
	}
	panic("sim: empty timing wheel")
}

// advance moves the wheel's start to base (a bucket boundary at or before
// the earliest event) and takes in the far events that now fall inside the
// horizon.
func (q *eventQueue) advance(base int64) {
	q.base = base
	q.cur = int(base>>bucketShift) & wheelMask
	if len(q.far.h) > 0 && q.far.h[0].t-q.base < horizon {
		q.pullFar()
	}
}

// pullFar moves the far events that fall inside the horizon to the wheel.
func (q *eventQueue) pullFar() {
	for len(q.far.h) > 0 && q.far.h[0].t-q.base < horizon {
		e := q.far.pop()
		q.insert(e.t, e.seqKind, e.a, e.b)
	}
}

// pop removes and returns the earliest event; the queue must not be empty.
func (q *eventQueue) pop() event {
	if q.n == 0 {
		q.advance(q.far.h[0].t &^ (1<<bucketShift - 1))
	}
	i := q.minIdx
	if i != q.cur {
		q.base += int64((i-q.cur)&wheelMask) << bucketShift
		q.cur = i
		if len(q.far.h) > 0 && q.far.h[0].t-q.base < horizon {
			q.pullFar()
		}
	}
	bk := &q.buckets[i]
	e := bk.e
	q.n--
	if ni := bk.more; ni != 0 { // the list's first becomes the bucket's first
		nd := &q.nodes[ni]
		bk.e = nd.e
		bk.more = nd.next
		if nd.next == 0 {
			bk.last = 0
		}
		nd.next = q.free
		q.free = ni
	} else {
		w := i >> 6
		m := q.used[w] &^ (1 << (i & 63))
		q.used[w] = m
		if q.n > 0 { // find the next used bucket, usually in the same word
			if m &^= 1<<(i&63) - 1; m != 0 {
				q.minIdx = w<<6 | bits.TrailingZeros64(m)
			} else {
				q.minIdx = q.nextUsedAfterWord(w)
			}
		}
	}
	if q.n > 0 {
		f := &q.buckets[q.minIdx].e
		q.firstT, q.firstSK = f.t, f.seqKind
	} else if len(q.far.h) > 0 {
		q.firstT, q.firstSK = q.far.h[0].t, q.far.h[0].seqKind
	}
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
