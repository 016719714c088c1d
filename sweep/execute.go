package sweep

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/homalb/homalb/sim"
)

// Manifest describes an experiment's runs; every shard writes the same one,
// which is how Merge knows the shards belong together and in which order
// results go.
type Manifest struct {
	Name    string     `json:"name"`
	Columns []string   `json:"columns"`
	Runs    []RunEntry `json:"runs"`
}

// RunEntry is one run of a manifest.
type RunEntry struct {
	Index  int               `json:"index"`
	Hash   string            `json:"hash"`
	Values map[string]string `json:"values"`
}

// RunFile is what runs/HASH.json holds.
type RunFile struct {
	Hash   string            `json:"hash"`
	Index  int               `json:"index"`
	Values map[string]string `json:"values"`
	Result *sim.Result       `json:"result"`
}

// Options control Execute.
type Options struct {
	Dir     string
	Workers int // parallel runs; 0 = GOMAXPROCS
	Shard   int // run the runs whose index ≡ Shard (mod Shards)
	Shards  int // 0 or 1: no sharding
	// Progress, if set, is called after each run with the runs done and the
	// runs to do in this invocation (skipped runs count as done).
	Progress func(done, total int)
}

// Report tells what Execute did.
type Report struct {
	Planned, Mine, Ran, Skipped int
	Workers                     int
	Wall                        time.Duration // of the whole invocation
	RunWall                     time.Duration // sum of the runs' own wall times
	Complete                    bool          // every run of the manifest is in Dir (results.csv written)
}

// Efficiency is the parallel efficiency of the runs that ran: their summed
// wall time over (workers × elapsed time). 1 is perfect scaling.
func (r Report) Efficiency() float64 {
	if r.Wall <= 0 || r.Workers <= 0 {
		return 0
	}
	return r.RunWall.Seconds() / (float64(min(r.Workers, max(r.Ran, 1))) * r.Wall.Seconds())
}

// ParseShard reads "i/n" with 0 ≤ i < n.
func ParseShard(s string) (i, n int, err error) {
	a, b, ok := bytes.Cut([]byte(s), []byte("/"))
	if ok {
		i, err = strconv.Atoi(string(a))
		if err == nil {
			n, err = strconv.Atoi(string(b))
		}
	}
	if !ok || err != nil || n < 1 || i < 0 || i >= n {
		return 0, 0, fmt.Errorf("shard %q: want i/n with 0 ≤ i < n, e.g. 0/4", s)
	}
	return i, n, nil
}

func manifest(e *Experiment, runs []Run) Manifest {
	m := Manifest{Name: e.Name, Columns: e.Columns()}
	for _, r := range runs {
		m.Runs = append(m.Runs, RunEntry{Index: r.Index, Hash: r.Hash, Values: r.Values})
	}
	return m
}

