package sweep

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"text/tabwriter"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/homalb/homalb/sim"
)

// Estimate is a metric's mean over seeds with the half-width of its 95%
// confidence interval (Student's t with n − 1 degrees of freedom; 0 for a
// single seed, where no interval can be given).
type Estimate struct {
	N          int
	Mean, CI95 float64
}

// Lo and Hi bound the interval.
func (e Estimate) Lo() float64 { return e.Mean - e.CI95 }
func (e Estimate) Hi() float64 { return e.Mean + e.CI95 }

// Below reports whether e's interval lies wholly below o's: the only case in
// which a ranking says e is smaller.
func (e Estimate) Below(o Estimate) bool { return e.N > 1 && o.N > 1 && e.Hi() < o.Lo() }

func (e Estimate) String() string {
	if e.N < 2 {
		return fmtNum(e.Mean)
	}
	return fmtNum(e.Mean) + " ± " + fmtNum(e.CI95)
}

func fmtNum(x float64) string {
	switch a := math.Abs(x); {
	case a >= 1000:
		return fmt.Sprintf("%.0f", x)
	case a >= 10:
		return fmt.Sprintf("%.1f", x)
	default:
		return fmt.Sprintf("%.2f", x)
	}
}

// Estimate95 computes the mean and 95% interval of xs.
func Estimate95(xs []float64) Estimate {
	n := len(xs)
	if n == 0 {
		return Estimate{}
	}
	var sum float64
	for _, x := range xs {
		sum += x
	}
	mean := sum / float64(n)
	if n == 1 {
		return Estimate{N: 1, Mean: mean}
	}
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	sd := math.Sqrt(ss / float64(n-1))
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(n - 1)}.Quantile(0.975)
	return Estimate{N: n, Mean: mean, CI95: t * sd / math.Sqrt(float64(n))}
}

// Group is the runs that differ only in their seed.
type Group struct {
	Values    map[string]string // axis values, seed excluded
	Estimates []Estimate        // one per Metrics entry
}

// Summary holds every group of an experiment, in the order of first
// appearance.
type Summary struct {
	Columns []string // axes, seed excluded
	Groups  []Group
}

// Summarize groups runs across seeds.
func Summarize(m Manifest, files []*RunFile) Summary {
	cols := m.Columns[:len(m.Columns)-1] // drop "seed"
	s := Summary{Columns: cols}
	index := map[string]int{}
	var samples [][][]float64
	for _, rf := range files {
		var key strings.Builder
		for _, c := range cols {
			key.WriteString(rf.Values[c] + "\x00")
		}
		g, ok := index[key.String()]
		if !ok {
			g = len(s.Groups)
			index[key.String()] = g
			vals := map[string]string{}
			for _, c := range cols {
				vals[c] = rf.Values[c]
			}
			s.Groups = append(s.Groups, Group{Values: vals})
			samples = append(samples, make([][]float64, len(metrics)))
		}
		for i, mt := range metrics {
			samples[g][i] = append(samples[g][i], mt.Get(rf.Result))
		}
	}
	for g := range s.Groups {
		for i := range metrics {
			s.Groups[g].Estimates = append(s.Groups[g].Estimates, Estimate95(samples[g][i]))
		}
	}
	return s
}

// SummarizeResults groups plain results by policy, for compare --seeds.
func SummarizeResults(results []*sim.Result) Summary {
	m := Manifest{Columns: []string{"policy", "seed"}}
	var files []*RunFile
	for _, r := range results {
		v := map[string]string{"policy": r.Policy, "seed": fmt.Sprint(r.Config.Seed)}
		files = append(files, &RunFile{Values: v, Result: r})
	}
	return Summarize(m, files)
}

// CSV renders the summary in long form: one row per group and metric.
func (s Summary) CSV() []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write(append(append([]string{}, s.Columns...), "metric", "n", "mean", "ci95", "lo", "hi"))
	for _, g := range s.Groups {
		for i, mt := range metrics {
			e := g.Estimates[i]
			row := []string{}
			for _, c := range s.Columns {
				row = append(row, g.Values[c])
			}
			row = append(row, mt.Name, fmt.Sprint(e.N), fmtFloat(e.Mean), fmtFloat(e.CI95), fmtFloat(e.Lo()), fmtFloat(e.Hi()))
			w.Write(row)
		}
	}
	w.Flush()
	return buf.Bytes()
}

