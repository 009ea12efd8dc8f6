package mmu

import "fmt"

// The shadow page fault (mmu.c's kvm_mmu_page_fault, paging_tmpl.h's
// FNAME(page_fault) and FNAME(fetch)): the processor faulted on the shadow
// tables; KVM walks the guest's tables in software, injects the guest's
// own #PF if the guest's tables do not allow the access, and otherwise
// builds the missing shadow pages level by level and installs the leaf.

// shadowFault is struct kvm_page_fault for a shadow fault.
type shadowFault struct {
	kvmPageFault
	gva  GVA
	user bool
}

// shadowIter is struct kvm_shadow_walk_iterator.
type shadowIter struct {
	addr       GVA
	shadowAddr HPA
	level      int
	index      int
	sptep      HPA
}

// shadowWalkInit is shadow_walk_init_using_root: start at the root; with
// a PAE root, or special roots over a 32-bit or PAE guest, start at the
// pae_root entry the GVA selects, one level down (0 if it is invalid).
func (m *Machine) shadowWalkInit(v *VCPU, root HPA, addr GVA) shadowIter {
	mmu := v.ArchMMU()
	it := shadowIter{addr: addr, shadowAddr: root, level: mmu.RootRole.Level()}
	if it.level >= 4 && mmu.CPURole.Base.Level() < 4 && !mmu.RootRole.Direct() && m.shadow.spAt(root) == nil {
		it.level = 3
	}
	if it.level == 3 && m.shadow.spAt(root) == nil {
		e := m.readSPTE(mmu.PAERoot + HPA(8*((uint64(addr)>>30)&3)))
		it.shadowAddr = HPA(e & eptAddrMask)
		it.level--
		if it.shadowAddr == 0 || e&PTPresent == 0 {
			it.level = 0
		}
	}
	return it
}

// ok is shadow_walk_okay: compute the SPTE for this level.
func (it *shadowIter) ok() bool {
	if it.level < 1 {
		return false
	}
	it.index = spteIndex(GPA(it.addr), it.level)
	it.sptep = it.shadowAddr + HPA(8*it.index)
	return true
}

// next is shadow_walk_next: step down through a present table SPTE.
func (it *shadowIter) next(m *Machine) {
	spte := m.readSPTE(it.sptep)
	if !isShadowPresentPTE(spte) || isLastSPTE(spte, it.level) {
		it.level = 0
		return
	}
	it.shadowAddr = HPA(spte & eptAddrMask)
	it.level--
}

// kvmMMUPageFaultShadow is kvm_mmu_page_fault for the shadow MMU: an RSVD
// fault is first tried as MMIO (handle_mmio_page_fault); otherwise
// kvm_mmu_do_page_fault runs FNAME(page_fault). A write to a
// write-protected guest table ends in emulation (kvm_mmu_write_protect_fault).
// It returns the verdict, KVM's walk of the guest tables, and the #PF
// injected into the guest if the guest's own tables forbid the access.
func (m *Machine) kvmMMUPageFaultShadow(v *VCPU, gva GVA, ec, acc uint64) (retPF, *GuestWalker, *Fault) {
	if !m.Quiet {
		m.emit(Event{Kind: EvCheck, MMU: "root_mmu", Func: "kvm_mmu_page_fault", Space: SpaceGVA, Addr: uint64(gva),
			Old: ec, New: ec, VCPU: v.ID, GVA: gva,
			Text: fmt.Sprintf("kvm_mmu_page_fault(CR2 = GVA %s, error code %s = %s): under shadow paging CR2 is the "+
				"guest's own linear address.", gva, hex(ec), DecodeErrorCode(ec))})
	}
	if ec&PFErrRsvd != 0 {
		if r := m.handleMMIOPageFaultShadow(v, gva); r == retPFEmulate || r == retPFError {
			return r, nil, nil
		}
	}
	var r retPF
	var w *GuestWalker
	var inj *Fault
	if v.ArchMMU().RootRole.Direct() {
		r = m.nonpagingPageFault(v, gva, ec, acc)
	} else {
		r, w, inj = m.fnamePageFault(v, gva, ec, acc)
	}
	if r == retPFWriteProtected {
		r = m.kvmMMUWriteProtectFault(v, gva)
	}
	return r, w, inj
}

