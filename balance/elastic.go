package balance

import "sync/atomic"

// elasticSize is a number of cores in use — gen4's SoftIRQ pool prefix,
// gen5's RSS channels — that grows by one under pressure, at most once per
// gen4GrowGapNs, and shrinks by one after gen4ShrinkNs without pressure, at
// most once per gen4ShrinkGap, within [min, max]. Growing fast and shrinking
// slowly is the hysteresis that keeps the size from oscillating at the time
// scale of a burst. Safe for concurrent use.
type elasticSize struct {
	min, max   int32
	active     atomic.Int32
	lastGrow   atomic.Int64
	lastShrink atomic.Int64
	pressure   atomic.Int64 // the last time pressure was seen, to a µs
}

func (e *elasticSize) init(min, max int32) {
	e.min, e.max = min, max
	e.active.Store(min)
	e.lastGrow.Store(Never)
	e.lastShrink.Store(Never)
	e.pressure.Store(Never)
}

// size is the number of cores in use now.
func (e *elasticSize) size() int32 { return e.active.Load() }

// relax shrinks the size from k by one if there has been no pressure for
// long enough, and returns the size after.
func (e *elasticSize) relax(k int32, now int64) int32 {
	if k > e.min && now-e.pressure.Load() >= gen4ShrinkNs && now-e.lastShrink.Load() >= gen4ShrinkGap {
		e.lastShrink.Store(now)
		if e.active.CompareAndSwap(k, k-1) {
			return k - 1
		}
	}
	return k
}

// hold records that the current size is needed at now: the calm that allows
// shrinking starts again, but the size does not grow.
func (e *elasticSize) hold(now int64) {
	if now-e.pressure.Load() >= 1000 { // a µs of precision is plenty; shared stores are not free
		e.pressure.Store(now)
	}
}

// press records pressure at now and grows the size from k by one if it may;
// it reports whether this call grew it (to k+1).
func (e *elasticSize) press(k int32, now int64) bool {
	e.hold(now)
	if k < e.max && now-e.lastGrow.Load() >= gen4GrowGapNs {
		e.lastGrow.Store(now)
		return e.active.CompareAndSwap(k, k+1)
	}
	return false
}
