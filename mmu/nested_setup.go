package mmu

import "fmt"

// Setting nesting up without tracing: L1's nested page table (NPT12) in
// L1 memory, and L2's own page tables, which live in L2 guest-physical
// memory and so are written through NPT12. A side-effect-free walk of
// NPT12 serves both the set-up and the invariant checker.

// NPTFormat is the format of the nested page table an SVM L1 with these
// registers gives L2: L1's own paging mode, with CR0.PG forced as
// kvm_init_shadow_npt_mmu does.
func NPTFormat(l1 Regs) PagingMode {
	r := Regs{CR0: CR0PG, CR4: l1.CR4, EFER: l1.EFER}
	return r.Mode()
}

// l1Regs are L1's registers: the vCPU's own while L1 runs, vmcb01's copy
// while L2 runs.
func (v *VCPU) l1Regs() Regs {
	if v.GuestMode {
		return v.Nested.L1
	}
	return v.Regs
}

// NewNPT12Tables builds an empty NPT12 for an SVM L1 in the format its
// registers give (32-bit, PAE or 64-bit), from a pool of L1 memory; its
// Root is the nested_cr3 L1 puts in vmcb12. Entries are written as for a
// guest's own tables (GuestTables), the "GVA" being the L2 GPA.
func NewNPT12Tables(m *Machine, l1 Regs, pool GPA, size uint64) (*GuestTables, error) {
	return NewGuestTables(m, NPTFormat(l1), pool, size)
}

// NewL2Tables builds L2's own page tables in mode from a pool of L2
// guest-physical memory, which npt (L1's nested table for L2) must already
// map: each table is written at the L1 GPA npt gives.
func NewL2Tables(m *Machine, mode PagingMode, pool GPA, size uint64, npt *GuestTables) (*GuestTables, error) {
	if npt == nil {
		return nil, fmt.Errorf("L2's tables need L1's nested table to place them")
	}
	return NewGuestTablesIn(m, mode, pool, size, func(l2 GPA) (GPA, error) { return npt.Translate(GVA(l2)) })
}

// Translate follows the tables for gva without changing anything and
// returns the GPA it maps to; for a nested table, gva is an L2 GPA and
// the result an L1 GPA. It says why when the tables do not map it to
// memory a memslot covers.
func (g *GuestTables) Translate(gva GVA) (GPA, error) {
	if g.space != nil {
		return 0, fmt.Errorf("tables in another guest-physical space cannot translate for others")
	}
	x := g.m.npt12Walk(g.Mode, true, g.CR3(), GPA(gva), nil)
	switch {
	case !x.ok:
		return 0, fmt.Errorf("L2 GPA %s: %s", GPA(gva), x.why)
	case !x.mapped:
		return 0, fmt.Errorf("L2 GPA %s is L1 GPA %s, which no memslot covers", GPA(gva), x.l1)
	}
	return x.l1, nil
}

// nestedXlat is a translation of an L2 GPA through L1's nested table,
// made without side effects.
type nestedXlat struct {
	ok     bool
	why    string
	l1     GPA
	hpa    HPA
	mapped bool
	access int    // ACC_* granted over the levels
	dirty  bool   // the leaf entry's D bit
	size   uint64 // the leaf's page size
}

// nestedLookup translates an L2 GPA through v's NPT12 from vmcb12's
// nested_cr3 in the format L1's registers give.
func (m *Machine) nestedLookup(v *VCPU, l2 GPA) nestedXlat {
	if v.Nested.Kind == NestedVMX {
		return m.ept12NestedXlat(v.Nested.NCR3, l2) // EPT12 from vmcs12's EPT pointer
	}
	l1 := v.l1Regs()
	return m.npt12Walk(NPTFormat(l1), l1.CR4&CR4PSE != 0, v.Nested.NCR3, l2, nil)
}

// npt12Walk walks an NPT12 of mode from root for l2 without touching
// anything (no A/D bits, no events), checking reserved bits when rsvd is
// given; pse is L1's CR4.PSE (4 MiB pages in a 32-bit NPT12). Every right
// is for a user access, as NPT's.
func (m *Machine) npt12Walk(mode PagingMode, pse bool, root uint64, l2 GPA, rsvd *rsvdBitsCheck) nestedXlat {
	f := formatFor(mode)
	if f.mode == PagingOff {
		return nestedXlat{why: "L1 has no nested paging format"}
	}
	table := f.cr3Base(root, m.Config.MaxPhyAddr)
	x := nestedXlat{access: AccAll}
	level := f.rootLevel
	if mode == PagingPAE {
		raw, err := m.ReadGuest(GPA(root)+GPA(8*((uint64(l2)>>30)&3)), 8)
		if err != nil || raw&PTPresent == 0 {
			return nestedXlat{why: "the NPT12 PDPTE is not present or outside every memslot"}
		}
		table, level = f.tableAddr(PTE(raw)), 2
	}
	for ; level >= 1; level-- {
		raw, err := m.ReadGuest(table+GPA(f.index(GVA(l2), level)*f.entrySize), f.entrySize)
		e := PTE(raw)
		switch {
		case err != nil:
			return nestedXlat{why: fmt.Sprintf("the NPT12 table at GPA %s is outside every memslot", table)}
		case !e.Present():
			return nestedXlat{why: fmt.Sprintf("the NPT12 level-%d entry is not present", level)}
		case rsvd != nil && rsvd.isRsvdBitsSet(e, level):
			return nestedXlat{why: fmt.Sprintf("the NPT12 level-%d entry sets reserved bits", level)}
		}
		x.access &= gpteAccess(e, f.wide)
		if f.isLastGPTE(e, level, pse) {
			x.ok, x.dirty = true, e.Dirty()
			x.size = LevelPageSize(mode, level)
			x.l1 = f.leafGPA(e, level, GVA(l2), m.Config.PSE36)
			x.hpa, x.mapped = m.GPAToHPA(x.l1)
			return x
		}
		table = f.tableAddr(e)
	}
	return nestedXlat{why: "the NPT12 walk does not end in a page"}
}

// l2ReadGuest reads L2 guest-physical memory without side effects: the
// L2 GPA goes through L1's nested table, then the memslots.
func (m *Machine) l2ReadGuest(v *VCPU) func(GPA, int) (uint64, error) {
	return func(l2 GPA, size int) (uint64, error) {
		x := m.nestedLookup(v, l2)
		if !x.ok {
			return 0, fmt.Errorf("L2 GPA %s: %s", l2, x.why)
		}
		return m.ReadGuest(x.l1, size)
	}
}
