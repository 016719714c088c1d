//go:build !race

package workload

// raceDetector: see race_test.go.
const raceDetector = false
