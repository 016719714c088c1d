package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/homalb/homalb/sim"
)

// traceFile is the JSON object format of the trace-event format.
type traceFile struct {
	TraceEvents     []map[string]any  `json:"traceEvents"`
	DisplayTimeUnit string            `json:"displayTimeUnit"`
	OtherData       map[string]string `json:"otherData"`
}

// traceCheck summarises a validated trace.
type traceCheck struct {
	slices map[string]int // X events by name
	flows  map[string]int // complete flows by name
}

// validateTrace checks data against the trace-event format (the fields each
// phase requires, ts and dur in µs) and against what TraceWriter promises:
// X slices lie in the window [from, to) ns; every thread has a name; every
// flow has one start and one end, each inside a slice of its thread — a
// "packet" flow from a GRO slice to a SoftIRQ slice, a "delivery" flow from
// a SoftIRQ slice to a copy that delivered the message.
func validateTrace(t *testing.T, data []byte, from, to int64) traceCheck {
	t.Helper()
	var f traceFile
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("trace is not JSON: %v", err)
	}
	if f.DisplayTimeUnit != "" {
		t.Errorf("displayTimeUnit %q: viewers disagree on what it means", f.DisplayTimeUnit)
	}
	type span struct {
		ts, end float64
		name    string
		args    map[string]any
	}
	spans := map[float64][]span{}
	threadNames := map[float64]string{}
	processNamed := false
	type flowEnd struct {
		ph, name, cat string
		ts, tid       float64
	}
	flows := map[float64][]flowEnd{}
	c := traceCheck{slices: map[string]int{}, flows: map[string]int{}}
	num := func(i int, e map[string]any, k string) float64 {
		v, ok := e[k].(float64)
		if !ok {
			t.Fatalf("event %d %v: %q is not a number", i, e, k)
		}
		return v
	}
	for i, e := range f.TraceEvents {
		for _, k := range []string{"ph", "name"} {
			if _, ok := e[k].(string); !ok {
				t.Fatalf("event %d %v: no string %q", i, e, k)
			}
		}
		ts, pid, tid := num(i, e, "ts"), num(i, e, "pid"), num(i, e, "tid")
		if pid != 1 || tid < 0 || tid != math.Trunc(tid) {
			t.Fatalf("event %d: pid %v tid %v", i, pid, tid)
		}
		name := e["name"].(string)
		switch ph := e["ph"].(string); ph {
		case "M":
			args, _ := e["args"].(map[string]any)
			switch name {
			case "process_name":
				processNamed = args["name"] != nil
			case "thread_name":
				threadNames[tid], _ = args["name"].(string)
			case "thread_sort_index":
			default:
				t.Errorf("event %d: unknown metadata %q", i, name)
			}
		case "X":
			dur := num(i, e, "dur")
			if dur < 0 {
				t.Fatalf("event %d: negative dur", i)
			}
			// ts and dur are µs: the slice overlaps the window.
			if ts >= float64(to)/1e3 || ts+dur < float64(from)/1e3-1e-6 {
				t.Fatalf("event %d: slice [%v, %v] µs outside the window [%v, %v) µs", i, ts, ts+dur, float64(from)/1e3, float64(to)/1e3)
			}
			args, ok := e["args"].(map[string]any)
			if !ok {
				t.Fatalf("event %d: X without args", i)
			}
			if _, ok := args["bytes"]; !ok {
				t.Errorf("event %d: args lack bytes: %v", i, args)
			}
			if _, ok := args["msg"]; !ok && args["grant"] == nil && name != "service" { // the simulator does not say whose service it is
				t.Errorf("event %d: args lack msg: %v", i, args)
			}
			spans[tid] = append(spans[tid], span{ts, ts + dur, name, args})
			c.slices[name]++
		case "s", "f":
			id := num(i, e, "id")
			cat, _ := e["cat"].(string)
			if ph == "f" && e["bp"] != "e" {
				t.Errorf("event %d: flow end without bp=e", i)
			}
			flows[id] = append(flows[id], flowEnd{ph, name, cat, ts, tid})
		default:
			t.Fatalf("event %d: unexpected phase %q", i, ph)
		}
	}
	if !processNamed {
		t.Error("no process_name")
	}
	for tid := range spans {
		if threadNames[tid] == "" {
			t.Errorf("tid %v has slices but no thread_name", tid)
		}
		sort.Slice(spans[tid], func(i, j int) bool { return spans[tid][i].ts < spans[tid][j].ts })
	}
	// enclosing returns the slice of tid around ts (the last one starting
	// at or before it).
	enclosing := func(tid, ts float64) (span, bool) {
		ss := spans[tid]
		i := sort.Search(len(ss), func(i int) bool { return ss[i].ts > ts+1e-9 })
		for j := i - 1; j >= 0 && j >= i-3; j-- {
			if ss[j].ts <= ts+1e-9 && ts <= ss[j].end+1e-9 {
				return ss[j], true
			}
		}
		return span{}, false
	}
	for id, ends := range flows {
		if len(ends) != 2 || ends[0].ph != "s" || ends[1].ph != "f" {
			t.Fatalf("flow %v: events %+v, want one s then one f", id, ends)
		}
		s, e := ends[0], ends[1]
		if s.name != e.name || s.cat != e.cat || e.ts < s.ts {
			t.Fatalf("flow %v: %+v → %+v", id, s, e)
		}
		a, ok1 := enclosing(s.tid, s.ts)
		b, ok2 := enclosing(e.tid, e.ts)
		if !ok1 || !ok2 {
			t.Fatalf("flow %v (%s): an end is not inside a slice of its thread", id, s.name)
		}
		switch s.name {
		case "packet":
			if a.name != "GRO" || b.name != "SoftIRQ" || a.args["msg"] != b.args["msg"] || a.args["pkt"] != b.args["pkt"] {
				t.Fatalf("packet flow %v: from %s %v to %s %v", id, a.name, a.args, b.name, b.args)
			}
		case "delivery":
			if a.name != "SoftIRQ" || b.name != "copy" || b.args["delivered"] != true || a.args["msg"] != b.args["msg"] {
				t.Fatalf("delivery flow %v: from %s %v to %s %v", id, a.name, a.args, b.name, b.args)
			}
		default:
			t.Fatalf("flow %v named %q", id, s.name)
		}
		c.flows[s.name]++
	}
	return c
}