// handleMMIOPageFaultShadow is handle_mmio_page_fault for an indirect MMU:
// an MMIO SPTE of the current memslot generation is emulated at once.
func (m *Machine) handleMMIOPageFaultShadow(v *VCPU, gva GVA) retPF {
	var leaf uint64
	for it := m.shadowWalkInit(v, v.ArchMMU().Root, gva); it.ok(); it.next(m) {
		leaf = m.readSPTE(it.sptep)
	}
	s := &m.shadow.masks
	if !s.isMMIOSPTE(leaf) {
		return retPFInvalid
	}
	gen := mmioSPTEGeneration(leaf)
	if gen != m.slotsGen&mmioGenMask {
		m.emitShadowMMIO(v, gva, fmt.Sprintf("an MMIO SPTE of memslot generation %d, not %d: the fault takes the "+
			"normal path (RET_PF_INVALID)", gen, m.slotsGen&mmioGenMask))
		return retPFInvalid
	}
	m.emitShadowMMIO(v, gva, fmt.Sprintf("the SPTE for GVA %s is an MMIO SPTE for GFN %s of the current memslot "+
		"generation: RET_PF_EMULATE, no walk needed", gva, mmioSPTEGFN(leaf, m.Config.MaxPhyAddr)))
	return retPFEmulate
}

func (m *Machine) emitShadowMMIO(v *VCPU, gva GVA, text string) {
	if !m.Quiet {
		m.emit(Event{Kind: EvCheck, MMU: v.ArchMMU().Name, Func: "handle_mmio_page_fault", Space: SpaceGVA,
			Addr: uint64(gva), VCPU: v.ID, GVA: gva, Text: "handle_mmio_page_fault: " + text + "."})
	}
}

// kvmMMUWriteProtectFault is kvm_mmu_write_protect_fault: KVM cannot make
// a guest page table writable, so it emulates the write itself.
func (m *Machine) kvmMMUWriteProtectFault(v *VCPU, gva GVA) retPF {
	if !m.Quiet {
		m.emit(Event{Kind: EvCheck, MMU: v.ArchMMU().Name, Func: "kvm_mmu_write_protect_fault", Space: SpaceGVA,
			Addr: uint64(gva), VCPU: v.ID, GVA: gva,
			Text: "kvm_mmu_write_protect_fault: RET_PF_WRITE_PROTECTED: the write goes to a guest page table that " +
				"KVM keeps read-only, so KVM emulates the instruction (RET_PF_EMULATE) and sees what it writes."})
	}
	return retPFEmulate
}

