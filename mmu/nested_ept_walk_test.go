package mmu

import (
	"math/rand"
	"testing"
)

// nested_mmu's software walk of L2's tables (translate_nested_gpa through
// ept_gva_to_gpa): every L2 table and the final L2 GPA cost one EPT12
// walk, read through the memslots.

// l2Env adds to an eptEnv a 4-level L2 whose page tables live in L2 GPA
// space: each table page is mapped by EPT12 to a page of L1 memory.
type l2Env struct {
	*eptEnv
	root   GPA // L2 GPA of L2's PML4
	nextL2 GPA // next free L2 GPA for a table
	nextL1 GPA // next free L1 GPA behind it
	l1Of   map[GFN]GPA
	regs   Regs
}

func newL2Env(t testing.TB, ad bool) *l2Env {
	t.Helper()
	e := &l2Env{eptEnv: newEPTEnv(t, 4, ad, DefaultEPTCaps()), nextL2: 0x8000_0000, nextL1: 0x80_0000,
		l1Of: map[GFN]GPA{}}
	e.root = e.allocTable(EPTRWX | wb)
	e.regs = defaultRegs(Paging4)
	e.regs.CR3 = uint64(e.root)
	e.v.Regs = e.regs
	e.v.GuestMode = true
	e.v.Nested = NestedState{Kind: NestedVMX, NCR3: e.eptp, NestedPGD: e.eptp}
	e.v.NestedMMU.CPURole = calcCPURole(&e.regs, true)
	e.m.resetGuestPagingMetadata(&e.v.NestedMMU)
	return e
}

// allocTable takes the next L2 table page and maps it in EPT12 with flags.
func (e *l2Env) allocTable(flags uint64) GPA {
	l2, l1 := e.nextL2, e.nextL1
	e.nextL2 += PageSize
	e.nextL1 += PageSize
	e.mapPage(l2, l1, PageSize, flags)
	e.l1Of[l2.GFN()] = l1
	return l2
}

// l2Entry returns the L1 GPA holding L2's entry at level for gva,
// creating L2 tables above it.
func (e *l2Env) l2Entry(gva GVA, level int) GPA {
	f := formatFor(Paging4)
	table := e.root
	for l := 4; ; l-- {
		at := e.l1Of[table.GFN()] + GPA(8*f.index(gva, l))
		if l == level {
			return at
		}
		v := e.read(at)
		if v&PTPresent == 0 {
			v = uint64(e.allocTable(EPTRWX|wb)) | PTPresent | PTWritable | PTUser
			e.m.WriteGuest(at, 8, v)
		}
		table = GPA(v & bits(12, 51))
	}
}

// nestedWalk runs nested_mmu's walk of L2's tables for gva and returns
// it with the number of EPT12 walks translate_nested_gpa made.
func (e *l2Env) nestedWalk(gva GVA, acc uint64) (*GuestWalker, int) {
	e.m.events = nil
	w := e.m.walkAddrGeneric(e.v, &e.v.NestedMMU, gva, acc, &nestedTranslator{v: e.v})
	n := 0
	for _, ev := range e.m.events {
		if ev.Func == "translate_nested_gpa" {
			n++
		}
	}
	return w, n
}

func TestNestedMMUWalkTranslatesEveryGPA(t *testing.T) {
	e := newL2Env(t, false)
	const gva = GVA(0x7fff_1234_5000)
	const l2data, l1data = GPA(0x4000_0000), GPA(0x90_0000)
	e.m.WriteGuest(e.l2Entry(gva, 1), 8, uint64(l2data)|PTPresent|PTWritable)
	e.mapPage(l2data, l1data, PageSize, EPTRWX|wb)
	w, walks := e.nestedWalk(gva|0x123, PFErrWrite)
	if w.Fault != nil {
		t.Fatal(w.Fault)
	}
	if w.GPA != l2data|0x123 {
		t.Fatalf("L2 GPA %s, want %s", w.GPA, l2data|0x123)
	}
	if want, _ := e.m.GPAToHPA(l1data | 0x123); !w.Mapped || w.HPA != want {
		t.Fatalf("HPA %s, want %s (L1 GPA %s)", w.HPA, want, l1data|0x123)
	}
	if walks != 5 {
		t.Fatalf("%d EPT12 walks, want 5 (four tables and the final GPA)", walks)
	}
	// The software 2D walk reads as many entries as the processor's:
	// 4 L2 entries and 5 EPT12 walks of 4 entries each.
	if w.Refs != 24 {
		t.Fatalf("%d references, want 24", w.Refs)
	}
}

