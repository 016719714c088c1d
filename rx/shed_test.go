package rx

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"
)

// TestShedBySocketQueue: requests that waited in the socket's buffer longer
// than ShedDelay (the kernel's arrival time says so) are refused at the
// door with a BUSY marked FlagShed; their clients send them again after a
// backoff (no probe, no UNKNOWN), when they are served.
func TestShedBySocketQueue(t *testing.T) {
	// Margins for a loaded machine: a GRO thread that takes 100 ms to read
	// a request sent again would shed it again.
	s, err := newServer(Config{ShedDelay: 100 * time.Millisecond, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if !s.gros[0].rd.arrivalTimes() {
		t.Skip("this platform does not report arrival times") // io_other.go: no SO_TIMESTAMPNS
	}
	// A resend interval longer than the wait: no probe queues behind the
	// requests; a shed one goes again 2 intervals later.
	c, err := DialConfig(s.Addr().String(), ClientConfig{ResendInterval: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const queued = 5
	errs := make(chan error, queued)
	var wg sync.WaitGroup
	for range queued {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := c.Call(ctx, make([]byte, 100))
			errs <- err
		}()
	}
	eventually(t, "the requests are sent", func() bool { return c.Stats().DataSent == queued })
	time.Sleep(250 * time.Millisecond) // they wait in the socket's buffer, unread
	go func() { _ = s.Serve(Echo) }()
	s.start()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("a call queued 250 ms in the socket, shed, sent again: %v", err)
		}
	}
	st := s.Stats()
	if got := st.Drops[DropShed]; got != queued {
		t.Errorf("%d requests shed, want %d", got, queued)
	}
	if got := c.Stats().Shed; got != queued {
		t.Errorf("the client saw %d calls shed, want %d", got, queued)
	}
	if st.Transport.BusySent < queued {
		t.Errorf("%d BUSY sent for %d shed requests", st.Transport.BusySent, queued)
	}
	if cs := c.Stats(); cs.Restarts != queued || cs.Probes != 0 || st.Transport.UnknownSent != 0 {
		t.Errorf("client: %d restarts, %d probes; server: %d UNKNOWN; want %d, 0, 0", cs.Restarts, cs.Probes, st.Transport.UnknownSent, queued)
	}
}

// TestShedTimesOut: a call the server keeps refusing is sent again with
// backoff and fails at its deadline with ErrTimeout and ErrOverloaded.
func TestShedTimesOut(t *testing.T) {
	s := listen(t, Config{ShedDelay: time.Nanosecond}) // every request is refused
	go func() { _ = s.Serve(Echo) }()
	c, err := DialConfig(s.Addr().String(), ClientConfig{ResendInterval: time.Millisecond, Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Call(context.Background(), []byte("x"))
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, ErrOverloaded) {
		t.Fatalf("a call to a server that sheds everything: %v, want ErrTimeout and ErrOverloaded", err)
	}
	// Backing off: 2, 4, 8, 16, 32, 64 ms between tries, so at most 6
	// restarts in 100 ms (and an UNKNOWN's, if a probe went out because a
	// refusal took longer than the 1 ms resend interval to come back).
	if cs := c.Stats(); cs.Restarts < 2 || cs.Restarts > 6+cs.Probes {
		t.Errorf("%d restarts and %d probes in 100 ms; want 2–6 restarts (and one per probe)", cs.Restarts, cs.Probes)
	}
}

// TestClientTimerBudget: one tick of the client's timer probes at most
// timerBudget silent calls; those left out are probed at the next ticks,
// each call once.
func TestClientTimerBudget(t *testing.T) {
	dead, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	const r = time.Minute // the client's own timer stays out of the way
	c, err := DialConfig(dead.LocalAddr().String(), ClientConfig{ResendInterval: r, Timeout: 24 * time.Hour, MaxCalls: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	const calls = 3*timerBudget + 4
	var wg sync.WaitGroup
	for range calls {
		wg.Add(1)
		go func() { defer wg.Done(); _, _ = c.Call(ctx, []byte("anyone there?")) }()
	}
	defer wg.Wait()
	defer cancel()
	eventually(t, "the calls are pending", func() bool { return c.Stats().Pending == calls })
	tx := new(txScratch)
	at := c.clock() + int64(r)
	want := uint64(0)
	for k := range 5 {
		c.tick(at+int64(k), tx)
		want = min(want+timerBudget, calls)
		if got := c.Stats().Probes; got != want {
			t.Fatalf("after tick %d: %d probes, want %d", k+1, got, want)
		}
	}
}

// TestClientMaxCalls: beyond MaxCalls calls in progress, a call waits for
// one to end before it sends anything, and gives up when its context ends.
func TestClientMaxCalls(t *testing.T) {
	release := make(chan struct{})
	s := listen(t, Config{})
	go func() { _ = s.Serve(func(m *Message) { <-release; Echo(m) }) }()
	c, err := DialConfig(s.Addr().String(), ClientConfig{MaxCalls: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			_, err := c.Call(context.Background(), []byte("hold"))
			errs <- err
		}()
	}
	eventually(t, "a third call waits", func() bool { st := c.Stats(); return st.Calls == 2 && st.Waited == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.Call(ctx, []byte("late")); !errors.Is(err, ErrTimeout) || c.Stats().Calls != 2 {
		t.Errorf("a fourth call whose deadline passed while it waited: %v, %d calls started; want ErrTimeout, 2", err, c.Stats().Calls)
	}
	close(release)
	for range 3 {
		if err := <-errs; err != nil {
			t.Errorf("a held call: %v", err)
		}
	}
	if st := c.Stats(); st.Calls != 3 || st.Completed != 3 {
		t.Errorf("%d calls started, %d completed; want 3, 3", st.Calls, st.Completed)
	}
}
