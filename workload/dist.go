package workload

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/homalb/homalb/homa"
)

// Dist is a message-size distribution in bytes.
//
// Every Dist of this package is immutable after construction and safe for
// concurrent use; Sample draws only from the generator it is given.
type Dist interface {
	// Name is the spec the distribution was resolved from, in canonical
	// form: "w4", "exp:1000", or the path of a CSV file as given.
	Name() string

	// Sample returns one message size in bytes, in [1, Max()]. It is a
	// deterministic function of the generator's state, and allocates
	// nothing.
	Sample(r *rand.Rand) int

	// Mean is the exact mean size in bytes of what Sample returns
	// (truncation included).
	Mean() float64

	// Quantile returns the smallest size s in bytes with CDF(s) >= p. p is
	// clamped to [0, 1]; for p <= 0 (or NaN) it returns the smallest size
	// Sample can return.
	Quantile(p float64) int

	// CDF returns P(size <= n), exactly (to float64 rounding).
	CDF(n int) float64

	// BytesCDF returns the share of all bytes carried by messages of size
	// <= n: E[size; size <= n] / Mean().
	BytesCDF(n int) float64

	// Max is the largest size in bytes Sample can return (after
	// truncation).
	Max() int

	// Buckets returns ascending upper bounds (max_bytes) of size buckets
	// for slowdown-by-size tables; the last is Max(). Each bucket holds at
	// least minFrac of messages: a bucket that would hold less is merged
	// into the next, and a short last bucket into the previous one. Every
	// bound is a size Sample can return. Homa's tables use minFrac = 0.0025.
	// minFrac is raised to MinBucketFrac if smaller (or NaN), so there are
	// at most 1/MinBucketFrac buckets; minFrac >= 1 gives one bucket.
	Buckets(minFrac float64) []int
}

// Describer is implemented by every Dist of this package.
type Describer interface {
	// Describe says in one line where the distribution comes from: the
	// CSV file it was read from, or the family and its parameters.
	Describe() string
}

const (
	// DefaultMaxBytes is the truncation applied when Options.MaxBytes is 0:
	// Homa's maximum message length, 1,000,000 bytes.
	DefaultMaxBytes = homa.MaxMessageLength

	// MaxSize is the largest size, in bytes, that any Dist of this package
	// produces: 2^40 (1 TiB). Unbounded synthetic families without
	// truncation are capped here, larger truncations are lowered to it and
	// CSV rows above it are rejected. It keeps sizes and their sums exact
	// in float64.
	MaxSize = 1 << 40

	// MinBucketFrac is the smallest minFrac that Dist.Buckets honours.
	MinBucketFrac = 1e-6

	// EnvSearchPath names the environment variable that DefaultSearchPath
	// reads first: a list of directories separated by os.PathListSeparator.
	EnvSearchPath = "HOMALB_WORKLOADS"
)

// Options control how a distribution is built.
type Options struct {
	// MaxBytes truncates sizes: a sample larger than MaxBytes becomes
	// MaxBytes, so that mass piles up at MaxBytes, and Mean, CDF, Quantile
	// and BytesCDF describe the truncated sizes. 0 means DefaultMaxBytes;
	// a negative value means no truncation (sizes are still capped at
	// MaxSize); values above MaxSize are lowered to MaxSize.
	MaxBytes int

	// SearchPath lists the directories in which w1..w5 are looked up as
	// wN.csv instead of the built-in tables, first match wins; a name
	// found in none of them is an error. nil means DefaultSearchPath()
	// ($HOMALB_WORKLOADS); an empty, non-nil slice means the built-in
	// tables.
	SearchPath []string
}

// maxBytes is the effective truncation of o, in [1, MaxSize].
func (o Options) maxBytes() int {
	switch {
	case o.MaxBytes == 0:
		return DefaultMaxBytes
	case o.MaxBytes < 0 || o.MaxBytes > MaxSize:
		return MaxSize
	}
	return o.MaxBytes
}

