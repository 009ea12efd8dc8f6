package mmu

import (
	"fmt"
	"strings"
)

// The roots a vCPU keeps (mmu.c): besides the current root, prev_roots
// caches the last three roots it switched away from, so that a guest
// flipping between processes' page tables finds its shadow pages still
// built (fast_pgd_switch). A cached root keeps its root_count, so the
// page cannot be freed under it; when a root is zapped, every vCPU must
// drop the obsolete roots it holds, current or cached. How it does that
// changed: KVM_REQ_MMU_RELOAD unloaded everything; seed 004 made it
// KVM_REQ_MMU_FREE_OBSOLETE_ROOTS, which frees only obsolete roots, but
// its loop over prev_roots tested the current root; cf4a8693d97a tests
// each cached root.

// ObsoleteRootsPolicy selects how a vCPU handles the zap of a root it holds.
type ObsoleteRootsPolicy uint8

const (
	// ObsoleteRootsFixed is Linux 6.16: KVM_REQ_MMU_FREE_OBSOLETE_ROOTS,
	// each root tested (cf4a8693d97a).
	ObsoleteRootsFixed ObsoleteRootsPolicy = iota
	// ObsoleteRootsPosted is the patch as posted in seed 004: the prev_roots
	// loop tests the current root's obsolescence.
	ObsoleteRootsPosted
	// ObsoleteRootsReloadAll is the kernels before seed 004:
	// KVM_REQ_MMU_RELOAD, every root unloaded and the current one rebuilt.
	ObsoleteRootsReloadAll
)

// String is the policy's name in scenarios.
func (p ObsoleteRootsPolicy) String() string {
	switch p {
	case ObsoleteRootsPosted:
		return "posted"
	case ObsoleteRootsReloadAll:
		return "reload-all"
	}
	return "fixed"
}

// RootStats counts what the vCPUs did with their roots since shadow
// paging was enabled.
type RootStats struct {
	Loads       int // kvm_mmu_load runs that built a current root
	Freed       int // roots (current or cached) a vCPU let go of
	CacheHits   int // CR3 switches that found a usable root (fast_pgd_switch)
	CacheMisses int // CR3 switches that found none
	Evicted     int // LRU entries of prev_roots freed to make room
}

// countRoots counts a root event for the VM and for vCPU v, before the
// event is recorded, so that a picture of the event's step shows it.
func (m *Machine) countRoots(v *VCPU, add func(*RootStats)) {
	add(&m.shadow.stats)
	if v != nil {
		add(&v.Roots)
	}
}

// VCPURootStats returns vCPU id's share of the counts; ok is false
// without shadow paging or for no such vCPU.
func (m *Machine) VCPURootStats(id int) (RootStats, bool) {
	v, err := m.VCPU(id)
	if m.shadow == nil || err != nil {
		return RootStats{}, false
	}
	return v.Roots, true
}

// RootStats returns the counts; ok is false without shadow paging.
func (m *Machine) RootStats() (RootStats, bool) {
	if m.shadow == nil {
		return RootStats{}, false
	}
	return m.shadow.stats, true
}

// ObsoleteRootHeld is a root a vCPU still holds although its page was
// zapped or is of an old generation.
type ObsoleteRootHeld struct {
	VCPU int
	MMU  string // the context holding it: root_mmu, or guest_mmu (nested)
	Prev int    // the prev_roots index, or -1 for the current root
	Root HPA
	PGD  uint64
}

