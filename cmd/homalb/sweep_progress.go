package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/term"
)

// progressLine shows "runs 12/40, ETA 1m3s" on one rewritten line of a
// terminal, and nothing when the writer is not a terminal (CI logs, pipes).
type progressLine struct {
	w     io.Writer
	what  string
	on    bool
	start time.Time
}

func newProgressLine(w io.Writer, what string) *progressLine {
	f, ok := w.(*os.File)
	return &progressLine{w: w, what: what, on: ok && term.IsTerminal(int(f.Fd())), start: time.Now()}
}

func (p *progressLine) update(done, total int) {
	if !p.on || total == 0 {
		return
	}
	eta := "?"
	if done > 0 {
		left := time.Duration(float64(time.Since(p.start)) * float64(total-done) / float64(done))
		eta = left.Round(time.Second).String()
	}
	fmt.Fprintf(p.w, "\r%s %d/%d, ETA %s   ", p.what, done, total, eta)
}

func (p *progressLine) finish() {
	if p.on {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
