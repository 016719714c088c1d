// Package sweep runs experiments: the cross product of a base simulator
// configuration with axes of values (policy, workload, load, any
// configuration key) and seeds.
//
// An experiment file is YAML:
//
//	name: w3-loads
//	base:                  # configuration keys, nested or dotted
//	  profile: xl170
//	  duration_ns: 100ms
//	  cost.migrate_ns: 500
//	axes:                  # in this order; the last varies fastest
//	  policy: [gen2, gen3, idle]
//	  workload: [w3]
//	  load: [0.6, 0.8]
//	seeds: 10              # seeds 1..10, or a list [3, 7, 11]
//
// [Plan] expands it into runs, each identified by the hash of its full
// configuration. [Execute] runs them in parallel into a directory: one JSON
// per run under runs/, written atomically, and a run whose JSON already
// exists with the same configuration is skipped — so an interrupted sweep
// loses at most the runs in flight, and rerunning finishes it. A shard
// (i of n) runs the runs whose index is i modulo n, so that a batch system
// can run the shards on many machines; [Merge] joins their outputs into the
// same results a single machine writes (results.csv is byte-identical).
//
// [Summarize] reports every metric across seeds as a mean with a 95%
// confidence interval (Student's t), and ranks policies only where the
// intervals separate.
package sweep