// ObsoleteRootsHeld lists the obsolete roots the vCPUs hold that no
// pending request will free: after KVM_REQ_MMU_FREE_OBSOLETE_ROOTS has
// been handled there should be none (the posted patch leaves some).
func (m *Machine) ObsoleteRootsHeld() []ObsoleteRootHeld {
	if m.shadow == nil {
		return nil
	}
	var out []ObsoleteRootHeld
	for _, v := range m.VCPUs {
		if v.ReqFreeObsoleteRoots || v.ReqMMUReload {
			continue
		}
		for _, mmu := range m.shadowMMUs(v) {
			if sp := m.shadow.spAt(mmu.Root); mmu.RootValid && sp != nil && m.shadow.isObsoleteSP(sp) {
				out = append(out, ObsoleteRootHeld{VCPU: v.ID, MMU: mmu.Name, Prev: -1, Root: mmu.Root, PGD: mmu.RootPGD})
			}
			for i, r := range mmu.PrevRoots {
				if sp := m.shadow.spAt(r.HPA); r.Valid && sp != nil && m.shadow.isObsoleteSP(sp) {
					out = append(out, ObsoleteRootHeld{VCPU: v.ID, MMU: mmu.Name, Prev: i, Root: r.HPA, PGD: r.PGD})
				}
			}
		}
	}
	return out
}

// isRootUsable is is_root_usable: a cached root serves pgd if it is
// valid, shadows pgd (any pgd for a direct MMU) and has exactly the
// role KVM would build now (an invalid page's role never matches).
func (m *Machine) isRootUsable(r RootInfo, pgd uint64, role PageRole) bool {
	if !r.Valid {
		return false
	}
	sp := m.shadow.spAt(r.HPA)
	return sp != nil && (role.Direct() || r.PGD == pgd) && sp.Role == role
}

// current returns the MMU's current root as a RootInfo.
func currentRoot(mmu *MMU) RootInfo {
	return RootInfo{PGD: mmu.RootPGD, HPA: mmu.Root, Valid: mmu.RootValid}
}

// setCurrentRoot makes r the MMU's current root.
func setCurrentRoot(mmu *MMU, r RootInfo) {
	mmu.RootPGD, mmu.Root, mmu.RootValid = r.PGD, r.HPA, r.Valid
	if !r.Valid {
		mmu.RootPGD, mmu.Root = 0, 0
	}
}

// describePrevRoots is prev_roots for the trace, MRU first.
func (m *Machine) describePrevRoots(v *VCPU, mmu *MMU) string {
	var parts []string
	for i, r := range mmu.PrevRoots {
		if !r.Valid {
			parts = append(parts, fmt.Sprintf("[%d] empty", i))
			continue
		}
		parts = append(parts, fmt.Sprintf("[%d] %s %s → HPA %s", i, pgdName(v, mmu), hex(r.PGD), r.HPA))
	}
	return strings.Join(parts, ", ")
}

// cachedRootFindAndKeepCurrent is cached_root_find_and_keep_current: the
// current root is tested, then swapped in turn with each cached root (so
// the old current becomes prev_roots[0] and the list shifts down, most
// recently used first) until one is usable. When none is, the entry left
// in the current slot is the least recently used, and it is freed.
func (m *Machine) cachedRootFindAndKeepCurrent(v *VCPU, mmu *MMU, pgd uint64) bool {
	if m.isRootUsable(currentRoot(mmu), pgd, mmu.RootRole) {
		return true
	}
	old := currentRoot(mmu)
	for i := range mmu.PrevRoots {
		cur := currentRoot(mmu)
		setCurrentRoot(mmu, mmu.PrevRoots[i])
		mmu.PrevRoots[i] = cur
		if m.isRootUsable(currentRoot(mmu), pgd, mmu.RootRole) {
			m.countRoots(v, func(s *RootStats) { s.CacheHits++ })
			m.emitRootCache(v, mmu, fmt.Sprintf("cached_root_find_and_keep_current: prev_roots[%d] shadows %s %s "+
				"with the current role (is_root_usable): it becomes the current root at HPA %s, and the root of %s %s "+
				"moves into prev_roots, most recent first: %s.", i, pgdName(v, mmu), hex(pgd), mmu.Root,
				pgdName(v, mmu), hex(old.PGD), m.describePrevRoots(v, mmu)))
			return true
		}
	}
	lru := currentRoot(mmu)
	m.countRoots(v, func(s *RootStats) { s.CacheMisses++ })
	if lru.Valid {
		m.countRoots(v, func(s *RootStats) { s.Evicted++ })
	}
	p := pgdName(v, mmu)
	m.emitRootCache(v, mmu, fmt.Sprintf("cached_root_find_and_keep_current: no cached root shadows %s %s. The root "+
		"of %s %s is kept in prev_roots (%s); the least recently used entry falls out: %s.", p, hex(pgd), p,
		hex(old.PGD), m.describePrevRoots(v, mmu), map[bool]string{true: fmt.Sprintf("the root of %s %s at HPA %s is "+
			"freed", p, hex(lru.PGD), lru.HPA), false: "it was empty"}[lru.Valid]))
	if lru.Valid {
		m.kvmMMUFreeRootsShadow(v, mmu, "fast_pgd_switch: the swaps left the least recently used root in the current slot and it is not usable")
	} else {
		setCurrentRoot(mmu, RootInfo{})
	}
	return false
}

