package mmu

import "fmt"

// A guest with paging off under shadow paging (mmu.c): the processor
// still runs with paging on, so KVM maps GPA = GVA through direct shadow
// pages, which shadow no guest table (nonpaging_page_fault, direct_map).

// mmuAllocDirectRoots is mmu_alloc_direct_roots for the shadow MMU: a
// direct root page at KVM's root level, or, with a PAE root, four direct
// level-2 pages in pae_root, one per GiB.
func (m *Machine) mmuAllocDirectRoots(v *VCPU) error {
	mmu := v.ArchMMU()
	mmu.RootPGD = 0 // ignored for direct MMUs
	if level := mmu.RootRole.Level(); level >= 4 {
		sp, err := m.mmuAllocRoot(v, 0, 0, level)
		if err != nil {
			return err
		}
		mmu.Root, mmu.RootValid = sp.SPT, true
		return nil
	}
	for i := 0; i < 4; i++ {
		sp, err := m.mmuAllocRoot(v, GFN(i)<<(30-PageShift), 0, 2)
		if err != nil {
			return err
		}
		m.setPAERoot(v, i, uint64(sp.SPT)|PTPresent, sp)
	}
	mmu.Root, mmu.RootValid = mmu.PAERoot, true
	return nil
}

// nonpagingPageFault is nonpaging_page_fault → direct_page_fault: the GVA
// is the GPA; KVM maps at most 2 MiB pages (its tables are PAE tables).
func (m *Machine) nonpagingPageFault(v *VCPU, gva GVA, ec, acc uint64) retPF {
	if !m.Quiet {
		m.emit(Event{Kind: EvCheck, MMU: "root_mmu", Func: "nonpaging_page_fault", Space: SpaceGVA, Addr: uint64(gva),
			VCPU: v.ID, GVA: gva, Text: fmt.Sprintf("kvm_mmu_do_page_fault → nonpaging_page_fault: the guest has paging "+
				"off, so GVA %s is GPA %s; KVM maps it directly (direct_page_fault), with pages of at most 2 MiB.", gva,
				GPA(gva))})
	}
	f := &shadowFault{gva: gva, user: acc&PFErrUser != 0}
	f.addr, f.errorCode = GPA(gva), ec
	f.write, f.exec, f.present = acc&PFErrWrite != 0, acc&PFErrFetch != 0, ec&PFErrPresent != 0
	f.gfn, f.maxLevel, f.reqLevel, f.goalLevel = GPA(gva).GFN(), 2, 1, 1
	f.slot = m.gfnToMemslot(f.gfn)
	if m.pageFaultHandlePageTrack(v, f) {
		return retPFWriteProtected
	}
	if r := m.shadowFaultinPFN(v, f); r != retPFContinue {
		return r
	}
	if root := m.shadow.spAt(v.ArchMMU().Root); (root != nil && m.shadow.isObsoleteSP(root)) ||
		(root == nil && (v.ReqFreeObsoleteRoots || v.ReqMMUReload)) {
		return retPFRetry // is_page_fault_stale
	}
	return m.directMap(v, f)
}

// directMap is direct_map: walk down from the root, linking a direct page
// where a level is missing, to the goal level, and install the leaf with
// every right.
func (m *Machine) directMap(v *VCPU, f *shadowFault) retPF {
	m.shadowHugepageAdjust(v, f)
	it := m.shadowWalkInit(v, v.ArchMMU().Root, f.gva)
	baseGFN := f.gfn
	for ; it.ok(); it.next(m) {
		baseGFN = gfnRoundForLevel(f.gfn, it.level)
		if it.level == f.goalLevel {
			break
		}
		sp, exists, err := m.kvmMMUGetChildSP(v, it.sptep, baseGFN, true, AccAll)
		if err != nil {
			m.emitKVMError(v, "kvm_mmu_get_child_sp", err)
			return retPFError
		}
		if exists {
			m.emitShadowStep(v, it, sp, "present: step down into it")
			continue
		}
		m.linkShadowPage(v, it.sptep, sp)
	}
	if it.level != f.goalLevel {
		m.emitKVMError(v, "direct_map", fmt.Errorf("the shadow walk stopped at level %d, not the goal level %d",
			it.level, f.goalLevel))
		return retPFError
	}
	return m.mmuSetSPTE(v, f, it.sptep, AccAll, baseGFN)
}
