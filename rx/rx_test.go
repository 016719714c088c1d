package rx

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/homalb/homalb/balance"
)

// Loads of the end-to-end tests: clients × (small + large) messages each,
// one call outstanding per client. Modest, so that loopback keeps up even
// under the race detector.
const (
	e2eClients   = 4
	e2eLargeSize = 200_000
)

func e2eLoad() (small, large int) {
	if raceEnabled {
		return 120, 4
	}
	return 400, 8
}

// TestEndToEnd runs the echo server on 1 and 2 logical cores (and a 4-core
// layout mapped onto this host's CPUs) under several policies: W2-like and
// 200 KB messages from concurrent senders come back byte-exact, each
// delivered exactly once, and the policy's placement shows in the telemetry.
func TestEndToEnd(t *testing.T) {
	noBypass := balance.DefaultOptions()
	noBypass.ShortBypass, noBypass.GrantBypass, noBypass.SameCoreSingle = false, false, false
	cases := []struct {
		name  string
		cfg   Config
		check func(t *testing.T, st Stats)
	}{
		{"1core/gen2", Config{Policy: "gen2", Threads: 2}, func(t *testing.T, st Stats) {
			if st.Cores[0].SoftIRQPackets == 0 {
				t.Error("no SoftIRQ work on the only core")
			}
		}},
		{"1core/same", Config{Policy: "same", GROCores: []int{0}, AppCores: []int{0}, Threads: 1}, nil},
		{"2core/gen3", Config{Policy: "gen3", GROCores: []int{0}, SoftIRQCores: []int{1}, AppCores: []int{1}, Threads: 2},
			func(t *testing.T, st Stats) {
				// Gen3: batches are steered only into the GRO core's group;
				// SoftIRQ work on the GRO core is its own bypass or SAME_CORE.
				if n := st.Cores[0].RemoteBatches; n != 0 {
					t.Errorf("gen3 steered %d batches onto GRO core 0", n)
				}
			}},
		{"2core/gen6", Config{Policy: "gen6", GROCores: []int{0}, SoftIRQCores: []int{1}, AppCores: []int{0, 1}, Threads: 2},
			func(t *testing.T, st Stats) {
				// gen6 runs in rx as it does in the simulator (its RSS
				// steering aside): batches go to its SoftIRQ pool only.
				if n := st.Cores[0].RemoteBatches; n != 0 {
					t.Errorf("gen6 steered %d batches onto GRO core 0", n)
				}
			}},
		{"2core/gen3-nobypass", Config{Policy: "gen3", Options: &noBypass, GROCores: []int{0}, SoftIRQCores: []int{1}, AppCores: []int{1}, Threads: 2},
			func(t *testing.T, st Stats) {
				// Without bypass and SAME_CORE, every packet is steered: no
				// SoftIRQ work at all on the GRO core.
				if n := st.Cores[0].SoftIRQPackets; n != 0 {
					t.Errorf("%d packets got SoftIRQ on GRO core 0", n)
				}
				if st.Cores[1].SoftIRQPackets == 0 || st.Cores[1].InlinePackets+st.Cores[1].LocalBatches != 0 {
					t.Errorf("core 1: %+v, want only remote batches", st.Cores[1])
				}
			}},
		{"2core/same", Config{Policy: "same", GROCores: []int{0}, AppCores: []int{1}, Threads: 2}, func(t *testing.T, st Stats) {
			if n := st.Cores[1].SoftIRQPackets; n != 0 {
				t.Errorf("same: %d packets got SoftIRQ off the GRO core", n)
			}
		}},
		{"2core/gen2-2sockets", Config{Policy: "gen2", GROCores: []int{0, 1}, AppCores: []int{0, 1}, Threads: 2}, nil},
		{"4core/gen3-groups", Config{Policy: "gen3", GROCores: []int{0, 2}, SoftIRQCores: []int{1, 3}, AppCores: []int{1, 3}, Threads: 2},
			func(t *testing.T, st Stats) {
				for _, g := range []int{0, 2} {
					if n := st.Cores[g].RemoteBatches; n != 0 {
						t.Errorf("gen3 steered %d batches onto GRO core %d", n, g)
					}
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			small, large := e2eLoad()
			rec := newRecorder()
			s := listen(t, tc.cfg)
			served := make(chan error, 1)
			go func() { served <- s.Serve(rec.echo) }()

			var wg sync.WaitGroup
			for ci := range e2eClients {
				c := dial(t, s)
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(ci), 6))
					for seq := range small + large {
						n := w2Size(rng)
						if seq%(small/large+1) == small/large { // large ones spread through
							n = e2eLargeSize
						}
						call(t, c, payload(ci, seq, n))
					}
					_ = c.Close()
				}()
			}
			wg.Wait()
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if err := <-served; !errors.Is(err, ErrClosed) {
				t.Errorf("Serve returned %v, want ErrClosed", err)
			}
			st := s.Stats()
			rec.check(t, e2eClients, small+large)
			for _, r := range []DropReason{DropOversized, DropTruncated, DropMalformed, DropInconsistent, DropUnsupported} {
				if st.Drops[r] != 0 {
					t.Errorf("%d drops for %v in valid traffic", st.Drops[r], r)
				}
			}
			if st.InflightBytes != 0 {
				t.Errorf("%d bytes in flight after Close", st.InflightBytes)
			}
			if tc.check != nil {
				tc.check(t, st)
			}
			if t.Failed() || testing.Verbose() {
				var b strings.Builder
				_ = st.WriteText(&b)
				t.Log("\n" + b.String())
			}
			checkNoLeaks(t, before)
		})
	}
}

