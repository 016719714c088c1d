// Package validate holds the simulator to what Homa measured. Each [Check]
// runs a scenario that states the deployment it reproduces (kernel IPI
// behaviour, GRO busy window, MTU, …) and compares one outcome with a
// published figure: HomaModule's perf.txt items, and queueing theory.
//
// The published figures are outcomes, never inputs: no default of package
// sim is set from them, so a check that passes is evidence about the
// model, not a tautology. The exception is said where it applies (the
// send-side cost, which perf#62's whole-node figure constrains, is not what
// its check measures).
//
// Run all checks with [Run]; [Quick] selects shorter runs with fewer seeds
// for CI, with the same tolerances.
package validate
