package rx

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/homalb/homalb/wire"
)

// The timers' work, driven with an injected now: Server.tick and
// Client.tick are called directly at chosen times, so that what they send
// is checked without waiting for wall-clock timeouts.

// tickServer is a server built but not started (no threads: nothing runs
// but what the test calls), with a resend interval of r and a message
// timeout of 100r, and a socket that stands for the client.
func tickServer(t *testing.T) (*Server, *net.UDPConn, time.Duration) {
	t.Helper()
	const r = 10 * time.Millisecond
	s, err := newServer(Config{ResendInterval: r, MessageTimeout: 100 * r, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	peer, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = peer.Close() })
	return s, peer, r
}

// feed runs SoftIRQ on one packet from addr at now.
func feed(s *Server, from netip.AddrPort, h wire.Header, payload []byte, now int64) {
	h.PayloadLen = uint16(len(payload))
	p := pkt{hdr: h, payload: payload, from: from}
	s.softirqPacket(0, &p, 0, now, new(txScratch))
}

// TestServerTickBacksOff: a request that stalls is asked for its missing
// bytes after one resend interval, then after 2, 4, … intervals of
// silence, and freed at the message timeout.
func TestServerTickBacksOff(t *testing.T) {
	s, peer, r := tickServer(t)
	from := peer.LocalAddr().(*net.UDPAddr).AddrPort()
	key := msgKey{from: from, sender: 3, id: 1}
	h := wire.Header{Type: wire.TypeData, Sender: 3, MsgID: 1, MsgLen: 10 * MaxPayload, Cookie: s.cookies.of(&key)}
	for i := range 3 {
		h.Offset = uint32(i * MaxPayload)
		feed(s, from, h, make([]byte, MaxPayload), 0)
	}
	tx := new(txScratch)
	resends := func() uint64 { return s.tc.ctlOut[wire.TypeResend].Load() }
	R := int64(r)
	var want uint64
	for _, step := range []struct {
		at   int64
		sent bool
	}{
		{R - 1, false}, {R, true}, {R + R/2, false}, {2 * R, false}, {3 * R, true},
		{6 * R, false}, {7 * R, true}, {14 * R, false}, {15 * R, true}, {31 * R, true},
	} {
		s.tick(step.at, tx)
		if step.sent {
			want++
		}
		if got := resends(); got != want {
			t.Fatalf("after the tick at %v: %d RESENDs sent, want %d", time.Duration(step.at), got, want)
		}
	}
	// Past the message timeout without progress: freed.
	s.tick(100*R+1, tx)
	if st := s.Stats(); st.Transport.RPCs != 0 || st.Drops[DropTimeout] != 1 || st.InflightBytes != 0 {
		t.Errorf("after the timeout: %d RPCs, %d timeouts, %d bytes held; want 0, 1, 0", st.Transport.RPCs, st.Drops[DropTimeout], st.InflightBytes)
	}
}

// TestServerTickUnverified: an RPC whose client never showed its cookie
// gets the timer's packets only as far as its bytes paid for them.
func TestServerTickUnverified(t *testing.T) {
	s, peer, r := tickServer(t)
	from := peer.LocalAddr().(*net.UDPAddr).AddrPort()
	// One byte of a claimed 1 MB request: 49 bytes received pay for one
	// RESEND (48 bytes), not two.
	feed(s, from, wire.Header{Type: wire.TypeData, Sender: 5, MsgID: 1, MsgLen: 1_000_000}, []byte{1}, 0)
	tx := new(txScratch)
	for k := int64(1); k <= 64; k++ {
		s.tick(k*int64(r), tx)
	}
	if got, w := s.tc.ctlOut[wire.TypeResend].Load(), s.tc.withheld.Load(); got != 1 || w == 0 {
		t.Errorf("%d RESENDs sent, %d withheld; want 1 sent and the rest withheld", got, w)
	}
	// A one-byte request answered but never acknowledged: no BUSY, since
	// the response used up what the request paid.
	feed(s, from, wire.Header{Type: wire.TypeData, Sender: 5, MsgID: 2, MsgLen: 1}, []byte{1}, 0)
	m, err := s.Receive(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Reply([]byte{2}); err != nil {
		t.Fatal(err)
	}
	m.Release()
	now := s.clock()
	for k := int64(1); k <= 64; k++ {
		s.tick(now+k*int64(r), tx)
	}
	if got := s.tc.ctlOut[wire.TypeBusy].Load(); got != 0 {
		t.Errorf("%d BUSYs sent to an unproven client that sent 49 bytes and got 49", got)
	}
}

// TestClientTickBacksOff: a client whose server never answers probes each
// call after one resend interval of silence, then after 2, 4, … up to
// 2^maxBackoff intervals, not every interval (issue 15: 591,551 probes
// against a restarted server).
func TestClientTickBacksOff(t *testing.T) {
	dead, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	// A resend interval of a minute keeps the client's own timer out of the
	// way: only the ticks below, at injected times, probe.
	const r = time.Minute
	c, err := DialConfig(dead.LocalAddr().String(), ClientConfig{ResendInterval: r, Timeout: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { _, err := c.Call(ctx, []byte("anyone there?")); errc <- err }()
	eventually(t, "the call is pending", func() bool { return c.Stats().Pending == 1 })
	start := c.clock()
	tx := new(txScratch)
	R := int64(r)
	// Probes at 1, 3, 7, 15, 31, 63, 127, then every 64 intervals.
	var want uint64
	for k := int64(1); k <= 300; k++ {
		c.tick(start+k*R, tx)
		switch k {
		case 1, 3, 7, 15, 31, 63, 127, 191, 255:
			want++
		}
		if got := c.Stats().Probes; got != want {
			t.Fatalf("after %d resend intervals: %d probes, want %d", k, got, want)
		}
	}
	cancel()
	if err := <-errc; err == nil {
		t.Error("a call to a dead server succeeded")
	}
}
