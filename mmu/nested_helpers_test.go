package mmu

import (
	"strings"
	"testing"
)

// A nested NPT test machine: 64 MiB of L1 memory at HPA 256M, L0 on NPT
// with hostLevels levels; L1 in l1Mode with its own tables at L1 GPA 1M;
// NPT12 (L1's format) at L1 GPA 2M mapping L2 GPAs [0, 4M) to L1 GPAs
// [8M, 12M); L2 in l2Mode with its tables at L2 GPA 1M.
type nestedEnv struct {
	nestedMachine
	l1  *GuestTables // L1's own tables
	npt *GuestTables // NPT12, in L1 memory
	l2  *GuestTables // L2's own tables, in L2 memory
}

const (
	nestedL1Base = GPA(8 << 20) // L1 GPA behind L2 GPA 0
	nestedNPTSz  = 4 << 20      // L2 GPAs NPT12 maps
	nestedHPA    = HPA(256 << 20)
)

// l1RegsFor are L1's registers in mode, with CR3 at root.
func l1RegsFor(mode PagingMode, root uint64) Regs {
	r := Regs{CR0: CR0PE | CR0PG | CR0WP, CR4: CR4PSE, CR3: root}
	switch mode {
	case PagingPAE:
		r.CR4 |= CR4PAE
		r.EFER = EFERNX
	case Paging4:
		r.CR4 |= CR4PAE
		r.EFER = EFERLME | EFERLMA | EFERNX
	case Paging5:
		r.CR4 |= CR4PAE | CR4LA57
		r.EFER = EFERLME | EFERLMA | EFERNX
	}
	return r
}

func newNestedEnv(t *testing.T, hostLevels int, l1Mode, l2Mode PagingMode, variant ShadowVariant) *nestedEnv {
	t.Helper()
	return newNestedEnvOpts(t, hostLevels, l1Mode, l2Mode, variant, MMUOptions{})
}

// newNestedEnvOpts is newNestedEnv on a machine with MMU options.
func newNestedEnvOpts(t *testing.T, hostLevels int, l1Mode, l2Mode PagingMode, variant ShadowVariant,
	o MMUOptions) *nestedEnv {
	t.Helper()
	m, err := NewMachine(DefaultConfig(), 1)
	if err != nil {
		t.Fatal(err)
	}
	e := &nestedEnv{nestedMachine: nestedMachine{t: t, m: m}}
	e.must(m.SetOptions(o))
	e.must(m.AddMemslot(Memslot{ID: 0, BaseGFN: 0, NPages: 64 << 8, BasePFN: PFN(nestedHPA >> PageShift)}))
	e.must(m.EnableTDP(TDPConfig{Kind: TDPNPT, Levels: hostLevels}))
	l1Tables, err := NewGuestTables(m, l1Mode, 1<<20, 64<<10)
	e.must(err)
	e.l1 = l1Tables
	l1 := l1RegsFor(l1Mode, l1Tables.CR3())
	e.npt, err = NewNPT12Tables(m, l1, 2<<20, 1<<20)
	e.must(err)
	for off := uint64(0); off < nestedNPTSz; off += PageSize {
		_, err := e.npt.Map(GVA(off), nestedL1Base+GPA(off), PageSize, PTWritable|PTUser)
		e.must(err)
	}
	e.must(m.SetupRegs(0, l1))
	e.must(m.SetupNested(0, NestedSetup{Kind: NestedSVM, NCR3: e.npt.CR3(), Shadow: variant}))
	if l2Mode != PagingOff {
		e.l2, err = NewL2Tables(m, l2Mode, 1<<20, 256<<10, e.npt)
		e.must(err)
	}
	root := uint64(0)
	if e.l2 != nil {
		root = e.l2.CR3()
	}
	l2 := l1RegsFor(l2Mode, root)
	if l2Mode == PagingOff {
		l2 = Regs{CR0: CR0PE}
	}
	e.must(m.SetupNestedL2Regs(0, l2))
	return e
}

// nestedMachine is the machine of a nested test (NPT's nestedEnv, EPT's
// vmxEnv) and the test it fails.
type nestedMachine struct {
	t testing.TB
	m *Machine
}

func (e *nestedMachine) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

// do runs an action and fails the test on an engine error or a broken
// invariant.
func (e *nestedMachine) do(a Action) Step {
	e.t.Helper()
	st, err := e.m.Do(a)
	if err != nil {
		e.t.Fatalf("%T: %v", a, err)
	}
	if bad := e.m.CheckShadowInvariants(); len(bad) > 0 {
		e.t.Fatalf("%T: invariants broken:\n%s", a, strings.Join(bad, "\n"))
	}
	return st
}
