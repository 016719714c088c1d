package sim

import "testing"

type stepLog struct{ steps []Step }

func (l *stepLog) Step(s Step) { l.steps = append(l.steps, s) }

// TestTracer: the steps of a window arrive in order of their end, softirq
// steps of one core never overlap, every packet GRO'd in the window is then
// SoftIRQ'd on some core, and every delivery is traced.
func TestTracer(t *testing.T) {
	c := short("gen2", "w3", 0.6)
	var log stepLog
	from, to := int64(2e6), int64(2.5e6)
	if _, err := RunWith(c, RunOptions{Tracer: &log, TraceFrom: from, TraceTo: to}); err != nil {
		t.Fatal(err)
	}
	if len(log.steps) < 100 {
		t.Fatalf("only %d steps traced", len(log.steps))
	}
	type key struct {
		msg int64
		pkt int32
	}
	gro := map[key]bool{}
	lastEnd := map[int]int64{}
	var prevEnd int64
	delivered := 0
	for _, s := range log.steps {
		if s.End < prevEnd {
			t.Fatalf("step %+v ends before the previous one (%d)", s, prevEnd)
		}
		prevEnd = s.End
		if s.End < from || s.Start >= to || s.Start > s.End {
			t.Fatalf("step %+v outside the window", s)
		}
		switch s.Kind {
		case StepGRO, StepSoftIRQ:
			if s.Start < lastEnd[s.Core] {
				t.Fatalf("core %d: softirq steps overlap at %d", s.Core, s.Start)
			}
			lastEnd[s.Core] = s.End
			if s.Msg >= 0 {
				k := key{s.Msg, s.Pkt}
				if s.Kind == StepGRO {
					gro[k] = true
				} else {
					delete(gro, k)
				}
			}
		case StepCopy:
			if s.Delivered {
				delivered++
			}
		}
	}
	// Packets GRO'd just before the window's end may be SoftIRQ'd after it.
	late := 0
	for range gro {
		late++
	}
	if late > 200 {
		t.Errorf("%d packets GRO'd in the window were never SoftIRQ'd", late)
	}
	if delivered == 0 {
		t.Error("no delivery traced")
	}
}
