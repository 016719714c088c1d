package main

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/homalb/homalb/balance"
	"github.com/homalb/homalb/rx"
)

// serveFlags are the flags of homalb serve; bench shares the layout and
// transport ones.
type serveFlags struct {
	addr, policy, groups   string
	gro, softirq, app      []int
	threads, cores, maxGRO int
	poll, busy             time.Duration
	groBusy                string // a duration, or "deployed"
	maxMsg, queue          int
	maxInflight, maxPeer   int64
	timeout, duration      time.Duration
	shedDelay              time.Duration
	noPin, noPrio          bool
	noBypass, noSameCore   bool
	unsched, overcommit    int
	resend                 time.Duration
	metrics                string
	faults                 faultFlags
	bare                   bool
}

// faultFlags are the fault injection flags of serve, load and bench.
type faultFlags struct {
	loss, dup, reorder   float64
	reorderWindow, delay time.Duration
	seed                 uint64
}

func (f *faultFlags) register(fl *pflag.FlagSet, what string) {
	fl.Float64Var(&f.loss, "loss", 0, "fraction of the packets "+what+" sends that are dropped (fault injection)")
	fl.Float64Var(&f.dup, "dup", 0, "fraction of the packets "+what+" sends twice")
	fl.Float64Var(&f.reorder, "reorder", 0, "fraction of the packets "+what+" holds back so that later ones overtake them")
	fl.DurationVar(&f.reorderWindow, "reorder-window", rx.DefaultReorderWindow, "longest hold of a reordered packet")
	fl.DurationVar(&f.delay, "delay", 0, "delay added to every packet "+what+" sends")
	fl.Uint64Var(&f.seed, "fault-seed", 1, "seed of the fault decisions (the same seed drops the same packets)")
}

func (f *faultFlags) faults() (rx.Faults, error) {
	ff := rx.Faults{Loss: f.loss, Dup: f.dup, Reorder: f.reorder, ReorderWindow: f.reorderWindow, Delay: f.delay, Seed: f.seed}
	if err := ff.Validate(); err != nil {
		return ff, fmt.Errorf("faults: %w", err)
	}
	return ff, nil
}

// registerLayout registers the pipeline's layout, policy tuning and
// transport flags.
func (f *serveFlags) registerLayout(fl *pflag.FlagSet) {
	fl.IntSliceVar(&f.gro, "gro-cores", []int{0}, "cores running a GRO thread, one socket each")
	fl.IntSliceVar(&f.softirq, "softirq-cores", []int{1}, "cores meant for SoftIRQ work (gen3: dealt out as the GRO cores' groups)")
	fl.IntSliceVar(&f.app, "app-cores", []int{1}, "cores of the application threads, round-robin")
	fl.IntVar(&f.threads, "threads", 2, "application threads")
	fl.IntVar(&f.cores, "cores", 0, "logical cores (0: one more than the largest core named)")
	fl.StringVar(&f.groups, "gen3-groups", "", `gen3 layout "GRO:C1,C2;GRO:C1,…" (overrides --softirq-cores)`)
	fl.IntVar(&f.maxGRO, "max-gro", rx.DefaultMaxGRO, "packets per GRO batch (max_gro_skbs)")
	fl.DurationVar(&f.poll, "poll", rx.DefaultPoll, "how long an application thread polls before sleeping (0: never)")
	fl.DurationVar(&f.busy, "busy", time.Duration(balance.DefaultBusyNs), "busy window of gen2, gen3 and the thread chooser")
	fl.StringVar(&f.groBusy, "gro-busy", "deployed", `GRO busy window: a duration, or "deployed" for the policy's (gen2 0, gen3 2µs, others 5µs)`)
	fl.BoolVar(&f.noBypass, "no-bypass", false, "disable the short-message and grant bypasses")
	fl.BoolVar(&f.noSameCore, "no-same-core", false, "steer batches of one packet too (no SAME_CORE)")
	fl.BoolVar(&f.noPin, "no-pin", false, "do not pin threads to CPUs")
	fl.BoolVar(&f.noPrio, "no-priority", false, "leave GRO and SoftIRQ threads at ordinary priority (default: SCHED_FIFO 1 where allowed)")
	fl.IntVar(&f.unsched, "unsched-bytes", rx.DefaultUnschedBytes, "bytes of a message sent before grants; also the grant window (rtt_bytes)")
	fl.IntVar(&f.overcommit, "max-overcommit", rx.DefaultMaxOvercommit, "messages granted at once")
	fl.DurationVar(&f.resend, "resend-interval", rx.DefaultResendInterval, "silence after which missing bytes are asked for again")
}

