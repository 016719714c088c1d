package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/homalb/homalb/rx"
	"github.com/homalb/homalb/rx/loadgen"
	"github.com/homalb/homalb/stats"
	"github.com/homalb/homalb/workload"
)

// slowdownHelp defines the slowdown of real runs, for the help of load and
// bench.
const slowdownHelp = `Slowdown of a real RPC = RTT ÷ (base RTT + 2 × size × 8 ÷ link rate): the
round trip divided by the best an idle server offers for the size (the echo's
request and response carry size bytes each). The base RTT is the median round
trip of 100-byte calls made one at a time, and the link rate the rate at which
500 KB calls made one at a time carry their bytes; both are measured on the
idle server before the load (a calibration phase), unless --base-rtt and
--link-gbps give them. A slowdown near 1 met no queue; one a little below 1 was
faster than the median unloaded call. RTT runs from the moment the generator
starts the call; how late it started after its Poisson arrival time is
reported as the arrival lag.`

// loadFlags are the load generator's flags, shared by load and bench.
type loadFlags struct {
	workload, jsonOut   string
	rate, gbps, link    float64
	duration, warmup    time.Duration
	timeout, baseRTT    time.Duration
	seed                uint64
	clients, maxOut     int
	maxCalls            int
	calibCalls          int
	faults              faultFlags
	unsched, overcommit int
}

func (f *loadFlags) register(fl *pflag.FlagSet, defaultDuration time.Duration) {
	fl.StringVar(&f.workload, "workload", "w3", "request sizes: w1..w5, a CDF file, or a family (see homalb workload)")
	fl.Float64Var(&f.rate, "rate", 0, "RPCs per second, Poisson arrivals (default 1000 unless --gbps)")
	fl.Float64Var(&f.gbps, "gbps", 0, "offered load in Gbps of request bytes, instead of --rate")
	fl.DurationVar(&f.duration, "duration", defaultDuration, "how long RPCs arrive")
	fl.DurationVar(&f.warmup, "warmup", 0, "first part of the duration whose RPCs are not measured")
	fl.DurationVar(&f.timeout, "timeout", loadgen.DefaultTimeout, "deadline of each RPC")
	fl.Uint64Var(&f.seed, "seed", 1, "seed of the arrivals and sizes")
	fl.IntVar(&f.clients, "clients", loadgen.DefaultClients, "client sockets the RPCs are spread over")
	fl.IntVar(&f.maxOut, "max-outstanding", loadgen.DefaultMaxOutstanding, "RPCs in progress at once; arrivals beyond fail as backlog")
	fl.IntVar(&f.maxCalls, "max-calls", rx.DefaultMaxCalls, "calls each client socket has on the wire at once; more wait their turn (negative: no bound)")
	fl.Float64Var(&f.link, "link-gbps", 0, "link rate of the slowdown's ideal, Gbps (0: measured)")
	fl.DurationVar(&f.baseRTT, "base-rtt", 0, "unloaded RTT of a tiny RPC for the slowdown's ideal (0: measured)")
	fl.IntVar(&f.calibCalls, "calibration-calls", loadgen.DefaultCalibrationCalls, "tiny calls of the calibration (a tenth as many large ones)")
	fl.StringVar(&f.jsonOut, "json", "", "write the result as JSON to `FILE` (- for stdout), in the measurement schema of sim --json")
	f.faults.register(fl, "the client")
}

// registerTransport registers the client's transport flags (load only:
// bench takes them from the server's).
func (f *loadFlags) registerTransport(fl *pflag.FlagSet) {
	fl.IntVar(&f.unsched, "unsched-bytes", rx.DefaultUnschedBytes, "bytes of a request sent before grants; also the grant window of responses")
	fl.IntVar(&f.overcommit, "max-overcommit", rx.DefaultMaxOvercommit, "responses granted at once")
}

