package rx

import (
	"context"
	"encoding/binary"
	"runtime"
	"testing"
	"time"

	"github.com/homalb/homalb/wire"
)

// eventually waits until cond holds, for up to 5 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Errorf("never: %s", what)
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// rawPacket encodes a packet for direct writing.
func rawPacket(t *testing.T, h wire.Header, payload []byte) []byte {
	t.Helper()
	b := make([]byte, wire.HeaderLen+len(payload))
	if _, err := wire.Encode(b, h, payload); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDrops: malformed, truncated, oversized, too long, over-budget,
// duplicate and unsupported packets are dropped and counted by reason, and
// valid traffic from the same socket goes on around them.
func TestDrops(t *testing.T) {
	before := runtime.NumGoroutine()
	s := listen(t, Config{Policy: "gen2", MaxMessageLen: 200_000, MaxInflightBytes: 150_000, Threads: 1, MessageTimeout: time.Minute})
	go func() { _ = s.Serve(Echo) }()
	c := dial(t, s)
	write := func(b []byte) {
		t.Helper()
		if _, err := c.conn.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	good := rawPacket(t, wire.Header{Type: wire.TypeData, Sender: c.Sender(), MsgID: 1 << 40, MsgLen: 100}, make([]byte, 100))

	want := [NumDropReasons]uint64{}
	// Truncated: shorter than a header; payload length past the datagram.
	write(good[:10])
	write(good[:wire.HeaderLen+50])
	want[DropTruncated] += 2
	// Malformed: bad magic, bad version, trailing bytes, segment past the end.
	bad := append([]byte(nil), good...)
	bad[0] = 'X'
	write(bad)
	bad = append([]byte(nil), good...)
	bad[2] = 9
	write(bad)
	write(append(append([]byte(nil), good...), 0))
	bad = append([]byte(nil), good...)
	binary.BigEndian.PutUint32(bad[28:], 50) // offset 50 + 100 bytes > 100
	write(bad)
	want[DropMalformed] += 4
	// Oversized: a datagram longer than an MTU's worth.
	write(make([]byte, MaxDatagram+1))
	write(make([]byte, 4000))
	want[DropOversized] += 2
	// Too long: a message over MaxMessageLen.
	write(rawPacket(t, wire.Header{Type: wire.TypeData, Sender: c.Sender(), MsgID: 1<<40 + 1, MsgLen: 300_000}, make([]byte, 1000)))
	want[DropTooLong]++
	// Stale: a GRANT for a response the server does not hold.
	write(rawPacket(t, wire.Header{Type: wire.TypeGrant, Flags: wire.FlagResponse, Sender: c.Sender(), MsgID: 7, MsgLen: 100, GrantOffset: 50}, nil))
	want[DropStale]++
	// Unsupported: BUSY is a client's business, and so is a response.
	write(rawPacket(t, wire.Header{Type: wire.TypeBusy, Sender: c.Sender(), MsgID: 7}, nil))
	write(rawPacket(t, wire.Header{Type: wire.TypeData, Flags: wire.FlagResponse, Sender: c.Sender(), MsgID: 1<<40 + 3, MsgLen: 10}, make([]byte, 10)))
	want[DropUnsupported] += 2
	// Ungranted: a 160 KB message sent blind. The server takes its
	// unscheduled packets (the 43 that start below 60,000) and drops every
	// packet past them: they need the cookie of a GRANT.
	blast(t, c.conn, c.Sender(), 1<<40+4, make([]byte, 160_000))
	want[DropUngranted] += (160_000+MaxPayload-1)/MaxPayload - (DefaultUnschedBytes+MaxPayload-1)/MaxPayload
	// Duplicate: the first segment of a two-packet message twice.
	h := wire.Header{Type: wire.TypeData, Sender: c.Sender(), MsgID: 1<<40 + 2, MsgLen: 2000}
	first := rawPacket(t, h, make([]byte, 1000))
	write(first)
	write(first)
	want[DropDuplicate]++
	h.Offset = 1000
	second := rawPacket(t, h, make([]byte, 1000))
	write(second) // completes it: echoed, ignored by the client
	// Late duplicates of a complete message are duplicates, not a new message.
	write(first)
	write(second)
	want[DropDuplicate] += 2

	// Valid traffic goes on: after the garbage on the same socket.
	for i := range 5 {
		call(t, c, payload(0, i, 100+i*3000))
	}
	eventually(t, "drop counts reach the expected", func() bool {
		st := s.Stats()
		return st.Drops == want
	})
	st := s.Stats()
	for r := range NumDropReasons {
		if st.Drops[r] != want[r] {
			t.Errorf("drops %v = %d, want %d", r, st.Drops[r], want[r])
		}
	}
	_ = c.Close()
	_ = s.Close()
	if st := s.Stats(); st.InflightBytes != 0 {
		t.Errorf("%d bytes in flight after Close", st.InflightBytes)
	}
	checkNoLeaks(t, before)
}

// TestMemoryAsDataArrives: a request takes memory as its bytes arrive, not
// as its first packet claims; the bytes held stay within the budget, and
// past it packets are dropped (DropMemory), not buffered.
func TestMemoryAsDataArrives(t *testing.T) {
	const budget = 100_000
	s := listen(t, Config{MaxInflightBytes: budget, MessageTimeout: time.Minute})
	c := dial(t, s)
	// 20 messages claim 1 MB each and send one byte: 20 MB claimed, a few
	// KB held.
	for i := range 20 {
		h := wire.Header{Type: wire.TypeData, Sender: c.Sender(), MsgID: 1<<40 + uint64(i), MsgLen: 1_000_000}
		if _, err := c.conn.Write(rawPacket(t, h, []byte{1})); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "20 RPCs held", func() bool { return s.Stats().Transport.RPCs == 20 })
	if got := s.Stats().InflightBytes; got > 20*(rpcOverhead+256) {
		t.Errorf("%d bytes held for 20 one-byte segments, want at most %d", got, 20*(rpcOverhead+256))
	}
	// Unscheduled bytes fill the budget: the bytes held never pass it, and
	// the excess is dropped.
	for i := range 4 {
		blast(t, c.conn, c.Sender(), 1<<41+uint64(i), make([]byte, 59_000))
	}
	eventually(t, "memory drops", func() bool { return s.Stats().Drops[DropMemory] > 0 })
	if got := s.Stats().InflightBytes; got > budget {
		t.Errorf("%d bytes held, over the budget of %d", got, budget)
	}
}

// TestMessageTimeout: a message whose last packet never comes is freed
// after the timeout, and its bytes return to the budget.
func TestMessageTimeout(t *testing.T) {
	s := listen(t, Config{MessageTimeout: 20 * time.Millisecond})
	c := dial(t, s)
	h := wire.Header{Type: wire.TypeData, Sender: c.Sender(), MsgID: 99, MsgLen: 3000}
	if _, err := c.conn.Write(rawPacket(t, h, make([]byte, 1424))); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the partial message times out", func() bool {
		st := s.Stats()
		return st.Drops[DropTimeout] == 1 && st.InflightBytes == 0
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if m, err := s.Receive(ctx); err == nil {
		t.Errorf("a timed-out message was delivered: %d bytes", len(m.Data))
	}
}

// TestReadyQueueBound: with no thread to take them, complete messages beyond
// the ready queue's depth are dropped and counted.
func TestReadyQueueBound(t *testing.T) {
	s := listen(t, Config{ReadyDepth: 3})
	c := dial(t, s)
	for i := range 5 {
		blast(t, c.conn, c.Sender(), 1<<40+uint64(i), payload(0, i, 64))
	}
	eventually(t, "two messages dropped at the ready queue", func() bool {
		return s.Stats().Drops[DropReadyFull] == 2
	})
	for range 3 {
		m, err := s.Receive(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if _, _, ok := identify(m.Data); !ok {
			t.Error("corrupt message")
		}
		m.Release()
	}
}
