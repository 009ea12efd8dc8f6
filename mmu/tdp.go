package mmu

import (
	"fmt"
	"sort"
)

// TDPKind is the hardware's two-dimensional paging: Intel's EPT or AMD's
// NPT.
type TDPKind int

// The kinds of TDP.
const (
	TDPNone TDPKind = iota
	TDPEPT
	TDPNPT
)

func (k TDPKind) String() string {
	switch k {
	case TDPEPT:
		return "EPT"
	case TDPNPT:
		return "NPT"
	}
	return "no TDP"
}

// TDPConfig is the host's TDP hardware and the KVM module parameters that
// shape the tables the TDP MMU builds.
type TDPConfig struct {
	Kind TDPKind
	// Levels is what the hardware offers (max_tdp_level): 4 or 5. For NPT
	// it is the host's own paging depth, which KVM must use
	// (tdp_root_level).
	Levels int
	// AD enables EPT accessed/dirty flags (enable_ept_ad_bits, EPTP bit
	// 6). NPT always has them.
	AD bool
	// ExecOnly says the CPU supports execute-only EPT entries (XWR=100).
	ExecOnly bool
	// GVAValidFix runs __vmx_handle_ept_violation with commit
	// d0164c161923 ("KVM: VMX: Fix check for valid GVA on an EPT
	// violation", 6.18-rc5), which tests bit 7 of the exit qualification;
	// 6.16 tests it in the error code, so PFERR_GUEST_FINAL and
	// PFERR_GUEST_PAGE are never set.
	GVAValidFix bool
}

// KVMMMUPage is struct kvm_mmu_page as the TDP MMU uses it: one page of
// EPT/NPT entries (spt) with its role, the first guest frame it maps, the
// SPTE that points to it (ptep; none for a root) and, for a root, the
// reference count (tdp_mmu_root_count). TDP MMU pages are not hashed: they
// are found through their parent SPTE, roots through the list of roots.
type KVMMMUPage struct {
	Role      PageRole
	GFN       GFN
	SPT       HPA
	Ptep      HPA
	HasPtep   bool
	RootCount int
	// ScheduledRootToZap is tdp_mmu_scheduled_root_to_zap: an invalidated
	// root that kvm_tdp_mmu_zap_invalidated_roots still has to zap.
	ScheduledRootToZap bool
	// ExternalSPT is external_spt: for a non-root page of a TD's mirror
	// root, the S-EPT page it mirrors, handed to the TDX module.
	ExternalSPT HPA

	// The fields below belong to the shadow MMU (mmu.c); TDP MMU pages
	// leave them zero. ParentPTEs are the SPTEs that point to the page
	// (parent_ptes), in the order they were linked.
	ParentPTEs []HPA
	// Unsync marks a level-1 page whose guest table the guest may write
	// without trapping (sp->unsync). UnsyncChildren counts the entries
	// whose subtree holds an unsync page (unsync_children); the bitmap
	// says which (unsync_child_bitmap).
	Unsync            bool
	UnsyncChildren    int
	unsyncChildBitmap [8]uint64
	// MMUValidGen is the VM's mmu_valid_gen when the page was made.
	MMUValidGen uint64
	// WriteFloodingCount counts the emulated writes to the page's guest
	// table since KVM last used the page (write_flooding_count).
	WriteFloodingCount int
	// shadowedTranslation is sp->shadowed_translation: for each entry of
	// a page that shadows a guest table, the guest frame it maps and the
	// guest's access, as gfn<<12 | ACC_*; nil for direct pages.
	shadowedTranslation []uint64
}

// tdpState is the VM's TDP MMU (the tdp_mmu_* fields of struct kvm_arch).
type tdpState struct {
	cfg   TDPConfig
	level int // the root level, kvm_mmu_get_tdp_level
	masks spteMasks
	pages map[PFN]*KVMMMUPage // sptep_to_sp: every TDP MMU page by its frame
	roots []*KVMMMUPage       // tdp_mmu_roots, newest first (list_add_rcu)
	// mmuPages counts the linked non-root pages (tdp_mmu_pages).
	mmuPages int
	// tdx is the TD's state (tdx.go), nil unless the VM is a TD.
	tdx *tdxState
}

