package rx

import (
	"net/netip"
	"testing"

	"github.com/homalb/homalb/balance"
)

// TestDeliverChoosesThread pins down the handoff rule (HomaModule's homa_choose_interest,
// "Thread choice"): scan the waiters newest first, take the first whose
// core had no GRO or SoftIRQ work within the busy window, else the newest;
// the chosen core becomes app-active.
func TestDeliverChoosesThread(t *testing.T) {
	s, err := newServer(Config{Policy: "gen3", GROCores: []int{0}, SoftIRQCores: []int{1, 2}, AppCores: []int{1, 2}, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	from := netip.MustParseAddrPort("127.0.0.1:9")
	idle := balance.CoreState{LastGRO: balance.Never, LastActive: balance.Never, LastAppActive: balance.Never}

	cases := []struct {
		name       string
		busy2      bool // core 2 (the newest waiter's) had SoftIRQ work just now
		wantCore   int
		wantWaiter int // index in newest-first order
	}{
		{"newest idle: newest", false, 2, 0},
		{"newest busy: next idle", true, 1, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			now := s.clock()
			s.tab.SetCore(1, idle)
			st := idle
			if tc.busy2 {
				// Busy for a second to come, not just now: on a loaded
				// machine (-race, packages tested in parallel) more than the
				// 100 µs busy window can pass before deliver runs.
				st.LastActive = now + 1e9
			}
			s.tab.SetCore(2, st)
			older, newer := newWaiter(1), newWaiter(2)
			a := &s.app
			a.mu.Lock()
			a.waiters = append(a.waiters[:0], newer, older) // newest first
			newer.registered, older.registered = true, true
			a.mu.Unlock()

			if !s.reserve(10) {
				t.Fatal("no budget")
			}
			m := s.newMessage(msgKey{from: from, sender: 1, id: 1}, 10, 0, 0, now)
			s.deliver(m)

			got := []*waiter{newer, older}[tc.wantWaiter]
			if got.msg.Load() != m {
				t.Fatalf("message went to another waiter than the one on core %d", tc.wantCore)
			}
			if c := s.tab.Core(tc.wantCore); c.LastAppActive < now {
				t.Errorf("chosen core %d not marked app-active: %+v", tc.wantCore, c)
			}
			a.mu.Lock()
			if len(a.waiters) != 1 || a.waiters[0] == got {
				t.Errorf("waiters after delivery: %d, chosen still listed", len(a.waiters))
			}
			a.waiters = a.waiters[:0]
			a.mu.Unlock()
			got.msg.Load().Release()
		})
	}
}