// TestTraceFromSimulator traces a window of a real run and validates it.
func TestTraceFromSimulator(t *testing.T) {
	cfg, err := sim.ProfileConfig("xl170")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Policy, cfg.Workload, cfg.Load = "gen2", "lognormal:3000,1.5", 0.7
	cfg.WarmupNs, cfg.DurationNs, cfg.DrainNs = 1e6, 2e6, 1e6
	from, to := int64(1.5e6), int64(1.8e6)
	var buf bytes.Buffer
	tw := NewTraceWriter(&buf, TraceMeta{Process: `gen2 "test"`, Cores: cfg.Host.Cores, Other: map[string]string{"window": "300us@1.5ms"}})
	if _, err := sim.RunWith(cfg, sim.RunOptions{Tracer: simSteps{tw}, TraceFrom: from, TraceTo: to}); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	c := validateTrace(t, buf.Bytes(), from, to)
	for _, k := range []string{"GRO", "SoftIRQ", "copy", "service"} {
		if c.slices[k] == 0 {
			t.Errorf("no %s slice in the window", k)
		}
	}
	if c.flows["packet"] < c.slices["GRO"]/2 || c.flows["delivery"] == 0 {
		t.Errorf("flows %v for slices %v", c.flows, c.slices)
	}
	st := tw.Stats()
	if st.Slices != c.slices["GRO"]+c.slices["SoftIRQ"]+c.slices["copy"]+c.slices["service"] || st.Flows != c.flows["packet"]+c.flows["delivery"] {
		t.Errorf("stats %+v disagree with the file: %v %v", st, c.slices, c.flows)
	}
	// Each core has its track, named, even if idle in the window.
	var f traceFile
	json.Unmarshal(buf.Bytes(), &f)
	names := 0
	for _, e := range f.TraceEvents {
		if e["name"] == "thread_name" {
			names++
		}
	}
	if names != cfg.Host.Cores {
		t.Errorf("%d thread names, want %d", names, cfg.Host.Cores)
	}
	if f.OtherData["window"] != "300us@1.5ms" {
		t.Errorf("otherData %v", f.OtherData)
	}
}