// TestReceive: callers with their own threads take messages with Receive,
// and a Receive whose context ends returns its error.
func TestReceive(t *testing.T) {
	before := runtime.NumGoroutine()
	s := listen(t, Config{Policy: "gen3", GROCores: []int{0}, SoftIRQCores: []int{1}, AppCores: []int{1}})
	c := dial(t, s)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	if _, err := s.Receive(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Receive on an idle server: %v, want deadline exceeded", err)
	}
	cancel()

	const n = 20
	got := make(chan [2]int, n)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				m, err := s.Receive(context.Background())
				if err != nil {
					if !errors.Is(err, ErrClosed) {
						t.Errorf("Receive: %v", err)
					}
					return
				}
				ci, seq, ok := identify(m.Data)
				if !ok || m.Sender != c.Sender() || m.From != c.LocalAddr() {
					t.Errorf("message %d from %v: ok=%v sender %x", m.ID, m.From, ok, m.Sender)
				}
				m.Release()
				got <- [2]int{ci, seq}
			}
		}()
	}
	for seq := range n {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := c.Send(ctx, payload(0, seq, 100+seq*500)); err != nil {
			t.Fatal(err)
		}
		cancel()
	}
	seen := make(map[int]bool)
	timeout := time.After(10 * time.Second)
	for len(seen) < n {
		select {
		case id := <-got:
			if seen[id[1]] {
				t.Errorf("message %d received twice", id[1])
			}
			seen[id[1]] = true
		case <-timeout:
			t.Fatalf("received %d of %d one-way messages", len(seen), n) // loopback loss: not expected at this rate
		}
	}
	_ = c.Close()
	_ = s.Close()
	wg.Wait()
	if _, err := s.Receive(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Receive after Close: %v", err)
	}
	if err := s.Serve(Echo); !errors.Is(err, ErrClosed) {
		t.Errorf("Serve after Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	checkNoLeaks(t, before)
}

// TestPinning: threads are pinned where the system allows it, and NoPin
// runs them unpinned and says so.
func TestPinning(t *testing.T) {
	s := listen(t, Config{NoPin: true})
	if s.Pinned() {
		t.Error("NoPin server reports pinned threads")
	}
	_ = s.Close()
	s = listen(t, Config{GROCores: []int{0}, SoftIRQCores: []int{1}, CPUs: []int{0}})
	if runtime.GOOS == "linux" && !s.Pinned() && s.Stats().PinError == "" {
		t.Error("threads not pinned, and the server does not say why (Stats.PinError)")
	} // that pinned threads run on their CPU: TestPinThreadRunsOnItsCPU
	if s.CPU(1) != 0 {
		t.Errorf("core 1 mapped to CPU %d, want 0 (CPUs [0])", s.CPU(1))
	}
}
