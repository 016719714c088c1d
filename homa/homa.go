// Package homa holds the parameters of Homa's Linux module and of the Linux
// networking stack that more than one part of homalb needs: the simulator's
// machine profiles, the real pipeline's defaults and the workloads' size
// limit all take them from here, so that a value and its source live in one
// place. It imports nothing.
//
// Sources: "homa_init" is the module's initial parameter values; "perf#N" an
// item of the module's perf.txt; "Linux" the kernel's net/core/dev.c and
// kernel/softirq.c. The busy windows of the balancers live with them, in
// package balance.
package homa

import "time"

const (
	// MaxGROSkbs is max_gro_skbs: packets per GRO batch (homa_init).
	MaxGROSkbs = 20
	// NAPIBudget is the packets one NAPI poll may take (Linux's weight, 64).
	NAPIBudget = 64
	// NetdevBudget is the packets one net_rx_action may process before it
	// raises itself again (Linux's netdev_budget, 300).
	NetdevBudget = 300
	// MaxSoftirqRestarts is __do_softirq's MAX_SOFTIRQ_RESTART (Linux, 10).
	MaxSoftirqRestarts = 10
	// MaxSoftirqTime is __do_softirq's MAX_SOFTIRQ_TIME (Linux, 2 ms).
	MaxSoftirqTime = 2 * time.Millisecond

	// UnschedBytes is unsched_bytes: a message's bytes sent before any
	// grant; also the window a receiver keeps granted ahead (rtt_bytes;
	// perf#30: "60K is best").
	UnschedBytes = 60_000
	// MaxOvercommit is max_overcommit: messages granted at once (homa_init).
	MaxOvercommit = 8
	// MaxIncoming is max_incoming at 25 Gbps: bytes granted but not yet
	// received, over all messages.
	MaxIncoming = 480_000
	// MaxMessageLength is HOMA_MAX_MESSAGE_LENGTH, in bytes.
	MaxMessageLength = 1_000_000

	// Poll is poll_usecs: how long a receiving thread polls before it
	// sleeps (homa_init: 50 µs).
	Poll = 50 * time.Microsecond
	// CopyPackets is the most packets a thread copies to user space per
	// call before it looks again for work.
	CopyPackets = 20

	// HeaderBytes is a Homa data packet's headers on the wire: IPv4 (20)
	// and Homa's data header (56); Ethernet framing is not counted.
	HeaderBytes = 20 + 56
	// PayloadMTU1500 and PayloadMTU9000 are the message bytes of one packet
	// at an MTU of 1500 (xl170) and of 9000 bytes (jumbo frames, c6525-100g).
	PayloadMTU1500 = 1500 - HeaderBytes
	PayloadMTU9000 = 9000 - HeaderBytes
)
