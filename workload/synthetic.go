package workload

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
)

// A synthetic family: name, usage for help text, and the parser of its
// parameters (the text after "name:", lower-cased).
type familySpec struct {
	name, usage, help string
	nparams           int
	build             func(p []float64, maxBytes int) (Dist, error)
}

// families are the synthetic distributions Resolve knows, in help order.
var families = []familySpec{
	{"fixed", "fixed:N", "every message N bytes", 1, buildFixed},
	{"uniform", "uniform:A,B", "sizes uniform on the integers A..B", 2, buildUniform},
	{"bimodal", "bimodal:A,B,P", "A bytes with probability P, else B bytes", 3, buildBimodal},
	{"exp", "exp:MEAN", "exponential rounded up to whole bytes (geometric), mean exactly MEAN before truncation", 1, buildExp},
	{"lognormal", "lognormal:MEDIAN,SIGMA", "ceil(MEDIAN*e^(SIGMA*Z)), Z standard normal", 2, buildLognormal},
	{"pareto", "pareto:MIN,ALPHA", "ceil(X), P(X > x) = (MIN/x)^ALPHA for x >= MIN (heavy tail)", 2, buildPareto},
}

// parse parses the parameters of f and builds the distribution.
func (f familySpec) parse(params string, maxBytes int) (Dist, error) {
	fields := strings.Split(params, ",")
	if len(fields) != f.nparams || params == "" {
		return nil, fmt.Errorf("%s wants %d parameter(s): %s", f.name, f.nparams, f.usage)
	}
	p := make([]float64, len(fields))
	for i, s := range fields {
		v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%s: parameter %q is not a finite number (%s)", f.name, s, f.usage)
		}
		p[i] = v
	}
	d, err := f.build(p, maxBytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.usage, err)
	}
	return d, nil
}

// canonical formats a family name and parameters as a spec.
func canonical(fam string, p ...float64) string {
	s := make([]string, len(p))
	for i, v := range p {
		s[i] = num(v)
	}
	return fam + ":" + strings.Join(s, ",")
}

