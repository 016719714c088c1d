// Package testenv holds what the project's tests share about their
// environment: where the published workload tables are.
package testenv

import (
	"os"
	"path/filepath"
)

// UseSharedWorkloads points $HOMALB_WORKLOADS at ../shared/workloads beside
// the repository (where CI and developers keep the W1–W5 tables; they are
// never copied into the repository), unless it is already set. Call it from
// TestMain: tests run in their package's directory, at any depth.
func UseSharedWorkloads() {
	if os.Getenv("HOMALB_WORKLOADS") != "" {
		return
	}
	dir, err := os.Getwd()
	if err != nil {
		return
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			os.Setenv("HOMALB_WORKLOADS", filepath.Join(dir, "..", "shared", "workloads"))
			return
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return
		}
		dir = parent
	}
}
