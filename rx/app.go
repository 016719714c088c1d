package rx

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/homalb/homalb/wire"
)

// Message is a complete message handed to the application. Its fields are
// valid until Release; Data is the message's bytes, in a pooled buffer.
type Message struct {
	// From is the sender's address; Sender and ID its endpoint and message
	// ids (wire.Header's Sender and MsgID).
	From   netip.AddrPort
	Sender uint64
	ID     uint64
	// Flags are the flags of the message's first packet to arrive.
	Flags wire.Flags
	// Data is the message.
	Data []byte

	srv     *Server
	buf     *[]byte    // the bytes received so far; Data once complete
	charged int64      // bytes of buf charged to the in-flight budget
	replied bool       // Reply was called
	tx      *txScratch // the taking thread's lazy send scratch; nil: a pooled one, flushed at once
	asm     assembly
	sock    int    // socket that received it, and sends the reply
	core    int    // core of the thread that took it; −1 before
	cores   uint64 // SoftIRQ cores that processed its packets
	firstNs int64
	lastNs  int64 // latest packet, for the timeout
	readyNs int64 // completion
}

var msgPool = sync.Pool{New: func() any { return new(Message) }}

// newMessage takes a message of length n. Its buffer comes as its bytes
// arrive (Server.grow).
func (s *Server) newMessage(k msgKey, n uint32, f wire.Flags, sock int, now int64) *Message {
	m := msgPool.Get().(*Message)
	*m = Message{From: k.from, Sender: k.sender, ID: k.id, Flags: f,
		srv: s, sock: sock, core: -1, firstNs: now, lastNs: now}
	m.asm.reset(n)
	return m
}

// free returns m's bytes to the budget and m to its pools.
func (s *Server) free(m *Message) {
	s.inflight.Add(-m.charged)
	if m.buf != nil {
		putMsgBuf(m.buf)
	}
	*m = Message{}
	msgPool.Put(m)
}

// Release gives the message back to the pipeline: its bytes count against
// the in-flight budget until then. m must not be used afterwards. Serve
// releases the messages it hands to a handler when the handler returns.
//
// Releasing a message that was not replied to ends its RPC without a
// response: the server tells the sender with ACK, which completes a
// Client.Send and fails a Client.Call with ErrNoResponse.
func (m *Message) Release() {
	s := m.srv
	if s == nil {
		return
	}
	if !m.replied {
		s.endUnanswered(msgKey{from: m.From, sender: m.Sender, id: m.ID}, m.tx)
	}
	s.free(m)
}

// endUnanswered ends the RPC of a request released without a response.
func (s *Server) endUnanswered(k msgKey, tx *txScratch) {
	sh := s.msgs.shard(&k)
	if tx == nil {
		tx = txScratchPool.Get().(*txScratch)
		defer txScratchPool.Put(tx)
	}
	sh.mu.Lock()
	if r := sh.m[k]; r != nil && r.state == rpcProcessing {
		h, ps := r.ctlHeader(wire.TypeAck, 0, 0), s.rpcSender(r, tx)
		if ps.queues() {
			s.ackLater(tx, r.sock, k.from, h)
			s.tc.ctlOut[wire.TypeAck].Add(1)
		} else if ps.ctl(k.from, h, &r.xmits) == nil {
			s.tc.ctlOut[wire.TypeAck].Add(1)
		}
		s.endLocked(sh, r, true, tx)
	}
	sh.mu.Unlock()
	s.flushGrants(tx)
}

// Reply sends data to the message's sender as the response to it: DATA
// packets flagged FlagResponse with the request's Sender and ID, from the
// socket that received the request. The first UnschedBytes go at once, the
// rest as the client grants them; data is copied, and the copy is held (in
// the in-flight budget) until the client acknowledges it. It counts as
// application activity of the core of the thread that took the message. A
// message takes one Reply; after the client gave up on the RPC, Reply
// returns ErrRPCEnded.