// config resolves the flags into a load configuration; errors are bad
// input.
func (f *loadFlags) config(addr string) (loadgen.Config, error) {
	d, err := workload.Resolve(f.workload, workload.Options{MaxBytes: rx.DefaultMaxMessageLen})
	if err != nil {
		return loadgen.Config{}, err
	}
	rate := f.rate
	switch {
	case f.rate != 0 && f.gbps != 0:
		return loadgen.Config{}, errors.New("give --rate or --gbps, not both")
	case f.rate < 0 || f.gbps < 0 || math.IsNaN(f.rate) || math.IsNaN(f.gbps):
		return loadgen.Config{}, errors.New("--rate and --gbps must be positive")
	case f.gbps > 0:
		rate = f.gbps * 1e9 / 8 / d.Mean()
	case rate == 0:
		rate = 1000
	}
	faults, err := f.faults.faults()
	if err != nil {
		return loadgen.Config{}, err
	}
	if f.clients < 1 {
		return loadgen.Config{}, fmt.Errorf("--clients %d: want at least 1", f.clients)
	}
	if f.unsched <= 0 || f.overcommit <= 0 {
		return loadgen.Config{}, errors.New("--unsched-bytes and --max-overcommit must be positive")
	}
	if f.maxOut < 1 || f.calibCalls < 1 || f.timeout <= 0 {
		return loadgen.Config{}, errors.New("--max-outstanding, --calibration-calls and --timeout must be positive")
	}
	cfg := loadgen.Config{Addr: addr, Sizes: d, Rate: rate, Duration: f.duration, Warmup: f.warmup, Seed: f.seed,
		Clients: f.clients, Timeout: f.timeout, MaxOutstanding: f.maxOut, BaseRTT: f.baseRTT, LinkGbps: f.link,
		CalibrationCalls: f.calibCalls,
		Client:           rx.ClientConfig{Faults: faults, UnschedBytes: f.unsched, MaxOvercommit: f.overcommit, MaxCalls: f.maxCalls}}
	return cfg, cfg.Validate()
}

