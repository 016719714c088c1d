package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/homalb/homalb/balance"
	"github.com/homalb/homalb/rx"
	"github.com/spf13/cobra"
)

// serveFlags are the flags of homalb serve.
type serveFlags struct {
	addr, policy, groups      string
	gro, softirq, app         []int
	threads, cores, maxGRO    int
	pollUs, busyUs, groBusyUs int
	maxMsg, queue             int
	maxInflight               int64
	timeout, duration         time.Duration
	noPin, noPrio             bool
	noBypass, noSameCore      bool
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

Logical cores are mapped onto this host's CPUs round-robin, so a 4- or
20-core layout runs on a 2-CPU box. gen3 takes its groups from
--gen3-groups, else deals --softirq-cores out over --gro-cores.`,
		Example: `  homalb serve --addr 127.0.0.1:4000 --policy gen3 --gro-cores 0 --softirq-cores 1 --app-cores 1 --threads 2
  homalb serve --policy gen2 --gro-cores 0,1 --app-cores 0,1 --duration 30s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd, &f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.addr, "addr", "127.0.0.1:4000", "UDP address to serve on (IP:PORT)")
	fl.StringVar(&f.policy, "policy", "gen3", "SoftIRQ steering policy (see homalb policies)")
	fl.IntSliceVar(&f.gro, "gro-cores", []int{0}, "cores running a GRO thread, one socket each")
	fl.IntSliceVar(&f.softirq, "softirq-cores", []int{1}, "cores meant for SoftIRQ work (gen3: dealt out as the GRO cores' groups)")
	fl.IntSliceVar(&f.app, "app-cores", []int{1}, "cores of the application threads, round-robin")
	fl.IntVar(&f.threads, "threads", 2, "application threads")
	fl.IntVar(&f.cores, "cores", 0, "logical cores (0: one more than the largest core named)")
	fl.StringVar(&f.groups, "gen3-groups", "", `gen3 layout "GRO:C1,C2;GRO:C1,…" (overrides --softirq-cores)`)
	fl.IntVar(&f.maxGRO, "max-gro", rx.DefaultMaxGRO, "packets per GRO batch (max_gro_skbs)")
	fl.IntVar(&f.pollUs, "poll-us", int(rx.DefaultPoll/time.Microsecond), "µs an application thread polls before sleeping (0: none)")
	fl.IntVar(&f.busyUs, "busy-us", int(balance.DefaultBusyNs/1000), "busy window of gen2, gen3 and the thread chooser, µs")
	fl.IntVar(&f.groBusyUs, "gro-busy-us", int(balance.DefaultGROBusyNs/1000), "GRO busy window, µs")
	fl.BoolVar(&f.noBypass, "no-bypass", false, "disable the short-message and grant bypasses")
	fl.BoolVar(&f.noSameCore, "no-same-core", false, "steer batches of one packet too (no SAME_CORE)")
	fl.IntVar(&f.maxMsg, "max-msg", rx.DefaultMaxMessageLen, "longest message accepted, bytes")
	fl.Int64Var(&f.maxInflight, "max-inflight", rx.DefaultMaxInflightBytes, "bytes of messages held at once")
	fl.IntVar(&f.queue, "queue", rx.DefaultQueueDepth, "GRO batches each SoftIRQ queue holds")
	fl.DurationVar(&f.timeout, "msg-timeout", rx.DefaultMessageTimeout, "free a partly received message after this long without a packet")
	fl.DurationVar(&f.duration, "duration", 0, "stop after this long (0: at SIGINT or SIGTERM)")
	fl.BoolVar(&f.noPin, "no-pin", false, "do not pin threads to CPUs")
	fl.BoolVar(&f.noPrio, "no-priority", false, "leave GRO and SoftIRQ threads at ordinary priority (default: SCHED_FIFO 1 where allowed)")
	return cmd
}

// config turns the flags into an rx configuration; errors are bad input.
func (f *serveFlags) config(logf func(string, ...any)) (rx.Config, error) {
	opts := balance.DefaultOptions()
	if f.busyUs < 0 || f.groBusyUs < 0 || f.pollUs < 0 {
		return rx.Config{}, errors.New("serve: --busy-us, --gro-busy-us and --poll-us must not be negative")
	}
	if f.duration < 0 {
		return rx.Config{}, errors.New("serve: --duration must not be negative")
	}
	opts.BusyNs = int64(f.busyUs) * 1000
	opts.GROBusyNs = int64(f.groBusyUs) * 1000
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
	poll := time.Duration(f.pollUs) * time.Microsecond
	if poll == 0 {
		poll = -1
	}
	cfg := rx.Config{
		Addr: f.addr, Policy: f.policy, Options: &opts, Cores: f.cores,
		GROCores: f.gro, SoftIRQCores: f.softirq, AppCores: f.app, Threads: f.threads,
		MaxGRO: f.maxGRO, Poll: poll, MaxMessageLen: f.maxMsg, MaxInflightBytes: f.maxInflight,
		QueueDepth: f.queue, MessageTimeout: f.timeout, NoPin: f.noPin, NoPriority: f.noPrio, Logf: logf,
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
	fmt.Fprintf(out, "homalb serve: echo on %s, policy %s, %d logical cores, threads %s, GRO/SoftIRQ priority %s; SIGUSR1 prints telemetry, SIGINT stops\n",
		s.Addr(), cfg.Policy, s.NumCores(), pinned, prio)
	served := make(chan error, 1)
	go func() { served <- s.Serve(rx.Echo) }()

	var stop <-chan time.Time
	if f.duration > 0 {
		stop = time.After(f.duration)
	}
wait:
	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGUSR1 {
				st := s.Stats()
				if err := st.WriteText(out); err != nil {
					return fmt.Errorf("serve: print telemetry: %w", err)
				}
				continue
			}
			break wait
		case <-stop:
			break wait
		case err := <-served: // Serve only returns early on a bug; say so
			_ = s.Close()
			return fmt.Errorf("serve: application threads stopped: %w", err)
		}
	}
	closeErr := s.Close()
	<-served
	st := s.Stats()
	if err := st.WriteText(out); err != nil {
		return fmt.Errorf("serve: print telemetry: %w", err)
	}
	if closeErr != nil {
		return fmt.Errorf("serve: %w", closeErr)
	}
	return nil
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
