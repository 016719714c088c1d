package rx

import "testing"

// BenchmarkEchoBare is BenchmarkEcho's floor: the same calls against
// BareEcho, one thread with rx's batched I/O and no pipeline. What
// BenchmarkEcho spends beyond it per call is the pipeline's: run both side
// by side,
//
//	go test -run XXX -bench Echo -benchtime 20000x ./rx
func BenchmarkEchoBare(b *testing.B) {
	e, err := ListenBareEcho("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	echoCalls(b, e.Addr().String())
}
