package rx

import (
	"fmt"

	"golang.org/x/net/bpf"

	"github.com/homalb/homalb/balance"
)

// A NIC's RSS hashes the sender's address into an indirection-table entry;
// rx's "NIC" is the kernel's choice among the SO_REUSEPORT sockets of the
// port, one per GRO thread. For a policy that programs the RSS table
// (balance.SteersRSS: gen5, gen6), rx attaches a classic BPF program to the
// socket group that does what the NIC would: hash the packet's sender into
// an entry and return the entry's channel, which is the index of that
// channel's socket in the group. The program is rebuilt when the policy's
// table changes.

// rssMul is the multiplier of rx's RSS hash (Knuth's multiplicative
// hashing): entry = (uint32(sender) × rssMul mod 2³²) >> 25.
const rssMul = 0x9E3779B1

// rssEntry is the RSS table entry of a packet from sender, as the program
// computes it.
func rssEntry(sender uint64) int { return int(uint32(sender) * rssMul >> 25) }

// senderLowOffset is where the low 32 bits of the header's Sender field sit
// in a datagram's payload (big-endian: the second word of the 8 bytes at
// offset 8). A reuseport program sees the datagram from its UDP payload.
const senderLowOffset = 12

// rssProgram compiles an RSS table into a reuseport program: load the
// sender, hash it, and find its entry's channel by binary search, which
// takes at most 7 comparisons and 2 × 128 instructions. A datagram too short
// to hold a sender ends the program with 0 (socket 0), where it is decoded
// and dropped like any malformed packet.
func rssProgram(table *[balance.RSSEntries]int32) ([]bpf.RawInstruction, error) {
	prog := []bpf.Instruction{
		bpf.LoadAbsolute{Off: senderLowOffset, Size: 4},
		bpf.ALUOpConstant{Op: bpf.ALUOpMul, Val: rssMul},
		bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 25},
	}
	prog = append(prog, rssSearch(table, 0, balance.RSSEntries)...)
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("rx: RSS program: %w", err)
	}
	return raw, nil
}

// rssSearch returns the instructions that map entries [lo, hi), held in the
// accumulator, to their channels: a return when they share one, else a test
// against the middle entry and the two halves.
func rssSearch(table *[balance.RSSEntries]int32, lo, hi int) []bpf.Instruction {
	same := true
	for e := lo + 1; e < hi; e++ {
		same = same && table[e] == table[lo]
	}
	if same {
		return []bpf.Instruction{bpf.RetConstant{Val: uint32(table[lo])}}
	}
	mid := (lo + hi) / 2
	below, above := rssSearch(table, lo, mid), rssSearch(table, mid, hi)
	// A subtree of n entries has at most 2n−1 instructions: 127 for half
	// the table, within a jump's 8-bit reach.
	out := make([]bpf.Instruction, 0, 1+len(below)+len(above))
	out = append(out, bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: uint32(mid), SkipTrue: uint8(len(below))})
	out = append(out, below...)
	return append(out, above...)
}
