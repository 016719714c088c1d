package rx

import (
	"bytes"
	"context"
	"encoding/binary"
	"math/rand/v2"
	"net"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/homalb/homalb/wire"
)

// callTimeout bounds one attempt of a test call; it only matters when the
// loopback lost a packet, and then the call is retried.
const (
	callTimeout  = 3 * time.Second
	callAttempts = 4
)

// listen starts a server for a test; it is closed at the end of the test.
func listen(t testing.TB, cfg Config) *Server {
	t.Helper()
	if cfg.Logf == nil {
		cfg.Logf = t.Logf
	}
	s, err := Listen(cfg)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func dial(t testing.TB, s *Server) *Client {
	t.Helper()
	c, err := Dial(s.Addr().String())
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// checkNoLeaks fails t if goroutines started since before are still
// running after a short grace period.
func checkNoLeaks(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			var b strings.Builder
			_ = pprof.Lookup("goroutine").WriteTo(&b, 1)
			t.Errorf("%d goroutines running, %d before:\n%s", runtime.NumGoroutine(), before, b.String())
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// payload is the test message number seq of client ci: its identity in the
// first 16 bytes, then a pattern both ends can check.
func payload(ci, seq, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(ci*31 + seq*7 + i*13 + i>>8)
	}
	binary.BigEndian.PutUint64(b, uint64(ci))
	binary.BigEndian.PutUint64(b[8:], uint64(seq))
	return b
}

// identify checks a payload and returns its identity.
func identify(b []byte) (ci, seq int, ok bool) {
	if len(b) < 16 {
		return 0, 0, false
	}
	ci, seq = int(binary.BigEndian.Uint64(b)), int(binary.BigEndian.Uint64(b[8:]))
	return ci, seq, bytes.Equal(b, payload(ci, seq, len(b)))
}

// w2Size draws a message size shaped like W2 (mean ≈ 440 B, 97% of one
// packet): mostly tiny, some up to a packet, a few of a handful of packets.
func w2Size(rng *rand.Rand) int {
	switch p := rng.IntN(100); {
	case p < 70:
		return 16 + rng.IntN(300)
	case p < 97:
		return 316 + rng.IntN(MaxPayload-316+1)
	default:
		return MaxPayload + 1 + rng.IntN(5*MaxPayload)
	}
}

// recorder is a test handler's memory of what the server delivered.
type recorder struct {
	mu    sync.Mutex
	byID  map[[2]uint64]int // (sender, message id) → deliveries
	bySeq map[[2]int]int    // (client, seq) → deliveries
	bad   int
}

func newRecorder() *recorder {
	return &recorder{byID: make(map[[2]uint64]int), bySeq: make(map[[2]int]int)}
}

func (r *recorder) note(m *Message) {
	ci, seq, ok := identify(m.Data)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byID[[2]uint64{m.Sender, m.ID}]++
	if !ok {
		r.bad++
		return
	}
	r.bySeq[[2]int{ci, seq}]++
}

// echo is the test's echo handler.
func (r *recorder) echo(m *Message) {
	r.note(m)
	_ = m.Reply(m.Data)
}

// check asserts what the issue asks of delivery: every message byte-exact,
// no message (sender, id) delivered twice, every test message at least once.
func (r *recorder) check(t *testing.T, clients, perClient int) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.bad > 0 {
		t.Errorf("%d messages delivered with wrong bytes", r.bad)
	}
	for id, n := range r.byID {
		if n != 1 {
			t.Errorf("message %x/%d delivered %d times", id[0], id[1], n)
		}
	}
	for ci := range clients {
		for seq := range perClient {
			if r.bySeq[[2]int{ci, seq}] == 0 {
				t.Errorf("client %d message %d never delivered", ci, seq)
			}
		}
	}
}

// call sends req and checks that the response is req, retrying a lost
// message (with a new message id) a few times.
func call(t *testing.T, c *Client, req []byte) {
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		resp, err := c.Call(ctx, req)
		cancel()
		if err == nil {
			if !bytes.Equal(resp, req) {
				t.Errorf("response of %d bytes differs from the request", len(req))
			}
			return
		}
		if attempt == callAttempts {
			t.Errorf("call of %d bytes: %v (after %d attempts)", len(req), err, attempt)
			return
		}
		t.Logf("call of %d bytes: %v; retrying", len(req), err)
	}
}

// blast writes msg as message id of sender: every DATA packet at once,
// declared unscheduled (no grants needed), without the protocol (no
// retransmission): for tests and benchmarks that fill queues. Use ids a
// Client does not issue (≥ 1<<40) so that the server's answers are
// ignored.
func blast(t testing.TB, conn *net.UDPConn, sender, id uint64, msg []byte) {
	t.Helper()
	if err := sendBlind(conn, sender, id, msg); err != nil {
		t.Fatal(err)
	}
}

// sendBlind is blast's work, for goroutines that may not call t.Fatal.
func sendBlind(conn *net.UDPConn, sender, id uint64, msg []byte) error {
	var buf [MaxDatagram]byte
	h := wire.Header{Type: wire.TypeData, Sender: sender, MsgID: id, MsgLen: uint32(len(msg)), GrantOffset: uint32(len(msg))}
	for off := 0; off < len(msg); off += MaxPayload {
		h.Offset = uint32(off)
		n, err := wire.Encode(buf[:], h, msg[off:min(off+MaxPayload, len(msg))])
		if err != nil {
			return err
		}
		if _, err := conn.Write(buf[:n]); err != nil {
			return err
		}
	}
	return nil
}