// cachedRootFindWithoutCurrent is cached_root_find_without_current: with
// no current root (it was freed, or never loaded), a usable cached one
// becomes current, the entries after it move up one slot, and the last
// slot (the LRU) is left empty.
func (m *Machine) cachedRootFindWithoutCurrent(v *VCPU, mmu *MMU, pgd uint64) bool {
	for i := range mmu.PrevRoots {
		if !m.isRootUsable(mmu.PrevRoots[i], pgd, mmu.RootRole) {
			continue
		}
		setCurrentRoot(mmu, mmu.PrevRoots[i])
		for ; i < KVMMMUNumPrevRoots-1; i++ {
			mmu.PrevRoots[i] = mmu.PrevRoots[i+1]
		}
		mmu.PrevRoots[KVMMMUNumPrevRoots-1] = RootInfo{}
		m.countRoots(v, func(s *RootStats) { s.CacheHits++ })
		m.emitRootCache(v, mmu, fmt.Sprintf("cached_root_find_without_current: a cached root shadows %s %s: it "+
			"becomes the current root at HPA %s; prev_roots: %s.", pgdName(v, mmu), hex(pgd), mmu.Root,
			m.describePrevRoots(v, mmu)))
		return true
	}
	return false
}

// emitRootCache records a step of the root cache.
func (m *Machine) emitRootCache(v *VCPU, mmu *MMU, text string) {
	if m.Quiet {
		return
	}
	fn, _, _ := strings.Cut(text, ":")
	m.emit(Event{Kind: EvSet, MMU: mmu.Name, Func: fn, Space: SpaceHPA, Addr: uint64(mmu.Root), VCPU: v.ID,
		Text: text})
}

// freePrevRoot drops prev_roots[i] as kvm_mmu_free_roots does for
// KVM_MMU_ROOT_PREVIOUS(i): one holder less (mmu_free_root_page), the
// entry emptied.
func (m *Machine) freePrevRoot(v *VCPU, mmu *MMU, i int, why string, invalid *[]*KVMMMUPage) {
	r := mmu.PrevRoots[i]
	if !r.Valid {
		return
	}
	mmu.PrevRoots[i] = RootInfo{}
	m.countRoots(v, func(s *RootStats) { s.Freed++ })
	if !m.Quiet {
		m.emit(Event{Kind: EvSet, MMU: mmu.Name, Func: "kvm_mmu_free_roots", Space: SpaceHPA, Addr: uint64(r.HPA),
			VCPU: v.ID, Text: fmt.Sprintf("kvm_mmu_free_roots(KVM_MMU_ROOT_PREVIOUS(%d)): %s, so vCPU %d lets go of "+
				"the cached root of %s %s at HPA %s; prev_roots[%d] becomes empty.", i, why, v.ID, pgdName(v, mmu),
				hex(r.PGD), r.HPA, i)})
	}
	if sp := m.shadow.spAt(r.HPA); sp != nil {
		m.mmuFreeRootPage(v, sp, invalid)
	}
}

