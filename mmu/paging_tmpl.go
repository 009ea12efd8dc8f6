package mmu

import "fmt"

// Translator maps a guest physical address that a walk is about to use (a
// table entry's address when level > 0, the final address when level is 0)
// to the host address behind it. The memslot translator is the plain case;
// a two-dimensional walk plugs an EPT/NPT walk in here, and a nested walk
// plugs in translate_nested_gpa. mapped is false when no memory backs gpa
// (MMIO); fault is set when the translation itself faults.
type Translator interface {
	TranslateGPA(m *Machine, gpa GPA, access uint64, level int) (hpa HPA, mapped bool, fault *Fault)
}

// SlotTranslator translates through the memslots alone, as KVM reads guest
// memory (kvm_vcpu_gfn_to_hva); it costs no memory references.
type SlotTranslator struct{}

// TranslateGPA implements Translator.
func (SlotTranslator) TranslateGPA(m *Machine, gpa GPA, _ uint64, _ int) (HPA, bool, *Fault) {
	hpa, ok := m.GPAToHPA(gpa)
	return hpa, ok, nil
}

// GuestWalker is struct guest_walker: what a walk of the guest's tables
// found, level by level (index level-1).
type GuestWalker struct {
	Mode      PagingMode
	Level     int     // level of the leaf, or where the walk stopped
	MaxLevel  int     // level the walk started at
	TableGFN  [5]GFN  // guest frame of the table read at each level
	PTEs      [5]PTE  // entry read at each level
	PTEGPA    [5]GPA  // guest address of each entry
	PTEHPA    [5]HPA  // host address of each entry
	FromReg   [5]bool // the entry came from a PDPTR register
	PTAccess  [5]int  // rights granted by the levels above each entry
	PTEAccess int     // rights of the whole walk (ACC_*)
	PKey      int     // protection key of the leaf
	GPA       GPA     // the translation
	HPA       HPA     // host address behind GPA
	Mapped    bool    // a memslot backs GPA
	Fault     *Fault  // set when the walk faulted
	Refs      int     // memory references made
	Access    uint64  // PFERR_* bits describing the access
	GVA       GVA     // the address walked
	walkMMU   *MMU
}

// what names the access for narration ("read as user"); it is built only
// when a sentence needs it, so quiet walks do no string work for it.
func (c *walkContext) what() string { return describeAccess(c.w.Access) }

// walkContext carries what one walk needs besides the walker itself.
type walkContext struct {
	m   *Machine
	v   *VCPU
	mmu *MMU
	f   guestFormat
	tr  Translator
	w   *GuestWalker
	// hw is set when the processor itself walks (EPT/NPT): the Translator
	// is its EPT/NPT walk, and the steps are narrated as the CPU's.
	hw *hwWalk
}

// fn is the name the trace gives the walker's steps: the kernel's
// function for KVM's software walk, "cpu" for the processor's own.
func (c *walkContext) fn(kvm string) string {
	if c.hw != nil {
		return "cpu"
	}
	return kvm
}

// accessBits turns an Access into the PFERR_* bits the walker checks.
func accessBits(a *Access) uint64 {
	var acc uint64
	switch a.Kind {
	case AccessWrite:
		acc |= PFErrWrite
	case AccessFetch:
		acc |= PFErrFetch
	}
	if a.User {
		acc |= PFErrUser
	}
	if a.Implicit {
		acc |= PFErrImplicit
	}
	return acc
}

// describeAccess says "write as supervisor (implicit)" and the like.
func describeAccess(acc uint64) string {
	kind := "read"
	if acc&PFErrWrite != 0 {
		kind = "write"
	} else if acc&PFErrFetch != 0 {
		kind = "instruction fetch"
	}
	who := "supervisor"
	if acc&PFErrUser != 0 {
		who = "user"
	}
	s := kind + " as " + who
	if acc&PFErrImplicit != 0 {
		s += " (implicit)"
	}
	return s
}