// Execute runs the experiment's runs (or one shard of them) into opt.Dir,
// skipping those already there, and writes results.csv and summary.csv when
// every run of the experiment is present.
func Execute(e *Experiment, runs []Run, opt Options) (Report, error) {
	start := time.Now()
	rep := Report{Planned: len(runs), Workers: opt.Workers}
	if rep.Workers <= 0 {
		rep.Workers = runtime.GOMAXPROCS(0)
	}
	if opt.Shards <= 0 {
		opt.Shards = 1
	}
	if err := os.MkdirAll(filepath.Join(opt.Dir, "runs"), 0o755); err != nil {
		return rep, err
	}
	m := manifest(e, runs)
	if err := checkManifest(opt.Dir, m); err != nil {
		return rep, err
	}
	if err := writeAtomic(filepath.Join(opt.Dir, "manifest.json"), mustJSON(m)); err != nil {
		return rep, err
	}
	var todo []Run
	for _, r := range runs {
		if r.Index%opt.Shards != opt.Shard {
			continue
		}
		rep.Mine++
		if have, _ := readRun(opt.Dir, r.Hash); have != nil {
			rep.Skipped++
			continue
		}
		todo = append(todo, r)
	}
	var (
		mu       sync.Mutex
		firstErr error
		done     = rep.Skipped
	)
	if opt.Progress != nil {
		opt.Progress(done, rep.Mine)
	}
	Each(len(todo), rep.Workers, func(i int) {
		r := todo[i]
		t0 := time.Now()
		res, err := sim.Run(r.Config)
		if err == nil {
			err = writeAtomic(runPath(opt.Dir, r.Hash), mustJSON(RunFile{Hash: r.Hash, Index: r.Index, Values: r.Values, Result: res}))
		}
		mu.Lock()
		defer mu.Unlock()
		rep.RunWall += time.Since(t0)
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("run %d: %w", r.Index, err)
		}
		if err == nil {
			rep.Ran++
		}
		done++
		if opt.Progress != nil {
			opt.Progress(done, rep.Mine)
		}
	})
	rep.Wall = time.Since(start)
	if firstErr != nil {
		return rep, firstErr
	}
	complete, err := writeResults(opt.Dir, m)
	rep.Complete = complete
	return rep, err
}

// checkManifest refuses to mix two different experiments in one directory.
func checkManifest(dir string, m Manifest) error {
	old, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !bytes.Equal(old, mustJSON(m)) {
		return fmt.Errorf("%s holds the results of another experiment (manifest.json differs); use another directory", dir)
	}
	return nil
}

func runPath(dir, hash string) string { return filepath.Join(dir, "runs", hash+".json") }

// readRun returns a run's file if it exists and is whole and matches hash;
// nil otherwise (a partial or foreign file is run again).
func readRun(dir, hash string) (*RunFile, error) {
	data, err := os.ReadFile(runPath(dir, hash))
	if err != nil {
		return nil, err
	}
	var rf RunFile
	if err := json.Unmarshal(data, &rf); err != nil {
		return nil, fmt.Errorf("%s: %w", runPath(dir, hash), err)
	}
	if rf.Hash != hash || rf.Result == nil {
		return nil, fmt.Errorf("%s: holds run %s", runPath(dir, hash), rf.Hash)
	}
	return &rf, nil
}

func mustJSON(v any) []byte {
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		panic(err)
	}
	return append(b, '\n')
}

// writeAtomic writes a file so that readers never see it half written.
func writeAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Metric is one number reported per run.
type Metric struct {
	Name string
	Get  func(*sim.Result) float64
	// ZeroIsNone marks the slowdowns: a slowdown is at least 1, so 0 says
	// the run measured no such message (W5 has no one-packet messages; an
	// overloaded run may deliver none in its window).
	ZeroIsNone bool
	// Unit is how tables show it; nil: as it is.
	Unit *Unit
}

