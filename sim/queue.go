package sim

// evKind says what an event does when it fires.
type evKind uint8

const (
	evArrival     evKind = iota // the next message leaves its sender
	evLinkDone                  // the downlink finished a packet: it reaches the NIC
	evGrant                     // a grant takes effect at the sender: a = message, b = new limit
	evCoreStep                  // a core finished its softirq step: a = core, b = generation
	evBatchArrive               // a handed-off batch reaches its SoftIRQ core: a = batch
	evThreadDone                // a thread finished its work phase: a = thread, b = generation
	evPollEnd                   // a polling thread gives up and sleeps: a = thread, b = generation
	evWake                      // a woken thread wants a core: a = thread
	evRespGrant                 // a GRANT for one of the host's responses arrives: a = sender, b = how many follow
	evDeferEnd                  // ksoftirqd's wait on a core is over: a = core
	evStop                      // end of the run
)

// event is a value type: the queue holds no pointers, so it costs the garbage
// collector nothing and allocates only when it grows.
type event struct {
	t    int64
	seq  uint64
	kind evKind
	a, b int32
}

func (e *event) before(o *event) bool {
	return e.t < o.t || e.t == o.t && e.seq < o.seq
}

// eventQueue is a binary min-heap ordered by (time, sequence number), so that
// events at the same time fire in the order they were scheduled and runs are
// deterministic.
type eventQueue struct {
	h   []event
	seq uint64
}

func (q *eventQueue) Len() int { return len(q.h) }

// push schedules an event.
func (q *eventQueue) push(t int64, kind evKind, a, b int32) {
	q.seq++
	q.h = append(q.h, event{t: t, seq: q.seq, kind: kind, a: a, b: b})
	h := q.h
	i := len(h) - 1
	e := h[i]
	for i > 0 {
		p := (i - 1) / 2
		if !e.before(&h[p]) {
			break
		}
		h[i] = h[p]
		i = p
	}
	h[i] = e
}

// pop removes and returns the earliest event; the queue must not be empty.
func (q *eventQueue) pop() event {
	h := q.h
	top := h[0]
	n := len(h) - 1
	e := h[n]
	q.h = h[:n]
	h = q.h
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		if r := l + 1; r < n && h[r].before(&h[l]) {
			l = r
		}
		if !h[l].before(&e) {
			break
		}
		h[i] = h[l]
		i = l
	}
	if n > 0 {
		h[i] = e
	}
	return top
}
