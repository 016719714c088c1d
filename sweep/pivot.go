package sweep

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// PivotTable is one metric of a summary laid out with one axis as columns.
type PivotTable struct {
	Metric  string
	RowKeys []string // the other axes
	Cols    []string // values of the column axis, in order of appearance
	Rows    []PivotRow
}

// PivotRow is one combination of the other axes' values.
type PivotRow struct {
	Labels []string
	Cells  []Estimate // per column; N == 0 where there is no data
	// Overloaded marks the cells of overloaded groups; they are never Best.
	Overloaded []bool
	// Best is the column of the smallest mean whose interval lies below
	// every other cell's, or −1 when no cell is separately best.
	Best int
}

// matches reports whether an axis value is what a filter asks for: the same
// string, or the same number however written (load=.8 is load 0.80).
func matches(have, want string) bool {
	if have == want {
		return true
	}
	a, err1 := strconv.ParseFloat(have, 64)
	b, err2 := strconv.ParseFloat(want, 64)
	return err1 == nil && err2 == nil && a == b
}

// Filter returns the indices of the groups whose axis values match where,
// or an error naming the values present when a filter matches nothing.
func (s Summary) Filter(where map[string]string) ([]int, error) {
	keys := make([]string, 0, len(where))
	for k := range where {
		if !slices.Contains(s.Columns, k) {
			return nil, fmt.Errorf("--where: no axis %q (axes: %s)", k, strings.Join(s.Columns, ", "))
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys { // each filter alone must match something
		var present []string
		found := false
		for _, grp := range s.Groups {
			v := grp.Values[k]
			found = found || matches(v, where[k])
			if !slices.Contains(present, v) {
				present = append(present, v)
			}
		}
		if !found {
			return nil, fmt.Errorf("--where %s=%s matches nothing; %s has %s", k, where[k], k, strings.Join(present, ", "))
		}
	}
	var out []int
groups:
	for g, grp := range s.Groups {
		for k, v := range where {
			if !matches(grp.Values[k], v) {
				continue groups
			}
		}
		out = append(out, g)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--where: no group has all of %v together", where)
	}
	return out, nil
}

// Pivot lays out metric with the values of axis col as columns, keeping only
// groups whose values match where.
func Pivot(s Summary, metric, col string, where map[string]string) (PivotTable, error) {
	t := PivotTable{Metric: metric}
	found := false
	for _, c := range s.Columns {
		if c == col {
			found = true
		} else {
			t.RowKeys = append(t.RowKeys, c)
		}
	}
	if !found {
		return t, fmt.Errorf("no axis %q (axes: %s)", col, strings.Join(s.Columns, ", "))
	}
	keep, err := s.Filter(where)
	if err != nil {
		return t, err
	}
	colIdx := map[string]int{}
	rowIdx := map[string]int{}
	type cell struct {
		row, col int
		e        Estimate
		over     bool
	}
	var cells []cell
	for _, g := range keep {
		grp := s.Groups[g]
		cv := grp.Values[col]
		ci, ok := colIdx[cv]
		if !ok {
			ci = len(t.Cols)
			colIdx[cv] = ci
			t.Cols = append(t.Cols, cv)
		}
		var labels []string
		for _, k := range t.RowKeys {
			labels = append(labels, grp.Values[k])
		}
		key := strings.Join(labels, "\x00")
		ri, ok := rowIdx[key]
		if !ok {
			ri = len(t.Rows)
			rowIdx[key] = ri
			t.Rows = append(t.Rows, PivotRow{Labels: labels})
		}
		cells = append(cells, cell{ri, ci, s.Get(g, metric), s.Overloaded(g)})
	}
	for i := range t.Rows {
		t.Rows[i].Cells = make([]Estimate, len(t.Cols))
		t.Rows[i].Overloaded = make([]bool, len(t.Cols))
	}
	for _, c := range cells {
		t.Rows[c.row].Cells[c.col] = c.e
		t.Rows[c.row].Overloaded[c.col] = c.over
	}
	for i := range t.Rows {
		r := &t.Rows[i]
		r.Best = -1
		for j, e := range r.Cells {
			if e.N == 0 || r.Overloaded[j] {
				continue
			}
			best := true
			for k, o := range r.Cells {
				if k != j && o.N > 0 && !r.Overloaded[k] && !e.Below(o) {
					best = false
					break
				}
			}
			if best {
				r.Best = j
			}
		}
	}
	return t, nil
}
