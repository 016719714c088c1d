package rx

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/homalb/homalb/wire"
)

// TestBareEcho: the floor answers calls that fit in one packet, ignores
// everything else (counted), and sends an unproven source no more bytes
// than it sent.
func TestBareEcho(t *testing.T) {
	e, err := ListenBareEcho("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	c, err := DialConfig(e.Addr().String(), ClientConfig{Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 20 {
		req := bytes.Repeat([]byte{byte(i)}, 1+i*50)
		resp, err := c.Call(context.Background(), req)
		if err != nil || !bytes.Equal(resp, req) {
			t.Fatalf("call %d of %d bytes: %v (%d bytes back)", i, len(req), err, len(resp))
		}
	}
	if got := e.Answered(); got != 20 {
		t.Errorf("answered %d requests, want 20", got)
	}
	// A request of two packets is not the floor's to answer.
	if _, err := c.Call(context.Background(), make([]byte, 2*MaxPayload)); err == nil {
		t.Error("a two-packet call completed")
	}

	ignored := e.Ignored()
	a := newAttacker(t, e)
	a.raw([]byte("not a packet"))
	a.send(wire.Header{Type: wire.TypeResend, Sender: 9, MsgID: 1, MsgLen: 1 << 20, GrantOffset: 1 << 20}, nil)
	a.send(wire.Header{Type: wire.TypeData, Sender: 9, MsgID: 2, MsgLen: 1 << 20}, make([]byte, MaxPayload))
	for i := range 50 {
		p := make([]byte, 1+i)
		a.send(wire.Header{Type: wire.TypeData, Sender: 9, MsgID: 100 + uint64(i), MsgLen: uint32(len(p))}, p)
	}
	eventually(t, "the attacker's 50 requests are answered", func() bool { return e.Answered() >= 20+50 })
	eventually(t, "the attacker's other 3 datagrams are ignored", func() bool { return e.Ignored()-ignored >= 3 })
	a.checkAmplification(t)
	if err := e.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, err := ListenBareEcho("not an address"); err == nil {
		t.Error("ListenBareEcho accepted a bad address")
	}
}
