package mmu

import (
	"fmt"
	"sort"
)

// Shadow paging: without EPT/NPT, KVM builds shadow page tables that the
// processor walks instead of the guest's own. Each shadow page (struct
// kvm_mmu_page, KVMMMUPage here) shadows one guest table, or part of one,
// and is found again by its guest frame and its whole role in a hash
// (mmu_page_hash). The guest tables KVM shadows are write-protected, so
// that the guest's changes to them trap; leaf tables may instead become
// unsync and are resynced when the guest flushes its TLB.
//
// The files follow mmu.c and paging_tmpl.h: shadow.go (this file) the
// VM's shadow state and the root role, shadow_role.go the page roles,
// mmu_shadow.go the hash and kvm_mmu_get_shadow_page, rmap.go the reverse
// maps, page_track.go write tracking and emulated writes to guest tables,
// shadow_zap.go zapping, shadow_fault.go FNAME(page_fault) and
// FNAME(fetch), shadow_spte.go make_spte and mmu_set_spte, shadow_sync.go
// unsync and sync, shadow_roots.go the roots (pae_root, special and
// passthrough roots), shadow_access.go the processor's walk of the shadow
// tables, shadow_invariants.go the invariant checker, shadow_view.go what
// pictures read.

// ShadowVariant picks how KVM shadows a guest whose tables have fewer
// levels than KVM's root.
type ShadowVariant int

// The variants.
const (
	// ShadowMerged is Linux as merged (6.16): the levels above the guest's
	// top are special roots (pml5_root, pml4_root, pae_root) that are not
	// shadow pages, and a 4-level guest under a 5-level root gets a
	// role.passthrough root.
	ShadowMerged ShadowVariant = iota
	// ShadowLevelExpanded is the proposal of seed 001 (Lai Jiangshan, "KVM:
	// X86: Add and use shadow page with level expanded or acting as
	// pae_root", 2022, not merged): every level is a real shadow page,
	// and role.glevel (the level of the guest table behind the page) below
	// role.level marks a page that only passes through.
	ShadowLevelExpanded
)

// String names the variant as scenarios write it.
func (v ShadowVariant) String() string {
	if v == ShadowLevelExpanded {
		return "level-expanded"
	}
	return "merged"
}

// ShadowConfig selects shadow paging for a VM.
type ShadowConfig struct {
	Variant ShadowVariant
	// RootLevel forces KVM's root to at least 4 or 5 levels; 0 lets KVM
	// choose as for its own shadow MMU (kvm_init_shadow_mmu: the guest's
	// level, and PAE, 3 levels, for 32-bit guests). KVM has a root deeper
	// than the guest's tables when it shadows nested NPT for a 32-bit, PAE
	// or 4-level L1 on a 4- or 5-level host (kvm_init_shadow_npt_mmu); the
	// model applies it to the guest's own tables so that the special and
	// passthrough roots can be watched without nesting.
	RootLevel int
	// ObsoleteRoots is how vCPUs react when a root they hold is zapped:
	// Linux 6.16 (fixed, the zero value), the patch as posted in seed 004,
	// or the KVM_REQ_MMU_RELOAD of the kernels before it.
	ObsoleteRoots ObsoleteRootsPolicy
}

// mmuHashShift is KVM_MMU_HASH_SHIFT: mmu_page_hash has 4096 buckets.
const mmuHashShift = 12

// mmuHashSize is the number of buckets of mmu_page_hash.
const mmuHashSize = 1 << mmuHashShift

// kvmPageTableHashfn is kvm_page_table_hashfn: hash_64(gfn, 12), the top
// twelve bits of gfn times the 64-bit golden ratio.
func kvmPageTableHashfn(gfn GFN) int {
	return int((uint64(gfn) * 0x61C8864680B583EB) >> (64 - mmuHashShift))
}

// lpageKey names one lpage_info entry: a huge page of level (2 or 3)
// around a guest frame.
type lpageKey struct {
	level int
	index GFN // gfn >> 9*(level-1)
}

// rmapKey names one reverse map: slot->arch.rmap[level-1] at a frame.
type rmapKey struct {
	level int
	gfn   GFN // the first frame of the level's page
}

