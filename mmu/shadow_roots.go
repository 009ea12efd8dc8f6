package mmu

import (
	"fmt"
	"strings"
)

// Roots of the shadow MMU (mmu.c): kvm_mmu_load builds them on entry into
// the guest, kvm_mmu_free_roots drops them. A 64-bit guest's root is a
// shadow page of its top table. A 32-bit or PAE guest gets pae_root, four
// PDPTEs that are not a shadow page, each pointing to a level-2 page; when
// KVM's root must be deeper (nested NPT), pml4_root and pml5_root, also
// not shadow pages, sit above it: the special roots. The level-expanded
// proposal makes each of these levels a real shadow page instead.

// isDummyRoot is kvm_mmu_is_dummy_root: the root KVM uses when the guest's
// CR3 is outside every memslot (the zero page, HPA 0 here).
func isDummyRoot(mmu *MMU) bool { return mmu.RootValid && mmu.Root == 0 }

// kvmMMUReloadShadow is kvm_mmu_reload: load a root into arch.mmu if it
// has none.
func (m *Machine) kvmMMUReloadShadow(v *VCPU) error {
	if v.ArchMMU().RootValid {
		return nil
	}
	return m.kvmMMULoadShadow(v)
}

// kvmMMULoadShadow is kvm_mmu_load: the special roots if needed, the shadow
// roots, a sync of what is unsync under them, and the hardware pointed at
// the root (kvm_mmu_load_pgd).
func (m *Machine) kvmMMULoadShadow(v *VCPU) error {
	mmu := v.ArchMMU()
	if err := m.mmuAllocSpecialRoots(v); err != nil {
		return err
	}
	alloc := m.mmuAllocShadowRoots
	if mmu.RootRole.Direct() {
		alloc = m.mmuAllocDirectRoots
	}
	m.countRoots(v, func(s *RootStats) { s.Loads++ })
	if err := alloc(v); err != nil {
		return err
	}
	m.kvmMMUSyncRoots(v)
	if mmu != &v.RootMMU {
		m.emitLoadNestedPGD(v, mmu)
	} else if !m.Quiet {
		m.emit(Event{Kind: EvSet, MMU: "root_mmu", Func: "kvm_mmu_load_pgd", Space: SpaceHPA, Addr: uint64(mmu.Root),
			VCPU: v.ID, Text: fmt.Sprintf("kvm_mmu_load_pgd: while the guest runs, the processor's CR3 is KVM's root "+
				"at HPA %s (vmx_load_mmu_pgd), not the guest's CR3 %s; the processor walks %d shadow levels.",
				mmu.Root, hex(v.Regs.CR3), m.hwRootLevel(v))})
	}
	return nil
}

// hwRootLevel is how many levels the processor walks from the root: the
// root role's level (PAE's three for a PAE root, whose PDPTEs are loaded
// into registers).
func (m *Machine) hwRootLevel(v *VCPU) int { return v.ArchMMU().RootRole.Level() }

// mmuAllocSpecialRoots is mmu_alloc_special_roots: a 32-bit or PAE guest
// under a 4- or 5-level root needs pml4_root (and pml5_root), allocated on
// demand and kept with the vCPU. Only the merged variant has them. Under
// TDP the vCPU has no pae_root yet (__kvm_mmu_create skips it when the
// TDP level is above 3), so it is allocated here with the others.
func (m *Machine) mmuAllocSpecialRoots(v *VCPU) error {
	mmu := v.ArchMMU()
	if m.shadow.cfg.Variant != ShadowMerged || mmu.RootRole.Direct() || mmu.CPURole.Base.Level() >= 4 ||
		mmu.RootRole.Level() < 4 {
		return nil
	}
	need5 := mmu.RootRole.Level() > 4
	if mmu.PAERoot != 0 && mmu.PML4Root != 0 && (!need5 || mmu.PML5Root != 0) {
		return nil
	}
	for _, r := range []*HPA{&mmu.PAERoot, &mmu.PML4Root, &mmu.PML5Root} {
		if *r != 0 || (r == &mmu.PML5Root && !need5) {
			continue
		}
		pfn, err := m.Mem.AllocPage()
		if err != nil {
			return err
		}
		*r = pfn.HPA()
		if !m.Quiet {
			name, level := "pml4_root", 4
			switch r {
			case &mmu.PML5Root:
				name, level = "pml5_root", 5
			case &mmu.PAERoot:
				name, level = "pae_root", 3
			}
			m.emit(Event{Kind: EvAlloc, MMU: mmu.Name, Func: "mmu_alloc_special_roots", Space: SpaceHPA,
				Addr: uint64(*r), Level: level, VCPU: v.ID, Table: uint64(*r),
				Text: specialRootText(mmu, name, *r)})
		}
	}
	return nil
}

