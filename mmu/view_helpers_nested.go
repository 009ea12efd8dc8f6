package mmu

import "fmt"

// Read-only views of a nested vCPU for pictures (render/): guest_mmu's
// root, the EPT02/NPT02 the processor walks while the vCPU runs L2, the
// host tables on an L2 GPA's path through it, and L2's own page tables
// after a VM-exit has brought the vCPU back to L1 (an access that L1
// intercepted is still drawn as L2's). Nothing here emits events or
// changes the machine.

// NestedHostRoot returns the root of vCPU id's guest_mmu (EPT02/NPT02)
// and its level (root_role.level: EPT12's levels under nested EPT, the
// host's NPT levels under nested NPT); ok is false without nested TDP or
// while guest_mmu has no valid root. KVM keeps that root across VM-exits
// to L1, so it is there after one too.
func (m *Machine) NestedHostRoot(id int) (root HPA, level int, ok bool) {
	v, err := m.VCPU(id)
	if err != nil || m.tdp == nil || v.Nested.Kind == NestedNone || !v.GuestMMU.RootValid {
		return 0, 0, false
	}
	return v.GuestMMU.Root, v.GuestMMU.RootRole.Level(), true
}

// TDPPathFrom follows host tables of levels levels from root for gpa as
// the hardware would, as TDPPath does from a vCPU's own root: root first,
// ending at a leaf or an entry that is not present; hpa is the
// translation when it ends in a leaf.
func (m *Machine) TDPPathFrom(root HPA, levels int, gpa GPA) (path []TDPPathLevel, hpa HPA, ok bool) {
	if m.tdp == nil {
		return nil, 0, false
	}
	table := root
	for l := levels; l >= 1; l-- {
		pl := TDPPathLevel{Level: l, Table: table, Index: spteIndex(gpa, l)}
		pl.Entry = table + HPA(8*pl.Index)
		pl.Value, _ = m.Mem.Read(pl.Entry, 8)
		pl.Present = m.tdp.present(pl.Value)
		next, leaf := SPTEPointsTo(pl.Value, l)
		pl.Leaf = pl.Present && leaf
		path = append(path, pl)
		if !pl.Present {
			return path, 0, false
		}
		if pl.Leaf {
			size := uint64(PageSize) << (9 * uint(l-1))
			return path, next | HPA(uint64(gpa)&(size-1)), true
		}
		table = next
	}
	return path, 0, false
}

// L2Mode returns the paging mode of vCPU id's L2: nested_mmu's cpu_role,
// which a VM-exit to L1 leaves as it was; before the first VM-entry has
// configured nested_mmu, the mode L2's registers in vmcb12/vmcs12 give.
// It is PagingOff without nesting.
func (m *Machine) L2Mode(id int) PagingMode {
	v, err := m.VCPU(id)
	if err != nil || v.Nested.Kind == NestedNone {
		return PagingOff
	}
	if mode := PagingMode(v.NestedMMU.CPURole.Base.Level()); mode != PagingOff {
		return mode
	}
	return v.Nested.L2.Mode()
}

// L2PathOf is PathOf for vCPU id's L2 whether or not the vCPU runs it:
// while it does (walk_mmu is a configured nested_mmu), PathOf itself;
// otherwise (after a VM-exit to L1, or half-way through a VM-entry) from
// L2's registers as vmcb12/vmcs12 hold them, in L2's mode, its GPAs
// through L1's nested tables (a PAE L2's PDPTEs read from its memory).
func (m *Machine) L2PathOf(id int, gva GVA) GuestPath {
	v, err := m.VCPU(id)
	if err != nil || v.Nested.Kind == NestedNone {
		return GuestPath{}
	}
	if v.GuestMode && v.WalkMMUID == NestedMMUID && v.NestedMMU.CPURole.Base.Level() != 0 {
		return m.PathOf(id, gva)
	}
	g := pathSpace{regs: v.Nested.L2, mode: m.L2Mode(id), pse: v.NestedMMU.CPURole.Ext.CR4PSE,
		toHPA: m.l2Mem(v)}
	if g.mode == PagingPAE {
		base := formatFor(PagingPAE).cr3Base(g.regs.CR3, m.Config.MaxPhyAddr)
		copy(g.pdptrs[:], m.guestTable(g.toHPA, PagingPAE, base, 4))
	}
	return m.pathWith(g, gva)
}

// L2GuestTable is GuestTable in vCPU id's L2 guest-physical space, whether
// or not the vCPU runs L2: L2 GPAs through L1's nested tables, then the
// memslots; entries they do not reach read as 0.
func (m *Machine) L2GuestTable(id int, mode PagingMode, gpa GPA, n int) []uint64 {
	v, err := m.VCPU(id)
	if err != nil || v.Nested.Kind == NestedNone {
		return make([]uint64, n)
	}
	return m.guestTable(m.l2Mem(v), mode, gpa, n)
}

// l2Mem translates v's L2 GPAs to host addresses through L1's nested
// tables and the memslots.
func (m *Machine) l2Mem(v *VCPU) func(GPA) (HPA, bool) {
	return func(gpa GPA) (HPA, bool) {
		x := m.nestedLookup(v, gpa)
		return x.hpa, x.ok && x.mapped
	}
}

// NestedEntryRef locates an entry of L1's nested tables: the table's L1
// GPA, the entry's index and address in it, and its size in bytes.
type NestedEntryRef struct {
	Table GPA
	Index int
	Addr  GPA
	Size  int
}

// NestedEntryAt finds the entry at level of vCPU id's EPT12 (from vmcs12's
// EPT pointer) or NPT12 (from vmcb12's nested_cr3, in L1's format) on the
// path of the L2 GPA l2: the entry WriteEPT12Entry or WriteNPT12Entry
// stores to. It has no side effects; the error says which entry above is
// missing.
func (m *Machine) NestedEntryAt(id int, l2 GPA, level int) (NestedEntryRef, error) {
	v, err := m.VCPU(id)
	if err != nil {
		return NestedEntryRef{}, err
	}
	switch v.Nested.Kind {
	case NestedVMX:
		addr, err := m.ept12EntryAddr(nestedEPTGetEPTP(v), l2, level)
		if err != nil {
			return NestedEntryRef{}, err
		}
		return NestedEntryRef{Table: addr &^ pageMask, Index: int(addr&pageMask) / 8, Addr: addr, Size: 8}, nil
	case NestedSVM:
		addr, size, err := m.npt12EntryAddr(v, l2, level)
		if err != nil {
			return NestedEntryRef{}, err
		}
		mode := NPTFormat(v.l1Regs())
		table := addr &^ pageMask
		if mode == PagingPAE && level == 3 {
			table = formatFor(mode).cr3Base(v.Nested.NCR3, m.Config.MaxPhyAddr) // a 32-byte PDPT
		}
		return NestedEntryRef{Table: table, Index: int(addr-table) / size, Addr: addr, Size: size}, nil
	}
	return NestedEntryRef{}, fmt.Errorf("vCPU %d has no nested set-up", id)
}
