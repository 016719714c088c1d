package rx

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/homalb/homalb/wire"
)

// burstFixture drives a GRO thread of a server that was built but not
// started: bursts are fed in directly, without sockets, and run on the
// calling goroutine (one core: every batch stays on the GRO core).
type burstFixture struct {
	s    *Server
	g    *groThread
	pkts [][]byte
	from netip.AddrPort
	runs uint64
}

func newBurstFixture(t testing.TB, policy string) *burstFixture {
	s, err := newServer(Config{Policy: policy, Logf: t.Logf, ShedDelay: -1}) // every burst is admitted: the fixture measures the path, not admission
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	f := &burstFixture{s: s, g: s.gros[0], from: netip.MustParseAddrPort("127.0.0.1:9")}
	// A W2-like burst: 10 whole messages and a 10-packet message.
	for i := range 10 {
		f.pkts = append(f.pkts, zeroPacket(t, wire.Header{Type: wire.TypeData, Sender: 1, MsgID: uint64(i), MsgLen: 300, GrantOffset: 300}, 300))
	}
	h := wire.Header{Type: wire.TypeData, Sender: 1, MsgID: 100, MsgLen: 10 * MaxPayload, GrantOffset: 10 * MaxPayload}
	for i := range 10 {
		h.Offset = uint32(i * MaxPayload)
		f.pkts = append(f.pkts, zeroPacket(t, h, MaxPayload))
	}
	return f
}

func zeroPacket(t testing.TB, h wire.Header, n int) []byte {
	b := make([]byte, wire.HeaderLen+n)
	if _, err := wire.Encode(b, h, make([]byte, n)); err != nil {
		t.Fatal(err)
	}
	return b
}

// run feeds one burst and releases the messages it completed (without a
// response: each RPC ends with an ACK to the sender); it returns how many.
// Each run gives its messages fresh ids, as a sender would.
func (f *burstFixture) run() int {
	g := f.g
	if k := g.refill(); k < len(f.pkts) {
		panic("fixture: too few free buffers")
	}
	f.runs++
	for i, p := range f.pkts {
		b := g.slots[i].b[:]
		copy(b, p)
		binary.BigEndian.PutUint64(b[16:], binary.BigEndian.Uint64(p[16:])+f.runs<<20) // message id
		g.meta[i] = rxMeta{n: len(p), from: f.from}
	}
	g.burst(len(f.pkts), f.s.clock())
	n := 0
	for m := f.s.app.pop(); m != nil; m = f.s.app.pop() {
		m.Release()
		n++
	}
	return n
}

// TestNoAllocPerPacket: in steady state the path from a read burst through
// GRO, SoftIRQ, reassembly and the ready queue to Release allocates nothing.
func TestNoAllocPerPacket(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	for _, policy := range []string{"gen2", "same", "rps"} {
		f := newBurstFixture(t, policy)
		for range 10 {
			if n := f.run(); n != 11 {
				t.Fatalf("%s: burst completed %d messages, want 11", policy, n)
			}
		}
		if allocs := testing.AllocsPerRun(200, func() { f.run() }); allocs != 0 {
			t.Errorf("%s: %.2f allocations per burst of %d packets", policy, allocs, len(f.pkts))
		}
	}
}
