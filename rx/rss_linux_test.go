//go:build linux

package rx

import (
	"encoding/binary"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestReuseportProgram attaches rx's RSS program to a real SO_REUSEPORT
// group of two sockets on loopback and checks that the kernel delivers each
// datagram to the socket its sender's table entry names: first with every
// entry on socket 1, then with entries alternating.
func TestReuseportProgram(t *testing.T) {
	a, err := listenUDP("127.0.0.1:0", true)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := listenUDP(a.LocalAddr().String(), true)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	socks := []*net.UDPConn{a, b}
	out, err := net.DialUDP("udp", nil, a.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	r := rand.New(rand.NewPCG(3, 3))
	for _, fill := range []func(e int) int32{
		func(int) int32 { return 1 },
		func(e int) int32 { return int32(e % 2) },
	} {
		table, prog := compileTable(t, fill)
		if err := attachReuseport(a, prog); err != nil {
			t.Skipf("this kernel refused the socket-selection program (%v); rx falls back to the kernel's hash", err)
		}
		for range 40 {
			sender := r.Uint64()
			pkt := make([]byte, 48)
			binary.BigEndian.PutUint64(pkt[8:], sender)
			if _, err := out.Write(pkt); err != nil {
				t.Fatal(err)
			}
			want := socks[table[rssEntry(sender)]]
			buf := make([]byte, 64)
			_ = want.SetReadDeadline(time.Now().Add(2 * time.Second))
			if _, _, err := want.ReadFromUDP(buf); err != nil {
				t.Fatalf("sender %#x (entry %d): nothing on socket %d: %v", sender, rssEntry(sender), table[rssEntry(sender)], err)
			}
			if binary.BigEndian.Uint64(buf[8:]) != sender {
				t.Fatalf("socket %d received another sender's datagram", table[rssEntry(sender)])
			}
		}
	}
}

// TestRSSSteering: a server under gen6 with two GRO sockets steers by gen6's
// table (at least the initial program is attached) and serves every call;
// under gen2 the kernel's hash is left alone.
func TestRSSSteering(t *testing.T) {
	const clients, calls = 8, 5
	run := func(policy string) Stats {
		s := listen(t, Config{Policy: policy, GROCores: []int{0, 2}, SoftIRQCores: []int{1, 3}, AppCores: []int{1, 3}, Threads: 2})
		rec := newRecorder()
		go func() { _ = s.Serve(rec.echo) }()
		var wg sync.WaitGroup
		for ci := range clients {
			c := dial(t, s)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for seq := range calls {
					call(t, c, payload(ci, seq, 100))
				}
			}()
		}
		wg.Wait()
		rec.check(t, clients, calls)
		st := s.Stats()
		if t.Failed() || testing.Verbose() {
			var b strings.Builder
			_ = st.WriteText(&b)
			t.Log("\n" + b.String())
		}
		return st
	}
	st := run("gen6")
	if !st.RSSSteered {
		t.Skipf("this kernel refused the socket-selection program (%s); rx falls back to the kernel's hash", st.RSSError)
	}
	if st.RSSPrograms == 0 {
		t.Error("gen6 steered with no program attached")
	}
	if ctl := run("gen2"); ctl.RSSSteered || ctl.RSSPrograms != 0 {
		t.Errorf("gen2 does not program RSS, yet steered %v with %d programs", ctl.RSSSteered, ctl.RSSPrograms)
	}
}
