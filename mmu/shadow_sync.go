package mmu

import (
	"errors"
	"fmt"
)

// Unsync and sync (mmu.c, paging_tmpl.h): a leaf guest table that KVM
// shadows need not stay write-protected. When KVM maps it writable it
// marks its shadow pages unsync, and the guest edits it freely; the shadow
// SPTEs go stale, exactly as a TLB would, until the guest flushes: INVLPG
// resyncs the one SPTE (kvm_mmu_invalidate_addr), a CR3 load resyncs every
// unsync page under the root (kvm_mmu_sync_roots).

// errUnsyncPerm is -EPERM from mmu_try_to_unsync_pages: the SPTE must be
// read-only.
var errUnsyncPerm = errors.New("the frame must stay write-protected")

// mmuTryToUnsyncPages is mmu_try_to_unsync_pages, asked by make_spte
// before it makes a writable SPTE for gfn: a write-tracked frame (an
// upper-level guest table) must stay read-only; otherwise every valid
// leaf page shadowing the frame becomes unsync (kvm_unsync_page), unless
// KVM is synchronizing or prefetching.
func (m *Machine) mmuTryToUnsyncPages(v *VCPU, gfn GFN, synchronizing, prefetch bool) error {
	s := m.shadow
	if s.kvmGFNIsWriteTracked(gfn) {
		return errUnsyncPerm
	}
	for _, sp := range s.validSPsWithGPTEs(gfn) {
		if synchronizing {
			return errUnsyncPerm
		}
		if sp.Unsync {
			continue
		}
		if prefetch {
			return errUnsyncPerm
		}
		m.kvmUnsyncPage(v, sp)
	}
	return nil
}

// kvmUnsyncPage is kvm_unsync_page: the page is unsync, and its parents
// learn that they have an unsync child (kvm_mmu_mark_parents_unsync).
func (m *Machine) kvmUnsyncPage(v *VCPU, sp *KVMMMUPage) {
	sp.Unsync = true
	if !m.Quiet && sp.Role.GuestMode() {
		m.emit(Event{Kind: EvSet, MMU: spMMUName(sp), Func: "kvm_unsync_page", Space: SpaceHPA, Addr: uint64(sp.SPT),
			Level: sp.Role.Level(), VCPU: vcpuID(v), Table: uint64(sp.SPT), Old: 0, New: 1,
			Text: nestedText(v, fmt.Sprintf("kvm_unsync_page: KVM is about to map GFN %s writable for L1, so %s "+
				"becomes unsync: L1 may now edit that NPT12 table without a trap, and NPT02's SPTEs may go stale "+
				"until KVM syncs the page (KVM_REQ_MMU_SYNC, raised by every nested VM-entry).", sp.GFN, spName(sp)))})
	} else if !m.Quiet {
		m.emit(Event{Kind: EvSet, MMU: spMMUName(sp), Func: "kvm_unsync_page", Space: SpaceHPA, Addr: uint64(sp.SPT),
			Level: sp.Role.Level(), VCPU: vcpuID(v), Table: uint64(sp.SPT), Old: 0, New: 1,
			Text: fmt.Sprintf("kvm_unsync_page: KVM is about to map GFN %s writable, so %s becomes unsync: the guest "+
				"may now edit that page table without a trap, and its SPTEs may go stale until the guest flushes "+
				"its TLB (INVLPG or a CR3 load).", sp.GFN, spName(sp))})
	}
	m.kvmMMUMarkParentsUnsync(sp)
}

// kvmMMUMarkParentsUnsync is kvm_mmu_mark_parents_unsync.
func (m *Machine) kvmMMUMarkParentsUnsync(sp *KVMMMUPage) {
	for _, p := range append([]HPA(nil), sp.ParentPTEs...) {
		m.markUnsync(nil, p)
	}
}

