package balance

// RSSEntries is the size of the NIC's RSS indirection table: a packet's RSS
// hash selects entry hash>>25, and the entry names the channel (mlx5 and most
// NICs have 128 entries or a multiple of it).
const RSSEntries = 128

// RSSEntry is the indirection-table entry of a packet with RSS hash flow.
func RSSEntry(flow uint32) int { return int(flow >> 25) }

// SteersRSS is implemented by policies that program the NIC's RSS
// indirection table themselves, as `ethtool -X` reprograms a real NIC, rather
// than leaving it spread evenly over every channel of their deployment. A
// driver asks Steer for every packet and reports the end of every NAPI poll.
type SteersRSS interface {
	// Steer returns the channel — an index into the deployment's GRO
	// cores — that table entry e sends a packet to at now. Policies may
	// count the packet: the RX descriptor carries the RSS hash, so a driver
	// can account packets per entry, as RSS++ does.
	Steer(e int, now int64) int
	// NAPIPollEnd reports a NAPI poll of GRO core g that ends at now: it
	// handled polled packets in busyNs of GRO work and left left packets in
	// the ring.
	NAPIPollEnd(g, polled, left int, busyNs, now int64)
	// RSSTable copies the table, entry → channel, into dst and returns its
	// version, which changes whenever the table does: a driver that
	// programs a real steering table (package rx's reuseport program)
	// reprograms it only when the version moves.
	RSSTable(dst *[RSSEntries]int32) (version uint64)
}