// metrics are the columns of results.csv after the axes, in order.
var metrics = []Metric{
	{Name: "messages", Get: func(r *sim.Result) float64 { return float64(r.Messages) }},
	{Name: "incomplete", Get: func(r *sim.Result) float64 { return float64(r.Incomplete) }},
	{Name: "short_p50", Get: func(r *sim.Result) float64 { return r.Short.P50 }, ZeroIsNone: true},
	{Name: "short_p99", Get: func(r *sim.Result) float64 { return r.Short.P99 }, ZeroIsNone: true},
	{Name: "short_p999", Get: func(r *sim.Result) float64 { return r.Short.P999 }, ZeroIsNone: true},
	{Name: "all_p50", Get: func(r *sim.Result) float64 { return r.All.P50 }, ZeroIsNone: true},
	{Name: "all_p99", Get: func(r *sim.Result) float64 { return r.All.P99 }, ZeroIsNone: true},
	{Name: "all_p999", Get: func(r *sim.Result) float64 { return r.All.P999 }, ZeroIsNone: true},
	{Name: "latency_mean_ns", Get: func(r *sim.Result) float64 { return r.LatencyNs.Mean }, Unit: usUnit},
	{Name: "latency_p99_ns", Get: func(r *sim.Result) float64 { return float64(r.LatencyNs.P99) }, Unit: usUnit},
	{Name: "gro_softirq_p99_ns", Get: func(r *sim.Result) float64 { return float64(r.HandoffNs.GROToSoftIRQ.P99) }, Unit: usUnit},
	{Name: "softirq_app_p99_ns", Get: func(r *sim.Result) float64 { return float64(r.HandoffNs.SoftIRQToApp.P99) }, Unit: usUnit},
	{Name: "busiest_core", Get: busiest, Unit: pctUnit},
	{Name: "protocol_cores", Get: protocolCores},
	{Name: "hotspot_frac", Get: func(r *sim.Result) float64 { return r.HotspotFrac }, Unit: pctUnit},
	{Name: "softirq_cores_per_msg", Get: func(r *sim.Result) float64 { return r.SoftIRQCoresPerMsg }},
	{Name: "mean_batch", Get: func(r *sim.Result) float64 { return r.MeanBatch }},
	{Name: "bypass_frac", Get: func(r *sim.Result) float64 { return r.BypassFrac }, Unit: pctUnit},
	{Name: "offered_cores", Get: func(r *sim.Result) float64 { return r.OfferedCores }},
	// offered_frac is offered_cores over the host's cores: from 1 on, the
	// traffic asks for more CPU than the host has, whatever the policy.
	{Name: "offered_frac", Get: func(r *sim.Result) float64 { return r.OfferedCores / float64(max(r.Config.Host.Cores, 1)) }},
	// overloaded is sim.Result.IsOverloaded; r.Overloaded also counts for
	// run files written before the rule took its present form.
	{Name: "overloaded", Get: func(r *sim.Result) float64 {
		if r.Overloaded || r.IsOverloaded() {
			return 1
		}
		return 0
	}},
}

// Units in which tables show metrics: results.csv keeps the raw values
// (ns, fractions); people read µs and percent.
var (
	usUnit  = &Unit{Name: "µs", Scale: 1e-3}
	pctUnit = &Unit{Name: "%", Scale: 100}
)

// Unit is how a metric is shown: its value times Scale, in Name.
type Unit struct {
	Name  string
	Scale float64
}

// Metrics returns the metrics of results.csv, in column order (a copy:
// callers cannot change the schema).
func Metrics() []Metric { return append([]Metric(nil), metrics...) }

// Label is the metric's name as a table heads it: the unit it is shown in
// replaces a _ns or _frac suffix ("gro_softirq_p99 µs", "busiest_core %").
func (m Metric) Label() string {
	if m.Unit == nil {
		return m.Name
	}
	n := strings.TrimSuffix(strings.TrimSuffix(m.Name, "_ns"), "_frac")
	return n + " " + m.Unit.Name
}

// Show converts an estimate of the metric into the unit it is shown in.
func (m Metric) Show(e Estimate) Estimate {
	if m.Unit == nil {
		return e
	}
	return Estimate{N: e.N, Mean: e.Mean * m.Unit.Scale, CI95: e.CI95 * m.Unit.Scale}
}

func busiest(r *sim.Result) float64 {
	b := 0.0
	for _, c := range r.Cores {
		b = max(b, c.Busy())
	}
	return b
}

// protocolCores counts the cores that spent at least 1% of the time in GRO
// or SoftIRQ: how many cores protocol work touches.
func protocolCores(r *sim.Result) float64 {
	n := 0
	for _, c := range r.Cores {
		if c.GRO+c.SoftIRQ >= 0.01 {
			n++
		}
	}
	return float64(n)
}

// MetricByName finds a metric of Metrics.
func MetricByName(name string) (Metric, bool) {
	for _, m := range metrics {
		if m.Name == name {
			return m, true
		}
	}
	return Metric{}, false
}

func fmtFloat(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return ""
	}
	return strconv.FormatFloat(x, 'g', -1, 64)
}

