package rx

// mix64 is rx's general-purpose 64-bit mixer (the finalizer of
// SplitMix64): a bijection whose output bits each depend on every input
// bit. It spreads keys over tables and shards and draws fault decisions.
// It is not keyed and is invertible, so it must never guard anything an
// attacker could profit from predicting; cookies use a keyed hash
// (cookie.go).
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