func (m *Message) Reply(data []byte) error {
	return m.srv.reply(m, data)
}

// ErrRPCEnded is returned by Reply when the RPC ended before the response:
// the client gave up on it (or it was already answered).
var ErrRPCEnded = errors.New("rx: the RPC ended before the response")

// Handler processes one message on an application thread of Serve. m and
// m.Data are valid only until the handler returns.
type Handler func(m *Message)

// Echo is the handler of the echo server: it replies with the request's
// bytes (a response of the request's size).
func Echo(m *Message) { _ = m.Reply(m.Data) }

// appState is the handoff of complete messages to application threads:
// the waiting threads (newest first) and the messages no thread waited for.
type appState struct {
	mu      sync.Mutex
	waiters []*waiter // newest first
	cores   []int     // scratch: the waiters' cores, for ChooseThread
	ready   []*Message
	head, n int          // ring of ready messages
	headNs  atomic.Int64 // readyNs of the oldest ready message, 0 when none: the queue's delay, for admission control
	closed  bool
}

func (a *appState) init(depth, threads int) {
	a.ready = make([]*Message, depth)
	a.waiters = make([]*waiter, 0, threads)
	a.cores = make([]int, 0, threads)
}

// waiter is one thread waiting for a message.
type waiter struct {
	core       int
	msg        atomic.Pointer[Message]
	wake       chan struct{} // one slot: a delivery to a sleeping waiter
	registered bool          // in appState.waiters (guarded by its mu)
}

func newWaiter(core int) *waiter { return &waiter{core: core, wake: make(chan struct{}, 1)} }

var waiterPool = sync.Pool{New: func() any { return newWaiter(0) }}

// deliver hands a complete message to a waiting thread, chosen by the
// policy's thread chooser among the waiters (newest first), or queues it
// for the next thread that asks.
func (s *Server) deliver(m *Message) {
	now := s.clock()
	m.readyNs = now
	a := &s.app
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		s.forget(msgKey{from: m.From, sender: m.Sender, id: m.ID})
		s.free(m)
		return
	}
	if len(a.waiters) > 0 {
		a.cores = a.cores[:0]
		for _, w := range a.waiters {
			a.cores = append(a.cores, w.core)
		}
		i := s.bal.ChooseThread(a.cores, now)
		w := a.waiters[i]
		a.waiters = append(a.waiters[:i], a.waiters[i+1:]...)
		w.registered = false
		w.msg.Store(m)
		a.mu.Unlock()
		select {
		case w.wake <- struct{}{}:
		default:
		}
		return
	}
	if a.n == len(a.ready) {
		a.mu.Unlock()
		s.drop(DropReadyFull)
		s.forget(msgKey{from: m.From, sender: m.Sender, id: m.ID})
		s.free(m)
		return
	}
	a.ready[(a.head+a.n)%len(a.ready)] = m
	a.n++
	if a.n == 1 {
		a.headNs.Store(m.readyNs)
	}
	a.mu.Unlock()
}

// popLocked takes the oldest ready message, or returns nil.
func (a *appState) popLocked() *Message {
	if a.n == 0 {
		return nil
	}
	m := a.ready[a.head]
	a.ready[a.head] = nil
	a.head = (a.head + 1) % len(a.ready)
	a.n--
	if a.n == 0 {
		a.headNs.Store(0)
	} else {
		a.headNs.Store(a.ready[a.head].readyNs)
	}
	return m
}

// pop takes the oldest ready message, or returns nil.
func (a *appState) pop() *Message {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.popLocked()
}

// close refuses further deliveries and frees the queued messages.
func (a *appState) close(s *Server) {
	a.mu.Lock()
	a.closed = true
	for ; a.n > 0; a.n-- {
		s.free(a.ready[a.head])
		a.ready[a.head] = nil
		a.head = (a.head + 1) % len(a.ready)
	}
	a.headNs.Store(0)
	a.mu.Unlock()
}

