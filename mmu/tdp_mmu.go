package mmu

import "fmt"

// The TDP MMU (tdp_mmu.c): KVM's builder of the EPT/NPT tables that map
// guest-physical memory. It fills them on faults (kvm_tdp_mmu_map) and
// empties them on zaps; every change of an SPTE goes through
// handle_changed_spte, which frees a subtree that is cut off.

// retPF is a page-fault handler's verdict (RET_PF_* in mmu_internal.h).
type retPF int

// The verdicts, and retPFError for a negative errno.
const (
	retPFContinue retPF = iota
	retPFRetry
	retPFEmulate
	retPFInvalid
	retPFFixed
	retPFSpurious
	retPFError
	// retPFWriteProtected is RET_PF_WRITE_PROTECTED: a write to a guest
	// page table that KVM keeps read-only (shadow paging).
	retPFWriteProtected
)

func (r retPF) String() string {
	if s, ok := tdxRetPFName(r); ok {
		return s
	}
	names := [...]string{"RET_PF_CONTINUE", "RET_PF_RETRY", "RET_PF_EMULATE", "RET_PF_INVALID",
		"RET_PF_FIXED", "RET_PF_SPURIOUS", "an error", "RET_PF_WRITE_PROTECTED"}
	if r < 0 || int(r) >= len(names) {
		return "RET_PF_?"
	}
	return names[r]
}

// kvmPageFault is struct kvm_page_fault for a TDP fault.
type kvmPageFault struct {
	addr      GPA
	errorCode uint64
	exec      bool
	write     bool
	present   bool
	rsvd      bool
	prefetch  bool
	private   bool // is_private: PFERR_PRIVATE_ACCESS, a TD's private GPA
	gfn       GFN
	slot      *Memslot
	pfn       PFN
	noslot    bool // pfn is KVM_PFN_NOSLOT: MMIO
	maxLevel  int
	reqLevel  int
	goalLevel int
}

// levelName names a TDP level's page size for narration.
func levelPageName(level int) string { return sizeString(PageSize << (9 * uint(level-1))) }

// tableWord names a TDP table ("EPT PML4", "NPT PD").
func (t *tdpState) tableWord(level int) string {
	return t.cfg.Kind.String() + " " + TableName(Paging4, level)
}

// entryWord names a TDP entry ("EPT PDE").
func (t *tdpState) entryWord(level int) string {
	return t.cfg.Kind.String() + " " + EntryName(Paging4, level)
}

// decode spells an SPTE of this format.
func (t *tdpState) decode(spte uint64, level int) string {
	if t.cfg.Kind == TDPEPT {
		return DecodeEPTFlags(spte, level)
	}
	return DecodeNPTFlags(spte, level)
}

// kvmTDPMMUMap is kvm_tdp_mmu_map: pick the mapping level, walk down from
// the root allocating and linking missing tables (splitting a huge page in
// the way), and install the leaf at the goal level.
func (m *Machine) kvmTDPMMUMap(v *VCPU, f *kvmPageFault) retPF {
	m.kvmMMUHugepageAdjust(v, f)
	root := m.tdpMMUGetRootForFault(v, f)
	if root == nil {
		return retPFRetry
	}
	it := m.tdpIterStart(root, 1, f.gfn)
	for ; it.ok(f.gfn + 1); it.next() {
		if it.oldSPTE == FrozenSPTE {
			return retPFRetry
		}
		if it.level == f.goalLevel {
			return m.tdpMMUMapHandleTargetLevel(v, f, it)
		}
		if isShadowPresentPTE(it.oldSPTE) && !isLargePTE(it.oldSPTE) {
			m.emitIterRead(v, it, "kvm_tdp_mmu_map", "present and not a leaf: step down into it")
			continue
		}
		sp, err := m.tdpMMUAllocSP()
		if err != nil {
			m.emitKVMError(v, "tdp_mmu_alloc_sp", err)
			return retPFError
		}
		m.tdpMMUInitChildSP(sp, it)
		m.emitAlloc(v, sp, it)
		if sp.Role.IsMirror() {
			if err := m.kvmMMUAllocExternalSPT(v, sp); err != nil {
				m.emitKVMError(v, "kvm_mmu_alloc_external_spt", err)
				m.tdpMMUFreeSP(sp)
				return retPFError
			}
		}
		linked := true
		if isShadowPresentPTE(it.oldSPTE) {
			m.tdpMMUSplitHugePage(v, it, sp)
		} else {
			linked = m.tdpMMULinkSP(v, it, sp)
		}
		if !linked {
			// The TDX module refused the table: tdp_mmu_free_sp, and the
			// fault is retried.
			m.tdpMMUFreeSP(sp)
			return retPFRetry
		}
	}
	return retPFRetry
}

