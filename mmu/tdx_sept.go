package mmu

import "fmt"

// The Secure EPT as the TDX module keeps it: pages of host memory that
// only SEAMCALLs change, in the EPT format the processor walks, with the
// page state of each leaf. How the module encodes that state is its own;
// the model keeps it in bits 53:52 of an entry, which the processor
// ignores. A private page the module has added (TDH.MEM.PAGE.ADD) or the
// guest has accepted is mapped: R, W, X and write-back. A page
// TDH.MEM.PAGE.AUG added is PENDING (not present to the processor) until
// the guest accepts it; TDH.MEM.RANGE.BLOCK makes an entry BLOCKED (not
// present either) before TDH.MEM.PAGE.REMOVE frees it.

// S-EPT entry states and bits of the model.
const (
	septStateShift = 52
	septStateMask  = uint64(3) << septStateShift
	// SEPTPending marks a leaf TDH.MEM.PAGE.AUG added and the guest has
	// not yet accepted (TDX_SEPT_PENDING).
	SEPTPending = uint64(1) << septStateShift
	// SEPTBlocked marks an entry TDH.MEM.RANGE.BLOCK blocked
	// (TDX_SEPT_BLOCKED, or TDX_SEPT_PENDING_BLOCKED with SEPTPending).
	SEPTBlocked = uint64(2) << septStateShift
	// septLeafBits are a mapped private page's rights and memory type.
	septLeafBits = uint64(EPTRWX | EPTMemWB<<EPTMTShift)
	// septNonLeafBits are a link to the next S-EPT table.
	septNonLeafBits = uint64(EPTRWX)
)

// TDX module status codes the model returns (TDX_* in tdx_errno.h).
var (
	errSEPTWalkFailed  = fmt.Errorf("TDX_EPT_WALK_FAILED")
	errSEPTEntryState  = fmt.Errorf("TDX_EPT_ENTRY_STATE_INCORRECT")
	errSEPTNotTracked  = fmt.Errorf("TDX_TLB_TRACKING_NOT_DONE")
	errSEPTNotFinished = fmt.Errorf("TDX_OP_STATE_INCORRECT")
)

// septLookup walks the S-EPT down to the table of level for gpa, as the
// TDX module does before changing an entry: every entry above must link
// the next table. It returns the entry's address.
func (m *Machine) septLookup(gpa GPA, level int) (HPA, error) {
	x := m.tdx()
	table := x.septRoot
	for l := m.tdp.level; l > level; l-- {
		e, _ := m.Mem.Read(table+HPA(8*spteIndex(gpa, l)), 8)
		if e&EPTRWX == 0 || x.sept[PFN((e&eptAddrMask)>>PageShift)] == nil {
			return 0, errSEPTWalkFailed
		}
		table = HPA(e & eptAddrMask)
	}
	return table + HPA(8*spteIndex(gpa, level)), nil
}

// septLeaf returns the S-EPT leaf entry of a private GFN and its address,
// ok false when a table on the way is missing.
func (m *Machine) septLeaf(gfn GFN) (HPA, uint64, bool) {
	ep, err := m.septLookup(gfn.GPA(), 1)
	if err != nil {
		return 0, 0, false
	}
	e, _ := m.Mem.Read(ep, 8)
	return ep, e, true
}

// septWrite changes an S-EPT entry and records it as the TDX module's
// step fn (a SEAMCALL of KVM's, or the guest's TDCALL).
func (m *Machine) septWrite(v *VCPU, ep HPA, level int, val uint64, kind EventKind, fn, text string) uint64 {
	old, _ := m.Mem.Write(ep, 8, val)
	if !m.Quiet {
		m.emit(Event{Kind: kind, MMU: "tdx_module", Func: fn, Space: SpaceHPA, Addr: uint64(ep), Level: level,
			Index: int(ep&pageMask) / 8, HasEntry: true, Old: old, New: val, VCPU: vcpuID(v),
			Table: uint64(ep &^ pageMask), HPA: ep, HasHPA: true, Size: 8, Text: text})
	}
	return old
}

// tdhMemSEPTAdd is TDH.MEM.SEPT.ADD: the TDX module links page into the
// S-EPT as the table of level-1 below the entry for gpa at level.
func (m *Machine) tdhMemSEPTAdd(v *VCPU, gpa GPA, level int, page HPA, fn string) error {
	ep, err := m.septLookup(gpa, level)
	if err != nil {
		return err
	}
	if e, _ := m.Mem.Read(ep, 8); e != 0 {
		return errSEPTEntryState
	}
	x := m.tdx()
	m.Mem.FillPage(page.PFN(), 0)
	sp := x.sept[page.PFN()]
	if sp == nil {
		sp = &septPage{}
		x.sept[page.PFN()] = sp
	}
	sp.level, sp.gfn = level-1, gfnRoundForLevel(gpa.GFN(), level)
	m.septWrite(v, ep, level, uint64(page)|septNonLeafBits, EvWrite, fn, fmt.Sprintf(
		"%s: TDH.MEM.SEPT.ADD(GPA %s, S-EPT level %d, page HPA %s): the TDX module takes the page KVM gave it, "+
			"clears it, and links it as the S-EPT %s for GPA %s up; the %s at HPA %s now points to it.",
		fn, gpa, level-1, page, TableName(Paging4, level-1), sp.gfn.GPA(), "S-EPT "+EntryName(Paging4, level), ep))
	return nil
}

