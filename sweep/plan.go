package sweep

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/homalb/homalb/sim"
)

// MaxRuns bounds the cross product of one experiment: a typo in an axis
// should not start a million runs.
const MaxRuns = 100_000

// Axis is one dimension of an experiment: a configuration key and its values.
type Axis struct {
	Key    string
	Values []string
}

// Experiment is a parsed experiment file.
type Experiment struct {
	Name  string
	Base  [][2]string // dotted key, value; applied in order
	Axes  []Axis
	Seeds []uint64
}

// Run is one simulation of an experiment.
type Run struct {
	Index  int               // position in the cross product
	Values map[string]string // axis key → value (seed included)
	Config sim.Config
	Hash   string // of the full configuration; names the run's output
}

// ParseFile reads an experiment file.
func ParseFile(path string) (*Experiment, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("experiment: %w", err)
	}
	e, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("experiment %s: %w", path, err)
	}
	return e, nil
}

// Parse reads an experiment from YAML.
func Parse(data []byte) (*Experiment, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("want a mapping with base, axes and seeds")
	}
	e := &Experiment{Seeds: []uint64{1}}
	top := doc.Content[0]
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		switch k.Value {
		case "name":
			e.Name = v.Value
		case "base":
			if v.Kind != yaml.MappingNode {
				return nil, fmt.Errorf("line %d: base: want a mapping of configuration keys", v.Line)
			}
			if err := flatten("", v, &e.Base); err != nil {
				return nil, err
			}
		case "axes":
			if v.Kind != yaml.MappingNode {
				return nil, fmt.Errorf("line %d: axes: want a mapping of key: [values]", v.Line)
			}
			for j := 0; j+1 < len(v.Content); j += 2 {
				ak, av := v.Content[j], v.Content[j+1]
				ax := Axis{Key: ak.Value}
				switch av.Kind {
				case yaml.SequenceNode:
					for _, item := range av.Content {
						s, err := scalar(item)
						if err != nil {
							return nil, fmt.Errorf("line %d: axis %s: %w", item.Line, ax.Key, err)
						}
						ax.Values = append(ax.Values, s)
					}
				case yaml.ScalarNode:
					ax.Values = []string{av.Value}
				default:
					return nil, fmt.Errorf("line %d: axis %s: want a list of values", av.Line, ax.Key)
				}
				if len(ax.Values) == 0 {
					return nil, fmt.Errorf("line %d: axis %s has no value", av.Line, ax.Key)
				}
				if ax.Key == "seed" {
					return nil, fmt.Errorf("line %d: give seeds with the top-level seeds key, not as an axis", ak.Line)
				}
				e.Axes = append(e.Axes, ax)
			}
		case "seeds":
			seeds, err := parseSeeds(v)
			if err != nil {
				return nil, err
			}
			e.Seeds = seeds
		default:
			return nil, fmt.Errorf("line %d: unknown key %q (want name, base, axes, seeds)", k.Line, k.Value)
		}
	}
	return e, nil
}

func scalar(n *yaml.Node) (string, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		return n.Value, nil
	case yaml.SequenceNode: // a list value, e.g. host.gro_cores: [0, 2]
		var parts []string
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				return "", fmt.Errorf("nested lists are not configuration values")
			}
			parts = append(parts, c.Value)
		}
		return strings.Join(parts, ","), nil
	}
	return "", fmt.Errorf("want a value, not a mapping")
}

// flatten turns nested mappings into dotted keys.
func flatten(prefix string, n *yaml.Node, out *[][2]string) error {
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := prefix + k.Value
		if v.Kind == yaml.MappingNode {
			if err := flatten(key+".", v, out); err != nil {
				return err
			}
			continue
		}
		s, err := scalar(v)
		if err != nil {
			return fmt.Errorf("line %d: base %s: %w", v.Line, key, err)
		}
		*out = append(*out, [2]string{key, s})
	}
	return nil
}

