package mmu

import "fmt"

// The shadow-page cache of mmu.c: pages are found by guest frame and whole
// role in mmu_page_hash (kvm_mmu_find_shadow_page), made when missing
// (kvm_mmu_alloc_shadow_page), and linked under a parent SPTE
// (link_shadow_page).

// kvmMMUFindShadowPage is kvm_mmu_find_shadow_page: look in gfn's bucket
// for a valid page with the same gfn and role.word. A different role at
// the same gfn that is unsync is zapped when an upper-level page is being
// made there; an unsync match is synced first (kvm_sync_page) and, if that
// fails, zapped and not returned.
func (m *Machine) kvmMMUFindShadowPage(v *VCPU, gfn GFN, role PageRole) *KVMMMUPage {
	s := m.shadow
	var invalid []*KVMMMUPage
	var found *KVMMMUPage
	bucket := append([]*KVMMMUPage(nil), s.hash[kvmPageTableHashfn(gfn)]...)
	for _, sp := range bucket {
		if s.isObsoleteSP(sp) || sp.GFN != gfn {
			continue
		}
		if sp.Role != role {
			if role.Level() > 1 && sp.Unsync {
				m.emitShadowNote(v, sp, "kvm_mmu_find_shadow_page", fmt.Sprintf("KVM is making a level-%d page at "+
					"GFN %s, so the unsync %s for the same frame (another role) goes: the new upper-level page "+
					"will write-protect the frame", role.Level(), gfn, spName(sp)))
				m.kvmMMUPrepareZapPage(sp, &invalid)
			}
			continue
		}
		if !sp.Role.Direct() && sp.Unsync {
			m.emitShadowNote(v, sp, "kvm_mmu_find_shadow_page", fmt.Sprintf("%s matches but is unsync: kvm_sync_page "+
				"brings it up to date first, without write-protecting it or marking it synced", spName(sp)))
			r := m.kvmSyncPage(v, sp, &invalid)
			if r < 0 {
				break
			}
			if r > 0 {
				m.kvmFlushRemoteTLBs("kvm_mmu_find_shadow_page", "kvm_sync_page changed SPTEs")
			}
		}
		sp.WriteFloodingCount = 0
		found = sp
		break
	}
	m.kvmMMUCommitZapPage(invalid)
	if found != nil && !m.Quiet {
		m.emit(Event{Kind: EvCheck, MMU: spMMUName(found), Func: "kvm_mmu_find_shadow_page", Space: SpaceHPA,
			Addr: uint64(found.SPT), Level: found.Role.Level(), VCPU: vcpuID(v), Table: uint64(found.SPT),
			Text: fmt.Sprintf("kvm_mmu_find_shadow_page: bucket %d of mmu_page_hash (hash_64 of GFN %s) holds %s "+
				"with the same role (%s): KVM reuses it.", kvmPageTableHashfn(gfn), gfn, spName(found),
				roleWord(found.Role))})
	}
	return found
}

// kvmMMUAllocShadowPage is kvm_mmu_alloc_shadow_page: a struct
// kvm_mmu_page and its page of SPTEs (all SHADOW_NONPRESENT_VALUE),
// stamped with mmu_valid_gen, put at the head of active_mmu_pages and of
// its hash bucket, and accounted (write-protecting its guest table) when
// it shadows guest entries.
func (m *Machine) kvmMMUAllocShadowPage(v *VCPU, gfn GFN, role PageRole) (*KVMMMUPage, error) {
	s := m.shadow
	pfn, err := m.Mem.AllocPage()
	if err != nil {
		return nil, err
	}
	m.Mem.FillPage(pfn, ShadowNonPresentValue)
	sp := &KVMMMUPage{Role: role, GFN: gfn, SPT: pfn.HPA(), MMUValidGen: s.validGen}
	if !role.Direct() {
		sp.shadowedTranslation = make([]uint64, 512)
	}
	s.pages[pfn] = sp
	s.active = append([]*KVMMMUPage{sp}, s.active...)
	b := kvmPageTableHashfn(gfn)
	s.hash[b] = append([]*KVMMMUPage{sp}, s.hash[b]...)
	if !m.Quiet {
		what := "it shadows the guest's " + TableName(Paging4, role.Level()) + " at GPA " + gfn.GPA().String()
		switch {
		case role.Direct():
			what = fmt.Sprintf("it is direct: it maps the %s from GPA %s linearly, with no guest table behind it",
				sizeString(pagesPerHPage(role.Level()+1)<<PageShift), gfn.GPA())
		case isPassthroughSP(role):
			what = "it only passes through to the next level: no guest table is behind it"
		}
		m.emit(Event{Kind: EvAlloc, MMU: spMMUName(sp), Func: "kvm_mmu_alloc_shadow_page", Space: SpaceHPA,
			Addr: uint64(sp.SPT), Level: role.Level(), VCPU: vcpuID(v), Table: uint64(sp.SPT),
			Text: fmt.Sprintf("kvm_mmu_alloc_shadow_page: no valid page in bucket %d has GFN %s and role %s, so KVM "+
				"takes a new level-%d shadow page at HPA %s, all SPTEs SHADOW_NONPRESENT_VALUE; %s. It goes to the "+
				"head of active_mmu_pages and of its hash bucket, with mmu_valid_gen %d.", b, gfn, roleWord(role),
				role.Level(), sp.SPT, what, s.validGen)})
	}
	if spHasGPTEs(role) {
		m.accountShadowed(v, sp)
	}
	return sp, nil
}