// specialRootText narrates the allocation of one special root page.
func specialRootText(mmu *MMU, name string, at HPA) string {
	what := "only entry 0 will be used"
	if name == "pae_root" {
		what = "its four entries will point to level-2 shadow pages"
	}
	if mmu.Name == "guest_mmu" {
		return fmt.Sprintf("mmu_alloc_special_roots: L1's NPT12 has %d levels but NPT02 must have the host's %d, so "+
			"KVM takes a zeroed page for %s at HPA %s, on demand the first time (a 32-bit or PAE L1 hypervisor is "+
			"rare). It is not a shadow page: no role, no hash entry, no root_count; %s.", mmu.CPURole.Base.Level(),
			mmu.RootRole.Level(), name, at, what)
	}
	return fmt.Sprintf("mmu_alloc_special_roots: the guest's tables have %d levels but KVM's root has %d, so KVM "+
		"takes a zeroed page for %s at HPA %s. It is not a shadow page: no role, no hash entry, no root_count; only "+
		"entry 0 will be used. (In KVM this happens when it shadows a 32-bit or PAE L1's nested NPT on a %d-level "+
		"host.)", mmu.CPURole.Base.Level(), mmu.RootRole.Level(), name, at, mmu.RootRole.Level())
}

// mmuAllocRoot is mmu_alloc_root: the shadow page for gfn with root_role
// at level and quadrant, with one more holder (root_count).
func (m *Machine) mmuAllocRoot(v *VCPU, gfn GFN, quadrant, level int) (*KVMMMUPage, error) {
	role := v.ArchMMU().RootRole.WithLevel(level).WithQuadrant(quadrant)
	if role.GLevel() != 0 {
		role = role.WithGLevel(min(role.GLevel(), level))
	}
	sp, err := m.kvmMMUGetShadowPage(v, gfn, role)
	if err != nil {
		return nil, err
	}
	sp.RootCount++
	if !m.Quiet {
		m.emit(Event{Kind: EvSet, MMU: v.ArchMMU().Name, Func: "mmu_alloc_root", Space: SpaceHPA, Addr: uint64(sp.SPT),
			Level: level, VCPU: v.ID, Table: uint64(sp.SPT), Old: uint64(sp.RootCount - 1), New: uint64(sp.RootCount),
			Text: fmt.Sprintf("mmu_alloc_root: %s is a root of vCPU %d: root_count %d → %d, which keeps it from being "+
				"freed while it is in use.", spName(sp), v.ID, sp.RootCount-1, sp.RootCount)})
	}
	return sp, nil
}

// mmuAllocShadowRoots is mmu_alloc_shadow_roots: the root for the guest's
// CR3 (a dummy root when CR3 is outside every memslot); for 32-bit and PAE
// guests, pae_root's four entries (and the special roots above them), or in
// the level-expanded variant the chain of shadow pages that replaces them.
func (m *Machine) mmuAllocShadowRoots(v *VCPU) error {
	mmu := v.ArchMMU()
	pgd := m.kvmMMUGetGuestPGD(v, mmu)
	rootGFN := GFN((pgd & bits(PageShift, 51)) >> PageShift)
	mode := PagingMode(mmu.CPURole.Base.Level())
	mmu.RootPGD = pgd
	if m.gfnToMemslot(rootGFN) == nil {
		mmu.Root, mmu.RootValid = 0, true
		if !m.Quiet {
			m.emit(Event{Kind: EvSet, MMU: mmu.Name, Func: "kvm_mmu_get_dummy_root", VCPU: v.ID,
				Text: fmt.Sprintf("mmu_alloc_shadow_roots: %s %s is outside every memslot, so KVM uses a dummy root "+
					"(the zero page): every access faults, and FNAME(page_fault) injects the guest's #PF.",
					pgdName(v, mmu), hex(pgd))})
		}
		return nil
	}
	var err error
	switch {
	case mode >= Paging4:
		var sp *KVMMMUPage
		if sp, err = m.mmuAllocRoot(v, rootGFN, 0, mmu.RootRole.Level()); err == nil {
			mmu.Root, mmu.RootValid = sp.SPT, true
		}
	case m.shadow.cfg.Variant == ShadowLevelExpanded:
		err = m.allocExpandedRoots(v, rootGFN)
	default:
		err = m.allocPAERoots(v, rootGFN)
	}
	return err
}

