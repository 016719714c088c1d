package rx

import (
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"testing"
	"testing/quick"
	"time"

	"github.com/homalb/homalb/wire"
)

// TestKeySetQuick checks the bounded set of ended RPCs against a map and a
// FIFO list: the same membership after every operation, the oldest key
// forgotten first.
func TestKeySetQuick(t *testing.T) {
	f := func(seed uint64, capSeed uint8) bool {
		rng := rand.New(rand.NewPCG(seed, 2))
		capacity := int(capSeed)%40 + 1
		var s keySet
		s.init(capacity)
		ref := map[msgKey]bool{}
		var fifo []msgKey
		key := func() msgKey { // few distinct keys, so that re-adds and hits happen
			return msgKey{from: netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(rng.IntN(3))),
				sender: uint64(rng.IntN(4)), id: uint64(rng.IntN(30))}
		}
		for range 500 {
			k := key()
			if rng.IntN(2) == 0 {
				s.add(k)
				if !ref[k] {
					if len(fifo) == capacity {
						delete(ref, fifo[0])
						fifo = fifo[1:]
					}
					ref[k] = true
					fifo = append(fifo, k)
				}
			}
			if s.has(&k) != ref[k] || s.len() != len(fifo) {
				return false
			}
		}
		for _, k := range fifo {
			if !s.has(&k) {
				return false
			}
		}
		return true
	}
	if err := quick.Check(f, &quick.Config{MaxCount: 300}); err != nil {
		t.Error(err)
	}
}

// newTestSched returns a scheduler granting 2 messages at once, a window of
// 10,000 bytes, an increment of MaxPayload, and maxIncoming.
func newTestSched(maxIncoming int) *grantSched {
	var s grantSched
	s.init(2, 10_000, maxIncoming)
	return &s
}

func grantOf(out *grantList, id uint64) (uint32, bool) {
	for _, g := range out.g[:out.n] {
		if g.id == id {
			return g.offset, true
		}
	}
	return 0, false
}

// TestGrantSchedSRPT pins down the grant rules (homa_init's defaults:
// max_overcommit, unsched_bytes; package doc, Transport): the messages
// with the fewest bytes left are granted, at most overcommit of them, each
// up to a window beyond what arrived; a completed message's slot goes to
// the next.
func TestGrantSchedSRPT(t *testing.T) {
	s := newTestSched(1 << 20)
	var out grantList
	msgs := []*grantee{
		{id: 1, length: 100_000, peer: peerKey{sub: 1}},
		{id: 2, length: 50_000, peer: peerKey{sub: 2}},
		{id: 3, length: 30_000, peer: peerKey{sub: 3}},
	}
	// 3 and 2 arrive with 5,000 unscheduled bytes each, then 1.
	s.update(msgs[2], 5_000, 5_000, &out)
	s.update(msgs[1], 5_000, 5_000, &out)
	// Ranked by bytes left: 3 (25,000), 2 (45,000), then 1 (95,000) waits.
	if off, ok := grantOf(&out, 3); !ok || off != 15_000 {
		t.Errorf("message 3 granted %d (%v), want 15,000 (5,000 + window)", off, ok)
	}
	if off, ok := grantOf(&out, 2); !ok || off != 15_000 {
		t.Errorf("message 2 granted %d (%v), want 15,000", off, ok)
	}
	out.n = 0
	s.update(msgs[0], 5_000, 5_000, &out)
	if _, ok := grantOf(&out, 1); ok || msgs[0].granted != 5_000 {
		t.Errorf("message 1 granted beyond overcommit: %d", msgs[0].granted)
	}
	// A grant smaller than the increment waits, unless it ends the message.
	out.n = 0
	s.update(msgs[2], 5_500, 5_000, &out)
	if out.n != 0 {
		t.Errorf("a grant of 500 bytes was sent: %+v", out.g[0])
	}
	s.update(msgs[2], 25_000, 15_000, &out)
	if off, ok := grantOf(&out, 3); !ok || off != 30_000 {
		t.Errorf("message 3 granted %d (%v), want its end, 30,000", off, ok)
	}
	// Message 3 completes: message 1 takes its slot.
	out.n = 0
	s.remove(msgs[2], &out)
	if off, ok := grantOf(&out, 1); !ok || off != 15_000 {
		t.Errorf("message 1 granted %d (%v) after 3 completed, want 15,000", off, ok)
	}
	if s.waiting() != 2 {
		t.Errorf("%d messages waiting, want 2", s.waiting())
	}
}

