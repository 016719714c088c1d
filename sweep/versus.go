package sweep

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// VersusTable compares one value of an axis — a policy — with the best of
// some others (baselines), scenario by scenario: the question "does ours
// beat the better of Gen2 and Gen3, by how much, and is it significant?".
type VersusTable struct {
	Metric  string
	RowKeys []string // the other axes
	Ours    string
	Rows    []VersusRow
}

// VersusRow is one scenario: a combination of the other axes' values.
type VersusRow struct {
	Labels []string
	Ours   Estimate
	// Base is the baseline with the smallest mean in this scenario.
	BaseName string
	Base     Estimate
	// Ratio is Ours.Mean ÷ Base.Mean; NaN where either has no data or the
	// baseline's mean is 0.
	Ratio float64
	// Better and Worse say that the 95% intervals separate, one way or the
	// other; neither means they overlap.
	Better, Worse bool
	// Overloaded says that the traffic asks for more CPU than the host has
	// (offered_frac ≥ 1) or that some run of ours or of the baseline stopped
	// overloaded: the numbers then measure the overload, not a policy.
	Overloaded bool
}

// Versus lays out metric for ours against the best of baselines, all values
// of axis col, over the groups that match where.
func Versus(s Summary, metric, col, ours string, baselines []string, where map[string]string) (VersusTable, error) {
	t := VersusTable{Metric: metric, Ours: ours}
	p, err := Pivot(s, metric, col, where)
	if err != nil {
		return t, err
	}
	ovl, err := Pivot(s, "overloaded", col, where)
	if err != nil {
		return t, err
	}
	offered, err := Pivot(s, "offered_frac", col, where)
	if err != nil {
		return t, err
	}
	t.RowKeys = p.RowKeys
	if mt, _ := MetricByName(metric); mt.ZeroIsNone {
		for _, r := range p.Rows {
			for j, e := range r.Cells {
				if e.Mean == 0 && e.CI95 == 0 {
					r.Cells[j] = Estimate{} // no such message measured: no data, not the best value
				}
			}
		}
	}
	index := func(v string) (int, error) {
		if i := slices.Index(p.Cols, v); i >= 0 {
			return i, nil
		}
		return 0, fmt.Errorf("no %s %q in these results (%s)", col, v, strings.Join(p.Cols, ", "))
	}
	oi, err := index(ours)
	if err != nil {
		return t, err
	}
	if len(baselines) == 0 {
		return t, fmt.Errorf("no baselines to compare %s with", ours)
	}
	var bis []int
	for _, b := range baselines {
		bi, err := index(b)
		if err != nil {
			return t, err
		}
		if bi == oi {
			return t, fmt.Errorf("%s %q is both ours and a baseline", col, b)
		}
		bis = append(bis, bi)
	}
	for ri, r := range p.Rows {
		row := VersusRow{Labels: r.Labels, Ours: r.Cells[oi], Ratio: math.NaN()}
		best := -1
		for _, bi := range bis {
			if e := r.Cells[bi]; e.N > 0 && (best < 0 || e.Mean < r.Cells[best].Mean) {
				best = bi
			}
		}
		if best >= 0 {
			row.BaseName, row.Base = p.Cols[best], r.Cells[best]
			if row.Ours.N > 0 && row.Base.Mean != 0 {
				row.Ratio = row.Ours.Mean / row.Base.Mean
			}
			row.Better, row.Worse = row.Ours.Below(row.Base), row.Base.Below(row.Ours)
			o, f := ovl.Rows[ri].Cells, offered.Rows[ri].Cells
			row.Overloaded = o[oi].Mean > 0 || o[best].Mean > 0 || f[oi].Mean >= 1
		}
		t.Rows = append(t.Rows, row)
	}
	return t, nil
}
