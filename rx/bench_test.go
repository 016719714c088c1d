package rx

import (
	"context"
	"net"
	"net/netip"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/homalb/homalb/wire"
)

// benchSocketBuffer is the receive buffer of the benchmark's sockets: the
// traffic of a round is queued there before the receivers start.
const benchSocketBuffer = 16 << 20

// benchClients send each round's traffic from this many sockets, so that
// SO_REUSEPORT spreads it over the GRO sockets.
const benchClients = 4

// BenchmarkPipeline measures the receive throughput of the pipeline against
// a baseline single-thread recvmmsg loop reading the same traffic in the
// same run. Each round queues the same messages in the sockets' buffers
// first, then times how long the receivers take to drain them: the
// pipeline until its application threads took the last message, the
// baseline until it read and decoded the last packet. The pipeline is one
// server per scenario, drained round after round (pipeRig): its threads
// run, its maps have grown and its pools hold buffers, as in a server that
// has been up, and a warm-up round is not measured. Metrics: packets/s and
// MB/s of both, their ratio (pipe/base), the handoff latencies, and the
// CPU time per packet of the baseline's thread and of the pipeline's GRO,
// SoftIRQ and application threads (their own clocks): a role whose CPU
// per packet is below the drain's time per packet waited part of the
// drain.
//
//	go test -run XXX -bench Pipeline -benchtime 20x ./rx
func BenchmarkPipeline(b *testing.B) {
	scenarios := []struct {
		name string
		size int
		cfg  Config
	}{
		{"w2-400B/gen3-2core", 400, Config{Policy: "gen3", GROCores: []int{0}, SoftIRQCores: []int{1}, AppCores: []int{1}, Threads: 2}},
		{"200KB/gen3-2core", 200_000, Config{Policy: "gen3", GROCores: []int{0}, SoftIRQCores: []int{1}, AppCores: []int{1}, Threads: 2}},
		{"w2-400B/gen2-2sock", 400, Config{Policy: "gen2", GROCores: []int{0, 1}, AppCores: []int{0, 1}, Threads: 2}},
		{"200KB/gen2-2sock", 200_000, Config{Policy: "gen2", GROCores: []int{0, 1}, AppCores: []int{0, 1}, Threads: 2}},
		{"w2-400B/same-1core", 400, Config{Policy: "same", Threads: 1}},
	}
	for _, sc := range scenarios {
		b.Run(sc.name, func(b *testing.B) {
			var pipeNs, baseNs, pipePkts, basePkts, pipeBytes, baseBytes, baseCPU int64
			var roleCPU [3]int64 // GRO, SoftIRQ, application
			g2s := hdr.New(1, latencyMax, 2)
			s2a := hdr.New(1, latencyMax, 2)
			rig := newPipeRig(b, sc.cfg, sc.size)
			rig.drain(b) // a warm-up round: maps grow, pools fill
			pipeNs, pipePkts, pipeBytes = 0, 0, 0
			for range b.N {
				p, n, by := rig.drain(b)
				pipeNs, pipePkts, pipeBytes = pipeNs+p, pipePkts+n, pipeBytes+by
				p, n, by, c := baselineRound(b, sc.size, rig.senderCPU())
				baseNs, basePkts, baseBytes, baseCPU = baseNs+p, basePkts+n, baseBytes+by, baseCPU+c
			}
			rig.close(b, g2s, s2a, &roleCPU)
			pipePPS := float64(pipePkts) / (float64(pipeNs) / 1e9)
			basePPS := float64(basePkts) / (float64(baseNs) / 1e9)
			b.ReportMetric(pipePPS, "pipe_pkts/s")
			b.ReportMetric(basePPS, "base_pkts/s")
			b.ReportMetric(float64(pipeBytes)/(float64(pipeNs)/1e9)/1e6, "pipe_MB/s")
			b.ReportMetric(float64(baseBytes)/(float64(baseNs)/1e9)/1e6, "base_MB/s")
			b.ReportMetric(pipePPS/basePPS, "pipe/base")
			b.ReportMetric(float64(g2s.ValueAtQuantile(50)), "gro→softirq_p50_ns")
			b.ReportMetric(float64(g2s.ValueAtQuantile(99)), "gro→softirq_p99_ns")
			b.ReportMetric(float64(s2a.ValueAtQuantile(50)), "softirq→app_p50_ns")
			b.ReportMetric(float64(s2a.ValueAtQuantile(99)), "softirq→app_p99_ns")
			if baseCPU > 0 { // the platform has thread CPU clocks
				b.ReportMetric(float64(baseCPU)/float64(basePkts), "base_cpu_ns/pkt")
				b.ReportMetric(float64(roleCPU[0])/float64(pipePkts), "gro_cpu_ns/pkt")
				b.ReportMetric(float64(roleCPU[1])/float64(pipePkts), "softirq_cpu_ns/pkt")
				b.ReportMetric(float64(roleCPU[2])/float64(pipePkts), "app_cpu_ns/pkt")
			}
			b.ReportMetric(0, "ns/op")
		})
	}
}