// TestNestedMMUWalkEPTFault: when EPT12 does not map an L2 table, the walk
// stops with that EPT12 fault (no #PF for L2): an EPT violation whose
// qualification says read and write (the A/D-style table access) and no
// rights, with the L2 GPA of the table.
func TestNestedMMUWalkEPTFault(t *testing.T) {
	e := newL2Env(t, false)
	const gva = GVA(0x40_0000)
	at := e.l2Entry(gva, 1)
	pdAt := e.l2Entry(gva, 2)
	pt := GPA(e.read(pdAt) & bits(12, 51))
	e.set(pt, 1, 0) // L1 unmaps L2's page table in EPT12
	e.m.WriteGuest(at, 8, 0x5000|PTPresent)
	w, _ := e.nestedWalk(gva, PFErrUser)
	if w.Fault == nil || w.Fault.Exit == nil || w.Fault.Exit.Reason != ExitEPTViolation {
		t.Fatalf("want an EPT violation, got %+v", w.Fault)
	}
	if got := w.Fault.Exit.GPA; got != pt {
		t.Fatalf("fault at L2 GPA %s, want the PT at %s", got, pt)
	}
	if q := w.Fault.Exit.Qualification; q != EPTViolationAccRead|EPTViolationAccWrite {
		t.Fatalf("qualification %#x, want read+write and no rights", q)
	}
}

// TestNestedMMUFetchNeedsEPTRead: KVM's software walk adds PFERR_USER to
// every nested translation, so an L2 fetch from a page EPT12 maps
// execute-only fails here although the processor would allow it.
func TestNestedMMUFetchNeedsEPTRead(t *testing.T) {
	e := newL2Env(t, false)
	const gva = GVA(0x60_0000)
	const l2data = GPA(0x5000_0000)
	e.m.WriteGuest(e.l2Entry(gva, 1), 8, uint64(l2data)|PTPresent)
	e.mapPage(l2data, 0xa0_0000, PageSize, EPTExec|wb)
	w, _ := e.nestedWalk(gva, PFErrFetch)
	if w.Fault == nil || w.Fault.Exit == nil {
		t.Fatalf("the software walk allowed a fetch from an execute-only page")
	}
	if q := w.Fault.Exit.Qualification; q != EPTViolationAccRead|EPTViolationAccInstr|EPTViolationProtExec {
		t.Fatalf("qualification %#x", q)
	}
	if r := sdmTranslate(func(a GPA) uint64 { return e.read(a) }, e.eptp, e.caps, 46, l2data, accFetch); r.outcome != "ok" {
		t.Fatalf("the SDM reference refuses the fetch too: %+v", r)
	}
}

// TestNestedMMUWalkRandom: for random L2 mappings, EPT12 rights and A/D
// choices, nested_mmu's walk ends where composing L2's tables with EPT12
// and the memslots by hand ends.
func TestNestedMMUWalkRandom(t *testing.T) {
	r := rand.New(rand.NewSource(12))
	ok := 0
	for i := 0; i < 300; i++ {
		e := newL2Env(t, r.Intn(2) == 0)
		e.m.Quiet = true
		gva := GVA(r.Uint64() & bits(12, 46))
		l2data := GPA(0x1_0000_0000 + uint64(r.Intn(1024))<<PageShift)
		l1data := GPA(0xc0_0000 + uint64(r.Intn(256))<<PageShift)
		e.m.WriteGuest(e.l2Entry(gva, 1), 8, uint64(l2data)|PTPresent|PTWritable|PTUser)
		rights := []uint64{EPTRWX, EPTRead, EPTRead | EPTWrite, EPTRead | EPTExec, 0}[r.Intn(5)]
		e.mapPage(l2data, l1data, PageSize, rights|wb)
		if r.Intn(4) == 0 { // L1 takes W away from one of L2's tables
			pt := GPA(e.read(e.l2Entry(gva, 2)) & bits(12, 51))
			e.set(pt, 1, uint64(e.l1Of[pt.GFN()])|EPTRead|wb)
		}
		acc := []uint64{PFErrUser, PFErrWrite, PFErrFetch, 0}[r.Intn(4)]
		w, _ := e.nestedWalk(gva, acc)
		// By hand: every table page needs R and W in EPT12 (W|U access);
		// the final page needs R (PFERR_USER) and W or X as the access asks.
		want := uint64(EPTRead)
		if acc&PFErrWrite != 0 {
			want |= EPTWrite
		}
		if acc&PFErrFetch != 0 {
			want |= EPTExec
		}
		tablesOK := true
		for gfn := range e.l1Of {
			leaf, err := e.ept.EntryAddr(gfn.GPA(), 1)
			if err != nil || e.read(leaf)&EPTRWX != EPTRWX {
				tablesOK = false
			}
		}
		expectOK := tablesOK && rights&want == want
		if (w.Fault == nil) != expectOK {
			t.Fatalf("case %d: rights %s, access %#x, tables ok %t: fault %v", i, eptRightsString(rights), acc,
				tablesOK, w.Fault)
		}
		if expectOK {
			ok++
			hpa, _ := e.m.GPAToHPA(l1data)
			if w.GPA != l2data || w.HPA != hpa {
				t.Fatalf("case %d: %s → %s, want %s → %s", i, w.GPA, w.HPA, l2data, hpa)
			}
		}
	}
	if ok < 30 {
		t.Fatalf("only %d random walks succeeded", ok)
	}
}
