package sim

import (
	"math"

	"github.com/homalb/homalb/stats"
)

// Result is the output of one run; its JSON form (`homalb sim --json`) is
// the output contract that reports and sweeps read: field names are stable.
// The measurements that a real run reports too are the types of package
// stats.
type Result struct {
	Config   Config  `json:"config"`
	Policy   string  `json:"policy"`
	Workload string  `json:"workload"`
	Load     float64 `json:"load"`
	SimNs    int64   `json:"sim_ns"`  // simulated time of the whole run, drain included
	WallMs   float64 `json:"wall_ms"` // wall-clock time of the run (the only field that varies between identical runs)
	// Messages is the number of measured messages delivered; Packets the
	// number of packets (data and grants) that reached the NIC in the run.
	Messages   int64 `json:"messages"`
	Packets    int64 `json:"packets"`
	Incomplete int64 `json:"incomplete"` // measured messages not delivered by the end of the drain
	// Overloaded: the host could not keep up, so the latencies describe the
	// overload rather than the policy. See [Result.IsOverloaded] for the rule.
	Overloaded bool `json:"overloaded"`
	// OfferedCores estimates the CPU the traffic asks for, in cores, if every
	// message took the unloaded path. Above host.cores no policy can keep up.
	OfferedCores float64 `json:"offered_cores"`

	stats.Slowdowns                // slowdown, short, all
	LatencyNs       stats.Latency  `json:"latency_ns"` // first packet at the NIC → whole message with a thread
	HandoffNs       stats.Handoffs `json:"handoff_ns"`
	// HomaHandoffNs are the handoffs as HomaModule's timetrace analyzer
	// measured them for perf#49 (AnalyzeDelay, Nov 2023): per target core,
	// the latest "chose core X" to the next homa_softirq entry on X, and a
	// handoff to a waiting thread to that thread taking the message.
	HomaHandoffNs stats.Handoffs `json:"homa_handoff_ns"`
	// RPCOverlaps counts moments two cores worked on one message at once
	// (SoftIRQ on two cores, or a thread taking its lock during SoftIRQ):
	// the RPC lock forbids it, so it must be 0 whenever balance.rpc_lock is on.
	RPCOverlaps int64 `json:"rpc_overlaps"`
	// LockSpinFrac is the fraction of SoftIRQ time spent spinning on a
	// message's RPC lock held by another core.
	LockSpinFrac float64 `json:"lock_spin_frac"`
	// ReceiveCores is the CPU spent receiving, in cores: GRO, SoftIRQ and
	// the threads' receive calls and copies (not their service or sending).
	ReceiveCores float64         `json:"receive_cores"`
	Cores        []stats.CoreUse `json:"cores"`

	HotspotFrac        float64 `json:"hotspot_frac"`          // 100 µs windows in which some core was > 90% busy
	SoftIRQCoresPerMsg float64 `json:"softirq_cores_per_msg"` // distinct SoftIRQ cores per multi-packet message
	MeanBatch          float64 `json:"mean_batch"`            // packets per GRO batch handed off
	BypassFrac         float64 `json:"bypass_frac"`           // packets whose SoftIRQ ran inline in GRO
	ThreadMigration    float64 `json:"thread_migration_frac"` // wake-ups that moved the thread (linux scheduler)
	Deferrals          int64   `json:"ksoftirqd_deferrals"`
	Timeslices         int64   `json:"timeslice_preemptions"` // threads preempted at the end of a CFS slice
	SimPktsPerSec      float64 `json:"-"`                     // packets simulated per wall-clock second (varies run to run)

	// Timeline is each core's busy fraction (GRO + SoftIRQ + app work) per
	// bin of the measured window, for heatmaps.
	Timeline stats.Timeline `json:"timeline"`
	// HandoffCDF holds points (ns, cumulative fraction) of both handoff
	// latency distributions, for plots.
	HandoffCDF stats.HandoffCDF `json:"handoff_cdf"`

	Invariants Invariants `json:"invariants"`

	// StoppedEarly: more than 200,000 messages were alive at once, so the
	// run stopped before its end to keep memory bounded.
	StoppedEarly bool `json:"stopped_early"`
}

// IsOverloaded is the one rule for "overloaded": the traffic asks for more
// cores than the host has, or measured messages were left unfinished at the
// end of the drain, or the run stopped early with too many messages alive.
// Any of them means no policy kept up, and the run's slowdowns measure the
// overload, not the policy; rankings leave such runs out.
func (r *Result) IsOverloaded() bool {
	return r.StoppedEarly || r.Incomplete > 0 || r.OfferedCores > float64(r.Config.Host.Cores)
}

// Invariants counts violations of the model's rules found during the run;
// every count must be zero.
type Invariants struct {
	TimeReversals       int64 `json:"time_reversals"`       // an event earlier than the one before it
	CoreOverlaps        int64 `json:"core_overlaps"`        // a core started a job while running another
	PacketCounts        int64 `json:"packet_counts"`        // a packet GRO'd or SoftIRQ'd other than once
	DuplicateDeliveries int64 `json:"duplicate_deliveries"` // a message delivered twice
	StaleEvents         int64 `json:"stale_events"`         // an event for a message already delivered
}

// OK reports whether no invariant was violated.
func (i Invariants) OK() bool { return i == Invariants{} }