func parseSeeds(v *yaml.Node) ([]uint64, error) {
	switch v.Kind {
	case yaml.ScalarNode:
		n, err := strconv.Atoi(v.Value)
		if err != nil || n < 1 || n > MaxRuns {
			return nil, fmt.Errorf("line %d: seeds: want a count 1..%d or a list", v.Line, MaxRuns)
		}
		seeds := make([]uint64, n)
		for i := range seeds {
			seeds[i] = uint64(i + 1)
		}
		return seeds, nil
	case yaml.SequenceNode:
		var seeds []uint64
		seen := map[uint64]bool{}
		for _, c := range v.Content {
			s, err := strconv.ParseUint(c.Value, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("line %d: seed %q is not a non-negative integer", c.Line, c.Value)
			}
			if seen[s] {
				return nil, fmt.Errorf("line %d: seed %d twice", c.Line, s)
			}
			seen[s] = true
			seeds = append(seeds, s)
		}
		if len(seeds) == 0 {
			return nil, fmt.Errorf("line %d: seeds: empty list", v.Line)
		}
		return seeds, nil
	}
	return nil, fmt.Errorf("line %d: seeds: want a count or a list", v.Line)
}

// Plan expands the experiment into its runs, in cross-product order (the
// last axis varies fastest, seeds fastest of all), checking every run's
// configuration.
func (e *Experiment) Plan() ([]Run, error) {
	total := len(e.Seeds)
	for _, ax := range e.Axes {
		total *= len(ax.Values)
		if total > MaxRuns {
			return nil, fmt.Errorf("more than %d runs", MaxRuns)
		}
	}
	profile := "xl170"
	for _, kv := range e.Base {
		if kv[0] == "profile" {
			profile = kv[1]
		}
	}
	runs := make([]Run, 0, total)
	idx := make([]int, len(e.Axes))
	for n := 0; n < total/len(e.Seeds); n++ {
		for _, seed := range e.Seeds {
			r := Run{Index: len(runs), Values: map[string]string{"seed": strconv.FormatUint(seed, 10)}}
			p := profile
			for i, ax := range e.Axes {
				if ax.Key == "profile" {
					p = ax.Values[idx[i]]
				}
			}
			cfg, err := sim.ProfileConfig(p)
			if err != nil {
				return nil, err
			}
			for _, kv := range e.Base {
				if kv[0] == "profile" {
					continue
				}
				if err := cfg.Set(kv[0], kv[1]); err != nil {
					return nil, fmt.Errorf("base: %w", err)
				}
			}
			for i, ax := range e.Axes {
				v := ax.Values[idx[i]]
				r.Values[ax.Key] = v
				if ax.Key == "profile" {
					continue
				}
				if err := cfg.Set(ax.Key, v); err != nil {
					return nil, fmt.Errorf("axis: %w", err)
				}
			}
			cfg.Seed = seed
			if err := cfg.Check(); err != nil {
				return nil, fmt.Errorf("run %d (%s): %w", len(runs), describe(e, r.Values), err)
			}
			r.Config = cfg
			r.Hash = Hash(cfg)
			runs = append(runs, r)
		}
		for i := len(idx) - 1; i >= 0; i-- { // odometer: the last axis fastest
			if idx[i]++; idx[i] < len(e.Axes[i].Values) {
				break
			}
			idx[i] = 0
		}
	}
	return runs, nil
}

func describe(e *Experiment, v map[string]string) string {
	var parts []string
	for _, ax := range e.Axes {
		parts = append(parts, ax.Key+"="+v[ax.Key])
	}
	return strings.Join(append(parts, "seed="+v["seed"]), " ")
}

// Hash identifies a configuration: the first 16 hex digits of the SHA-256 of
// its JSON form (field order fixed by the struct, so stable).
func Hash(cfg sim.Config) string {
	b, err := json.Marshal(cfg)
	if err != nil {
		panic(err) // a Config always marshals
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// Columns lists the axis keys of the experiment, then "seed".
func (e *Experiment) Columns() []string {
	var cols []string
	for _, ax := range e.Axes {
		cols = append(cols, ax.Key)
	}
	return append(cols, "seed")
}
