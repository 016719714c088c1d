// Package rx is a real multi-core receive pipeline over UDP, steered by the
// same policy code (package balance) that the simulator runs: OS threads
// pinned to CPUs play the three roles a packet meets in a Homa host.
//
//  1. NIC/RSS and NAPI/GRO. K UDP sockets are bound to one address with
//     SO_REUSEPORT, so the kernel's flow hash spreads senders over them as
//     RSS spreads them over NIC channels. Each socket has a GRO thread on
//     its core (Config.GROCores) that reads bursts of datagrams with
//     recvmmsg(2), parses them (package wire), asks the balancer whether a
//     packet bypasses to SoftIRQ inline (Balancer.GROPacket), and collects
//     the rest into one open batch of up to MaxGRO packets, closed when full
//     and at the end of each burst.
//  2. SoftIRQ. At batch end the balancer picks the SoftIRQ core
//     (Balancer.SoftIRQCore). A batch kept on the GRO core runs on the GRO
//     thread, as the kernel runs it in the same softirq; any other goes
//     through that core's bounded queue (a buffered channel: one send, so
//     one wake-up, per batch) to its SoftIRQ worker. SoftIRQ processing
//     reassembles messages into pooled buffers, control packets and whole
//     messages first, then the rest grouped per message.
//  3. Application. A complete message goes to a waiting thread picked by
//     the thread chooser (Balancer.ChooseThread over the waiters, newest
//     first), or waits in a bounded ready queue. Server.Serve runs a handler
//     on pinned application threads (Config.AppCores) that poll for
//     Config.Poll, then sleep; Server.Receive serves callers that bring
//     their own threads.
//
// The activity table is updated exactly where the kernel updates it:
// GROPacket for every packet a GRO thread parses; SoftIRQStart and
// SoftIRQEnd around every SoftIRQ batch, an inline packet being a batch of
// one; AppActive when a thread enters a wait, at every poll iteration and on
// every Reply; ChooseThread at every handoff to a waiting thread. Times are
// ns of one monotonic clock per server, read once per read burst and again
// around work run inline.
//
// # Cores and CPUs
//
// The pipeline's logical cores 0..N−1 are the ids of the policy's table. Each
// maps onto a CPU (Config.CPUs, by default the CPUs the process may use,
// round-robin), so a 2-CPU host can run a 4- or 20-core layout, and every
// thread of a core is pinned there with sched_setaffinity when the system
// allows. When it does not, threads run unpinned, one warning is logged, and
// Server.Pinned reports false. GRO and SoftIRQ threads also ask for
// SCHED_FIFO priority 1, so that on a CPU they share with application
// threads their work preempts the application as softirq work does in the
// kernel (Config.NoPriority; refused without CAP_SYS_NICE, with one warning). gen3 needs groups: given in Config.Options,
// or dealt from SoftIRQCores over GROCores (deployed layout otherwise,
// which needs a multiple of 4 cores).
//
// # Bounds
//
// Memory is bounded everywhere: receive buffers per GRO thread, SoftIRQ queue
// depth, ready queue depth, a message's length, and the bytes of messages
// held from their first packet until Release. Beyond a bound the pipeline
// drops and counts (Stats.Drops, by DropReason), it never buffers without
// limit; a message whose next packet does not come within
// Config.MessageTimeout is freed. Malformed, truncated and oversized
// datagrams are dropped and counted at GRO.
//
// # Telemetry
//
// Server.Stats returns per-core packet, batch and busy-time counters by role
// and the GRO→SoftIRQ and SoftIRQ→application handoff latency distributions;
// Stats.WriteText prints them.
//
// # Example
//
//	s, err := rx.Listen(rx.Config{Addr: "127.0.0.1:4000", Policy: "gen3",
//		GROCores: []int{0}, SoftIRQCores: []int{1}, AppCores: []int{1}, Threads: 2})
//	if err != nil { ... }
//	go s.Serve(rx.Echo)
//	c, _ := rx.Dial("127.0.0.1:4000")
//	resp, err := c.Call(ctx, req) // resp == req
//	...
//	c.Close()
//	s.Close()
//	st := s.Stats()
//	st.WriteText(os.Stdout)
//
// Client is deliberately minimal (no grants, no resends): the transport
// protocol will extend it.
package rx