// roundPackets is how many packets a round queues: what the socket buffer
// surely holds (a loopback datagram of an MTU costs < 3 KB of buffer).
func roundPackets(granted int) int { return min(4000, granted/3000) }

// sendRound queues messages of size from benchClients sockets until about
// packets packets are sent, from a thread pinned to CPU cpu when cpu ≥ 0
// (see pipeRig.senderCPU); it returns the messages and packets sent, and
// closes the sockets when the round ends (b.Cleanup of the caller's round
// is too late: the sockets stay open while the receivers drain, so that
// the server's ACKs reach a socket, as they would reach a live client,
// rather than a closed port whose ICMP errors the kernel would charge to
// the server's sends).
func sendRound(b *testing.B, addr string, size, packets int, sender uint64, cpu int) (msgs, pkts int, closeFn func()) {
	per := (size + MaxPayload - 1) / MaxPayload
	total := max(packets/per, 1)
	var conns []*net.UDPConn
	ap := net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr))
	for range benchClients {
		c, err := net.DialUDP("udp", nil, ap)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = setSocketBuffers(c, DefaultSocketBuffer)
		conns = append(conns, c)
	}
	msg := make([]byte, size)
	errc := make(chan error, 1)
	go func() { // a thread of its own: pinned, it exits with the goroutine
		if cpu >= 0 {
			if err := pinThread(cpu); err != nil {
				b.Logf("senders unpinned: %v", err)
			}
		}
		for i := range total {
			if err := sendBlind(conns[i%benchClients], sender, 1<<40+uint64(i), msg); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	return total, total * per, func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}
}

// pipeRig is one server that drains round after round, as a server that
// has been up does: its maps have grown and its pools hold buffers. Each
// round holds its GRO threads (Server.hold), fills the sockets, and times
// the drain from the release until the application threads took the last
// message.
type pipeRig struct {
	s      *Server
	size   int
	round  uint64
	got    atomic.Int64
	want   atomic.Int64
	last   atomic.Int64
	done   atomic.Pointer[chan struct{}]
	served chan struct{}
}

func newPipeRig(b *testing.B, cfg Config, size int) *pipeRig {
	cfg.SocketBuffer = benchSocketBuffer
	// The rounds are queued blind and drained at once: every message is
	// unscheduled (no grants, which need a real client), and nothing is
	// shed however long the ready queue grows.
	cfg.UnschedBytes = max(size, DefaultUnschedBytes)
	cfg.ShedDelay = -1
	cfg.Logf = b.Logf
	s, err := newServer(cfg)
	if err != nil {
		b.Fatal(err)
	}
	r := &pipeRig{s: s, size: size, served: make(chan struct{})}
	go func() {
		defer close(r.served)
		_ = s.Serve(func(m *Message) {
			r.last.Store(s.clock())
			if r.got.Add(1) == r.want.Load() {
				close(*r.done.Load())
			}
		})
	}()
	hold := make(chan struct{})
	s.hold.Store(&hold)
	s.start()
	return r
}

