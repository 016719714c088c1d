// Package testenv holds what the project's tests share about their
// environment.
package testenv

import "os"

// UseBuiltinWorkloads unsets $HOMALB_WORKLOADS, so that w1..w5 are the
// tables compiled into the program whatever the developer's shell points
// at: the tests check numbers of the published tables. Call it from
// TestMain.
func UseBuiltinWorkloads() {
	os.Unsetenv("HOMALB_WORKLOADS")
}
