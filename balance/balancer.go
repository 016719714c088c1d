package balance

import "fmt"

// Kind is the class of a packet as GRO sees it.
type Kind uint8

const (
	// Data is a DATA packet that is part of a multi-packet message.
	Data Kind = iota
	// WholeData is a DATA packet that carries a whole message.
	WholeData
	// Grant is a GRANT packet.
	Grant
	// Control is any other control packet.
	Control
)

// Balancer applies a [Policy] and Homa's GRO options to a shared [Table].
// Drivers call [Balancer.GROStart] and [Balancer.GROEnd] (or
// [Balancer.GROPacket]) for every packet and
// [Balancer.SoftIRQCore] for every batch. A Balancer is safe for concurrent
// use; its methods do not allocate.
type Balancer struct {
	tab     *Table
	pol     Policy
	opt     Options
	homaGRO bool
	avoid   coreAvoider // the policy's thread-placement constraint, if any
}

// New returns a balancer running the named policy of the [Catalog] over t.
func New(name string, t *Table, o Options) (*Balancer, error) {
	info, err := Lookup(name)
	if err != nil {
		return nil, err
	}
	return NewFrom(info, t, o)
}

// NewFrom returns a balancer running the policy described by info.
func NewFrom(info Info, t *Table, o Options) (*Balancer, error) {
	if t == nil {
		return nil, fmt.Errorf("policy %s: nil table", info.Name)
	}
	if err := o.Validate(t.NumCores()); err != nil {
		return nil, fmt.Errorf("policy %s: %w", info.Name, err)
	}
	if o.GROBusyNs == GROBusyAsDeployed {
		o.GROBusyNs = info.GROBusyNs
	}
	p, err := info.New(t, o)
	if err != nil {
		return nil, fmt.Errorf("policy %s: %w", info.Name, err)
	}
	avoid, _ := p.(coreAvoider)
	return &Balancer{tab: t, pol: p, opt: o, homaGRO: info.HomaGRO, avoid: avoid}, nil
}

// Table returns the balancer's table.
func (b *Balancer) Table() *Table { return b.tab }

// Policy returns the balancer's policy.
func (b *Balancer) Policy() Policy { return b.pol }

// Options returns the balancer's options.
func (b *Balancer) Options() Options { return b.opt }

// GROPacket records a packet of kind k through GRO on core g at now and
// reports whether it runs SoftIRQ inline on g instead of joining g's batch:
// [Balancer.GROStart] and [Balancer.GROEnd] at the same instant, for drivers
// that do not time the two ends of a GRO step apart.
func (b *Balancer) GROPacket(g int, k Kind, now int64) (inline bool) {
	inline = b.GROStart(g, k, now)
	b.GROEnd(g, now)
	return inline
}

// GROStart is the entry of homa_gro_receive for a packet of kind k on core g
// at now. It tests whether g's GRO is busy (now − last_gro < GROBusyNs),
// marks g's last_active, and reports whether the packet runs SoftIRQ inline
// on g instead of joining g's batch: a WholeData packet under ShortBypass, a
// Grant under GrantBypass, in both cases only when g's GRO is not busy and
// the policy runs Homa's GRO handler. The driver calls [Balancer.GROEnd]
// when the packet's GRO work, and its inline SoftIRQ if any, is over: Homa
// stores last_gro only then, so a long inline SoftIRQ keeps the core busy.
func (b *Balancer) GROStart(g int, k Kind, now int64) (inline bool) {
	busy := b.tab.groStart(g, now, b.opt.GROBusyNs)
	if busy || !b.homaGRO {
		return false
	}
	switch k {
	case WholeData:
		return b.opt.ShortBypass
	case Grant:
		return b.opt.GrantBypass
	}
	return false
}

// GROEnd records the end of a packet's GRO work on core g at now (after its
// inline SoftIRQ, if it had one): last_gro becomes now.
func (b *Balancer) GROEnd(g int, now int64) { b.tab.groEnd(g, now) }

// SoftIRQCore returns the core that processes a GRO batch of n packets
// collected on core g (flow is the batch's flow hash, for rps). A batch of
// one packet stays on g under SameCoreSingle (Homa's GRO only); any other
// batch goes where the policy says.
func (b *Balancer) SoftIRQCore(g int, flow uint32, n int, now int64) int {
	if !b.Steers(n) {
		return g
	}
	return b.pol.Pick(b.tab, g, flow, now)
}

// Steers reports whether [Balancer.SoftIRQCore] asks the policy about a
// batch of n packets, rather than keeping it on its GRO core (SAME_CORE).
// Homa's timetrace records "chose core" only for the batches it steers.
func (b *Balancer) Steers(n int) bool {
	return n != 1 || !b.homaGRO || !b.opt.SameCoreSingle
}

// RSS returns the policy's steering of the NIC's RSS table, or nil when the
// policy spreads the table evenly over every channel of its deployment.
func (b *Balancer) RSS() SteersRSS {
	e, _ := b.pol.(SteersRSS)
	return e
}

// ChooseThread is [Table.ChooseThread] with the balancer's busy window; under
// a policy that keeps application threads off its GRO cores (gen6), a waiter
// on such a core is taken only when every waiter is on one.
func (b *Balancer) ChooseThread(waiterCores []int, now int64) int {
	return b.tab.chooseThread(waiterCores, b.opt.BusyNs, now, b.avoid)
}
