package mmu

import "fmt"

// Zapping (tdp_mmu.c): taking mappings out of the TDP MMU's tables. A leaf
// zap clears leaf SPTEs only and leaves the tables in place; zapping a root
// clears everything, level by level, so handle_removed_pt frees the
// tables as their pointers go.

// tdpMMUMaxGFNExclusive is tdp_mmu_max_gfn_exclusive: walks stop at the
// host's MAXPHYADDR.
func (m *Machine) tdpMMUMaxGFNExclusive() GFN {
	return GFN(1) << uint(m.Config.MaxPhyAddr-PageShift)
}

// tdpMMUZapLeafs is tdp_mmu_zap_leafs: clear every present leaf SPTE that
// maps a frame in [start, end) (a huge page that overlaps the range goes
// whole). It returns how many it zapped.
func (m *Machine) tdpMMUZapLeafs(root *KVMMMUPage, start, end GFN, fn string) int {
	end = min(end, m.tdpMMUMaxGFNExclusive())
	n := 0
	for it := m.tdpIterStart(root, 1, start); it.ok(end); it.next() {
		if !isShadowPresentPTE(it.oldSPTE) || !isLastSPTE(it.oldSPTE, it.level) {
			continue
		}
		m.tdpMMUZapSPTE(it, fn, "a leaf in the range")
		n++
	}
	return n
}

// tdpMMUZapSPTE sets the iterator's SPTE to SHADOW_NONPRESENT_VALUE
// (tdp_mmu_iter_set_spte), which frees the table below a non-leaf SPTE.
func (m *Machine) tdpMMUZapSPTE(it *tdpIter, fn, why string) {
	old, _ := m.Mem.Write(it.sptep, 8, ShadowNonPresentValue)
	if !m.Quiet {
		m.emit(Event{Kind: EvZap, MMU: "root_mmu", Func: fn, Space: SpaceHPA, Addr: uint64(it.sptep),
			Level: it.level, Index: it.index(), HasEntry: true, Old: old, New: ShadowNonPresentValue,
			Table: uint64(it.table()), HPA: it.sptep, HasHPA: true, Size: 8,
			Text: fmt.Sprintf("%s: the %s for GPA %s (%s, %s) is zapped to SHADOW_NONPRESENT_VALUE: %s.", fn,
				m.spteWord(it.sptep, it.level), it.iterGPA(), hex(old), m.tdp.decode(old, it.level), why)})
	}
	it.oldSPTE = ShadowNonPresentValue
	m.handleChangedSPTE(nil, it.gfn, old, ShadowNonPresentValue, it.level)
	if m.isMirrorSPTEP(it.sptep) {
		m.removeExternalSPTE(it.gfn, old, it.level)
	}
}

// tdpMMUZapRoot is tdp_mmu_zap_root: zap a whole root in passes of
// growing granularity (4 KiB, 2 MiB, 1 GiB, then the root's own entries),
// each pass clearing the SPTEs of one level, so that tables are emptied
// before the SPTEs pointing to them go and handle_removed_pt frees them.
func (m *Machine) tdpMMUZapRoot(root *KVMMMUPage) int {
	n := 0
	for _, level := range []int{1, 2, 3, root.Role.Level()} {
		n += m.tdpMMUZapRootLevel(root, level)
	}
	return n
}

// tdpMMUZapRootLevel is __tdp_mmu_zap_root for one zap level.
func (m *Machine) tdpMMUZapRootLevel(root *KVMMMUPage, zapLevel int) int {
	n := 0
	end := m.tdpMMUMaxGFNExclusive()
	for it := m.tdpIterStartBits(root, zapLevel, 0, 0); it.ok(end); it.next() {
		if !isShadowPresentPTE(it.oldSPTE) || it.level > zapLevel {
			continue
		}
		why := fmt.Sprintf("the %s pass of the root zap", levelPageName(zapLevel))
		if !isLastSPTE(it.oldSPTE, it.level) {
			why += "; it points to a table, which goes too"
		}
		m.tdpMMUZapSPTE(it, "tdp_mmu_zap_root", why)
		n++
	}
	return n
}

