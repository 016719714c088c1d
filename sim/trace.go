package sim

// StepKind says what a traced step was.
type StepKind uint8

const (
	StepGRO     StepKind = iota // driver + GRO of one packet (the interrupt included)
	StepSoftIRQ                 // SoftIRQ processing of one packet
	StepCopy                    // a thread's receive call and copy of a chunk of a message
	StepService                 // a thread serving a delivered message
)

func (k StepKind) String() string {
	return [...]string{"GRO", "SoftIRQ", "copy", "service"}[k]
}

// Step is one piece of work on one core, as a [Tracer] sees it. A thread's
// work preempted by softirq shows as several steps.
type Step struct {
	Core       int
	Kind       StepKind
	Start, End int64 // ns of simulated time
	Msg        int64 // the message's sequence number in the run; −1 for a GRANT
	Pkt        int32 // packet number within the message; −1 for a thread's step or a GRANT
	Bytes      int32 // the packet's payload, or the bytes copied
	Inline     bool  // a SoftIRQ step of a bypassed packet, on its GRO core
	Delivered  bool  // a copy step that completed its message
}

// Tracer receives the steps of a window of simulated time, in the order they
// end. It is called from the simulation loop: it must not keep the Step's
// address and should be quick.
type Tracer interface {
	Step(Step)
}

// RunOptions are the optional hooks of [RunWith].
type RunOptions struct {
	// Progress, if set, receives the simulated time done and the time the
	// run ends at most, in ns, every 65,536 events and once at the end.
	Progress func(done, end int64)
	// Tracer, if set, receives every step that overlaps [TraceFrom, TraceTo).
	Tracer             Tracer
	TraceFrom, TraceTo int64
}
