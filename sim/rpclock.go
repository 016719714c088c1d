package sim

import "github.com/homalb/homalb/stats"

// The RPC lock (balance.rpc_lock): all SoftIRQ work on a message runs under
// its RPC's lock, so one core at a time works on a message; a core that
// finds the lock held spins, busy, until it is free. The application thread
// takes the lock to collect packets before each copy (homa_copy_to_user),
// asking SoftIRQ to let go between packets (APP_NEEDS_LOCK, perf#51), and
// copies without it.

// lock takes the RPC lock of p's message for core c, or, when another core
// holds it, makes c spin and reports false: c stays in softirq context,
// busy, until the holder lets go (unlock). Packets of no message (GRANTs for
// our responses) take no lock here.
func (h *host) lock(c *core, p *packet) bool {
	if p.msg < 0 || !h.cfg.Balance.RPCLock {
		return true
	}
	m := &h.msgs[p.msg]
	if m.lockBy < 0 || m.lockBy == c.id {
		m.lockBy = c.id
		return true
	}
	if c.spinMsg != p.msg {
		c.spinMsg, c.spinAt = p.msg, h.now
		m.spinners++
		h.setActivity(c, stats.SoftIRQ)
	}
	return false
}

// unlock releases core c's hold on message mi's RPC lock. A thread waiting
// to copy (APP_NEEDS_LOCK) takes it first, for the moment it needs; then the
// core that has spun longest gets it and goes on.
func (h *host) unlock(c *core, mi int32) {
	if mi < 0 || !h.cfg.Balance.RPCLock {
		return
	}
	m := &h.msgs[mi]
	if m.lockBy != c.id {
		return
	}
	m.lockBy = -1
	if m.appNeedsLock && m.owner >= 0 {
		h.resume(&h.threads[m.owner]) // takes and drops the lock if it can run now
	}
	if m.spinners == 0 {
		return
	}
	var next *core
	for i := range h.cores {
		if s := &h.cores[i]; s.spinMsg == mi && (next == nil || s.spinAt < next.spinAt) {
			next = s
		}
	}
	m.spinners--
	next.spinMsg = -1
	if h.inWindow() {
		h.r.spinNs += h.now - next.spinAt
	}
	m.lockBy = next.id
	h.dispatch(next)
}
