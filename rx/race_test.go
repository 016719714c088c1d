//go:build race

package rx

// raceEnabled: the race detector slows everything down and makes sync.Pool
// drop items at random, so tests shrink and skip allocation counts.
const raceEnabled = true
