package rx

import "sync"

// bufStack is a GRO thread's idle receive buffers, the last freed first
// out: a buffer a batch just gave back is likely still in the caches, where
// the next read's copy finds it, while a queue would cycle every buffer
// through memory (2,048 buffers of 2 KB are 4 MB). SoftIRQ and application
// threads push; only the owning GRO thread fills its slots.
type bufStack struct {
	mu      sync.Mutex
	bufs    []*pktBuf
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
