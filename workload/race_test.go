//go:build race

package workload

// raceDetector is true when the tests run under -race: the heaviest
// single-goroutine arithmetic loops, where the race detector has nothing
// to find but costs 10×, then skip their redundant repetitions.
const raceDetector = true
