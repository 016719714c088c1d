package rx

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/homalb/homalb/wire"
)

// Errors of Call and Send; test with errors.Is. A timed-out call's error
// also matches context.DeadlineExceeded, a cancelled one's
// context.Canceled.
var (
	// ErrTimeout: the call's deadline passed before it completed.
	ErrTimeout = errors.New("rx: deadline passed before the RPC completed")
	// ErrNoResponse: the server ended the RPC without a response (its
	// application released the request without replying, or gave up on the
	// response).
	ErrNoResponse = errors.New("rx: the server ended the RPC without a response")
	// ErrClientClosed: the client was closed.
	ErrClientClosed = errors.New("rx: client closed")
	// ErrTooLong: a request, or the server's response, longer than the
	// client accepts.
	ErrTooLong = errors.New("rx: message too long")
	// ErrOverloaded: the deadline passed after the server had refused the
	// request at the door (its queues were full); it comes with
	// ErrTimeout. A refused request is sent
	// again on the timer's backoff (resend interval × 2, 4, …), not at
	// once, which would only add to the overload.
	ErrOverloaded = errors.New("rx: server overloaded, request shed")
)

// ClientConfig tunes a Client. The zero value is Homa's defaults.
type ClientConfig struct {
	// UnschedBytes is the bytes of a request sent before the server grants
	// more, and the bytes the client keeps granted beyond what arrived for
	// each response it grants (default 60,000).
	UnschedBytes int
	// MaxOvercommit is the responses granted at once (default 8).
	MaxOvercommit int
	// MaxIncoming bounds the response bytes granted but not yet received
	// (default 480,000).
	MaxIncoming int
	// ResendInterval is how long a call may go without a packet from the
	// server before the client asks for missing response bytes or probes
	// the server (default 10 ms).
	ResendInterval time.Duration
	// Timeout is the deadline of a call whose context has none (default
	// 10 s).
	Timeout time.Duration
	// MaxMessageLen is the longest request or response (default
	// 1,000,000).
	MaxMessageLen int
	// MaxInflightBytes bounds the response bytes being assembled (default
	// 64 MiB); beyond it response packets are dropped and asked for again
	// later.
	MaxInflightBytes int64
	// SocketBuffer is the socket's kernel buffers in bytes (default 4 MiB).
	SocketBuffer int
	// Faults are injected into the client's send path.
	Faults Faults
	// Sender is the client's sender id (default random).
	Sender uint64
	// MaxCalls bounds the calls and one-way messages in progress at once
	// (default DefaultMaxCalls; negative: no bound). More wait in Call or
	// Send for one to end, until their context ends, as HTTP/2 streams
	// wait beyond MAX_CONCURRENT_STREAMS: what a client has in progress
	// is what it asks of the server, and a client with thousands of calls
	// in progress, against a server that is full, only makes them all
	// wait longer, probing, while the responses queue unread.
	MaxCalls int
}

// DefaultMaxCalls is ClientConfig.MaxCalls's default. Over loopback on a
// 2-core VM, a server echoes about 60k calls/s: 4 clients of 64 calls
// each queue about 4 ms of work there, enough to keep it busy and less
// than a resend interval, so that waiting calls do not probe. With 256
// each, the queue was 20 ms, every call on the wire probed, and 2x load
// completed 13% fewer calls (README, "rx on a hostile network").
const DefaultMaxCalls = 64

// Validate reports the first field of c that cannot work, as an error
// matching ErrConfig.
func (c ClientConfig) Validate() error {
	var tp transportParams
	if err := tp.set(c.UnschedBytes, c.MaxOvercommit, c.MaxIncoming, c.ResendInterval, DefaultCompletedCap, c.Faults); err != nil {
		return err
	}
	switch {
	case c.Timeout < 0:
		return configErr("timeout %v is negative", c.Timeout)
	case c.MaxMessageLen < 0 || c.MaxMessageLen > MaxMessageLenLimit:
		return configErr("max message length %d out of range 1..%d", c.MaxMessageLen, MaxMessageLenLimit)
	case c.MaxInflightBytes < 0 || c.SocketBuffer < 0:
		return configErr("in-flight bytes %d and socket buffer %d must not be negative", c.MaxInflightBytes, c.SocketBuffer)
	}
	return nil
}

