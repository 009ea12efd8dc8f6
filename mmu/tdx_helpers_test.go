package mmu

import (
	"strings"
	"testing"
)

// The TD the TDX tests run: one memslot of 16 MiB at GPA 0 (host memory
// from 256 MiB), guest_memfd from 512 MiB, guest tables in a 20 KiB pool
// at 1 MiB, a private data page and a shared one.
const (
	tdPool      = GPA(0x100000)
	tdPoolSize  = 20 << 10
	tdPrivGPA   = GPA(0x200000)
	tdPrivGVA   = GVA(0x400000)
	tdSharedGFN = GFN(0x300)
	tdSharedGVA = GVA(0x600000)
	tdPrivBase  = HPA(512 << 20)
)

// tdEnv is a TD, its guest tables and the GPA with the shared bit of the
// shared page.
type tdEnv struct {
	t      testing.TB
	m      *Machine
	shared GPA
}

// newTD builds the TD with a GPAW of gpaw (48: 4-level EPT, 52: 5-level),
// its initial memory not yet added and the TD not finalized.
func newTD(t testing.TB, gpaw int) *tdEnv {
	t.Helper()
	cfg := DefaultConfig()
	cfg.MaxPhyAddr = gpaw
	m, err := NewMachine(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.AddMemslot(Memslot{ID: 0, NPages: 16 << 20 >> PageShift, BasePFN: HPA(256 << 20).PFN()}); err != nil {
		t.Fatal(err)
	}
	shared := tdSharedGFN.GPA() | GPA(1)<<uint(gpaw-1)
	mode := Paging4
	g, err := NewGuestTables(m, mode, tdPool, tdPoolSize)
	if err != nil {
		t.Fatal(err)
	}
	for _, mp := range []struct {
		gva GVA
		gpa GPA
	}{{tdPrivGVA, tdPrivGPA}, {tdSharedGVA, shared}} {
		if _, err := g.Map(mp.gva, mp.gpa, PageSize, PTWritable); err != nil {
			t.Fatal(err)
		}
	}
	r := defaultRegs(mode)
	r.CR3 = g.CR3()
	if err := m.SetupRegs(0, r); err != nil {
		t.Fatal(err)
	}
	levels := 4
	if gpaw == 52 {
		levels = 5
	}
	if err := m.EnableTDP(TDPConfig{Kind: TDPEPT, Levels: levels, AD: true, ExecOnly: true}); err != nil {
		t.Fatal(err)
	}
	if err := m.EnableTDX(TDXConfig{GPAW: gpaw, PrivateBase: tdPrivBase, SEPTVEDisable: true}); err != nil {
		t.Fatal(err)
	}
	return &tdEnv{t: t, m: m, shared: shared}
}

// do performs an action, fails the test on an error or a broken TDX
// invariant, and returns the step.
func (e *tdEnv) do(a Action) Step {
	e.t.Helper()
	st, err := e.m.Do(a)
	if err != nil {
		e.t.Fatalf("%T: %v", a, err)
	}
	if err := e.m.CheckTDXInvariants(); err != nil {
		e.t.Fatalf("after %T: %v", a, err)
	}
	return st
}

// boot adds the guest tables (KVM_TDX_INIT_MEM_REGION) and finalizes.
func (e *tdEnv) boot() {
	e.t.Helper()
	e.do(&TDXInitMemRegion{GPA: tdPool, Size: tdPoolSize})
	e.do(&TDXFinalize{})
}

// tdxFuncs lists a step's event functions, in order.
func tdxFuncs(st Step) []string {
	var out []string
	for _, e := range st.Events {
		out = append(out, e.Func)
	}
	return out
}

// traceText is a step's trace as text.
func traceText(st Step) string {
	var b strings.Builder
	_ = WriteText(&b, []Step{st})
	return b.String()
}
