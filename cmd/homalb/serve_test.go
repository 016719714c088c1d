package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/homalb/homalb/rx"
)

// TestServeBadFlags: every kind of bad flag exits 2.
func TestServeBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "--policy", "nope"},
		{"serve", "--gro-cores", "x"},
		{"serve", "--addr", "localhost"},
		{"serve", "--threads", "0"},
		{"serve", "--softirq-cores", "0"}, // gen3 group overlapping its GRO core
		{"serve", "--policy", "gen3", "--gen3-groups", "0:"},
		{"serve", "--policy", "gen3", "--gen3-groups", "0:5", "--cores", "2"},
		{"serve", "--poll", "-1us"},
		{"serve", "--gro-busy", "soon"},
		{"serve", "--gro-busy", "-2us"},
		{"serve", "--poll-us", "50"}, // the old µs flags are gone: one spelling of time
		{"serve", "--max-gro", "1000"},
		{"serve", "--gro-cores", "0,0"},
		{"serve", "--duration", "-1s"},
		{"serve", "extra"},
		{"serve", "--bare", "--policy", "gen2"}, // the floor has no pipeline to lay out
		{"serve", "--bare", "--addr", "localhost"},
		{"serve", "--bare", "--duration", "-1s"},
	} {
		if code := run(args); code != 2 {
			t.Errorf("homalb %s: exit %d, want 2", strings.Join(args, " "), code)
		}
	}
}

// freePort returns a loopback UDP port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return strconv.Itoa(c.LocalAddr().(*net.UDPAddr).Port)
}

// syncBuffer is a bytes.Buffer safe to read while the command writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestServeEcho runs the echo server of the example, calls it,
// asks for telemetry with SIGUSR1, stops it with SIGINT, and checks the
// output and that nothing is left running.
func TestServeEcho(t *testing.T) {
	// os/signal starts its watcher goroutine at the first Notify, for good.
	warm := make(chan os.Signal, 1)
	signal.Notify(warm, syscall.SIGUSR2)
	signal.Stop(warm)
	before := runtime.NumGoroutine()
	addr, c, out, done := startServe(t, "--policy", "gen3", "--gro-cores", "0",
		"--softirq-cores", "1", "--app-cores", "1", "--threads", "2")
	defer c.Close()
	for i, n := range []int{1, 100, 1424, 1425, 20_000, 200_000} {
		req := bytes.Repeat([]byte{byte(i + 1)}, n)
		var resp []byte
		for attempt := 0; attempt < 4 && resp == nil; attempt++ {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			resp, _ = c.Call(ctx, req)
			cancel()
		}
		if !bytes.Equal(resp, req) {
			t.Errorf("echo of %d bytes: got %d bytes back", n, len(resp))
		}
	}

	if err := syscall.Kill(syscall.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "drops:") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	interruptServe(t, done)
	o := out.String()
	if n := strings.Count(o, "drops:"); n != 2 {
		t.Errorf("telemetry printed %d times, want 2 (SIGUSR1, exit):\n%s", n, o)
	}
	for _, want := range []string{"rx gen3 on " + addr, "handoff gro→softirq", "handoff softirq→app", "core  cpu"} {
		if !strings.Contains(o, want) {
			t.Errorf("output lacks %q:\n%s", want, o)
		}
	}
	// The process's CPU per message served, with each telemetry print.
	if n := regexp.MustCompile(`(?m)^cpu: [0-9.]+ s user\+system, [0-9.]+ µs per message$`).FindAllStringIndex(o, -1); len(n) != 2 {
		t.Errorf("%d CPU lines, want 2 (SIGUSR1, exit):\n%s", len(n), o)
	}
	_ = c.Close()
	// The server is gone: its port can be bound again.
	l, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Errorf("port still bound after exit: %v", err)
	} else {
		l.Close()
	}
	deadline = time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after serve exited, %d before", n, before)
	}
}

// TestServeBare: serve --bare answers calls of one packet from its one
// thread, prints its counts and CPU line on SIGUSR1 and at exit, and stops
// on SIGINT.
func TestServeBare(t *testing.T) {
	_, c, out, done := startServe(t, "--bare")
	defer c.Close()
	for i := range 50 {
		if !tryCall(c, bytes.Repeat([]byte{byte(i)}, 100)) {
			t.Fatalf("call %d failed", i)
		}
	}
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "requests answered") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	interruptServe(t, done)
	o := out.String()
	counts := regexp.MustCompile(`(?m)^bare echo: ([0-9]+) requests answered, [0-9]+ datagrams ignored$`).FindAllStringSubmatch(o, -1)
	if len(counts) != 2 {
		t.Fatalf("%d count lines, want 2 (SIGUSR1, exit):\n%s", len(counts), o)
	}
	if n, _ := strconv.Atoi(counts[1][1]); n < 51 { // the start-up ping and 50 calls
		t.Errorf("answered %d requests, want at least 51", n)
	}
	if n := regexp.MustCompile(`(?m)^cpu: [0-9.]+ s user\+system, [0-9.]+ µs per message$`).FindAllStringIndex(o, -1); len(n) != 2 {
		t.Errorf("%d CPU lines, want 2:\n%s", len(n), o)
	}
}