// DefaultCallTimeout is ClientConfig.Timeout's default.
const DefaultCallTimeout = 10 * time.Second

// clientShards is the number of independently locked parts of a client's
// table of calls.
const clientShards = 16

// Client sends requests to one Server and waits for their responses, with
// Homa's flow control and recovery (see the package doc): many calls may be
// in flight from many goroutines; each has a unique message id. A reader
// goroutine takes the server's packets (responses, grants, resends) and a
// timer goroutine asks for what is missing. A Client is safe for
// concurrent use.
type Client struct {
	conn    *net.UDPConn
	rd      *batchReader
	peer    netip.AddrPort
	sender  uint64
	nextID  atomic.Uint64
	x       *xmitter
	tp      transportParams
	timeout time.Duration
	maxMsg  int
	maxResp int64
	epoch   time.Time

	shards    [clientShards]callShard
	grants    grantSched
	respBytes atomic.Int64 // reserved for responses being assembled
	inflight  atomic.Int64 // requests held and responses being assembled
	staleAcks atomic.Uint32
	ctr       clientCounters
	slots     chan struct{} // one token per call in progress; nil: no bound

	done      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

type callShard struct {
	mu sync.Mutex
	m  map[uint64]*clientCall
	_  [48]byte
}

// clientCall is a call or one-way message in progress. Guarded by its shard's
// lock, except g (see grantee).
type clientCall struct {
	id        uint64
	oneWay    bool
	req       outMsg
	resp      *[]byte // the response, from its first packet
	asm       assembly
	scheduled bool   // the response needs grants
	sgrant    uint32 // the highest grant the server's DATA packets reported
	g         grantee
	startNs   int64
	heardNs   int64  // last packet from the server about this call
	pokeNs    int64  // when the timer may next send a RESEND or probe
	pokes     uint8  // timer packets since the server was last heard: the backoff's exponent
	cookie    uint64 // the server's cookie for this RPC, echoed in every packet (0: none yet)
	deadline  int64
	xmits     uint32
	restarts  int
	shed      bool            // the server refused the request at the door; the timer sends it again
	sheds     int             // times the server refused it
	result    chan callResult // one slot: the outcome, sent once
}

// ctlHeader is a control packet of type t about cl.
func (cl *clientCall) ctlHeader(c *Client, t wire.Type, f wire.Flags, msgLen uint32) wire.Header {
	return wire.Header{Type: t, Flags: f, Sender: c.sender, MsgID: cl.id, MsgLen: msgLen, Cookie: cl.cookie}
}

// heard records a packet from the server about cl at now: the timer's
// backoff starts over.
func (cl *clientCall) heard(now int64) { cl.heardNs, cl.pokes, cl.pokeNs = now, 0, now }

// backOff doubles the wait before the timer's next packet about cl: a
// resend interval, 2×, 4×, … up to 2^maxBackoff intervals.
func (cl *clientCall) backOff(now, resend int64) {
	cl.pokes = min(cl.pokes+1, maxBackoff)
	cl.pokeNs = now + resend<<cl.pokes
}

type callResult struct {
	resp []byte
	err  error
}

type clientCounters struct {
	calls, completed, failed          atomic.Uint64
	pktsIn, dataOut, retrans          atomic.Uint64
	grantsOut, grantsIn, resendsOut   atomic.Uint64
	resendsIn, probes, restarts, acks atomic.Uint64
	shed, waited                      atomic.Uint64
	drops                             [NumDropReasons]atomic.Uint64
}

// ClientStats is a snapshot of a client's counters.
type ClientStats struct {
	// Calls counts calls and one-way messages started, Completed those
	// that succeeded, Failed the others; Pending are in progress.
	Calls, Completed, Failed uint64
	Pending                  int
	// InflightBytes are held now: requests in progress and responses
	// being assembled.
	InflightBytes int64
	// PacketsSent counts every packet sent (before faults), PacketsReceived
	// every datagram read.
	PacketsSent, PacketsReceived uint64
	// DataSent counts request DATA packets, Retransmitted those sent again.
	DataSent, Retransmitted uint64
	// GrantsSent and ResendsSent concern responses; GrantsReceived and
	// ResendsReceived requests. Probes asked the server about a silent
	// call, Restarts sent a request again from its start (UNKNOWN), Acks
	// ended RPCs at the server, Shed requests the server refused at the
	// door (sent again later), Waited calls that waited for one of
	// MaxCalls to end before they started.
	GrantsSent, GrantsReceived, ResendsSent, ResendsReceived uint64
	Probes, Restarts, Acks, Shed, Waited                     uint64
	// Drops counts the packets the client could not use, by reason.
	Drops [NumDropReasons]uint64
	// Faults are the faults injected into the client's send path.
	Faults FaultStats
}

// Dial returns a client of the server at addr ("IP:PORT") with the default
// configuration.
func Dial(addr string) (*Client, error) { return DialConfig(addr, ClientConfig{}) }

// DialConfig returns a client of the server at addr, sending from a socket
// of its own.
func DialConfig(addr string, cfg ClientConfig) (*Client, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, fmt.Errorf("rx: dial %q: %w", addr, err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("rx: dial %s: %w", addr, err)
	}
	c := &Client{peer: ap, sender: cfg.Sender, timeout: cfg.Timeout, maxMsg: cfg.MaxMessageLen,
		maxResp: cfg.MaxInflightBytes, epoch: time.Now(), done: make(chan struct{})}
	_ = c.tp.set(cfg.UnschedBytes, cfg.MaxOvercommit, cfg.MaxIncoming, cfg.ResendInterval, DefaultCompletedCap, cfg.Faults)
	c.timeout = cmp.Or(c.timeout, DefaultCallTimeout)
	if calls := cmp.Or(cfg.MaxCalls, DefaultMaxCalls); calls > 0 {
		c.slots = make(chan struct{}, calls)
	}
	c.maxMsg = cmp.Or(c.maxMsg, DefaultMaxMessageLen)
	c.maxResp = cmp.Or(c.maxResp, DefaultMaxInflightBytes)
	if c.sender == 0 { // a random id only when none was given
		c.sender = rand.Uint64() | 1
	}
	sockBuf := cfg.SocketBuffer
	sockBuf = cmp.Or(sockBuf, DefaultSocketBuffer)
	c.conn, err = net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(ap))
	if err != nil {
		return nil, fmt.Errorf("rx: dial %s: %w", addr, err)
	}
	_, _ = setSocketBuffers(c.conn, sockBuf) // best effort
	if c.rd, err = newBatchReader(c.conn, DefaultReadBurst); err != nil {
		_ = c.conn.Close()
		return nil, fmt.Errorf("rx: dial %s: %w", addr, err)
	}
	if c.x, err = newXmitter(c.conn, true); err != nil {
		_ = c.conn.Close()
		return nil, fmt.Errorf("rx: dial %s: %w", addr, err)
	}
	c.x.faults = newFaultLine(c.x, c.tp.faults, "client-faults")
	for i := range c.shards {
		c.shards[i].m = make(map[uint64]*clientCall)
	}
	c.grants.init(c.tp.overcommit, c.tp.unsched, c.tp.maxIncoming)
	c.wg.Add(2)
	go pprof.Do(context.Background(), pprof.Labels("rx", "client-reader"), func(context.Context) { c.runReader() })
	go pprof.Do(context.Background(), pprof.Labels("rx", "client-timer"), func(context.Context) { c.runTimer() })
	return c, nil
}