// DefaultSearchPath returns the directories that override the built-in
// tables of w1..w5: those listed in $HOMALB_WORKLOADS (separated by
// os.PathListSeparator; empty entries skipped). Without the variable it is
// empty and the tables compiled into the program are used.
func DefaultSearchPath() []string {
	var dirs []string
	for _, d := range filepath.SplitList(os.Getenv(EnvSearchPath)) {
		if d != "" {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// Entry describes one built-in name or family for help text.
type Entry struct {
	Name string // e.g. "w1" or "lognormal:MEDIAN,SIGMA"
	Help string // one line
}

// Catalog lists the built-in workload names and synthetic families, each
// with a one-line description, in the order help text should show them.
func Catalog() []Entry {
	out := make([]Entry, 0, len(builtins)+len(families)+1)
	for _, b := range builtins {
		out = append(out, Entry{b.name, b.help})
	}
	for _, f := range families {
		out = append(out, Entry{f.usage, f.help})
	}
	return append(out, Entry{"PATH.csv", "a CDF file in the format of w1..w5 (any spec containing a path separator or ending in .csv)"})
}

// Names returns the names of Catalog: w1..w5, the family forms and
// PATH.csv.
func Names() []string {
	c := Catalog()
	out := make([]string, len(c))
	for i, e := range c {
		out[i] = e.Name
	}
	return out
}

// builtins are the published workloads of the Homa papers; their tables
// are compiled in (data/wN.csv), and $HOMALB_WORKLOADS can replace them.
var builtins = []struct{ name, help string }{
	{"w1", "Facebook memcached (ETC) sizes; mean 189 B, 98% in one packet"},
	{"w2", "Google search RPC sizes; mean 442 B, 97% in one packet"},
	{"w3", "Google aggregated datacenter RPC sizes; mean 2.9 KB, 89% in one packet"},
	{"w4", "Facebook Hadoop sizes; mean 128 KB, 64% in one packet"},
	{"w5", "web search (DCTCP) sizes; mean 2.6 MB before truncation, none in one packet"},
}

// Resolve returns the distribution named by spec:
//
//   - w1 .. w5 (case-insensitive): the published Homa workloads, compiled
//     in, or read from wN.csv in the first directory of opts.SearchPath
//     that has it when a search path is given;
//   - a path to a CSV file in the same format (any spec that contains a
//     path separator or ends in ".csv"); see ParseCDF;
//   - a synthetic family, FAMILY:PARAMS, e.g. "lognormal:1000,1.5"; see
//     Catalog for the list and the package documentation for how each is
//     discretised to integer sizes.
//
// Family names are matched before paths: a CSV file called "exp:1" must be
// given with a path separator, as "./exp:1".
//
// Errors name the spec and say what is wrong; file errors also name the
// file and the line.
func Resolve(spec string, opts Options) (Dist, error) {
	d, err := resolve(strings.TrimSpace(spec), opts)
	if err != nil {
		return nil, fmt.Errorf("workload %q: %w", spec, err)
	}
	return d, nil
}

func resolve(spec string, opts Options) (Dist, error) {
	if spec == "" {
		return nil, errors.New("empty spec")
	}
	lower := strings.ToLower(spec)
	for _, b := range builtins {
		if lower == b.name {
			return openBuiltin(b.name, opts)
		}
	}
	if fam, params, ok := strings.Cut(lower, ":"); ok {
		for _, f := range families {
			if fam == f.name {
				return f.parse(params, opts.maxBytes())
			}
		}
	}
	if strings.ContainsRune(spec, '/') || strings.ContainsRune(spec, filepath.Separator) || strings.HasSuffix(lower, ".csv") {
		return openFile(spec, spec, opts)
	}
	return nil, fmt.Errorf("unknown workload; want one of %s", strings.Join(Names(), ", "))
}

// builtinTables holds the published tables of w1..w5, so that the program
// works from any directory and needs no files beside it.
//
//go:embed data/*.csv
var builtinTables embed.FS

// openBuiltin parses name+".csv" from the search path when one is given
// ($HOMALB_WORKLOADS by default), else from the tables compiled in. A
// search path that is given but wrong is an error, not a silent fallback:
// the user meant those files.
func openBuiltin(name string, opts Options) (Dist, error) {
	dirs := opts.SearchPath
	what, hint := "search path", ""
	if dirs == nil {
		dirs = DefaultSearchPath()
		what, hint = "$"+EnvSearchPath, fmt.Sprintf("; unset $%s to use the built-in tables", EnvSearchPath)
		if v, set := os.LookupEnv(EnvSearchPath); set && strings.TrimSpace(v) != "" && len(dirs) == 0 {
			return nil, fmt.Errorf("$%s=%q lists no directory; unset it to use the built-in tables", EnvSearchPath, v)
		}
	}
	file := name + ".csv"
	if len(dirs) == 0 {
		data, err := builtinTables.ReadFile("data/" + file)
		if err != nil {
			return nil, fmt.Errorf("built-in table %s: %w", file, err) // cannot happen: embedded above
		}
		t, err := parseTable(name, "built-in "+file, bytes.NewReader(data), opts.maxBytes())
		if err != nil {
			return nil, err
		}
		return t, nil
	}
	for _, dir := range dirs {
		st, err := os.Stat(dir)
		if err != nil {
			return nil, fmt.Errorf("%s: %w%s", what, err, hint)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("%s: %s is not a directory%s", what, dir, hint)
		}
		path := filepath.Join(dir, file)
		st, err = os.Stat(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if st.IsDir() {
			return nil, fmt.Errorf("%s is a directory", path)
		}
		return openFile(name, path, opts)
	}
	return nil, fmt.Errorf("%s not found in %s %q%s", file, what, dirs, hint)
}

// openFile parses the CSV file at path as the distribution called name.
func openFile(name, path string, opts Options) (Dist, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, fmt.Errorf("%s is a directory", path)
	}
	t, err := parseTable(name, path, f, opts.maxBytes())
	if err != nil {
		return nil, err
	}
	return t, nil
}

// quantileSearch returns the smallest s in [lo, hi] with CDF(s) >= p (or
// CDF(s) > 0 for p <= 0), given CDF(hi) == 1. It serves the families
// whose support is every integer of a range.
func quantileSearch(cdf func(int) float64, lo, hi int, p float64) int {
	if p >= 1 {
		p = 1
	}
	pred := func(s int) bool { return cdf(s) >= p }
	if !(p > 0) { // p <= 0 or NaN
		pred = func(s int) bool { return cdf(s) > 0 }
	}
	for lo < hi {
		mid := lo + (hi-lo)/2
		if pred(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// buckets implements Dist.Buckets from Quantile and CDF.
func buckets(d Dist, minFrac float64) []int {
	if !(minFrac >= MinBucketFrac) {
		minFrac = MinBucketFrac
	}
	last := d.Max()
	var out []int
	c := 0.0 // CDF at the previous bound
	for {
		if 1-c < minFrac {
			// What is left is too little for a bucket: it joins the
			// previous one (or, if there is none, the only bucket).
			if len(out) == 0 {
				return []int{last}
			}
			out[len(out)-1] = last
			return out
		}
		b := d.Quantile(c + minFrac)
		out = append(out, b)
		if b >= last {
			return out
		}
		c = d.CDF(b)
	}
}

// clamp01 limits a share computed in floating point to [0, 1].
func clamp01(x float64) float64 {
	return math.Min(1, math.Max(0, x))
}
