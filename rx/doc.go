// Package rx is a real multi-core receive pipeline over UDP, steered by the
// same policy code (package balance) that the simulator runs: OS threads
// pinned to CPUs play the three roles a packet meets in a Homa host.
//
//  1. NIC/RSS and NAPI/GRO. K UDP sockets are bound to one address with
//     SO_REUSEPORT, so the kernel's flow hash spreads senders over them as
//     RSS spreads them over NIC channels. Under a policy that programs the
//     RSS table (balance.SteersRSS: gen5, gen6) rx attaches a classic BPF
//     program to the socket group that hashes each datagram's sender into
//     a table entry and picks the socket of the entry's channel, as the
//     NIC's indirection table would; GRO threads count packets per entry
//     for the policy and reprogram the group (at most once a millisecond)
//     when its table changes. Where the kernel refuses the program, the
//     kernel's hash stays, and Stats.RSSError says why. Each socket has a
//     GRO thread on its core (Config.GROCores) that reads bursts of
//     datagrams with recvmmsg(2), parses them (package wire), asks the
//     balancer whether a packet bypasses to SoftIRQ inline
//     (Balancer.GROPacket), and collects the rest into one open batch of up
//     to MaxGRO packets, closed when full and at the end of each burst.
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
// # Transport
//
// Requests and responses travel with Homa's flow control and recovery; the
// server and Client share the code (transport.go has the whole protocol in
// one comment):
//
//   - The first UnschedBytes of a message go at once; the receiver grants
//     the rest (GRANT), at most MaxOvercommit messages at once and one per
//     client host, those with the fewest bytes left first, keeping up to UnschedBytes granted beyond
//     what arrived and at most MaxIncoming granted but not received. The
//     server decides its grants in SoftIRQ, once per message per batch; the
//     GRANTs a client sends for a response reach the server as packets
//     through GRO, where the policy's grant bypass acts on them.
//   - A receiver that heard nothing of an incomplete message for
//     ResendInterval asks for the missing ranges (RESEND); the sender sends
//     them again. A client that heard nothing of a call probes the server,
//     which answers with what it knows (UNKNOWN: send the request again;
//     BUSY; its own RESEND; the response; or ACK: the RPC ended).
//   - The client acknowledges a response (ACK) and the server forgets the
//     RPC, remembering it among the last CompletedCap ended RPCs so that a
//     late duplicate is dropped (DropStale) instead of starting a new
//     message. A message is never delivered twice, nor corrupt: segments are
//     checked against the bytes already received, and a request reaches the
//     application once.
//   - A request the application takes without responding is ended by an
//     ACK from the server. An application thread gathers the ACKs it owes
//     one client endpoint into one datagram (its payload lists up to 63
//     more message IDs, ackbatch.go), and queues its replies: both go out
//     in one sendmmsg when its batch fills or it finds no message waiting.
//     A gathered ACK is smaller than the requests it ends and goes to the
//     address they came from. A client's reader likewise acknowledges the
//     responses it completed in one burst with one ACK (ackbatch.go),
//     which lists each RPC with its cookie; the server ends only those
//     whose cookie is right, at most MaxPayload/16 lookups a datagram,
//     and answers nothing.
//   - A client has at most ClientConfig.MaxCalls calls on the wire
//     (default 64); more wait in Call for one to end, as streams wait
//     beyond HTTP/2's MAX_CONCURRENT_STREAMS.
//   - A call that cannot complete by its deadline fails with ErrTimeout,
//     saying how far it got; the client frees its memory and tells the
//     server, which frees its own (and, if that ACK is lost, when
//     MessageTimeout passes without news).
//
// Faults (loss, duplication, reordering, delay) can be injected into the
// send path of either end, deterministically from a seed. Package loadgen
// drives a server with open-loop load and measures slowdown.
//
// # Bounds
//
// Memory is bounded everywhere: receive buffers per GRO thread, SoftIRQ queue
// depth, ready queue depth, a message's length, and the bytes of requests
// held from their first packet until Release (allocated as they arrive),
// with the responses not yet acknowledged and a charge per RPC, and per
// client host (MaxPeerBytes). Beyond a bound the pipeline drops and
// counts (Stats.Drops, by DropReason), it never buffers without limit; a
// request whose next packet does not come within Config.MessageTimeout is
// freed, and so is a response whose client goes silent. Malformed,
// truncated and oversized datagrams are dropped and counted at GRO.
//
// # Threat model
//
// Homa's kernel module trusts its network; a userspace server that may be
// bound to a real address cannot. rx assumes an attacker who can send any
// datagram from any address (spoofing), at any rate the link carries, but
// who cannot read the traffic of other hosts: what it learns comes from
// packets sent to addresses it reads. Against that attacker:
//
//   - No amplification. Each RPC carries a cookie, a keyed hash
//     (hash/maphash, seeded at start) of its client's address and ids,
//     stamped on every packet the server sends about it; a client echoes
//     it. Until a packet with the cookie proves that the client reads its
//     address, the server sends about the RPC only what the RPC's own bytes
//     paid for: RESENDs, BUSYs, retransmissions and a response larger than
//     the request wait (a BUSY carrying the cookie invites the client to
//     prove itself with a probe). An answer about an RPC the server does not
//     hold (UNKNOWN, ACK) is one header for one header. So a spoofer draws
//     at most as many bytes to a victim as it sends (Stats: Withheld;
//     hostile_test.go measures it for every attack).
//   - No retransmission storm. A RESEND acts only with the cookie, resends
//     only segments already sent, each at most once per ResendInterval, and
//     at most maxRetransmitFactor (8) times the response in all. RESENDs
//     and probes do not keep an RPC alive: only progress does (new request
//     bytes, a grant that moves the response), so MessageTimeout bounds
//     the life of every RPC. The timers of both ends back off exponentially
//     (1, 2, 4, … 64 resend intervals) while a peer stays silent, or, for a
//     client, answers only BUSY.
//   - No blind requests. DATA is accepted only below the server's grant
//     (the unscheduled bytes, then the grants it sent); bytes past the
//     unscheduled part need the cookie, which only a GRANT delivers.
//   - Memory only for data that arrived. A request's buffer grows (by
//     powers of two) as its bytes arrive, charged to MaxInflightBytes and to
//     its client host's MaxPeerBytes (an IP address, whatever its ports),
//     with a fixed charge per RPC; a claim holds at most its unscheduled
//     bytes until its sender proves its address. Maps shrink after a flood.
//   - Fair grants. The scheduler is O(log n) per message (a heap per peer
//     and a heap of peers), grants one message per client host at a time
//     (Homa's max_rpcs_per_peer), and takes the slot from a message whose
//     sender leaves its grant unused for a resend interval.
//   - Overload sheds at the door. A request waits first in the socket's
//     buffer (the kernel's arrival time, SO_TIMESTAMPNS, of the oldest
//     datagram of each read says how long) and then for a thread (the
//     oldest complete request says how long); while the two add up to
//     ShedDelay, the first packets of new requests are dropped (DropShed)
//     and answered with one BUSY marked FlagShed, a header for a packet of
//     at least a header, to its source. The client sends such a request
//     again on its timer's backoff instead of probing, and its timer sends
//     at most 32 packets a tick, so that thousands of waiting calls do not
//     ask a slow server about each of them every resend interval. Kernel
//     drops (socket buffers full) are counted from SO_RXQ_OVFL
//     (Stats.KernelDrops, homalb_rx_kernel_drops_total).
//
// What is not bounded: an attacker on the path, or one who reads the
// client's address, is the client; it can hold an RPC for MessageTimeout
// and draw its response again at one copy per resend interval within the
// retransmission budget. A host's own ports share its budgets, so an
// attacker on the same host as a legitimate client shares that client's
// share. CPU spent parsing and dropping garbage is bounded only by the
// packet rate the sockets deliver; the socket buffers and kernel drops
// absorb the rest. The client trusts its one server (its socket is
// connected, so the kernel filters other sources).
//
// BareEcho, the echo path's floor (serve --bare), keeps no state and
// answers only a request of one packet, with one packet of the same size,
// to its source: it reflects one byte for each byte, and amplifies none.
//
// # The Go runtime
//
// Pinned threads are goroutines locked to OS threads, and a goroutine runs
// Go code only while it holds one of GOMAXPROCS processors (by default one
// per CPU). A locked goroutine that waits on a channel gives its processor
// up, and the one that wakes it must hand it one back through the
// scheduler: on the 2-CPU VM of README's measurements that costs 21–26 µs
// of CPU per wake-up, against 0.15 µs between goroutines left to the
// scheduler (BenchmarkWake), and under perf it is the echo path's largest
// single cost. And while the GRO thread holds one processor and an
// application thread polls on the other, a SoftIRQ worker woken to run
// cannot, whatever its real-time priority: it waits for a processor, not
// for the CPU, which is not how softirq work preempts an application in
// the kernel.
//
// # Telemetry
//
// Server.Stats returns per-core packet, batch and busy-time counters by role,
// the GRO→SoftIRQ and SoftIRQ→application handoff latency distributions and
// the transport's counters; Stats.WriteText prints them. Server.Collector
// exports them to Prometheus. Client.Stats counts a client's work.
//
// # Example
//
//	s, err := rx.Listen(rx.Config{Addr: "127.0.0.1:4000", Policy: "gen3",
//		GROCores: []int{0}, SoftIRQCores: []int{1}, AppCores: []int{1}, Threads: 2})
//	if err != nil { ... }
//	go s.Serve(rx.Echo)
//	c, _ := rx.Dial("127.0.0.1:4000")
//	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
//	resp, err := c.Call(ctx, req) // resp == req, or err says why not
//	cancel()
//	...
//	c.Close()
//	s.Close()
//	st := s.Stats()
//	st.WriteText(os.Stdout)
package rx