// LocalAddr returns the client's address, the From of its messages.
func (c *Client) LocalAddr() netip.AddrPort { return c.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// Sender returns the client's sender id.
func (c *Client) Sender() uint64 { return c.sender }

func (c *Client) clock() int64 { return int64(time.Since(c.epoch)) }

func (c *Client) drop(r DropReason) { c.ctr.drops[r].Add(1) }

func (c *Client) shard(id uint64) *callShard { return &c.shards[id%clientShards] }

func (c *Client) sender0(tx *txScratch) pktSender {
	return pktSender{x: c.x, buf: &tx.buf, q: &tx.batch, lazy: tx.lazy}
}

// Call sends req and waits for the response (a message flagged
// FlagResponse with req's id) until ctx ends or, if ctx has no deadline,
// ClientConfig.Timeout passes. The response is the caller's; req must not
// change until Call returns. The error says what failed: ErrTimeout (with
// how far the call got), ErrNoResponse, ErrClientClosed, ErrTooLong, or
// the context's error.
func (c *Client) Call(ctx context.Context, req []byte) ([]byte, error) {
	return c.start(ctx, req, false)
}

// Send sends msg as a one-way message and waits until the server's
// application took it (the server acknowledges when it releases the
// message, or when it answers it), or ctx ends. msg must not change until
// Send returns.
func (c *Client) Send(ctx context.Context, msg []byte) error {
	_, err := c.start(ctx, msg, true)
	return err
}

func (c *Client) start(ctx context.Context, req []byte, oneWay bool) ([]byte, error) {
	if len(req) == 0 || len(req) > c.maxMsg {
		return nil, fmt.Errorf("rx: message of %d bytes, want 1..%d: %w", len(req), c.maxMsg, ErrTooLong)
	}
	select {
	case <-c.done:
		return nil, ErrClientClosed
	default:
	}
	if err := ctx.Err(); err != nil {
		return nil, ctxError(err)
	}
	if err := c.acquire(ctx); err != nil {
		return nil, err
	}
	now := c.clock()
	cl := &clientCall{id: c.nextID.Add(1), oneWay: oneWay, startNs: now, heardNs: now, pokeNs: now + int64(c.tp.resend),
		deadline: now + int64(c.timeout), result: make(chan callResult, 1)}
	if d, ok := ctx.Deadline(); ok {
		cl.deadline = int64(d.Sub(c.epoch))
	}
	cl.req = outMsg{data: req, granted: uint32(min(len(req), c.tp.unsched))}
	c.ctr.calls.Add(1)
	c.inflight.Add(int64(len(req)))
	sh := c.shard(cl.id)
	tx := txScratchPool.Get().(*txScratch)
	sh.mu.Lock()
	sh.m[cl.id] = cl
	n, err := c.sender0(tx).sendGranted(c.peer, wire.Header{Sender: c.sender, MsgID: cl.id}, &cl.req, &cl.xmits)
	c.ctr.dataOut.Add(uint64(n))
	if err != nil && errors.Is(err, net.ErrClosed) {
		c.finishLocked(sh, cl, nil, ErrClientClosed, false, tx)
	} // other send errors count as losses: the timer recovers
	sh.mu.Unlock()
	txScratchPool.Put(tx)
	select {
	case r := <-cl.result:
		return r.resp, r.err
	case <-ctx.Done():
		return c.abort(cl, ctxError(ctx.Err()))
	case <-c.done:
		return c.abort(cl, ErrClientClosed)
	}
}

// acquire takes a token for one more call in progress, waiting for one
// to end while MaxCalls are, until ctx ends or the client closes. The
// call's finishLocked gives it back.
func (c *Client) acquire(ctx context.Context) error {
	if c.slots == nil {
		return nil
	}
	select {
	case c.slots <- struct{}{}:
		return nil
	default:
	}
	c.ctr.waited.Add(1)
	select {
	case c.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctxError(ctx.Err())
	case <-c.done:
		return ErrClientClosed
	}
}

// ctxError is the error of a call whose context ended: a passed deadline
// is a timeout.
func ctxError(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w (%w)", ErrTimeout, err)
	}
	return err
}