// markUnsync is mark_unsync: set the SPTE's bit in its page's
// unsync_child_bitmap; the page's first unsync child propagates upwards.
func (m *Machine) markUnsync(v *VCPU, sptep HPA) {
	sp := m.shadow.spAt(sptep)
	if sp == nil {
		return
	}
	i := spteIndexOf(sptep)
	if sp.unsyncChildBitmap[i/64]&(1<<(i%64)) != 0 {
		return
	}
	sp.unsyncChildBitmap[i/64] |= 1 << (i % 64)
	sp.UnsyncChildren++
	if !m.Quiet {
		m.emit(Event{Kind: EvSet, MMU: spMMUName(sp), Func: "mark_unsync", Space: SpaceHPA, Addr: uint64(sptep),
			Level: sp.Role.Level(), Index: i, HasEntry: true, VCPU: vcpuID(v), Table: uint64(sp.SPT),
			Old: uint64(sp.UnsyncChildren - 1), New: uint64(sp.UnsyncChildren),
			Text: fmt.Sprintf("mark_unsync: bit %d of the unsync_child_bitmap of %s is set (unsync_children %d → %d), "+
				"so a sync from the root will find the way down.", i, spName(sp), sp.UnsyncChildren-1, sp.UnsyncChildren)})
	}
	if sp.UnsyncChildren > 1 {
		return
	}
	m.kvmMMUMarkParentsUnsync(sp)
}

// clearUnsyncChildBit is clear_unsync_child_bit.
func clearUnsyncChildBit(sp *KVMMMUPage, i int) {
	if sp.unsyncChildBitmap[i/64]&(1<<(i%64)) == 0 {
		return
	}
	sp.unsyncChildBitmap[i/64] &^= 1 << (i % 64)
	sp.UnsyncChildren--
}

// unsyncLink is one step down from a page to a child: the page and the
// index of the SPTE.
type unsyncLink struct {
	sp  *KVMMMUPage
	idx int
}

// unsyncItem is an unsync leaf page found by mmu_unsync_walk, with the
// links above it, nearest first (struct mmu_page_path).
type unsyncItem struct {
	sp   *KVMMMUPage
	path []unsyncLink
}

// mmuUnsyncWalk is mmu_unsync_walk: follow unsync_child_bitmap down from
// sp and collect the unsync leaf pages, clearing the bits that lead
// nowhere any more.
func (m *Machine) mmuUnsyncWalk(sp *KVMMMUPage) []unsyncItem {
	if sp.UnsyncChildren == 0 {
		return nil
	}
	var out []unsyncItem
	m.unsyncWalk(sp, nil, &out)
	return out
}

// unsyncWalk is __mmu_unsync_walk; it returns how many unsync leaves it
// found below sp.
func (m *Machine) unsyncWalk(sp *KVMMMUPage, path []unsyncLink, out *[]unsyncItem) int {
	n := 0
	for i := 0; i < 512; i++ {
		if sp.unsyncChildBitmap[i/64]&(1<<(i%64)) == 0 {
			continue
		}
		ent := m.readSPTE(sp.SPT + HPA(8*i))
		child := m.shadow.spAt(HPA(ent & eptAddrMask))
		if !isShadowPresentPTE(ent) || isLargePTE(ent) || child == nil {
			clearUnsyncChildBit(sp, i)
			continue
		}
		link := append([]unsyncLink{{sp, i}}, path...)
		switch {
		case child.UnsyncChildren > 0:
			if r := m.unsyncWalk(child, link, out); r == 0 {
				clearUnsyncChildBit(sp, i)
			} else {
				n += r
			}
		case child.Unsync:
			n++
			if !containsItem(*out, child) {
				*out = append(*out, unsyncItem{sp: child, path: link})
			}
		default:
			clearUnsyncChildBit(sp, i)
		}
	}
	return n
}

func containsItem(items []unsyncItem, sp *KVMMMUPage) bool {
	for _, it := range items {
		if it.sp == sp {
			return true
		}
	}
	return false
}

