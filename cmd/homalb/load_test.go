package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/homalb/homalb/internal/rxtest"
	"github.com/homalb/homalb/report"
	"github.com/homalb/homalb/rx"
)

// TestLoadBenchBadFlags: bad input to load and bench exits 2 with one line.
func TestLoadBenchBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"load", "--rate", "100", "--gbps", "1"},
		{"load", "--rate", "-5"},
		{"load", "--workload", "w9"},
		{"load", "--loss", "1.5"},
		{"load", "--dup", "-0.1"},
		{"load", "--delay", "-1ms"},
		{"load", "--duration", "0s"},
		{"load", "--warmup", "5s", "--duration", "1s"},
		{"load", "--addr", "localhost"},
		{"load", "--clients", "0"},
		{"load", "--label", ""},
		{"load", "--unsched-bytes", "10"},
		{"load", "extra"},
		{"bench", "--policies", "nope"},
		{"bench", "--policies", "oracle"},
		{"bench", "--gro-cores", "x"},
		{"bench", "--json", "-", "--html", "-"},
		{"bench", "--max-overcommit", "0"},
		{"serve", "--metrics", "nowhere"},
		{"serve", "--loss", "2"},
		{"serve", "--resend-interval", "1ns"},
	} {
		code, _, stderr := cli(t, args...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", args, code, stderr)
		}
		if lines := strings.Count(strings.TrimRight(stderr, "\n"), "\n"); lines != 0 || stderr == "" {
			t.Errorf("%v: stderr is not one line: %q", args, stderr)
		}
	}
}

// TestLoadSmoke: load runs against an echo server, prints its summary, and
// writes JSON in the simulator's shape that report reads.
func TestLoadSmoke(t *testing.T) {
	s := rxtest.EchoServer(t)
	out := filepath.Join(t.TempDir(), "real.json")
	code, stdout, stderr := cli(t, "load", "--addr", s.Addr().String(), "--workload", "w3", "--rate", "800",
		"--duration", "200ms", "--calibration-calls", "20", "--label", "gen3", "--json", out,
		"--loss", "0.02", "--dup", "0.02", "--reorder", "0.05")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"gen3: w3 at 800 RPC/s", "calibration (idle server)", "sent ", "completed ", "RTT (µs)", "slowdown, one-packet RPCs", "size ≤ (B)", "faults:"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	rs, err := report.ReadFile(out)
	if err != nil || len(rs) != 1 {
		t.Fatalf("report reads the JSON: %v (%d results)", err, len(rs))
	}
	r := rs[0]
	if r.Policy != "gen3" || r.Workload != "w3" || len(r.Slowdown) == 0 || r.Short.Count == 0 || r.RTTNs == nil || r.RTTNs.P50 <= 0 || r.Config.Host.LinkGbps <= 0 {
		t.Errorf("result: policy %q workload %q, %d buckets, short %+v, rtt %+v, link %v",
			r.Policy, r.Workload, len(r.Slowdown), r.Short, r.RTTNs, r.Config.Host.LinkGbps)
	}
	// A real run is a real run: not dressed as a simulation, and what a
	// server in another process was not asked about is absent, not zero.
	if !r.Real() || r.Config.Profile != "" || r.HandoffNs != nil || len(r.Cores) != 0 || r.HotspotFrac != nil || r.LatencyNs != nil {
		t.Errorf("real run: real %v, profile %q, handoffs %v, %d cores, hotspots %v, latency %v",
			r.Real(), r.Config.Profile, r.HandoffNs, len(r.Cores), r.HotspotFrac, r.LatencyNs)
	}
	var page bytes.Buffer
	if err := report.WriteHTML(&page, rs, report.Options{}); err != nil {
		t.Fatal(err)
	}
	html := page.String()
	if strings.Contains(html, "simulator") || !strings.Contains(html, "real run") || strings.Contains(html, "<td>0.0</td>") || strings.Contains(html, "loopback") {
		t.Errorf("the report of a real run speaks of a simulator, or shows 0.0 for what was not measured")
	}
	var raw struct {
		Sent, Completed int64
		Failed          map[string]int64
		RTT             struct{ P50, P99, P999 float64 } `json:"rtt_ns"`
		Client          rx.ClientStats
	}
	data, _ := os.ReadFile(out)
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	if raw.Sent == 0 || raw.Completed != raw.Sent || len(raw.Failed) != 0 || raw.RTT.P99 < raw.RTT.P50 || raw.Client.Faults.Lost+raw.Client.Faults.Duplicated == 0 {
		t.Errorf("sent %d, completed %d, failed %v, rtt %+v, faults %+v", raw.Sent, raw.Completed, raw.Failed, raw.RTT, raw.Client.Faults)
	}
}

// TestBenchSmoke: bench runs two policies and prints the comparison; its
// JSON is an array that report reads.
func TestBenchSmoke(t *testing.T) {
	out := filepath.Join(t.TempDir(), "bench.json")
	code, stdout, stderr := cli(t, "bench", "--policies", "same,gen2", "--workload", "w3", "--rate", "400",
		"--duration", "150ms", "--calibration-calls", "10", "--no-pin", "--json", out)
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, stderr, stdout)
	}
	for _, want := range []string{"loopback, 2 logical cores", "slowdown ideal", "policy", "same ", "gen2 ", "busiest"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	rs, err := report.ReadFile(out)
	if err != nil || len(rs) != 2 || rs[0].Policy != "same" || rs[1].Policy != "gen2" {
		t.Fatalf("report reads the JSON: %v (%d results)", err, len(rs))
	}
	for _, r := range rs {
		if len(r.Cores) != 2 || r.Messages == 0 || r.Config.Host.Cores != 2 {
			t.Errorf("%s: %d cores, %d messages", r.Policy, len(r.Cores), r.Messages)
		}
	}
	if !strings.Contains(stderr, "calibrating") {
		t.Errorf("no progress on stderr: %q", stderr)
	}
}