// pdptrGFN is the page directory a PAE guest's PDPTR i points to
// (mmu->get_pdptr), or false when it is not present or outside every
// memslot.
func (m *Machine) pdptrGFN(v *VCPU, mmu *MMU, i int) (GFN, bool) {
	e := m.kvmPDPTRRead(v, mmu, i)
	if e&PTPresent == 0 {
		return 0, false
	}
	gfn := GFN((e & bits(PageShift, 51)) >> PageShift)
	return gfn, m.gfnToMemslot(gfn) != nil
}

// allocPAERoots fills pae_root for a 32-bit or PAE guest (merged): entry i
// shadows a quarter of a 32-bit guest's page directory (quadrant i), or
// the page directory of a PAE guest's PDPTE i; above a 4- or 5-level root,
// pml4_root[0] and pml5_root[0] link the special roots.
func (m *Machine) allocPAERoots(v *VCPU, rootGFN GFN) error {
	mmu := v.ArchMMU()
	pm := uint64(PTPresent)
	level := mmu.RootRole.Level()
	if level >= 4 {
		pm |= PTAccessed | PTWritable | PTUser
		m.setSpecialEntry(v, mmu.PML4Root, uint64(mmu.PAERoot)|pm, "pml4_root", "pae_root")
		if level == 5 {
			m.setSpecialEntry(v, mmu.PML5Root, uint64(mmu.PML4Root)|pm, "pml5_root", "pml4_root")
		}
	}
	pae := mmu.CPURole.Base.Level() == int(PagingPAE)
	for i := 0; i < 4; i++ {
		gfn, quadrant := rootGFN, i
		if pae {
			var ok bool
			if gfn, ok = m.pdptrGFN(v, mmu, i); !ok {
				m.setPAERoot(v, i, 0, nil)
				continue
			}
			quadrant = 0
		}
		sp, err := m.mmuAllocRoot(v, gfn, quadrant, 2)
		if err != nil {
			return err
		}
		m.setPAERoot(v, i, uint64(sp.SPT)|pm, sp)
	}
	switch level {
	case 5:
		mmu.Root = mmu.PML5Root
	case 4:
		mmu.Root = mmu.PML4Root
	default:
		mmu.Root = mmu.PAERoot
	}
	mmu.RootValid = true
	return nil
}

// setSpecialEntry writes entry 0 of a special root.
func (m *Machine) setSpecialEntry(v *VCPU, table HPA, e uint64, name, next string) {
	old := m.writeSPTE(table, e)
	if !m.Quiet && old != e {
		m.emit(Event{Kind: EvWrite, MMU: v.ArchMMU().Name, Func: "mmu_alloc_shadow_roots", Space: SpaceHPA, Addr: uint64(table),
			Index: 0, HasEntry: true, Old: old, New: e, VCPU: v.ID, Table: uint64(table), HPA: table, HasHPA: true, Size: 8,
			Text: fmt.Sprintf("mmu_alloc_shadow_roots: %s[0] = %s: %s at HPA %s, with P, W, U and A so that only the "+
				"guest's entries below decide.", name, hex(e), next, HPA(e&eptAddrMask))})
	}
}

// setPAERoot writes pae_root[i].
func (m *Machine) setPAERoot(v *VCPU, i int, e uint64, sp *KVMMMUPage) {
	mmu := v.ArchMMU()
	addr := mmu.PAERoot + HPA(8*i)
	old := m.writeSPTE(addr, e)
	if m.Quiet || old == e {
		return
	}
	text := fmt.Sprintf("mmu_alloc_shadow_roots: pae_root[%d] = %s: INVALID_PAE_ROOT, as the guest's PDPTE %d is not "+
		"present.", i, hex(e), i)
	if sp != nil {
		what := fmt.Sprintf("GVA %s-%s, a quarter of the guest's 1024-entry page directory (quadrant %d)",
			hex(uint64(i)<<30), hex(uint64(i+1)<<30-1), i)
		switch {
		case sp.Role.Direct():
			what = fmt.Sprintf("GVA = GPA %s-%s: paging is off, so a direct page maps that GiB as it is",
				hex(uint64(i)<<30), hex(uint64(i+1)<<30-1))
		case mmu.CPURole.Base.Level() == int(PagingPAE):
			what = fmt.Sprintf("GVA %s-%s, the page directory of the guest's PDPTE %d", hex(uint64(i)<<30),
				hex(uint64(i+1)<<30-1), i)
		}
		text = fmt.Sprintf("mmu_alloc_shadow_roots: pae_root[%d] = %s points to %s for %s.", i, hex(e), spName(sp), what)
	}
	if mmu.Name == "guest_mmu" {
		text = strings.NewReplacer("GVA ", "L2 GPA ", "the guest's ", "NPT12's ").Replace(text)
	}
	fn := "mmu_alloc_shadow_roots"
	if sp != nil && sp.Role.Direct() {
		fn = "mmu_alloc_direct_roots"
		text = fn + strings.TrimPrefix(text, "mmu_alloc_shadow_roots")
	}
	m.emit(Event{Kind: EvWrite, MMU: mmu.Name, Func: fn, Space: SpaceHPA, Addr: uint64(addr),
		Level: 3, Index: i, HasEntry: true, Old: old, New: e, VCPU: v.ID, Table: uint64(mmu.PAERoot), HPA: addr,
		HasHPA: true, Size: 8, Text: text})
}

