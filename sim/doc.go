// Package sim is a deterministic discrete-event simulator of a many-core
// host receiving Homa traffic, driven by the policies of package balance.
//
// # The model, by stage
//
// Each stage of a packet's path lives in a file of its own:
//
//   - downlink.go: open-loop Poisson traffic from the workload's sizes, the
//     downlink serialising packets in SRPT order under the receiver's grants;
//   - nic.go: the RSS table (fixed, or steered by the policy) and the NIC
//     rings with their interrupts;
//   - softirq.go: softirq context on a core — NAPI polls and GRO, the
//     GRO→SoftIRQ handoff the policy chooses, SoftIRQ processing, grant
//     decisions and ksoftirqd deferral;
//   - threads.go: application threads — the thread chooser, polling and
//     sleeping, waking and migration, copy-out and service time, responses;
//   - host.go: the state all of them share and the costs of each step;
//   - queue.go: the event queue, a timing wheel ordered by (time, sequence).
//
// docs/model.md describes every mechanism, its configuration key and the
// measurement each default comes from.
//
// # Determinism
//
// A run is a function of its [Config] (seed included) and of the bytes of
// the workload table it reads: the same Config and the same table give the
// same [Result], field for field, except WallMs and SimPktsPerSec, which
// measure the machine that ran it. Nothing else enters a run: there is one
// goroutine per run, no map is iterated, events that fall at the same
// nanosecond run in the order they were scheduled, and every purpose that
// draws random numbers (arrivals, sizes, senders, the thread scheduler) has
// its own stream seeded from Config.Seed, so a change in how one part draws
// does not reshuffle the others. The result's config is the resolved one
// (the policy's deployment filled in), so it reruns the same way whatever
// the defaults become.
//
// Parallelism lives above this package: package sweep runs many
// simulations at once, one per core.
//
// # Invariants
//
// Every run counts what must never happen in [Invariants]: a packet
// processed twice or skipped, a message delivered twice, two steps on one
// core at once, an event for a message that no longer exists. Tests check
// that every count is zero across policies and scenarios.
package sim