func newLoadCmd() *cobra.Command {
	var f loadFlags
	var addr, label string
	cmd := &cobra.Command{
		Use:   "load",
		Short: "Drive a homalb serve echo server with open-loop Poisson RPCs and measure slowdown",
		Long: `load sends RPCs to a 'homalb serve' echo server as Homa's cluster benchmarks do:
arrivals are a Poisson process (--rate RPCs/s, or --gbps of request bytes),
request sizes come from a workload, responses are the echo of the request.
Calls run with Homa's flow control and recovery (package rx); --loss, --dup,
--reorder and --delay inject faults into the client's sends.

It prints, and writes with --json in the measurement schema of 'homalb sim
--json' marked "source": "real" (so that 'homalb report' draws real and
simulated runs together): RPCs sent, completed
and failed by reason, RTT P50/P99/P99.9, and slowdown by request size bucket.

` + slowdownHelp,
		Example: `  homalb serve --addr 127.0.0.1:4000 &
  homalb load --addr 127.0.0.1:4000 --workload w3 --rate 5000 --duration 5s --json real.json
  homalb load --workload w4 --gbps 0.5 --loss 0.01 --label gen3
  homalb report real.json sim.json -o report.html`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := netip.ParseAddrPort(addr); err != nil {
				return badInput(fmt.Errorf("load: --addr %q: want IP:PORT", addr))
			}
			cfg, err := f.config(addr)
			if err != nil {
				return badInput(fmt.Errorf("load: %w", err))
			}
			if label == "" {
				return badInput(errors.New("load: --label must not be empty"))
			}
			if err := checkOutputs([2]string{"json", f.jsonOut}); err != nil {
				return badInput(fmt.Errorf("load: %w", err))
			}
			ctx, stop := loadContext(cmd)
			defer stop()
			if err := probe(ctx, addr); err != nil {
				return fmt.Errorf("load: %w", err)
			}
			res, err := loadgen.Run(ctx, cfg)
			if err != nil {
				return fmt.Errorf("load: %w", err)
			}
			rr := newRealResult(label, f.workload, &cfg, res, nil, nil)
			if f.jsonOut != "" {
				if err := writeJSON(f.jsonOut, cmd.OutOrStdout(), rr); err != nil {
					return fmt.Errorf("load: %w", err)
				}
				if f.jsonOut == "-" {
					return nil
				}
			}
			return printReal(cmd.OutOrStdout(), rr)
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:4000", "address of the echo server (IP:PORT)")
	cmd.Flags().StringVar(&label, "label", "rx", "name of the run in the output (the policy column of reports)")
	f.register(cmd.Flags(), 5*time.Second)
	f.registerTransport(cmd.Flags())
	return cmd
}

// realResult is a real run in the output contract's shape (the fields of
// the measurement schema, package stats, at the top level, which 'homalb
// report' reads), marked "source": "real", with what only a real run has.
// What the run did not measure is left out, not written as zero.
type realResult struct {
	Source   string     `json:"source"` // always "real"
	Policy   string     `json:"policy"`
	Workload string     `json:"workload"`
	Load     float64    `json:"load"` // offered request bytes ÷ the link rate of the slowdown's ideal
	Config   realConfig `json:"config"`
	WallMs   float64    `json:"wall_ms"`
	// Messages is the RPCs measured (completed after the warmup);
	// Incomplete the RPCs that failed; Packets the client's packets.
	Messages   int64 `json:"messages"`
	Packets    int64 `json:"packets"`
	Incomplete int64 `json:"incomplete"`
	// Overloaded: RPCs were left unfinished, so the slowdowns describe a
	// server that did not keep up (or a lossy path), not its policy.
	Overloaded bool `json:"overloaded"`
	stats.Slowdowns
	// The server's telemetry over the load (bench only).
	HandoffNs          *stats.Handoffs `json:"handoff_ns,omitempty"`
	Cores              []stats.CoreUse `json:"cores,omitempty"`
	SoftIRQCoresPerMsg *float64        `json:"softirq_cores_per_msg,omitempty"`
	MeanBatch          *float64        `json:"mean_batch,omitempty"`
	BypassFrac         *float64        `json:"bypass_frac,omitempty"`

	Addr string `json:"addr"`
	// Sent, Completed and Failed (by reason) count the RPCs.
	Sent      int64            `json:"sent"`
	Completed int64            `json:"completed"`
	Failed    map[string]int64 `json:"failed"`
	// RTTNs and ArrivalLagNs summarise the measured RPCs (ns).
	RTTNs        stats.Percentiles `json:"rtt_ns"`
	ArrivalLagNs stats.Percentiles `json:"arrival_lag_ns"`
	// BaseRTTNs and LinkGbps normalise the slowdowns; Calibration is what
	// the idle server measured, when it was measured.
	BaseRTTNs    int64                `json:"base_rtt_ns"`
	LinkGbps     float64              `json:"link_gbps"`
	Calibration  *loadgen.Calibration `json:"calibration,omitempty"`
	RatePerSec   float64              `json:"rate_per_sec"`
	OfferedGbps  float64              `json:"offered_gbps"`
	AchievedGbps float64              `json:"achieved_gbps"`
	Client       rx.ClientStats       `json:"client"`
	// Server is the server's telemetry over the load (bench only).
	Server *rx.Stats `json:"server,omitempty"`
}

// realConfig is what a real run was asked to do: the load generator's
// settings and, when the server ran in this process (bench), its layout.
type realConfig struct {
	Seed       uint64   `json:"seed"`
	DurationNs int64    `json:"duration_ns"` // measured, after the warmup
	WarmupNs   int64    `json:"warmup_ns"`
	Host       realHost `json:"host"`
	Clients    int      `json:"clients"`
	// UnschedBytes and MaxOvercommit are the client's flow control.
	UnschedBytes  int `json:"unsched_bytes"`
	MaxOvercommit int `json:"max_overcommit"`
	// Server is the server's layout (bench only).
	Server *realServer `json:"server,omitempty"`
}

// realHost is the machine as the slowdown's ideal sees it.
type realHost struct {
	Cores    int     `json:"cores,omitempty"` // the server's cores, when known
	LinkGbps float64 `json:"link_gbps"`
}

// realServer is the layout of a server run in this process.
type realServer struct {
	GROCores  []int `json:"gro_cores"`
	AppCores  []int `json:"app_cores"`
	Threads   int   `json:"threads"`
	PollNs    int64 `json:"poll_ns"`
	MaxGRO    int   `json:"max_gro"`
	BusyNs    int64 `json:"busy_ns,omitempty"`
	GROBusyNs int64 `json:"gro_busy_ns,omitempty"`
}

// newRealResult builds the JSON of a run. srv and st (both nil for a
// server of another process) are the server's layout and its telemetry
// over the load.
func newRealResult(policy, spec string, cfg *loadgen.Config, res *loadgen.Result, srv *rx.Config, st *rx.Stats) *realResult {
	r := &realResult{
		Source: "real", Policy: policy, Workload: spec, Load: res.OfferedGbps / res.LinkGbps, WallMs: float64(res.Wall) / 1e6,
		Messages: res.Measured, Packets: int64(res.Client.PacketsSent + res.Client.PacketsReceived),
		Slowdowns: res.Slowdowns,
		Addr:      cfg.Addr, Sent: res.Sent, Completed: res.Completed, Failed: res.Failed,
		RTTNs: res.RTT, ArrivalLagNs: res.ArrivalLag, BaseRTTNs: int64(res.BaseRTT), LinkGbps: res.LinkGbps,
		Calibration: res.Calibration, RatePerSec: cfg.Rate, OfferedGbps: res.OfferedGbps, AchievedGbps: res.AchievedGbps,
		Client: res.Client, Server: st,
	}
	for _, n := range res.Failed {
		r.Incomplete += n
	}
	r.Overloaded = r.Incomplete > 0
	r.Config = realConfig{Seed: cfg.Seed, DurationNs: int64(cfg.Duration - cfg.Warmup), WarmupNs: int64(cfg.Warmup),
		Host: realHost{LinkGbps: round3(res.LinkGbps)}, Clients: cfg.Clients,
		UnschedBytes: rx.DefaultUnschedBytes, MaxOvercommit: rx.DefaultMaxOvercommit}
	if cfg.Client.UnschedBytes > 0 {
		r.Config.UnschedBytes = cfg.Client.UnschedBytes
	}
	if cfg.Client.MaxOvercommit > 0 {
		r.Config.MaxOvercommit = cfg.Client.MaxOvercommit
	}
	if srv != nil && st != nil {
		r.Config.Host.Cores = len(st.Cores)
		r.Config.Server = &realServer{GROCores: srv.GROCores, AppCores: srv.AppCores, Threads: srv.Threads, PollNs: int64(srv.Poll), MaxGRO: srv.MaxGRO}
		if o := srv.Options; o != nil {
			r.Config.Server.BusyNs = o.BusyNs
		}
		if d, err := srv.Deployment(); err == nil {
			r.Config.Server.GROBusyNs = d.GROBusyNs // resolved: "as deployed" is a number here
		}
		r.HandoffNs = &stats.Handoffs{GROToSoftIRQ: stats.P2{P50: st.GROToSoftIRQ.P50, P99: st.GROToSoftIRQ.P99},
			SoftIRQToApp: stats.P2{P50: st.SoftIRQToApp.P50, P99: st.SoftIRQToApp.P99}}
		r.SoftIRQCoresPerMsg = ptr(round3(st.SoftIRQCoresPerMsg))
		var pkts, inline, batches, batched uint64
		for _, k := range st.Cores {
			up := float64(max(st.UptimeNs, 1))
			cu := stats.CoreUse{ID: k.Core, GRO: round3(float64(k.GRONs) / up), SoftIRQ: round3(float64(k.SoftIRQNs) / up), App: round3(float64(k.AppNs) / up)}
			cu.Idle = round3(max(0, 1-cu.GRO-cu.SoftIRQ-cu.App))
			r.Cores = append(r.Cores, cu)
			pkts += k.GROPackets
			inline += k.InlinePackets
			batches += k.GROBatches
			batched += k.SoftIRQPackets - k.InlinePackets
		}
		if pkts > 0 {
			r.BypassFrac = ptr(round3(float64(inline) / float64(pkts)))
		}
		if batches > 0 {
			r.MeanBatch = ptr(round3(float64(batched) / float64(batches)))
		}
	}
	return r
}

func ptr[T any](v T) *T { return &v }

// probeTimeout is how long load waits for a first answer before saying that
// no server is there.
const probeTimeout = time.Second

// probe sends one tiny RPC (without injected faults), so that a missing
// server is reported within a second rather than as the deadline of the
// calibration's first call.
func probe(ctx context.Context, addr string) error {
	c, err := rx.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	cctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	resp, err := c.Call(cctx, []byte("homalb probe"))
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("nothing answers at %s within %v; start a server there with 'homalb serve --addr %s'", addr, probeTimeout, addr)
	}
	rx.Recycle(resp)
	return nil
}

