// Package rxtest holds test helpers for code that talks to the real receive
// pipeline.
package rxtest

import (
	"testing"

	"github.com/homalb/homalb/rx"
)

// EchoServer starts an rx echo server on a free loopback port — gen3 with
// one GRO core, one SoftIRQ core and two application threads, which runs on
// one or two CPUs — and closes it when the test ends.
func EchoServer(t testing.TB) *rx.Server {
	t.Helper()
	s, err := rx.Listen(rx.Config{Policy: "gen3", GROCores: []int{0}, SoftIRQCores: []int{1}, AppCores: []int{1}, Threads: 2, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve(rx.Echo) }()
	t.Cleanup(func() { _ = s.Close() })
	return s
}