// writeResults writes results.csv and summary.csv if every run of m is in
// dir, and reports whether it did.
func writeResults(dir string, m Manifest) (bool, error) {
	files := make([]*RunFile, len(m.Runs))
	for i, r := range m.Runs {
		rf, err := readRun(dir, r.Hash)
		if err != nil {
			return false, nil // not complete (yet): a shard, or failed runs
		}
		files[i] = rf
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	header := append([]string{"run", "hash"}, m.Columns...)
	for _, mt := range metrics {
		header = append(header, mt.Name)
	}
	w.Write(header)
	for i, rf := range files {
		row := []string{strconv.Itoa(m.Runs[i].Index), rf.Hash}
		for _, c := range m.Columns {
			row = append(row, rf.Values[c])
		}
		for _, mt := range metrics {
			row = append(row, fmtFloat(mt.Get(rf.Result)))
		}
		w.Write(row)
	}
	w.Flush()
	if err := writeAtomic(filepath.Join(dir, "results.csv"), buf.Bytes()); err != nil {
		return false, err
	}
	sum := Summarize(m, files)
	if err := writeAtomic(filepath.Join(dir, "summary.csv"), sum.CSV()); err != nil {
		return false, err
	}
	return true, nil
}

// Load reads a complete results directory: its manifest and every run.
func Load(dir string) (Manifest, []*RunFile, error) {
	var m Manifest
	data, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return m, nil, fmt.Errorf("results %s: %w", dir, err)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, nil, fmt.Errorf("results %s: manifest.json: %w", dir, err)
	}
	files := make([]*RunFile, len(m.Runs))
	for i, r := range m.Runs {
		if files[i], err = readRun(dir, r.Hash); err != nil {
			return m, nil, fmt.Errorf("results %s: run %d missing or damaged: %w", dir, r.Index, err)
		}
	}
	return m, files, nil
}

// Merge joins shard directories into out: the runs of all shards, and the
// same results.csv and summary.csv a single-machine run writes. Every shard
// must come from the same experiment and every run must be present.
func Merge(shards []string, out string) (int, error) {
	if len(shards) == 0 {
		return 0, fmt.Errorf("merge: no shard directory")
	}
	var m Manifest
	var first []byte
	for i, d := range shards {
		data, err := os.ReadFile(filepath.Join(d, "manifest.json"))
		if err != nil {
			return 0, fmt.Errorf("merge: %w", err)
		}
		if i == 0 {
			first = data
			if err := json.Unmarshal(data, &m); err != nil {
				return 0, fmt.Errorf("merge: %s: %w", d, err)
			}
		} else if !bytes.Equal(data, first) {
			return 0, fmt.Errorf("merge: %s is from another experiment than %s", d, shards[0])
		}
	}
	if err := os.MkdirAll(filepath.Join(out, "runs"), 0o755); err != nil {
		return 0, err
	}
	if err := checkManifest(out, m); err != nil {
		return 0, err
	}
	if err := writeAtomic(filepath.Join(out, "manifest.json"), first); err != nil {
		return 0, err
	}
	missing := 0
	for _, r := range m.Runs {
		found := false
		for _, d := range shards {
			data, err := os.ReadFile(runPath(d, r.Hash))
			if err != nil {
				continue
			}
			if _, err := readRun(d, r.Hash); err != nil {
				return 0, fmt.Errorf("merge: %w", err)
			}
			if filepath.Clean(d) != filepath.Clean(out) {
				if err := writeAtomic(runPath(out, r.Hash), data); err != nil {
					return 0, err
				}
			}
			found = true
			break
		}
		if !found {
			missing++
		}
	}
	if missing > 0 {
		return len(m.Runs) - missing, fmt.Errorf("merge: %d of %d runs missing; run the missing shards (same command) and merge again", missing, len(m.Runs))
	}
	_, err := writeResults(out, m)
	return len(m.Runs), err
}