// mmuPagesClearParents is mmu_pages_clear_parents: after a leaf is synced,
// clear its bit in its parent, and upwards while a parent has no unsync
// child left.
func (m *Machine) mmuPagesClearParents(path []unsyncLink) {
	for _, l := range path {
		clearUnsyncChildBit(l.sp, l.idx)
		if l.sp.UnsyncChildren > 0 {
			return
		}
	}
}

// mmuSyncChildren is mmu_sync_children: write-protect the guest tables of
// every unsync leaf below parent (so that the guest's next edit traps
// again), then resync each (kvm_sync_page). It returns true when KVM had
// to stop early, which the model never does.
func (m *Machine) mmuSyncChildren(v *VCPU, parent *KVMMMUPage) bool {
	var invalid []*KVMMMUPage
	flush := false
	synced := 0
	for round := 0; round < 64; round++ {
		items := m.mmuUnsyncWalk(parent)
		if len(items) == 0 {
			break
		}
		synced += len(items)
		protected := false
		for _, it := range items {
			protected = m.kvmMMUSlotGFNWriteProtect(it.sp.GFN, 1, fmt.Sprintf("GFN %s is a guest page table "+
				"being resynced (kvm_vcpu_write_protect_gfn)", it.sp.GFN)) || protected
		}
		if protected {
			m.kvmMMURemoteFlushOrZap(invalid, true, "mmu_sync_children")
			invalid, flush = nil, false
		}
		for _, it := range items {
			m.kvmUnlinkUnsyncPage(v, it.sp)
			flush = m.kvmSyncPage(v, it.sp, &invalid) > 0 || flush
			m.mmuPagesClearParents(it.path)
		}
	}
	m.kvmMMURemoteFlushOrZap(invalid, flush, "mmu_sync_children")
	if !m.Quiet {
		m.emit(Event{Kind: EvSet, MMU: spMMUName(parent), Func: "mmu_sync_children", Space: SpaceHPA, Addr: uint64(parent.SPT),
			Level: parent.Role.Level(), VCPU: vcpuID(v), Table: uint64(parent.SPT), Old: uint64(synced), New: 0,
			Text: fmt.Sprintf("mmu_sync_children: %d unsync page(s) below %s resynced; the unsync_child_bitmap bits "+
				"that led to them are cleared on the way up (mmu_pages_clear_parents).", synced, spName(parent))})
	}
	return false
}

// kvmUnlinkUnsyncPage is kvm_unlink_unsync_page: the page is synced
// again.
func (m *Machine) kvmUnlinkUnsyncPage(v *VCPU, sp *KVMMMUPage) {
	sp.Unsync = false
	if !m.Quiet {
		m.emit(Event{Kind: EvSet, MMU: spMMUName(sp), Func: "kvm_unlink_unsync_page", Space: SpaceHPA,
			Addr: uint64(sp.SPT), Level: sp.Role.Level(), VCPU: vcpuID(v), Table: uint64(sp.SPT), Old: 1, New: 0,
			Text: fmt.Sprintf("kvm_unlink_unsync_page: %s is write-protected again and is resynced from its guest "+
				"table, entry by entry.", spName(sp))})
	}
}

// kvmSyncPageCheck is kvm_sync_page_check: a page can be synced with the
// current MMU only if its role equals root_role apart from the level,
// access, quadrant and passthrough (and the proposal's glevel).
func kvmSyncPageCheck(v *VCPU, sp *KVMMMUPage) bool {
	ign := PageRole(roleLevelMask<<roleLevelShift | roleAccessMask<<roleAccessShift |
		roleQuadrantMask<<roleQuadrantShift | rolePassthrough | roleGLevelMask<<roleGLevelShift)
	return !sp.Role.Direct() && (sp.Role^v.ArchMMU().RootRole)&^ign == 0
}

