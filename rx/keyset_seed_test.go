package rx

import (
	"net/netip"
	"testing"
)

// TestTableHashesAreKeyed: the ended-RPC set and the shard choices hash
// sender-chosen keys under a per-server secret seed, so a sender cannot aim
// keys at one probe chain or shard: two tables hash the same key apart.
func TestTableHashesAreKeyed(t *testing.T) {
	var a, b keySet
	a.init(16)
	b.init(16)
	k := msgKey{from: netip.MustParseAddrPort("127.0.0.2:4000"), sender: 7, id: 42}
	if a.hash(&k) == b.hash(&k) {
		t.Error("two key sets hash a key alike: the hash is not seeded")
	}
	if k2 := k; a.hash(&k) != a.hash(&k2) {
		t.Error("a key set hashes one key two ways")
	}
}