// tdpMMUInitChildSP is tdp_mmu_init_child_sp: the parent's role one level
// down, the GFN the parent SPTE covers, and the parent SPTE as ptep.
func (m *Machine) tdpMMUInitChildSP(sp *KVMMMUPage, it *tdpIter) {
	parent := m.spAt(it.sptep)
	role := m.tdp.kvmCalcTDPMMURootPageRole()
	if parent != nil {
		role = parent.Role.WithInvalid(false)
	}
	sp.Role = role.WithLevel(it.level - 1)
	sp.GFN, sp.Ptep, sp.HasPtep = it.gfn, it.sptep, true
}

// tdpMMULinkSP is tdp_mmu_link_sp: point the iterator's SPTE at the new
// table (make_nonleaf_spte) and account the page. It reports false when
// the SPTE could not be set (a mirror SPTE the TDX module refused).
func (m *Machine) tdpMMULinkSP(v *VCPU, it *tdpIter, sp *KVMMMUPage) bool {
	spte := m.tdp.masks.makeNonleafSPTE(sp.SPT, sp.Role.ADDisabled())
	if !m.tdpMMUSetSPTE(v, it, spte, "tdp_mmu_link_sp", fmt.Sprintf(
		"tdp_mmu_link_sp: make_nonleaf_spte points the %s for GPA %s at the new table (every right, so that the leaf alone decides)",
		m.spteWord(it.sptep, it.level), it.iterGPA())) {
		return false
	}
	m.tdp.mmuPages++
	return true
}

// tdpMMUSplitHugePage is tdp_mmu_split_huge_page: fill the new table with
// 512 SPTEs that map the huge page's memory in smaller pieces, then link
// it in place of the huge SPTE.
func (m *Machine) tdpMMUSplitHugePage(v *VCPU, it *tdpIter, sp *KVMMMUPage) {
	huge := it.oldSPTE
	child := sp.Role.Level()
	for i := 0; i < 512; i++ {
		spte := huge | uint64(i)*pagesPerHPage(child)<<PageShift
		if child == 1 {
			spte &^= PTPageSize
		}
		_, _ = m.Mem.Write(sp.SPT+HPA(8*i), 8, spte)
	}
	if !m.Quiet {
		m.emit(Event{Kind: EvWrite, MMU: "root_mmu", Func: "tdp_mmu_split_huge_page", Space: SpaceHPA,
			Addr: uint64(sp.SPT), Level: child, VCPU: v.ID, Table: uint64(sp.SPT), Old: huge, New: huge,
			Text: fmt.Sprintf("tdp_mmu_split_huge_page: the %s huge page at GPA %s is split: the new table's 512 SPTEs "+
				"map the same memory in %s pieces.", levelPageName(it.level), it.iterGPA(), levelPageName(child))})
	}
	m.tdpMMULinkSP(v, it, sp)
}