// abort ends cl with err unless it ended meanwhile, and returns its
// outcome.
func (c *Client) abort(cl *clientCall, err error) ([]byte, error) {
	sh := c.shard(cl.id)
	tx := txScratchPool.Get().(*txScratch)
	sh.mu.Lock()
	if sh.m[cl.id] == cl {
		c.finishLocked(sh, cl, nil, c.callError(cl, err), !errors.Is(err, ErrClientClosed), tx)
	}
	sh.mu.Unlock()
	c.flushGrants(tx)
	txScratchPool.Put(tx)
	r := <-cl.result
	return r.resp, r.err
}

// callError describes how far cl got.
func (c *Client) callError(cl *clientCall, err error) error {
	if cl.sheds > 0 && errors.Is(err, ErrTimeout) {
		err = fmt.Errorf("%w (refused %d times: %w)", err, cl.sheds, ErrOverloaded)
	}
	got := "none of the response"
	if cl.resp != nil {
		got = fmt.Sprintf("%d of %d response bytes", cl.asm.have, cl.asm.length)
	}
	kind := "call"
	if cl.oneWay {
		kind, got = "one-way message", "not acknowledged"
	}
	return fmt.Errorf("rx: %s %d to %s (%d bytes) after %v: %d request bytes granted, %s: %w",
		kind, cl.id, c.peer, len(cl.req.data), time.Duration(c.clock()-cl.startNs).Round(time.Microsecond),
		cl.req.granted, got, err)
}

