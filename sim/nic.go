package sim

import "github.com/homalb/homalb/balance"

// The NIC: packets land in the ring of the channel the RSS table picks, and
// an idle channel raises its interrupt.

// nicArrival puts packet *p in its channel's NIC ring (by pointer: see
// packet) and interrupts an idle channel. A policy that steers the RSS table
// may move it at any time: packets follow the table as it is when they reach
// the NIC.
func (h *host) nicArrival(p *packet) {
	var ch int32
	if h.steer != nil {
		ch = int32(h.steer.Steer(balance.RSSEntry(p.flow), h.now))
	} else {
		ch = h.rss[balance.RSSEntry(p.flow)]
	}
	if p.msg >= 0 {
		m := &h.msgs[p.msg]
		m.arrivedPk++
		if p.first {
			m.firstAt = h.now
		}
	}
	h.r.packets++
	c := &h.cores[h.chanCore[ch]]
	// Field by field: a GRANT's *p was just assembled that way (see packet).
	q := c.ring.pushSlot()
	q.msg, q.idx, q.flow, q.kind, q.first = p.msg, p.idx, p.flow, p.kind, p.first
	if !c.napi {
		c.napi, c.irq = true, true
		h.enterSoftirq(c)
	}
}
