package sim

import "testing"

// Tests of the mechanisms of HomaModule and Linux that the model carries,
// one each (docs/model.md gives each its source).

// unloadedNs is the median latency of lone 100-byte messages (1 ms apart)
// with SoftIRQ on the next core, sleeping threads and the given settings.
func unloadedNs(t *testing.T, kv ...string) int64 {
	t.Helper()
	c := DefaultConfig()
	c.Policy, c.Workload, c.Traffic.Responses = "next", "fixed:100", false
	c.Balance.ShortBypass, c.Balance.SameCore = false, false
	c.App.Sched = "pinned"
	c.WarmupNs, c.DurationNs, c.DrainNs = 1e6, 20e6, 1e6
	c.Load = 100e3 / (c.Host.LinkGbps * 1e9 / 8)
	for _, s := range kv {
		k, v, _ := cut(s)
		if err := c.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	return mustRun(t, c).LatencyNs.P50
}

func cut(s string) (string, string, bool) {
	for i := range s {
		if s[i] == '=' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// The IP layer runs once per batch, the handoff pays a C-state exit on an
// idle target: a one-packet message through another core pays each exactly
// once, and the bypass (inline SoftIRQ) skips the IP layer.
func TestIPLayerAndC1ExitPerHandoff(t *testing.T) {
	base := unloadedNs(t, "app.poll_ns=0")
	if d := unloadedNs(t, "app.poll_ns=0", "cost.ip_ns=1350") - base; d != 1000 {
		t.Errorf("ip_ns +1000 moved the unloaded latency by %d ns, want 1000", d)
	}
	if d := unloadedNs(t, "app.poll_ns=0", "cost.c1_exit_ns=3000") - base; d != 1000 {
		t.Errorf("c1_exit_ns +1000 moved it by %d ns, want 1000 (the target core is idle)", d)
	}
	if d := unloadedNs(t, "balance.short_bypass=true", "cost.ip_ns=5000") - unloadedNs(t, "balance.short_bypass=true"); d != 0 {
		t.Errorf("ip_ns charged %d ns on the inline bypass", d)
	}
}

// Without the RPC lock the same scenario runs one message's SoftIRQ on two
// cores at once, and rpc_overlaps counts it: the invariant can fail.
func TestRPCLockPreventsOverlaps(t *testing.T) {
	c := short("gen6", "w4", 0.8)
	c.DurationNs = 10e6
	with := mustRun(t, c)
	if with.RPCOverlaps != 0 {
		t.Fatalf("rpc_overlaps %d with the lock", with.RPCOverlaps)
	}
	if with.LockSpinFrac <= 0 {
		t.Errorf("gen6 spreads messages over cores but never spun on a lock")
	}
	c.Balance.RPCLock = false
	if without, _ := Run(c); without.RPCOverlaps == 0 {
		t.Errorf("without the lock no overlap was seen: the invariant cannot fail")
	}
}

// GRANTs for the host's responses come one per traffic.grant_pkts packets.
func TestGrantsPerClientBatch(t *testing.T) {
	c := short("gen3", "w4", 0.5)
	c.Traffic.GrantPkts = 1
	one := mustRun(t, c)
	c.Traffic.GrantPkts = 4
	four := mustRun(t, c)
	if four.Packets >= one.Packets {
		t.Errorf("%d packets with a GRANT per 4 response packets, %d with one per packet", four.Packets, one.Packets)
	}
}

// IPI batching holds a GRO core's handoffs until its softirq run ends, so
// Homa's handoff metric grows.
func TestIPIBatchingDelaysHandoffs(t *testing.T) {
	c := short("gen2", "w4", 0.8)
	c.DurationNs = 10e6
	now := mustRun(t, c).HomaHandoffNs.GROToSoftIRQ
	c.Host.IPIBatching = true
	then := mustRun(t, c).HomaHandoffNs.GROToSoftIRQ
	if then.P99 <= now.P99 {
		t.Errorf("GRO→SoftIRQ P99 %d ns with IPI batching, %d without", then.P99, now.P99)
	}
}

// A batch steered to its own core waits for the end of the NAPI poll in the
// backlog queue; processing it inside the poll is another schedule.
func TestSameCoreBacklogChangesTheSchedule(t *testing.T) {
	c := short("same", "w4", 0.8)
	a := mustRun(t, c)
	c.Host.SameCoreBacklog = false
	b := mustRun(t, c)
	if a.HandoffNs == b.HandoffNs && a.LatencyNs == b.LatencyNs {
		t.Errorf("same_core_backlog made no difference: %+v", a.HandoffNs)
	}
}

// Homa tests GRO-busy at entry and stores last_gro after the inline
// SoftIRQ, so fewer packets bypass than with both at the end of GRO.
func TestGROBusyAtEntryBypassesLess(t *testing.T) {
	c := short("gen3", "w3", 0.8)
	entry := mustRun(t, c).BypassFrac
	c.Balance.GROBusyAtEntry = false
	end := mustRun(t, c).BypassFrac
	if entry >= end {
		t.Errorf("bypassed %.4f at entry, %.4f at the end", entry, end)
	}
}

// CFS time slices: with more threads than cores some wait in run queues,
// and slices end; with time slicing off none does.
func TestTimeslices(t *testing.T) {
	c := short("gen3", "w4", 0.8)
	c.App.Threads, c.App.Cores, c.App.PollNs = 12, []int{1, 3}, 0
	c.App.TimesliceNs = 20_000
	if r := mustRun(t, c); r.Timeslices == 0 {
		t.Error("no slice ended with 12 threads on 2 cores")
	}
	c.App.TimesliceNs = 0
	if r := mustRun(t, c); r.Timeslices != 0 {
		t.Errorf("%d slices ended with time slicing off", r.Timeslices)
	}
}

// ksoftirqd takes over after balance.restarts restarts (one per
// netdev_budget packets) in one softirq run, when a thread waits for the core.
func TestRestartLimitDefers(t *testing.T) {
	c := short("same", "w4", 0.9)
	c.Balance.Restarts, c.Balance.NetdevBudget, c.Balance.DeferOnResched = 1, 8, false
	if r := mustRun(t, c); r.Deferrals == 0 {
		t.Error("no deferral with a restart limit of 1")
	}
	c.Balance.Restarts = 0
	if r := mustRun(t, c); r.Deferrals != 0 {
		t.Errorf("%d deferrals with no restart limit and 2 ms runs", r.Deferrals)
	}
}
