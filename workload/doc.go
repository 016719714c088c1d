// Package workload provides the message-size distributions that drive the
// simulator: the five workloads published with the Homa papers (W1..W5),
// any CDF file in their format, and synthetic families.
//
// Every distribution is a [Dist]: it samples integer sizes in bytes and
// knows its exact moments — Mean, CDF, Quantile, BytesCDF and the size
// buckets of slowdown tables — for precisely the sizes Sample returns,
// truncation included. So a simulator can compare what it measured with
// what it was asked to generate, and a report can label buckets without
// sampling.
//
// # Specs
//
// [Resolve] turns a spec into a Dist:
//
//   - "w1" .. "w5": the published CDFs, compiled into the program from
//     data/wN.csv, so that it runs from any directory. A search path
//     (Options.SearchPath, by default [DefaultSearchPath]: the directories
//     of $HOMALB_WORKLOADS) replaces them with wN.csv files; a name it
//     does not hold is an error, not a silent fallback.
//   - a path to a CSV file in the same format: see [ParseCDF].
//   - "fixed:N", "uniform:A,B", "bimodal:A,B,P" (P is the probability of
//     A), "exp:MEAN", "lognormal:MEDIAN,SIGMA", "pareto:MIN,ALPHA"; see
//     [Catalog].
//
// # Discretisation and truncation
//
// Sizes are whole bytes. The continuous families draw a real X and return
// size = max(1, ceil(X)), so P(size <= n) = P(X <= n) for every n >= 1:
//
//   - exp:MEAN draws X exponential with rate -ln(1 - 1/MEAN); ceil(X) is
//     then geometric, P(size > j) = (1 - 1/MEAN)^j, with mean exactly
//     MEAN (before truncation).
//   - lognormal:MEDIAN,SIGMA draws X = MEDIAN * e^(SIGMA*Z), Z standard
//     normal; the median of the sizes is ceil(MEDIAN).
//   - pareto:MIN,ALPHA draws X with P(X > x) = (MIN/x)^ALPHA, x >= MIN.
//
// Then every distribution is truncated at Options.MaxBytes (default
// [DefaultMaxBytes], Homa's largest message): a larger size becomes
// MaxBytes, so the truncated mass piles up there. Mean, CDF, Quantile,
// BytesCDF and Buckets describe the truncated sizes: W4's mean is
// 127,797 B as published but 60,175 B once truncated at 1 MB. With
// MaxBytes < 0 nothing is truncated, except that no size exceeds [MaxSize].
//
// Moments are exact: sums over the table for CSV files, fixed and bimodal;
// closed forms for uniform and exp; for lognormal and pareto, direct sums
// over the body of the distribution and the Euler-Maclaurin formula over the
// smooth far tail, where its error is below 1e-12 of the sum (tests hold
// both to 1e-11 of plain summation).
//
// # The caller's duties
//
// Sample takes the generator: the caller owns the randomness, so a run is
// reproducible from its seed, and one Dist may serve many goroutines, each
// with its own *rand.Rand. Sample allocates nothing; Buckets, Quantile and
// BytesCDF are for setting up and reporting, not for the per-message path.
//
// # Example
//
//	d, err := workload.Resolve("w4", workload.Options{MaxBytes: 1_000_000})
//	if err != nil {
//		return err // names the spec, and the file and line if it is a file
//	}
//	r := rand.New(rand.NewPCG(seed, 0))
//	size := d.Sample(r) // bytes, in [1, d.Max()]
//	short := d.CDF(1424) // share of messages that fit in one packet
//	bounds := d.Buckets(0.0025) // size buckets of a slowdown table
package workload
