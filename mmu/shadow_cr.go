package mmu

import "fmt"

// What the guest's control-register writes do to the shadow MMU (x86.c,
// mmu.c): a CR3 write switches roots (kvm_mmu_new_pgd) and asks for a sync
// (kvm_invalidate_pcid); a change of the paging role rebuilds the MMU
// (kvm_mmu_reset_context); a PAE guest whose PDPTEs changed drops its root
// (load_pdptrs). KVM then re-enters the guest (vcpu_enter_guest), handling
// its requests and loading a root.

// shadowAfterSetReg runs the shadow MMU's part of a register write that
// kvm_set_cr0/3/4 or set_efer accepted.
func (m *Machine) shadowAfterSetReg(v *VCPU, r Reg, old *Regs, oldPDPTRs [4]uint64, roleChanged bool) error {
	if !m.shadowPaging() {
		return nil // the shadow state serves guest_mmu under TDP; a CR write of L1 or L2 goes to the TDP path
	}
	mmu := &v.RootMMU
	pdptrsChanged := v.Regs.Mode() == PagingPAE && oldPDPTRs != v.PDPTRs
	mmu.RootRole = m.shadow.rootRole(mmu.CPURole)
	switch {
	case r == RegCR3:
		if pdptrsChanged {
			m.kvmMMUFreeRootsShadow(v, mmu, "load_pdptrs read PDPTEs that differ from the ones the shadow roots were built for")
		}
		if v.Regs.CR3 != old.CR3 {
			m.kvmMMUNewPGD(v, v.Regs.CR3)
		}
		m.kvmInvalidatePCID(v)
	case roleChanged:
		// kvm_mmu_reset_context already ran (x86_cr.go); the vCPU
		// re-enters the guest with a new root.
	case pdptrsChanged:
		m.kvmMMUFreeRootsShadow(v, mmu, "load_pdptrs read PDPTEs that differ from the ones the shadow roots were built for")
	default:
		return nil
	}
	return m.shadowResume(v)
}

// kvmMMUNewPGD is kvm_mmu_new_pgd (fast_pgd_switch): a root with no shadow
// page behind it (pae_root, special, dummy) is always freed, never cached;
// then the current root and prev_roots are searched for one that already
// shadows the new CR3 with the current role (is_root_usable). A hit makes
// it current (KVM_REQ_LOAD_MMU_PGD); a miss frees the least recently used
// root, and kvm_mmu_load builds a new one before the next entry. It works
// on arch.mmu: root_mmu, or guest_mmu on a nested VM-entry.
func (m *Machine) kvmMMUNewPGD(v *VCPU, pgd uint64) {
	mmu := v.ArchMMU()
	sp := m.shadow.spAt(mmu.Root)
	if mmu.RootValid && sp == nil {
		m.kvmMMUFreeRootsShadow(v, mmu, "fast_pgd_switch: the current root has no shadow page behind it (pae_root, special "+
			"or dummy roots cannot be cached)")
	}
	if mmu.RootValid && m.isRootUsable(currentRoot(mmu), pgd, mmu.RootRole) {
		sp.WriteFloodingCount = 0
		m.countRoots(v, func(s *RootStats) { s.CacheHits++ })
		if !m.Quiet {
			m.emit(Event{Kind: EvCheck, MMU: mmu.Name, Func: "fast_pgd_switch", Space: SpaceHPA, Addr: uint64(sp.SPT),
				VCPU: v.ID, Text: fmt.Sprintf("fast_pgd_switch: the current root already shadows %s %s with the current "+
					"role (is_root_usable): KVM keeps it (KVM_REQ_LOAD_MMU_PGD).", pgdName(v, mmu), hex(pgd))})
		}
		return
	}
	var hit bool
	hadCurrent := mmu.RootValid
	if mmu.RootValid {
		hit = m.cachedRootFindAndKeepCurrent(v, mmu, pgd)
	} else {
		hit = m.cachedRootFindWithoutCurrent(v, mmu, pgd)
	}
	if !hit {
		// With a current root the miss was counted as it was narrated
		// (cached_root_find_and_keep_current).
		if !hadCurrent && mmu.PrevRoots != ([KVMMMUNumPrevRoots]RootInfo{}) {
			m.countRoots(v, func(s *RootStats) { s.CacheMisses++ })
		}
		return
	}
	if hsp := m.shadow.spAt(mmu.Root); hsp != nil {
		hsp.WriteFloodingCount = 0
	}
	if !m.Quiet {
		m.emit(Event{Kind: EvSet, MMU: mmu.Name, Func: "kvm_mmu_new_pgd", Space: SpaceHPA, Addr: uint64(mmu.Root),
			VCPU: v.ID, Text: fmt.Sprintf("kvm_mmu_new_pgd: a cached root was found, so nothing is rebuilt: "+
				"KVM_REQ_LOAD_MMU_PGD points the hardware at HPA %s on the next entry.", mmu.Root)})
	}
}