// finishLocked ends cl with its outcome: out of the table, its memory
// freed (a response given to the caller leaves the budget), the server
// told with ACK when ack is set.
func (c *Client) finishLocked(sh *callShard, cl *clientCall, resp []byte, err error, ack bool, tx *txScratch) {
	delete(sh.m, cl.id)
	if c.slots != nil {
		<-c.slots
	}
	if cl.scheduled {
		c.grants.remove(&cl.g, &tx.grants)
	}
	if ack {
		if ps := c.sender0(tx); ps.queues() {
			c.ackLater(tx, cl)
		} else if ps.ctl(c.peer, cl.ctlHeader(c, wire.TypeAck, 0, 0), &cl.xmits) == nil {
			c.ctr.acks.Add(1)
		}
	}
	if cl.resp != nil {
		n := int64(cl.asm.length)
		c.respBytes.Add(-n)
		c.inflight.Add(-n)
		if resp == nil {
			putMsgBuf(cl.resp)
		}
		cl.resp = nil
	}
	c.inflight.Add(-int64(len(cl.req.data)))
	if err != nil {
		c.ctr.failed.Add(1)
	} else {
		c.ctr.completed.Add(1)
	}
	cl.result <- callResult{resp: resp, err: err}
}

// flushGrants sends the GRANTs collected in tx.
func (c *Client) flushGrants(tx *txScratch) {
	gl := &tx.grants
	for i := range gl.g[:gl.n] {
		g := &gl.g[i]
		h := wire.Header{Type: wire.TypeGrant, Flags: g.flags, Sender: g.sender, MsgID: g.id, MsgLen: g.length,
			GrantOffset: g.offset, Cookie: g.cookie}
		if c.sender0(tx).ctlKey(c.peer, h, grantFaultKey(g.id, g.offset)) == nil {
			c.ctr.grantsOut.Add(1)
		}
		*g = grantOut{}
	}
	gl.n = 0
}

// Stats returns a snapshot of the client's counters.
func (c *Client) Stats() ClientStats {
	k := &c.ctr
	st := ClientStats{
		Calls: k.calls.Load(), Completed: k.completed.Load(), Failed: k.failed.Load(),
		InflightBytes: c.inflight.Load(), PacketsSent: c.x.packets.Load(), PacketsReceived: k.pktsIn.Load(),
		DataSent: k.dataOut.Load(), Retransmitted: k.retrans.Load(),
		GrantsSent: k.grantsOut.Load(), GrantsReceived: k.grantsIn.Load(),
		ResendsSent: k.resendsOut.Load(), ResendsReceived: k.resendsIn.Load(),
		Probes: k.probes.Load(), Restarts: k.restarts.Load(), Acks: k.acks.Load(), Shed: k.shed.Load(), Waited: k.waited.Load(),
		Faults: c.x.faults.stats(),
	}
	for r := range st.Drops {
		st.Drops[r] = k.drops[r].Load()
	}
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		st.Pending += len(sh.m)
		sh.mu.Unlock()
	}
	return st
}

// Close ends pending calls with ErrClientClosed, frees their memory, closes
// the socket and waits for the client's goroutines.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		close(c.done)
		c.x.close()
		c.closeErr = c.conn.Close()
		c.wg.Wait()
		tx := new(txScratch)
		for i := range c.shards {
			sh := &c.shards[i]
			sh.mu.Lock()
			for _, cl := range sh.m {
				c.finishLocked(sh, cl, nil, c.callError(cl, ErrClientClosed), false, tx)
			}
			sh.mu.Unlock()
			tx.grants.n = 0
		}
	})
	return c.closeErr
}
