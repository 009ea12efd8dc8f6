package mmu

import (
	"fmt"
	"sort"
)

// Zapping shadow pages (mmu.c): kvm_mmu_prepare_zap_page unlinks a page
// from its children and parents and marks it invalid; pages no vCPU holds
// as a root go on an invalid list that kvm_mmu_commit_zap_page frees after
// a remote TLB flush. A root still in use stays, invalid, until its last
// holder lets it go.

// mmuPageZapPTE is mmu_page_zap_pte: clear one SPTE of sp; a leaf leaves
// its rmap, a table link leaves the child's parent_ptes (the child itself
// stays in the hash), an MMIO SPTE is simply cleared.
func (m *Machine) mmuPageZapPTE(sp *KVMMMUPage, sptep HPA, invalid *[]*KVMMMUPage, fn, why string) {
	spte := m.readSPTE(sptep)
	switch {
	case isShadowPresentPTE(spte) && isLastSPTE(spte, sp.Role.Level()):
		m.dropSPTE(sptep, fn, why)
	case isShadowPresentPTE(spte):
		if child := m.shadow.spAt(HPA(spte & eptAddrMask)); child != nil {
			m.dropParentPTE(child, sptep, fn, why)
		} else {
			m.emitSPTEZap(sptep, m.mmuSPTEClear(sptep), fn, why)
		}
	case m.shadow.masks.isMMIOSPTE(spte):
		m.emitSPTEZap(sptep, m.mmuSPTEClear(sptep), fn, why+" (an MMIO SPTE)")
	}
}

// kvmMMUPrepareZapPage is kvm_mmu_prepare_zap_page
// (__kvm_mmu_prepare_zap_page): zap the page's unsync children, clear its
// SPTEs (unlinking children), unlink it from its parents, unaccount it and
// mark it invalid. A page that no vCPU holds as a root goes on the invalid
// list; a root in use stays allocated and every vCPU is asked to drop its
// obsolete roots. It returns how many pages the zap touched.
func (m *Machine) kvmMMUPrepareZapPage(sp *KVMMMUPage, invalid *[]*KVMMMUPage) int {
	s := m.shadow
	wasInvalid := sp.Role.Invalid()
	if !m.Quiet {
		m.emit(Event{Kind: EvZap, MMU: spMMUName(sp), Func: "kvm_mmu_prepare_zap_page", Space: SpaceHPA,
			Addr: uint64(sp.SPT), Level: sp.Role.Level(), Table: uint64(sp.SPT),
			Text: fmt.Sprintf("kvm_mmu_prepare_zap_page: %s goes: first its unsync children, then its SPTEs "+
				"(kvm_mmu_page_unlink_children), then the SPTEs that point to it (kvm_mmu_unlink_parents).", spName(sp))})
	}
	n := m.mmuZapUnsyncChildren(sp, invalid)
	for i := 0; i < 512; i++ {
		m.mmuPageZapPTE(sp, sp.SPT+HPA(8*i), invalid, "kvm_mmu_page_unlink_children", "its page is being zapped")
	}
	for len(sp.ParentPTEs) > 0 {
		m.dropParentPTE(sp, sp.ParentPTEs[0], "kvm_mmu_unlink_parents", "the page it points to is being zapped")
	}
	if !wasInvalid && spHasGPTEs(sp.Role) {
		m.unaccountShadowed(sp)
	}
	if sp.Unsync {
		sp.Unsync = false // kvm_unlink_unsync_page
	}
	zappedRoot := false
	s.active = removeSP(s.active, sp)
	if sp.RootCount == 0 {
		n++
		*invalid = append(*invalid, sp)
	} else {
		zappedRoot = !s.isObsoleteSP(sp)
	}
	sp.Role = sp.Role.WithInvalid(true)
	if zappedRoot {
		m.requestFreeObsoleteRoots()
	}
	if !m.Quiet {
		text := fmt.Sprintf("kvm_mmu_prepare_zap_page: %s is marked invalid (role.invalid=1) and goes on the invalid "+
			"list, to be freed by kvm_mmu_commit_zap_page.", spName(sp))
		switch {
		case zappedRoot:
			text = fmt.Sprintf("kvm_mmu_prepare_zap_page: %s is a root held %d time(s), so it cannot be freed yet: "+
				"role.invalid=1, and every vCPU gets %s.", spName(sp), sp.RootCount, m.obsoleteRequestName())
		case sp.RootCount > 0:
			text = fmt.Sprintf("kvm_mmu_prepare_zap_page: %s is a root held %d time(s): it stays, invalid, until "+
				"its holders free their obsolete roots.", spName(sp), sp.RootCount)
		}
		m.emit(Event{Kind: EvSet, MMU: spMMUName(sp), Func: "kvm_mmu_prepare_zap_page", Space: SpaceHPA,
			Addr: uint64(sp.SPT), Level: sp.Role.Level(), Old: uint64(sp.RootCount), New: uint64(sp.RootCount),
			Table: uint64(sp.SPT), Text: text})
	}
	return n
}