// Get returns the estimate of a metric in group g.
func (s Summary) Get(g int, metric string) Estimate {
	for i, mt := range metrics {
		if mt.Name == metric {
			return s.Groups[g].Estimates[i]
		}
	}
	return Estimate{}
}

// Overloaded reports whether some run of group g was overloaded
// (sim.Result.IsOverloaded): its numbers measure the overload, not the
// policy.
func (s Summary) Overloaded(g int) bool { return s.Get(g, "overloaded").Mean > 0 }

// Ranking orders the policies of each scenario (groups equal but for their
// policy) by a metric, smallest first. Between neighbours it writes "<" only
// where the 95% intervals separate and "≈" where they overlap. Overloaded
// groups are not ranked: they are listed after the ranking.
func (s Summary) Ranking(metric string) []string {
	hasPolicy := false
	for _, c := range s.Columns {
		hasPolicy = hasPolicy || c == "policy"
	}
	if !hasPolicy {
		return nil
	}
	scen := map[string][]int{}
	var order []string
	for g, grp := range s.Groups {
		var key []string
		for _, c := range s.Columns {
			if c != "policy" {
				key = append(key, c+"="+grp.Values[c])
			}
		}
		k := strings.Join(key, " ")
		if _, ok := scen[k]; !ok {
			order = append(order, k)
		}
		scen[k] = append(scen[k], g)
	}
	var lines []string
	for _, k := range order {
		var gs, over []int
		for _, g := range scen[k] {
			if s.Overloaded(g) {
				over = append(over, g)
			} else {
				gs = append(gs, g)
			}
		}
		sort.SliceStable(gs, func(a, b int) bool { return s.Get(gs[a], metric).Mean < s.Get(gs[b], metric).Mean })
		var b strings.Builder
		if k != "" {
			b.WriteString(k + ": ")
		}
		if len(gs) == 0 {
			b.WriteString("none ranked")
		}
		for i, g := range gs {
			if i > 0 {
				if s.Get(gs[i-1], metric).Below(s.Get(g, metric)) {
					b.WriteString(" < ")
				} else {
					b.WriteString(" ≈ ")
				}
			}
			b.WriteString(s.Groups[g].Values["policy"])
		}
		if len(over) > 0 {
			var names []string
			for _, g := range over {
				names = append(names, s.Groups[g].Values["policy"])
			}
			b.WriteString("; overloaded, not ranked: " + strings.Join(names, ", "))
		}
		lines = append(lines, b.String())
	}
	return lines
}

// Table writes the chosen metrics of every group as mean ± 95% interval,
// each in the unit it is shown in (µs, %), and marks overloaded groups.
func (s Summary) Table(w io.Writer, names []string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := append([]string{}, s.Columns...)
	for _, n := range names {
		m, _ := MetricByName(n)
		head = append(head, m.Label())
	}
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\tseeds\t")
	over := 0
	for g, grp := range s.Groups {
		var row []string
		for _, c := range s.Columns {
			row = append(row, grp.Values[c])
		}
		n := 0
		for _, name := range names {
			m, _ := MetricByName(name)
			e := s.Get(g, name)
			row = append(row, m.Show(e).String())
			n = e.N
		}
		mark := ""
		if s.Overloaded(g) {
			mark, over = "OVERLOADED", over+1
		}
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t"+fmt.Sprint(n)+"\t"+mark)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if over > 0 {
		fmt.Fprintln(w, OverloadedNote)
	}
	return nil
}

// OverloadedNote explains the OVERLOADED mark of tables.
const OverloadedNote = "OVERLOADED: the host did not keep up (the traffic asks for more cores than it has, or messages were left unfinished); those numbers measure the overload, not the policy, and are not ranked. Lower the load or use a larger host."
