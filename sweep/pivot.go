package sweep

import (
	"fmt"
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
	// Best is the column of the smallest mean whose interval lies below
	// every other cell's, or −1 when no cell is separately best.
	Best int
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
	for k := range where {
		ok := false
		for _, c := range s.Columns {
			ok = ok || c == k
		}
		if !ok {
			return t, fmt.Errorf("--where: no axis %q", k)
		}
	}
	colIdx := map[string]int{}
	rowIdx := map[string]int{}
	type cell struct {
		row, col int
		e        Estimate
	}
	var cells []cell
groups:
	for g, grp := range s.Groups {
		for k, v := range where {
			if grp.Values[k] != v {
				continue groups
			}
		}
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
		cells = append(cells, cell{ri, ci, s.Get(g, metric)})
	}
	for i := range t.Rows {
		t.Rows[i].Cells = make([]Estimate, len(t.Cols))
	}
	for _, c := range cells {
		t.Rows[c.row].Cells[c.col] = c.e
	}
	for i := range t.Rows {
		r := &t.Rows[i]
		r.Best = -1
		for j, e := range r.Cells {
			if e.N == 0 {
				continue
			}
			best := true
			for k, o := range r.Cells {
				if k != j && o.N > 0 && !e.Below(o) {
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
