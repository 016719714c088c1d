package report

import (
	"math"
	"strconv"
	"testing"
)

// TestPolicyColorsColourBlindSafe: every two policy colours differ by at
// least 15 ΔE (CIELAB 1976; about 2.3 is a just noticeable difference) for
// normal vision and under simulated deuteranopia and protanopia (the
// Viénot–Brettel–Mollon 1999 matrices on linear RGB). The palette this
// replaced put gen3 and same, and gen5 and oracle6, within a few units.
func TestPolicyColorsColourBlindSafe(t *testing.T) {
	const minDeltaE = 15
	sims := map[string][3][3]float64{
		"normal":       {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}},
		"deuteranopia": {{0.29275, 0.70725, 0}, {0.29275, 0.70725, 0}, {-0.02234, 0.02234, 1}},
		"protanopia":   {{0.11238, 0.88762, 0}, {0.11238, 0.88762, 0}, {0.00401, -0.00401, 1}},
	}
	names := make([]string, 0, len(policyColors))
	for p := range policyColors {
		names = append(names, p)
	}
	for vision, m := range sims {
		lab := map[string][3]float64{}
		for _, p := range names {
			lab[p] = toLab(mul(m, linearRGB(t, policyColors[p])))
		}
		for i, a := range names {
			for _, b := range names[i+1:] {
				if d := deltaE(lab[a], lab[b]); d < minDeltaE {
					t.Errorf("%s: %s %s and %s %s differ by ΔE %.1f, want ≥ %d", vision, a, policyColors[a], b, policyColors[b], d, minDeltaE)
				}
			}
		}
	}
}

func linearRGB(t *testing.T, hex string) [3]float64 {
	t.Helper()
	v, err := strconv.ParseUint(hex[1:], 16, 32)
	if err != nil || len(hex) != 7 {
		t.Fatalf("colour %q", hex)
	}
	var out [3]float64
	for i := range out {
		c := float64(v>>(16-8*i)&0xff) / 255
		if c <= 0.04045 {
			out[i] = c / 12.92
		} else {
			out[i] = math.Pow((c+0.055)/1.055, 2.4)
		}
	}
	return out
}

func mul(m [3][3]float64, v [3]float64) [3]float64 {
	var out [3]float64
	for i := range out {
		out[i] = math.Max(0, m[i][0]*v[0]+m[i][1]*v[1]+m[i][2]*v[2])
	}
	return out
}

// toLab converts linear sRGB (D65) to CIELAB.
func toLab(c [3]float64) [3]float64 {
	x := (0.4124*c[0] + 0.3576*c[1] + 0.1805*c[2]) / 0.95047
	y := 0.2126*c[0] + 0.7152*c[1] + 0.0722*c[2]
	z := (0.0193*c[0] + 0.1192*c[1] + 0.9505*c[2]) / 1.08883
	f := func(u float64) float64 {
		if u > 0.008856 {
			return math.Cbrt(u)
		}
		return 7.787*u + 16.0/116
	}
	return [3]float64{116*f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))}
}

func deltaE(a, b [3]float64) float64 {
	return math.Sqrt((a[0]-b[0])*(a[0]-b[0]) + (a[1]-b[1])*(a[1]-b[1]) + (a[2]-b[2])*(a[2]-b[2]))
}