// clone deep-copies the TDP MMU state; the pages' contents live in PhysMem.
func (t *tdpState) clone() *tdpState {
	if t == nil {
		return nil
	}
	c := *t
	c.pages = make(map[PFN]*KVMMMUPage, len(t.pages))
	for pfn, sp := range t.pages {
		cp := *sp
		c.pages[pfn] = &cp
	}
	c.roots = make([]*KVMMMUPage, len(t.roots))
	for i, r := range t.roots {
		c.roots[i] = c.pages[r.SPT.PFN()]
	}
	c.tdx = t.tdx.clone()
	return &c
}

// TDPEnabled reports whether the VM runs on EPT or NPT.
func (m *Machine) TDPEnabled() bool { return m.tdp != nil }

// kvmMMUGetTDPLevel is kvm_mmu_get_tdp_level: NPT uses the host's depth;
// EPT uses 5 levels only when the guest's MAXPHYADDR needs them (above 48
// bits).
func kvmMMUGetTDPLevel(cfg TDPConfig, maxPhyAddr int) int {
	if cfg.Kind == TDPNPT {
		return cfg.Levels
	}
	if cfg.Levels == 5 && maxPhyAddr <= 48 {
		return 4
	}
	return cfg.Levels
}

// kvmCalcTDPMMURootPageRole is kvm_calc_tdp_mmu_root_page_role: a direct
// role at the TDP level with every right, CR0.WP and EFER.NX set whatever
// the guest's, and ad_disabled when the hardware has no A/D bits.
func (t *tdpState) kvmCalcTDPMMURootPageRole() PageRole {
	var r PageRole
	r = r.WithAccess(AccAll).WithLevel(t.level).WithDirect(true)
	r = setFlag(r, roleCR0WP, true)
	r = setFlag(r, roleEferNX, true)
	r = setFlag(r, roleADDisabled, !t.kvmADEnabled())
	return r
}

// kvmADEnabled is kvm_ad_enabled: the hardware sets A/D bits in SPTEs.
func (t *tdpState) kvmADEnabled() bool { return t.masks.accessed != 0 }

// EnableTDP turns on two-dimensional paging for the VM, as loading
// kvm_intel with ept=1 (kvm_amd with npt=1) does, and gives every vCPU its
// root (kvm_mmu_load, as on its first entry into the guest). It must come
// before the script runs.
func (m *Machine) EnableTDP(cfg TDPConfig) error {
	if m.tdp != nil {
		return fmt.Errorf("TDP is already enabled (%s)", m.tdp.cfg.Kind)
	}
	if m.shadow != nil {
		return fmt.Errorf("the VM runs on shadow paging, which EPT/NPT replace")
	}
	switch cfg.Kind {
	case TDPEPT:
	case TDPNPT:
		if cfg.ExecOnly {
			return fmt.Errorf("NPT has no execute-only entries")
		}
		cfg.AD = true // AMD always maintains A/D bits in NPT entries
	default:
		return fmt.Errorf("TDP kind %d is neither EPT nor NPT", int(cfg.Kind))
	}
	if cfg.Levels != 4 && cfg.Levels != 5 {
		return fmt.Errorf("%s has 4 or 5 levels, not %d", cfg.Kind, cfg.Levels)
	}
	if cfg.Levels == 4 && m.Config.MaxPhyAddr > 48 {
		return fmt.Errorf("with 4-level %s, KVM caps the guest's MAXPHYADDR at 48 bits (CPUID 0x80000008), not %d",
			cfg.Kind, m.Config.MaxPhyAddr)
	}
	t := &tdpState{cfg: cfg, pages: map[PFN]*KVMMMUPage{}}
	t.level = kvmMMUGetTDPLevel(cfg, m.Config.MaxPhyAddr)
	if cfg.Kind == TDPEPT {
		t.masks = kvmMMUSetEPTMasks(cfg.AD, cfg.ExecOnly)
	} else {
		t.masks = kvmMMUResetAllPTEMasks(m.Config.MaxPhyAddr)
	}
	m.tdp = t
	defer m.quietly()()
	m.reinitMMUs()
	for _, v := range m.VCPUs {
		if err := m.kvmTDPMMUAllocRoot(v, false); err != nil {
			m.tdp = nil
			return err
		}
	}
	return nil
}

