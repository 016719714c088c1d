package report

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
)

// TraceKind says what a traced step was.
type TraceKind uint8

const (
	TraceGRO     TraceKind = iota // driver + GRO of one packet (the interrupt included)
	TraceSoftIRQ                  // SoftIRQ processing of one packet
	TraceCopy                     // a thread's receive call and copy of a chunk of a message
	TraceService                  // a thread serving a delivered message
)

// TraceStep is one piece of work on one core, as a driver reports it (the
// simulator's sim.Step carries the same fields).
type TraceStep struct {
	Core       int
	Kind       TraceKind
	Start, End int64 // ns
	Msg        int64 // the message's sequence number in the run; −1 for a GRANT
	Pkt        int32 // packet number within the message; −1 for a thread's step or a GRANT
	Bytes      int32 // the packet's payload, or the bytes copied
	Inline     bool  // a SoftIRQ step of a bypassed packet, on its GRO core
	Delivered  bool  // a copy step that completed its message
}

// TraceMeta describes the run a trace comes from.
type TraceMeta struct {
	// Process names the process track in the viewer, e.g. "gen2, w4 at 80% load".
	Process string
	// Cores is the number of cores: each gets a thread track, named and in
	// order, even if it does nothing in the window.
	Cores int
	// Other is written as the trace's "otherData" (shown by the viewers as
	// metadata): the configuration, the window, ….
	Other map[string]string
}

// TraceStats counts what a [TraceWriter] wrote.
type TraceStats struct {
	Events int // every trace event, metadata included
	Slices int // "X" events: one per step
	Flows  int // flow arrows (each an "s" and an "f" event)
}

// TraceWriter streams the steps it receives as a
// Chrome trace-event JSON file (the format Perfetto and chrome://tracing
// open): one process, one thread track per core, an "X" (complete) slice per
// step, and flow arrows from a packet's GRO slice to its SoftIRQ slice and
// from a message's last SoftIRQ slice to the copy that delivered it.
// Timestamps are µs of simulated time with ns precision (see appendMicros).
//
// Events are written as steps arrive; the writer keeps only the packets whose
// GRO it has seen and SoftIRQ not yet, and the messages whose SoftIRQ it has
// seen and delivery not yet, so its memory is bounded by the window traced.
// Call Close at the end of the run: it ends the JSON and reports the first
// write error.
type TraceWriter struct {
	w     *bufio.Writer
	buf   []byte
	err   error
	named map[int]bool // cores with a thread track

	gro  map[pktKey]anchor // packet → its GRO slice, until its SoftIRQ
	last map[int64]anchor  // message → its latest SoftIRQ slice, until delivered
	flow uint64            // last flow id used

	stats  TraceStats
	closed bool
}

type pktKey struct {
	msg int64
	pkt int32
}

// anchor is a point inside a slice where a flow arrow starts or ends: its
// middle, so that the viewer binds the arrow to that slice and not to a
// neighbour that starts where it ends.
type anchor struct {
	tid int
	ts  int64 // ns
}

// tid is the thread id of a core's track (tid 0 is avoided: some viewers
// treat it as the idle task).
func tid(core int) int { return core + 1 }

// NewTraceWriter starts a trace on w: the JSON header and the names of the
// process and of the cores' tracks.
func NewTraceWriter(w io.Writer, meta TraceMeta) *TraceWriter {
	t := &TraceWriter{
		w:     bufio.NewWriterSize(w, 64<<10),
		named: map[int]bool{},
		gro:   map[pktKey]anchor{},
		last:  map[int64]anchor{},
	}
	other := meta.Other
	if other == nil {
		other = map[string]string{}
	}
	od, err := json.Marshal(other)
	if err != nil {
		t.err = fmt.Errorf("trace: %w", err)
	}
	// No displayTimeUnit: some Perfetto versions took "ns" to mean the
	// unit of ts, which is µs by the format's definition.
	t.buf = append(t.buf[:0], `{"otherData":`...)
	t.buf = append(t.buf, od...)
	t.buf = append(t.buf, ",\n\"traceEvents\":[\n"...)
	t.write()
	t.meta("process_name", 0, "name", strconv.Quote(meta.Process), true)
	for c := 0; c < meta.Cores; c++ {
		t.nameCore(c)
	}
	return t
}

// meta writes a metadata ("M") event.
func (t *TraceWriter) meta(name string, tid int, arg, value string, first bool) {
	if !first {
		t.buf = append(t.buf, ",\n"...)
	}
	t.buf = append(t.buf, `{"name":"`...)
	t.buf = append(t.buf, name...)
	t.buf = append(t.buf, `","ph":"M","ts":0,"pid":1,"tid":`...)
	t.buf = strconv.AppendInt(t.buf, int64(tid), 10)
	t.buf = append(t.buf, `,"args":{"`...)
	t.buf = append(t.buf, arg...)
	t.buf = append(t.buf, `":`...)
	t.buf = append(t.buf, value...)
	t.buf = append(t.buf, "}}"...)
	t.stats.Events++
	t.write()
}

func (t *TraceWriter) nameCore(c int) {
	t.named[c] = true
	t.meta("thread_name", tid(c), "name", strconv.Quote("core "+strconv.Itoa(c)), false)
	t.meta("thread_sort_index", tid(c), "sort_index", strconv.Itoa(c), false)
}

