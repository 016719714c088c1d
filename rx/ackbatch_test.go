package rx

import (
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