// num formats v without exponent when it is a whole number of bytes.
func num(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// wholeBytes checks that v is a whole number of bytes in [1, MaxSize].
func wholeBytes(what string, v float64) (int, error) {
	if v != math.Trunc(v) || v < 1 || v > MaxSize {
		return 0, fmt.Errorf("%s = %s: want a whole number of bytes in [1, %d]", what, num(v), MaxSize)
	}
	return int(v), nil
}

func buildFixed(p []float64, maxBytes int) (Dist, error) {
	n, err := wholeBytes("N", p[0])
	if err != nil {
		return nil, err
	}
	return newTable(canonical("fixed", p...), fmt.Sprintf("every message %d B", n), []int{n}, []float64{1}, maxBytes), nil
}

func buildBimodal(p []float64, maxBytes int) (Dist, error) {
	a, err := wholeBytes("A", p[0])
	if err != nil {
		return nil, err
	}
	b, err := wholeBytes("B", p[1])
	if err != nil {
		return nil, err
	}
	pa := p[2]
	if pa < 0 || pa > 1 {
		return nil, fmt.Errorf("probability P = %s: want it in [0, 1]", num(pa))
	}
	name := canonical("bimodal", p...)
	desc := fmt.Sprintf("%d B with probability %s, else %d B", a, num(pa), b)
	var sizes []int
	var cum []float64
	switch {
	case a == b:
		sizes, cum = []int{a}, []float64{1}
	case a < b:
		sizes, cum = []int{a, b}, []float64{pa, 1}
	default:
		sizes, cum = []int{b, a}, []float64{1 - pa, 1}
	}
	return newTable(name, desc, sizes, cum, maxBytes), nil
}

func buildUniform(p []float64, maxBytes int) (Dist, error) {
	a, err := wholeBytes("A", p[0])
	if err != nil {
		return nil, err
	}
	b, err := wholeBytes("B", p[1])
	if err != nil {
		return nil, err
	}
	if a > b {
		return nil, fmt.Errorf("bounds A = %d above B = %d", a, b)
	}
	return newSynth(canonical("uniform", p...), fmt.Sprintf("sizes uniform on the integers %d..%d B", a, b), uniform{a: a, b: b}, maxBytes), nil
}

func buildExp(p []float64, maxBytes int) (Dist, error) {
	m := p[0]
	if !(m >= 1 && m <= MaxSize) {
		return nil, fmt.Errorf("MEAN = %s: want bytes in [1, %d]", num(m), MaxSize)
	}
	g := geometric{mean: m, lnq: math.Log1p(-1 / m)}
	return newSynth(canonical("exp", p...), fmt.Sprintf("exponential rounded up to whole bytes (geometric), mean %s B before truncation", num(m)), g, maxBytes), nil
}

// Parameter ranges of the continuous families: wide enough for any
// message-size model, narrow enough for the sums of Mean and BytesCDF to be
// exact and quick (see emSummer).
const (
	minSigma = 0.001
	maxSigma = 20
	minAlpha = 0.05
	maxAlpha = 100
)

func buildLognormal(p []float64, maxBytes int) (Dist, error) {
	med, sigma := p[0], p[1]
	if !(med > 0 && med <= MaxSize) {
		return nil, fmt.Errorf("MEDIAN = %s: want bytes in (0, %d]", num(med), MaxSize)
	}
	if !(sigma >= minSigma && sigma <= maxSigma) {
		return nil, fmt.Errorf("SIGMA = %s: want [%g, %g] (for SIGMA = 0 use fixed:N)", num(sigma), float64(minSigma), float64(maxSigma))
	}
	l := &lognormal{mu: math.Log(med), sigma: sigma}
	l.em = newEMSummer(l, 1, max(4096, int(math.Ceil(2000/sigma))), maxBytes)
	return newSynth(canonical("lognormal", p...), fmt.Sprintf("ceil(X), X lognormal with median %s B and sigma %s", num(med), num(sigma)), l, maxBytes), nil
}

func buildPareto(p []float64, maxBytes int) (Dist, error) {
	xm, alpha := p[0], p[1]
	if !(xm > 0 && xm <= MaxSize) {
		return nil, fmt.Errorf("MIN = %s: want bytes in (0, %d]", num(xm), MaxSize)
	}
	if !(alpha >= minAlpha && alpha <= maxAlpha) {
		return nil, fmt.Errorf("ALPHA = %s: want [%g, %g]", num(alpha), float64(minAlpha), float64(maxAlpha))
	}
	pa := &pareto{xm: xm, alpha: alpha}
	k := int(math.Floor(xm)) + 1 // P(X > j) = 1 for every j < k
	pa.em = newEMSummer(pa, k, max(k, 4096, int(math.Ceil(1000*(alpha+3)))), maxBytes)
	return newSynth(canonical("pareto", p...), fmt.Sprintf("ceil(X), X Pareto with P(X > x) = (%s/x)^%s for x >= %s B", num(xm), num(alpha), num(xm)), pa, maxBytes), nil
}

// family is a distribution of a real X > 0 that synth discretises to the
// size max(1, ceil(X)), truncated at its maximum.
type family interface {
	// sample draws X; it allocates nothing.
	sample(r *rand.Rand) float64
	// cdf returns P(X <= n) for an integer n >= 1.
	cdf(n int) float64
	// sf returns P(X > n) for an integer n >= 1, computed so as to be
	// accurate in the upper tail.
	sf(n int) float64
	// sfSum returns G(n) = sum of P(max(1, ceil X) > j) for j = 0..n-1
	// (the j = 0 term is 1), for 0 <= n <= the truncation given at
	// construction.
	sfSum(n int) float64
}

// synth is a synthetic distribution: size = min(max(1, ceil(X)), max).
//
// Its moments follow from G(n) = sum_{j<n} P(size > j): the mean is
// G(max), and E[size; size <= n] = G(n) - n*P(X > n) for 1 <= n < max.
type synth struct {
	name, desc string
	f          family
	max        int
	mean       float64
}

func newSynth(name, desc string, f family, maxBytes int) *synth {
	return &synth{name: name, desc: desc, f: f, max: maxBytes, mean: f.sfSum(maxBytes)}
}

func (s *synth) Name() string     { return s.name }
func (s *synth) Describe() string { return s.desc }
func (s *synth) Max() int         { return s.max }
func (s *synth) Mean() float64    { return s.mean }

// Sample returns min(max(1, ceil(X)), Max()) for a draw X of the family.
func (s *synth) Sample(r *rand.Rand) int {
	x := s.f.sample(r)
	switch {
	case !(x < float64(s.max)): // also NaN, +Inf
		return s.max
	case x <= 1:
		return 1
	}
	return int(math.Ceil(x))
}

// CDF returns P(size <= n): 0 below 1, P(X <= n) up to Max(), then 1.
func (s *synth) CDF(n int) float64 {
	switch {
	case n < 1:
		return 0
	case n >= s.max:
		return 1
	}
	return s.f.cdf(n)
}

func (s *synth) BytesCDF(n int) float64 {
	switch {
	case n < 1:
		return 0
	case n >= s.max:
		return 1
	}
	return clamp01((s.f.sfSum(n) - float64(n)*s.f.sf(n)) / s.mean)
}

func (s *synth) Quantile(p float64) int { return quantileSearch(s.CDF, 1, s.max, p) }

func (s *synth) Buckets(minFrac float64) []int { return buckets(s, minFrac) }

// uniform: X uniform on the integers a..b.
type uniform struct{ a, b int }

func (u uniform) sample(r *rand.Rand) float64 { return float64(u.a + r.IntN(u.b-u.a+1)) }

func (u uniform) width() float64 { return float64(u.b - u.a + 1) }

func (u uniform) cdf(n int) float64 {
	switch {
	case n < u.a:
		return 0
	case n >= u.b:
		return 1
	}
	return float64(n-u.a+1) / u.width()
}

func (u uniform) sf(n int) float64 {
	switch {
	case n < u.a:
		return 1
	case n >= u.b:
		return 0
	}
	return float64(u.b-n) / u.width()
}

func (u uniform) sfSum(n int) float64 {
	g := float64(min(n, u.a)) // sf(j) = 1 for j < a
	if hi := min(n, u.b); hi > u.a {
		// sum of (b-j)/W for j = a .. hi-1
		c := float64(hi - u.a)
		g += c * (2*float64(u.b-u.a) - c + 1) / 2 / u.width()
	}
	return g
}

// geometric: X exponential with rate -ln(q), q = 1 - 1/mean, so that
// P(ceil X > j) = q^j and ceil(X) is geometric with mean exactly mean.
type geometric struct {
	mean float64
	lnq  float64 // ln(1 - 1/mean); -Inf when mean == 1
}

func (g geometric) sample(r *rand.Rand) float64 { return r.ExpFloat64() / -g.lnq }
func (g geometric) cdf(n int) float64           { return -math.Expm1(float64(n) * g.lnq) }
func (g geometric) sf(n int) float64            { return math.Exp(float64(n) * g.lnq) }

// sfSum is sum_{j<n} q^j = mean * (1 - q^n).
func (g geometric) sfSum(n int) float64 {
	if n <= 0 {
		return 0
	}
	return g.mean * -math.Expm1(float64(n)*g.lnq)
}

// lognormal: X = e^(mu + sigma*Z), Z standard normal.
type lognormal struct {
	mu, sigma float64
	em        emSummer
}

func (l *lognormal) sample(r *rand.Rand) float64 { return math.Exp(l.mu + l.sigma*r.NormFloat64()) }
func (l *lognormal) z(x float64) float64         { return (math.Log(x) - l.mu) / l.sigma }
func (l *lognormal) cdf(n int) float64           { return normCDF(l.z(float64(n))) }
func (l *lognormal) sf(n int) float64            { return l.sfx(float64(n)) }
func (l *lognormal) sfSum(n int) float64         { return l.em.sum(n) }
func (l *lognormal) sfx(x float64) float64       { return normSF(l.z(x)) }

func (l *lognormal) pdf(x float64) float64 {
	z := l.z(x)
	return math.Exp(-z*z/2) / (math.Sqrt(2*math.Pi) * l.sigma * x)
}

// integral returns the integral of P(X > x) over [a, b], 0 < a <= b:
// E[X; a < X <= b] + b*P(X > b) - a*P(X > a), where
// E[X; X <= t] = e^(mu + sigma^2/2) * Phi(z(t) - sigma).
func (l *lognormal) integral(a, b float64) float64 {
	za, zb := l.z(a)-l.sigma, l.z(b)-l.sigma
	var mass float64 // Phi(zb) - Phi(za), from the side where it is precise
	if za > 0 {
		mass = normSF(za) - normSF(zb)
	} else {
		mass = normCDF(zb) - normCDF(za)
	}
	return math.Exp(l.mu+l.sigma*l.sigma/2)*mass + b*l.sfx(b) - a*l.sfx(a)
}

func normCDF(z float64) float64 { return 0.5 * math.Erfc(-z/math.Sqrt2) }
func normSF(z float64) float64  { return 0.5 * math.Erfc(z/math.Sqrt2) }

// pareto: P(X > x) = (xm/x)^alpha for x >= xm.
type pareto struct {
	xm, alpha float64
	em        emSummer
}

func (p *pareto) sample(r *rand.Rand) float64 {
	u := 1 - r.Float64() // in (0, 1]
	// xm * u^(-1/alpha), without math.Pow, which is several times slower.
	return p.xm * math.Exp(-math.Log(u)/p.alpha)
}

func (p *pareto) cdf(n int) float64 {
	if float64(n) <= p.xm {
		return 0
	}
	return -math.Expm1(p.alpha * math.Log(p.xm/float64(n)))
}

func (p *pareto) sf(n int) float64    { return p.sfx(float64(n)) }
func (p *pareto) sfSum(n int) float64 { return p.em.sum(n) }

func (p *pareto) sfx(x float64) float64 {
	if x <= p.xm {
		return 1
	}
	return math.Exp(p.alpha * math.Log(p.xm/x))
}

func (p *pareto) pdf(x float64) float64 {
	if x < p.xm {
		return 0
	}
	return p.alpha * p.sfx(x) / x
}

// integral returns the integral of (xm/x)^alpha over [a, b], xm <= a <= b:
// a*sf(a) * ((b/a)^(1-alpha) - 1) / (1-alpha), or a*sf(a)*ln(b/a) at
// alpha = 1.
func (p *pareto) integral(a, b float64) float64 {
	l := math.Log(b / a)
	if e := 1 - p.alpha; math.Abs(e) > 1e-12 {
		l = math.Expm1(e*l) / e
	}
	return a * p.sfx(a) * l
}

// smooth is what emSummer needs of a family: P(X > x) on the reals, its
// density, and the integral of P(X > x) between two points of its tail.
type smooth interface {
	sfx(x float64) float64
	pdf(x float64) float64
	integral(a, b float64) float64
}

// emStride is the distance between the checkpoints of emSummer.
const emStride = 256

// emSummer computes G(n) = sum_{j<n} P(X > j) exactly (to float64 rounding)
// for a family whose P(X > x) is 1 below k and smooth from k on:
//
//   - for n <= k, G(n) = n;
//   - from k to j0 the terms are added one by one (with checkpoints every
//     emStride terms, so a call adds at most emStride of them);
//   - beyond j0, where the survival function varies on a scale of
//     thousands of bytes or more, the Euler-Maclaurin formula
//     sum_{j=a}^{b} f(j) = integral_a^b f + (f(a)+f(b))/2 + (df(b)-df(a))/12
//     replaces the sum (df = -pdf, the derivative of f); the next term,
//     with the third derivative over 720, is below
//     1e-12 of the total there. A family chooses j0 so that this holds.
//
// Tests check it against plain summation and against the closed form of
// the geometric family.
type emSummer struct {
	s     smooth
	k, j0 int
	ck    []float64 // ck[i] = sum_{j=k}^{k+i*emStride-1} P(X > j)
	gj0   float64   // G(j0)
}

// newEMSummer prepares the sums up to maxBytes, the largest n that sum is
// called with.
func newEMSummer(s smooth, k, j0, maxBytes int) emSummer {
	k = min(k, maxBytes)
	j0 = min(max(j0, k), maxBytes)
	e := emSummer{s: s, k: k, j0: j0, ck: make([]float64, 0, (j0-k)/emStride+1)}
	var sum, comp float64 // Neumaier summation
	for j := k; ; j++ {
		if (j-k)%emStride == 0 {
			e.ck = append(e.ck, sum+comp)
		}
		if j == j0 {
			break
		}
		sum, comp = twoSum(sum, comp, s.sfx(float64(j)))
	}
	e.gj0 = float64(k) + sum + comp
	return e
}

// twoSum adds x to the compensated sum (sum, comp).
func twoSum(sum, comp, x float64) (float64, float64) {
	t := sum + x
	if math.Abs(sum) >= math.Abs(x) {
		comp += (sum - t) + x
	} else {
		comp += (x - t) + sum
	}
	return t, comp
}

func (e *emSummer) sum(n int) float64 {
	switch {
	case n <= e.k:
		return float64(max(n, 0))
	case n <= e.j0:
		i := (n - e.k) / emStride
		s := e.ck[i]
		for j := e.k + i*emStride; j < n; j++ {
			s += e.s.sfx(float64(j))
		}
		return float64(e.k) + s
	}
	// sum_{j=j0}^{n-1} P(X > j) by Euler-Maclaurin; f' = -pdf.
	a, b := float64(e.j0), float64(n-1)
	if a == b {
		return e.gj0 + e.s.sfx(a)
	}
	tail := e.s.integral(a, b) + (e.s.sfx(a)+e.s.sfx(b))/2 + (e.s.pdf(a)-e.s.pdf(b))/12
	return e.gj0 + tail
}