// kvmInvalidatePCID is kvm_invalidate_pcid for the active PCID (a CR3 write
// that flushes): under shadow paging the guest's TLB flush must resync the
// unsync shadow pages: KVM_REQ_MMU_SYNC and KVM_REQ_TLB_FLUSH_CURRENT.
func (m *Machine) kvmInvalidatePCID(v *VCPU) {
	v.ReqMMUSync = true
	if !m.Quiet {
		m.emit(Event{Kind: EvSet, MMU: v.ArchMMU().Name, Func: "kvm_invalidate_pcid", VCPU: v.ID,
			Text: "kvm_invalidate_pcid: a CR3 write flushes the guest's TLB, and the unsync shadow pages stand for " +
				"TLB entries: KVM_REQ_MMU_SYNC and KVM_REQ_TLB_FLUSH_CURRENT are raised."})
	}
}

// shadowEnterGuest is the part of vcpu_enter_guest that matters to the
// shadow MMU: KVM_REQ_MMU_FREE_OBSOLETE_ROOTS, KVM_REQ_MMU_SYNC, then
// kvm_mmu_reload.
func (m *Machine) shadowEnterGuest(v *VCPU) error {
	if v.ReqMMUReload {
		m.kvmMMUReloadRequest(v)
	}
	if v.ReqFreeObsoleteRoots {
		m.kvmMMUFreeObsoleteRootsShadow(v)
	}
	if v.ReqMMUSync {
		v.ReqMMUSync = false
		m.kvmMMUSyncRoots(v)
	}
	return m.kvmMMUReloadShadow(v)
}

// kvmMMUFreeObsoleteRootsShadow is kvm_mmu_free_obsolete_roots: it runs
// __kvm_mmu_free_obsolete_roots on root_mmu and guest_mmu, the contexts
// that hold shadow roots (a TDP root_mmu is handled by the TDP MMU).
func (m *Machine) kvmMMUFreeObsoleteRootsShadow(v *VCPU) {
	v.ReqFreeObsoleteRoots = false
	for _, mmu := range m.shadowMMUs(v) {
		if mmu != &v.RootMMU && !holdsRoots(mmu) {
			continue // guest_mmu with nothing loaded: nothing to look at
		}
		m.freeObsoleteRootsOf(v, mmu)
	}
}

// freeObsoleteRootsOf is __kvm_mmu_free_obsolete_roots: a root that is
// invalid or of an old generation is freed, the current one and each
// cached one; so is a root with no shadow page behind it, which KVM cannot
// tell fresh from stale (is_obsolete_root). Under the posted patch the
// loop over prev_roots tests the current root instead of each cached one.
func (m *Machine) freeObsoleteRootsOf(v *VCPU, mmu *MMU) {
	posted := m.shadow.cfg.ObsoleteRoots == ObsoleteRootsPosted
	cur := currentRoot(mmu)
	curObsolete := m.isObsoleteRoot(cur)
	var mask uint
	cached, needless, leaked := 0, 0, 0
	for i, r := range mmu.PrevRoots {
		if !r.Valid {
			continue
		}
		cached++
		test := r
		if posted {
			test = cur
		}
		if m.isObsoleteRoot(test) {
			mask |= 1 << i
			if !m.isObsoleteRoot(r) {
				needless++
			}
		} else if m.isObsoleteRoot(r) {
			leaked++
		}
	}
	freed := 0
	for i := range mmu.PrevRoots {
		if mask&(1<<i) != 0 {
			freed++
		}
	}
	if curObsolete {
		freed++
	}
	if !m.Quiet && (cached > 0 || !curObsolete) {
		text := "kvm_mmu_free_obsolete_roots (KVM_REQ_MMU_FREE_OBSOLETE_ROOTS): the vCPU's root is not obsolete: " +
			"nothing to free."
		if cached > 0 {
			loop := "tests each prev_roots[i].hpa (cf4a8693d97a)"
			if posted {
				loop = "tests mmu->root.hpa, the CURRENT root, for every prev_roots[i] (the bug of the posted patch)"
			}
			text = fmt.Sprintf("__kvm_mmu_free_obsolete_roots (KVM_REQ_MMU_FREE_OBSOLETE_ROOTS) on vCPU %d: the "+
				"current root is %sobsolete; the loop over its %d cached root(s) %s. Roots freed: %d; kept: %d; "+
				"valid roots freed needlessly: %d; obsolete roots left behind in prev_roots: %d.", v.ID,
				map[bool]string{true: "", false: "not "}[curObsolete], cached, loop, freed,
				cached+btoi(cur.Valid)-freed, needless, leaked)
		}
		m.emit(Event{Kind: EvCheck, MMU: mmu.Name, Func: "kvm_mmu_free_obsolete_roots", VCPU: v.ID, Text: text})
	}
	if mask != 0 {
		why := "KVM_REQ_MMU_FREE_OBSOLETE_ROOTS: the cached root is obsolete"
		if posted {
			why = "KVM_REQ_MMU_FREE_OBSOLETE_ROOTS: the posted patch tested the current root, which is obsolete"
		}
		m.kvmMMUFreePrevRoots(v, mmu, mask, why)
	}
	if !curObsolete {
		return
	}
	why := "KVM_REQ_MMU_FREE_OBSOLETE_ROOTS: the root has no shadow page behind it, so KVM cannot tell whether it " +
		"is stale and treats it as obsolete (is_obsolete_root)"
	if m.shadow.spAt(mmu.Root) != nil {
		why = "KVM_REQ_MMU_FREE_OBSOLETE_ROOTS: the root is obsolete (zapped, or of an old mmu_valid_gen)"
	}
	m.kvmMMUFreeRootsShadow(v, mmu, why)
}

// btoi is 1 for true.
func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