// TestGrantSchedMaxIncoming: the bytes granted but not received, over the
// granted messages, stay within max_incoming.
func TestGrantSchedMaxIncoming(t *testing.T) {
	s := newTestSched(12_000)
	var out grantList
	a := &grantee{id: 1, length: 40_000, peer: peerKey{sub: 1}}
	b := &grantee{id: 2, length: 60_000, peer: peerKey{sub: 2}}
	s.update(a, 1_000, 1_000, &out) // outstanding 0: a may take 10,000
	s.update(b, 1_000, 1_000, &out) // 2,000 left of the budget for b
	if off, _ := grantOf(&out, 1); off != 11_000 {
		t.Errorf("a granted %d, want 11,000", off)
	}
	if off, _ := grantOf(&out, 2); off != 3_000 {
		t.Errorf("b granted %d, want 3,000 (the rest of max_incoming)", off)
	}
	out.n = 0
	s.update(a, 11_000, 11_000, &out) // a's bytes arrived: budget frees
	if off, _ := grantOf(&out, 1); off != 21_000 {
		t.Errorf("a granted %d after its bytes arrived, want 21,000", off)
	}
	var outstanding int64
	for _, g := range []*grantee{a, b} {
		outstanding += int64(g.granted - g.have)
	}
	if outstanding > 12_000 {
		t.Errorf("%d bytes outstanding, over max_incoming", outstanding)
	}
}

// udpPair returns a socket and a reader connected to it, on loopback.
func udpPair(t *testing.T) (*net.UDPConn, *net.UDPConn) {
	t.Helper()
	rd, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	wr, err := net.DialUDP("udp", nil, rd.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rd.Close(); wr.Close() })
	return wr, rd
}

