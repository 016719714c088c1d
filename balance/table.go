package balance

import (
	"fmt"
	"math"
	"sync/atomic"
)

// Never is the timestamp of an event that has not happened: far enough in the
// past that any busy window has expired at any non-negative now, and far
// enough from math.MinInt64 that now − Never cannot overflow.
const Never int64 = math.MinInt64 / 4

// MaxCores bounds the core count of a table; large enough for any host a
// simulation studies, small enough that core ids fit the compact layouts of
// Gen3 groups.
const MaxCores = 4096

// coreState is one core's row of the activity table, padded to its own
// 64-byte cache line so that cores updating their own rows in package rx do
// not false-share.
type coreState struct {
	lastGRO       atomic.Int64 // ns; end of the latest GRO packet on this core
	lastActive    atomic.Int64 // ns; latest GRO packet, SoftIRQ batch start, or Gen3 choice
	lastAppActive atomic.Int64 // ns; latest app-thread activity, or handoff to a thread here
	backlog       atomic.Int32 // batches steered here by Gen2 minus SoftIRQ batches ended here
	rotation      atomic.Int32 // Gen2 offset 1..4 used when every candidate is busy (as GRO core)
	lastPick      atomic.Int32 // gen4: the SoftIRQ core this GRO core chose last, −1 none
	_             [28]byte
}

// Table is the per-core activity table shared by the policies, the thread
// chooser and the drivers. All methods are safe for concurrent use. The zero
// value is not usable; call [NewTable].
type Table struct {
	cores []coreState
}

// NewTable returns a table for n cores (ids 0..n−1) in which nothing has
// happened yet: every timestamp is [Never] and every backlog zero.
func NewTable(n int) (*Table, error) {
	if n <= 0 || n > MaxCores {
		return nil, fmt.Errorf("balance: core count %d out of range 1..%d", n, MaxCores)
	}
	t := &Table{cores: make([]coreState, n)}
	t.Reset()
	return t, nil
}

// Reset returns the table to its initial state. It must not race with other
// calls.
func (t *Table) Reset() {
	for i := range t.cores {
		c := &t.cores[i]
		c.lastGRO.Store(Never)
		c.lastActive.Store(Never)
		c.lastAppActive.Store(Never)
		c.backlog.Store(0)
		c.rotation.Store(0)
		c.lastPick.Store(-1)
	}
}

// NumCores reports the number of cores of the table.
func (t *Table) NumCores() int { return len(t.cores) }

// SoftIRQStart records the start of a SoftIRQ batch on core at now: Homa's
// homa_softirq sets the core's last_active.
func (t *Table) SoftIRQStart(core int, now int64) {
	t.cores[core].lastActive.Store(now)
}

// SoftIRQEnd records the end of a SoftIRQ batch on core. Homa decrements the
// backlog at the end of every homa_softirq call, including batches that Gen2
// did not steer (same-core batches) and packets bypassed to SoftIRQ inside
// GRO, which drivers report as batches of one (SoftIRQStart, SoftIRQEnd). So
// a backlog may go negative; a negative backlog counts as idle.
func (t *Table) SoftIRQEnd(core int, now int64) {
	t.cores[core].backlog.Add(-1)
}

// AppActive records application-thread activity on core at now: a send, the
// entry of a receive call, or one iteration of a polling wait.
func (t *Table) AppActive(core int, now int64) {
	t.cores[core].lastAppActive.Store(now)
}

// groStart records the entry of a GRO packet on core at now and reports
// whether the core's GRO was busy, i.e. its previous GRO packet ended less
// than groBusyNs before now; last_active becomes now.
func (t *Table) groStart(core int, now, groBusyNs int64) (busy bool) {
	c := &t.cores[core]
	busy = now-c.lastGRO.Load() < groBusyNs
	c.lastActive.Store(now)
	return busy
}

// groEnd records the end of a GRO packet's work on core at now.
func (t *Table) groEnd(core int, now int64) {
	t.cores[core].lastGRO.Store(now)
}

// CoreState is a snapshot of one core's row, for tests, transcripts and
// telemetry. Times are ns, [Never] when the event has not happened.
type CoreState struct {
	LastGRO, LastActive, LastAppActive int64
	Backlog                            int32
	Rotation                           int32
}

// Core returns a snapshot of core's row. Fields are read one at a time, so a
// snapshot taken while other threads write is not atomic as a whole.
func (t *Table) Core(core int) CoreState {
	c := &t.cores[core]
	return CoreState{
		LastGRO:       c.lastGRO.Load(),
		LastActive:    c.lastActive.Load(),
		LastAppActive: c.lastAppActive.Load(),
		Backlog:       c.backlog.Load(),
		Rotation:      c.rotation.Load(),
	}
}

// SetCore overwrites core's row; for tests and for drivers that restore a
// saved state.
func (t *Table) SetCore(core int, s CoreState) {
	c := &t.cores[core]
	c.lastGRO.Store(s.LastGRO)
	c.lastActive.Store(s.LastActive)
	c.lastAppActive.Store(s.LastAppActive)
	c.backlog.Store(s.Backlog)
	c.rotation.Store(s.Rotation)
}

// ChooseThread is Homa's thread chooser (homa_choose_interest). waiterCores
// lists the cores of the threads waiting for a message, newest waiter first
// (a thread's core is the one it was on when it started waiting). It returns
// the index of the chosen waiter: the first whose core's last_active is older
// than the busy window (now − last_active > busyNs: no recent GRO or SoftIRQ
// work there), else 0, the newest, whose cache is most likely warm. The
// chosen core's last_app_active is set to now. It returns −1 and changes
// nothing when no thread waits.
func (t *Table) ChooseThread(waiterCores []int, busyNs, now int64) int {
	if len(waiterCores) == 0 {
		return -1
	}
	return t.chooseThread(waiterCores, busyNs, now, nil)
}

// chooseThread is ChooseThread for a policy that keeps application threads
// off some cores (avoid may be nil): it takes the first waiter on a core
// neither avoided nor busy, else the first on a core not avoided, and only
// when every waiter sits on an avoided core falls back to Homa's rule. With
// no avoided core that is Homa's rule.
func (t *Table) chooseThread(waiterCores []int, busyNs, now int64, avoid coreAvoider) int {
	if len(waiterCores) == 0 {
		return -1
	}
	chosen, free, idle := -1, -1, -1
	for i, core := range waiterCores {
		quiet := func() bool { return now-t.cores[core].lastActive.Load() > busyNs }
		if avoid != nil && avoid.avoidsThreadsOn(core) {
			if idle < 0 && quiet() {
				idle = i
			}
			continue
		}
		if quiet() {
			chosen = i
			break
		}
		if free < 0 {
			free = i
		}
	}
	switch {
	case chosen >= 0:
	case free >= 0:
		chosen = free
	case idle >= 0:
		chosen = idle
	default:
		chosen = 0
	}
	t.cores[waiterCores[chosen]].lastAppActive.Store(now)
	return chosen
}

// coreAvoider is implemented by policies whose thread choice avoids cores
// they are about to load with protocol work.
type coreAvoider interface {
	avoidsThreadsOn(core int) bool
}