func newServeCmd() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the real receive pipeline as a UDP echo server",
		Long: `serve runs the real receive pipeline (package rx) as an echo server: each
request is answered with a response of the same bytes, sent back to the
sender's address. GRO threads (one UDP socket each, SO_REUSEPORT), SoftIRQ
workers and application threads run pinned to their cores' CPUs, steered by
the chosen policy. It runs until SIGINT or SIGTERM (or --duration), then
closes cleanly and prints its telemetry; SIGUSR1 prints it while running.

The transport is Homa's: the first --unsched-bytes of a response go at once,
the rest as the client grants them; requests are granted by the server (at
most --max-overcommit at once, fewest bytes left first); what is lost is
asked for again after --resend-interval. --loss, --dup, --reorder and --delay
inject faults into the server's own sends. --metrics serves Prometheus
metrics: per-core busy time by role, handoff latency histograms, drops by
reason, RPCs and bytes in flight.

Logical cores are mapped onto this host's CPUs round-robin, so a 4- or
20-core layout runs on a 2-CPU box. gen3 takes its groups from
--gen3-groups, else deals --softirq-cores out over --gro-cores.

--bare runs the floor instead: one thread that reads bursts with recvmmsg
and answers each request of one packet with one packet, through sendmmsg,
with no transport, policy or cores. The CPU line it prints at the end,
beside serve's under the same load (load --workload fixed:100, with
--base-rtt and --link-gbps so that it makes no calibration calls of many
packets), tells what the pipeline costs per request beyond the host's UDP
path.`,
		Example: `  homalb serve --addr 127.0.0.1:4000 --policy gen3 --gro-cores 0 --softirq-cores 1 --app-cores 1 --threads 2
  homalb serve --policy gen2 --gro-cores 0,1 --app-cores 0,1 --duration 30s
  homalb serve --metrics 127.0.0.1:9100 --loss 0.01
  homalb serve --bare --addr 127.0.0.1:4000 --duration 10s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd, &f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.addr, "addr", "127.0.0.1:4000", "UDP address to serve on (IP:PORT)")
	fl.StringVar(&f.policy, "policy", "gen3", "SoftIRQ steering policy (see homalb policies)")
	f.registerLayout(fl)
	fl.IntVar(&f.maxMsg, "max-msg", rx.DefaultMaxMessageLen, "longest message accepted, bytes")
	fl.Int64Var(&f.maxInflight, "max-inflight", rx.DefaultMaxInflightBytes, "bytes of messages held at once")
	fl.Int64Var(&f.maxPeer, "max-peer-bytes", 0, "bytes of requests one client host may have in assembly (0: max-inflight/8, at least 2 MiB)")
	fl.DurationVar(&f.shedDelay, "shed-delay", 0, "refuse new requests while the wait in the socket buffer plus the oldest complete request's wait for a thread reach this (0: 4 resend intervals; negative: never)")
	fl.IntVar(&f.queue, "queue", rx.DefaultQueueDepth, "GRO batches each SoftIRQ queue holds")
	fl.DurationVar(&f.timeout, "msg-timeout", rx.DefaultMessageTimeout, "free a partly received request, or an unacknowledged response, after this long without a packet")
	fl.DurationVar(&f.duration, "duration", 0, "stop after this long (0: at SIGINT or SIGTERM)")
	fl.StringVar(&f.metrics, "metrics", "", "serve Prometheus metrics over HTTP on `ADDR` (IP:PORT), at /metrics")
	f.faults.register(fl, "the server")
	fl.BoolVar(&f.bare, "bare", false, "run the echo path's floor instead of the pipeline: one thread, recvmmsg and sendmmsg, answering requests of one packet (takes only --addr and --duration)")
	return cmd
}

// config turns the flags into an rx configuration; errors are bad input.
func (f *serveFlags) config(logf func(string, ...any)) (rx.Config, error) {
	opts := balance.DefaultOptions()
	if f.busy < 0 || f.poll < 0 {
		return rx.Config{}, errors.New("serve: --busy and --poll must not be negative")
	}
	groBusy := balance.GROBusyAsDeployed
	if f.groBusy != "deployed" {
		d, err := time.ParseDuration(f.groBusy)
		if err != nil || d < 0 {
			return rx.Config{}, fmt.Errorf("serve: --gro-busy %q: want a duration such as 2us, or deployed", f.groBusy)
		}
		groBusy = int64(d)
	}
	if f.duration < 0 {
		return rx.Config{}, errors.New("serve: --duration must not be negative")
	}
	if f.maxPeer < 0 {
		return rx.Config{}, fmt.Errorf("serve: --max-peer-bytes %d: want a positive byte count, or 0 for the default", f.maxPeer)
	}
	if f.unsched <= 0 || f.overcommit <= 0 || f.resend <= 0 {
		return rx.Config{}, errors.New("serve: --unsched-bytes, --max-overcommit and --resend-interval must be positive")
	}
	opts.BusyNs = int64(f.busy)
	opts.GROBusyNs = groBusy
	if f.noBypass {
		opts.ShortBypass, opts.GrantBypass = false, false
	}
	if f.noSameCore {
		opts.SameCoreSingle = false
	}
	if f.groups != "" {
		g, err := balance.ParseGroups(f.groups)
		if err != nil {
			return rx.Config{}, fmt.Errorf("serve: --gen3-groups: %w", err)
		}
		opts.Gen3Groups = g
	}
	poll := f.poll
	if poll == 0 {
		poll = -1
	}
	faults, err := f.faults.faults()
	if err != nil {
		return rx.Config{}, fmt.Errorf("serve: %w", err)
	}
	cfg := rx.Config{
		Addr: f.addr, Policy: f.policy, Options: &opts, Cores: f.cores,
		GROCores: f.gro, SoftIRQCores: f.softirq, AppCores: f.app, Threads: f.threads,
		MaxGRO: f.maxGRO, Poll: poll, MaxMessageLen: f.maxMsg, MaxInflightBytes: f.maxInflight,
		MaxPeerBytes: f.maxPeer, ShedDelay: f.shedDelay,
		QueueDepth: f.queue, MessageTimeout: f.timeout, NoPin: f.noPin, NoPriority: f.noPrio, Logf: logf,
		UnschedBytes: f.unsched, MaxOvercommit: f.overcommit, ResendInterval: f.resend, Faults: faults,
	}
	if f.metrics != "" {
		if _, err := netip.ParseAddrPort(f.metrics); err != nil {
			return cfg, fmt.Errorf("serve: --metrics %q: want IP:PORT", f.metrics)
		}
	}
	if f.threads < 1 {
		return cfg, fmt.Errorf("serve: --threads %d: want at least 1", f.threads)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("serve: %w", err)
	}
	return cfg, nil
}

func runServe(cmd *cobra.Command, f *serveFlags) error {
	if f.bare {
		return runBare(cmd, f)
	}
	out := cmd.OutOrStdout()
	errw := &lockedWriter{w: cmd.ErrOrStderr()}
	logf := func(format string, args ...any) {
		fmt.Fprintf(errw, "homalb serve: warning: "+format+"\n", args...)
	}
	cfg, err := f.config(logf)
	if err != nil {
		return badInput(err)
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGUSR1)
	defer signal.Stop(sigs)

	s, err := rx.Listen(cfg)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	pinned, prio := "pinned", "raised"
	if !s.Pinned() {
		pinned = "unpinned"
	}
	if !s.Prioritized() {
		prio = "ordinary"
	}
	var metrics *http.Server
	if f.metrics != "" {
		ln, err := net.Listen("tcp", f.metrics)
		if err != nil {
			_ = s.Close()
			return fmt.Errorf("serve: metrics: %w", err)
		}
		reg := prometheus.NewRegistry()
		reg.MustRegister(s.Collector())
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: log.New(errw, "homalb serve: metrics: ", 0)}))
		metrics = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = metrics.Serve(ln) }()
		defer metrics.Close()
		fmt.Fprintf(out, "homalb serve: metrics on http://%s/metrics\n", ln.Addr())
	}
	fmt.Fprintf(out, "homalb serve: echo on %s, policy %s, %d logical cores, threads %s, GRO/SoftIRQ priority %s; SIGUSR1 prints telemetry, SIGINT stops\n",
		s.Addr(), cfg.Policy, s.NumCores(), pinned, prio)
	served := make(chan error, 1)
	go func() { served <- s.Serve(rx.Echo) }()

	err = untilStopped(sigs, f.duration, served, func() error {
		st := s.Stats()
		if err := st.WriteText(out); err != nil {
			return fmt.Errorf("serve: print telemetry: %w", err)
		}
		fmt.Fprintln(out, cpuLine(st.Messages))
		return nil
	})
	if err != nil {
		_ = s.Close()
		return err
	}
	if metrics != nil {
		_ = metrics.Close()
	}
	closeErr := s.Close()
	<-served
	st := s.Stats()
	if err := st.WriteText(out); err != nil {
		return fmt.Errorf("serve: print telemetry: %w", err)
	}
	fmt.Fprintln(out, cpuLine(st.Messages))
	if closeErr != nil {
		return fmt.Errorf("serve: %w", closeErr)
	}
	return nil
}

// untilStopped waits for SIGINT or SIGTERM, the end of duration (> 0), or
// an early end of the server's threads (an error on failed; they only end
// early on a bug, so say so), and runs usr1 at each SIGUSR1.
func untilStopped(sigs <-chan os.Signal, duration time.Duration, failed <-chan error, usr1 func() error) error {
	var stop <-chan time.Time
	if duration > 0 {
		stop = time.After(duration)
	}
	for {
		select {
		case sig := <-sigs:
			if sig != syscall.SIGUSR1 {
				return nil
			}
			if err := usr1(); err != nil {
				return err
			}
		case <-stop:
			return nil
		case err := <-failed:
			return fmt.Errorf("serve: application threads stopped: %w", err)
		}
	}
}

// cpuLine reports the process's CPU time so far (user and system, every
// thread: the pipeline's, its polling, the Go runtime's) and its cost per
// message served: the echo path's cost per request per core, when serve
// alone runs in this process.
func cpuLine(msgs uint64) string {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return "cpu: unknown (" + err.Error() + ")"
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	per := "-"
	if msgs > 0 {
		per = fmt.Sprintf("%.1f µs", float64(cpu.Nanoseconds())/float64(msgs)/1e3)
	}
	return fmt.Sprintf("cpu: %.2f s user+system, %s per message", cpu.Seconds(), per)
}

// lockedWriter serialises writes from the pipeline's threads.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
