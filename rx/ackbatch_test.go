package rx

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/homalb/homalb/wire"
)

// TestGatheredAcks: requests that queued up while the one application
// thread was busy, and that it takes without responding, are ended by
// gathered ACKs: every request is acknowledged exactly once, in fewer
// datagrams than requests, each within the bytes that provoked it.
func TestGatheredAcks(t *testing.T) {
	release := make(chan struct{})
	s := listen(t, Config{Policy: "same", Threads: 1, NoPriority: true})
	first := true
	go func() {
		_ = s.Serve(func(m *Message) {
			if first { // hold the thread until every request has queued
				first = false
				<-release
			}
		})
	}()
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(s.Addr().String())))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const n = 150
	for id := uint64(1); id <= n; id++ {
		blast(t, conn, 9, id, []byte("one-way"))
		if id == 1 {
			time.Sleep(50 * time.Millisecond) // the thread takes it and blocks
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats().Transport.RPCs < n-1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	close(release)

	acked := make(map[uint64]int)
	datagrams, bytesIn := 0, 0
	buf := make([]byte, MaxDatagram)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for len(acked) < n {
		k, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("after %d datagrams, %d of %d requests acknowledged: %v", datagrams, len(acked), n, err)
		}
		h, p, err := wire.Decode(buf[:k])
		if err != nil || h.Type != wire.TypeAck || h.Sender != 9 {
			t.Fatalf("datagram %d: %+v, %v; want an ACK to sender 9", datagrams, h, err)
		}
		datagrams++
		bytesIn += k
		ids := []uint64{h.MsgID}
		for i := range wire.AckIDs(p) {
			ids = append(ids, wire.AckID(p, i))
		}
		for _, id := range ids {
			if id < 1 || id > n {
				t.Fatalf("ACK of unknown request %d", id)
			}
			acked[id]++
		}
	}
	for id, c := range acked {
		if c != 1 {
			t.Errorf("request %d acknowledged %d times", id, c)
		}
	}
	t.Logf("%d requests ended by %d ACK datagrams (%d bytes)", n, datagrams, bytesIn)
	// One ACK for the first request, then at most ackBatchIDs per datagram.
	if max := 1 + (n-1+ackBatchIDs-1)/ackBatchIDs; datagrams > max {
		t.Errorf("%d ACK datagrams for %d requests, want at most %d", datagrams, n, max)
	}
	if sent := n * (wire.HeaderLen + len("one-way")); bytesIn > sent {
		t.Errorf("%d bytes of ACKs for %d bytes of requests: amplification", bytesIn, sent)
	}
	if got := s.Stats().Transport.AcksSent; got != n {
		t.Errorf("AcksSent = %d, want %d (one per request ended)", got, n)
	}
}

// TestClientGathersAcks: the responses a client's reader completes in one
// burst are acknowledged by one datagram, which lists the others with
// their cookies; the server ends each listed RPC whose cookie is right.
func TestClientGathersAcks(t *testing.T) {
	fake, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	c, err := DialConfig(fake.LocalAddr().String(), ClientConfig{ResendInterval: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const calls = 10
	done := make(chan error, calls)
	for range calls {
		go func() { _, err := c.Call(context.Background(), []byte("q")); done <- err }()
	}
	eventually(t, "the calls are pending", func() bool { return c.Stats().Pending == calls })
	// One burst of responses, as the reader would read it.
	tx := &txScratch{lazy: true}
	buf := make([]byte, MaxDatagram)
	for id := uint64(1); id <= calls; id++ {
		h := wire.Header{Type: wire.TypeData, Flags: wire.FlagResponse, Sender: c.sender, MsgID: id, MsgLen: 1, Cookie: 1000 + id}
		n, err := wire.Encode(buf, h, []byte("r"))
		if err != nil {
			t.Fatal(err)
		}
		c.packet(buf[:n], c.clock(), tx)
	}
	c.flushAcks(tx)
	if err := tx.batch.flush(); err != nil {
		t.Fatal(err)
	}
	for range calls {
		if err := <-done; err != nil {
			t.Fatalf("a call: %v", err)
		}
	}
	var h wire.Header
	var payload []byte
	acks := 0
	_ = fake.SetReadDeadline(time.Now().Add(time.Second)) // the requests, then the ACK
	for {
		n, err := fake.Read(buf)
		if err != nil {
			break
		}
		if hh, p, err := wire.Decode(buf[:n]); err == nil && hh.Type == wire.TypeAck {
			h, payload = hh, append([]byte(nil), p...)
			acks++
			_ = fake.SetReadDeadline(time.Now().Add(50 * time.Millisecond)) // and nothing after it
		}
	}
	if acks != 1 {
		t.Fatalf("the client sent %d ACK datagrams, want 1", acks)
	}
	ended := map[uint64]uint64{h.MsgID: h.Cookie}
	k, whole := wire.AckCookies(payload)
	for i := range k {
		id, cookie := wire.AckCookie(payload, i)
		ended[id] = cookie
	}
	if !whole || len(ended) != calls {
		t.Fatalf("one ACK ends %d RPCs (whole entries: %v), want %d", len(ended), whole, calls)
	}
	for id, cookie := range ended {
		if cookie != 1000+id {
			t.Errorf("RPC %d acknowledged with cookie %d, want %d", id, cookie, 1000+id)
		}
	}
	if got := c.Stats().Acks; got != calls {
		t.Errorf("Acks = %d, want %d", got, calls)
	}
}

// TestServerTakesGatheredAcks: a client's gathered ACK ends every RPC it
// lists with the right cookie, and none whose cookie is wrong.
func TestServerTakesGatheredAcks(t *testing.T) {
	s := listen(t, Config{})
	go func() { _ = s.Serve(Echo) }()
	c := dial(t, s)
	for range 3 {
		call(t, c, []byte("hello"))
	}
	eventually(t, "every RPC ended", func() bool { return s.Stats().Transport.RPCs == 0 })
	// Responding RPCs held for a client that does not acknowledge: raw
	// requests from a socket of its own.
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(s.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const sender = 77
	for id := uint64(1); id <= 3; id++ {
		blast(t, conn, sender, id, []byte("ping"))
	}
	cookies := map[uint64]uint64{}
	buf := make([]byte, MaxDatagram)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for len(cookies) < 3 {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		if h, _, err := wire.Decode(buf[:n]); err == nil && h.Type == wire.TypeData {
			cookies[h.MsgID] = h.Cookie
		}
	}
	// One ACK for RPC 1 listing 2 (right cookie) and 3 (wrong cookie).
	p := wire.AppendAckCookie(nil, 2, cookies[2])
	p = wire.AppendAckCookie(p, 3, cookies[3]+1)
	n, err := wire.Encode(buf, wire.Header{Type: wire.TypeAck, Sender: sender, MsgID: 1, Cookie: cookies[1]}, p)
	if err != nil {
		t.Fatal(err)
	}
	before := s.Stats().Drops[DropUnverified]
	if _, err := conn.Write(buf[:n]); err != nil {
		t.Fatal(err)
	}
	eventually(t, "two RPCs ended, one held", func() bool {
		st := s.Stats()
		return st.Transport.RPCs == 1 && st.Drops[DropUnverified] == before+1
	})
}