func tryCall(c *rx.Client, req []byte) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	resp, err := c.Call(ctx, req)
	return err == nil && bytes.Equal(resp, req)
}

// TestServeDuration: with --duration the server stops by itself, exit 0.
func TestServeDuration(t *testing.T) {
	args := []string{"serve", "--addr", "127.0.0.1:" + freePort(t), "--policy", "gen2", "--gro-cores", "0,1",
		"--app-cores", "0,1", "--duration", "200ms", "--no-pin"}
	if code := run(args); code != 0 {
		t.Errorf("homalb %s: exit %d", strings.Join(args, " "), code)
	}
}

// TestServeMetrics: serve --metrics serves Prometheus metrics over HTTP on
// loopback; a scrape after some calls shows per-core busy time by role,
// handoff histograms, drops by reason and RPCs in flight.
func TestServeMetrics(t *testing.T) {
	warm := make(chan os.Signal, 1)
	signal.Notify(warm, syscall.SIGUSR2)
	signal.Stop(warm)
	addr, c, out, done := startServe(t, "--policy", "gen2", "--metrics", "127.0.0.1:0", "--no-pin")
	defer c.Close()
	re := regexp.MustCompile(`metrics on (http://127\.0\.0\.1:\d+/metrics)`)
	m := re.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no metrics address in %q", out.String())
	}
	for i := range 10 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		req := bytes.Repeat([]byte{byte(i)}, 100+i*10_000)
		if resp, err := c.Call(ctx, req); err != nil || !bytes.Equal(resp, req) {
			t.Errorf("call of %d bytes: %v", len(req), err)
		}
		cancel()
	}
	resp, err := http.Get(m[1])
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %v, status %d", err, resp.StatusCode)
	}
	text := string(body)
	for _, want := range []string{
		`homalb_rx_core_busy_seconds_total{core="0",role="gro"}`,
		`homalb_rx_core_busy_seconds_total{core="0",role="app"}`,
		`homalb_rx_handoff_latency_seconds_bucket{core="0",handoff="softirq_to_app",le="1.6e-05"}`,
		`homalb_rx_drops_total{reason="malformed"} 0`,
		`homalb_rx_rpcs_in_flight`,
		`homalb_rx_inflight_bytes`,
		`homalb_rx_info{addr="` + addr + `",policy="gen2"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if mm := regexp.MustCompile(`(?m)^homalb_rx_messages_total (\d+)$`).FindStringSubmatch(text); mm == nil {
		t.Error("scrape lacks homalb_rx_messages_total")
	} else if n, _ := strconv.Atoi(mm[1]); n < 11 {
		t.Errorf("messages_total %d, want at least the 11 calls made", n)
	}
	interruptServe(t, done)
	if _, err := http.Get(m[1]); err == nil {
		t.Error("metrics still served after exit")
	}
}

// interruptServe sends SIGINT to this process, as a user's Ctrl-C would, and
// waits for the serve command running in the background to return.
func interruptServe(t *testing.T, done <-chan error) {
	t.Helper()
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop on SIGINT")
	}
}

// startServe runs `homalb serve --addr ADDR args…` in the background on a
// free loopback port and waits until its banner is out (signals are then
// being caught) and a call succeeds. It returns the address, a client, the
// command's stdout and the channel its result arrives on.
func startServe(t *testing.T, args ...string) (string, *rx.Client, *syncBuffer, chan error) {
	t.Helper()
	addr := "127.0.0.1:" + freePort(t)
	out, errb := new(syncBuffer), new(syncBuffer)
	root := newRootCmd()
	root.SetOut(out)
	root.SetErr(errb)
	root.SetArgs(append([]string{"serve", "--addr", addr}, args...))
	done := make(chan error, 1)
	go func() { done <- root.Execute() }()
	c, err := rx.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "echo on") || !tryCall(c, []byte("ping")) {
		if time.Now().After(deadline) {
			t.Fatalf("server never answered; stdout %q stderr %q", out.String(), errb.String())
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited early: %v; stderr %q", err, errb.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return addr, c, out, done
}
