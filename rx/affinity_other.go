//go:build !linux

package rx

import (
	"errors"
	"runtime"
)

// errNoAffinity is the fallback's answer: this system has no
// sched_setaffinity, so threads run where the scheduler puts them.
var errNoAffinity = errors.New("thread affinity is not supported on " + runtime.GOOS)

// pinThread locks the calling goroutine to its OS thread; it cannot restrict
// the thread to cpu on this system and says so.
func pinThread(cpu int) error {
	runtime.LockOSThread()
	return errNoAffinity
}

// allowedCPUs lists CPUs 0..NumCPU−1.
func allowedCPUs() ([]int, error) {
	cpus := make([]int, runtime.NumCPU())
	for i := range cpus {
		cpus[i] = i
	}
	return cpus, nil
}

// currentCPU cannot tell on this system.
func currentCPU() (cpu int, ok bool) { return 0, false }

// threadCPU cannot tell on this system.
func threadCPU() int64 { return -1 }

// raisePriority cannot change thread priorities on this system.
func raisePriority() error { return errNoPriority }

var errNoPriority = errors.New("thread priorities are not supported on " + runtime.GOOS)
