package sweep

import (
	"strings"
	"testing"
)

// summaryOf builds a summary of groups (workload, policy) with a short_p99
// estimate and an overloaded mean each.
func summaryOf(rows ...struct {
	wl, p      string
	mean, over float64
}) Summary {
	s := Summary{Columns: []string{"workload", "load", "policy"}}
	idx := map[string]int{}
	for i, m := range Metrics() {
		idx[m.Name] = i
	}
	for _, r := range rows {
		est := make([]Estimate, len(Metrics()))
		est[idx["short_p99"]] = Estimate{N: 5, Mean: r.mean, CI95: 0.1}
		est[idx["gro_softirq_p99_ns"]] = Estimate{N: 5, Mean: 61600, CI95: 2000}
		est[idx["overloaded"]] = Estimate{N: 5, Mean: r.over}
		s.Groups = append(s.Groups, Group{Values: map[string]string{"workload": r.wl, "load": "0.8", "policy": r.p}, Estimates: est})
	}
	return s
}

type row = struct {
	wl, p      string
	mean, over float64
}

// TestRankingLeavesOutOverloaded: an overloaded group is listed after the
// ranking, never placed in it, however small its numbers.
func TestRankingLeavesOutOverloaded(t *testing.T) {
	s := summaryOf(row{"w2", "gen2", 1, 1}, row{"w2", "gen3", 40, 0}, row{"w2", "gen6", 3, 0})
	got := s.Ranking("short_p99")
	if len(got) != 1 || !strings.HasSuffix(got[0], "gen6 < gen3; overloaded, not ranked: gen2") {
		t.Errorf("ranking %q", got)
	}
	var b strings.Builder
	if err := s.Table(&b, []string{"short_p99", "gro_softirq_p99_ns"}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.Count(out, "OVERLOADED") != 2 || !strings.Contains(out, "gro_softirq_p99 µs") || !strings.Contains(out, "61.6 ± 2.00") || strings.Contains(out, "61600") {
		t.Errorf("table:\n%s", out)
	}
	p, err := Pivot(s, "short_p99", "policy", nil)
	if err != nil || p.Rows[0].Best == 0 || !p.Rows[0].Overloaded[0] {
		t.Errorf("pivot: best %d, overloaded %v, %v", p.Rows[0].Best, p.Rows[0].Overloaded, err)
	}
}

// TestFilter: numbers match however written; a filter that matches nothing
// lists the values present.
func TestFilter(t *testing.T) {
	s := summaryOf(row{"w2", "gen2", 1, 0}, row{"w3", "gen2", 2, 0})
	if g, err := s.Filter(map[string]string{"load": ".8"}); err != nil || len(g) != 2 {
		t.Errorf("load=.8: %v %v", g, err)
	}
	if _, err := s.Filter(map[string]string{"load": "0.5"}); err == nil || !strings.Contains(err.Error(), "load=0.5 matches nothing; load has 0.8") {
		t.Errorf("load=0.5: %v", err)
	}
	if _, err := s.Filter(map[string]string{"workload": "w9"}); err == nil || !strings.Contains(err.Error(), "workload has w2, w3") {
		t.Errorf("workload=w9: %v", err)
	}
	if _, err := s.Filter(map[string]string{"seed": "1"}); err == nil || !strings.Contains(err.Error(), "no axis") {
		t.Errorf("seed=1: %v", err)
	}
}

// TestMetricsCannotBeChanged: Metrics returns a copy.
func TestMetricsCannotBeChanged(t *testing.T) {
	m := Metrics()
	m[0].Name = "changed"
	if Metrics()[0].Name == "changed" {
		t.Error("Metrics shares its slice")
	}
}