// kvmSyncPage is kvm_sync_page: resync every SPTE of an unsync page from
// the guest table (kvm_sync_spte); a page that cannot be synced with the
// current MMU (its role no longer matches, say CR0.WP changed) is zapped.
// It returns <0 when the page was zapped, >0 when a TLB flush is needed.
func (m *Machine) kvmSyncPage(v *VCPU, sp *KVMMMUPage, invalid *[]*KVMMMUPage) int {
	if !kvmSyncPageCheck(v, sp) {
		m.emitShadowNote(v, sp, "kvm_sync_page_check", fmt.Sprintf("%s was made for role %s, which the current MMU "+
			"(root_role %s) cannot sync: it is zapped instead", spName(sp), roleWord(sp.Role), roleWord(v.ArchMMU().RootRole)))
		m.kvmMMUPrepareZapPage(sp, invalid)
		return -1
	}
	flush := 0
	for i := 0; i < 512; i++ {
		r := m.kvmSyncSPTE(v, sp, i)
		if r < 0 {
			m.kvmMMUPrepareZapPage(sp, invalid)
			return -1
		}
		flush |= r
	}
	return flush
}

// kvmSyncSPTE is kvm_sync_spte: sync one entry if it is not empty.
func (m *Machine) kvmSyncSPTE(v *VCPU, sp *KVMMMUPage, i int) int {
	if m.readSPTE(sp.SPT+HPA(8*i)) == ShadowNonPresentValue {
		return 0
	}
	return m.fnameSyncSPTE(v, sp, i)
}

// getLevel1SPGPA is FNAME(get_level1_sp_gpa): where a leaf page's guest
// entries start; the second half of a 32-bit guest's table (quadrant 1)
// starts 2 KiB in.
func getLevel1SPGPA(sp *KVMMMUPage) GPA {
	off := 0
	if sp.Role.Has4ByteGPTE() {
		off = sp.Role.Quadrant() << 9 * 4
	}
	return sp.GFN.GPA() + GPA(off)
}

// fnameSyncSPTE is FNAME(sync_spte): re-read the guest entry that SPTE i
// of an unsync leaf page shadows. An entry that is not present, not
// accessed or has reserved bits drops the SPTE
// (FNAME(prefetch_invalid_gpte)); one that maps another frame drops it
// too; otherwise the SPTE is remade with the entry's current rights
// (make_spte, synchronizing: it may not unsync anything). It returns 1
// when the SPTE changed in a way that needs a flush, -1 on failure.
func (m *Machine) fnameSyncSPTE(v *VCPU, sp *KVMMMUPage, i int) int {
	mmu := v.ArchMMU()
	if mmu == &v.GuestMMU && v.Nested.Kind == NestedVMX {
		return m.eptSyncSPTE(v, sp, i) // guest_mmu's sync_spte over EPT12
	}
	mode := PagingMode(mmu.CPURole.Base.Level())
	f := formatFor(mode)
	fn := f.prefix + "_sync_spte"
	if mode == PagingOff {
		return -1
	}
	sptep := sp.SPT + HPA(8*i)
	gpa := getLevel1SPGPA(sp) + GPA(i*f.entrySize)
	raw, err := m.ReadGuest(gpa, f.entrySize)
	if err != nil {
		return -1
	}
	gpte := PTE(raw)
	switch {
	case !gpte.Present():
		m.dropSPTE(sptep, fn, fmt.Sprintf("the guest's PTE at GPA %s is now %s: not present (prefetch_invalid_gpte)", gpa, hex(raw)))
		return 1
	case !gpte.Accessed():
		m.dropSPTE(sptep, fn, fmt.Sprintf("the guest's PTE at GPA %s (%s) is not accessed (prefetch_invalid_gpte)", gpa, hex(raw)))
		return 1
	case mmu.guestRsvd.isRsvdBitsSet(gpte, 1):
		m.dropSPTE(sptep, fn, fmt.Sprintf("the guest's PTE at GPA %s (%s) sets reserved bits (prefetch_invalid_gpte)", gpa, hex(raw)))
		return 1
	}
	gfn := f.tableAddr(gpte).GFN()
	access := sp.Role.Access() & gpteAccess(gpte, f.wide)
	if !gpte.Dirty() {
		access &^= AccWrite // FNAME(protect_clean_gpte)
	}
	old := m.readSPTE(sptep)
	if m.shadow.masks.isMMIOSPTE(old) {
		return m.syncMMIOSPTE(v, sptep, gfn, access, fn)
	}
	if gfn != m.shadow.kvmMMUPageGetGFN(sp, i) {
		m.dropSPTE(sptep, fn, fmt.Sprintf("the guest's PTE at GPA %s now maps GFN %s, not %s", gpa, gfn,
			m.shadow.kvmMMUPageGetGFN(sp, i)))
		return 1
	}
	return m.remakeSyncedSPTE(v, sp, i, gfn, access, old, fn, func() string {
		return fmt.Sprintf("the guest's PTE at GPA %s is %s, so the SPTE is remade with its rights (make_spte)",
			gpa, hex(raw))
	})
}

