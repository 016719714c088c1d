package validate

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/homalb/homalb/sim"
)

// Check is one published observation and the model's value for it.
type Check struct {
	Name      string  `json:"name"`
	Source    string  `json:"source"`
	Scenario  string  `json:"scenario"`
	Published string  `json:"published"`
	Tolerance string  `json:"tolerance"`
	Unit      string  `json:"unit"`
	Measured  float64 `json:"measured"`
	Low       float64 `json:"low"` // accepted range, inclusive
	High      float64 `json:"-"`   // accepted range, inclusive; +Inf: no upper bound
	Pass      bool    `json:"pass"`
}

// MarshalJSON writes High as null when the range has no upper bound (JSON
// has no infinity).
func (c Check) MarshalJSON() ([]byte, error) {
	type plain Check
	out := struct {
		plain
		High *float64 `json:"high"`
	}{plain: plain(c)}
	if !math.IsInf(c.High, 1) {
		out.High = &c.High
	}
	return json.Marshal(out)
}

// Mode sets how long and how often each scenario runs.
type Mode struct {
	Seeds      int   // seeds per loaded scenario; their results are averaged
	DurationNs int64 // measured simulated time of a loaded scenario
}

// Full is the mode of `homalb validate`; Quick is CI's (under 2 minutes on a
// 2-core machine for every check together).
var (
	Full  = Mode{Seeds: 3, DurationNs: 300e6}
	Quick = Mode{Seeds: 1, DurationNs: 60e6}
)

// Run runs every check. It returns the checks in a fixed order; an error is
// a scenario that could not run at all (a bug, not a failed check).
func Run(m Mode) ([]Check, error) {
	var out []Check
	for _, f := range []func(Mode) ([]Check, error){perf49, perf49Slowdown, timeline, receiveCPU, oneMessage, c6525Latency, md1} {
		cs, err := f(m)
		if err != nil {
			return out, err
		}
		out = append(out, cs...)
	}
	return out, nil
}

func within(c Check, v, lo, hi float64) Check {
	c.Measured, c.Low, c.High = round3(v), round3(lo), hi
	if !math.IsInf(hi, 1) {
		c.High = round3(hi)
	}
	c.Pass = v >= lo && v <= hi
	return c
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

// run runs cfg under seeds 1..n and returns the results.
func run(cfg sim.Config, n int) ([]*sim.Result, error) {
	var rs []*sim.Result
	for s := 1; s <= n; s++ {
		cfg.Seed = uint64(s)
		r, err := sim.Run(cfg)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", cfg, err)
		}
		rs = append(rs, r)
	}
	return rs, nil
}

func mean(rs []*sim.Result, f func(*sim.Result) float64) float64 {
	var t float64
	for _, r := range rs {
		t += f(r)
	}
	return t / float64(len(rs))
}

// set applies key=value overrides; they are the scenario's own words.
func set(cfg *sim.Config, kv ...string) error {
	for _, s := range kv {
		k, v, _ := strings.Cut(s, "=")
		if err := cfg.Set(k, v); err != nil {
			return err
		}
	}
	return nil
}

// unloaded returns the latency of a lone 100-byte message on an idle host:
// messages arrive 1 ms apart on average, so none waits for another.
func unloaded(profile string, kv ...string) (float64, error) {
	cfg, err := sim.ProfileConfig(profile)
	if err != nil {
		return 0, err
	}
	cfg.Workload = "fixed:100"
	cfg.Traffic.Responses = false
	cfg.WarmupNs, cfg.DurationNs, cfg.DrainNs = 1e6, 200e6, 1e6
	// 100 B per ms on average: load = 1e5 B/s ÷ link bytes per second.
	cfg.Load = 100e3 / (cfg.Host.LinkGbps * 1e9 / 8)
	cfg.App.PollNs = 2_000_000 // the threads poll through the gaps, as in the measurements (wake-up 0.05–0.1 µs)
	if err := set(&cfg, kv...); err != nil {
		return 0, err
	}
	r, err := sim.Run(cfg)
	if err != nil {
		return 0, err
	}
	return float64(r.LatencyNs.P50), nil
}

// Gaps are the checks the model does not reproduce yet, each with what is
// known of why. `homalb validate --allow-gaps` (CI) tolerates their failure
// and still fails on every other check; a gap that starts to pass is
// reported, so that the list only shrinks.
var gaps = map[string]string{
	"gen2 GRO→SoftIRQ P99":        "the model's tail is the C1 exit and held-off softirq (a few µs); perf#49's 44–71 µs needs a mechanism not yet found",
	"gen2 SoftIRQ→App P99":        "the chosen thread is rarely kept from its core for long; perf#49 saw ~20 µs",
	"gen3 SoftIRQ→App P99":        "as for gen2: the model's tail is the 2 µs wake-up of a sleeping thread",
	"gen2 ÷ gen3 GRO→SoftIRQ P99": "follows from the gen2 tail",
	"gen2 ÷ gen3 SoftIRQ→App P99": "follows from both SoftIRQ→App tails",
}

// Gap returns why the named check is a known gap, or "".
func Gap(name string) string { return gaps[name] }
