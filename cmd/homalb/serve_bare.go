package main

import (
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/homalb/homalb/rx"
)

// runBare runs serve --bare: rx.BareEcho, the echo path's floor, in place
// of the pipeline, with serve's signals and CPU line.
func runBare(cmd *cobra.Command, f *serveFlags) error {
	var extra []string
	cmd.Flags().Visit(func(fl *pflag.Flag) {
		switch fl.Name {
		case "bare", "addr", "duration":
		default:
			extra = append(extra, "--"+fl.Name)
		}
	})
	if len(extra) > 0 {
		return badInput(fmt.Errorf("serve: --bare runs no pipeline; it takes --addr and --duration, not %s", strings.Join(extra, ", ")))
	}
	if _, err := netip.ParseAddrPort(f.addr); err != nil {
		return badInput(fmt.Errorf("serve: --addr %q: want IP:PORT", f.addr))
	}
	if f.duration < 0 {
		return badInput(fmt.Errorf("serve: --duration %v: must not be negative", f.duration))
	}
	out := cmd.OutOrStdout()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGUSR1)
	defer signal.Stop(sigs)
	e, err := rx.ListenBareEcho(f.addr)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	fmt.Fprintf(out, "homalb serve: bare echo on %s (the floor: one thread, no pipeline); SIGUSR1 prints its counts, SIGINT stops\n", e.Addr())
	counts := func() {
		fmt.Fprintf(out, "bare echo: %d requests answered, %d datagrams ignored\n", e.Answered(), e.Ignored())
		fmt.Fprintln(out, cpuLine(e.Answered()))
	}
	err = untilStopped(sigs, f.duration, nil, func() error { counts(); return nil })
	closeErr := e.Close()
	if err != nil {
		return err
	}
	counts()
	if closeErr != nil {
		return fmt.Errorf("serve: %w", closeErr)
	}
	return nil
}
