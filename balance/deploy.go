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
// the layout where the driver overrides it (o.GROCores, o.Gen3Groups); the
// GRO busy window comes from the policy's [Info.GROBusyNs], never from o:
// a driver that wants another window sets it after Deploy.
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
	return Deployment{Policy: name, GROCores: append([]int(nil), gro...), GROBusyNs: info.GROBusyNs}, nil
}