// kvmMMUGetShadowPage is kvm_mmu_get_shadow_page: find the page for
// gfn and role, or make it.
func (m *Machine) kvmMMUGetShadowPage(v *VCPU, gfn GFN, role PageRole) (*KVMMMUPage, error) {
	if sp := m.kvmMMUFindShadowPage(v, gfn, role); sp != nil {
		return sp, nil
	}
	return m.kvmMMUAllocShadowPage(v, gfn, role)
}

// kvmMMUGetChildSP is kvm_mmu_get_child_sp: when the SPTE already points
// to a table, that child is returned with exists set (-EEXIST); otherwise
// the page for gfn with the child role of the SPTE's page.
func (m *Machine) kvmMMUGetChildSP(v *VCPU, sptep HPA, gfn GFN, direct bool, access int) (*KVMMMUPage, bool, error) {
	s := m.shadow
	spte := m.readSPTE(sptep)
	if isShadowPresentPTE(spte) && !isLargePTE(spte) {
		return s.spAt(HPA(spte & eptAddrMask)), true, nil
	}
	parent := s.spAt(sptep)
	if parent == nil {
		return nil, false, fmt.Errorf("the SPTE at HPA %s is not in a shadow page", sptep)
	}
	role := kvmMMUChildRole(parent.Role, spteIndexOf(sptep), direct, access)
	sp, err := m.kvmMMUGetShadowPage(v, gfn, role)
	return sp, false, err
}

// linkShadowPage is link_shadow_page (__link_shadow_page): drop a huge
// SPTE in the way, point the SPTE at the child (make_nonleaf_spte, every
// right so that only the leaf decides), add it to the child's
// parent_ptes, and propagate an unsync child upwards (mark_unsync).
func (m *Machine) linkShadowPage(v *VCPU, sptep HPA, sp *KVMMMUPage) {
	if old := m.readSPTE(sptep); isShadowPresentPTE(old) {
		m.dropSPTE(sptep, "drop_large_spte", "a huge page is in the way of the new table")
		m.kvmFlushRemoteTLBs("drop_large_spte", "the huge page was dropped")
	}
	spte := m.shadow.masks.makeNonleafSPTE(sp.SPT, sp.Role.ADDisabled())
	old := m.writeSPTE(sptep, spte)
	sp.ParentPTEs = append(sp.ParentPTEs, sptep)
	if !m.Quiet {
		m.emit(Event{Kind: EvWrite, MMU: spMMUName(sp), Func: "link_shadow_page", Space: SpaceHPA, Addr: uint64(sptep),
			Level: m.sptepLevel(sptep), Index: spteIndexOf(sptep), HasEntry: true, Old: old, New: spte,
			VCPU: vcpuID(v), Table: uint64(sptep &^ pageMask), HPA: sptep, HasHPA: true, Size: 8,
			Text: fmt.Sprintf("link_shadow_page: make_nonleaf_spte points the SPTE at HPA %s to %s (%s → %s: %s, "+
				"so that the leaf alone decides the rights); the SPTE joins the child's parent_ptes "+
				"(mmu_page_add_parent_pte).", sptep, spName(sp), hex(old), hex(spte), m.shadow.masks.nonleafRights())})
	}
	if sp.UnsyncChildren > 0 || sp.Unsync {
		m.markUnsync(v, sptep)
	}
}

// sptepLevel is the level of the table holding the SPTE at hpa: its
// shadow page's, or for a special root the level it plays.
func (m *Machine) sptepLevel(sptep HPA) int {
	if sp := m.shadow.spAt(sptep); sp != nil {
		return sp.Role.Level()
	}
	return 0
}

// emitShadowNote records a step of the shadow MMU about a page.
func (m *Machine) emitShadowNote(v *VCPU, sp *KVMMMUPage, fn, text string) {
	if m.Quiet {
		return
	}
	m.emit(Event{Kind: EvCheck, MMU: spMMUName(sp), Func: fn, Space: SpaceHPA, Addr: uint64(sp.SPT),
		Level: sp.Role.Level(), VCPU: vcpuID(v), Table: uint64(sp.SPT), Text: fn + ": " + text + "."})
}

// kvmFlushRemoteTLBs records a remote TLB flush (kvm_flush_remote_tlbs and
// its ranged forms), which the model has no TLB to act on.
func (m *Machine) kvmFlushRemoteTLBs(caller, why string) {
	if !m.Quiet {
		m.emit(Event{Kind: EvSet, MMU: "kvm", Func: "kvm_flush_remote_tlbs",
			Text: fmt.Sprintf("kvm_flush_remote_tlbs (from %s): %s, so every vCPU must drop translations it may "+
				"have cached.", caller, why)})
	}
}