// readHeaders reads n packets and returns their headers.
func readHeaders(t *testing.T, rd *net.UDPConn, n int) []wire.Header {
	t.Helper()
	_ = rd.SetReadDeadline(time.Now().Add(5 * time.Second))
	var hs []wire.Header
	buf := make([]byte, 2048)
	for range n {
		k, err := rd.Read(buf)
		if err != nil {
			t.Fatalf("after %d packets: %v", len(hs), err)
		}
		h, _, err := wire.Decode(buf[:k])
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	return hs
}

// TestSenderSegments: a sender cuts a message every MaxPayload bytes, sends
// whole segments up to its grant, resends the segments that overlap a
// RESEND's range flagged FlagRetransmit, and takes the range's end as a
// grant.
func TestSenderSegments(t *testing.T) {
	wr, rd := udpPair(t)
	x, err := newXmitter(wr, true)
	if err != nil {
		t.Fatal(err)
	}
	ps := pktSender{x: x, buf: new([MaxDatagram]byte), q: new(txBatch)}
	o := outMsg{data: make([]byte, 10*MaxPayload+7), granted: 2*MaxPayload + 1}
	var xmits uint32
	h := wire.Header{Sender: 5, MsgID: 9}
	if n, err := ps.sendGranted(netip.AddrPort{}, h, &o, &xmits); err != nil || n != 3 {
		t.Fatalf("sendGranted: %d packets, %v; want 3 (the third segment starts below the grant)", n, err)
	}
	hs := readHeaders(t, rd, 3)
	for i, got := range hs {
		if got.Offset != uint32(i*MaxPayload) || got.PayloadLen != MaxPayload || got.GrantOffset != o.granted || got.MsgLen != o.length() {
			t.Errorf("packet %d: %+v", i, got)
		}
	}
	if o.next != 3*MaxPayload {
		t.Errorf("next %d, want %d", o.next, 3*MaxPayload)
	}
	// RESEND of [MaxPayload+10, 5*MaxPayload): segment 1 and 2 again, then
	// 3 and 4 as newly granted.
	const interval = int64(10e6)
	re, fresh, err := ps.resend(netip.AddrPort{}, h, &o, MaxPayload+10, 5*MaxPayload, 0, interval, &xmits)
	if err != nil || re != 2 || fresh != 2 {
		t.Fatalf("resend: %d again, %d new, %v; want 2 and 2", re, fresh, err)
	}
	// The same RESEND within the interval retransmits nothing; one
	// interval later it does again.
	if re, err := ps.retransmit(netip.AddrPort{}, h, &o, MaxPayload, 3*MaxPayload, interval-1, interval, &xmits); err != nil || re != 0 {
		t.Fatalf("RESEND repeated within the resend interval: %d packets again, %v; want 0", re, err)
	}
	hs = readHeaders(t, rd, 4)
	for i, want := range []struct {
		off   int
		retry bool
	}{{1, true}, {2, true}, {3, false}, {4, false}} {
		if hs[i].Offset != uint32(want.off*MaxPayload) || (hs[i].Flags&wire.FlagRetransmit != 0) != want.retry {
			t.Errorf("packet %d: offset %d flags %v, want segment %d retransmit=%v", i, hs[i].Offset, hs[i].Flags, want.off, want.retry)
		}
	}
	if re, err := ps.retransmit(netip.AddrPort{}, h, &o, MaxPayload, 2*MaxPayload, interval, interval, &xmits); err != nil || re != 1 {
		t.Fatalf("RESEND one interval later: %d packets again, %v; want 1", re, err)
	}
	if hs := readHeaders(t, rd, 1); hs[0].Offset != MaxPayload || hs[0].Flags&wire.FlagRetransmit == 0 {
		t.Errorf("retransmission %+v, want segment 1 flagged", hs[0])
	}
	// A RESEND past what was sent retransmits nothing (it is not a grant
	// for retransmit).
	if re, _ := ps.retransmit(netip.AddrPort{}, h, &o, 6*MaxPayload, 8*MaxPayload, 2*interval, interval, &xmits); re != 0 {
		t.Errorf("retransmitted %d segments never sent", re)
	}
	// The last segment is short.
	o.grant(o.length())
	if n, _ := ps.sendGranted(netip.AddrPort{}, h, &o, &xmits); n != 6 {
		t.Errorf("rest of the message: %d packets, want 6", n)
	}
	hs = readHeaders(t, rd, 6)
	if last := hs[5]; last.Offset != 10*MaxPayload || last.PayloadLen != 7 {
		t.Errorf("last segment %+v", last)
	}
}

// TestFaultDecisions: the faults injected are a function of the seed and
// the packets' identities, at the configured rates.
func TestFaultDecisions(t *testing.T) {
	decide := func(seed uint64) (lost, dup, reord int, pattern uint64) {
		l := &faultLine{f: Faults{Seed: seed}, lossT: threshold(0.10), dupT: threshold(0.05), reorT: threshold(0.2)}
		for id := uint64(1); id <= 2000; id++ {
			for x := uint32(1); x <= 10; x++ {
				k := faultKey(id, x)
				if l.uniform(k, 1) < l.lossT {
					lost++
					pattern = pattern*31 + id*16 + uint64(x)
				}
				if l.uniform(k, 2) < l.dupT {
					dup++
				}
				if l.uniform(k, 3) < l.reorT {
					reord++
				}
			}
		}
		return
	}
	l1, d1, r1, p1 := decide(1)
	l2, d2, r2, p2 := decide(1)
	if l1 != l2 || d1 != d2 || r1 != r2 || p1 != p2 {
		t.Error("the same seed gave different faults")
	}
	if _, _, _, p3 := decide(2); p3 == p1 {
		t.Error("another seed gave the same losses")
	}
	const n = 20_000
	for _, c := range []struct {
		name string
		got  int
		want float64
	}{{"loss", l1, 0.10}, {"dup", d1, 0.05}, {"reorder", r1, 0.2}} {
		if f := float64(c.got) / n; f < c.want*0.85 || f > c.want*1.15 {
			t.Errorf("%s rate %.4f, want about %.2f", c.name, f, c.want)
		}
	}
	if err := (Faults{Loss: 1}).Validate(); err == nil {
		t.Error("loss 1 accepted: nothing would ever arrive")
	}
	if err := (Faults{Delay: -time.Second}).Validate(); err == nil {
		t.Error("negative delay accepted")
	}
}

// TestFaultLineDelays: held packets are released, in order of their
// release times, and Close loses the rest without leaking the goroutine.
func TestFaultLineDelays(t *testing.T) {
	wr, rd := udpPair(t)
	x, err := newXmitter(wr, true)
	if err != nil {
		t.Fatal(err)
	}
	x.faults = newFaultLine(x, Faults{Delay: 2 * time.Millisecond, Seed: 1}, "test-faults")
	for i := range 5 {
		b := make([]byte, wire.HeaderLen)
		k, _ := wire.Encode(b, wire.Header{Type: wire.TypeBusy, MsgID: uint64(i + 1)}, nil)
		if err := x.write(b[:k], netip.AddrPort{}, uint64(i)); err != nil {
			t.Fatal(err)
		}
	}
	hs := readHeaders(t, rd, 5)
	for i, h := range hs {
		if h.MsgID != uint64(i+1) {
			t.Errorf("packet %d has id %d: a uniform delay reordered packets", i, h.MsgID)
		}
	}
	if st := x.faults.stats(); st.Delayed != 5 {
		t.Errorf("stats %+v, want 5 delayed", st)
	}
	x.close()
	x.close()
}

// naiveSched is the reference of grantSched: every scheduled message in
// one list, sorted in full at each decision, one per peer.
type naiveSched struct {
	overcommit  int
	window      uint32
	increment   uint32
	maxIncoming int64
	seq         uint64
	msgs        map[uint64]*naiveMsg
}

type naiveMsg struct {
	peer                  uint64
	length, have, granted uint32
	seq                   uint64
	listed                bool
}

func (n *naiveSched) decide() map[uint64]uint32 {
	best := map[uint64]uint64{} // peer → id of its best message
	better := func(a, b uint64) bool {
		ma, mb := n.msgs[a], n.msgs[b]
		if ra, rb := ma.length-ma.have, mb.length-mb.have; ra != rb {
			return ra < rb
		}
		return ma.seq < mb.seq
	}
	for id, m := range n.msgs {
		if m.listed {
			if b, ok := best[m.peer]; !ok || better(id, b) {
				best[m.peer] = id
			}
		}
	}
	var ids []uint64
	for _, id := range best {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b uint64) int {
		if better(a, b) {
			return -1
		}
		return 1
	})
	ids = ids[:min(len(ids), n.overcommit)]
	var outstanding int64
	for _, id := range ids {
		if m := n.msgs[id]; m.granted > m.have {
			outstanding += int64(m.granted - m.have)
		}
	}
	budget := n.maxIncoming - outstanding
	out := map[uint64]uint32{}
	for _, id := range ids {
		if budget <= 0 {
			break
		}
		m := n.msgs[id]
		target := min(uint64(m.have)+uint64(n.window), uint64(m.length))
		if target <= uint64(m.granted) {
			continue
		}
		inc := min(int64(target)-int64(m.granted), budget)
		t := m.granted + uint32(inc)
		if uint32(inc) < n.increment && t < m.length {
			continue
		}
		m.granted = t
		budget -= inc
		out[id] = t
	}
	return out
}

