package mmu

import "fmt"

// FNAME(fetch) (paging_tmpl.h): build or reuse the shadow pages on the
// faulting GVA's path, one level at a time, then the leaf.

// guestTopTableLevel is the level of the top guest table KVM shadows: the
// root level, except for PAE, whose four PDPTEs are registers, not a
// table, so its top table is the page directory.
func guestTopTableLevel(mode PagingMode) int {
	if mode == PagingPAE {
		return 2
	}
	return int(mode)
}

// fnameFetch is FNAME(fetch). Above the guest's leaf, each level needs the
// shadow page of the guest table below (kvm_mmu_get_child_sp, indirect,
// with the access of the levels above); a new one has its unsync children
// synced before it is linked (mmu_sync_children). Below a guest huge page
// that KVM maps with smaller pages, direct pages cover it
// (kvm_mmu_hugepage_adjust chose the level). Then mmu_set_spte.
func (m *Machine) fnameFetch(v *VCPU, f *shadowFault, w *GuestWalker, access int) retPF {
	mmu := v.ArchMMU()
	mode := PagingMode(mmu.CPURole.Base.Level())
	if m.gpteChanged(w, guestTopTableLevel(mode)) {
		return retPFRetry
	}
	if !mmu.RootValid {
		return retPFRetry
	}
	if isDummyRoot(mmu) {
		v.ReqFreeObsoleteRoots = true
		return retPFRetry
	}
	it := m.shadowWalkInit(v, mmu.Root, f.gva)
	for ; it.ok(); it.next(m) {
		m.clearSPWriteFloodingCount(it.sptep)
		if it.level == w.Level {
			break
		}
		child := it.level - 1
		tableGFN, acc := m.fetchTable(w, mode, it.sptep, child)
		sp, exists, err := m.kvmMMUGetChildSP(v, it.sptep, tableGFN, false, acc)
		if err != nil {
			m.emitKVMError(v, "kvm_mmu_get_child_sp", err)
			return retPFError
		}
		if exists {
			m.emitShadowStep(v, it, sp, "present: step down into it")
		} else if sp.UnsyncChildren > 0 && m.mmuSyncChildren(v, sp) {
			return retPFRetry
		}
		if child <= guestTopTableLevel(mode) && m.gpteChanged(w, child) {
			return retPFRetry
		}
		if !exists {
			m.linkShadowPage(v, it.sptep, sp)
		}
	}
	m.shadowHugepageAdjust(v, f)
	baseGFN := f.gfn
	for ; it.ok(); it.next(m) {
		baseGFN = gfnRoundForLevel(f.gfn, it.level)
		if it.level == f.goalLevel {
			break
		}
		m.validateDirectSPTE(v, it.sptep, access)
		sp, exists, err := m.kvmMMUGetChildSP(v, it.sptep, baseGFN, true, access)
		if err != nil {
			m.emitKVMError(v, "kvm_mmu_get_child_sp", err)
			return retPFError
		}
		if exists {
			continue
		}
		m.linkShadowPage(v, it.sptep, sp)
	}
	if it.level != f.goalLevel {
		m.emitKVMError(v, "fetch", fmt.Errorf("the shadow walk stopped at level %d, not the goal level %d", it.level, f.goalLevel))
		return retPFError
	}
	return m.mmuSetSPTE(v, f, it.sptep, access, baseGFN)
}

// fetchTable is the guest table a child shadow page at level child shadows
// and the access of the levels above it (gw->table_gfn, gw->pt_access).
// Above the guest's top table there is none: the child passes through and
// takes its parent's frame with every right.
func (m *Machine) fetchTable(w *GuestWalker, mode PagingMode, sptep HPA, child int) (GFN, int) {
	if child > guestTopTableLevel(mode) {
		if parent := m.shadow.spAt(sptep); parent != nil {
			return parent.GFN, AccAll
		}
		return w.TableGFN[guestTopTableLevel(mode)-1], AccAll
	}
	return w.TableGFN[child-1], w.PTAccess[child-1]
}

