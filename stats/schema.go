package stats

// The measurement schema that both drivers report, the simulator (sim.Result)
// and the real pipeline's load generator, so that one report draws both. The
// JSON names are the output contract of `homalb sim --json`.

// Bucket is the slowdown of the messages of sizes in (previous MaxBytes,
// MaxBytes].
type Bucket struct {
	MaxBytes int   `json:"max_bytes"`
	Count    int64 `json:"count"`
	// CumFrac is the fraction of all measured messages of this size or less:
	// the x-axis of Homa's slowdown graphs.
	CumFrac float64 `json:"cum_frac"`
	P50     float64 `json:"p50"`
	P99     float64 `json:"p99"`
	P999    float64 `json:"p999"`
}

// Percentiles summarise a distribution. Mean and Max are filled only where a
// driver reports them (a load run's round trips), and omitted from JSON
// otherwise.
type Percentiles struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean,omitempty"`
	P50   float64 `json:"p50"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
	Max   float64 `json:"max,omitempty"`
}

// Slowdowns are a run's slowdowns: by message size, over one-packet messages
// and over all of them.
type Slowdowns struct {
	Slowdown []Bucket    `json:"slowdown"` // by message size
	Short    Percentiles `json:"short"`    // one-packet messages
	All      Percentiles `json:"all"`      // all messages
}

// Latency percentiles in ns.
type Latency struct {
	Mean float64 `json:"mean"`
	P50  int64   `json:"p50"`
	P99  int64   `json:"p99"`
	P999 int64   `json:"p999"`
}

// P2 is a pair of percentiles in ns.
type P2 struct {
	P50 int64 `json:"p50"`
	P99 int64 `json:"p99"`
}

// Handoffs are the two handoff latencies: a GRO batch's flush to the start
// of its SoftIRQ processing, and a message becoming ready to a thread starting
// to copy it.
type Handoffs struct {
	GROToSoftIRQ P2 `json:"gro_to_softirq"`
	SoftIRQToApp P2 `json:"softirq_to_app"`
}

// HandoffCDF holds CDF points (ns, cumulative fraction) of the two handoff
// latencies, for plots.
type HandoffCDF struct {
	GROToSoftIRQ [][2]float64 `json:"gro_to_softirq"`
	SoftIRQToApp [][2]float64 `json:"softirq_to_app"`
}

// CoreUse is one core's time by activity, as fractions of the measured window.
type CoreUse struct {
	ID      int     `json:"id"`
	GRO     float64 `json:"gro"`
	SoftIRQ float64 `json:"softirq"`
	App     float64 `json:"app"`  // application threads working on messages
	Poll    float64 `json:"poll"` // application threads polling for a message
	Idle    float64 `json:"idle"`
}

// Busy is the fraction of time the core did work (polling excluded).
func (c CoreUse) Busy() float64 { return c.GRO + c.SoftIRQ + c.App }

// Timeline is a per-core series of busy fractions over the measured window,
// for heatmaps.
type Timeline struct {
	BinNs int64       `json:"bin_ns"`
	Busy  [][]float64 `json:"busy"` // [core][bin]: the bin's mean
	// Peak is, per core and bin, the busy fraction of the busiest 100 µs
	// window inside the bin, so that short hotspots do not vanish in the
	// bin's mean.
	Peak [][]float64 `json:"peak,omitempty"`
}
