package rx

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"golang.org/x/net/bpf"

	"github.com/homalb/homalb/balance"
)

// TestRSSProgram runs the reuseport program rx builds from an RSS table in
// x/net/bpf's interpreter: for random tables — runs of one channel, every
// entry its own, a single channel — and random senders, the program returns
// the channel of rssEntry(sender), the entry rx's GRO threads count.
func TestRSSProgram(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	tables := []func(e int) int32{
		func(int) int32 { return 0 },
		func(e int) int32 { return int32(e % 7) },
		func(e int) int32 { return int32(e / 40) },
		func(int) int32 { return int32(r.IntN(24)) },
	}
	for ti, fill := range tables {
		table, raw := compileTable(t, fill)
		if len(raw) > 4+2*balance.RSSEntries {
			t.Errorf("table %d: %d instructions", ti, len(raw))
		}
		prog, ok := bpf.Disassemble(raw)
		if !ok {
			t.Fatalf("table %d: does not disassemble", ti)
		}
		vm, err := bpf.NewVM(prog)
		if err != nil {
			t.Fatalf("table %d: %v", ti, err)
		}
		pkt := make([]byte, 48)
		for range 2000 {
			sender := r.Uint64()
			binary.BigEndian.PutUint64(pkt[8:], sender) // where wire puts it
			got, err := vm.Run(pkt)
			if err != nil {
				t.Fatal(err)
			}
			if want := int(table[rssEntry(sender)]); got != want {
				t.Fatalf("table %d, sender %#x (entry %d): program returns %d, want %d", ti, sender, rssEntry(sender), got, want)
			}
		}
		if got, _ := vm.Run(pkt[:10]); got != 0 {
			t.Errorf("table %d: a datagram without a sender went to socket %d, want 0", ti, got)
		}
	}
}

// compileTable fills an RSS table, entry e → fill(e), and compiles it.
func compileTable(t *testing.T, fill func(e int) int32) (*[balance.RSSEntries]int32, []bpf.RawInstruction) {
	t.Helper()
	var table [balance.RSSEntries]int32
	for e := range table {
		table[e] = fill(e)
	}
	raw, err := rssProgram(&table)
	if err != nil {
		t.Fatal(err)
	}
	return &table, raw
}
