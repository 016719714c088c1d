package rx

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestCollector: the server's Prometheus metrics pass the linter and carry
// what the issue asks: per-core busy time by role, handoff histograms,
// drops by reason, RPCs in flight.
func TestCollector(t *testing.T) {
	s := listen(t, Config{Policy: "gen3", GROCores: []int{0}, SoftIRQCores: []int{1}, AppCores: []int{1}, Threads: 2})
	go func() { _ = s.Serve(Echo) }()
	c := dial(t, s)
	for i := range 20 {
		call(t, c, payload(0, i, 100+i*4000))
	}
	if _, err := c.conn.Write([]byte("garbage")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the garbage is counted", func() bool { return s.Stats().Drops[DropTruncated] == 1 })
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s.Collector())
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, mf := range mfs {
		got[mf.GetName()] = true
		switch mf.GetName() {
		case "homalb_rx_handoff_latency_seconds":
			var n uint64
			for _, m := range mf.GetMetric() {
				n += m.GetHistogram().GetSampleCount()
				b := m.GetHistogram().GetBucket()
				for i := 1; i < len(b); i++ {
					if b[i].GetCumulativeCount() < b[i-1].GetCumulativeCount() {
						t.Errorf("buckets not cumulative: %v", b)
					}
				}
			}
			if n == 0 {
				t.Error("no handoff latencies recorded")
			}
		case "homalb_rx_drops_total":
			for _, m := range mf.GetMetric() {
				if m.GetLabel()[0].GetValue() == "truncated" && m.GetCounter().GetValue() != 1 {
					t.Errorf("truncated drops %v, want 1", m.GetCounter().GetValue())
				}
			}
		}
	}
	for _, want := range []string{"homalb_rx_core_busy_seconds_total", "homalb_rx_core_packets_total", "homalb_rx_handoff_latency_seconds",
		"homalb_rx_drops_total", "homalb_rx_rpcs_in_flight", "homalb_rx_inflight_bytes", "homalb_rx_transport_packets_total", "homalb_rx_info"} {
		if !got[want] {
			t.Errorf("metric %s missing", want)
		}
	}
	n, err := testutil.GatherAndCount(reg, "homalb_rx_core_busy_seconds_total")
	if err != nil || n != 2*3 {
		t.Errorf("%d busy-time series (%v), want 2 cores × 3 roles", n, err)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP homalb_rx_messages_total Requests handed to application threads.
# TYPE homalb_rx_messages_total counter
homalb_rx_messages_total 20
`), "homalb_rx_messages_total"); err != nil {
		t.Error(err)
	}
}