// tdpMMUAllocSP is tdp_mmu_alloc_sp: a struct kvm_mmu_page and a page for
// its SPTEs from the vCPU's caches, every SPTE SHADOW_NONPRESENT_VALUE.
func (m *Machine) tdpMMUAllocSP() (*KVMMMUPage, error) {
	pfn, err := m.Mem.AllocPage()
	if err != nil {
		return nil, err
	}
	m.Mem.FillPage(pfn, ShadowNonPresentValue)
	sp := &KVMMMUPage{SPT: pfn.HPA()}
	m.tdp.pages[pfn] = sp
	return sp, nil
}

// tdpMMUFreeSP is tdp_mmu_free_sp, run after the RCU grace period.
func (m *Machine) tdpMMUFreeSP(sp *KVMMMUPage) {
	delete(m.tdp.pages, sp.SPT.PFN())
	m.Mem.FreePage(sp.SPT.PFN())
}

// kvmTDPMMUAllocRoot is kvm_tdp_mmu_alloc_root: reuse a valid root whose
// role.word equals the vCPU's root_role (taking a reference), else
// allocate one with two references, one for the vCPU and one for the TDP
// MMU itself, and put it at the head of the list of roots. With mirror
// (a TD) the role has is_mirror and the root becomes mirror_root_hpa.
func (m *Machine) kvmTDPMMUAllocRoot(v *VCPU, mirror bool) error {
	t := m.tdp
	role := v.RootMMU.RootRole
	what := t.cfg.Kind.String()
	if mirror {
		role = setFlag(role, roleIsMirror, true)
		what = "mirror " + what
	}
	for _, r := range t.roots {
		if !r.Role.Invalid() && r.Role == role {
			r.RootCount++
			m.setRoot(v, r.SPT, mirror)
			if !m.Quiet {
				m.emit(Event{Kind: EvSet, MMU: v.RootMMU.Name, Func: "kvm_tdp_mmu_alloc_root", Space: SpaceHPA,
					Addr: uint64(r.SPT), Level: role.Level(), VCPU: v.ID, Old: uint64(r.RootCount - 1), New: uint64(r.RootCount),
					Text: fmt.Sprintf("kvm_tdp_mmu_alloc_root: a valid root with the same role (%s) exists at HPA %s; "+
						"TDP MMU pages are not hashed, roots are found by role.word. vCPU %d takes a reference (%d → %d).",
						role, r.SPT, v.ID, r.RootCount-1, r.RootCount)})
			}
			return nil
		}
	}
	root, err := m.tdpMMUAllocSP()
	if err != nil {
		return err
	}
	root.Role, root.RootCount = role, 2
	t.roots = append([]*KVMMMUPage{root}, t.roots...)
	m.setRoot(v, root.SPT, mirror)
	if !m.Quiet {
		text := fmt.Sprintf("kvm_tdp_mmu_alloc_root: no valid root has role %s, so a new level-%d %s root is "+
			"allocated at HPA %s (tdp_mmu_alloc_sp), all entries SHADOW_NONPRESENT_VALUE; its reference count "+
			"starts at 2, one for vCPU %d and one for the TDP MMU.", role, role.Level(), what, root.SPT, v.ID)
		if mirror {
			text += " It becomes mirror_root_hpa: KVM's copy of the TD's S-EPT, which the processor never walks."
		}
		m.emit(Event{Kind: EvAlloc, MMU: v.RootMMU.Name, Func: "kvm_tdp_mmu_alloc_root", Space: SpaceHPA,
			Addr: uint64(root.SPT), Level: role.Level(), VCPU: v.ID, Table: uint64(root.SPT), Text: text})
	}
	return nil
}