// wait returns the next message for w's thread: a queued one, else one
// delivered while it polls (Poll, marking its core app-active at each
// iteration), else one delivered while it sleeps. ctx (may be nil) and
// Close end the wait. tx is the thread's lazy send scratch (nil: none):
// what the thread queued there goes out before it polls, so that under
// load the replies of many messages leave in one sendmmsg, and at once
// when the thread runs out of work.
func (s *Server) wait(ctx context.Context, w *waiter, tx *txScratch) (*Message, error) {
	now := s.clock()
	s.tab.AppActive(w.core, now) // receive entry
	a := &s.app
	a.mu.Lock()
	m := a.popLocked()
	if m == nil && tx != nil && (tx.batch.n > 0 || tx.acks.n > 0) {
		a.mu.Unlock() // no sending under the lock every delivery takes
		s.flushApp(tx)
		now = s.clock()
		a.mu.Lock()
		m = a.popLocked()
	}
	if m != nil {
		a.mu.Unlock()
		return s.take(m, w.core, now), nil
	}
	if a.closed {
		a.mu.Unlock()
		return nil, ErrClosed
	}
	select { // a token left by an earlier delivery found while polling
	case <-w.wake:
	default:
	}
	a.waiters = append(a.waiters, nil)
	copy(a.waiters[1:], a.waiters)
	a.waiters[0] = w
	w.registered = true
	a.mu.Unlock()

	if poll := int64(s.l.Poll); poll > 0 {
		for deadline := now + poll; now < deadline; {
			if m := w.msg.Swap(nil); m != nil {
				return s.take(m, w.core, now), nil
			}
			now = s.clock()
			s.tab.AppActive(w.core, now)
		}
	}
	var cancel <-chan struct{}
	if ctx != nil {
		cancel = ctx.Done()
	}
	for {
		select {
		case <-w.wake:
			if m := w.msg.Swap(nil); m != nil {
				return s.take(m, w.core, s.clock()), nil
			}
		case <-cancel:
			return s.abandon(w, ctx.Err())
		case <-s.appStop:
			return s.abandon(w, ErrClosed)
		}
	}
}

// abandon ends a wait without a message, unless one was delivered meanwhile.
func (s *Server) abandon(w *waiter, err error) (*Message, error) {
	a := &s.app
	a.mu.Lock()
	if w.registered {
		for i, x := range a.waiters {
			if x == w {
				a.waiters = append(a.waiters[:i], a.waiters[i+1:]...)
				break
			}
		}
		w.registered = false
		a.mu.Unlock()
		return nil, err
	}
	a.mu.Unlock()
	if m := w.msg.Swap(nil); m != nil { // stored under the lock: here by now
		return s.take(m, w.core, s.clock()), nil
	}
	return nil, err
}

// take records the handoff of m to a thread of core.
func (s *Server) take(m *Message, core int, now int64) *Message {
	m.core = core
	s.appHist[core].record(now - m.readyNs)
	s.counters[core].appMessages.Add(1)
	s.messages.Add(1)
	s.msgBytes.Add(uint64(len(m.Data)))
	return m
}

// Serve runs h on the configured application threads (Threads of them on
// AppCores, round-robin), each pinned to its core's CPU, until Close; then
// it returns ErrClosed. Each thread waits for messages as Receive does. A
// server runs Serve at most once.
func (s *Server) Serve(h Handler) error {
	if h == nil {
		return errors.New("rx: Serve: nil handler")
	}
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		return ErrClosed
	}
	if s.serving {
		s.mu.Unlock()
		return errors.New("rx: Serve called twice")
	}
	s.serving = true
	var mine sync.WaitGroup
	mine.Add(s.l.Threads)
	s.wgApp.Add(s.l.Threads)
	s.mu.Unlock()
	for i := range s.l.Threads {
		core := s.l.AppCores[i%len(s.l.AppCores)]
		go func() {
			defer mine.Done()
			s.roleGoroutine("app", core, &s.wgApp, nil, func() { s.runApp(core, h) })
		}()
	}
	mine.Wait()
	return ErrClosed
}

