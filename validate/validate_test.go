package validate

import (
	"math"
	"testing"

	"github.com/homalb/homalb/sim"
)

// TestChecksPass runs every check in quick mode: each one that is not a
// known gap must pass, and every gap must name a check that exists.
func TestChecksPass(t *testing.T) {
	if raceEnabled {
		t.Skip("single-threaded simulations: .ci/run runs these checks without the race detector (homalb validate --quick)")
	}
	checks, err := Run(Quick)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, c := range checks {
		names[c.Name] = true
		if !c.Pass && Gap(c.Name) == "" {
			t.Errorf("%s (%s): measured %g %s, accepted [%g, %g]", c.Name, c.Source, c.Measured, c.Unit, c.Low, c.High)
		}
		if c.Published == "" || c.Tolerance == "" || c.Scenario == "" {
			t.Errorf("%s: says nothing of its source figure, tolerance or scenario", c.Name)
		}
	}
	for g := range gaps {
		if !names[g] {
			t.Errorf("gap %q names no check", g)
		}
	}
	if len(checks) < 17 {
		t.Errorf("%d checks, want every published observation (at least 17)", len(checks))
	}
}

// TestWithin pins the acceptance rule, open upper bounds included.
func TestWithin(t *testing.T) {
	for _, tc := range []struct {
		v, lo, hi float64
		pass      bool
	}{{1, 1, 2, true}, {2, 1, 2, true}, {0.99, 1, 2, false}, {2.01, 1, 2, false}, {1e9, 3, math.Inf(1), true}, {2.9, 3, math.Inf(1), false}} {
		if got := within(Check{}, tc.v, tc.lo, tc.hi).Pass; got != tc.pass {
			t.Errorf("within(%g, [%g, %g]) = %v", tc.v, tc.lo, tc.hi, got)
		}
	}
}

// TestMD1DetectsAWrongQueue: the M/D/1 check is not a tautology — with a
// service time other than the one it assumes, the mean sojourn misses.
func TestMD1DetectsAWrongQueue(t *testing.T) {
	c := MD1Config(0.7, 100)
	c.Host.SameCoreBacklog = true // packets wait for the poll's end: not one FIFO server
	r, err := simRun(c)
	if err != nil {
		t.Fatal(err)
	}
	want := 1000 + 0.7*1000/(2*0.3)
	if math.Abs(r-want) < 0.05*want {
		t.Errorf("a batched schedule still matched M/D/1 (%.0f against %.0f)", r, want)
	}
}

// simRun runs cfg and returns its mean latency in ns.
func simRun(cfg sim.Config) (float64, error) {
	r, err := sim.Run(cfg)
	if err != nil {
		return 0, err
	}
	return r.LatencyNs.Mean, nil
}
