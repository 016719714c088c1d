//go:build race

package validate

// raceEnabled: the checks are single-threaded simulations with nothing for
// the race detector to find, and under it they take half a minute; CI runs
// the same checks without it (`homalb validate --quick` in .ci/run).
const raceEnabled = true
