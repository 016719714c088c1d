package report

import (
	"context"
	"fmt"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// chromium is where Debian's chromium package puts the browser.
const chromium = "/usr/bin/chromium"

// TestRenderInChromium renders a report in headless Chromium and checks the
// screenshot is a real picture: the size asked for, many colours, a good
// part of it not white, and the policies' colours in it (the SVG was drawn).
func TestRenderInChromium(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		t.Skipf("skipped: %s is absent, so the report cannot be rendered (apt-get install chromium to run this test); the structural tests of the HTML still ran", chromium)
	}
	if testing.Short() {
		t.Skip("skipped with -short: rendering in Chromium takes a few seconds")
	}
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	shot := filepath.Join(dir, "report.png")
	f, err := os.Create(page)
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteHTML(f, realResults(t), Options{Title: "render test"}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--screenshot="+shot, "--window-size=1400,2400", "file://"+page)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	pf, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer pf.Close()
	img, err := png.Decode(pf)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1400 || b.Dy() != 2400 {
		t.Errorf("screenshot is %v, want 1400×2400", b)
	}
	colors := map[color.RGBA]int{}
	nonWhite := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bb, _ := img.At(x, y).RGBA()
			c := color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(bb >> 8), 255}
			colors[c]++
			if c.R < 240 || c.G < 240 || c.B < 240 {
				nonWhite++
			}
		}
	}
	if len(colors) < 200 {
		t.Errorf("only %d colours: the page looks blank", len(colors))
	}
	if frac := float64(nonWhite) / float64(b.Dx()*b.Dy()); frac < 0.05 {
		t.Errorf("only %.1f%% of the screenshot is not white", 100*frac)
	}
	t.Logf("%d colours, %.1f%% not white, gen2 %d px, gen3 %d px", len(colors), 100*float64(nonWhite)/float64(b.Dx()*b.Dy()), colors[hexColor(t, colorOf("gen2"))], colors[hexColor(t, colorOf("gen3"))])
	for _, p := range []string{"gen2", "gen3"} {
		if n := colors[hexColor(t, colorOf(p))]; n < 30 {
			t.Errorf("%s's colour %s appears in %d pixels: its series were not drawn", p, colorOf(p), n)
		}
	}
}

func hexColor(t *testing.T, s string) color.RGBA {
	var c color.RGBA
	c.A = 255
	if _, err := fmt.Sscanf(s, "#%02x%02x%02x", &c.R, &c.G, &c.B); err != nil {
		t.Fatal(err)
	}
	return c
}
