package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/homalb/homalb/workload"
)

// useBuiltinWorkloads makes w1..w5 the tables compiled in, whatever the
// environment says.
func useBuiltinWorkloads(t *testing.T) {
	t.Helper()
	t.Setenv(workload.EnvSearchPath, "")
}

// execute runs the CLI with args, which must succeed, and returns what it
// printed on stdout.
func execute(t *testing.T, args ...string) string {
	t.Helper()
	status, stdout, stderr := runStatus(t, args...)
	if status != 0 || stderr != "" {
		t.Fatalf("%q: exit status %d, stderr %q", args, status, stderr)
	}
	return stdout
}

// runStatus runs the CLI as main does and returns the exit status and what
// it printed on stdout and stderr.
func runStatus(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	status := runWith(args, &stdout, &stderr)
	return status, stdout.String(), stderr.String()
}

// TestWorkloadPublished checks the summaries of W1..W5 against the
// published facts (the Homa papers' workload descriptions).
func TestWorkloadPublished(t *testing.T) {
	useBuiltinWorkloads(t)
	for _, tc := range []struct {
		name string
		want []string
	}{
		{"w1", []string{"mean        189 B\n", "98.20% of messages", "size <= 1,424 B", "max         100,000 B", "no size is that large"}},
		{"w2", []string{"442 B untruncated; 433 B truncated at 1,000,000 B", "96.96% of messages"}},
		{"w3", []string{"2,928 B (2.93 KB) untruncated", "88.86% of messages"}},
		{"w4", []string{"127,797 B (128 KB) untruncated; 60,175 B (60.2 KB) truncated at 1,000,000 B", "63.94% of messages", "P50         662 B\n", "10,000,000 B (10.0 MB) untruncated"}},
		{"w5", []string{"2,564,690 B (2.56 MB) untruncated", "0.00% of messages"}},
	} {
		out := execute(t, "workload", tc.name)
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("workload %s: output lacks %q:\n%s", tc.name, w, out)
			}
		}
		for _, label := range []string{"workload", "source", "truncation", "mean", "P50", "P90", "P99", "P99.9", "max", "one packet"} {
			if !strings.Contains(out, "\n"+label+" ") && !strings.HasPrefix(out, label+" ") {
				t.Errorf("workload %s: no %q line:\n%s", tc.name, label, out)
			}
		}
	}
}

func TestWorkloadJSON(t *testing.T) {
	useBuiltinWorkloads(t)
	for _, tc := range []struct {
		name      string
		mean      float64 // untruncated, rounded
		onePacket float64 // percent, rounded
	}{
		{"w1", 189, 98}, {"w2", 442, 97}, {"w3", 2928, 89}, {"w4", 127_797, 64}, {"w5", 2_564_690, 0},
	} {
		var s workloadSummary
		if err := json.Unmarshal([]byte(execute(t, "workload", tc.name, "--json")), &s); err != nil {
			t.Fatal(err)
		}
		if s.Name != tc.name || math.Round(s.MeanUntruncated) != tc.mean || math.Round(100*s.OnePacketMsgs) != tc.onePacket {
			t.Errorf("%s: %+v", tc.name, s)
		}
		if s.MaxBytes != workload.DefaultMaxBytes || s.Max > s.MaxBytes || s.Mean > s.MeanUntruncated || s.P50 > s.P90 || s.P90 > s.P99 || s.P99 > s.P999 || s.P999 > s.Max {
			t.Errorf("%s: inconsistent %+v", tc.name, s)
		}
	}

	// Options: no truncation, a 3000 B MTU, and a synthetic family.
	var s workloadSummary
	if err := json.Unmarshal([]byte(execute(t, "workload", "w5", "--max-bytes=-1", "--mtu-payload", "2924", "--json")), &s); err != nil {
		t.Fatal(err)
	}
	if s.Truncated || s.Max != 29_400_000 || s.Mean != s.MeanUntruncated || s.MTUPayload != 2924 || math.Abs(s.OnePacketMsgs-0.05) > 1e-9 {
		t.Errorf("w5 untruncated, MTU 3000: %+v", s)
	}
	if err := json.Unmarshal([]byte(execute(t, "workload", "fixed:5000", "--max-bytes", "1000", "--json")), &s); err != nil {
		t.Fatal(err)
	}
	if !s.Truncated || s.Mean != 1000 || s.MeanUntruncated != 5000 || s.TruncatedMsgs != 1 || s.OnePacketMsgs != 1 {
		t.Errorf("fixed:5000 truncated at 1000: %+v", s)
	}
}

func TestWorkloadList(t *testing.T) {
	for _, args := range [][]string{{"workload"}, {"workload", "--list"}} {
		out := execute(t, args...)
		for _, name := range workload.Names() {
			if !strings.Contains(out, "\n"+name+" ") {
				t.Errorf("%q: %s missing from\n%s", args, name, out)
			}
		}
	}
}

// TestWorkloadBadInput: bad names, files and flags exit with status 2 and
// one line on stderr.
func TestWorkloadBadInput(t *testing.T) {
	useBuiltinWorkloads(t)
	bad := filepath.Join(t.TempDir(), "bad.csv")
	if err := os.WriteFile(bad, []byte("bytes,cumulative_fraction\n10,0.5\n20,0.7\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"workload", "w9"}, `workload "w9": unknown workload`},
		{[]string{"workload", "exp:0"}, `workload "exp:0": exp:MEAN: MEAN = 0`},
		{[]string{"workload", "lognormal:100"}, "lognormal wants 2 parameter(s)"},
		{[]string{"workload", bad}, bad + ":3: last cumulative fraction 0.7 is not 1"},
		{[]string{"workload", "missing/w1.csv"}, "no such file"},
		{[]string{"workload", "w1", "--mtu-payload", "0"}, "--mtu-payload 0"},
		{[]string{"workload", "w1", "--max-bytes", "lots"}, `invalid argument "lots" for "--max-bytes"`},
		{[]string{"workload", "w1", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"workload", "w1", "w2"}, "accepts at most 1 arg"},
		{[]string{"workload", "--list", "w1"}, "--list takes no NAME"},
	} {
		status, _, stderr := runStatus(t, tc.args...)
		if status != 2 {
			t.Errorf("%q: exit status %d, want 2 (stderr %q)", tc.args, status, stderr)
		}
		if !strings.HasPrefix(stderr, "homalb: ") || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, tc.msg) {
			t.Errorf("%q: stderr %q, want one line with %q", tc.args, stderr, tc.msg)
		}
	}
	if status, _, stderr := runStatus(t, "workload", "w1"); status != 0 || stderr != "" {
		t.Errorf("workload w1: status %d, stderr %q", status, stderr)
	}
}

func TestSizeText(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{sizeText(1), "1 B"},
		{sizeText(1424), "1,424 B"},
		{sizeText(10_000), "10,000 B (10.0 KB)"},
		{sizeText(999_999), "999,999 B (1.00 MB)"},
		{sizeText(1_000_000), "1,000,000 B (1.00 MB)"},
		{sizeText(29_400_000), "29,400,000 B (29.4 MB)"},
		{sizeText(workload.MaxSize), "1,099,511,627,776 B (1.10 TB)"},
		{meanText(2.5), "2.50 B"},
		{meanText(189.173), "189 B"},
		{meanText(127_796.64), "127,797 B (128 KB)"},
		{group("-1234567"), "-1,234,567"},
		{pct(0.63940), "63.94%"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
