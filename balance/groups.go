package balance

import (
	"fmt"
	"strconv"
	"strings"
)

// Group is one Gen3 core group: a GRO core and the SoftIRQ cores it may hand
// batches to, in order of preference. A candidate of −1 ends the list early,
// as in Homa's gen3_softirq_cores; candidates after it must also be −1.
type Group struct {
	GRO     int
	SoftIRQ []int
}

// DeployedGen3Groups returns Gen3's layout as deployed on n logical cores
// (hyperthreads k and k+n/2 are siblings): GRO on cores 2i for i < n/4, and
// GRO core 2i hands off to 2i+1, n/2+2i, n/2+2i+1. On 20 cores:
// 0→{1,10,11}, 2→{3,12,13}, … 8→{9,18,19}. n must be a positive multiple of 4.
func DeployedGen3Groups(n int) ([]Group, error) {
	if n <= 0 || n%4 != 0 {
		return nil, fmt.Errorf("gen3: the deployed layout needs a core count divisible by 4, got %d; give the groups explicitly", n)
	}
	groups := make([]Group, n/4)
	for i := range groups {
		g := 2 * i
		groups[i] = Group{GRO: g, SoftIRQ: []int{g + 1, n/2 + g, n/2 + g + 1}}
	}
	return groups, nil
}

// GROCores returns the GRO cores of groups, in order.
func GROCores(groups []Group) []int {
	cores := make([]int, len(groups))
	for i, g := range groups {
		cores[i] = g.GRO
	}
	return cores
}

// ParseGroups parses a layout written "GRO:C1,C2,C3;GRO:C1,…", for example
// "0:1,10,11;2:3,12,13". It checks syntax only; ranges and overlaps are
// checked against a core count by [Options.Validate] and [New].
func ParseGroups(s string) ([]Group, error) {
	var groups []Group
	for _, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		gro, cands, ok := strings.Cut(part, ":")
		if !ok {
			return nil, fmt.Errorf("gen3 group %q: want GRO:CORE,CORE,…", part)
		}
		g, err := strconv.Atoi(strings.TrimSpace(gro))
		if err != nil {
			return nil, fmt.Errorf("gen3 group %q: GRO core %q is not an integer", part, gro)
		}
		grp := Group{GRO: g}
		for _, c := range strings.Split(cands, ",") {
			v, err := strconv.Atoi(strings.TrimSpace(c))
			if err != nil {
				return nil, fmt.Errorf("gen3 group %q: SoftIRQ core %q is not an integer", part, c)
			}
			grp.SoftIRQ = append(grp.SoftIRQ, v)
		}
		groups = append(groups, grp)
	}
	if len(groups) == 0 {
		return nil, fmt.Errorf("gen3 layout %q names no group", s)
	}
	return groups, nil
}

// FormatGroups writes groups in the syntax [ParseGroups] reads.
func FormatGroups(groups []Group) string {
	var b strings.Builder
	for i, g := range groups {
		if i > 0 {
			b.WriteByte(';')
		}
		b.WriteString(strconv.Itoa(g.GRO))
		b.WriteByte(':')
		for j, c := range g.SoftIRQ {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(c))
		}
	}
	return b.String()
}

// candidates is a Gen3 candidate list in the kernel's shape: a fixed array
// ended early by −1.
type candidates [MaxGen3Candidates]int32

// compileGroups checks groups against a host of n cores and returns the
// candidate list of every core (all −1 for a core that is not a GRO core).
// Groups must not overlap: no core may appear twice, as a GRO core or a
// candidate, in any group.
func compileGroups(groups []Group, n int) ([]candidates, error) {
	if len(groups) == 0 {
		return nil, fmt.Errorf("gen3: no core groups")
	}
	table := make([]candidates, n)
	for i := range table {
		for j := range table[i] {
			table[i][j] = -1
		}
	}
	owner := make(map[int]int, n) // core → GRO core of the group naming it
	claim := func(core, gro int) error {
		if core < 0 || core >= n {
			return fmt.Errorf("gen3: group of GRO core %d names core %d, outside 0..%d", gro, core, n-1)
		}
		if prev, dup := owner[core]; dup {
			if prev == gro {
				return fmt.Errorf("gen3: group of GRO core %d names core %d twice", gro, core)
			}
			return fmt.Errorf("gen3: groups overlap: core %d is in the groups of GRO cores %d and %d", core, prev, gro)
		}
		owner[core] = gro
		return nil
	}
	for _, g := range groups {
		if err := claim(g.GRO, g.GRO); err != nil {
			return nil, err
		}
		if len(g.SoftIRQ) > MaxGen3Candidates {
			return nil, fmt.Errorf("gen3: group of GRO core %d has %d SoftIRQ cores, at most %d", g.GRO, len(g.SoftIRQ), MaxGen3Candidates)
		}
		ended := false
		for j, c := range g.SoftIRQ {
			if c == -1 {
				ended = true
				continue
			}
			if ended {
				return nil, fmt.Errorf("gen3: group of GRO core %d lists core %d after the −1 that ends it", g.GRO, c)
			}
			if err := claim(c, g.GRO); err != nil {
				return nil, err
			}
			table[g.GRO][j] = int32(c)
		}
		if table[g.GRO][0] < 0 {
			return nil, fmt.Errorf("gen3: group of GRO core %d has no SoftIRQ core", g.GRO)
		}
	}
	// A core given no group keeps HomaModule's default candidate list,
	// its hyperthread sibling in the module's numbering (core^1; homa_init
	// fills gen3_softirq_cores that way before the deployment's sysctl
	// replaces the groups it names). Only a host of odd size leaves its last
	// core without one; that core keeps its batches.
	for i := range table {
		if table[i][0] < 0 && i^1 < n {
			table[i][0] = int32(i ^ 1)
		}
	}
	return table, nil
}
