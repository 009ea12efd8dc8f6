package mmu

import "fmt"

// Reverse maps (mmu.c): for each guest frame and level, the leaf SPTEs
// that map it (slot->arch.rmap[level-1], a pte_list of SPTE pointers), and
// for each shadow page the SPTEs that point to it (parent_ptes, the same
// kind of list). KVM keeps a single SPTE in the list head itself and moves
// to struct pte_list_desc blocks of 14 when there are more; the model
// keeps a slice in insertion order.

// rmapKeyFor is gfn_to_rmap: the list of the level's page around gfn.
func rmapKeyFor(gfn GFN, level int) rmapKey {
	return rmapKey{level: level, gfn: gfnRoundForLevel(gfn, level)}
}

// rmapAdd is rmap_add: remember the guest frame and access a new leaf SPTE
// maps (kvm_mmu_page_set_translation) and add the SPTE to the frame's
// rmap (pte_list_add).
func (m *Machine) rmapAdd(sptep HPA, gfn GFN, access int) {
	s := m.shadow
	sp := s.spAt(sptep)
	if sp == nil {
		return
	}
	kvmMMUPageSetTranslation(sp, spteIndexOf(sptep), gfn, access)
	k := rmapKeyFor(gfn, sp.Role.Level())
	s.rmap[k] = append(s.rmap[k], sptep)
	if !m.Quiet {
		n := len(s.rmap[k])
		how := "the only one, kept in the rmap head itself"
		if n > 1 {
			how = fmt.Sprintf("%d SPTEs now, kept in pte_list_desc blocks of 14", n)
		}
		m.emit(Event{Kind: EvSet, MMU: spMMUName(sp), Func: "rmap_add", Space: SpaceHPA, Addr: uint64(sptep),
			Level: sp.Role.Level(), Index: spteIndexOf(sptep), HasEntry: true, Table: uint64(sp.SPT),
			Old: uint64(n - 1), New: uint64(n),
			Text: fmt.Sprintf("rmap_add: the SPTE at HPA %s joins the level-%d rmap of GFN %s (pte_list_add; %s), "+
				"so KVM can find it from the frame, to write-protect or zap it.", sptep, sp.Role.Level(), k.gfn, how)})
	}
}

// rmapRemove is rmap_remove (pte_list_remove): take a leaf SPTE off its
// frame's rmap.
func (m *Machine) rmapRemove(sptep HPA) {
	s := m.shadow
	sp := s.spAt(sptep)
	if sp == nil {
		return
	}
	gfn := s.kvmMMUPageGetGFN(sp, spteIndexOf(sptep))
	k := rmapKeyFor(gfn, sp.Role.Level())
	s.rmap[k] = removeHPA(s.rmap[k], sptep)
	if len(s.rmap[k]) == 0 {
		delete(s.rmap, k)
	}
}

// removeHPA drops one occurrence of h from list, keeping the order.
func removeHPA(list []HPA, h HPA) []HPA {
	for i, x := range list {
		if x == h {
			return append(list[:i:i], list[i+1:]...)
		}
	}
	return list
}

// mmuSPTEClear is mmu_spte_clear_track_bits / mmu_spte_clear_no_track: the
// SPTE becomes SHADOW_NONPRESENT_VALUE; it returns the old value.
func (m *Machine) mmuSPTEClear(sptep HPA) uint64 {
	return m.writeSPTE(sptep, ShadowNonPresentValue)
}

// dropSPTE is drop_spte: clear a leaf SPTE and take it off its rmap.
func (m *Machine) dropSPTE(sptep HPA, fn, why string) {
	old := m.mmuSPTEClear(sptep)
	if isShadowPresentPTE(old) {
		m.rmapRemove(sptep)
	}
	m.emitSPTEZap(sptep, old, fn, why)
}

// dropParentPTE is drop_parent_pte: unlink a child page from the SPTE
// that points to it (mmu_page_remove_parent_pte, mmu_spte_clear_no_track).
func (m *Machine) dropParentPTE(child *KVMMMUPage, sptep HPA, fn, why string) {
	child.ParentPTEs = removeHPA(child.ParentPTEs, sptep)
	old := m.mmuSPTEClear(sptep)
	m.emitSPTEZap(sptep, old, fn, fmt.Sprintf("%s; it pointed to %s, which leaves its parent_ptes", why, spName(child)))
}

// emitSPTEZap records an SPTE taken away.
func (m *Machine) emitSPTEZap(sptep HPA, old uint64, fn, why string) {
	if m.Quiet {
		return
	}
	level := m.sptepLevel(sptep)
	m.emit(Event{Kind: EvZap, MMU: m.spteMMUName(sptep), Func: fn, Space: SpaceHPA, Addr: uint64(sptep), Level: level,
		Index: spteIndexOf(sptep), HasEntry: true, Old: old, New: ShadowNonPresentValue,
		Table: uint64(sptep &^ pageMask), HPA: sptep, HasHPA: true, Size: 8,
		Text: fmt.Sprintf("%s: the SPTE at HPA %s (%s, %s) becomes SHADOW_NONPRESENT_VALUE: %s.", fn, sptep,
			hex(old), m.shadow.masks.decode(old, max(level, 1)), why)})
}

// spteWriteProtect is spte_write_protect for page-table protection: clear
// W and the MMU-writable bit, so that neither the guest nor the fast page
// fault path can make the SPTE writable again. It reports a change.
func (m *Machine) spteWriteProtect(sptep HPA, why string) bool {
	s := &m.shadow.masks
	spte := m.readSPTE(sptep)
	if spte&PTWritable == 0 && spte&s.mmuWritable == 0 {
		return false
	}
	n := spte &^ (PTWritable | s.mmuWritable)
	m.writeSPTE(sptep, n)
	if !m.Quiet {
		m.emit(Event{Kind: EvWrite, MMU: m.spteMMUName(sptep), Func: "spte_write_protect", Space: SpaceHPA, Addr: uint64(sptep),
			Level: m.sptepLevel(sptep), Index: spteIndexOf(sptep), HasEntry: true, Old: spte, New: n,
			Table: uint64(sptep &^ pageMask), HPA: sptep, HasHPA: true, Size: 8,
			Text: fmt.Sprintf("spte_write_protect: the SPTE at HPA %s loses W and MMU-writable (%s → %s): %s.",
				sptep, hex(spte), hex(n), why)})
	}
	return true
}

// kvmMMUSlotGFNWriteProtect is kvm_mmu_slot_gfn_write_protect: make every
// leaf SPTE that maps gfn, at minLevel and above, read-only (through the
// rmaps, and in the TDP MMU's roots when it is on, as when KVM shadows an
// L1's nested tables). It reports whether anything changed (a TLB flush is
// needed).
func (m *Machine) kvmMMUSlotGFNWriteProtect(gfn GFN, minLevel int, why string) bool {
	changed := m.tdp != nil && m.kvmTDPMMUWriteProtectGFN(gfn, why)
	for level := minLevel; level <= 3; level++ {
		for _, sptep := range append([]HPA(nil), m.shadow.rmap[rmapKeyFor(gfn, level)]...) {
			changed = m.spteWriteProtect(sptep, why) || changed
		}
	}
	return changed
}