// shadowState is the VM's shadow MMU (the shadow fields of struct
// kvm_arch and the memslots' arch data).
type shadowState struct {
	cfg   ShadowConfig
	stats RootStats
	masks spteMasks
	// hash is mmu_page_hash: each bucket lists its pages newest first
	// (hlist_add_head).
	hash [mmuHashSize][]*KVMMMUPage
	// active is active_mmu_pages, newest first (list_add).
	active []*KVMMMUPage
	// pages finds a page by its frame (sptep_to_sp); it is never
	// iterated for an output.
	pages map[PFN]*KVMMMUPage
	// validGen is mmu_valid_gen, flipped by kvm_mmu_zap_all_fast.
	validGen uint64
	// indirectShadowPages counts the pages that shadow a guest table
	// (indirect_shadow_pages).
	indirectShadowPages int
	// writeTrack is gfn_write_track: how many upper-level shadow pages
	// keep each guest frame read-only.
	writeTrack map[GFN]int
	// lpage is lpage_info's disallow_lpage as shadowing raises it.
	lpage map[lpageKey]int
	// rmap is slot->arch.rmap: the leaf SPTEs that map each frame, in the
	// order they were added.
	rmap map[rmapKey][]HPA
}

// ShadowEnabled reports whether the VM runs on shadow paging: root_mmu
// shadows the guest's own tables. The shadow MMU's state also exists under
// EPT/NPT once KVM shadows an L1's nested tables (guest_mmu), which is not
// shadow paging.
func (m *Machine) ShadowEnabled() bool { return m.shadowPaging() }

// shadowPaging reports that root_mmu is a shadow MMU (no EPT/NPT).
func (m *Machine) shadowPaging() bool { return m.shadow != nil && m.tdp == nil }

// newShadowState is the VM's shadow MMU state, empty: the hash, the page
// list, write tracking, lpage_info and the reverse maps.
func newShadowState(cfg ShadowConfig, maxPhyAddr int) *shadowState {
	return &shadowState{cfg: cfg, masks: kvmMMUResetAllPTEMasks(maxPhyAddr),
		pages: map[PFN]*KVMMMUPage{}, writeTrack: map[GFN]int{}, lpage: map[lpageKey]int{},
		rmap: map[rmapKey][]HPA{}}
}

// EnableShadow turns shadow paging on (kvm_intel with ept=0, kvm_amd with
// npt=0). It must come before the script runs and before the registers
// are set up; roots are built on the first entry into the guest.
func (m *Machine) EnableShadow(cfg ShadowConfig) error {
	switch {
	case m.tdp != nil:
		return fmt.Errorf("the VM already runs on %s: shadow paging is what KVM does without it", m.tdp.cfg.Kind)
	case m.shadow != nil:
		return fmt.Errorf("shadow paging is already on")
	case cfg.RootLevel != 0 && cfg.RootLevel != 4 && cfg.RootLevel != 5:
		return fmt.Errorf("KVM's root has 4 or 5 levels when forced, not %d", cfg.RootLevel)
	case cfg.Variant != ShadowMerged && cfg.Variant != ShadowLevelExpanded:
		return fmt.Errorf("no shadow variant %d", int(cfg.Variant))
	case cfg.Variant == ShadowLevelExpanded && cfg.RootLevel == 0:
		return fmt.Errorf("the level-expanded proposal only changes guests whose tables have fewer levels than " +
			"KVM's root: give a root level of 4 or 5")
	}
	// KVM offers PKU to a guest only with TDP (kvm_set_cpu_caps).
	m.Config.PKU = false
	m.shadow = newShadowState(cfg, m.Config.MaxPhyAddr)
	m.reinitMMUs()
	return nil
}

// shadowSetupVCPU finishes a vCPU's setup under shadow paging: KVM
// allocates pae_root with the vCPU (__kvm_mmu_create) and computes the
// root role. The root itself is loaded at the first entry.
func (m *Machine) shadowSetupVCPU(v *VCPU) error {
	if !m.shadowPaging() {
		return nil // nested shadow state under TDP: root_mmu is a TDP MMU
	}
	if v.Regs.CR4&CR4PKE != 0 {
		return fmt.Errorf("CR4.PKE is set, but KVM offers protection keys only with EPT/NPT")
	}
	mmu := &v.RootMMU
	if mmu.PAERoot == 0 {
		pfn, err := m.Mem.AllocPage()
		if err != nil {
			return err
		}
		mmu.PAERoot = pfn.HPA()
	}
	mmu.RootRole = m.shadow.rootRole(mmu.CPURole)
	return nil
}

