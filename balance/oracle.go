package balance

import "fmt"

// oracle is a reference, not a policy a kernel could run: it asks the driver
// (Options.Oracle) how long a batch handed off now would wait on each core —
// the simulator knows every queued packet's exact cost — and takes the core
// where it would start soonest, among the cores that do not do GRO (Gen3's
// deployment, as gen4). It shows how far each real policy is from greedy
// placement with perfect knowledge of the SoftIRQ queues. It marks the
// choice's last_active, as Gen3 and gen4 do.
type oracle struct {
	delay func(gro, core int) int64
	cands []int
}

func newOracle(t *Table, o Options) (Policy, error) {
	gro, err := gen3GROCores(t.NumCores(), o)
	if err != nil {
		return nil, err
	}
	return newOracleOn(t, o, gro)
}

// newOracleOn builds the oracle for a deployment whose GRO cores are gro.
func newOracleOn(t *Table, o Options, gro []int) (*oracle, error) {
	if o.Oracle == nil {
		return nil, fmt.Errorf("needs a driver that knows each core's queued work (the simulator); it cannot run in a real pipeline")
	}
	isGRO := make([]bool, t.NumCores())
	for _, c := range gro {
		isGRO[c] = true
	}
	p := &oracle{delay: o.Oracle}
	for c := range isGRO {
		if !isGRO[c] {
			p.cands = append(p.cands, c)
		}
	}
	if len(p.cands) == 0 {
		return nil, fmt.Errorf("every core does GRO")
	}
	return p, nil
}

func (*oracle) Name() string { return "oracle" }

func (p *oracle) Pick(t *Table, g int, _ uint32, now int64) int {
	best, bestD := p.cands[0], p.delay(g, p.cands[0])
	for _, c := range p.cands[1:] {
		if d := p.delay(g, c); d < bestD {
			best, bestD = c, d
		}
	}
	t.cores[best].lastActive.Store(now)
	return best
}

// oracle6 is the oracle's SoftIRQ placement on gen6's deployment: gen6's
// load-balanced RSS table, channel count and thread chooser, but every batch
// placed on the non-GRO core where it would start soonest. Against gen6 it
// measures what gen6's SoftIRQ steering (gen4's rule) leaves on the table;
// the plain oracle cannot, since gen6 also moves GRO.
type oracle6 struct {
	*gen6
	place *oracle
}

func newOracle6(t *Table, o Options) (Policy, error) {
	gro, err := gen5GROCores(t.NumCores(), o)
	if err != nil {
		return nil, err
	}
	place, err := newOracleOn(t, o, gro)
	if err != nil {
		return nil, err
	}
	p6, err := newGen6(t, o)
	if err != nil {
		return nil, err
	}
	return &oracle6{gen6: p6.(*gen6), place: place}, nil
}

func (*oracle6) Name() string { return "oracle6" }

func (p *oracle6) Pick(t *Table, g int, flow uint32, now int64) int {
	return p.place.Pick(t, g, flow, now)
}
