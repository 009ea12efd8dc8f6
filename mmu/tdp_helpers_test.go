package mmu

import (
	"strings"
	"testing"
)

// TDP configurations the tests run on.
var (
	ept4 = TDPConfig{Kind: TDPEPT, Levels: 4, AD: true, ExecOnly: true}
	ept5 = TDPConfig{Kind: TDPEPT, Levels: 5, AD: true, ExecOnly: true}
	npt4 = TDPConfig{Kind: TDPNPT, Levels: 4}
	npt5 = TDPConfig{Kind: TDPNPT, Levels: 5}
)

// tdpName names a configuration for subtests ("ept4").
func tdpName(c TDPConfig) string {
	return strings.ToLower(c.Kind.String()) + itoa(c.Levels)
}

// tdpGVA is the address the TDP tests access: testGVA, or for a guest
// without paging the GPA itself.
func tdpGVA(mode PagingMode) GVA {
	if mode == PagingOff {
		return GVA(testGPA)
	}
	return testGVA(mode)
}

// newTDPEnv builds a guest in mode with a user read/write page at
// tdpGVA(mode) → testGPA, registers loaded, running on cfg (52 physical
// address bits for 5-level EPT, which KVM uses only above 48).
func newTDPEnv(t testing.TB, mode PagingMode, cfg TDPConfig) *testEnv {
	t.Helper()
	c := DefaultConfig()
	if cfg.Kind == TDPEPT && cfg.Levels == 5 {
		c.MaxPhyAddr = 52
	}
	e := newTestEnv(t, mode, c)
	if mode != PagingOff {
		e.mapPage(testGVA(mode), testGPA, PageSize, PTWritable|PTUser)
	}
	e.load()
	if err := e.m.EnableTDP(cfg); err != nil {
		t.Fatal(err)
	}
	return e
}

// prefault maps [gpa, gpa+size) in EPT/NPT through KVM's fault path.
func (e *testEnv) prefault(gpa GPA, size uint64) {
	e.t.Helper()
	if err := e.m.Prefault(0, gpa, size); err != nil {
		e.t.Fatal(err)
	}
}

// prefaultAll maps the table pool and the test page.
func (e *testEnv) prefaultAll() {
	e.t.Helper()
	e.prefault(testPool, 64<<10)
	e.prefault(testGPA, PageSize)
}

// hwAttempt makes one attempt of the processor's 2D walk for a, without
// KVM: it returns the walker and the EPT/NPT walk (whose exit is set when
// a translation failed).
func (e *testEnv) hwAttempt(a Access) (*GuestWalker, *hwWalk) {
	v := e.m.VCPUs[a.VCPU]
	h := e.m.newHWWalk(v, a.GVA)
	w := e.m.walkAddrGeneric(v, v.WalkMMU(), a.GVA, accessBits(&a), h)
	e.m.events = nil
	return w, h
}

// setSPTE overwrites the EPT/NPT entry at level on gpa's path.
func (e *testEnv) setSPTE(gpa GPA, level int, v uint64) {
	e.t.Helper()
	if err := e.m.SetTDPEntry(0, gpa, level, v); err != nil {
		e.t.Fatal(err)
	}
}

// leafSPTE is the EPT/NPT entry that ends gpa's path, and its level.
func (e *testEnv) leafSPTE(gpa GPA) (uint64, int) {
	levels, _, _ := e.m.TDPPath(0, gpa)
	if len(levels) == 0 {
		return 0, 0
	}
	l := levels[len(levels)-1]
	return l.Value, l.Level
}

// countEvents counts a step's events of kind k (and function fn, if set).
func countEvents(st Step, k EventKind, fn string) int {
	n := 0
	for _, e := range st.Events {
		if e.Kind == k && (fn == "" || e.Func == fn) {
			n++
		}
	}
	return n
}

// exitsOf counts a step's VM exits.
func exitsOf(st Step) int { return countEvents(st, EvExit, "") }

// eptLeaf makes a KVM-style EPT leaf for hpa at level with the given
// XWR bits and write-back memory.
func eptLeaf(hpa HPA, level int, xwr uint64) uint64 {
	v := uint64(hpa) | xwr | EPTMemWB<<EPTMTShift | SPTEMMUPresent
	if level > 1 {
		v |= EPTPageSize
	}
	return v
}

// hostOf is the host address the RAM memslot gives gpa.
func hostOf(e *testEnv, gpa GPA) HPA {
	hpa, ok := e.m.GPAToHPA(gpa)
	if !ok {
		e.t.Fatalf("GPA %s is not in a memslot", gpa)
	}
	return hpa
}
