package rx

// maxGaps bounds the holes a partly received message may have: packets that
// would open more are dropped (DropGaps), as Homa bounds its gap list.
const maxGaps = 64

// span is a byte range [start, end) of a message.
type span struct{ start, end uint32 }

// addResult says what became of a segment offered to an assembly.
type addResult uint8

const (
	addNew  addResult = iota // new bytes: copy them in
	addDup                   // every byte already received (or overlaps received bytes)
	addGaps                  // would open more than maxGaps holes
)

// assembly tracks which bytes of a message have arrived, in Homa's shape:
// everything below recvEnd has arrived except the listed gaps. It holds no
// bytes itself and does not allocate.
type assembly struct {
	length  uint32 // message length
	recvEnd uint32 // end of the highest segment received
	have    uint32 // bytes received
	ngaps   int
	gaps    [maxGaps]span // holes below recvEnd, in increasing order
}

func (a *assembly) reset(length uint32) {
	*a = assembly{length: length}
}

// complete reports whether every byte has arrived.
func (a *assembly) complete() bool { return a.have == a.length }

// add records the segment [off, off+n). The caller guarantees 0 < n and
// off+n <= length (package wire checks both). A segment that overlaps bytes
// already received is refused whole (addDup): senders cut messages the same
// way every time, so a partial overlap is a duplicate or an error.
func (a *assembly) add(off, n uint32) addResult {
	end := off + n
	if off >= a.recvEnd {
		if off > a.recvEnd {
			if a.ngaps == maxGaps {
				return addGaps
			}
			a.gaps[a.ngaps] = span{a.recvEnd, off}
			a.ngaps++
		}
		a.recvEnd = end
		a.have += n
		return addNew
	}
	if end > a.recvEnd {
		return addDup
	}
	for i := 0; i < a.ngaps; i++ {
		g := &a.gaps[i]
		if off < g.start || end > g.end {
			continue
		}
		switch {
		case off == g.start && end == g.end:
			copy(a.gaps[i:], a.gaps[i+1:a.ngaps])
			a.ngaps--
		case off == g.start:
			g.start = end
		case end == g.end:
			g.end = off
		default:
			if a.ngaps == maxGaps {
				return addGaps
			}
			copy(a.gaps[i+2:a.ngaps+1], a.gaps[i+1:a.ngaps])
			a.gaps[i+1] = span{end, g.end}
			g.end = off
			a.ngaps++
		}
		a.have += n
		return addNew
	}
	return addDup
}

// missing lists the ranges of a message below end that have not arrived:
// the assembly's gaps, then [recvEnd, end). It fills out and returns how
// many it found.
func (a *assembly) missing(end uint32, out []span) int {
	n := 0
	for i := 0; i < a.ngaps && n < len(out); i++ {
		if a.gaps[i].start >= end {
			return n
		}
		out[n] = span{a.gaps[i].start, min(a.gaps[i].end, end)}
		n++
	}
	if a.recvEnd < end && n < len(out) {
		out[n] = span{a.recvEnd, min(end, a.length)}
		n++
	}
	return n
}

// maxResendRanges bounds the RESENDs sent for one message at a time: its
// gaps and its tail.
const maxResendRanges = maxGaps + 1
