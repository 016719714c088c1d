package rx

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/homalb/homalb/wire"
)

// Fuzz targets of the receive side, next to wire's FuzzDecode: reassembly
// alone, and the whole path from a read burst through GRO, SoftIRQ and the
// RPC state machine. Their seeds run in every `go test`; fuzz them with
//
//	go test -run XXX -fuzz FuzzAssembly -fuzztime 30s ./rx
//	go test -run XXX -fuzz FuzzReceivePath -fuzztime 30s ./rx

// FuzzAssembly offers segments (pairs of 16-bit offset and length, cut
// from the input) to an assembly and checks it against a bitmap of the
// bytes received: the byte count, completion, the gap bound, and that a
// refused segment changes nothing.
func FuzzAssembly(f *testing.F) {
	f.Add(uint16(3000), []byte{0, 0, 0, 100, 0, 200, 0, 100, 0, 100, 0, 100})
	f.Add(uint16(10), []byte{0, 5, 0, 5, 0, 0, 0, 5})
	f.Add(uint16(65535), []byte{255, 0, 0, 255, 0, 1, 0, 1})
	f.Fuzz(func(t *testing.T, length uint16, segs []byte) {
		if length == 0 {
			return
		}
		var a assembly
		a.reset(uint32(length))
		got := make([]bool, length)
		have := 0
		for i := 0; i+4 <= len(segs); i += 4 {
			off := uint32(binary.BigEndian.Uint16(segs[i:]))
			n := uint32(binary.BigEndian.Uint16(segs[i+2:]))
			if n == 0 || off+n > uint32(length) {
				continue // wire refuses these before reassembly
			}
			before := a
			overlap := false
			for b := off; b < off+n; b++ {
				overlap = overlap || got[b]
			}
			switch a.add(off, n) {
			case addNew:
				if overlap {
					t.Fatalf("segment [%d,+%d) overlaps received bytes but was taken", off, n)
				}
				for b := off; b < off+n; b++ {
					got[b] = true
				}
				have += int(n)
			default:
				if a != before {
					t.Fatalf("a refused segment [%d,+%d) changed the assembly", off, n)
				}
			}
			if int(a.have) != have || a.complete() != (have == int(length)) || a.ngaps > maxGaps {
				t.Fatalf("have %d (want %d), complete %v, %d gaps", a.have, have, a.complete(), a.ngaps)
			}
		}
		// The missing ranges are exactly the bytes not received.
		var ranges [maxResendRanges]span
		k := a.missing(uint32(length), ranges[:])
		miss := 0
		for _, r := range ranges[:k] {
			for b := r.start; b < r.end; b++ {
				if got[b] {
					t.Fatalf("byte %d reported missing but received", b)
				}
				miss++
			}
		}
		if k < len(ranges) && miss != int(length)-have {
			t.Fatalf("%d bytes reported missing, %d are", miss, int(length)-have)
		}
	})
}

// FuzzReceivePath feeds datagrams (the input cut at 0xFF 0xFE markers, so
// that one input is a burst) to a server's GRO thread, which runs SoftIRQ
// and the RPC state machine inline, and checks that nothing panics, every
// datagram is counted (read by GRO), and memory stays within the budget
// and returns to zero once every RPC is freed.
func FuzzReceivePath(f *testing.F) {
	seed := func(hs ...wire.Header) []byte {
		var out []byte
		for _, h := range hs {
			b := make([]byte, wire.HeaderLen+int(h.PayloadLen))
			if _, err := wire.Encode(b, h, make([]byte, h.PayloadLen)); err != nil {
				f.Fatal(err)
			}
			out = append(append(out, b...), 0xFF, 0xFE)
		}
		return out
	}
	f.Add(seed(wire.Header{Type: wire.TypeData, Sender: 1, MsgID: 1, MsgLen: 10, PayloadLen: 10}))
	f.Add(seed(wire.Header{Type: wire.TypeData, Sender: 1, MsgID: 2, MsgLen: 3000, PayloadLen: 1000},
		wire.Header{Type: wire.TypeData, Sender: 1, MsgID: 2, MsgLen: 3000, Offset: 2000, PayloadLen: 1000},
		wire.Header{Type: wire.TypeResend, Sender: 1, MsgID: 2, MsgLen: 3000},
		wire.Header{Type: wire.TypeGrant, Flags: wire.FlagResponse, Sender: 1, MsgID: 2, MsgLen: 3000, GrantOffset: 3000},
		wire.Header{Type: wire.TypeAck, Sender: 1, MsgID: 2}))
	f.Add(seed(wire.Header{Type: wire.TypeData, Sender: 1, MsgID: 3, MsgLen: 1_000_000, Offset: 999_000, PayloadLen: 1000}))
	f.Add(seed(wire.Header{Type: wire.TypeData, Sender: 1, MsgID: 4, MsgLen: 10, PayloadLen: 10},
		wire.Header{Type: wire.TypeAck, Sender: 1, MsgID: 5, PayloadLen: 2 * wire.AckCookieLen})) // a client's gathered ACK
	f.Add([]byte("HL\x01\x01garbage"))
	f.Fuzz(func(t *testing.T, in []byte) {
		s, err := newServer(Config{MaxInflightBytes: 1 << 20, Logf: t.Logf})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		g := s.gros[0]
		k := g.refill()
		n := 0
		for len(in) > 0 && n < k {
			d := in
			for i := 0; i+1 < len(in); i++ {
				if in[i] == 0xFF && in[i+1] == 0xFE {
					d, in = in[:i], in[i+2:]
					break
				}
			}
			if len(d) == len(in) {
				in = nil
			}
			g.meta[n] = rxMeta{n: min(len(d), pktBufSize), trunc: len(d) > pktBufSize, from: netip.MustParseAddrPort("127.0.0.1:9")}
			copy(g.slots[n].b[:], d)
			n++
		}
		g.burst(n, s.clock())
		st := s.Stats()
		if st.Cores[0].GROPackets != uint64(n) {
			t.Fatalf("%d datagrams read, GRO counted %d", n, st.Cores[0].GROPackets)
		}
		if st.InflightBytes > 1<<20 {
			t.Fatalf("%d bytes held, over the budget", st.InflightBytes)
		}
		for {
			m := s.app.pop()
			if m == nil {
				break
			}
			m.Release()
		}
		tx := new(txScratch)
		s.msgs.freeAll(s, tx)
		if got := s.inflight.Load(); got != 0 {
			t.Fatalf("%d bytes held after every RPC was freed", got)
		}
	})
}
