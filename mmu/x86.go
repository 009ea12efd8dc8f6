package mmu

import "fmt"

// translator returns the hook the walker uses to reach guest memory.
func (m *Machine) translator() Translator { return SlotTranslator{} }

// checkGVA rejects addresses the paging mode cannot express. It returns a
// #GP fault for a non-canonical address in long mode (the CPU raises #GP
// before any walk) and an error for an address wider than 32 bits otherwise.
func checkGVA(mode PagingMode, gva GVA) (*Fault, error) {
	switch mode {
	case Paging4, Paging5:
		width := formatFor(mode).vaBits()
		top := uint64(gva) >> uint(width-1)
		if top != 0 && top != (^uint64(0))>>uint(width-1) {
			return &Fault{Vector: "#GP", Addr: gva, Reason: fmt.Sprintf(
				"GVA %s is not canonical: bits 63:%d must all equal bit %d", gva, width-1, width-1)}, nil
		}
	default:
		if uint64(gva) > 0xffffffff {
			return nil, fmt.Errorf("GVA %s does not fit in the 32-bit address space of %s", gva, mode)
		}
	}
	return nil, nil
}

func (m *Machine) doAccess(a *Access) (Result, error) {
	v, err := m.VCPU(a.VCPU)
	if err != nil {
		return Result{}, err
	}
	if a.Kind != AccessRead && a.Kind != AccessWrite && a.Kind != AccessFetch {
		return Result{}, fmt.Errorf("access kind %d is not a read, a write or a fetch", int(a.Kind))
	}
	if a.Implicit && (a.User || a.Kind == AccessFetch) {
		return Result{}, fmt.Errorf("an implicit access is a supervisor read or write")
	}
	if err := checkStore(a); err != nil {
		return Result{}, err
	}
	mmu := v.WalkMMU()
	mode := PagingMode(mmu.CPURole.Base.Level())
	gp, err := checkGVA(mode, a.GVA)
	if err != nil {
		return Result{}, err
	}
	acc := accessBits(a)
	v.HasRun = true
	if m.tdp != nil {
		return m.doAccessTDP(v, a, mode, acc, gp)
	}
	if m.shadow != nil {
		return m.doAccessShadow(v, a, mode, acc, gp)
	}
	fn := formatFor(mode).prefix + "_gva_to_gpa"
	if mode == PagingOff {
		fn = "nonpaging_gva_to_gpa"
	}
	if !m.Quiet {
		text := fmt.Sprintf("vCPU %d: %s of GVA %s with %s", v.ID, describeAccess(acc), a.GVA, mode)
		switch {
		case mode == PagingOff:
			text += ", so no table is walked: the GPA is the GVA."
		case gp != nil:
			text += "."
		default:
			text += fmt.Sprintf("; the walk starts from CR3 = %s.", hex(v.Regs.CR3))
		}
		m.emit(Event{Kind: EvBegin, MMU: mmu.Name, Func: fn, Space: SpaceGVA, Addr: uint64(a.GVA),
			VCPU: v.ID, GVA: a.GVA, Old: acc, New: acc, Text: text})
	}
	if gp != nil {
		if !m.Quiet {
			m.emit(Event{Kind: EvFault, MMU: mmu.Name, Func: "kvm_inject_gp", Space: SpaceGVA, Addr: uint64(a.GVA),
				VCPU: v.ID, GVA: a.GVA, Text: "#GP(0): " + gp.Reason + "."})
		}
		return Result{Fault: gp, HasRefs: true}, nil
	}
	w := m.walkAddrGeneric(v, mmu, a.GVA, acc, m.translator())
	res := Result{HasRefs: true, Refs: w.Refs}
	if w.Fault != nil {
		res.Fault = w.Fault
		return res, nil
	}
	res.OK, res.HasGPA, res.GPA = true, true, w.GPA
	text := fmt.Sprintf("GVA %s → GPA %s", a.GVA, w.GPA)
	if w.Mapped {
		res.HasHPA, res.HPA = true, w.HPA
		text += fmt.Sprintf(" → HPA %s", w.HPA)
	} else {
		res.Note = "MMIO: no memslot covers the GPA"
		text += " (no memslot: KVM would emulate it as MMIO)"
	}
	if w.Level > 0 {
		text += fmt.Sprintf(", a %s page", sizeString(LevelPageSize(mode, w.Level)))
	}
	if !m.Quiet {
		m.emit(Event{Kind: EvResult, MMU: mmu.Name, Func: fn, Space: SpaceGPA, Addr: uint64(w.GPA),
			Level: w.Level, VCPU: v.ID, GVA: a.GVA, HPA: w.HPA, HasHPA: w.Mapped,
			Text: fmt.Sprintf("%s; %s.", text, refsString(w.Refs))})
	}
	if w.Mapped {
		m.guestStore(v, a, w.GPA, w.HPA)
	}
	return res, nil
}

// checkStore refuses a value on anything but a write, and a store that is
// not 1, 2, 4 or 8 bytes within one page.
func checkStore(a *Access) error {
	if !a.HasValue {
		return nil
	}
	if a.Kind != AccessWrite {
		return fmt.Errorf("only a write stores a value, not a %s", a.Kind)
	}
	if a.Size != 1 && a.Size != 2 && a.Size != 4 && a.Size != 8 {
		return fmt.Errorf("a store is 1, 2, 4 or 8 bytes, not %d", a.Size)
	}
	if uint64(a.GVA)&pageMask+uint64(a.Size) > PageSize {
		return fmt.Errorf("a %d-byte store at GVA %s crosses a page boundary", a.Size, a.GVA)
	}
	return nil
}

