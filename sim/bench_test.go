package sim

import "testing"

// BenchmarkEngine reports simulated packets per wall-clock second on one core
// (one run is single-threaded) for the default scenario (xl170, W4, 80%,
// gen2), for c6525-100g/W5/80%, and for the latter under gen6, whose RSS
// steering runs for every packet. Each iteration simulates 20 ms.
//
//	go test -run '^$' -bench Engine -count 5 ./sim
func BenchmarkEngine(b *testing.B) {
	c6525, _ := ProfileConfig("c6525-100g")
	c6525.Workload = "w5"
	c6525gen6 := c6525
	c6525gen6.Policy = "gen6"
	xl170 := DefaultConfig()
	xl170.Policy = "gen2" // the scenario every earlier figure of this benchmark used
	for _, sc := range []struct {
		name string
		cfg  Config
	}{{"xl170-w4-80", xl170}, {"c6525-w5-80", c6525}, {"c6525-w5-80-gen6", c6525gen6}} {
		b.Run(sc.name, func(b *testing.B) {
			cfg := sc.cfg
			cfg.WarmupNs, cfg.DurationNs, cfg.DrainNs = 2e6, 20e6, 0
			b.ReportAllocs()
			var pkts int64
			for i := 0; i < b.N; i++ {
				cfg.Seed = uint64(i + 1)
				r, err := Run(cfg)
				if err != nil {
					b.Fatal(err)
				}
				pkts += r.Packets
			}
			b.ReportMetric(float64(pkts)/b.Elapsed().Seconds(), "pkts/s")
			b.ReportMetric(float64(pkts)/float64(b.N), "pkts/op")
		})
	}
}