// tdpMMUMapHandleTargetLevel is tdp_mmu_map_handle_target_level: build
// the leaf (make_spte, or make_mmio_spte without a memslot) and install it.
func (m *Machine) tdpMMUMapHandleTargetLevel(v *VCPU, f *kvmPageFault, it *tdpIter) retPF {
	t := m.tdp
	if isShadowPresentPTE(it.oldSPTE) && (f.prefetch || t.masks.isAccessAllowed(it.oldSPTE, f.write, f.exec)) &&
		isLastSPTE(it.oldSPTE, it.level) {
		why := "it already allows the access: RET_PF_SPURIOUS"
		if f.prefetch {
			why = "a prefetch does not overwrite a present SPTE: RET_PF_SPURIOUS"
		}
		m.emitIterRead(v, it, "tdp_mmu_map_handle_target_level", why)
		return retPFSpurious
	}
	var spte uint64
	var what string
	if f.noslot {
		spte = t.masks.makeMMIOSPTE(it.gfn, m.slotsGen, AccAll)
		what = fmt.Sprintf("make_mmio_spte: no memslot covers GPA %s, so the %s gets an MMIO SPTE (%s, memslot generation %d)",
			it.iterGPA(), m.spteWord(it.sptep, it.level), t.mmioWord(), m.slotsGen&mmioGenMask)
	} else {
		spte = t.masks.makeSPTE(it.level, f.pfn, f.prefetch, v.RootMMU.RootRole.ADDisabled())
		what = fmt.Sprintf("make_spte: the %s maps GPA %s to HPA %s, a %s page (%s)",
			m.spteWord(it.sptep, it.level), it.iterGPA(), f.pfn.HPA(), levelPageName(it.level), t.decode(spte, it.level))
	}
	if spte == it.oldSPTE {
		m.emitIterRead(v, it, "tdp_mmu_map_handle_target_level", "already what make_spte would write: RET_PF_SPURIOUS")
		return retPFSpurious
	}
	if !m.tdpMMUSetSPTE(v, it, spte, "tdp_mmu_map_handle_target_level", what+"; tdp_mmu_set_spte_atomic writes it") {
		return retPFRetry
	}
	if f.noslot {
		return retPFEmulate
	}
	return retPFFixed
}

// mmioWord describes this format's MMIO SPTE.
func (t *tdpState) mmioWord() string {
	if t.cfg.Kind == TDPEPT {
		return "XWR=110, a misconfiguration on purpose"
	}
	return "reserved bit 51 set"
}

// tdpMMUSetSPTE writes an SPTE and does the bookkeeping of
// handle_changed_spte, emitting the write as fn. A present SPTE in a
// mirror page goes through set_external_spte_present, which may fail:
// it reports whether the SPTE was set.
func (m *Machine) tdpMMUSetSPTE(v *VCPU, it *tdpIter, spte uint64, fn, text string) bool {
	if isShadowPresentPTE(spte) && m.isMirrorSPTEP(it.sptep) {
		if !m.setExternalSPTEPresent(v, it, spte) {
			return false
		}
	}
	old, _ := m.Mem.Write(it.sptep, 8, spte)
	if old == FrozenSPTE && m.isMirrorSPTEP(it.sptep) {
		old = it.oldSPTE // frozen by set_external_spte_present, which read it
	}
	if !m.Quiet {
		m.emit(Event{Kind: EvWrite, MMU: "root_mmu", Func: fn, Space: SpaceHPA, Addr: uint64(it.sptep),
			Level: it.level, Index: it.index(), HasEntry: true, Old: old, New: spte, VCPU: vcpuID(v),
			Table: uint64(it.table()), HPA: it.sptep, HasHPA: true, Size: 8,
			Text: fmt.Sprintf("%s: SPTE at HPA %s %s → %s.", text, it.sptep, hex(old), hex(spte))})
	}
	it.oldSPTE = spte
	m.handleChangedSPTE(v, it.gfn, old, spte, it.level)
	return true
}

// handleChangedSPTE is handle_changed_spte: when a present non-leaf SPTE
// stops pointing at its table (zapped, or replaced by a huge page), the
// table is cut off and handle_removed_pt frees it.
func (m *Machine) handleChangedSPTE(v *VCPU, gfn GFN, old, spte uint64, level int) {
	wasPresent, isPresent := isShadowPresentPTE(old), isShadowPresentPTE(spte)
	wasLeaf := wasPresent && isLastSPTE(old, level)
	isLeaf := isPresent && isLastSPTE(spte, level)
	if old == spte || !wasPresent || wasLeaf {
		return
	}
	if isLeaf || !isPresent || spteToPFN(old) != spteToPFN(spte) {
		m.handleRemovedPT(v, HPA(old&eptAddrMask), level-1)
	}
}

