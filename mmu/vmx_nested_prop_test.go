package mmu

import (
	"fmt"
	"math/rand"
	"testing"
)

// The property test of nested EPT: random small set-ups (EPTP12 with or
// without A/D bits; sixteen L2 data pages whose L2 PTEs and EPT12 leaves
// take random rights, memory types and targets, some outside every
// memslot, those with every right) and random L2 accesses, re-entering L2 whenever an access was
// reflected to L1. Every access agrees with composing L2's tables, EPT12
// and the memslots by hand: L2's own PTE refuses → L2's #PF; EPT12 lacks
// the mapping or the right → an EPT violation reflected to L1 with the
// qualification the SDM gives; a bad memory type or XWR → an EPT
// misconfiguration; otherwise the composed host address (or MMIO). The
// invariants, EPT02 against EPT12 included, hold after every step.

const (
	vmxPropPages = 16
	vmxPropL2    = GPA(2 << 20)  // L2 GPA of data page 0
	vmxPropGVA   = GVA(0x400000) // L2 GVA of data page 0
)

// vmxPropPage is what the world set up for one data page.
type vmxPropPage struct {
	pte  PTE    // L2's leaf
	leaf uint64 // EPT12's leaf
}

func TestNestedEPTProperty(t *testing.T) {
	seen := map[string]int{}
	for seed := int64(0); seed < 60; seed++ {
		r := rand.New(rand.NewSource(seed))
		e := newVMXEnv(t, r.Intn(2) == 0)
		pages := make([]vmxPropPage, vmxPropPages)
		for i := range pages {
			p := &pages[i]
			p.pte = PTE(uint64(vmxPropL2)+uint64(i)<<PageShift) | PTPresent
			for _, f := range []PTE{PTWritable, PTUser} {
				if r.Intn(3) > 0 {
					p.pte |= f
				}
			}
			if r.Intn(4) == 0 {
				p.pte |= PTNX
			}
			if r.Intn(10) == 0 {
				p.pte &^= PTPresent
			}
			e.m.Quiet = true
			if _, err := e.l2.SetEntry(vmxPropGVA+GVA(i<<PageShift), 1, p.pte); err != nil {
				t.Fatal(err)
			}
			e.m.Quiet = false
			p.leaf = randomEPT12Leaf(r, i)
			if _, err := e.ept.SetEntry(vmxPropL2+GPA(i<<PageShift), 1, p.leaf); err != nil {
				t.Fatal(err)
			}
		}
		e.m.Quiet = true // outcomes do not depend on the narration
		for step := 0; step < 40; step++ {
			if !e.m.VCPUs[0].GuestMode {
				e.do(&NestedEntry{VCPU: 0})
			}
			i := r.Intn(vmxPropPages)
			a := &Access{VCPU: 0, GVA: vmxPropGVA + GVA(i<<PageShift) + 0x18, Kind: AccessKind(r.Intn(3)),
				User: r.Intn(2) == 0}
			want := composeNestedEPT(e, pages[i], a)
			st := e.do(a)
			got := outcomeOf(e, st)
			if got != want {
				t.Fatalf("seed %d step %d: %s of page %d (PTE %s, EPT12 %s): got %s, want %s", seed, step, a.Kind, i,
					hex(uint64(pages[i].pte)), hex(pages[i].leaf), got, want)
			}
			seen[want[:4]]++
		}
	}
	t.Logf("outcomes: %v", seen)
	for _, k := range []string{"ok h", "ok m", "#PF ", "EPT_", "EXIT"} {
		if seen[k] < 20 {
			t.Errorf("outcome %q met only %d times: %v", k, seen[k], seen)
		}
	}
}

// randomEPT12Leaf is a random EPT12 PTE for data page i: usually a page of
// L1 memory, sometimes one no memslot covers; rights from the seven XWR
// values that are not 110; now and then memory type 7.
func randomEPT12Leaf(r *rand.Rand, i int) uint64 {
	l1 := uint64(nestedL1Base) + 0x800000 + uint64(i)<<PageShift
	if r.Intn(8) == 0 {
		l1 = 0x8000000 + uint64(i)<<PageShift // beyond the 64 MiB slot: MMIO for L0
	}
	xwr := []uint64{EPTRWX, EPTRWX, EPTRWX, EPTRead, EPTRead | EPTWrite, EPTRead | EPTExec, EPTExec, 0, EPTWrite}[r.Intn(9)]
	if l1 >= 0x8000000 {
		// Once an MMIO SPTE exists, KVM emulates without walking EPT12
		// again (handle_mmio_page_fault); only the emulator's own walk
		// would check L1's rights, which the model does not make.
		xwr = EPTRWX
	}
	mt := uint64(EPTMemWB)
	if r.Intn(10) == 0 {
		mt = 7
	}
	return l1 | xwr | mt<<EPTMTShift
}

// composeNestedEPT says by hand what an access to a data page must end
// in, as a string outcomeOf can match.
func composeNestedEPT(e *vmxEnv, p vmxPropPage, a *Access) string {
	l2 := GPA(uint64(p.pte)&bits(12, 51)) + 0x18
	switch {
	case !p.pte.Present(), a.User && !p.pte.User(), a.Kind == AccessWrite && !p.pte.Writable(),
		a.Kind == AccessFetch && p.pte.NX():
		return "#PF of L2"
	}
	xwr := p.leaf & EPTRWX
	if xwr == EPTWrite || p.leaf>>EPTMTShift&7 == 7 && xwr != 0 {
		return fmt.Sprintf("EPT_MISCONFIG at %s", l2)
	}
	need := map[AccessKind]uint64{AccessRead: EPTRead, AccessWrite: EPTWrite, AccessFetch: EPTExec}[a.Kind]
	if xwr&need == 0 {
		q := need | xwr<<3 | EPTViolationGVAIsValid | EPTViolationGVATranslated
		return fmt.Sprintf("EXIT_REASON_EPT_VIOLATION %s at %s", hex(q), l2)
	}
	l1 := GPA(p.leaf&eptAddrMask) + 0x18
	if hpa, ok := e.m.GPAToHPA(l1); ok {
		return fmt.Sprintf("ok host %s", hpa)
	}
	return "ok mmio"
}

// outcomeOf reads the same outcome off a step.
func outcomeOf(e *vmxEnv, st Step) string {
	v := e.m.VCPUs[0]
	res := st.Result
	switch {
	case res.OK && res.HasHPA:
		return fmt.Sprintf("ok host %s", res.HPA)
	case res.OK:
		return "ok mmio"
	case res.Fault != nil && res.Fault.Exit == nil && v.GuestMode:
		return "#PF of L2"
	case !v.GuestMode && v.Nested.Reflected.Code == vmxExitEPTMisconfig:
		return fmt.Sprintf("EPT_MISCONFIG at %s", GPA(v.Nested.Reflected.Info2))
	case !v.GuestMode:
		info := v.Nested.Reflected
		return fmt.Sprintf("%s %s at %s", info.Code, hex(info.Info1), GPA(info.Info2))
	}
	return fmt.Sprintf("unexpected %+v", res)
}