// kvmMMUFreePrevRoots frees the cached roots whose bit is set in mask
// (bit i for prev_roots[i]).
func (m *Machine) kvmMMUFreePrevRoots(v *VCPU, mmu *MMU, mask uint, why string) {
	var invalid []*KVMMMUPage
	for i := range mmu.PrevRoots {
		if mask&(1<<i) != 0 {
			m.freePrevRoot(v, mmu, i, why, &invalid)
		}
	}
	m.kvmMMUCommitZapPage(invalid)
}

// kvmMMUUnloadShadow is kvm_mmu_unload: every root of root_mmu and
// guest_mmu goes, current and cached (KVM_MMU_ROOTS_ALL). Under TDP,
// root_mmu's root is a TDP root, which only loses the vCPU's reference;
// guest_mmu holds shadow roots only while KVM shadows an L1's nested
// tables.
func (m *Machine) kvmMMUUnloadShadow(v *VCPU, why string) {
	if m.tdp != nil {
		if root := m.rootOf(v); root != nil {
			m.kvmTDPMMUPutRoot(v, root, why)
		}
		v.RootMMU.RootValid = false
	}
	for _, mmu := range m.shadowMMUs(v) {
		m.kvmMMUFreePrevRoots(v, mmu, 1<<KVMMMUNumPrevRoots-1, why)
		m.kvmMMUFreeRootsShadow(v, mmu, why)
	}
}

// requestFreeObsoleteRoots asks every vCPU to drop the roots a zap made
// obsolete: KVM_REQ_MMU_FREE_OBSOLETE_ROOTS, or KVM_REQ_MMU_RELOAD before
// seed 004 (kvm_make_all_cpus_request).
func (m *Machine) requestFreeObsoleteRoots() {
	for _, v := range m.VCPUs {
		if m.shadow != nil && m.shadow.cfg.ObsoleteRoots == ObsoleteRootsReloadAll {
			v.ReqMMUReload = true
		} else {
			v.ReqFreeObsoleteRoots = true
		}
	}
}

// obsoleteRequestName names the request a zapped root raises.
func (m *Machine) obsoleteRequestName() string {
	if m.shadow != nil && m.shadow.cfg.ObsoleteRoots == ObsoleteRootsReloadAll {
		return "KVM_REQ_MMU_RELOAD"
	}
	return "KVM_REQ_MMU_FREE_OBSOLETE_ROOTS"
}

// isObsoleteRoot is is_obsolete_root: a valid root with no shadow page
// behind it counts as obsolete, as does an invalid or old-generation page.
func (m *Machine) isObsoleteRoot(r RootInfo) bool {
	if !r.Valid {
		return false
	}
	sp := m.shadow.spAt(r.HPA)
	return sp == nil || m.shadow.isObsoleteSP(sp)
}

// kvmMMUReloadRequest handles KVM_REQ_MMU_RELOAD (before seed 004):
// kvm_mmu_unload drops every root, obsolete or not; kvm_mmu_load then
// rebuilds the current one.
func (m *Machine) kvmMMUReloadRequest(v *VCPU) {
	v.ReqMMUReload = false
	n := 0
	for _, mmu := range m.shadowMMUs(v) {
		if mmu.RootValid {
			n++
		}
		for _, r := range mmu.PrevRoots {
			if r.Valid {
				n++
			}
		}
	}
	if !m.Quiet {
		m.emit(Event{Kind: EvCheck, MMU: v.ArchMMU().Name, Func: "kvm_mmu_unload", VCPU: v.ID,
			Text: fmt.Sprintf("KVM_REQ_MMU_RELOAD (the kernels before seed 004): vCPU %d cannot tell which root was "+
				"zapped, so kvm_mmu_unload frees all %d of its roots, the current one and every prev_roots entry, "+
				"obsolete or not; the current root is rebuilt before entry and the cache starts empty.", v.ID, n)})
	}
	m.kvmMMUUnloadShadow(v, "KVM_REQ_MMU_RELOAD")
}