// removeSP drops sp from a list of pages, keeping the order.
func removeSP(list []*KVMMMUPage, sp *KVMMMUPage) []*KVMMMUPage {
	for i, x := range list {
		if x == sp {
			return append(list[:i:i], list[i+1:]...)
		}
	}
	return list
}

// mmuZapUnsyncChildren is mmu_zap_unsync_children: zap the unsync leaf
// pages below an upper-level page, which would otherwise stay writable
// with nothing above to resync them.
func (m *Machine) mmuZapUnsyncChildren(parent *KVMMMUPage, invalid *[]*KVMMMUPage) int {
	if parent.Role.Level() == 1 {
		return 0
	}
	n := 0
	for _, it := range m.mmuUnsyncWalk(parent) {
		m.kvmMMUPrepareZapPage(it.sp, invalid)
		m.mmuPagesClearParents(it.path)
		n++
	}
	return n
}

// kvmMMUCommitZapPage is kvm_mmu_commit_zap_page: after a remote TLB flush
// (no vCPU may still walk them), free the pages of the invalid list: out
// of the hash, the page of SPTEs back to the host.
func (m *Machine) kvmMMUCommitZapPage(invalid []*KVMMMUPage) {
	if len(invalid) == 0 {
		return
	}
	m.kvmFlushRemoteTLBs("kvm_mmu_commit_zap_page", fmt.Sprintf("%d zapped shadow page(s) are about to be freed", len(invalid)))
	s := m.shadow
	for _, sp := range invalid {
		b := kvmPageTableHashfn(sp.GFN)
		s.hash[b] = removeSP(s.hash[b], sp)
		s.active = removeSP(s.active, sp)
		delete(s.pages, sp.SPT.PFN())
		m.Mem.FreePage(sp.SPT.PFN())
		if !m.Quiet {
			m.emit(Event{Kind: EvFree, MMU: spMMUName(sp), Func: "kvm_mmu_free_shadow_page", Space: SpaceHPA,
				Addr: uint64(sp.SPT), Level: sp.Role.Level(), Table: uint64(sp.SPT),
				Text: fmt.Sprintf("kvm_mmu_free_shadow_page: %s leaves its hash bucket and its page is freed.", spName(sp))})
		}
	}
}

// kvmMMURemoteFlushOrZap is kvm_mmu_remote_flush_or_zap: commit the zaps,
// or just flush when SPTEs changed.
func (m *Machine) kvmMMURemoteFlushOrZap(invalid []*KVMMMUPage, flush bool, caller string) {
	switch {
	case len(invalid) > 0:
		m.kvmMMUCommitZapPage(invalid)
	case flush:
		m.kvmFlushRemoteTLBs(caller, "SPTEs were changed")
	}
}

// kvmMMUZapAllFastShadow is kvm_mmu_zap_all_fast for the shadow MMU: flip
// mmu_valid_gen, which makes every existing page obsolete at once, ask
// every vCPU to drop its obsolete roots, and zap the obsolete pages from
// the tail of active_mmu_pages (kvm_zap_obsolete_pages). It returns how
// many pages were zapped.
func (m *Machine) kvmMMUZapAllFastShadow() int {
	s := m.shadow
	s.validGen ^= 1
	m.requestFreeObsoleteRoots()
	if !m.Quiet {
		m.emit(Event{Kind: EvSet, MMU: "root_mmu", Func: "kvm_mmu_zap_all_fast",
			Text: fmt.Sprintf("kvm_mmu_zap_all_fast: mmu_valid_gen flips to %d, so every shadow page made so far is "+
				"obsolete; every vCPU gets %s; kvm_zap_obsolete_pages zaps the obsolete "+
				"pages from the oldest.", s.validGen, m.obsoleteRequestName())})
	}
	var invalid []*KVMMMUPage
	n := 0
	for {
		var victim *KVMMMUPage
		for i := len(s.active) - 1; i >= 0; i-- {
			if sp := s.active[i]; s.isObsoleteSP(sp) && !sp.Role.Invalid() {
				victim = sp
				break
			}
		}
		if victim == nil {
			break
		}
		m.kvmMMUPrepareZapPage(victim, &invalid)
		n++
	}
	m.kvmMMUCommitZapPage(invalid)
	return n
}