// kvmTDPMMUInvalidateRoots is kvm_tdp_mmu_invalidate_roots: mark every
// valid root invalid and schedule it for zapping. vCPUs keep using their
// root until they notice (KVM_REQ_MMU_FREE_OBSOLETE_ROOTS).
func (m *Machine) kvmTDPMMUInvalidateRoots() int {
	n := 0
	for _, r := range m.tdp.roots {
		// kvm_mmu_zap_all_fast invalidates KVM_DIRECT_ROOTS only: the
		// S-EPT cannot be zapped fast, so a TD's mirror root stays.
		if r.Role.IsMirror() {
			continue
		}
		if !r.Role.Invalid() {
			r.ScheduledRootToZap = true
			r.Role = r.Role.WithInvalid(true)
			n++
		}
	}
	return n
}

// kvmTDPMMUZapInvalidatedRoots is kvm_tdp_mmu_zap_invalidated_roots: zap
// each scheduled root, then drop the TDP MMU's own reference to it.
func (m *Machine) kvmTDPMMUZapInvalidatedRoots() int {
	n := 0
	// Put references on a copy: a root can leave the list.
	for _, r := range append([]*KVMMMUPage(nil), m.tdp.roots...) {
		if !r.ScheduledRootToZap {
			continue
		}
		r.ScheduledRootToZap = false
		n += m.tdpMMUZapRoot(r)
		m.kvmTDPMMUPutRoot(nil, r, "kvm_tdp_mmu_zap_invalidated_roots")
	}
	return n
}

// kvmMMUZapAllFast is kvm_mmu_zap_all_fast: invalidate every root, ask
// every vCPU to drop its obsolete root before it next enters the guest,
// and zap the invalidated roots.
func (m *Machine) kvmMMUZapAllFast() int {
	n := m.kvmTDPMMUInvalidateRoots()
	for _, v := range m.VCPUs {
		v.ReqFreeObsoleteRoots = true
	}
	if !m.Quiet {
		m.emit(Event{Kind: EvSet, MMU: "root_mmu", Func: "kvm_mmu_zap_all_fast",
			Text: fmt.Sprintf("kvm_mmu_zap_all_fast: kvm_tdp_mmu_invalidate_roots marks %d root(s) invalid (role.invalid=1) "+
				"and schedules them for zapping; every vCPU gets KVM_REQ_MMU_FREE_OBSOLETE_ROOTS, so it loads a new "+
				"root before it next runs the guest.", n)})
	}
	return m.kvmTDPMMUZapInvalidatedRoots()
}

// kvmMMUFreeObsoleteRoots is kvm_mmu_free_obsolete_roots, run when a vCPU
// handles KVM_REQ_MMU_FREE_OBSOLETE_ROOTS: an invalid root is freed
// (kvm_mmu_free_roots drops the vCPU's reference) and root.hpa becomes
// INVALID_PAGE.
func (m *Machine) kvmMMUFreeObsoleteRoots(v *VCPU) {
	v.ReqFreeObsoleteRoots = false
	root := m.rootOf(v)
	if root == nil || !root.Role.Invalid() {
		return
	}
	m.kvmTDPMMUPutRoot(v, root, "kvm_mmu_free_obsolete_roots")
	v.RootMMU.RootValid = false
}

// kvmMMUReload is kvm_mmu_reload: handle a pending request to free
// obsolete roots, then load a root if the vCPU has none (kvm_mmu_load →
// mmu_alloc_direct_roots → kvm_tdp_mmu_alloc_root), and point the
// hardware at it (vmx_load_mmu_pgd / svm_load_mmu_pgd).
func (m *Machine) kvmMMUReload(v *VCPU) error {
	if v.ReqFreeObsoleteRoots {
		m.kvmMMUFreeObsoleteRoots(v)
	}
	if v.RootMMU.RootValid {
		return nil
	}
	if err := m.tdxAllocMirrorRoot(v); err != nil {
		return err
	}
	if err := m.kvmTDPMMUAllocRoot(v, false); err != nil {
		return err
	}
	if !m.Quiet {
		fn, what := m.loadPGDWords(v)
		m.emit(Event{Kind: EvSet, MMU: "root_mmu", Func: fn, Space: SpaceHPA, Addr: uint64(v.RootMMU.Root),
			VCPU: v.ID, Text: fmt.Sprintf("%s: the hardware will walk the new root: %s.", fn, what)})
	}
	return nil
}

// eptp is the vCPU's EPT pointer (or nCR3 for NPT).
func (m *Machine) eptp(v *VCPU) uint64 {
	if m.tdp.cfg.Kind == TDPNPT {
		return uint64(v.RootMMU.Root)
	}
	return constructEPTP(v.RootMMU.Root, m.tdp.level, m.tdp.cfg.AD)
}
