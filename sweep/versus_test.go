package sweep

import (
	"math"
	"testing"
)

// TestVersus: per scenario, ours is set against the baseline of smallest
// mean; the ratio, the direction of a separation and overload are reported;
// bad names are errors.
func TestVersus(t *testing.T) {
	s := Summary{Columns: []string{"workload", "policy"}}
	metric := map[string]int{}
	for i, m := range Metrics() {
		metric[m.Name] = i
	}
	add := func(wl, p string, mean, ci, overloaded float64) {
		est := make([]Estimate, len(Metrics()))
		est[metric["short_p99"]] = Estimate{N: 10, Mean: mean, CI95: ci}
		est[metric["overloaded"]] = Estimate{N: 10, Mean: overloaded}
		est[metric["offered_frac"]] = Estimate{N: 10, Mean: 0.3}
		if wl == "w2" {
			est[metric["offered_frac"]].Mean = 1.2 // asks for more than the host has; no run stopped
		}
		s.Groups = append(s.Groups, Group{Values: map[string]string{"workload": wl, "policy": p}, Estimates: est})
	}
	add("w3", "gen2", 40, 2, 0)
	add("w3", "gen3", 70, 10, 0)
	add("w3", "gen6", 3.4, 0.1, 0)
	add("w4", "gen2", 44, 4, 0)
	add("w4", "gen3", 37, 2, 0)
	add("w4", "gen6", 36, 3, 0) // overlaps gen3
	add("w1", "gen2", 900, 50, 1)
	add("w1", "gen3", 700, 50, 0.5)
	add("w1", "gen6", 1000, 20, 1) // worse, and overloaded
	add("w2", "gen2", 9000, 100, 0)
	add("w2", "gen3", 9500, 300, 0)
	add("w2", "gen6", 8000, 100, 0) // better, but the host is overloaded
	add("w5", "gen2", 0, 0, 0)      // no one-packet messages at all
	add("w5", "gen3", 0, 0, 0)
	add("w5", "gen6", 0, 0, 0)
	v, err := Versus(s, "short_p99", "policy", "gen6", []string{"gen2", "gen3"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Rows) != 5 || v.RowKeys[0] != "workload" {
		t.Fatalf("shape: %+v", v)
	}
	want := []struct {
		wl, base           string
		ratio              float64
		better, worse, ovl bool
	}{
		{"w3", "gen2", 3.4 / 40, true, false, false},
		{"w4", "gen3", 36.0 / 37, false, false, false},
		{"w1", "gen3", 1000.0 / 700, false, true, true},
		{"w2", "gen2", 8000.0 / 9000, true, false, true},
	}
	for i, w := range want {
		r := v.Rows[i]
		if r.Labels[0] != w.wl || r.BaseName != w.base || math.Abs(r.Ratio-w.ratio) > 1e-9 ||
			r.Better != w.better || r.Worse != w.worse || r.Overloaded != w.ovl {
			t.Errorf("row %d: %+v, want %+v", i, r, w)
		}
	}
	if r := v.Rows[4]; r.Ours.N != 0 || r.BaseName != "" || r.Better || r.Worse || !math.IsNaN(r.Ratio) {
		t.Errorf("w5, no one-packet messages: %+v, want no data", r)
	}
	only, _ := Versus(s, "short_p99", "policy", "gen6", []string{"gen2"}, map[string]string{"workload": "w4"})
	if len(only.Rows) != 1 || only.Rows[0].BaseName != "gen2" || !only.Rows[0].Better {
		t.Errorf("one baseline, one workload: %+v", only.Rows)
	}
	for name, c := range map[string]struct {
		ours string
		base []string
	}{
		"unknown ours":       {"gen9", []string{"gen2"}},
		"unknown baseline":   {"gen6", []string{"gen9"}},
		"no baseline":        {"gen6", nil},
		"ours as a baseline": {"gen6", []string{"gen6"}},
	} {
		if _, err := Versus(s, "short_p99", "policy", c.ours, c.base, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