// remakeSyncedSPTE is the end of FNAME(sync_spte), the same for every
// guest format: the shadow page records the guest's translation of entry
// i, and its SPTE, now old, is made again for gfn with access; a changed
// SPTE is written (why says why, in the event) and tells whether a flush
// is due.
func (m *Machine) remakeSyncedSPTE(v *VCPU, sp *KVMMMUPage, i int, gfn GFN, access int, old uint64, fn string,
	why func() string) int {
	sptep := sp.SPT + HPA(8*i)
	kvmMMUPageSetTranslation(sp, i, gfn, access)
	spte, _ := m.makeShadowSPTE(v, sp, gfn, spteToPFN(old), access, old, true, true)
	if spte == old {
		return 0
	}
	m.writeSPTE(sptep, spte)
	m.emitSPTEWrite(v, sptep, old, spte, fn, why())
	return mmuSPTEUpdateFlush(old, spte)
}

// syncMMIOSPTE is sync_mmio_spte: an MMIO SPTE for another frame goes; for
// the same frame it is remade.
func (m *Machine) syncMMIOSPTE(v *VCPU, sptep HPA, gfn GFN, access int, fn string) int {
	old := m.readSPTE(sptep)
	if mmioSPTEGFN(old, m.Config.MaxPhyAddr) != gfn {
		m.emitSPTEZap(sptep, m.mmuSPTEClear(sptep), fn, "the MMIO SPTE was for another frame")
		return 1
	}
	n := m.shadow.masks.makeMMIOSPTE(gfn, m.slotsGen, access)
	m.writeSPTE(sptep, n)
	if n != old {
		m.emitSPTEWrite(v, sptep, old, n, fn, "the MMIO SPTE is remade (mark_mmio_spte)")
	}
	return 0
}

// mmuSPTEUpdateFlush says whether replacing old by spte needs a TLB flush
// (mmu_spte_update): a writable SPTE made read-only, or A or D lost.
func mmuSPTEUpdateFlush(old, spte uint64) int {
	if !isShadowPresentPTE(old) {
		return 0
	}
	lost := old &^ spte
	if lost&(PTWritable|PTAccessed|PTDirty) != 0 {
		return 1
	}
	return 0
}

// emitSPTEWrite records KVM writing an SPTE.
func (m *Machine) emitSPTEWrite(v *VCPU, sptep HPA, old, spte uint64, fn, why string) {
	if m.Quiet {
		return
	}
	level := m.sptepLevel(sptep)
	m.emit(Event{Kind: EvWrite, MMU: m.spteMMUName(sptep), Func: fn, Space: SpaceHPA, Addr: uint64(sptep), Level: level,
		Index: spteIndexOf(sptep), HasEntry: true, Old: old, New: spte, VCPU: vcpuID(v),
		Table: uint64(sptep &^ pageMask), HPA: sptep, HasHPA: true, Size: 8,
		Text: fmt.Sprintf("%s: %s; SPTE at HPA %s %s → %s (%s).", fn, why, sptep, hex(old), hex(spte),
			m.shadow.masks.decode(spte, max(level, 1)))})
}
