package balance

import "fmt"

// gen5 tunables.
const (
	// gen5PollPressure: a NAPI poll that handled at least this many packets
	// means its GRO core was busy for a whole burst: GRO pressure.
	gen5PollPressure = 32
	gen5MinGRODiv    = 4 // at least a quarter of the GRO-capable cores keep channels
)

// gen5 is gen4 with elastic GRO. gen4's tail on W4/W5 is made on its GRO
// cores: RSS puts every packet of a message, and everything else its sender
// sends, on one channel, and Gen3's deployment has only N/4 of them. gen5
// deploys channels on every even core (N/2) but steers the NIC's RSS
// indirection table onto a prefix of them — as `ethtool -X` reprograms a real
// NIC — and moves that prefix with the same asymmetric rule as gen4's
// SoftIRQ pool: one more channel when a NAPI poll handles a long burst (at
// most every 20 µs), one fewer after 2 ms without one (at most every 1 ms).
// SoftIRQ work goes to the other cores with gen4's rule.
type gen5 struct {
	*gen4
	chans elasticSize // channels in use, a prefix of the deployment's GRO cores
}

// gen5GROCores is gen5's deployment: the given GRO cores, else every even core.
func gen5GROCores(n int, o Options) ([]int, error) {
	if o.GROCores != nil {
		return o.GROCores, nil
	}
	if n < 2 {
		return nil, fmt.Errorf("needs at least 2 cores: GRO on the even ones, SoftIRQ on the odd")
	}
	var gro []int
	for c := 0; c < n; c += 2 {
		gro = append(gro, c)
	}
	return gro, nil
}

func newGen5(t *Table, o Options) (Policy, error) {
	gro, err := gen5GROCores(t.NumCores(), o)
	if err != nil {
		return nil, err
	}
	o.GROCores = gro
	p4, err := newGen4(t, o)
	if err != nil {
		return nil, err
	}
	p := &gen5{gen4: p4.(*gen4)}
	p.chans.init(int32(max(1, len(gro)/gen5MinGRODiv)), int32(len(gro)))
	return p, nil
}

func (*gen5) Name() string { return "gen5" }

// ActiveChannels is how many of the deployment's NIC channels (a prefix of
// its GRO cores, in order) the RSS table uses now.
func (p *gen5) ActiveChannels() int { return int(p.chans.size()) }

// Steer spreads the table over the active channels: entry e goes to channel
// e mod k.
func (p *gen5) Steer(e int, _ int64) int { return e % int(p.chans.size()) }

// RSSTable writes entry e → e mod k; the version is k.
func (p *gen5) RSSTable(dst *[RSSEntries]int32) uint64 {
	k := p.chans.size()
	for e := range dst {
		dst[e] = int32(e) % k
	}
	return uint64(k)
}

// NAPIPollEnd learns from each NAPI poll of GRO core g how busy GRO is.
func (p *gen5) NAPIPollEnd(g, polled, left int, _, now int64) {
	k := p.chans.size()
	if polled >= gen5PollPressure || left > 0 {
		p.chans.press(k, now)
		return
	}
	p.chans.relax(k, now)
}
