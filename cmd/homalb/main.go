// Command homalb studies how Homa's receive-side load balancers spread
// packet work over cores: in a deterministic simulator of a many-core host,
// and in a real userspace receive pipeline over UDP.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// usageError marks bad input (flags, names, files): the CLI prints it on one
// line and exits with status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// badInput wraps err as bad input (exit status 2).
func badInput(err error) error {
	if err == nil {
		return nil
	}
	return usageError{err}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "homalb",
		Short: "Homa receive-side load balancing: policies, simulator, receive pipeline",
		Long: `homalb studies how incoming packet work is spread over the cores of a host
(NAPI/GRO, SoftIRQ, application threads) under Homa's Gen2 and Gen3 balancers
and the policies that came before and after them.`,
		Version:       version(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate("homalb {{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return badInput(err) })
	root.AddCommand(newCompareCmd(), newSimCmd(), newSweepCmd(), newMergeCmd(), newTableCmd(), newVersusCmd(), newPoliciesCmd(), newWorkloadCmd(), newReportCmd(), newTraceCmd(), newValidateCmd())
	root.AddCommand(newServeCmd(), newLoadCmd(), newBenchCmd())
	strictCompletion(root)
	return root
}

// strictCompletion makes 'completion SHELL' for a shell cobra does not know
// an error (exit 2) instead of its help text with status 0.
func strictCompletion(root *cobra.Command) {
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() != "completion" {
			continue
		}
		var shells []string
		for _, s := range c.Commands() {
			shells = append(shells, s.Name())
		}
		c.RunE = func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			return badInput(fmt.Errorf("completion %q: no such shell; want one of %s", args[0], strings.Join(shells, ", ")))
		}
	}
}

// version names the build: the module version when installed with go
// install, else the VCS revision the binary was built from.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown version)"
	}
	v := bi.Main.Version
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	switch {
	case v != "" && v != "(devel)":
		return v + ", " + bi.GoVersion
	case rev != "":
		return "devel " + rev + dirty + ", " + bi.GoVersion
	}
	return "devel, " + bi.GoVersion
}

func main() {
	os.Exit(run(os.Args[1:]))
}

// run executes the CLI and returns the exit status: 0 on success, 2 for bad
// input, 1 for any other failure.
func run(args []string) int {
	return runWith(args, os.Stdout, os.Stderr)
}

// runWith is run with the command's output and errors sent to the given
// writers, for tests.
func runWith(args []string, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "homalb: %v\n", err)
	var ue usageError
	if errors.As(err, &ue) || isCobraUsageError(err) {
		return 2
	}
	return 1
}

// isCobraUsageError recognises the errors cobra itself returns for a wrong
// command line (unknown command, wrong number of arguments), which it does not
// type.
func isCobraUsageError(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "accepts ", "requires at least", "requires at most", "requires exactly", "unknown flag", "unknown shorthand", "invalid argument", "flag needs an argument", "required flag"} {
		if strings.HasPrefix(msg, p) || strings.Contains(msg, p) && strings.HasPrefix(p, "unknown") {
			return true
		}
	}
	return false
}