// handleRemovedPT is handle_removed_pt: unaccount the page, freeze and
// process each of its present SPTEs (recursing into child tables), and
// free it after an RCU grace period.
func (m *Machine) handleRemovedPT(v *VCPU, pt HPA, level int) {
	sp := m.spAt(pt)
	if sp == nil || level < 1 {
		return // not a page of the TDP MMU: nothing of KVM's to free
	}
	m.tdp.mmuPages--
	for i := 0; i < 512; i++ {
		sptep := pt + HPA(8*i)
		old, err := m.Mem.Read(sptep, 8)
		if err != nil || !isShadowPresentPTE(old) {
			continue
		}
		_, _ = m.Mem.Write(sptep, 8, FrozenSPTE)
		gfn := sp.GFN + GFN(uint64(i)*pagesPerHPage(level))
		if !m.Quiet {
			m.emit(Event{Kind: EvZap, MMU: "root_mmu", Func: "handle_removed_pt", Space: SpaceHPA, Addr: uint64(sptep),
				Level: level, Index: i, HasEntry: true, Old: old, New: FrozenSPTE, VCPU: vcpuID(v), Table: uint64(pt),
				HPA: sptep, HasHPA: true, Size: 8,
				Text: fmt.Sprintf("handle_removed_pt: the table at HPA %s is cut off, so its %s for GPA %s (%s) is frozen (FROZEN_SPTE).",
					pt, m.spteWord(sptep, level), gfn.GPA(), hex(old))})
		}
		m.handleChangedSPTE(v, gfn, old, FrozenSPTE, level)
		if sp.Role.IsMirror() {
			m.removeExternalSPTE(gfn, old, level)
		}
	}
	if sp.Role.IsMirror() {
		m.freeExternalSPT(sp)
	}
	m.tdpMMUFreeSP(sp)
	if !m.Quiet {
		m.emit(Event{Kind: EvFree, MMU: "root_mmu", Func: "handle_removed_pt", Space: SpaceHPA, Addr: uint64(pt),
			Level: level, VCPU: vcpuID(v), Table: uint64(pt),
			Text: fmt.Sprintf("handle_removed_pt: the level-%d %s table at HPA %s (GPA %s up) is no longer reachable; "+
				"call_rcu frees it after a grace period (tdp_mmu_free_sp).", level, m.tdp.cfg.Kind, pt, sp.GFN.GPA())})
	}
}

// emitIterRead records KVM reading an SPTE while it walks its tables.
func (m *Machine) emitIterRead(v *VCPU, it *tdpIter, fn, what string) {
	if m.Quiet {
		return
	}
	m.emit(Event{Kind: EvRead, MMU: "root_mmu", Func: fn, Space: SpaceHPA, Addr: uint64(it.sptep),
		Level: it.level, Index: it.index(), HasEntry: true, Old: it.oldSPTE, New: it.oldSPTE, VCPU: vcpuID(v),
		Table: uint64(it.table()), HPA: it.sptep, HasHPA: true, Size: 8,
		Text: fmt.Sprintf("%s: the %s at HPA %s (index %d, GPA %s up) is %s (%s): %s.", fn, m.spteWord(it.sptep, it.level),
			it.sptep, it.index(), it.iterGPA(), hex(it.oldSPTE), m.tdp.decode(it.oldSPTE, it.level), what)})
}

// emitAlloc records a new table of the TDP MMU.
func (m *Machine) emitAlloc(v *VCPU, sp *KVMMMUPage, it *tdpIter) {
	if m.Quiet {
		return
	}
	why := "is not present"
	if isShadowPresentPTE(it.oldSPTE) {
		why = "maps a huge page that must be split"
	}
	m.emit(Event{Kind: EvAlloc, MMU: "root_mmu", Func: "tdp_mmu_alloc_sp", Space: SpaceHPA, Addr: uint64(sp.SPT),
		Level: sp.Role.Level(), VCPU: v.ID, Table: uint64(sp.SPT),
		Text: fmt.Sprintf("The %s at HPA %s %s, so tdp_mmu_alloc_sp takes a struct kvm_mmu_page and a page at HPA %s "+
			"for a level-%d table (GPA %s up, role %s).", m.spteWord(it.sptep, it.level), it.sptep, why, sp.SPT,
			sp.Role.Level(), sp.GFN.GPA(), sp.Role)})
}

// emitKVMError records a KVM function failing (out of memory).
func (m *Machine) emitKVMError(v *VCPU, fn string, err error) {
	if !m.Quiet {
		m.emit(Event{Kind: EvFault, MMU: "root_mmu", Func: fn, VCPU: vcpuID(v), Text: fn + ": " + err.Error() + "."})
	}
}