// TestGrantSchedQuick checks the heap scheduler against naiveSched over
// random updates and removals of messages from a few peers: the same
// GRANTs, in count and offset, after every step.
func TestGrantSchedQuick(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for round := range 50 {
		s := newTestSched(100_000 + rng.IntN(400_000))
		n := &naiveSched{overcommit: 2, window: 10_000, increment: MaxPayload, maxIncoming: s.maxIncoming, msgs: map[uint64]*naiveMsg{}}
		gs := map[uint64]*grantee{}
		for step := range 300 {
			id := uint64(rng.IntN(40))
			g := gs[id]
			if g == nil {
				peer := uint64(rng.IntN(5))
				length := uint32(20_000 + rng.IntN(200_000))
				g = &grantee{id: id, length: length, peer: peerKey{sub: peer}}
				gs[id] = g
				n.msgs[id] = &naiveMsg{peer: peer, length: length}
			}
			m := n.msgs[id]
			var out grantList
			if rng.IntN(5) == 0 {
				s.remove(g, &out)
				if m.listed {
					m.listed = false
					n.decideInto(t, round, step, &out)
				} else if out.n != 0 {
					t.Fatalf("round %d step %d: removing an unscheduled message granted", round, step)
				}
				delete(gs, id)
				delete(n.msgs, id)
				continue
			}
			have := min(m.length, m.have+uint32(rng.IntN(20_000)))
			s.update(g, have, 0, &out)
			m.have = have
			if !m.listed {
				if m.granted >= m.length || m.have >= m.length {
					if out.n != 0 {
						t.Fatalf("round %d step %d: a message that needs nothing was scheduled", round, step)
					}
					continue
				}
				n.seq++
				m.seq, m.listed = n.seq, true
			}
			n.decideInto(t, round, step, &out)
		}
	}
}

// decideInto compares the GRANTs of the scheduler (out) with the naive
// decision.
func (n *naiveSched) decideInto(t *testing.T, round, step int, out *grantList) {
	t.Helper()
	want := n.decide()
	if out.n != len(want) {
		t.Fatalf("round %d step %d: %d GRANTs, want %d (%v)", round, step, out.n, len(want), want)
	}
	for _, g := range out.g[:out.n] {
		if want[g.id] != g.offset {
			t.Fatalf("round %d step %d: message %d granted %d, want %d", round, step, g.id, g.offset, want[g.id])
		}
	}
}

// TestGrantSchedPerPeer: one peer with many short messages gets one grant
// slot, and the others go to other peers (issue 15, attack 4).
func TestGrantSchedPerPeer(t *testing.T) {
	s := newTestSched(1 << 20)
	var out grantList
	for i := range 10 { // peer 1: ten messages with little left
		s.update(&grantee{id: uint64(i), length: 20_000, peer: peerKey{sub: 1}}, 15_000, 0, &out)
	}
	out.n = 0
	legit := &grantee{id: 100, length: 200_000, peer: peerKey{sub: 2}}
	s.update(legit, 1_000, 0, &out)
	if off, ok := grantOf(&out, 100); !ok || off != 11_000 {
		t.Errorf("the other peer's message granted %d (%v), want 11,000: peer 1 took every slot", off, ok)
	}
	if s.waiting() != 11 {
		t.Errorf("%d waiting, want 11", s.waiting())
	}
}