// recorder gathers the measurements of a run.
type recorder struct {
	ct           *stats.CoreTime
	slow         *stats.SlowdownTable
	latency      *stats.Hist
	groToSoftirq *stats.Hist
	softirqToApp *stats.Hist
	homaGRO      *stats.Hist // homa_handoff_ns.gro_to_softirq
	homaApp      *stats.Hist // homa_handoff_ns.softirq_to_app

	rpcOverlaps, spinNs, slices int64
	recvAppNs                   int64 // threads' receive calls and copies

	messages, packets, softirqPkts, bypassed int64
	batches, batchPkts, deferrals            int64
	wakeups, migrations                      int64
	multiMsgs, multiCores                    int64
	inv                                      Invariants
}

func newRecorder(cfg *Config, bounds []int, measureEnd int64) *recorder {
	const maxNs = int64(100e9)
	return &recorder{
		ct:           stats.NewCoreTime(cfg.Host.Cores, cfg.WarmupNs, measureEnd, 100_000, 0.9, 250),
		slow:         stats.NewSlowdownTable(bounds),
		latency:      stats.NewHist(maxNs, 3),
		groToSoftirq: stats.NewHist(maxNs, 3),
		softirqToApp: stats.NewHist(maxNs, 3),
		homaGRO:      stats.NewHist(maxNs, 3),
		homaApp:      stats.NewHist(maxNs, 3),
	}
}

func (r *recorder) delivered(m *message, latency, ideal int64, ncores int) {
	r.messages++
	r.latency.Record(latency)
	sd := stats.Slowdown(float64(latency), float64(ideal))
	if m.npkts > 1 {
		r.multiMsgs++
		r.multiCores += int64(ncores)
	}
	r.slow.Record(int(m.size), sd, m.npkts == 1)
}

func (r *recorder) fill(res *Result, cores int) {
	res.Messages = r.messages
	res.Packets = r.packets
	res.Slowdowns = r.slow.Result()
	if r.latency.Count() > 0 {
		res.LatencyNs = stats.Latency{Mean: math.Round(r.latency.Mean()), P50: r.latency.Quantile(50), P99: r.latency.Quantile(99), P999: r.latency.Quantile(99.9)}
	}
	res.HandoffNs.GROToSoftIRQ = stats.P2{P50: r.groToSoftirq.Quantile(50), P99: r.groToSoftirq.Quantile(99)}
	res.HandoffNs.SoftIRQToApp = stats.P2{P50: r.softirqToApp.Quantile(50), P99: r.softirqToApp.Quantile(99)}
	res.HomaHandoffNs.GROToSoftIRQ = stats.P2{P50: r.homaGRO.Quantile(50), P99: r.homaGRO.Quantile(99)}
	res.HomaHandoffNs.SoftIRQToApp = stats.P2{P50: r.homaApp.Quantile(50), P99: r.homaApp.Quantile(99)}
	res.RPCOverlaps = r.rpcOverlaps
	r.ct.Finish()
	var softirqNs int64
	for c := 0; c < cores; c++ {
		softirqNs += r.ct.Total(c, stats.SoftIRQ)
	}
	var groNs int64
	for c := 0; c < cores; c++ {
		groNs += r.ct.Total(c, stats.GRO)
	}
	if window := r.ct.Window(); window > 0 {
		res.ReceiveCores = round4(float64(groNs+softirqNs+r.recvAppNs) / float64(window))
	}
	if softirqNs > 0 {
		res.LockSpinFrac = round4(float64(r.spinNs) / float64(softirqNs))
	}
	for c := 0; c < cores; c++ {
		f := func(a stats.Activity) float64 { return round4(r.ct.Fraction(c, a)) }
		res.Cores = append(res.Cores, stats.CoreUse{ID: c, GRO: f(stats.GRO), SoftIRQ: f(stats.SoftIRQ), App: f(stats.App), Poll: f(stats.Poll), Idle: f(stats.Idle)})
	}
	res.HotspotFrac = round4(r.ct.HotspotFrac())
	bin, busy := r.ct.Timeline()
	for _, row := range busy {
		for i := range row {
			row[i] = round4(row[i])
		}
	}
	peak := r.ct.Peaks()
	for _, row := range peak {
		for i := range row {
			row[i] = round4(row[i])
		}
	}
	res.Timeline = stats.Timeline{BinNs: bin, Busy: busy, Peak: peak}
	res.HandoffCDF = stats.HandoffCDF{GROToSoftIRQ: r.groToSoftirq.CDF(60), SoftIRQToApp: r.softirqToApp.CDF(60)}
	if r.multiMsgs > 0 {
		res.SoftIRQCoresPerMsg = round4(float64(r.multiCores) / float64(r.multiMsgs))
	}
	if r.batches > 0 {
		res.MeanBatch = round4(float64(r.batchPkts) / float64(r.batches))
	}
	if r.packets > 0 {
		res.BypassFrac = round4(float64(r.bypassed) / float64(r.packets))
	}
	if r.wakeups > 0 {
		res.ThreadMigration = round4(float64(r.migrations) / float64(r.wakeups))
	}
	res.Deferrals = r.deferrals
	res.Timeslices = r.slices
	r.inv.TimeReversals += r.ct.Violations()
	res.Invariants = r.inv
}

func round4(x float64) float64 { return math.Round(x*1e4) / 1e4 }
