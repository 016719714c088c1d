package rx

import "hash/maphash"

// keySet is a bounded set of message keys: the RPCs that ended recently,
// so that their late duplicates are recognised. When full, the oldest key
// is forgotten. Open addressing with linear probing over a table twice the
// capacity, and a ring of keys in insertion order; it does not allocate
// after init. Guarded by its shard's lock.
type keySet struct {
	// seed keys the table's hash: the keys are the sender's choice, so an
	// unkeyed hash would let a sender aim them all at one probe chain.
	seed  maphash.Seed
	slots []keySlot
	ring  []msgKey
	head  int
	n     int
	mask  uint64
}

type keySlot struct {
	key  msgKey
	used bool
}

func (s *keySet) init(capacity int) {
	s.seed = maphash.MakeSeed()
	capacity = max(capacity, 1)
	size := 1
	for size < 2*capacity {
		size <<= 1
	}
	s.slots = make([]keySlot, size)
	s.ring = make([]msgKey, capacity)
	s.mask = uint64(size - 1)
}

func (s *keySet) hash(k *msgKey) uint64 { return maphash.Comparable(s.seed, *k) }

func (s *keySet) find(k *msgKey) (int, bool) {
	i := s.hash(k) & s.mask
	for {
		sl := &s.slots[i]
		if !sl.used {
			return int(i), false
		}
		if sl.key == *k {
			return int(i), true
		}
		i = (i + 1) & s.mask
	}
}

// has reports whether k is in the set.
func (s *keySet) has(k *msgKey) bool {
	_, ok := s.find(k)
	return ok
}

// add puts k in the set, forgetting the oldest key when full.
func (s *keySet) add(k msgKey) {
	if _, ok := s.find(&k); ok {
		return
	}
	if s.n == len(s.ring) {
		s.del(&s.ring[s.head])
		s.head = (s.head + 1) % len(s.ring)
		s.n--
	}
	i, _ := s.find(&k)
	s.slots[i] = keySlot{key: k, used: true}
	s.ring[(s.head+s.n)%len(s.ring)] = k
	s.n++
}

// del removes k from the table (not from the ring) by backward shifting.
func (s *keySet) del(k *msgKey) {
	i, ok := s.find(k)
	if !ok {
		return
	}
	j := uint64(i)
	for {
		s.slots[j] = keySlot{}
		next := j
		for {
			next = (next + 1) & s.mask
			sl := &s.slots[next]
			if !sl.used {
				return
			}
			home := s.hash(&sl.key) & s.mask
			// Move sl back to j unless its home lies cyclically in (j, next].
			if (next > j && (home <= j || home > next)) || (next < j && home <= j && home > next) {
				s.slots[j] = *sl
				j = next
				break
			}
		}
	}
}

// len reports the keys held.
func (s *keySet) len() int { return s.n }
