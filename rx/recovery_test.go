package rx

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/homalb/homalb/balance"
	"github.com/homalb/homalb/wire"
)

// faultLoad is the load of the recovery tests: callers per client × calls
// each, one call outstanding per caller.
func faultLoad() (callers, calls int) {
	if raceEnabled {
		return 6, 25
	}
	return 8, 50
}

// TestRecoveryUnderFaults: with 10% loss, 5% duplication and 10%
// reordering on the send paths of both the clients and the server, every
// call either completes with exactly its response or fails with a timeout
// error; every request reaches the application at most once; and once the
// calls are over nothing is left: no RPC and no in-flight byte on either
// side, no goroutine after Close.
func TestRecoveryUnderFaults(t *testing.T) {
	before := runtime.NumGoroutine()
	faults := Faults{Loss: 0.10, Dup: 0.05, Reorder: 0.10, ReorderWindow: time.Millisecond, Seed: 42}
	srvFaults := faults
	srvFaults.Seed = 43
	rec := newRecorder()
	s := listen(t, Config{Policy: "gen3", GROCores: []int{0}, SoftIRQCores: []int{1}, AppCores: []int{1}, Threads: 2,
		ResendInterval: 2 * time.Millisecond, MessageTimeout: 400 * time.Millisecond, Faults: srvFaults,
		UnschedBytes: 20_000, MaxOvercommit: 2})
	go func() { _ = s.Serve(rec.echo) }()

	callers, calls := faultLoad()
	const clients = 2
	var cs []*Client
	for ci := range clients {
		f := faults
		f.Seed += uint64(ci) * 100
		c, err := DialConfig(s.Addr().String(), ClientConfig{Faults: f, ResendInterval: 2 * time.Millisecond, UnschedBytes: 20_000, MaxOvercommit: 2})
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	var ok, timedOut atomic.Int64
	var wg sync.WaitGroup
	for ci, c := range cs {
		for k := range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(ci), uint64(k)))
				for seq := range calls {
					n := w2Size(rng)
					if seq%10 == 9 {
						n = 60_000 + rng.IntN(100_000) // scheduled, several grants
					}
					req := payload(ci*100+k, seq, n)
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					resp, err := c.Call(ctx, req)
					cancel()
					switch {
					case err == nil && bytes.Equal(resp, req):
						ok.Add(1)
					case err == nil:
						t.Errorf("call of %d bytes: wrong response of %d bytes", n, len(resp))
					case errors.Is(err, ErrTimeout) && errors.Is(err, context.DeadlineExceeded):
						timedOut.Add(1)
						t.Logf("timed out: %v", err)
					default:
						t.Errorf("call of %d bytes: %v", n, err)
					}
				}
			}()
		}
	}
	wg.Wait()
	total := int64(clients * callers * calls)
	t.Logf("%d of %d calls completed, %d timed out", ok.Load(), total, timedOut.Load())
	if ok.Load() < total*9/10 {
		t.Errorf("only %d of %d calls completed under 10%% loss", ok.Load(), total)
	}

	// Every request reached the application at most once.
	rec.mu.Lock()
	if rec.bad > 0 {
		t.Errorf("%d requests delivered corrupt", rec.bad)
	}
	for id, n := range rec.byID {
		if n != 1 {
			t.Errorf("request %x/%d delivered %d times", id[0], id[1], n)
		}
	}
	for id, n := range rec.bySeq {
		if n != 1 {
			t.Errorf("request %v delivered %d times", id, n)
		}
	}
	rec.mu.Unlock()

	// The clients stay up to answer the server's questions about lost
	// ACKs; the server's state drains to nothing.
	for _, c := range cs {
		if st := c.Stats(); st.InflightBytes != 0 || st.Pending != 0 {
			t.Errorf("client: %d bytes and %d calls in flight after the calls returned", st.InflightBytes, st.Pending)
		}
	}
	eventually(t, "the server's RPCs and in-flight bytes drain to zero", func() bool {
		st := s.Stats()
		return st.Transport.RPCs == 0 && st.InflightBytes == 0
	})
	st := s.Stats()
	var faultsSeen FaultStats
	for _, c := range cs {
		cst := c.Stats()
		faultsSeen.Lost += cst.Faults.Lost
		faultsSeen.Duplicated += cst.Faults.Duplicated
		t.Logf("client: %+v", cst)
		_ = c.Close()
	}
	t.Logf("server transport: %+v", st.Transport)
	t.Logf("server drops: %v", st.Drops)
	if faultsSeen.Lost == 0 || faultsSeen.Duplicated == 0 || st.Transport.Faults.Lost == 0 {
		t.Errorf("faults not injected: clients %+v, server %+v", faultsSeen, st.Transport.Faults)
	}
	if st.Transport.GrantsSent == 0 || st.Transport.Retransmitted == 0 || st.Drops[DropDuplicate] == 0 {
		t.Errorf("flow control or recovery not exercised: %+v", st.Transport)
	}
	_ = s.Close()
	if st := s.Stats(); st.InflightBytes != 0 {
		t.Errorf("%d bytes in flight after Close", st.InflightBytes)
	}
	checkNoLeaks(t, before)
}

