package rx

import (
	"runtime"
	"testing"
)

// TestMsgBufFreeList: a released message buffer is the next one of its
// class handed out, a garbage collection in between or not, and the free
// lists keep no more than msgBufKeep idle bytes.
func TestMsgBufFreeList(t *testing.T) {
	const n = 5 << 20 // an 8 MiB class, which no other test's messages use
	a := getMsgBuf(n)
	if len(*a) != n || cap(*a) != 8<<20 {
		t.Fatalf("getMsgBuf(%d): len %d cap %d", n, len(*a), cap(*a))
	}
	putMsgBuf(a)
	runtime.GC()
	runtime.GC() // a sync.Pool would have dropped it by now
	b := getMsgBuf(n - 1)
	if b != a || len(*b) != n-1 {
		t.Errorf("after a release and two collections: got a new buffer (same: %v, len %d)", b == a, len(*b))
	}
	// Release more than the lists keep: the excess is left to the
	// collector.
	var held []*[]byte
	for range msgBufKeep/(8<<20) + 2 {
		held = append(held, getMsgBuf(n))
	}
	held = append(held, b)
	for _, bp := range held {
		putMsgBuf(bp)
	}
	if idle := msgBufIdle.Load(); idle > msgBufKeep {
		t.Errorf("free lists keep %d idle bytes, more than %d", idle, msgBufKeep)
	}
	for range held { // leave the class as other tests found it
		getMsgBuf(n)
	}
	putMsgBuf(&[]byte{}) // not one of ours: ignored
}
