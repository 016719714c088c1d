package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// TestProgressBar: nothing in the first 2 s, then a bar with the fraction of
// simulated time done and an ETA, redrawn at most every progressEvery,
// erased at the end.
func TestProgressBar(t *testing.T) {
	var buf bytes.Buffer
	clk := &fakeClock{time.Unix(1000, 0)}
	p := newProgressBar(&buf, "simulating 2 policies", []int64{100e6, 100e6}, 80, clk.now)
	h0, h1 := p.hook(0), p.hook(1)
	clk.advance(time.Second)
	h0(10e6, 100e6)
	if buf.Len() != 0 {
		t.Fatalf("drawn before %v: %q", progressDelay, buf.String())
	}
	clk.advance(1500 * time.Millisecond) // 2.5 s, 60 of 200 ms done
	h1(50e6, 100e6)
	line := buf.String()
	if !strings.HasPrefix(line, "\r") || !strings.Contains(line, " 30%") || !strings.Contains(line, "60 ms / 200 ms simulated") ||
		!strings.Contains(line, "ETA 6s") || !strings.Contains(line, "[") {
		t.Errorf("bar %q", line)
	}
	if w := utf8.RuneCountInString(strings.TrimSuffix(strings.TrimPrefix(line, "\r"), "\x1b[K")); w >= 80 {
		t.Errorf("bar is %d columns on an 80-column terminal", w)
	}
	buf.Reset()
	clk.advance(progressEvery / 2)
	h0(20e6, 100e6)
	if buf.Len() != 0 {
		t.Errorf("redrawn within %v", progressEvery)
	}
	clk.advance(progressEvery)
	h0(100e6, 100e6)
	if !strings.Contains(buf.String(), " 75%") {
		t.Errorf("bar %q", buf.String())
	}
	buf.Reset()
	p.finish()
	if buf.String() != "\r\x1b[K" {
		t.Errorf("finish wrote %q, want the line erased", buf.String())
	}
	// A narrow terminal gets the numbers without the bar.
	q := newProgressBar(&buf, "x", []int64{1}, 30, clk.now)
	clk.advance(3 * time.Second)
	buf.Reset()
	q.hook(0)(1, 1)
	if l := strings.TrimSuffix(buf.String(), "\x1b[K"); strings.Contains(l, "[") || !strings.Contains(l, "100%") {
		t.Errorf("narrow bar %q", buf.String())
	}
}

// TestProgressOnlyOnTerminal: no bar for buffers, pipes and files; a nil
// bar is harmless.
func TestProgressOnlyOnTerminal(t *testing.T) {
	if newProgress(&bytes.Buffer{}, "x", []int64{1}) != nil {
		t.Error("bar on a buffer")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if newProgress(w, "x", []int64{1}) != nil {
		t.Error("bar on a pipe")
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if newProgress(f, "x", []int64{1}) != nil {
		t.Error("bar on a file")
	}
	var p *progressBar
	if p.hook(0) != nil {
		t.Error("nil bar has a hook")
	}
	p.finish()
}

func TestFmtETA(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "0s", 1400 * time.Millisecond: "1s", 59 * time.Second: "59s", 65 * time.Second: "1m05s", 3 * time.Hour: "180m00s"} {
		if got := fmtETA(d); got != want {
			t.Errorf("fmtETA(%v) = %q, want %q", d, got, want)
		}
	}
}
