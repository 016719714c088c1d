//go:build race

package sim

// raceEnabled: the race detector slows the simulator tenfold, and a run is
// single-threaded, so the tests run shorter scenarios under it (the
// invariants, determinism and reference checks stay the same).
const raceEnabled = true
