package rx

import (
	"encoding/binary"
	"hash/maphash"
)

// cookieJar makes the cookies of a server's RPCs: a keyed hash of the
// RPC's key (client address, sender id, message id) under a seed drawn at
// start. A client learns its RPC's cookie only from the server's packets
// to its address, so a packet that carries it comes from someone who reads
// that address: the server then trusts the RPC's sender with replies
// larger than what it sent (see the threat model in doc.go). maphash is
// keyed and not invertible from its outputs, which is what a sender that
// sees its own cookies must not be able to exploit.
type cookieJar struct{ seed maphash.Seed }

func newCookieJar() cookieJar { return cookieJar{seed: maphash.MakeSeed()} }

// of returns k's cookie, never zero (zero means "none" on the wire).
func (j *cookieJar) of(k *msgKey) uint64 {
	var b [34]byte
	a := k.from.Addr().As16()
	copy(b[:16], a[:])
	binary.LittleEndian.PutUint16(b[16:], k.from.Port())
	binary.LittleEndian.PutUint64(b[18:], k.sender)
	binary.LittleEndian.PutUint64(b[26:], k.id)
	return maphash.Bytes(j.seed, b[:]) | 1
}