// tdhMemPageAug is TDH.MEM.PAGE.AUG: the TDX module maps pfn at gpa as a
// PENDING page, which the guest must accept before it can use it.
func (m *Machine) tdhMemPageAug(v *VCPU, gpa GPA, pfn PFN, fn string) error {
	ep, err := m.septLookup(gpa, 1)
	if err != nil {
		return err
	}
	if e, _ := m.Mem.Read(ep, 8); e != 0 {
		return errSEPTEntryState
	}
	m.septWrite(v, ep, 1, uint64(pfn.HPA())|EPTMemWB<<EPTMTShift|SEPTPending, EvWrite, fn, fmt.Sprintf(
		"%s: the TD is runnable, so tdx_mem_page_aug issues TDH.MEM.PAGE.AUG(GPA %s, 4 KiB, page HPA %s): the TDX "+
			"module maps the private page in the S-EPT PTE at HPA %s as PENDING (not present to the processor) until "+
			"the guest accepts it with TDG.MEM.PAGE.ACCEPT.", fn, gpa, pfn.HPA(), ep))
	return nil
}

// tdhMemPageAdd is TDH.MEM.PAGE.ADD, before the TD runs: the TDX module
// copies the source page into the private page and maps it, mapped at
// once (no acceptance needed).
func (m *Machine) tdhMemPageAdd(v *VCPU, gpa GPA, pfn PFN, src HPA, fn string) error {
	ep, err := m.septLookup(gpa, 1)
	if err != nil {
		return err
	}
	if e, _ := m.Mem.Read(ep, 8); e != 0 {
		return errSEPTEntryState
	}
	copyPage(m.Mem, src, pfn.HPA())
	m.septWrite(v, ep, 1, uint64(pfn.HPA())|septLeafBits, EvWrite, fn, fmt.Sprintf(
		"%s: TDH.MEM.PAGE.ADD(GPA %s, page HPA %s, source HPA %s): the TDX module copies the source page, "+
			"userspace's initial image, into the private page, encrypted with the TD's key, and maps it in the "+
			"S-EPT PTE at HPA %s (R W X WB): a page added before the TD runs needs no acceptance.",
		fn, gpa, pfn.HPA(), src, ep))
	return nil
}

// copyPage copies a 4 KiB page of host memory.
func copyPage(mem *PhysMem, src, dst HPA) {
	for off := HPA(0); off < PageSize; off += 8 {
		w, _ := mem.Read(src+off, 8)
		_, _ = mem.Write(dst+off, 8, w)
	}
}

// zeroPage clears a 4 KiB page of host memory (tdx_clear_page).
func zeroPage(mem *PhysMem, hpa HPA) { mem.FillPage(hpa.PFN(), 0) }

// kvmMMUAllocExternalSPT is kvm_mmu_alloc_external_spt: a mirror page
// gets a page for the S-EPT table it stands for, from the vCPU's
// mmu_external_spt_cache. KVM never reads or writes it; the TDX module
// initialises it at TDH.MEM.SEPT.ADD.
func (m *Machine) kvmMMUAllocExternalSPT(v *VCPU, sp *KVMMMUPage) error {
	pfn, err := m.Mem.AllocPage()
	if err != nil {
		return err
	}
	sp.ExternalSPT = pfn.HPA()
	if !m.Quiet {
		m.emit(Event{Kind: EvAlloc, MMU: "root_mmu", Func: "kvm_mmu_alloc_external_spt", Space: SpaceHPA,
			Addr: uint64(sp.ExternalSPT), Level: sp.Role.Level(), VCPU: vcpuID(v), Table: uint64(sp.ExternalSPT),
			Text: fmt.Sprintf("kvm_mmu_alloc_external_spt: the new page is a mirror page (role.is_mirror), so it "+
				"gets an external_spt too: HPA %s, the S-EPT %s it stands for. KVM will hand it to the TDX module "+
				"and never touch it again.", sp.ExternalSPT, TableName(Paging4, sp.Role.Level()))})
	}
	return nil
}