// setRoot records a root the vCPU now holds: root.hpa, or for a mirror
// root mirror_root_hpa.
func (m *Machine) setRoot(v *VCPU, hpa HPA, mirror bool) {
	if mirror {
		m.tdx().mirrorRoot[v.ID] = hpa
		return
	}
	v.RootMMU.Root, v.RootMMU.RootValid = hpa, true
}

// kvmTDPMMUPutRoot is kvm_tdp_mmu_put_root: drop a reference; the last one
// unlinks the (invalid) root and frees it after an RCU grace period.
func (m *Machine) kvmTDPMMUPutRoot(v *VCPU, root *KVMMMUPage, caller string) {
	root.RootCount--
	if root.RootCount > 0 {
		if !m.Quiet {
			m.emit(Event{Kind: EvSet, MMU: "root_mmu", Func: "kvm_tdp_mmu_put_root", Space: SpaceHPA, Addr: uint64(root.SPT),
				Level: root.Role.Level(), VCPU: vcpuID(v), Old: uint64(root.RootCount + 1), New: uint64(root.RootCount),
				Text: fmt.Sprintf("kvm_tdp_mmu_put_root (from %s): the root at HPA %s loses a reference (%d → %d); it "+
					"stays allocated while a reference remains.", caller, root.SPT, root.RootCount+1, root.RootCount)})
		}
		return
	}
	for i, r := range m.tdp.roots {
		if r == root {
			m.tdp.roots = append(m.tdp.roots[:i], m.tdp.roots[i+1:]...)
			break
		}
	}
	m.tdpMMUFreeSP(root)
	if !m.Quiet {
		m.emit(Event{Kind: EvFree, MMU: "root_mmu", Func: "kvm_tdp_mmu_put_root", Space: SpaceHPA, Addr: uint64(root.SPT),
			Level: root.Role.Level(), VCPU: vcpuID(v), Table: uint64(root.SPT),
			Text: fmt.Sprintf("kvm_tdp_mmu_put_root (from %s): the last reference to the invalid root at HPA %s is gone: "+
				"it leaves tdp_mmu_roots and its page is freed after an RCU grace period (tdp_mmu_free_sp).",
				caller, root.SPT)})
	}
}

// vcpuID is v's id, 0 for none.
func vcpuID(v *VCPU) int {
	if v == nil {
		return 0
	}
	return v.ID
}

// rootOf is the TDP MMU page of the vCPU's current root, or nil.
func (m *Machine) rootOf(v *VCPU) *KVMMMUPage {
	if m.tdp == nil || !v.RootMMU.RootValid {
		return nil
	}
	return m.tdp.pages[v.RootMMU.Root.PFN()]
}

// spAt is sptep_to_sp: the TDP MMU page holding the SPTE at hpa.
func (m *Machine) spAt(hpa HPA) *KVMMMUPage { return m.tdp.pages[hpa.PFN()] }

// sortedPages lists the TDP MMU pages, roots first (in list order), then
// by level from the top and by GFN, so pictures and tests are stable.
func (t *tdpState) sortedPages() []*KVMMMUPage {
	out := make([]*KVMMMUPage, 0, len(t.pages))
	for _, sp := range t.pages {
		out = append(out, sp)
	}
	rootRank := func(sp *KVMMMUPage) int {
		for i, r := range t.roots {
			if r == sp {
				return i
			}
		}
		return len(t.roots)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if ra, rb := rootRank(a), rootRank(b); ra != rb {
			return ra < rb
		}
		if a.Role.Level() != b.Role.Level() {
			return a.Role.Level() > b.Role.Level()
		}
		if a.GFN != b.GFN {
			return a.GFN < b.GFN
		}
		return a.SPT < b.SPT
	})
	return out
}