// walkAddrGeneric walks the guest's tables for gva as FNAME(walk_addr_generic)
// does: read each level's entry through tr, stop at a non-present entry or a
// reserved bit, accumulate W and U by AND and NX by OR, check permissions on
// the leaf, and only then set A on every level and D on the leaf of a write.
func (m *Machine) walkAddrGeneric(v *VCPU, mmu *MMU, gva GVA, access uint64, tr Translator) *GuestWalker {
	mode := PagingMode(mmu.CPURole.Base.Level())
	w := &GuestWalker{Mode: mode, GVA: gva, Access: access, walkMMU: mmu, PTEAccess: AccAll}
	c := &walkContext{m: m, v: v, mmu: mmu, f: formatFor(mode), tr: tr, w: w}
	if h, ok := tr.(*hwWalk); ok {
		c.hw = h
	}
	refs0 := m.refs
	defer func() { w.Refs = m.refs - refs0 }()
	if mode == PagingOff {
		c.nonpaging()
		return w
	}
	ok := c.walkLevels()
	if !ok {
		return w
	}
	if !c.checkPermissions() {
		return w
	}
	if !c.finalTranslation() {
		return w
	}
	c.updateAccessedDirtyBits()
	return w
}

// pdptesFromMemory says whether a PAE walk reads its PDPTE from memory
// instead of a PDPTR register: AMD's nested paging keeps no PDPTE
// registers for a PAE guest (unverified against the APM; EPT does keep
// them, loaded at MOV to CR3).
func (c *walkContext) pdptesFromMemory() bool {
	return c.hw != nil && c.m.tdp.cfg.Kind == TDPNPT
}

// nonpaging is nonpaging_gva_to_gpa: with CR0.PG=0 the GVA is the GPA.
func (c *walkContext) nonpaging() {
	c.w.GPA = GPA(c.w.GVA)
	c.w.Level = 0
	c.finalTranslation()
}

func (c *walkContext) walkLevels() bool {
	w, f, v := c.w, c.f, c.v
	level := f.rootLevel
	w.MaxLevel = level
	table := f.cr3Base(c.m.kvmMMUGetGuestPGD(v, c.mmu), c.m.Config.MaxPhyAddr)
	access := AccAll
	if f.mode == PagingPAE && !c.pdptesFromMemory() {
		// The PDPTEs were loaded into registers at the last CR3 write; the
		// walk uses those copies, not memory (get_pdptr). guest_mmu's
		// get_pdptr reads NPT12's PDPTEs from L1 memory instead.
		i := int(uint64(w.GVA)>>30) & 3
		e := PTE(c.m.kvmPDPTRRead(v, c.mmu, i))
		w.PTEs[2], w.FromReg[2], w.PTAccess[2] = e, true, access
		w.Level = 3
		if !c.m.Quiet {
			c.m.emit(Event{Kind: EvRead, MMU: c.mmu.Name, Func: c.fn(c.pdptrFn()), Space: SpacePDPTR,
				Addr: uint64(i), Level: 3, Index: i, Old: uint64(e), New: uint64(e), HasEntry: true,
				VCPU: v.ID, GVA: w.GVA, Table: uint64(table), TwoD: c.hw != nil, GuestLevel: 3,
				Text: c.pdptrText(i, table, e)})
		}
		if !e.Present() {
			return c.fail(0, 3, fmt.Sprintf("PDPTE %d is not present", i))
		}
		table = f.tableAddr(e)
		level = 2
	}
	pdpte := f.mode == PagingPAE && c.pdptesFromMemory()
	for ; level >= 1; level-- {
		e, ok := c.readGPTE(table, level)
		if !ok {
			return false
		}
		if !e.Present() {
			return c.fail(0, level, fmt.Sprintf("the %s is not present", EntryName(f.mode, level)))
		}
		if c.mmu.guestRsvd.isRsvdBitsSet(e, level) {
			return c.fail(PFErrRsvd|PFErrPresent, level,
				fmt.Sprintf("the %s sets reserved bits %s", EntryName(f.mode, level), hex(uint64(e)&c.rsvdMask(e, level))))
		}
		w.PTAccess[level-1] = access
		if pdpte && level == 3 {
			table = f.tableAddr(e) // a PDPTE grants no rights and ends no walk
			continue
		}
		access &= gpteAccess(e, f.wide)
		if f.isLastGPTE(e, level, c.mmu.CPURole.Ext.CR4PSE) {
			break
		}
		table = f.tableAddr(e)
	}
	w.PTEAccess = access
	if f.wide && c.mmu.CPURole.Ext.CR4PKE {
		w.PKey = w.PTEs[w.Level-1].PKey()
	}
	return true
}

