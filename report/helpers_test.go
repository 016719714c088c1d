package report

import (
	"encoding/json"
	"math"
	"sync"
	"testing"

	"github.com/homalb/homalb/sim"
	"github.com/homalb/homalb/stats"
)

// fake builds a plausible result without running the simulator: nb size
// buckets, cores cores, a timeline of bins bins and both handoff CDFs.
func fake(policy, workload string, load float64, nb, cores, bins int) *Result {
	r := &Result{Policy: policy, Workload: workload, Load: load, Messages: int64(100 * nb)}
	r.Config.Profile, r.Config.Seed, r.Config.DurationNs = "xl170", 7, 5e6
	r.Config.Host.Cores, r.Config.Host.LinkGbps = cores, 25
	r.Config.raw, _ = json.Marshal(map[string]any{"policy": policy, "workload": workload, "load": load, "seed": 7})
	size := 64
	for i := 0; i < nb; i++ {
		size = size*5/4 + 1
		p50 := 1 + float64(i)/float64(nb)
		r.Slowdown = append(r.Slowdown, stats.Bucket{MaxBytes: size, Count: 100, CumFrac: float64(i+1) / float64(nb),
			P50: p50, P99: 3*p50 + float64(len(policy)), P999: 6 * p50})
	}
	for c := 0; c < cores; c++ {
		r.Cores = append(r.Cores, stats.CoreUse{ID: c, GRO: 0.1, SoftIRQ: 0.2, App: 0.05, Poll: 0.05, Idle: 0.6})
	}
	r.Timeline.BinNs = 20_000
	for c := 0; c < cores; c++ {
		row := make([]float64, bins)
		for b := range row {
			row[b] = math.Mod(float64(c*bins+b)*0.137, 1)
		}
		r.Timeline.Busy = append(r.Timeline.Busy, row)
	}
	r.HandoffCDF.GROToSoftIRQ = [][2]float64{{0, 0}, {500, 0.5}, {900, 0.9}, {3000, 0.99}, {40000, 1}}
	r.HandoffCDF.SoftIRQToApp = [][2]float64{{80, 0}, {80, 0.5}, {2000, 0.999}, {9000, 1}}
	hot := 0.25
	r.HotspotFrac = &hot
	r.HandoffNs = &stats.Handoffs{GROToSoftIRQ: stats.P2{P50: 500, P99: 3000}, SoftIRQToApp: stats.P2{P50: 80, P99: 2000}}
	r.Short = stats.Percentiles{Count: int64(50 * nb), P50: 1, P99: 3, P999: 6}
	r.All = stats.Percentiles{Count: int64(100 * nb), P50: 1.2, P99: 4, P999: 7}
	return r
}

// quickRun runs a short real simulation with a synthetic workload (no
// workload files needed), once per test binary.
var quickRun = sync.OnceValues(func() ([]*Result, error) {
	var out []*sim.Result
	for _, p := range []string{"gen2", "gen3"} {
		cfg, err := sim.ProfileConfig("xl170")
		if err != nil {
			return nil, err
		}
		cfg.Policy, cfg.Workload, cfg.Load = p, "lognormal:3000,1.5", 0.6
		cfg.WarmupNs, cfg.DurationNs, cfg.DrainNs = 1e6, 3e6, 1e6
		r, err := sim.Run(cfg)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return Results(out)
})

func realResults(t *testing.T) []*Result {
	t.Helper()
	rs, err := quickRun()
	if err != nil {
		t.Fatal(err)
	}
	return rs
}
