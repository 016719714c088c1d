package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/homalb/homalb/sim"
)

const (
	// progressDelay: runs shorter than this (wall time) show no bar at all.
	progressDelay = 2 * time.Second
	// progressEvery is the shortest time between two redraws.
	progressEvery = 150 * time.Millisecond
)

// progressBar draws one line on a terminal: the simulated time done over
// all runs, the fraction, and an estimate of the wall time left. It draws
// nothing during the first progressDelay, and a nil *progressBar draws
// nothing at all, so callers need not care whether stderr is a terminal.
// Its methods may be called from several goroutines (compare runs in
// parallel).
type progressBar struct {
	w     io.Writer
	now   func() time.Time
	width int // terminal columns
	label string
	unit  func(done, end int64) string // renders the amounts; simulated time by default

	mu        sync.Mutex
	start     time.Time
	done, end []int64 // simulated ns, per run
	shown     bool
	drawn     time.Time
}

// newProgress returns the progress bar of runs that simulate up to ends[i] ns
// each, drawn on stderr — or nil when stderr is not a terminal.
func newProgress(stderr io.Writer, label string, ends []int64) *progressBar {
	f, ok := stderr.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) || os.Getenv("TERM") == "dumb" {
		return nil
	}
	width := 80
	if w, _, err := term.GetSize(int(f.Fd())); err == nil && w >= 20 {
		width = w
	}
	return newProgressBar(f, label, ends, width, time.Now)
}

func newProgressBar(w io.Writer, label string, ends []int64, width int, now func() time.Time) *progressBar {
	return &progressBar{w: w, now: now, width: width, label: label, start: now(),
		done: make([]int64, len(ends)), end: append([]int64(nil), ends...)}
}

// newRunsProgress is a progress bar counting whole runs (for sweeps), nil
// when stderr is not a terminal. Report progress with update(0, done, total).
func newRunsProgress(stderr io.Writer, label string) *progressBar {
	p := newProgress(stderr, label, []int64{0})
	if p != nil {
		p.unit = func(done, end int64) string { return fmt.Sprintf("%d / %d runs", done, end) }
	}
	return p
}

// hook returns the sim.RunOptions.Progress function of run i (nil for a nil
// bar).
func (p *progressBar) hook(i int) func(done, end int64) {
	if p == nil {
		return nil
	}
	return func(done, end int64) { p.update(i, done, end) }
}

func (p *progressBar) update(i int, done, end int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done[i], p.end[i] = done, max(end, done)
	now := p.now()
	if now.Sub(p.start) < progressDelay || p.shown && now.Sub(p.drawn) < progressEvery {
		return
	}
	p.shown, p.drawn = true, now
	fmt.Fprintf(p.w, "\r%s\x1b[K", p.line(now))
}

// line renders the bar: label [=====>     ]  42%  1.2 s / 3.1 s simulated  ETA 4s
func (p *progressBar) line(now time.Time) string {
	var done, end int64
	for i := range p.done {
		done += p.done[i]
		end += p.end[i]
	}
	frac := 0.0
	if end > 0 {
		frac = min(float64(done)/float64(end), 1)
	}
	eta := "?"
	if frac > 0 {
		elapsed := now.Sub(p.start)
		eta = fmtETA(time.Duration(float64(elapsed) * (1 - frac) / frac))
	}
	amounts := fmtSimTime(done) + " / " + fmtSimTime(end) + " simulated"
	if p.unit != nil {
		amounts = p.unit(done, end)
	}
	right := fmt.Sprintf(" %3.0f%%  %s  ETA %s", 100*frac, amounts, eta)
	left := p.label + " "
	barW := p.width - 1 - utf8.RuneCountInString(left+right) - 2
	if barW < 10 {
		return strings.TrimSpace(left + right)
	}
	filled := int(frac * float64(barW))
	bar := strings.Repeat("=", filled)
	if filled < barW {
		bar += ">" + strings.Repeat(" ", barW-filled-1)
	}
	return left + "[" + bar + "]" + right
}

// finish erases the bar, if it was drawn, so that what follows starts on a
// clean line.
func (p *progressBar) finish() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.shown = false
	}
}

func fmtSimTime(ns int64) string {
	if ns >= 1e9 {
		return fmt.Sprintf("%.2f s", float64(ns)/1e9)
	}
	return fmt.Sprintf("%.0f ms", float64(ns)/1e6)
}

func fmtETA(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%ds", int(d.Round(time.Second)/time.Second))
	}
	d = d.Round(time.Second)
	return fmt.Sprintf("%dm%02ds", int(d/time.Minute), int(d%time.Minute/time.Second))
}

// runEnd is the simulated time a run of c ends at, at the latest.
func runEnd(c *sim.Config) int64 { return c.WarmupNs + c.DurationNs + c.DrainNs }