func (c *walkContext) rsvdMask(e PTE, level int) uint64 {
	return c.mmu.guestRsvd.mask[(e>>7)&1][level-1]
}

// gpteAccess is FNAME(gpte_access): the rights one entry grants.
func gpteAccess(e PTE, wide bool) int {
	acc := AccExec
	if wide && e.NX() {
		acc = 0
	}
	if e.Writable() {
		acc |= AccWrite
	}
	if e.User() {
		acc |= AccUser
	}
	return acc
}

// readGPTE reads the entry for the walked GVA from the table at table,
// translating the entry's address first (kvm_translate_gpa).
func (c *walkContext) readGPTE(table GPA, level int) (PTE, bool) {
	w, f := c.w, c.f
	w.Level = level
	idx := f.index(w.GVA, level)
	gpa := table + GPA(idx*f.entrySize)
	w.TableGFN[level-1] = table.GFN()
	w.PTEGPA[level-1] = gpa
	// Reading a table is a read (and with A/D, a write) of guest memory by
	// the walker itself, never a user access to it.
	hpa, mapped, fault := c.tr.TranslateGPA(c.m, gpa, PFErrUser|PFErrWrite, level)
	if fault != nil {
		w.Fault = fault
		return 0, false
	}
	if !mapped {
		return 0, c.fail(0, level, fmt.Sprintf("the %s at GPA %s is outside every memslot", TableName(f.mode, level), table))
	}
	raw, err := c.m.Mem.Read(hpa, f.entrySize)
	if err != nil {
		return 0, c.fail(0, level, err.Error())
	}
	c.m.refs++
	e := PTE(raw)
	w.PTEs[level-1], w.PTEHPA[level-1] = e, hpa
	lo, hi := f.indexBits(level)
	if !c.m.Quiet {
		ev := Event{Kind: EvRead, MMU: c.mmu.Name, Func: c.fn("walk_addr_generic"), Space: SpaceGPA,
			Addr: uint64(gpa), Level: level, Index: idx, Old: raw, New: raw, HasEntry: true,
			HPA: hpa, HasHPA: true, Table: uint64(table), Size: f.entrySize, VCPU: c.v.ID, GVA: w.GVA,
			Text: c.narrateRead(e, level, idx, lo, hi, gpa, hpa)}
		if c.hw != nil {
			ev.TwoD, ev.GuestLevel, ev.Ref = true, level, c.hw.ref(c.m)
			ev.Text = "With that HPA, the processor reads the guest's entry: " + ev.Text
		}
		c.m.emit(ev)
	}
	return e, true
}

func (c *walkContext) narrateRead(e PTE, level, idx, lo, hi int, gpa GPA, hpa HPA) string {
	f := c.f
	s := fmt.Sprintf("%s bits %d:%d = %d index the %s at GPA %s; the %s at GPA %s (HPA %s) is %s",
		c.addrWord(), hi, lo, idx, TableName(f.mode, level), GPA(uint64(gpa)&^pageMask),
		EntryName(f.mode, level), gpa, hpa, hex(uint64(e)))
	switch {
	case !e.Present():
		return s + ": not present."
	case c.mmu.guestRsvd.isRsvdBitsSet(e, level):
		return s + " (" + DecodeFlags(e, level, f.wide) + "), with reserved bits set."
	case f.isLastGPTE(e, level, c.mmu.CPURole.Ext.CR4PSE):
		size := sizeString(LevelPageSize(f.mode, level))
		return s + fmt.Sprintf(" (%s): it maps a %s page at GPA %s.", DecodeFlags(e, level, f.wide), size,
			f.leafGPA(e, level, 0, c.m.Config.PSE36))
	}
	if level > 1 && e.PageSize() && !f.wide {
		return s + fmt.Sprintf(" (%s): PS is ignored without CR4.PSE, so the next table is at GPA %s.",
			DecodeFlags(e, level, f.wide), f.tableAddr(e))
	}
	return s + fmt.Sprintf(" (%s): the next table is at GPA %s.", DecodeFlags(e, level, f.wide), f.tableAddr(e))
}