// TestGarbageFlood: a flood of garbage (random datagrams, well-formed
// packets of messages that never complete, control packets for RPCs that
// do not exist) while valid calls run: the valid calls complete, the
// garbage is dropped and counted, the server's memory stays within its
// budget, and what the garbage started times out and is freed.
func TestGarbageFlood(t *testing.T) {
	before := runtime.NumGoroutine()
	const budget = 8 << 20
	s := listen(t, Config{Policy: "gen2", Threads: 2, MaxInflightBytes: budget,
		MessageTimeout: 200 * time.Millisecond, ResendInterval: 5 * time.Millisecond})
	go func() { _ = s.Serve(Echo) }()
	c := dial(t, s)

	flooder, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(s.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer flooder.Close()
	stop := make(chan struct{})
	var peak atomic.Int64
	var floodWG sync.WaitGroup
	floodWG.Add(2)
	go func() { // the flood: bounded in count
		defer floodWG.Done()
		rng := rand.New(rand.NewPCG(7, 7))
		buf := make([]byte, 2000)
		junk := make([]byte, MaxPayload)
		n := 20_000
		if raceEnabled {
			n = 6_000
		}
		for i := range n {
			select {
			case <-stop:
				return
			default:
			}
			var pkt []byte
			switch i % 8 {
			case 0: // a first packet of a message that never completes
				h := wire.Header{Type: wire.TypeData, Sender: rng.Uint64(), MsgID: rng.Uint64(), MsgLen: 20_000, GrantOffset: 20_000}
				k, _ := wire.Encode(buf, h, junk)
				pkt = buf[:k]
			case 1: // control packets about nothing
				h := wire.Header{Type: wire.Type(2 + rng.IntN(5)), Sender: rng.Uint64(), MsgID: rng.Uint64()}
				k, _ := wire.Encode(buf, h, nil)
				pkt = buf[:k]
			default: // noise, sometimes with a valid magic
				pkt = buf[:rng.IntN(1600)]
				for j := range pkt {
					pkt[j] = byte(rng.Uint32())
				}
				if len(pkt) > 2 && i%3 == 0 {
					pkt[0], pkt[1] = 'H', 'L'
				}
			}
			_, _ = flooder.Write(pkt)
			if i%64 == 0 {
				time.Sleep(100 * time.Microsecond) // leave the loopback some room
			}
		}
	}()
	go func() { // memory watch
		defer floodWG.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
				peak.Store(max(peak.Load(), s.Stats().InflightBytes))
			}
		}
	}()
	n := 200
	if raceEnabled {
		n = 80
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for seq := range n {
		size := w2Size(rng)
		if seq%20 == 0 {
			size = 150_000
		}
		req := payload(0, seq, size)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		resp, err := c.Call(ctx, req)
		cancel()
		if err != nil || !bytes.Equal(resp, req) {
			t.Errorf("valid call %d of %d bytes during the flood: %v", seq, size, err)
		}
	}
	close(stop)
	floodWG.Wait()
	st := s.Stats()
	t.Logf("peak in flight %d bytes (budget %d); drops %v; transport %+v", peak.Load(), budget, st.Drops, st.Transport)
	// Requests are admitted within the budget; the responses of the two
	// handlers may pass it, by at most one large response each.
	if limit := int64(budget + 2*150_000); peak.Load() > limit {
		t.Errorf("in-flight bytes peaked at %d, over the budget of %d and two responses", peak.Load(), budget)
	}
	if st.Drops[DropMalformed]+st.Drops[DropTruncated] == 0 {
		t.Error("no garbage was counted")
	}
	eventually(t, "the garbage's messages time out and free their memory", func() bool {
		st := s.Stats()
		return st.InflightBytes == 0 && st.Transport.RPCs == 0
	})
	var b strings.Builder
	final := s.Stats()
	_ = final.WriteText(&b)
	t.Log("\n" + b.String())
	_ = c.Close()
	_ = s.Close()
	checkNoLeaks(t, before)
}