// gpteChanged is FNAME(gpte_changed): re-read the guest entry the walk
// used at level; KVM retries the fault if the guest changed it meanwhile.
func (m *Machine) gpteChanged(w *GuestWalker, level int) bool {
	if level < 1 || level > 5 || w.FromReg[level-1] || w.PTEGPA[level-1] == 0 && w.PTEs[level-1] == 0 {
		return false
	}
	f := formatFor(w.Mode)
	raw, err := m.ReadGuest(w.PTEGPA[level-1], f.entrySize)
	return err != nil || PTE(raw) != w.PTEs[level-1]
}

// validateDirectSPTE is validate_direct_spte: a direct child made for
// other rights (the guest huge page was clean, now it is dirty) is
// unlinked, so that one with the right access replaces it.
func (m *Machine) validateDirectSPTE(v *VCPU, sptep HPA, access int) {
	spte := m.readSPTE(sptep)
	if !isShadowPresentPTE(spte) || isLargePTE(spte) {
		return
	}
	child := m.shadow.spAt(HPA(spte & eptAddrMask))
	if child == nil || child.Role.Access() == access {
		return
	}
	m.dropParentPTE(child, sptep, "validate_direct_spte", fmt.Sprintf("the direct page was made for %s, the fault "+
		"needs %s", rightsString(child.Role.Access(), true), rightsString(access, true)))
	m.kvmFlushRemoteTLBs("validate_direct_spte", "a direct page was unlinked")
}

// shadowHugepageAdjust is kvm_mmu_hugepage_adjust for a shadow fault: the
// largest page no bigger than the guest's, wholly in the memslot, mapped
// alike by the host, and not over a guest table KVM shadows
// (lpage_info's disallow_lpage).
func (m *Machine) shadowHugepageAdjust(v *VCPU, f *shadowFault) {
	if f.maxLevel <= 1 || f.noslot {
		return
	}
	maxHuge := 2
	if m.Config.GBPages {
		maxHuge = 3
	}
	level := min(f.maxLevel, maxHuge)
	why := ""
	for ; level > 1; level-- {
		if why = lpageDisallowed(f.slot, f.gfn, level); why != "" {
			continue
		}
		if m.shadow.lpage[lpageKey{level, f.gfn >> (9 * uint(level-1))}] > 0 {
			why = fmt.Sprintf("the %s page would cover a guest page table that KVM shadows (disallow_lpage)",
				levelPageName(level))
			continue
		}
		if host := f.slot.hostLevel(); host < level {
			why = fmt.Sprintf("the host maps the memslot with %s pages (host_pfn_mapping_level)", levelPageName(host))
			continue
		}
		break
	}
	f.reqLevel = level
	if level > 1 {
		f.goalLevel = level
		f.pfn &^= PFN(pagesPerHPage(level) - 1)
		why = fmt.Sprintf("the %s page lies in memslot %d and the host maps it alike", levelPageName(level), f.slot.ID)
	}
	if !m.Quiet {
		m.emit(Event{Kind: EvCheck, MMU: v.ArchMMU().Name, Func: "kvm_mmu_hugepage_adjust", Space: SpaceGPA,
			Addr: uint64(f.gfn.GPA()), Level: f.goalLevel, VCPU: v.ID, GVA: f.gva,
			Text: fmt.Sprintf("kvm_mmu_hugepage_adjust: the guest maps a %s page; KVM maps it with %s SPTEs: %s.",
				sizeString(LevelPageSize(PagingMode(v.ArchMMU().CPURole.Base.Level()), f.maxLevel)),
				levelPageName(f.goalLevel), why)})
	}
}

// emitShadowStep records KVM stepping through an existing SPTE.
func (m *Machine) emitShadowStep(v *VCPU, it shadowIter, child *KVMMMUPage, what string) {
	if m.Quiet {
		return
	}
	spte := m.readSPTE(it.sptep)
	name := "a table"
	if child != nil {
		name = spName(child)
	}
	m.emit(Event{Kind: EvRead, MMU: v.ArchMMU().Name, Func: "fetch", Space: SpaceHPA, Addr: uint64(it.sptep),
		Level: it.level, Index: it.index, HasEntry: true, Old: spte, New: spte, VCPU: v.ID, GVA: it.addr,
		Table: uint64(it.shadowAddr), HPA: it.sptep, HasHPA: true, Size: 8,
		Text: fmt.Sprintf("FNAME(fetch): the level-%d SPTE at HPA %s (index %d) points to %s: %s.", it.level,
			it.sptep, it.index, name, what)})
}
