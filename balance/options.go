package balance

import "fmt"

// Homa's defaults (HomaModule's homa_init and balance.txt).
const (
	// DefaultBusyNs is busy_usecs: how long after activity a core counts as
	// busy for Gen2, Gen3 and the thread chooser.
	DefaultBusyNs int64 = 100_000
	// DefaultGROBusyNs is the module's gro_busy_usecs: a core's GRO is busy
	// if its previous GRO packet ended less than this before. Gen2's
	// deployment used 0, Gen3's 2 µs.
	DefaultGROBusyNs int64 = 5_000
	// DefaultScanCores is how many following cores Gen2 and IDLE examine.
	DefaultScanCores = 4
	// GROBusyAsDeployed, as Options.GROBusyNs, asks for the GRO busy window
	// of the policy's deployment ([Info.GROBusyNs]).
	GROBusyAsDeployed int64 = -1
	// MaxGen3Candidates bounds a Gen3 group's SoftIRQ candidates (3 deployed).
	MaxGen3Candidates = 8
)

// Options are the tunables of a [Balancer]. The zero value is not Homa's
// default; start from [DefaultOptions].
type Options struct {
	// BusyNs is the busy window in ns (busy_usecs × 1000).
	BusyNs int64
	// GROBusyNs is the GRO busy window in ns (gro_busy_usecs × 1000), or
	// GROBusyAsDeployed for the window the policy was deployed with.
	GROBusyNs int64
	// ShortBypass: a DATA packet that is a whole message runs SoftIRQ
	// inline on its GRO core when that core's GRO is not busy.
	ShortBypass bool
	// GrantBypass ("fast grants"): a GRANT runs SoftIRQ inline on its GRO
	// core when that core's GRO is not busy.
	GrantBypass bool
	// SameCoreSingle: a GRO batch of one packet is processed on its GRO core
	// (HOMA_GRO_SAME_CORE) instead of being steered.
	SameCoreSingle bool
	// ScanCores is how many following cores Gen2 and IDLE examine (4).
	ScanCores int
	// Gen3Groups is Gen3's layout; nil means the deployed layout for the
	// table's core count ([DeployedGen3Groups]).
	Gen3Groups []Group
	// GROCores, when set, are the cores that do GRO in this deployment (the
	// driver's choice of NIC channels), overriding the policy's own
	// deployment: gen4 and oracle steer SoftIRQ work to the other cores.
	GROCores []int
	// HashSeed seeds the flow hash of the rps policy.
	HashSeed uint64
	// Oracle, for the oracle policy only, returns how long (ns) a batch
	// handed off now by GRO core gro would wait before core starts it. Only
	// a simulator can know this.
	Oracle func(gro, core int) int64
}

// DefaultOptions returns Homa's module defaults: 100 µs busy window, 5 µs
// GRO busy window, both bypasses and SAME_CORE on, 4 cores scanned, the
// deployed Gen3 layout.
func DefaultOptions() Options {
	return Options{
		BusyNs:         DefaultBusyNs,
		GROBusyNs:      DefaultGROBusyNs,
		ShortBypass:    true,
		GrantBypass:    true,
		SameCoreSingle: true,
		ScanCores:      DefaultScanCores,
	}
}

// Validate reports the first option that cannot work on a host of n cores.
func (o Options) Validate(n int) error {
	switch {
	case o.BusyNs < 0:
		return fmt.Errorf("busy window %d ns is negative", o.BusyNs)
	case o.GROBusyNs < 0 && o.GROBusyNs != GROBusyAsDeployed:
		return fmt.Errorf("GRO busy window %d ns is negative", o.GROBusyNs)
	case o.ScanCores < 1 || o.ScanCores > 64:
		return fmt.Errorf("cores to scan %d out of range 1..64", o.ScanCores)
	}
	if err := CheckCores("GRO cores", o.GROCores, n); err != nil {
		return err
	}
	if o.Gen3Groups != nil {
		if _, err := compileGroups(o.Gen3Groups, n); err != nil {
			return err
		}
	}
	return nil
}

// CheckCores reports the first core of a list that a host of n cores does
// not have, or that the list names twice; what names the list in the
// message ("host.gro_cores", "GRO core"). It is the one check of core lists
// for every driver and option.
func CheckCores(what string, cores []int, n int) error {
	seen := make(map[int]bool, len(cores))
	for _, c := range cores {
		if c < 0 || c >= n {
			return fmt.Errorf("%s names core %d, but the host has cores 0..%d", what, c, n-1)
		}
		if seen[c] {
			return fmt.Errorf("%s names core %d twice", what, c)
		}
		seen[c] = true
	}
	return nil
}
