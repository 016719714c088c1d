// Package balance is the policy core of homalb: the rules by which Homa's
// receive path chooses cores, as a pure library with no clock and no I/O.
//
// A packet arriving at a host passes through up to three cores: the NAPI/GRO
// core that the NIC's RSS hash picked, the SoftIRQ core where the protocol
// runs, and the core of the application thread that takes the message. This
// package decides the second (which SoftIRQ core gets a GRO batch, and
// whether a packet bypasses the handoff altogether) and helps decide the third
// (which waiting thread gets a ready message).
//
// # Pieces
//
//   - [Table] is the per-core activity table that Homa keeps in
//     per-CPU variables: last_gro, last_active, last_app_active,
//     softirq_backlog and Gen2's rotation offset. It is safe for concurrent
//     use (sync/atomic), so the real pipeline in package rx can share one
//     table among its threads; the simulator pays a few nanoseconds for that
//     and gains a single code path.
//   - [Policy] picks the SoftIRQ core of a batch: Homa's rps, same, next,
//     idle, gen2, gen3, and homalb's gen4, gen5, gen6 and the oracle (see
//     [Catalog] for the one-line rule of each).
//   - [Balancer] ties a Policy to a Table with Homa's GRO options (short
//     message and grant bypass, the GRO-busy test, SAME_CORE for batches of
//     one packet) and is what drivers call.
//   - [Table.ChooseThread] is Homa's thread chooser; [Balancer.ChooseThread]
//     applies it with the policy's constraints (gen6 keeps threads off its
//     GRO cores).
//   - [SteersRSS] is implemented by policies that program the NIC's RSS
//     indirection table (gen5, gen6); [Balancer.RSS] returns it.
//
// # The caller's duties
//
// Every method takes the current time, now, in integer nanoseconds of a
// monotonic clock chosen by the driver (simulated time in package sim, the
// time of the socket read in package rx). Times must not go backwards on a
// core; the table stores them as given. A driver must report every event
// that updates the table, exactly where the kernel does:
//
//   - each GRO packet: [Balancer.GROPacket] (sets last_gro and last_active of
//     the GRO core, and answers whether the packet runs SoftIRQ inline);
//   - each GRO batch handed off: [Balancer.SoftIRQCore] (the policy's choice;
//     Gen2 raises the target's backlog, Gen3 marks its last_active);
//   - each SoftIRQ batch: [Table.SoftIRQStart] at its start and
//     [Table.SoftIRQEnd] at its end on the core that runs it;
//   - each application thread send, receive entry and poll iteration:
//     [Table.AppActive];
//   - each handoff of a ready message to a waiting thread:
//     [Balancer.ChooseThread], which also marks the chosen core app-active;
//   - under a policy that steers RSS, each packet reaching the NIC
//     ([SteersRSS.Steer] names its channel) and each NAPI poll's end
//     ([SteersRSS.NAPIPollEnd]).
//
// # Example
//
//	tab, _ := balance.NewTable(20)
//	b, _ := balance.New("gen2", tab, balance.DefaultOptions())
//	now := int64(1_000_000)
//	if inline := b.GROPacket(3, balance.Data, now); !inline {
//		// ... collect the packet into core 3's GRO batch, and at batch end:
//		core := b.SoftIRQCore(3, flowHash, batchLen, now)
//		_ = core // hand the batch to core's SoftIRQ queue
//	}
//
// The decision rules, and where each comes from in Homa's Linux module, are
// in the doc comment of each policy: HomaModule's homa_offload.c
// (homa_gro_receive, homa_gro_gen2, homa_gro_gen3) and its notes on load
// balancing, balance.txt. docs/model.md says which measurements back them.
package balance