// clearPAERoot sets pae_root[i] to INVALID_PAE_ROOT as kvm_mmu_free_roots
// does.
func (m *Machine) clearPAERoot(v *VCPU, mmu *MMU, i int) {
	addr := mmu.PAERoot + HPA(8*i)
	old := m.writeSPTE(addr, 0)
	if !m.Quiet && old != 0 {
		m.emit(Event{Kind: EvZap, MMU: mmu.Name, Func: "kvm_mmu_free_roots", Space: SpaceHPA, Addr: uint64(addr),
			Level: 3, Index: i, HasEntry: true, Old: old, New: 0, VCPU: v.ID, Table: uint64(mmu.PAERoot),
			HPA: addr, HasHPA: true, Size: 8,
			Text: fmt.Sprintf("kvm_mmu_free_roots: pae_root[%d] = INVALID_PAE_ROOT (was %s).", i, hex(old))})
	}
}

// allocExpandedRoots builds the roots of the level-expanded proposal for a
// 32-bit or PAE guest: the root is a shadow page at KVM's root level whose
// glevel is the guest's, entry 0 of each page above level 3 links the
// next, and the level-3 page acting as pae_root links four level-2 pages
// as pae_root's entries would. Being shadow pages, all of them are hashed
// and counted, and the root could be kept in prev_roots.
func (m *Machine) allocExpandedRoots(v *VCPU, rootGFN GFN) error {
	mmu := v.ArchMMU()
	root, err := m.mmuAllocRoot(v, rootGFN, 0, mmu.RootRole.Level())
	if err != nil {
		return err
	}
	mmu.Root, mmu.RootValid = root.SPT, true
	sp := root
	for sp.Role.Level() > 3 {
		child, exists, err := m.kvmMMUGetChildSP(v, sp.SPT, rootGFN, false, AccAll)
		if err != nil {
			return err
		}
		if !exists {
			m.linkShadowPage(v, sp.SPT, child)
		}
		sp = child
	}
	pae := mmu.CPURole.Base.Level() == int(PagingPAE)
	for i := 0; i < 4; i++ {
		sptep := sp.SPT + HPA(8*i)
		gfn := rootGFN
		if pae {
			var ok bool
			if gfn, ok = m.pdptrGFN(v, mmu, i); !ok {
				m.mmuPageZapPTE(sp, sptep, nil, "mmu_alloc_shadow_roots", fmt.Sprintf("the guest's PDPTE %d is not present", i))
				continue
			}
		}
		role := kvmMMUChildRole(sp.Role, i, false, AccAll)
		spte := m.readSPTE(sptep)
		if old := m.shadow.spAt(HPA(spte & eptAddrMask)); isShadowPresentPTE(spte) && old != nil &&
			old.GFN == gfn && old.Role == role {
			continue // already linked to the page this CR3 needs
		}
		want, err := m.kvmMMUGetShadowPage(v, gfn, role)
		if err != nil {
			return err
		}
		m.mmuPageZapPTE(sp, sptep, nil, "mmu_alloc_shadow_roots", "the entry is relinked to the page the guest's CR3 needs now")
		m.linkShadowPage(v, sptep, want)
	}
	return nil
}

