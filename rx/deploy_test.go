package rx

import (
	"slices"
	"testing"

	"github.com/homalb/homalb/balance"
	"github.com/homalb/homalb/sim"
)

// TestDeploysAsTheSimulator: rx and the simulator deploy every policy that
// runs in rx identically (GRO cores and GRO busy window) on both profiles'
// core counts, because both ask balance.Deploy.
func TestDeploysAsTheSimulator(t *testing.T) {
	for _, n := range []int{20, 48} {
		for _, info := range balance.Catalog() {
			if info.Oracle {
				continue // needs the simulator's knowledge of queued work; refused in rx
			}
			sc := sim.DefaultConfig()
			sc.Policy, sc.Host.Cores = info.Name, n
			want, err := sc.Deployment()
			if err != nil {
				t.Fatalf("sim %s on %d: %v", info.Name, n, err)
			}
			got, err := Config{Policy: info.Name, Cores: n, CPUs: []int{0}}.Deployment()
			if err != nil {
				t.Fatalf("rx %s on %d: %v", info.Name, n, err)
			}
			if !slices.Equal(got.GROCores, want.GROCores) || got.GROBusyNs != want.GROBusyNs {
				t.Errorf("%s on %d cores: rx deploys %v, %d ns; sim %v, %d ns", info.Name, n, got.GROCores, got.GROBusyNs, want.GROCores, want.GROBusyNs)
			}
		}
	}
}
