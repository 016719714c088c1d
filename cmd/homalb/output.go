package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/homalb/homalb/report"
)

// Every file a command writes goes through writeOutput, and every output
// path is checked by checkOutputs before the work starts, so that a typo in
// a path costs one line, not a whole simulation.

// checkOutputs checks, before any work, that each output (flag name → path)
// can be written: "-" and "" pass; otherwise the path must not be a
// directory and its directory must exist and accept a new file. It also
// checks that at most one output is stdout.
func checkOutputs(outputs ...[2]string) error {
	if err := oneStdout(outputs...); err != nil {
		return err
	}
	for _, o := range outputs {
		flag, path := o[0], o[1]
		if path == "" || path == "-" {
			continue
		}
		if st, err := os.Stat(path); err == nil && st.IsDir() {
			return fmt.Errorf("--%s %s is a directory; give a file name", flag, path)
		}
		dir := filepath.Dir(path)
		st, err := os.Stat(dir)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("--%s %s: directory %s does not exist; create it or pick another path", flag, path, dir)
		case err != nil:
			return fmt.Errorf("--%s %s: %w", flag, path, errors.Unwrap(err))
		case !st.IsDir():
			return fmt.Errorf("--%s %s: %s is not a directory", flag, path, dir)
		}
		f, err := os.CreateTemp(dir, ".homalb-check-*")
		if err != nil {
			return fmt.Errorf("--%s %s: cannot create a file in %s: %w", flag, path, dir, unwrapPath(err))
		}
		f.Close()
		os.Remove(f.Name())
	}
	return nil
}

// unwrapPath drops a *PathError's own (temporary) file name.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// writeJSON writes v, indented, to path ("-" for w), through writeOutput.
func writeJSON(path string, w io.Writer, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	return writeOutput(path, w, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// writeReport converts v (runs of the simulator or of the real pipeline)
// to report results and writes them with write to path ("-" for w), through
// writeOutput: the one way sim, compare and bench write CSV and HTML.
func writeReport(path string, w io.Writer, v any, write func(io.Writer, []*report.Result) error) error {
	return writeOutput(path, w, func(w io.Writer) error {
		rs, err := report.Results(v)
		if err != nil {
			return err
		}
		return write(w, rs)
	})
}

// writeOutput writes what write produces to path, or to stdout for "-". A
// file is written under a temporary name and renamed at the end, so a failed
// write never leaves half a file under the name asked for.
func writeOutput(path string, stdout io.Writer, write func(io.Writer) error) error {
	if path == "-" {
		return write(stdout)
	}
	if path == "" {
		return errors.New("empty output file name")
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		// name the file asked for, not the temporary one
		return fmt.Errorf("write %s: %w", path, unwrapPath(err))
	}
	defer os.Remove(tmp.Name()) // after a successful rename, a no-op
	bw := bufio.NewWriterSize(tmp, 256<<10)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, unwrapPath(err))
	}
	return nil
}

// oneStdout checks that at most one of the outputs (flag name → path) is
// "-": they cannot share stdout.
func oneStdout(outputs ...[2]string) error {
	var dash []string
	for _, o := range outputs {
		if o[1] == "-" {
			dash = append(dash, "--"+o[0])
		}
	}
	if len(dash) > 1 {
		return fmt.Errorf("%s and %s both write to stdout (-): give one of them a file", dash[0], dash[1])
	}
	return nil
}
