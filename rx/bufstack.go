package rx

import "sync"

// bufStack is a GRO thread's idle receive buffers and batches, the last
// freed first out: a buffer a batch just gave back is likely still in the
// caches, where the next read's copy finds it, while a queue would cycle
// every buffer through memory (2,048 buffers of 2 KB are 4 MB). SoftIRQ threads give
// back a batch with its buffers under one lock; only the owning GRO thread
// fills its slots and takes batches.
type bufStack struct {
	mu      sync.Mutex
	bufs    []*pktBuf
	batches []*batch
	waiting bool          // the owner found the stack empty and waits on avail
	avail   chan struct{} // one token: buffers came back while the owner waited
}

func newBufStack(n int) *bufStack {
	return &bufStack{bufs: make([]*pktBuf, 0, n), avail: make(chan struct{}, 1)}
}

// push returns b to the stack.
func (s *bufStack) push(b *pktBuf) {
	s.mu.Lock()
	s.bufs = append(s.bufs, b)
	s.wakeLocked()
}

// give returns batch b, emptied, and its buffers to the stack.
func (s *bufStack) give(b *batch) {
	s.mu.Lock()
	for i := range b.pkts[:b.n] {
		p := &b.pkts[i]
		if p.buf != nil {
			s.bufs = append(s.bufs, p.buf)
		}
		*p = pkt{}
	}
	b.n = 0
	s.batches = append(s.batches, b)
	s.wakeLocked()
}

// wakeLocked unlocks s, waking the owner when it waits for buffers.
func (s *bufStack) wakeLocked() {
	wake := s.waiting
	s.waiting = false
	s.mu.Unlock()
	if wake {
		select {
		case s.avail <- struct{}{}:
		default:
		}
	}
}

// batch takes an idle batch of owner, or a new one.
func (s *bufStack) batch(owner *groThread) *batch {
	s.mu.Lock()
	var b *batch
	if k := len(s.batches); k > 0 {
		b = s.batches[k-1]
		s.batches[k-1] = nil
		s.batches = s.batches[:k-1]
	}
	s.mu.Unlock()
	if b == nil {
		b = &batch{owner: owner}
	}
	return b
}

// fill gives every nil slot a buffer while there are any.
func (s *bufStack) fill(slots []*pktBuf) {
	s.mu.Lock()
	for i := range slots {
		k := len(s.bufs)
		if k == 0 {
			break
		}
		if slots[i] == nil {
			slots[i] = s.bufs[k-1]
			s.bufs[k-1] = nil
			s.bufs = s.bufs[:k-1]
		}
	}
	s.mu.Unlock()
}

// wait marks the owner as waiting on avail, unless buffers came back
// meanwhile; it reports whether the owner should block.
func (s *bufStack) wait() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.bufs) > 0 {
		return false
	}
	s.waiting = true
	return true
}