func round3(x float64) float64 { return math.Round(x*1e3) / 1e3 }

// failedText lists failures by reason.
func failedText(failed map[string]int64) string {
	if len(failed) == 0 {
		return "failed 0"
	}
	var total int64
	var parts []string
	for k, n := range failed {
		total += n
		parts = append(parts, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(parts)
	return fmt.Sprintf("failed %d (%s)", total, strings.Join(parts, ", "))
}

// printReal writes the text report of a real run.
func printReal(w io.Writer, r *realResult) error {
	fmt.Fprintf(w, "%s: %s at %.0f RPC/s (%.3f Gbps of requests offered, load %.2f of %.2f Gbps) against %s for %v, seed %d\n",
		r.Policy, r.Workload, r.RatePerSec, r.OfferedGbps, r.Load, r.LinkGbps, r.Addr, time.Duration(r.Config.DurationNs+r.Config.WarmupNs), r.Config.Seed)
	if r.Overloaded {
		fmt.Fprintf(w, "OVERLOADED: %d RPCs did not complete; the slowdowns describe a server that did not keep up (or a lossy path), not its policy. Lower --rate.\n", r.Incomplete)
	}
	if c := r.Calibration; c != nil {
		fmt.Fprintf(w, "calibration (idle server): %d B RTT p50 %s µs; %d B RTT p50 %s µs → link %.2f Gbps\n",
			loadgen.CalibrationTinySize, us(int64(c.BaseRTT)), c.LargeSize, us(int64(c.LargeRTT)), c.LinkGbps)
	} else {
		fmt.Fprintf(w, "slowdown ideal: base RTT %s µs, link %.2f Gbps (given)\n", us(r.BaseRTTNs), r.LinkGbps)
	}
	fmt.Fprintf(w, "sent %d, completed %d, %s; measured %d; achieved %.3f Gbps\n",
		r.Sent, r.Completed, failedText(r.Failed), r.Messages, r.AchievedGbps)
	fmt.Fprintf(w, "RTT (µs): mean %.1f  p50 %s  p99 %s  p99.9 %s   arrival lag p50 %s p99 %s\n",
		r.RTTNs.Mean/1000, us(int64(r.RTTNs.P50)), us(int64(r.RTTNs.P99)), us(int64(r.RTTNs.P999)),
		us(int64(r.ArrivalLagNs.P50)), us(int64(r.ArrivalLagNs.P99)))
	fmt.Fprintf(w, "slowdown, one-packet RPCs: p50 %.2f  p99 %.2f  p99.9 %.2f   all: p50 %.2f  p99 %.2f  p99.9 %.2f\n",
		r.Short.P50, r.Short.P99, r.Short.P999, r.All.P50, r.All.P99, r.All.P999)
	cs := &r.Client
	fmt.Fprintf(w, "client: %d packets sent, %d received; %d retransmitted, %d probes, %d restarts; faults: %d lost, %d duplicated, %d reordered\n",
		cs.PacketsSent, cs.PacketsReceived, cs.Retransmitted, cs.Probes, cs.Restarts, cs.Faults.Lost, cs.Faults.Duplicated, cs.Faults.Reordered)
	if len(r.Slowdown) > 0 {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "size ≤ (B)\tcum frac\tcount\tp50\tp99\tp99.9\t")
		for _, b := range thin(r.Slowdown, 12) {
			fmt.Fprintf(tw, "%d\t%.3f\t%d\t%.2f\t%.2f\t%.2f\t\n", b.MaxBytes, b.CumFrac, b.Count, b.P50, b.P99, b.P999)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// loadContext is the context of a load run: ended by SIGINT or SIGTERM.
func loadContext(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
}