// guestStore performs the data store of a write with a value, once the
// access translated to gpa and hpa: the processor writes memory, and no
// one else notices.
func (m *Machine) guestStore(v *VCPU, a *Access, gpa GPA, hpa HPA) {
	if !a.HasValue {
		return
	}
	old, err := m.Mem.Write(hpa, a.Size, a.Value)
	if err != nil || m.Quiet {
		return
	}
	m.emit(Event{Kind: EvWrite, MMU: "guest", Func: "guest store", Space: SpaceGPA, Addr: uint64(gpa),
		Old: old, New: a.Value, VCPU: v.ID, GVA: a.GVA, HPA: hpa, HasHPA: true, Size: a.Size,
		Text: fmt.Sprintf("The store completes: %d bytes of %s at GPA %s (HPA %s; was %s).", a.Size, hex(a.Value),
			gpa, hpa, hex(old))})
}

// EntryRef locates one guest entry on the path of a GVA.
type EntryRef struct {
	Level int
	Index int
	Table GPA // GPA of the table holding the entry
	GPA   GPA // GPA of the entry itself
	Value PTE
}

// LookupEntry follows the guest's tables for gva down to level without
// checks or side effects, as a debugger would. It fails when an entry above
// level is missing or maps a large page, saying which. Like the walk, a PAE
// guest descends through its PDPTR registers, not through the PDPTEs in
// memory (which may have changed since they were loaded); level 3 itself
// is the PDPTE in memory.
func (m *Machine) LookupEntry(vcpu int, gva GVA, level int) (EntryRef, error) {
	v, err := m.VCPU(vcpu)
	if err != nil {
		return EntryRef{}, err
	}
	mode := PagingMode(v.WalkMMU().CPURole.Base.Level())
	f := formatFor(mode)
	if mode == PagingOff {
		return EntryRef{}, fmt.Errorf("paging is off: there are no page tables")
	}
	if level < 1 || level > f.rootLevel {
		return EntryRef{}, fmt.Errorf("%s has levels 1 to %d, not %d", mode, f.rootLevel, level)
	}
	table := f.cr3Base(v.Regs.CR3, m.Config.MaxPhyAddr)
	read := m.ReadGuest
	if v.WalkMMU() == &v.NestedMMU {
		read = m.l2ReadGuest(v) // L2's tables are in L2 memory, reached through L1's nested table
	}
	for l := f.rootLevel; ; l-- {
		idx := f.index(gva, l)
		if f.mode == PagingPAE && l == 3 {
			idx = int(uint64(gva)>>30) & 3
		}
		gpa := table + GPA(idx*f.entrySize)
		raw, err := read(gpa, f.entrySize)
		if err != nil {
			return EntryRef{}, fmt.Errorf("reading the %s: %v", EntryName(mode, l), err)
		}
		e := PTE(raw)
		if l == level {
			return EntryRef{Level: l, Index: idx, Table: table, GPA: gpa, Value: e}, nil
		}
		if f.mode == PagingPAE && l == 3 {
			e = PTE(v.PDPTRs[idx])
		}
		if !e.Present() {
			return EntryRef{}, fmt.Errorf("the %s for GVA %s (at GPA %s) is not present, so there is no level-%d entry",
				EntryName(mode, l), gva, gpa, level)
		}
		if l > 1 && f.isLastGPTE(e, l, v.WalkMMU().CPURole.Ext.CR4PSE) && !(f.mode == PagingPAE && l == 3) {
			return EntryRef{}, fmt.Errorf("the %s for GVA %s maps a large page, so there is no level-%d entry",
				EntryName(mode, l), gva, level)
		}
		table = f.tableAddr(e)
	}
}

func (m *Machine) doPrintEntry(a *PrintEntry) (Result, error) {
	ref, err := m.LookupEntry(a.VCPU, a.GVA, a.Level)
	if err != nil {
		return Result{}, err
	}
	v := m.VCPUs[a.VCPU]
	mode := PagingMode(v.WalkMMU().CPURole.Base.Level())
	hpa, _ := m.GPAToHPA(ref.GPA)
	if !m.Quiet {
		m.emit(Event{Kind: EvRead, MMU: "debug", Func: "kvm_read_guest", Space: SpaceGPA, Addr: uint64(ref.GPA),
			Level: ref.Level, Index: ref.Index, HasEntry: true, Old: uint64(ref.Value), New: uint64(ref.Value),
			HPA: hpa, HasHPA: true, Table: uint64(ref.Table), Size: EntrySize(mode), VCPU: a.VCPU, GVA: a.GVA,
			Text: fmt.Sprintf("%s[%d] for GVA %s at GPA %s = %s (%s).", EntryName(mode, ref.Level), ref.Index, a.GVA,
				ref.GPA, hex(uint64(ref.Value)), DecodeFlags(ref.Value, ref.Level, mode != Paging32))})
	}
	return Result{OK: true, HasValue: true, Value: uint64(ref.Value), HasGPA: true, GPA: ref.GPA}, nil
}
