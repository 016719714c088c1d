//go:build linux

package rx

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// pinThread locks the calling goroutine to its OS thread and restricts that
// thread to cpu. The goroutine must exit without unlocking, so that the
// runtime retires a thread whose affinity was changed instead of reusing it.
// On error the goroutine stays locked to an unpinned thread, which is the
// fallback: the pipeline still works, without the placement.
func pinThread(cpu int) error {
	runtime.LockOSThread()
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("sched_setaffinity(cpu %d): %w", cpu, err)
	}
	return nil
}

// allowedCPUs lists the CPUs the process may run on, in increasing order.
func allowedCPUs() ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("sched_getaffinity: %w", err)
	}
	var cpus []int
	for c := 0; len(cpus) < set.Count(); c++ {
		if set.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	return cpus, nil
}

// currentCPU returns the CPU the calling thread runs on (getcpu(2)); ok is
// false when the system cannot tell.
func currentCPU() (cpu int, ok bool) {
	var c uint32
	if _, _, e := unix.RawSyscall(unix.SYS_GETCPU, uintptr(unsafe.Pointer(&c)), 0, 0); e != 0 {
		return 0, false
	}
	return int(c), true
}

// threadCPU returns the CPU time the calling thread has used, in ns
// (CLOCK_THREAD_CPUTIME_ID), or -1 when the system cannot tell.
func threadCPU() int64 {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts) != nil {
		return -1
	}
	return ts.Nano()
}

// raisePriority makes the calling thread SCHED_FIFO at the lowest real-time
// priority, so that it preempts ordinary threads on its CPU as softirq work
// preempts application threads in the kernel. It needs CAP_SYS_NICE (or an
// RLIMIT_RTPRIO); the kernel's real-time throttling still leaves other
// threads a share of a CPU that such a thread would keep busy.
func raisePriority() error {
	attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: 1}
	if err := unix.SchedSetAttr(0, &attr, 0); err != nil {
		return fmt.Errorf("sched_setattr(SCHED_FIFO): %w", err)
	}
	return nil
}