// setExternalSPTEPresent is set_external_spte_present: freeze the mirror
// SPTE (FROZEN_SPTE) so that nothing else changes it while the TDX module
// updates the S-EPT, then call link_external_spt for a table or
// set_external_spte for a leaf. On failure the old SPTE is put back and
// it reports false; on success the caller writes the new SPTE.
func (m *Machine) setExternalSPTEPresent(v *VCPU, it *tdpIter, spte uint64) bool {
	old, _ := m.Mem.Read(it.sptep, 8)
	it.oldSPTE = old
	m.emitMirror(v, it, old, FrozenSPTE, "set_external_spte_present: the mirror SPTE is frozen (FROZEN_SPTE) "+
		"while the TDX module changes the S-EPT, so that no other vCPU installs anything there meanwhile")
	var err error
	if isLastSPTE(spte, it.level) {
		err = m.tdxSeptSetPrivateSPTE(v, it.gfn, it.level, spteToPFN(spte))
	} else {
		child := m.spAt(HPA(spte & eptAddrMask))
		switch {
		case child == nil || child.ExternalSPT == 0:
			err = fmt.Errorf("get_external_spt: the child has no external_spt")
		case child.Role.Level()+1 != it.level || child.GFN != it.gfn:
			err = fmt.Errorf("get_external_spt: the child maps level %d from GFN %s, not level %d from %s",
				child.Role.Level(), child.GFN, it.level-1, it.gfn)
		default:
			err = m.tdxSeptLinkPrivateSPT(v, it.gfn, it.level, child.ExternalSPT)
		}
	}
	if err != nil {
		m.emitMirror(v, it, FrozenSPTE, old, fmt.Sprintf("set_external_spte_present: the TDX module refused (%v), "+
			"so the mirror SPTE gets its old value back and the fault is retried", err))
		return false
	}
	return true
}

// emitMirror records KVM writing a mirror SPTE outside tdpMMUSetSPTE.
func (m *Machine) emitMirror(v *VCPU, it *tdpIter, old, val uint64, text string) {
	_, _ = m.Mem.Write(it.sptep, 8, val)
	if !m.Quiet {
		m.emit(Event{Kind: EvWrite, MMU: "root_mmu", Func: "set_external_spte_present", Space: SpaceHPA,
			Addr: uint64(it.sptep), Level: it.level, Index: it.index(), HasEntry: true, Old: old, New: val,
			VCPU: vcpuID(v), Table: uint64(it.table()), HPA: it.sptep, HasHPA: true, Size: 8,
			Text: fmt.Sprintf("%s: mirror SPTE at HPA %s %s → %s.", text, it.sptep, hex(old), hex(val))})
	}
}

// tdxSeptLinkPrivateSPT is tdx_sept_link_private_spt, the
// link_external_spt hook: TDH.MEM.SEPT.ADD of the mirror page's
// external_spt below the S-EPT entry for gfn at level.
func (m *Machine) tdxSeptLinkPrivateSPT(v *VCPU, gfn GFN, level int, page HPA) error {
	return m.tdhMemSEPTAdd(v, gfn.GPA(), level, page, "tdx_sept_link_private_spt")
}

// tdxSeptSetPrivateSPTE is tdx_sept_set_private_spte, the
// set_external_spte hook: only 4 KiB pages; a runnable TD gets the page
// with TDH.MEM.PAGE.AUG, a TD still being built counts it as premapped
// (tdx_mem_page_record_premap_cnt) for TDH.MEM.PAGE.ADD to fill.
func (m *Machine) tdxSeptSetPrivateSPTE(v *VCPU, gfn GFN, level int, pfn PFN) error {
	x := m.tdx()
	if level != 1 {
		return fmt.Errorf("KVM_BUG_ON: a level-%d private mapping, but TDX maps only 4 KiB pages", level)
	}
	if x.state == tdStateRunnable {
		return m.tdhMemPageAug(v, gfn.GPA(), pfn, "tdx_sept_set_private_spte")
	}
	x.premapped[gfn] = true
	x.nrPremapped++
	if !m.Quiet {
		m.emit(Event{Kind: EvSet, MMU: "root_mmu", Func: "tdx_sept_set_private_spte", Space: SpaceGPA,
			Addr: uint64(gfn.GPA()), VCPU: vcpuID(v), Old: uint64(x.nrPremapped - 1), New: uint64(x.nrPremapped),
			Text: fmt.Sprintf("tdx_sept_set_private_spte: the TD is not finalized yet, so no SEAMCALL maps GFN %s "+
				"now: tdx_mem_page_record_premap_cnt counts it as premapped (nr_premapped %d → %d); TDH.MEM.PAGE.ADD "+
				"will put it in the S-EPT with its initial contents.", gfn, x.nrPremapped-1, x.nrPremapped)})
	}
	return nil
}

// DecodeSEPT spells an S-EPT entry at level: a link or a mapped page as
// EPT flags, a PENDING or BLOCKED page by its state.
func DecodeSEPT(e uint64, level int) string {
	switch {
	case e == 0:
		return "free"
	case e&SEPTBlocked != 0 && e&SEPTPending != 0:
		return "PENDING, BLOCKED"
	case e&SEPTBlocked != 0:
		return "BLOCKED"
	case e&SEPTPending != 0:
		return "PENDING"
	}
	return DecodeEPTFlags(e&^septStateMask, level)
}