// fnamePageFault is FNAME(page_fault) (paging64_page_fault,
// paging32_page_fault).
func (m *Machine) fnamePageFault(v *VCPU, gva GVA, ec, acc uint64) (retPF, *GuestWalker, *Fault) {
	mmu := v.ArchMMU()
	mode := PagingMode(mmu.CPURole.Base.Level())
	fn := formatFor(mode).prefix + "_page_fault"
	if mmu == &v.GuestMMU && v.Nested.Kind == NestedVMX {
		fn = "ept_page_fault" // paging_tmpl.h with PTTYPE_EPT
	}
	if !m.Quiet {
		text := fmt.Sprintf("kvm_mmu_do_page_fault → %s (FNAME(page_fault)): KVM walks the guest's own tables in "+
			"software (walk_addr_generic) to learn what the guest allows at GVA %s.", fn, gva)
		if mmu == &v.GuestMMU {
			who := "every access it checks is a user access"
			if v.Nested.Kind == NestedVMX {
				who = "EPT has no user bit, so a read is checked as PFERR_USER against the entries' R bits"
			}
			text = fmt.Sprintf("kvm_mmu_do_page_fault → %s (FNAME(page_fault) on guest_mmu): KVM walks L1's nested "+
				"table (%s %s, in L1 memory, read through the memslots) in software to learn what L1 allows at L2 "+
				"GPA %s; %s.", fn, pgdName(v, mmu), hex(v.Nested.NestedPGD), GPA(gva), who)
		}
		m.emit(Event{Kind: EvCheck, MMU: mmu.Name, Func: fn, Space: SpaceGVA, Addr: uint64(gva), VCPU: v.ID, GVA: gva,
			Text: text})
	}
	w := m.guestMMUWalk(v, mmu, gva, acc)
	if w.Fault != nil {
		m.kvmInjectEmulatedPageFault(v, mmu, gva, w.Fault)
		return retPFRetry, w, w.Fault
	}
	f := &shadowFault{gva: gva, user: acc&PFErrUser != 0}
	f.addr, f.errorCode = GPA(gva), ec
	f.write, f.exec, f.present = acc&PFErrWrite != 0, acc&PFErrFetch != 0, ec&PFErrPresent != 0
	f.gfn, f.maxLevel, f.reqLevel, f.goalLevel = w.GPA.GFN(), w.Level, 1, 1
	f.slot = m.gfnToMemslot(f.gfn)
	if m.pageFaultHandlePageTrack(v, f) {
		m.shadowPageTableClearFlood(v, gva)
		return retPFWriteProtected, w, nil
	}
	access := w.PTEAccess
	if r := m.shadowFaultinPFN(v, f); r != retPFContinue {
		return r, w, nil
	}
	access = m.cr0WPTrick(v, f, access)
	if root := m.shadow.spAt(v.ArchMMU().Root); (root != nil && m.shadow.isObsoleteSP(root)) ||
		(root == nil && (v.ReqFreeObsoleteRoots || v.ReqMMUReload)) {
		return retPFRetry, w, nil // is_page_fault_stale
	}
	return m.fnameFetch(v, f, w, access), w, nil
}

// kvmInjectEmulatedPageFault is kvm_inject_emulated_page_fault after
// FNAME(page_fault)'s walk failed: the fault goes to the context that
// walked (the walker marks a walk by arch.mmu other than walk_mmu as a
// nested_page_fault): root_mmu injects #PF into the guest; guest_mmu
// reflects the fault to L1 as a VM-exit (nested_svm_inject_npf_exit).
func (m *Machine) kvmInjectEmulatedPageFault(v *VCPU, mmu *MMU, addr GVA, f *Fault) {
	if mmu == &v.GuestMMU && v.vendor() != nil {
		m.emitNested(v, EvCheck, "kvm_inject_emulated_page_fault", fmt.Sprintf("the walk was guest_mmu's, not "+
			"walk_mmu's (nested_page_fault), so the fault goes to guest_mmu's inject_page_fault, %s. A present, "+
			"non-reserved fault would first resync guest_mmu's SPTE for the address (kvm_mmu_invalidate_addr).",
			mmu.Callbacks.InjectPageFault))
		v.vendor().injectFault(m, v, f, GPA(addr))
		return
	}
	if !m.Quiet {
		m.emit(Event{Kind: EvFault, MMU: mmu.Name, Func: "kvm_inject_emulated_page_fault", Space: SpaceGVA,
			Addr: uint64(addr), Old: f.ErrorCode, New: f.ErrorCode, VCPU: v.ID, GVA: addr,
			Text: fmt.Sprintf("kvm_inject_emulated_page_fault: the guest's own tables do not allow the access, so "+
				"the fault is the guest's: KVM injects #PF (error code %s, CR2 = %s) and resumes the guest in its "+
				"page-fault handler.", hex(f.ErrorCode), addr)})
	}
}

// pageFaultHandlePageTrack is page_fault_handle_page_track: a write to a
// present page whose frame is write-tracked cannot be fixed by mapping.
func (m *Machine) pageFaultHandlePageTrack(v *VCPU, f *shadowFault) bool {
	if f.rsvd || !f.present || !f.write || !m.shadow.kvmGFNIsWriteTracked(f.gfn) {
		return false
	}
	if !m.Quiet {
		m.emit(Event{Kind: EvCheck, MMU: v.ArchMMU().Name, Func: "page_fault_handle_page_track", Space: SpaceGPA,
			Addr: uint64(f.gfn.GPA()), VCPU: v.ID, GVA: f.gva,
			Text: fmt.Sprintf("page_fault_handle_page_track: the guest writes GFN %s, which is write-tracked: it holds "+
				"an upper-level guest page table that KVM shadows. No mapping can fix this: RET_PF_WRITE_PROTECTED.",
				f.gfn)})
	}
	return true
}

