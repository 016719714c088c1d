// Package stats holds the measurements of a run with memory independent of
// its length: HdrHistogram-backed latency and slowdown distributions, a
// slowdown-by-message-size table, and per-core time accounting with hotspot
// detection.
package stats
