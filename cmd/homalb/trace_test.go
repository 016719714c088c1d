package main

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/homalb/homalb/sim"
)

// TestTraceCommand writes a trace and checks it against the trace-event
// format: every event has ph, ts, pid, tid and name; X events a dur; flow
// events an id; times are µs inside the window; one named track per core.
func TestTraceCommand(t *testing.T) {
	out := filepath.Join(t.TempDir(), "trace.json")
	args := append([]string{"trace", "--policy", "gen3", "--workload", "w3", "--window", "400us@1.5ms", "-o", out}, fast...)
	code, stdout, stderr := cli(t, args...)
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	if !strings.Contains(stdout, "wrote "+out) {
		t.Errorf("stdout %q", stdout)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		TraceEvents []map[string]any  `json:"traceEvents"`
		OtherData   map[string]string `json:"otherData"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	const fromUs, toUs = 1500.0, 1900.0
	tracks := map[float64]bool{}
	named := map[float64]bool{}
	kinds := map[string]int{}
	flowIDs := map[float64]string{}
	lo, hi := math.Inf(1), math.Inf(-1) // the extent of the slices
	var flowTs []float64
	for i, e := range f.TraceEvents {
		for _, k := range []string{"ph", "name"} {
			if _, ok := e[k].(string); !ok {
				t.Fatalf("event %d lacks %q: %v", i, k, e)
			}
		}
		for _, k := range []string{"ts", "pid", "tid"} {
			if _, ok := e[k].(float64); !ok {
				t.Fatalf("event %d lacks %q: %v", i, k, e)
			}
		}
		ts, tid := e["ts"].(float64), e["tid"].(float64)
		switch ph := e["ph"].(string); ph {
		case "M":
			if e["name"] == "thread_name" {
				named[tid] = true
			}
		case "X":
			dur, ok := e["dur"].(float64)
			if !ok || dur < 0 {
				t.Fatalf("event %d: X without a dur: %v", i, e)
			}
			if ts >= toUs || ts+dur < fromUs {
				t.Fatalf("event %d: [%v, %v] µs is outside the window", i, ts, ts+dur)
			}
			tracks[tid] = true
			lo, hi = min(lo, ts), max(hi, ts+dur)
			kinds[e["name"].(string)]++
		case "s", "f":
			id, ok := e["id"].(float64)
			if !ok {
				t.Fatalf("event %d: flow without an id: %v", i, e)
			}
			flowTs = append(flowTs, ts)
			flowIDs[id] += ph
		default:
			t.Fatalf("event %d: phase %q", i, ph)
		}
	}
	if len(named) != 20 {
		t.Errorf("%d named tracks, want one per core (20)", len(named))
	}
	for tid := range tracks {
		if !named[tid] {
			t.Errorf("track %v has no name", tid)
		}
	}
	for _, k := range []string{"GRO", "SoftIRQ", "copy", "service"} {
		if kinds[k] == 0 {
			t.Errorf("no %s slices (%v)", k, kinds)
		}
	}
	for _, ts := range flowTs { // arrows join slices, so lie among them
		if ts < lo || ts > hi {
			t.Fatalf("flow event at %v µs, outside the slices [%v, %v]", ts, lo, hi)
		}
	}
	if len(flowIDs) == 0 {
		t.Error("no flow arrows")
	}
	for id, phs := range flowIDs {
		if phs != "sf" {
			t.Fatalf("flow %v: phases %q, want s then f", id, phs)
		}
	}
	if f.OtherData["policy"] != "gen3" || f.OtherData["window"] != "400µs@1.5ms" {
		t.Errorf("otherData %v", f.OtherData)
	}
}

func TestTraceWindowErrors(t *testing.T) {
	for _, w := range []string{"2ms", "2ms@", "@40ms", "x@40ms", "2ms@y", "0s@1ms", "-1ms@1ms", "1ms@-1ms", "1ms@1h", "2ms@40ms@1ms"} {
		args := append([]string{"trace", "--window", w, "-o", filepath.Join(t.TempDir(), "t.json")}, fast...)
		code, _, stderr := cli(t, args...)
		if code != 2 || strings.Count(strings.TrimRight(stderr, "\n"), "\n") != 0 || !strings.Contains(stderr, "--window") {
			t.Errorf("--window %q: exit %d, stderr %q", w, code, stderr)
		}
	}
}

// TestTraceStopsEarly: stopping the run after the window does not change a
// single byte of the trace.
func TestTraceStopsEarly(t *testing.T) {
	cfg, err := sim.ProfileConfig("xl170")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Policy, cfg.Workload, cfg.Load = "gen2", "lognormal:3000,1.5", 0.8
	cfg.WarmupNs, cfg.DurationNs, cfg.DrainNs = 1e6, 8e6, 2e6
	from, to := int64(2e6), int64(2.4e6)
	var full, early bytes.Buffer
	sf, err := traceRun(cfg, from, to, -1, &full, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	se, err := traceRun(cfg, from, to, 1e6, &early, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if sf.Slices < 100 || !bytes.Equal(full.Bytes(), early.Bytes()) {
		t.Errorf("traces differ (%+v vs %+v)", sf, se)
	}
}