// kvmRmapZapGFNRange is kvm_rmap_zap_gfn_range: zap every leaf SPTE that
// maps a frame in [start, end), through the rmaps of every level. It
// returns how many SPTEs it zapped.
func (m *Machine) kvmRmapZapGFNRange(start, end GFN, fn string) int {
	s := m.shadow
	var keys []rmapKey
	for k := range s.rmap {
		if k.gfn < end && k.gfn+GFN(pagesPerHPage(k.level)) > start {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].level != keys[j].level {
			return keys[i].level < keys[j].level
		}
		return keys[i].gfn < keys[j].gfn
	})
	n := 0
	for _, k := range keys {
		for _, sptep := range append([]HPA(nil), s.rmap[k]...) {
			m.dropSPTE(sptep, fn, fmt.Sprintf("it maps GFN %s, in the range being zapped", k.gfn))
			n++
		}
	}
	return n
}

// kvmMMUZapMemslotPages is kvm_mmu_zap_memslot_pages_and_flush: zap every
// valid shadow page whose frame is in the slot, since their accounting
// lives in the slot.
func (m *Machine) kvmMMUZapMemslotPages(slot *Memslot) int {
	var invalid []*KVMMMUPage
	n := 0
	for _, sp := range m.shadow.sortedPages() {
		if slot.Contains(sp.GFN) && !m.shadow.isObsoleteSP(sp) {
			m.kvmMMUPrepareZapPage(sp, &invalid)
			n++
		}
	}
	m.kvmMMURemoteFlushOrZap(invalid, true, "kvm_mmu_zap_memslot_pages_and_flush")
	return n
}

// shadowZapGFNRange is kvm_zap_gfn_range for the shadow MMU: the leaves
// that map the range go (kvm_rmap_zap_gfn_range); shadow pages stay.
func (m *Machine) shadowZapGFNRange(a *ZapGFNRange) Result {
	start, end := a.GPA.GFN(), (a.GPA + GPA(a.Size)).GFN()
	if !m.Quiet {
		m.emit(Event{Kind: EvBegin, MMU: "kvm", Func: "kvm_zap_gfn_range", Space: SpaceGPA, Addr: uint64(a.GPA),
			Text: fmt.Sprintf("kvm_zap_gfn_range(GFN %s, %s): KVM removes every mapping of GPA %s-%s, found through "+
				"the rmaps (kvm_rmap_zap_gfn_range).", start, end, a.GPA, a.GPA+GPA(a.Size)-1)})
	}
	n := m.kvmRmapZapGFNRange(start, end, "kvm_rmap_zap_gfn_range")
	if n > 0 {
		m.kvmFlushRemoteTLBs("kvm_zap_gfn_range", fmt.Sprintf("%d leaf SPTE(s) were zapped", n))
	}
	return Result{OK: true, Note: fmt.Sprintf("%d leaf SPTEs zapped", n)}
}

// shadowRemoveMemslot is kvm_arch_flush_shadow_memslot for the shadow MMU:
// with KVM_X86_QUIRK_SLOT_ZAP_ALL everything goes (kvm_mmu_zap_all_fast);
// without it, the slot's leaves and the shadow pages of its frames
// (kvm_mmu_zap_memslot). It returns SPTEs or pages zapped, and pages freed.
func (m *Machine) shadowRemoveMemslot(slot *Memslot, slotOnly bool) (int, int) {
	before := len(m.shadow.pages)
	n := 0
	if slotOnly {
		n = m.kvmRmapZapGFNRange(slot.BaseGFN, slot.LastGFN()+1, "kvm_mmu_zap_memslot")
		n += m.kvmMMUZapMemslotPages(slot)
	} else {
		n = m.kvmMMUZapAllFastShadow()
	}
	return n, before - len(m.shadow.pages)
}