// drain runs one round and returns the drain time, the packets and bytes
// delivered.
func (r *pipeRig) drain(b *testing.B) (ns, pkts, bytes int64) {
	b.StopTimer()
	s := r.s
	r.round++
	hold := s.hold.Load()
	if hold == nil { // the previous round's release: hold again
		h := make(chan struct{})
		hold = &h
		s.hold.Store(hold)
	}
	r.pokeUntilHeld(b)
	granted, _ := setSocketBuffers(s.conns[0], benchSocketBuffer)
	r.got.Store(0)
	r.want.Store(1 << 62)
	done := make(chan struct{})
	r.done.Store(&done)
	msgs, sent, closeClients := sendRound(b, s.addr.String(), r.size, roundPackets(granted)/len(s.gros), r.round, r.senderCPU())
	defer closeClients()
	r.want.Store(int64(msgs))
	runtime.GC() // the round's set-up, not its drain, pays for its garbage
	b.StartTimer()
	t0 := s.clock()
	s.hold.Store(nil)
	close(*hold)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
	b.StopTimer()
	// Drain time: until the last message was taken (a lost packet leaves
	// its message out; the rest is still measured).
	n := r.got.Load()
	if n < int64(msgs) {
		b.Logf("pipeline: %d of %d messages arrived", n, msgs)
	}
	per := int64(sent / msgs)
	return r.last.Load() - t0, n * per, n * int64(r.size)
}

// senderCPU is the CPU a round is sent from: that of the one GRO thread,
// so that the datagrams' buffers are allocated on the CPU that reads them,
// as a NIC's are on the core its interrupt and NAPI poll run on (on
// loopback the sender's CPU allocates them; a reader on another CPU frees
// each through the first CPU, by interrupt). −1 with several GRO
// threads, whose share of the flows the rig does not know: the sender
// runs where the scheduler puts it, and the baseline too.
func (r *pipeRig) senderCPU() int {
	if len(r.s.gros) != 1 || !r.s.Pinned() {
		return -1
	}
	return r.s.CPU(r.s.gros[0].core)
}

// pokeUntilHeld sends each GRO thread a datagram it drops (from new ports,
// which SO_REUSEPORT spreads over the sockets) until every one of them
// waits on the hold: a thread blocked in its read would otherwise take the
// round's first packets as they are queued.
func (r *pipeRig) pokeUntilHeld(b *testing.B) {
	s := r.s
	for try := 0; s.held.Load() < int32(len(s.gros)); try++ {
		if try == 1000 {
			b.Fatalf("%d of %d GRO threads held", s.held.Load(), len(s.gros))
		}
		c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(s.addr))
		if err != nil {
			b.Fatal(err)
		}
		_, _ = c.Write([]byte("poke"))
		_ = c.Close()
		time.Sleep(time.Millisecond)
	}
}

// close stops the server and adds its threads' CPU time (their clocks are
// in once they exited) and its handoff latencies.
func (r *pipeRig) close(b *testing.B, g2s, s2a *hdr.Histogram, roleCPU *[3]int64) {
	s := r.s
	if h := s.hold.Swap(nil); h != nil {
		close(*h)
	}
	_ = s.Close()
	<-r.served
	for i := range roleCPU {
		roleCPU[i] += s.roleCPU[i].Load()
	}
	for c := range s.l.cores {
		s.groHist[c].mergeInto(g2s)
		s.appHist[c].mergeInto(s2a)
	}
	if st := s.Stats(); st.TotalDrops() > st.Drops[DropTruncated] { // the pokes are truncated
		b.Logf("pipeline drops: %v", st.Drops)
	}
}