// TestTraceFlowsAndMemory feeds steps by hand: the arrows join the right
// slices, and state is dropped once an arrow is drawn.
func TestTraceFlowsAndMemory(t *testing.T) {
	var buf bytes.Buffer
	tw := NewTraceWriter(&buf, TraceMeta{Process: "p", Cores: 2})
	steps := []TraceStep{
		{Core: 0, Kind: TraceGRO, Start: 1000, End: 1300, Msg: 1, Pkt: 0, Bytes: 1424},
		{Core: 0, Kind: TraceGRO, Start: 1300, End: 1600, Msg: 1, Pkt: 1, Bytes: 576},
		{Core: 0, Kind: TraceGRO, Start: 1600, End: 1900, Msg: -1, Pkt: -1, Bytes: 0}, // a grant
		{Core: 1, Kind: TraceSoftIRQ, Start: 2000, End: 2700, Msg: 1, Pkt: 0, Bytes: 1424},
		{Core: 1, Kind: TraceSoftIRQ, Start: 2700, End: 3400, Msg: 1, Pkt: 1, Bytes: 576},
		{Core: 0, Kind: TraceSoftIRQ, Start: 1900, End: 3500, Msg: -1, Pkt: -1, Inline: true},
		{Core: 5, Kind: TraceCopy, Start: 3500, End: 3900, Msg: 1, Pkt: -1, Bytes: 2000, Delivered: true}, // a core beyond Cores
		{Core: 5, Kind: TraceService, Start: 3900, End: 4900, Msg: 1, Pkt: -1},
		{Core: 0, Kind: TraceGRO, Start: 5000, End: 5300, Msg: 2, Pkt: 0, Bytes: 1424}, // SoftIRQ after the window
	}
	for _, s := range steps {
		tw.Step(s)
	}
	if tw.Pending() != 1 {
		t.Errorf("pending %d, want 1 (the last packet)", tw.Pending())
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	c := validateTrace(t, buf.Bytes(), 0, 10_000)
	if c.flows["packet"] != 2 || c.flows["delivery"] != 1 || c.slices["GRO"] != 4 {
		t.Errorf("flows %v, slices %v", c.flows, c.slices)
	}
	if !strings.Contains(buf.String(), `"ts":1.0001,"dur":0.3001`) {
		t.Errorf("first slice not in µs with ns precision:\n%s", buf.String())
	}
	if !strings.Contains(buf.String(), `"name":"core 5"`) {
		t.Error("a core beyond Cores got no track name")
	}
	tw.Step(steps[0]) // after Close: ignored, no panic
	if err := tw.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.n += len(p); w.n > 100 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

func TestTraceWriteError(t *testing.T) {
	tw := NewTraceWriter(&failWriter{}, TraceMeta{Process: "p", Cores: 4})
	for i := range 5000 {
		tw.Step(TraceStep{Core: i % 4, Kind: TraceGRO, Start: int64(i), End: int64(i + 1), Msg: int64(i), Pkt: 0})
	}
	if err := tw.Close(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Close = %v, want the write error", err)
	}
}

// TestAppendMicros: a reader that parses the µs as a double and truncates
// ×1000 to an integer (Perfetto's JSON importer) gets the ns back exactly.
func TestAppendMicros(t *testing.T) {
	for ns, want := range map[int64]string{0: "0.0001", 7: "0.0071", 1000: "1.0001", 40_000_123: "40000.1231", -1500: "-1.5001"} {
		if got := string(appendMicros(nil, ns)); got != want {
			t.Errorf("appendMicros(%d) = %s, want %s", ns, got, want)
		}
	}
	for ns := int64(0); ns < 3_000_000_000; ns += 999_983 {
		for _, n := range []int64{ns, ns + 1, ns + 150, ns + 999} {
			us, err := strconv.ParseFloat(string(appendMicros(nil, n)), 64)
			if err != nil {
				t.Fatal(err)
			}
			if got := int64(us * 1000.0); got != n {
				t.Fatalf("%d ns → %s µs → %d ns", n, appendMicros(nil, n), got)
			}
		}
	}
}

// simSteps feeds the simulator's steps to a TraceWriter, as the CLI does.
type simSteps struct{ w *TraceWriter }

func (a simSteps) Step(s sim.Step) {
	a.w.Step(TraceStep{Core: s.Core, Kind: TraceKind(s.Kind), Start: s.Start, End: s.End, Msg: s.Msg, Pkt: s.Pkt, Bytes: s.Bytes, Inline: s.Inline, Delivered: s.Delivered})
}