// shadowPageTableClearFlood is shadow_page_table_clear_flood: the pages on
// the faulting GVA's shadow path are in use, so their write-flooding counts
// start again.
func (m *Machine) shadowPageTableClearFlood(v *VCPU, gva GVA) {
	for it := m.shadowWalkInit(v, v.ArchMMU().Root, gva); it.ok(); it.next(m) {
		m.clearSPWriteFloodingCount(it.sptep)
	}
}

// clearSPWriteFloodingCount is clear_sp_write_flooding_count.
func (m *Machine) clearSPWriteFloodingCount(sptep HPA) {
	if sp := m.shadow.spAt(sptep); sp != nil {
		sp.WriteFloodingCount = 0
	}
}

// shadowFaultinPFN is kvm_mmu_faultin_pfn for a shadow fault: the host
// frame behind the GFN, or MMIO (kvm_handle_noslot_fault).
func (m *Machine) shadowFaultinPFN(v *VCPU, f *shadowFault) retPF {
	if f.slot == nil {
		f.noslot = true
		caching := m.shadow.masks.mmioValue != 0
		if !m.Quiet {
			text := fmt.Sprintf("kvm_handle_noslot_fault: no memslot covers GFN %s, so the access is MMIO; ", f.gfn)
			if caching {
				text += "KVM will install an MMIO SPTE and emulate the instruction."
			} else {
				text += "MMIO caching is off (MAXPHYADDR leaves no reserved bit), so KVM emulates at once."
			}
			m.emit(Event{Kind: EvCheck, MMU: v.ArchMMU().Name, Func: "kvm_handle_noslot_fault", Space: SpaceGPA,
				Addr: uint64(f.gfn.GPA()), VCPU: v.ID, GVA: f.gva, Text: text})
		}
		if !caching {
			return retPFEmulate
		}
		return retPFContinue
	}
	f.pfn = f.slot.PFN(f.gfn)
	return retPFContinue
}

// cr0WPTrick is the CR0.WP=0 rule of FNAME(page_fault): a supervisor
// write that the guest allows only because CR0.WP=0 (the page is
// read-only) is mapped writable but supervisor-only, so that user
// accesses still fault; with SMEP also not executable, since the page
// now looks like a supervisor page.
func (m *Machine) cr0WPTrick(v *VCPU, f *shadowFault, access int) int {
	mmu := v.ArchMMU()
	if !f.write || access&AccWrite != 0 || mmu.CPURole.Base.CR0WP() || f.user || f.slot == nil {
		return access
	}
	n := (access | AccWrite) &^ AccUser
	smep := mmu.CPURole.Ext.CR4SMEP
	if smep {
		n &^= AccExec
	}
	if !m.Quiet {
		more := ""
		switch {
		case smep && access&AccUser != 0:
			more = ", and not executable (SMEP would forbid a supervisor fetch from the user page it really is)"
		case smep:
			more = ", and not executable (with SMEP on, KVM clears X on every page it converts this way)"
		}
		m.emit(Event{Kind: EvCheck, MMU: mmu.Name, Func: formatFor(PagingMode(mmu.CPURole.Base.Level())).prefix + "_page_fault",
			Space: SpaceGVA, Addr: uint64(f.gva), VCPU: v.ID, GVA: f.gva,
			Text: fmt.Sprintf("CR0.WP=0: the guest's kernel may write this read-only page, but the processor runs the "+
				"shadow tables with CR0.WP=1. So KVM maps it writable and supervisor-only (a user access will fault "+
				"and be remapped)%s: %s → %s.", more, rightsString(access, true), rightsString(n, true))})
	}
	return n
}