// kvmMMUFreeRootsShadow is kvm_mmu_free_roots(mmu, KVM_MMU_ROOT_CURRENT):
// drop the vCPU's hold on mmu's root. A shadow-page root loses a
// root_count (and is zapped if it was already invalid); pae_root's entries
// each lose theirs and become INVALID_PAE_ROOT. root.hpa becomes
// INVALID_PAGE.
func (m *Machine) kvmMMUFreeRootsShadow(v *VCPU, mmu *MMU, why string) {
	if !mmu.RootValid {
		return
	}
	root, dummy := mmu.Root, isDummyRoot(mmu)
	mmu.Root, mmu.RootValid, mmu.RootPGD = 0, false, 0
	m.countRoots(v, func(s *RootStats) { s.Freed++ })
	if !m.Quiet {
		m.emit(Event{Kind: EvSet, MMU: mmu.Name, Func: "kvm_mmu_free_roots", Space: SpaceHPA, Addr: uint64(root),
			VCPU: v.ID, Text: fmt.Sprintf("kvm_mmu_free_roots(KVM_MMU_ROOT_CURRENT): %s, so vCPU %d lets go of %s "+
				"at HPA %s; root.hpa becomes INVALID_PAGE and a new root is loaded before the next entry.", why, v.ID,
				rootOwner(v, mmu), root)})
	}
	var invalid []*KVMMMUPage
	switch {
	case dummy:
	case m.shadow.spAt(root) != nil:
		m.mmuFreeRootPage(v, m.shadow.spAt(root), &invalid)
	default:
		for i := 0; i < 4; i++ {
			e := m.readSPTE(mmu.PAERoot + HPA(8*i))
			if e&PTPresent == 0 {
				continue
			}
			if sp := m.shadow.spAt(HPA(e & eptAddrMask)); sp != nil {
				m.mmuFreeRootPage(v, sp, &invalid)
			}
			m.clearPAERoot(v, mmu, i)
		}
	}
	m.kvmMMUCommitZapPage(invalid)
}

// mmuFreeRootPage is mmu_free_root_page: one holder less; the last holder
// of an invalid root zaps it. A valid page stays in the hash, ready to be
// found again.
func (m *Machine) mmuFreeRootPage(v *VCPU, sp *KVMMMUPage, invalid *[]*KVMMMUPage) {
	sp.RootCount--
	if !m.Quiet {
		stays := "it stays in mmu_page_hash with its SPTEs, to be found again by kvm_mmu_find_shadow_page"
		if sp.RootCount > 0 {
			stays = "another holder remains"
		} else if sp.Role.Invalid() {
			stays = "it was already zapped (invalid), so now it is freed"
		}
		m.emit(Event{Kind: EvSet, MMU: spMMUName(sp), Func: "mmu_free_root_page", Space: SpaceHPA, Addr: uint64(sp.SPT),
			Level: sp.Role.Level(), VCPU: vcpuID(v), Table: uint64(sp.SPT), Old: uint64(sp.RootCount + 1),
			New: uint64(sp.RootCount), Text: fmt.Sprintf("mmu_free_root_page: root_count of %s %d → %d; %s.",
				spName(sp), sp.RootCount+1, sp.RootCount, stays)})
	}
	if sp.RootCount == 0 && sp.Role.Invalid() {
		m.kvmMMUPrepareZapPage(sp, invalid)
	}
}

// kvmMMUSyncRoots is kvm_mmu_sync_roots: resync every unsync page under the
// root (through the root page, or each pae_root entry).
func (m *Machine) kvmMMUSyncRoots(v *VCPU) {
	mmu := v.ArchMMU()
	if mmu.RootRole.Direct() || !mmu.RootValid || isDummyRoot(mmu) {
		return
	}
	var roots []*KVMMMUPage
	if sp := m.shadow.spAt(mmu.Root); sp != nil {
		roots = append(roots, sp)
	} else {
		for i := 0; i < 4; i++ {
			if e := m.readSPTE(mmu.PAERoot + HPA(8*i)); e&PTPresent != 0 {
				if sp := m.shadow.spAt(HPA(e & eptAddrMask)); sp != nil {
					roots = append(roots, sp)
				}
			}
		}
	}
	n := 0
	for _, sp := range roots {
		if sp.Unsync || sp.UnsyncChildren > 0 {
			n++
		}
	}
	if !m.Quiet {
		text := "kvm_mmu_sync_roots: no page under the root is unsync (is_unsync_root): nothing to resync."
		if n > 0 {
			text = "kvm_mmu_sync_roots: pages under the root are unsync; mmu_sync_children follows unsync_child_bitmap " +
				"down to them, write-protects their guest tables again and resyncs them."
		}
		m.emit(Event{Kind: EvCheck, MMU: mmu.Name, Func: "kvm_mmu_sync_roots", Space: SpaceHPA, Addr: uint64(mmu.Root),
			VCPU: v.ID, Text: text})
	}
	for _, sp := range roots {
		if sp.Unsync || sp.UnsyncChildren > 0 {
			m.mmuSyncChildren(v, sp)
		}
	}
}