// rootRole is kvm_init_shadow_mmu's root_role: the guest's CPU role with
// at least PAE's three levels, EFER.NX forced on, and, when the root is
// forced deeper, kvm_init_shadow_npt_mmu's passthrough bit for a 4-level
// guest under a 5-level root (merged), or the proposal's glevel (the
// guest's top level) in the level-expanded variant.
func (s *shadowState) rootRole(cpu CPURole) PageRole {
	r := cpu.Base
	guest := r.Level()
	level := max(guest, 3, s.cfg.RootLevel)
	r = setFlag(r.WithLevel(level), roleEferNX, true)
	if r.Direct() {
		return r
	}
	if s.cfg.Variant == ShadowMerged && level == 5 && guest == 4 {
		r = r.WithPassthrough(true)
	}
	if s.cfg.Variant == ShadowLevelExpanded {
		r = r.WithGLevel(guest)
	}
	return r
}

// clone deep-copies the shadow MMU: the pages (their SPTEs live in
// PhysMem), the hash, the lists and the maps.
func (s *shadowState) clone() *shadowState {
	if s == nil {
		return nil
	}
	c := *s
	c.pages = make(map[PFN]*KVMMMUPage, len(s.pages))
	for pfn, sp := range s.pages {
		cp := *sp
		cp.ParentPTEs = append([]HPA(nil), sp.ParentPTEs...)
		if sp.shadowedTranslation != nil {
			cp.shadowedTranslation = append([]uint64(nil), sp.shadowedTranslation...)
		}
		c.pages[pfn] = &cp
	}
	remap := func(list []*KVMMMUPage) []*KVMMMUPage {
		if list == nil {
			return nil
		}
		out := make([]*KVMMMUPage, len(list))
		for i, sp := range list {
			out[i] = c.pages[sp.SPT.PFN()]
		}
		return out
	}
	for i := range s.hash {
		c.hash[i] = remap(s.hash[i])
	}
	c.active = remap(s.active)
	c.writeTrack = make(map[GFN]int, len(s.writeTrack))
	for k, n := range s.writeTrack {
		c.writeTrack[k] = n
	}
	c.lpage = make(map[lpageKey]int, len(s.lpage))
	for k, n := range s.lpage {
		c.lpage[k] = n
	}
	c.rmap = make(map[rmapKey][]HPA, len(s.rmap))
	for k, l := range s.rmap {
		c.rmap[k] = append([]HPA(nil), l...)
	}
	return &c
}

// spAt is sptep_to_sp for the shadow MMU: the page holding the SPTE at
// hpa, or nil (a special root, or no page of KVM's).
func (s *shadowState) spAt(hpa HPA) *KVMMMUPage { return s.pages[hpa.PFN()] }

// isObsoleteSP is is_obsolete_sp: invalid, or of an older generation.
func (s *shadowState) isObsoleteSP(sp *KVMMMUPage) bool {
	return sp.Role.Invalid() || sp.MMUValidGen != s.validGen
}

// sortedPages lists the shadow pages in a stable order: by level from
// the top, then GFN, role and address.
func (s *shadowState) sortedPages() []*KVMMMUPage {
	out := make([]*KVMMMUPage, 0, len(s.pages))
	for _, sp := range s.pages {
		out = append(out, sp)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Role.Level() != b.Role.Level() {
			return a.Role.Level() > b.Role.Level()
		}
		if a.GFN != b.GFN {
			return a.GFN < b.GFN
		}
		if a.Role != b.Role {
			return a.Role < b.Role
		}
		return a.SPT < b.SPT
	})
	return out
}

// spteIndexOf is spte_index: the index of the SPTE at hpa in its table.
func spteIndexOf(sptep HPA) int { return int(sptep&pageMask) / 8 }

// readSPTE reads the SPTE at hpa (0 if the address does not exist).
func (m *Machine) readSPTE(hpa HPA) uint64 {
	v, err := m.Mem.Read(hpa, 8)
	if err != nil {
		return 0
	}
	return v
}

// writeSPTE stores an SPTE and returns the old value.
func (m *Machine) writeSPTE(hpa HPA, spte uint64) uint64 {
	old, _ := m.Mem.Write(hpa, 8, spte)
	return old
}