// runApp is an application thread's loop.
//
// The thread sends through a lazy scratch of its own: its replies and
// ACKs queue there (ACKs gathered per client, see ackBatch) and leave in
// one sendmmsg when the batch fills or the thread finds no message
// waiting (see wait).
func (s *Server) runApp(core int, h Handler) {
	w := newWaiter(core)
	tx := &txScratch{lazy: true}
	defer s.flushApp(tx)
	cnt := &s.counters[core]
	for {
		m, err := s.wait(context.Background(), w, tx)
		if err != nil {
			return
		}
		t0 := s.clock()
		m.tx = tx
		h(m)
		m.Release()
		cnt.appNs.Add(s.clock() - t0)
	}
}

// Receive waits for the next message, for callers that bring their own
// threads. The calling thread's core is the logical core mapped to the CPU
// it runs on (the first application core there, else the first core), read
// when the wait starts. The caller must Release the message.
func (s *Server) Receive(ctx context.Context) (*Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	w := waiterPool.Get().(*waiter)
	w.core = s.callerCore()
	m, err := s.wait(ctx, w, nil)
	waiterPool.Put(w)
	return m, err
}

func (s *Server) callerCore() int {
	if cpu, ok := currentCPU(); ok {
		if c, ok := s.cpuCore[cpu]; ok {
			return c
		}
	}
	return s.l.AppCores[0]
}

// reply sends a response to m's sender.
func (s *Server) reply(m *Message, data []byte) error {
	if s == nil {
		return errors.New("rx: reply to a released message")
	}
	if s.closing.Load() {
		return ErrClosed
	}
	if m.replied {
		return fmt.Errorf("rx: reply to %v message %d: %w", m.From, m.ID, ErrRPCEnded)
	}
	m.replied = true
	if len(data) == 0 || len(data) > s.l.MaxMessageLen {
		s.replyErr.Add(1)
		return fmt.Errorf("rx: reply of %d bytes: want 1..%d", len(data), s.l.MaxMessageLen)
	}
	now := s.clock()
	if m.core >= 0 {
		s.tab.AppActive(m.core, now)
	}
	// A response is charged to the in-flight budget but never refused: the
	// budget admits requests, and a response answers one admitted already.
	n := int64(len(data))
	s.inflight.Add(n)
	buf := getMsgBuf(len(data))
	copy(*buf, data)
	k := msgKey{from: m.From, sender: m.Sender, id: m.ID}
	sh := s.msgs.shard(&k)
	tx := m.tx
	if tx == nil {
		tx = txScratchPool.Get().(*txScratch)
		defer txScratchPool.Put(tx)
	}
	sh.mu.Lock()
	r := sh.m[k]
	if r == nil || r.state != rpcProcessing {
		sh.mu.Unlock()
		s.inflight.Add(-n)
		putMsgBuf(buf)
		return fmt.Errorf("rx: reply to %v message %d: %w", m.From, m.ID, ErrRPCEnded)
	}
	r.state = rpcResponding
	r.outBuf = buf
	r.out = outMsg{data: *buf, granted: uint32(min(len(data), s.l.transport.unsched))}
	r.progress(now, int64(s.l.transport.resend))
	var sent int
	var err error
	if r.afford(wireBytes(r.out.granted)) {
		sent, err = s.rpcSender(r, tx).sendGranted(k.from, r.respHeader(), &r.out, &r.xmits)
	} else {
		// A response larger than what an unproven client sent waits for
		// the client to show the cookie this BUSY carries (it answers with
		// a probe): the server must not be a reflector.
		s.busy(r, tx)
	}
	sh.mu.Unlock()
	s.tc.dataOut.Add(uint64(sent))
	if err != nil { // the rest goes out when the client asks for it
		s.replyErr.Add(1)
		return fmt.Errorf("rx: reply to %v message %d: %w", m.From, m.ID, err)
	}
	s.replies.Add(1)
	return nil
}
