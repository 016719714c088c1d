package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/homalb/homalb/sweep"
)

// summaryMetrics are the metrics sweep and merge print; every metric is in
// results.csv and summary.csv.
var summaryMetrics = []string{"short_p99", "short_p999", "all_p99", "gro_softirq_p99_ns", "busiest_core", "protocol_cores"}

func newSweepCmd() *cobra.Command {
	var (
		out, shard, rank string
		workers          int
		dryRun           bool
	)
	cmd := &cobra.Command{
		Use:   "sweep EXPERIMENT.yaml -o DIR",
		Short: "Run an experiment: the cross product of axes and seeds, on all cores, resumable and shardable",
		Long: `Run an experiment file: a base configuration, axes of values (policy,
workload, load, any configuration key) and seeds. Runs go in parallel on all
cores; each writes DIR/runs/HASH.json atomically, so rerunning the same command
skips finished runs and an interruption loses only the runs in flight. When
every run is present, DIR/results.csv (one row per run) and DIR/summary.csv
(every metric's mean and 95% interval across seeds) are written and the
summary is printed, with a ranking of policies only where intervals separate.

--shard i/n runs the runs whose index is i modulo n, for batch systems
(deploy/k8s, deploy/slurm); 'homalb merge' joins the shard directories.

Experiment file:

  name: w3-loads
  base:                 # configuration keys, nested or dotted
    profile: xl170
    duration_ns: 100ms
  axes:                 # the last axis varies fastest
    policy: [gen2, gen3, idle]
    workload: [w3]
    load: [0.6, 0.7, 0.8, 0.9]
  seeds: 10             # seeds 1..10, or a list`,
		Example: `  homalb sweep examples/policies-w3.yaml -o results/w3
  homalb sweep exp.yaml -o /data/shard-$JOB_COMPLETION_INDEX --shard $JOB_COMPLETION_INDEX/8`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return badInput(fmt.Errorf("sweep: -o DIR is required"))
			}
			e, err := sweep.ParseFile(args[0])
			if err != nil {
				return badInput(err)
			}
			runs, err := e.Plan()
			if err != nil {
				return badInput(fmt.Errorf("experiment %s: %w", args[0], err))
			}
			opt := sweep.Options{Dir: out, Workers: workers}
			if shard != "" {
				if opt.Shard, opt.Shards, err = sweep.ParseShard(shard); err != nil {
					return badInput(err)
				}
			}
			if workers < 0 {
				return badInput(fmt.Errorf("--workers %d: want 0 (all cores) or more", workers))
			}
			if _, ok := sweep.MetricByName(rank); !ok {
				return badInput(fmt.Errorf("--rank %q: not a metric (%s)", rank, metricNames()))
			}
			w := cmd.OutOrStdout()
			if dryRun {
				fmt.Fprintf(w, "%d runs (%s × %d seeds)\n", len(runs), axesText(e), len(e.Seeds))
				return nil
			}
			bar := newRunsProgress(cmd.ErrOrStderr(), "sweep")
			opt.Progress = func(done, total int) { bar.update(0, int64(done), int64(total)) }
			rep, err := sweep.Execute(e, runs, opt)
			bar.finish()
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "%d runs planned, %d in this shard: %d ran, %d already done; %.1f s wall", rep.Planned, rep.Mine, rep.Ran, rep.Skipped, rep.Wall.Seconds())
			if rep.Ran > 0 {
				fmt.Fprintf(w, ", %s, parallel efficiency %.0f%% (Σ run time ÷ (workers × wall))", plural(rep.Workers, "worker"), 100*rep.Efficiency())
			}
			fmt.Fprintln(w)
			if !rep.Complete {
				fmt.Fprintf(w, "not every run of the experiment is in %s yet: run the other shards, then 'homalb merge'\n", out)
				return nil
			}
			return printSummary(w, out, rank)
		},
	}
	cmd.Flags().StringVarP(&out, "out", "o", "", "results directory (created; reused to resume)")
	cmd.Flags().StringVar(&shard, "shard", "", "run only shard i of n, written i/n (0 ≤ i < n)")
	cmd.Flags().IntVar(&workers, "workers", 0, "parallel runs (default: all cores)")
	cmd.Flags().StringVar(&rank, "rank", "short_p99", "metric by which policies are ranked")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "check the experiment and print how many runs it has")
	return cmd
}

func newMergeCmd() *cobra.Command {
	var out, rank string
	cmd := &cobra.Command{
		Use:   "merge SHARD_DIR... -o DIR",
		Short: "Join the output directories of sweep shards into one result",
		Long: `Join the directories written by 'homalb sweep --shard i/n' into DIR, which then
holds exactly what a single-machine sweep writes (results.csv byte-identical).
Every shard must come from the same experiment; missing runs are reported.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return badInput(fmt.Errorf("merge: give at least one shard directory"))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return badInput(fmt.Errorf("merge: -o DIR is required"))
			}
			if _, ok := sweep.MetricByName(rank); !ok {
				return badInput(fmt.Errorf("--rank %q: not a metric (%s)", rank, metricNames()))
			}
			n, err := sweep.Merge(args, out)
			if err != nil {
				return badInput(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "merged %d runs from %d directories into %s\n", n, len(args), out)
			return printSummary(cmd.OutOrStdout(), out, rank)
		},
	}
	cmd.Flags().StringVarP(&out, "out", "o", "", "merged results directory")
	cmd.Flags().StringVar(&rank, "rank", "short_p99", "metric by which policies are ranked")
	return cmd
}

func printSummary(w io.Writer, dir, rank string) error {
	m, files, err := sweep.Load(dir)
	if err != nil {
		return err
	}
	s := sweep.Summarize(m, files)
	fmt.Fprintf(w, "\nmean ± 95%% interval across seeds (all metrics: %s/summary.csv)\n", dir)
	if err := s.Table(w, summaryMetrics); err != nil {
		return err
	}
	if lines := s.Ranking(rank); len(lines) > 0 {
		fmt.Fprintf(w, "\nranking by %s (\"<\": 95%% intervals separate; \"≈\": they overlap)\n", rank)
		for _, l := range lines {
			fmt.Fprintln(w, "  "+l)
		}
	}
	return nil
}

func metricNames() string {
	var names []string
	for _, m := range sweep.Metrics() {
		names = append(names, m.Name)
	}
	return strings.Join(names, ", ")
}

func axesText(e *sweep.Experiment) string {
	var parts []string
	for _, ax := range e.Axes {
		parts = append(parts, fmt.Sprintf("%d %s", len(ax.Values), ax.Key))
	}
	if len(parts) == 0 {
		return "no axis"
	}
	return strings.Join(parts, " × ")
}

// plural writes n and the noun, plural when n is not 1: "1 worker", "2 workers".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// exactArgs is cobra.ExactArgs with an error marked as bad input.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return badInput(err)
		}
		return nil
	}
}
