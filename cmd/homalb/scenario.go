package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/homalb/homalb/balance"
	"github.com/homalb/homalb/sim"
	"github.com/homalb/homalb/workload"
)

// scenarioFlags are the flags that describe one simulated scenario; sim,
// compare and trace share them.
type scenarioFlags struct {
	policy, workload, profile, config string
	load                              float64
	cores                             int
	duration, warmup                  time.Duration
	seed                              uint64
	sets                              []string
	printConfig                       bool
}

func (f *scenarioFlags) register(cmd *cobra.Command, withPolicy bool) {
	fl := cmd.Flags()
	if withPolicy {
		fl.StringVarP(&f.policy, "policy", "p", "gen3", "SoftIRQ steering policy: "+strings.Join(balance.Names(), ", "))
	}
	fl.StringVarP(&f.workload, "workload", "w", "w4", "message sizes: w1..w5, a CDF file, or fixed:N, exp:MEAN, lognormal:MEDIAN,SIGMA, bimodal:A,B,P …")
	fl.Float64VarP(&f.load, "load", "l", 0.8, "offered load as a fraction of the link rate, in (0,1]")
	fl.StringVar(&f.profile, "profile", "xl170", "machine profile: "+strings.Join(sim.Profiles(), ", "))
	fl.IntVar(&f.cores, "cores", 0, "logical cores (default: the profile's); also sets app.threads to cores+1")
	fl.DurationVarP(&f.duration, "duration", "d", 0, "simulated time measured, e.g. 200ms (default: the profile's)")
	fl.DurationVar(&f.warmup, "warmup", 0, "simulated time before measuring starts (default: the profile's)")
	fl.Uint64Var(&f.seed, "seed", 1, "random seed: same seed and config, same result")
	fl.StringVar(&f.config, "config", "", "YAML file of configuration keys (applied before flags and --set)")
	fl.StringArrayVar(&f.sets, "set", nil, "override one configuration key, key=value (repeatable; see --print-config)")
	fl.BoolVar(&f.printConfig, "print-config", false, "print the fully resolved configuration as YAML and exit")
	_ = cmd.RegisterFlagCompletionFunc("policy", fixedCompletion(balance.Names()...))
	_ = cmd.RegisterFlagCompletionFunc("profile", fixedCompletion(sim.Profiles()...))
	_ = cmd.RegisterFlagCompletionFunc("workload", workloadCompletion)
	_ = cmd.RegisterFlagCompletionFunc("set", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		keys := sim.Keys()
		for i := range keys {
			keys[i] += "="
		}
		return keys, cobra.ShellCompDirectiveNoSpace
	})
}

func fixedCompletion(values ...string) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return values, cobra.ShellCompDirectiveNoFileComp
	}
}

// resolve builds the configuration: the profile's defaults, then the YAML
// file, then the flags given on the command line, then each --set in order.
func (f *scenarioFlags) resolve(cmd *cobra.Command) (sim.Config, error) {
	changed := cmd.Flags().Changed
	profile := f.profile
	var file []byte
	if f.config != "" {
		var err error
		if file, err = os.ReadFile(f.config); err != nil {
			return sim.Config{}, fmt.Errorf("config: %w", err)
		}
		var peek struct {
			Profile string `yaml:"profile"`
		}
		if err := yaml.Unmarshal(file, &peek); err != nil {
			return sim.Config{}, fmt.Errorf("config %s: %v", f.config, oneLine(err))
		}
		if peek.Profile != "" && !changed("profile") {
			profile = peek.Profile
		}
	}
	cfg, err := sim.ProfileConfig(profile)
	if err != nil {
		return cfg, err
	}
	if file != nil {
		if file, err = durationsToNs(file); err != nil {
			return cfg, fmt.Errorf("config %s: %v", f.config, oneLine(err))
		}
		if err := cfg.LoadYAML(file); err != nil {
			return cfg, fmt.Errorf("config %s: %v", f.config, oneLine(err))
		}
	}
	if changed("policy") {
		cfg.Policy = f.policy
	}
	if changed("workload") {
		cfg.Workload = f.workload
	}
	if changed("load") {
		cfg.Load = f.load
	}
	if changed("cores") {
		if f.cores <= 0 {
			return cfg, fmt.Errorf("--cores %d: want a positive number", f.cores)
		}
		cfg.Host.Cores = f.cores
		cfg.App.Threads = f.cores + 1
	}
	if changed("duration") {
		if f.duration <= 0 {
			return cfg, fmt.Errorf("--duration %v: want a positive simulated time", f.duration)
		}
		cfg.DurationNs = int64(f.duration)
	}
	if changed("warmup") {
		if f.warmup < 0 {
			return cfg, fmt.Errorf("--warmup %v: must not be negative", f.warmup)
		}
		cfg.WarmupNs = int64(f.warmup)
	}
	if changed("seed") {
		cfg.Seed = f.seed
	}
	for _, kv := range f.sets {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return cfg, fmt.Errorf("--set %q: want key=value", kv)
		}
		if err := cfg.Set(strings.TrimSpace(k), v); err != nil {
			return cfg, fmt.Errorf("--set: %w", err)
		}
	}
	return cfg, nil
}

// durationsToNs rewrites the values of *_ns keys written as durations
// ("20ms") as integer ns, so that a --config file takes what sweep's base:
// and --set take. Other documents come back unchanged.
func durationsToNs(doc []byte) ([]byte, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(doc, &n); err != nil {
		return nil, err
	}
	changed := false
	var walk func(*yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if v.Kind == yaml.ScalarNode && strings.HasSuffix(k.Value, "_ns") {
					if _, err := strconv.ParseInt(v.Value, 10, 64); err != nil {
						if d, err := time.ParseDuration(strings.TrimSpace(v.Value)); err == nil {
							v.Value, v.Tag, v.Style = strconv.FormatInt(int64(d), 10), "!!int", 0
							changed = true
						}
					}
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&n)
	if !changed {
		return doc, nil
	}
	return yaml.Marshal(&n)
}

// oneLine joins a multi-line error message (YAML errors have several lines).
func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
}

// workloadCompletion offers the workload names that work as written (w1…w5)
// and the families' prefixes ("fixed:", "exp:", …) to be completed by hand;
// CSV paths complete as files.
func workloadCompletion(_ *cobra.Command, _ []string, prefix string) ([]string, cobra.ShellCompDirective) {
	var out []string
	for _, n := range workload.Names() {
		if fam, _, ok := strings.Cut(n, ":"); ok {
			out = append(out, fam+":")
		} else if !strings.ContainsAny(n, "./") {
			out = append(out, n)
		}
	}
	if strings.ContainsAny(prefix, "./") {
		return nil, cobra.ShellCompDirectiveDefault // a path: let the shell complete files
	}
	return out, cobra.ShellCompDirectiveNoSpace | cobra.ShellCompDirectiveNoFileComp
}
