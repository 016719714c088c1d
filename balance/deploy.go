package balance

import "fmt"

// Deployment is what a driver sets up around a policy on a host: which
// cores' NIC channels feed GRO, and the GRO busy window the policy was
// deployed with. Both drivers (the simulator and rx) take it from [Deploy],
// so that a policy runs the same way in each.
type Deployment struct {
	// Policy is the policy's name.
	Policy string
	// GROCores are the cores serving NIC channels, one channel each.
	GROCores []int
	// GROBusyNs is gro_busy_usecs × 1000 as the policy was deployed.
	GROBusyNs int64
}

// Deploy returns the deployment of the named policy on n cores. o supplies
// what the driver overrides: the layout (o.GROCores, o.Gen3Groups) and the
// GRO busy window (o.GROBusyNs; [GROBusyAsDeployed] for the policy's own,
// [Info.GROBusyNs]).
func Deploy(name string, n int, o Options) (Deployment, error) {
	info, err := Lookup(name)
	if err != nil {
		return Deployment{}, err
	}
	if n < 1 || n > MaxCores {
		return Deployment{}, fmt.Errorf("policy %s: %d cores outside 1..%d", name, n, MaxCores)
	}
	gro := o.GROCores // the driver's choice of NIC channels wins
	if len(gro) == 0 {
		if gro, err = info.DeployedGROCores(n, o); err != nil {
			return Deployment{}, fmt.Errorf("policy %s: %w", name, err)
		}
	}
	busy := o.GROBusyNs
	if busy == GROBusyAsDeployed {
		busy = info.GROBusyNs
	}
	return Deployment{Policy: name, GROCores: append([]int(nil), gro...), GROBusyNs: busy}, nil
}