// Step writes the slice of s and the flow arrows it completes.
func (t *TraceWriter) Step(s TraceStep) {
	if t.err != nil || t.closed {
		return
	}
	if !t.named[s.Core] {
		t.nameCore(s.Core)
	}
	t.slice(s)
	here := anchor{tid(s.Core), s.Start + (s.End-s.Start)/2}
	switch s.Kind {
	case TraceGRO:
		if s.Msg >= 0 && s.Pkt >= 0 {
			t.gro[pktKey{s.Msg, s.Pkt}] = here
		}
	case TraceSoftIRQ:
		if s.Msg < 0 {
			break
		}
		k := pktKey{s.Msg, s.Pkt}
		if from, ok := t.gro[k]; ok {
			delete(t.gro, k)
			t.arrow("packet", from, here)
		}
		t.last[s.Msg] = here
	case TraceCopy:
		if !s.Delivered || s.Msg < 0 {
			break
		}
		if from, ok := t.last[s.Msg]; ok {
			delete(t.last, s.Msg)
			t.arrow("delivery", from, here)
		}
	}
}

var sliceNames = [...]struct{ name, cat string }{
	TraceGRO:     {"GRO", "gro"},
	TraceSoftIRQ: {"SoftIRQ", "softirq"},
	TraceCopy:    {"copy", "app"},
	TraceService: {"service", "app"},
}

func (t *TraceWriter) slice(s TraceStep) {
	name, cat := "step", "other"
	if int(s.Kind) < len(sliceNames) {
		name, cat = sliceNames[s.Kind].name, sliceNames[s.Kind].cat
	}
	b := append(t.buf, ",\n{\"name\":\""...)
	b = append(b, name...)
	b = append(b, `","cat":"`...)
	b = append(b, cat...)
	b = append(b, `","ph":"X","ts":`...)
	b = appendMicros(b, s.Start)
	b = append(b, `,"dur":`...)
	b = appendMicros(b, s.End-s.Start)
	b = append(b, `,"pid":1,"tid":`...)
	b = strconv.AppendInt(b, int64(tid(s.Core)), 10)
	b = append(b, `,"args":{`...)
	if s.Msg >= 0 {
		b = append(b, `"msg":`...)
		b = strconv.AppendInt(b, s.Msg, 10)
		b = append(b, ',')
	} else if s.Kind == TraceGRO || s.Kind == TraceSoftIRQ {
		b = append(b, `"grant":true,`...)
	}
	if s.Pkt >= 0 && s.Msg >= 0 {
		b = append(b, `"pkt":`...)
		b = strconv.AppendInt(b, int64(s.Pkt), 10)
		b = append(b, ',')
	}
	if s.Inline {
		b = append(b, `"inline":true,`...)
	}
	if s.Delivered {
		b = append(b, `"delivered":true,`...)
	}
	b = append(b, `"bytes":`...)
	b = strconv.AppendInt(b, int64(s.Bytes), 10)
	b = append(b, "}}"...)
	t.buf = b
	t.stats.Events++
	t.stats.Slices++
	t.write()
}

// arrow writes a flow from one slice to another: an "s" event bound to the
// slice enclosing from, an "f" event bound (bp "e") to the slice enclosing to.
func (t *TraceWriter) arrow(name string, from, to anchor) {
	t.flow++
	for i, a := range [2]anchor{from, to} {
		b := append(t.buf, ",\n{\"name\":\""...)
		b = append(b, name...)
		if i == 0 {
			b = append(b, `","cat":"flow","ph":"s","id":`...)
		} else {
			b = append(b, `","cat":"flow","ph":"f","bp":"e","id":`...)
		}
		b = strconv.AppendUint(b, t.flow, 10)
		b = append(b, `,"ts":`...)
		b = appendMicros(b, a.ts)
		b = append(b, `,"pid":1,"tid":`...)
		b = strconv.AppendInt(b, int64(a.tid), 10)
		b = append(b, '}')
		t.buf = b
		t.stats.Events++
	}
	t.stats.Flows++
	t.write()
}

func (t *TraceWriter) write() {
	if t.err == nil {
		if _, err := t.w.Write(t.buf); err != nil {
			t.err = fmt.Errorf("trace: %w", err)
		}
	}
	t.buf = t.buf[:0]
}

// Pending is the number of packets and messages the writer holds while
// waiting for the other end of their flow arrows.
func (t *TraceWriter) Pending() int { return len(t.gro) + len(t.last) }

// Stats counts the events written so far.
func (t *TraceWriter) Stats() TraceStats { return t.stats }

// Close ends the JSON document and flushes it; it returns the first error
// met while writing. The underlying writer is not closed.
func (t *TraceWriter) Close() error {
	if t.closed {
		return t.err
	}
	t.closed = true
	t.buf = append(t.buf[:0], "\n]}\n"...)
	t.write()
	if t.err == nil {
		if err := t.w.Flush(); err != nil {
			t.err = fmt.Errorf("trace: %w", err)
		}
	}
	t.gro, t.last = nil, nil
	return t.err
}

// appendMicros appends ns as µs: 40000123 → 40000.1231. The fourth decimal,
// a tenth of a ns, is there for viewers that read µs into a double and
// truncate ×1000 to integer ns (Perfetto does): 40000.123 would become
// 40000122.99999… → 40000122 ns, and a slice could overlap its neighbour by
// a ns; 40000.1231 becomes exactly 40000123.
func appendMicros(b []byte, ns int64) []byte {
	if ns < 0 {
		b = append(b, '-')
		ns = -ns
	}
	b = strconv.AppendInt(b, ns/1000, 10)
	frac := ns % 1000
	return append(b, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10), '1')
}