// TestLateDuplicate: a request's packet that arrives after its RPC ended
// is dropped as stale, not taken for a new request (it used to start a new
// partial message, or deliver a one-packet request twice).
func TestLateDuplicate(t *testing.T) {
	rec := newRecorder()
	s := listen(t, Config{Threads: 1})
	go func() { _ = s.Serve(rec.echo) }()
	c := dial(t, s)
	call(t, c, payload(0, 0, 100))
	call(t, c, payload(0, 1, 3000))
	eventually(t, "the calls' RPCs end", func() bool { return s.Stats().Transport.RPCs == 0 })
	// Both requests again, as the client sent them (ids 1 and 2).
	blast(t, c.conn, c.Sender(), 1, payload(0, 0, 100))
	blast(t, c.conn, c.Sender(), 2, payload(0, 1, 3000))
	eventually(t, "the duplicates are dropped as stale", func() bool { return s.Stats().Drops[DropStale] == 1+3 })
	rec.check(t, 1, 2)
	if st := s.Stats(); st.Transport.RPCs != 0 || st.InflightBytes != 0 {
		t.Errorf("duplicates left %d RPCs, %d bytes", st.Transport.RPCs, st.InflightBytes)
	}
}

// TestCallErrors: a call to nobody times out with a clear error, matching
// ErrTimeout and context.DeadlineExceeded; a cancelled call matches
// context.Canceled; a request released without a response fails with
// ErrNoResponse and a one-way message released completes; nothing stays
// in flight on the client.
func TestCallErrors(t *testing.T) {
	// Nobody listens: the probes go unanswered until the deadline.
	dead, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	addr := dead.LocalAddr().String()
	c, err := DialConfig(addr, ClientConfig{ResendInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	_, err = c.Call(ctx, make([]byte, 100_000))
	cancel()
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("call to nobody: %v, want ErrTimeout and DeadlineExceeded", err)
	} else if !strings.Contains(err.Error(), "60000 request bytes granted") || !strings.Contains(err.Error(), addr) {
		t.Errorf("error does not say how far the call got: %v", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	go func() { time.Sleep(5 * time.Millisecond); cancel() }()
	if _, err := c.Call(ctx, []byte("x")); !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
		t.Errorf("cancelled call: %v", err)
	}
	// The client's own timeout, without a context deadline.
	c2, err := DialConfig(addr, ClientConfig{Timeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Call(context.Background(), []byte("x")); !errors.Is(err, ErrTimeout) {
		t.Errorf("call past the client's timeout: %v", err)
	}
	if _, err := c.Call(context.Background(), nil); !errors.Is(err, ErrTooLong) {
		t.Errorf("empty request: %v", err)
	}
	for _, cl := range []*Client{c, c2} {
		if st := cl.Stats(); st.InflightBytes != 0 || st.Pending != 0 {
			t.Errorf("client holds %d bytes, %d calls", st.InflightBytes, st.Pending)
		}
		_ = cl.Close()
	}
	dead.Close()

	// A server that answers nothing: Release without Reply.
	s := listen(t, Config{Threads: 1})
	go func() { _ = s.Serve(func(m *Message) {}) }()
	c = dial(t, s)
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Call(ctx, make([]byte, 5000)); !errors.Is(err, ErrNoResponse) {
		t.Errorf("call released without a response: %v, want ErrNoResponse", err)
	}
	if err := c.Send(ctx, make([]byte, 100_000)); err != nil {
		t.Errorf("one-way message: %v", err)
	}
	if _, err := c.Call(ctx, make([]byte, 2_000_000)); !errors.Is(err, ErrTooLong) {
		t.Errorf("2 MB request: %v, want ErrTooLong", err)
	}
	_ = c.Close()
	if _, err := c.Call(ctx, []byte("x")); !errors.Is(err, ErrClientClosed) {
		t.Errorf("call after Close: %v", err)
	}
	eventually(t, "server RPCs end", func() bool { st := s.Stats(); return st.Transport.RPCs == 0 && st.InflightBytes == 0 })
}

// TestClientCloseEndsCalls: Close ends the calls in progress with
// ErrClientClosed and frees their memory.
func TestClientCloseEndsCalls(t *testing.T) {
	dead, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	c, err := Dial(dead.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			_, err := c.Call(context.Background(), make([]byte, 70_000))
			errs <- err
		}()
	}
	eventually(t, "the calls start", func() bool { return c.Stats().Pending == 4 })
	_ = c.Close()
	for range 4 {
		if err := <-errs; !errors.Is(err, ErrClientClosed) {
			t.Errorf("call ended by Close: %v", err)
		}
	}
	if st := c.Stats(); st.InflightBytes != 0 || st.Pending != 0 {
		t.Errorf("closed client holds %d bytes, %d calls", st.InflightBytes, st.Pending)
	}
}

// TestGrantsTakeTheGROPath: the client's GRANTs for large responses reach
// the server as packets through GRO, where the policy's grant bypass
// (HomaModule's homa_gro_receive: "a GRANT runs SoftIRQ inline on g
// when that bypass is enabled and g is not busy") acts on them: with only
// the grant bypass on, every packet run inline is a GRANT; with it off,
// none is.
func TestGrantsTakeTheGROPath(t *testing.T) {
	for _, bypass := range []bool{true, false} {
		opts := balance.DefaultOptions()
		opts.ShortBypass, opts.SameCoreSingle, opts.GrantBypass = false, false, bypass
		opts.GROBusyNs = 0 // the GRO core is never busy: every grant may bypass
		s := listen(t, Config{Policy: "gen3", Options: &opts, GROCores: []int{0}, SoftIRQCores: []int{1}, AppCores: []int{1}, Threads: 2})
		go func() { _ = s.Serve(Echo) }()
		c := dial(t, s)
		for i := range 4 {
			call(t, c, payload(0, i, 300_000))
		}
		st := s.Stats()
		inline, grants := st.Cores[0].InlinePackets, st.Transport.GrantsReceived
		t.Logf("bypass %v: %d grants received, %d packets inline on the GRO core", bypass, grants, inline)
		switch {
		case grants == 0:
			t.Error("no GRANT reached the server")
		case bypass && inline != grants:
			t.Errorf("grant bypass on: %d packets inline, want the %d grants", inline, grants)
		case !bypass && inline != 0:
			t.Errorf("grant bypass off: %d packets inline", inline)
		}
		_ = c.Close()
		_ = s.Close()
	}
}

// TestDeadlineFreesBothSides: a call that cannot complete in time fails
// with ErrTimeout and both ends free its memory: a request the handler
// still holds (its late Reply then fails with ErrRPCEnded), and a request
// whose bytes were still arriving.
func TestDeadlineFreesBothSides(t *testing.T) {
	replied := make(chan error, 1)
	release := make(chan struct{})
	s := listen(t, Config{Threads: 1})
	go func() {
		_ = s.Serve(func(m *Message) {
			if len(m.Data) == 100 { // the slow one
				<-release
				replied <- m.Reply(m.Data)
				return
			}
			_ = m.Reply(m.Data)
		})
	}()
	c := dial(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	_, err := c.Call(ctx, make([]byte, 100))
	cancel()
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("slow call: %v, want ErrTimeout", err)
	}
	eventually(t, "the server forgets the RPC the client gave up", func() bool { return s.Stats().Transport.RPCs == 0 })
	close(release)
	if err := <-replied; !errors.Is(err, ErrRPCEnded) {
		t.Errorf("late reply: %v, want ErrRPCEnded", err)
	}
	eventually(t, "the server frees the request", func() bool { return s.Stats().InflightBytes == 0 })

	// Every packet of the client arrives 100 ms late: the call ends at 50
	// ms with most of its request unsent; the server, when the first
	// packets come, starts the request and is told to forget it.
	slow, err := DialConfig(s.Addr().String(), ClientConfig{Faults: Faults{Delay: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	_, err = slow.Call(ctx, make([]byte, 500_000))
	cancel()
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "60000 request bytes granted") {
		t.Fatalf("call with late packets: %v", err)
	}
	if st := slow.Stats(); st.InflightBytes != 0 || st.Pending != 0 {
		t.Errorf("client holds %d bytes, %d calls", st.InflightBytes, st.Pending)
	}
	eventually(t, "the server saw the request and freed it", func() bool {
		st := s.Stats()
		return st.Transport.AcksReceived >= 2 && st.Transport.RPCs == 0 && st.InflightBytes == 0
	})
}

// TestExpiredContext: a call whose context already ended fails at once,
// with the context's error (a passed deadline is a timeout).
func TestExpiredContext(t *testing.T) {
	s := listen(t, Config{})
	c := dial(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), -time.Second)
	defer cancel()
	if _, err := c.Call(ctx, []byte("x")); !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("call with a passed deadline: %v", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if err := c.Send(ctx, []byte("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("send with a cancelled context: %v", err)
	}
	if st := c.Stats(); st.Calls != 0 || st.InflightBytes != 0 {
		t.Errorf("calls that never started counted: %+v", st)
	}
}