// baselineRound queues the same traffic on one plain socket and drains it
// with one thread: recvmmsg bursts and a decode of each packet. cpu is the
// thread's CPU time over the drain (0: the platform cannot tell). With
// pin ≥ 0, the senders and the draining thread run on CPU pin, as the
// pipeline's round is sent from its GRO thread's CPU (pipeRig.senderCPU).
func baselineRound(b *testing.B, size, pin int) (ns, pkts, bytes, cpu int64) {
	b.StopTimer()
	conn, err := listenUDP("127.0.0.1:0", false)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	granted, _ := setSocketBuffers(conn, benchSocketBuffer)
	_, sent, closeClients := sendRound(b, conn.LocalAddr().String(), size, roundPackets(granted), 1, pin)
	defer closeClients()
	rd, err := newBatchReader(conn, DefaultReadBurst)
	if err != nil {
		b.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	runtime.GC() // as the pipeline's round does
	type result struct {
		ns, pkts, bytes, cpu int64
		err                  error
	}
	done := make(chan result, 1)
	b.StartTimer()
	go func() { // one thread, whose clock tells the loop's CPU time
		var r result
		if pin >= 0 {
			if err := pinThread(pin); err != nil {
				b.Logf("baseline unpinned: %v", err)
			}
		} else {
			runtime.LockOSThread() // exits locked: the thread is retired
		}
		r.ns, r.pkts, r.bytes, r.cpu, r.err = drainBaseline(rd, int64(sent))
		done <- r
	}()
	r := <-done
	b.StopTimer()
	if r.err != nil {
		b.Fatal(r.err)
	}
	if r.pkts < int64(sent) {
		b.Logf("baseline: %d of %d packets arrived", r.pkts, sent)
	}
	return r.ns, r.pkts, r.bytes, r.cpu
}

// drainBaseline reads want packets from rd (or until its deadline) and
// returns the time it took, the packets and payload bytes, and the calling
// thread's CPU time.
func drainBaseline(rd *batchReader, want int64) (ns, pkts, bytes, cpu int64, err error) {
	slots := make([]*pktBuf, DefaultReadBurst)
	for i := range slots {
		slots[i] = new(pktBuf)
	}
	meta := make([]rxMeta, DefaultReadBurst)
	c0 := threadCPU()
	t0 := time.Now()
	for pkts < want {
		n, err := rd.read(slots, meta)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				break
			}
			return 0, 0, 0, 0, err
		}
		for i := range n {
			if _, p, err := wire.Decode(slots[i].b[:meta[i].n]); err == nil {
				bytes += int64(len(p))
				pkts++
			}
		}
	}
	ns = int64(time.Since(t0))
	if c1 := threadCPU(); c0 >= 0 && c1 >= c0 {
		cpu = c1 - c0
	}
	return ns, pkts, bytes, cpu, nil
}

// BenchmarkHandoff measures closed-loop echo calls (one outstanding) and
// reports the pipeline's handoff latencies and the round trip, P50 and P99.
//
//	go test -run XXX -bench Handoff -benchtime 3000x ./rx
func BenchmarkHandoff(b *testing.B) {
	for _, sc := range []struct {
		name string
		size int
	}{{"100B", 100}, {"20KB", 20_000}} {
		b.Run(sc.name+"/gen3-2core", func(b *testing.B) {
			s := listen(b, Config{Policy: "gen3", GROCores: []int{0}, SoftIRQCores: []int{1}, AppCores: []int{1}, Threads: 2})
			go func() { _ = s.Serve(Echo) }()
			c := dial(b, s)
			req := make([]byte, sc.size)
			rtt := hdr.New(1, latencyMax, 2)
			ctx := context.Background()
			for range 100 { // warm up
				if _, err := c.Call(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for range b.N {
				t0 := time.Now()
				cctx, cancel := context.WithTimeout(ctx, time.Second)
				if _, err := c.Call(cctx, req); err != nil {
					b.Fatal(err)
				}
				cancel()
				_ = rtt.RecordValue(min(int64(time.Since(t0)), latencyMax))
			}
			b.StopTimer()
			st := s.Stats()
			b.ReportMetric(float64(rtt.ValueAtQuantile(50)), "rtt_p50_ns")
			b.ReportMetric(float64(rtt.ValueAtQuantile(99)), "rtt_p99_ns")
			b.ReportMetric(float64(st.GROToSoftIRQ.P50), "gro→softirq_p50_ns")
			b.ReportMetric(float64(st.GROToSoftIRQ.P99), "gro→softirq_p99_ns")
			b.ReportMetric(float64(st.SoftIRQToApp.P50), "softirq→app_p50_ns")
			b.ReportMetric(float64(st.SoftIRQToApp.P99), "softirq→app_p99_ns")
		})
	}
}

// BenchmarkBurst measures the pipeline's own per-packet work without
// sockets: GRO, SoftIRQ, reassembly, ready queue and Release for a W2-like
// burst of 20 packets (10 whole messages, one of 10 packets), on one core.
// allocs/op must be 0.
func BenchmarkBurst(b *testing.B) {
	f := newBurstFixture(b, "gen2")
	f.run()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if n := f.run(); n != 11 {
			b.Fatalf("burst completed %d messages, want 11", n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(f.pkts)), "ns/pkt")
}
