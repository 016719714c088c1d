package report

import (
	"encoding/json"

	"go.yaml.in/yaml/v3"

	"github.com/homalb/homalb/stats"
)

// Result is one run as the report reads it: the JSON output contract of
// `homalb sim --json` and `homalb compare --json` (a simulated run), and of
// `homalb load --json` and `homalb bench --json` (a real run, "source":
// "real"). Measurements a run did not make are absent (nil or empty), and
// the report says "not measured" rather than drawing a zero.
type Result struct {
	// Source is "real" for a run of the real pipeline; empty for the
	// simulator.
	Source   string    `json:"source,omitempty"`
	Policy   string    `json:"policy"`
	Workload string    `json:"workload"`
	Load     float64   `json:"load"`
	Config   RunConfig `json:"config"`
	SimNs    int64     `json:"sim_ns"`
	WallMs   float64   `json:"wall_ms"`

	Messages   int64 `json:"messages"`
	Packets    int64 `json:"packets"`
	Incomplete int64 `json:"incomplete"`
	// Overloaded says the host did not keep up (see sim.Result.IsOverloaded):
	// the run's slowdowns measure the overload, not the policy.
	Overloaded   bool     `json:"overloaded"`
	OfferedCores *float64 `json:"offered_cores"`

	stats.Slowdowns
	LatencyNs  *stats.Latency   `json:"latency_ns"`
	HandoffNs  *stats.Handoffs  `json:"handoff_ns"`
	Cores      []stats.CoreUse  `json:"cores"`
	Timeline   stats.Timeline   `json:"timeline"`
	HandoffCDF stats.HandoffCDF `json:"handoff_cdf"`

	HotspotFrac        *float64 `json:"hotspot_frac"`
	SoftIRQCoresPerMsg *float64 `json:"softirq_cores_per_msg"`
	MeanBatch          *float64 `json:"mean_batch"`
	BypassFrac         *float64 `json:"bypass_frac"`
	ThreadMigration    *float64 `json:"thread_migration_frac"`
	Deferrals          *int64   `json:"ksoftirqd_deferrals"`

	// Invariants counts the simulator's rule violations by name; every
	// count must be zero.
	Invariants map[string]int64 `json:"invariants"`

	// A real run's own facts.
	Addr      string             `json:"addr"`
	RTTNs     *stats.Percentiles `json:"rtt_ns"`
	Sent      int64              `json:"sent"`
	Completed int64              `json:"completed"`
	Failed    map[string]int64   `json:"failed"`
}

// RunConfig is what the report shows of a run's configuration; the whole
// of it is kept as it was read and shown as YAML.
type RunConfig struct {
	Seed       uint64 `json:"seed"`
	Profile    string `json:"profile"`
	DurationNs int64  `json:"duration_ns"`
	Host       struct {
		Cores    int     `json:"cores"`
		LinkGbps float64 `json:"link_gbps"`
	} `json:"host"`
	raw json.RawMessage
}

// UnmarshalJSON keeps the configuration as it was read, besides the fields
// the report uses.
func (c *RunConfig) UnmarshalJSON(b []byte) error {
	type plain RunConfig
	if err := json.Unmarshal(b, (*plain)(c)); err != nil {
		return err
	}
	c.raw = append(json.RawMessage(nil), b...)
	return nil
}

// YAML returns the configuration as read, as block YAML in its own key
// order ("" if there is none).
func (c *RunConfig) YAML() string {
	if len(c.raw) == 0 {
		return ""
	}
	var n yaml.Node
	if err := yaml.Unmarshal(c.raw, &n); err != nil { // JSON is YAML
		return string(c.raw)
	}
	blockStyle(&n)
	out, err := yaml.Marshal(&n)
	if err != nil {
		return string(c.raw)
	}
	return string(out)
}

// blockStyle turns the flow style that JSON parses into into block style.
func blockStyle(n *yaml.Node) {
	if n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
		n.Style = 0
	}
	if n.Kind == yaml.ScalarNode && n.Style == yaml.DoubleQuotedStyle {
		n.Style = 0
	}
	for _, c := range n.Content {
		blockStyle(c)
	}
}

// Real reports whether r is a run of the real pipeline.
func (r *Result) Real() bool { return r.Source == "real" || r.Addr != "" }

// Violated reports whether the simulator counted a rule violation.
func (r *Result) Violated() bool {
	for _, n := range r.Invariants {
		if n != 0 {
			return true
		}
	}
	return false
}

// Results converts values of the output contract — a *sim.Result, a load
// run's result, a slice of them — into report results, through their JSON
// as a file would carry them; nil elements are skipped.
func Results(v any) ([]*Result, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out []*Result
	if len(data) > 0 && data[0] == '[' {
		var all []*Result
		if err := json.Unmarshal(data, &all); err != nil {
			return nil, err
		}
		for _, r := range all {
			if r != nil {
				out = append(out, r)
			}
		}
		return out, nil
	}
	return Decode(data)
}
