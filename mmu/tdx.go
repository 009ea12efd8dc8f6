package mmu

import (
	"fmt"
	"sort"
)

// TDX (arch/x86/kvm/vmx/tdx.c and the mirror parts of tdp_mmu.c): a trust
// domain's memory has two halves. A GPA with the shared bit (bit 47, or
// bit 51 with a 52-bit GPAW) is shared with the host and mapped by an
// ordinary TDP root that the processor walks through SHARED_EPT_POINTER.
// A GPA without it is private: the processor walks the Secure EPT
// (S-EPT), which the TDX module owns and keeps encrypted. KVM cannot
// read the S-EPT, so it keeps a mirror of it, a TDP root with
// role.is_mirror, which it builds on faults like any other, and pushes
// every change of a mirror SPTE to the TDX module through four
// kvm_x86_ops hooks (link_external_spt, set_external_spte,
// remove_external_spte, free_external_spt), each a SEAMCALL.

// PFErrPrivateAccess is PFERR_PRIVATE_ACCESS (bit 49 of a KVM page-fault
// error code): the fault is on a private GPA, so it is resolved in the
// mirror root with memory from guest_memfd.
const PFErrPrivateAccess = uint64(1) << 49

// tdState is kvm_tdx->state.
type tdState int

// The states of a TD.
const (
	tdStateInitialized tdState = iota // TD_STATE_INITIALIZED: KVM_TDX_INIT_VM done
	tdStateRunnable                   // TD_STATE_RUNNABLE: KVM_TDX_FINALIZE_VM done
)

func (s tdState) String() string {
	if s == tdStateRunnable {
		return "TD_STATE_RUNNABLE"
	}
	return "TD_STATE_INITIALIZED"
}

// TDXConfig is what userspace chooses for a TD at KVM_TDX_INIT_VM.
type TDXConfig struct {
	// GPAW is the guest physical address width, 48 or 52; the shared bit
	// is bit GPAW-1. A GPAW of 52 needs 5-level EPT.
	GPAW int
	// PrivateBase is where, in host memory, guest_memfd takes the
	// private pages from: each memslot's private pages follow one another
	// from there, in the order of the memslots.
	PrivateBase HPA
	// SEPTVEDisable is TDX_TD_ATTR_SEPT_VE_DISABLE: a guest access to a
	// page it has not accepted exits to KVM (which then kills the TD)
	// rather than raising #VE in the guest.
	SEPTVEDisable bool
}

// tdxState is struct kvm_tdx with the TDX module's side of the TD: the
// S-EPT pages, the private memory and the memory attributes.
type tdxState struct {
	cfg        TDXConfig
	directBits GFN // kvm->arch.gfn_direct_bits: the shared bit, as a GFN bit
	state      tdState
	hkid       bool // is_hkid_assigned: the TD still has its private key
	septRoot   HPA  // the S-EPT root: a TDCS page the TDX module owns
	// sept holds the S-EPT's pages (not KVM's: no struct kvm_mmu_page),
	// by frame.
	sept map[PFN]*septPage
	// mirrorRoot is each vCPU's mirror_root_hpa (struct kvm_mmu), present
	// while valid.
	mirrorRoot map[int]HPA
	// shared are the GFNs whose memory attribute userspace made shared
	// (KVM_SET_MEMORY_ATTRIBUTES); every other GFN is private.
	shared map[GFN]bool
	// gmem is guest_memfd: the first private frame of each memslot, by ID.
	gmem map[int]PFN
	// premapped are the GFNs KVM_TDX_INIT_MEM_REGION has put in the
	// mirror but not yet added with TDH.MEM.PAGE.ADD; nrPremapped is
	// kvm_tdx->nr_premapped, which must agree.
	premapped   map[GFN]bool
	nrPremapped int
	// epoch is the TD epoch TDH.MEM.TRACK advances; blockedAt records,
	// for each blocked S-EPT entry, the epoch it was blocked in, because
	// the TDX module removes a page only after a TRACK since its BLOCK.
	epoch     uint64
	blockedAt map[HPA]uint64
	dead      bool // kvm_vm_dead: KVM killed the TD
	destroyed bool // the VM was torn down
}

// septPage is one page of the S-EPT: its level and the first GFN it maps,
// and the mirror page whose external_spt it is (none for the root).
type septPage struct {
	level  int
	gfn    GFN
	mirror HPA
}

// clone deep-copies the TDX state.
func (x *tdxState) clone() *tdxState {
	if x == nil {
		return nil
	}
	c := *x
	c.sept = make(map[PFN]*septPage, len(x.sept))
	for k, p := range x.sept {
		cp := *p
		c.sept[k] = &cp
	}
	c.mirrorRoot = copyMap(x.mirrorRoot)
	c.shared = copyMap(x.shared)
	c.gmem = copyMap(x.gmem)
	c.premapped = copyMap(x.premapped)
	c.blockedAt = copyMap(x.blockedAt)
	return &c
}

// copyMap returns a copy of a map.
func copyMap[K comparable, V any](in map[K]V) map[K]V {
	out := make(map[K]V, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}

// tdx returns the TD's state, nil when the VM is no TD.
func (m *Machine) tdx() *tdxState {
	if m.tdp == nil {
		return nil
	}
	return m.tdp.tdx
}

// IsTD reports whether the VM is a trust domain (KVM_X86_TDX_VM).
func (m *Machine) IsTD() bool { return m.tdx() != nil }

// kvmGFNDirectBits is kvm_gfn_direct_bits: the shared bit of a TD, 0
// otherwise.
func (m *Machine) kvmGFNDirectBits() GFN {
	if x := m.tdx(); x != nil {
		return x.directBits
	}
	return 0
}

// kvmIsAddrDirect is kvm_is_addr_direct: a GPA is mapped by the direct
// (shared) root unless the VM has a shared bit and the GPA lacks it.
func (m *Machine) kvmIsAddrDirect(gpa GPA) bool {
	bits := m.kvmGFNDirectBits().GPA()
	return bits == 0 || gpa&bits != 0
}

// isPrivateGPA is vt_is_tdx_private_gpa.
func (m *Machine) isPrivateGPA(gpa GPA) bool { return m.IsTD() && !m.kvmIsAddrDirect(gpa) }

// kvmGFNRootMask is kvm_gfn_root_mask: the bits a walk of root ORs into
// every GFN to index it. A mirror root maps private memory at its natural
// GFN; the direct root of a TD is indexed with the shared bit.
func (m *Machine) kvmGFNRootMask(root *KVMMMUPage) GFN {
	if root.Role.IsMirror() {
		return 0
	}
	return m.kvmGFNDirectBits()
}

// kvmMemIsPrivate is kvm_mem_is_private: the memory attribute of gfn.
func (m *Machine) kvmMemIsPrivate(gfn GFN) bool {
	x := m.tdx()
	return x != nil && !x.shared[gfn]
}

// EnableTDX makes the VM a TD, as KVM_TDX_INIT_VM does (TDH.MNG.CREATE,
// TDH.MNG.KEY.CONFIG, TDH.MNG.ADDCX, TDH.MNG.INIT), sets
// gfn_direct_bits, marks all memory private as a VMM does at start, binds
// a guest_memfd to every memslot, and gives every vCPU its mirror root. It
// needs EPT and comes before the script, after the memslots.
func (m *Machine) EnableTDX(cfg TDXConfig) error {
	if m.tdp == nil || m.tdp.cfg.Kind != TDPEPT {
		return fmt.Errorf("a TD needs EPT: enable it first (tdp ept)")
	}
	if m.tdp.tdx != nil {
		return fmt.Errorf("the VM is already a TD")
	}
	switch cfg.GPAW {
	case 48:
	case 52:
		if m.tdp.level != 5 {
			return fmt.Errorf("GPAW 52 needs 5-level EPT (setup_tdparams_eptp_controls), but KVM uses %d levels",
				m.tdp.level)
		}
	default:
		return fmt.Errorf("a TD's GPAW is 48 or 52 bits, not %d", cfg.GPAW)
	}
	if m.Config.MaxPhyAddr != cfg.GPAW {
		return fmt.Errorf("KVM reports a TD's GPAW as its MAXPHYADDR (CPUID 0x80000008): GPAW %d needs maxphyaddr=%d, "+
			"not %d", cfg.GPAW, cfg.GPAW, m.Config.MaxPhyAddr)
	}
	x := &tdxState{cfg: cfg, directBits: GFN(1) << uint(cfg.GPAW-1-PageShift), hkid: true,
		sept: map[PFN]*septPage{}, mirrorRoot: map[int]HPA{}, shared: map[GFN]bool{}, gmem: map[int]PFN{},
		premapped: map[GFN]bool{}, blockedAt: map[HPA]uint64{}}
	if err := m.bindGuestMemfd(x); err != nil {
		return err
	}
	root, err := m.Mem.AllocPage()
	if err != nil {
		return err
	}
	m.Mem.FillPage(root, 0)
	x.septRoot = root.HPA()
	x.sept[root] = &septPage{level: m.tdp.level}
	m.tdp.tdx = x
	defer m.quietly()()
	for _, v := range m.VCPUs {
		if err := m.tdxAllocMirrorRoot(v); err != nil {
			m.tdp.tdx = nil
			return err
		}
	}
	return nil
}

// bindGuestMemfd gives every memslot its private pages from PrivateBase
// on, in memslot order, and reserves them in host memory.
func (m *Machine) bindGuestMemfd(x *tdxState) error {
	base := x.cfg.PrivateBase
	if uint64(base)&pageMask != 0 {
		return fmt.Errorf("the private memory base %s is not page-aligned", base)
	}
	next := base.PFN()
	slots := append([]Memslot(nil), m.Slots...)
	sort.Slice(slots, func(i, j int) bool { return slots[i].BaseGFN < slots[j].BaseGFN })
	for _, s := range slots {
		end := next + PFN(s.NPages)
		for _, o := range m.Slots {
			if next < o.BasePFN+PFN(o.NPages) && o.BasePFN < end {
				return fmt.Errorf("the private memory of memslot %d (HPA %s-%s) overlaps the host memory of memslot %d",
					s.ID, next.HPA(), end.HPA()-1, o.ID)
			}
		}
		if err := m.Mem.Reserve(next, s.NPages); err != nil {
			return fmt.Errorf("the private memory of memslot %d: %v", s.ID, err)
		}
		x.gmem[s.ID] = next
		next = end
	}
	return nil
}

// gmemPFN is kvm_gmem_get_pfn: the private page behind gfn, if its
// memslot has a guest_memfd.
func (m *Machine) gmemPFN(gfn GFN) (PFN, *Memslot, bool) {
	s := m.gfnToMemslot(gfn)
	if s == nil {
		return 0, nil, false
	}
	base, ok := m.tdx().gmem[s.ID]
	if !ok {
		return 0, s, false
	}
	return base + PFN(gfn-s.BaseGFN), s, true
}

// tdxAllocMirrorRoot is the mirror half of mmu_alloc_direct_roots: a TD
// vCPU gets a mirror root (kvm_tdp_mmu_alloc_root with mirror) when
// mirror_root_hpa is not valid.
func (m *Machine) tdxAllocMirrorRoot(v *VCPU) error {
	x := m.tdx()
	if x == nil {
		return nil
	}
	if _, ok := x.mirrorRoot[v.ID]; ok {
		return nil
	}
	return m.kvmTDPMMUAllocRoot(v, true)
}

// mirrorRootOf is root_to_sp(mirror_root_hpa), or nil.
func (m *Machine) mirrorRootOf(v *VCPU) *KVMMMUPage {
	x := m.tdx()
	if x == nil {
		return nil
	}
	hpa, ok := x.mirrorRoot[v.ID]
	if !ok {
		return nil
	}
	return m.tdp.pages[hpa.PFN()]
}

// tdpMMUGetRootForFault is tdp_mmu_get_root_for_fault: a fault on an
// address without the shared bit goes to the mirror root.
func (m *Machine) tdpMMUGetRootForFault(v *VCPU, f *kvmPageFault) *KVMMMUPage {
	if !m.kvmIsAddrDirect(f.addr) {
		return m.mirrorRootOf(v)
	}
	return m.rootOf(v)
}

// isMirrorSPTEP is is_mirror_sptep: the SPTE lives in a mirror page.
func (m *Machine) isMirrorSPTEP(sptep HPA) bool {
	sp := m.spAt(sptep)
	return sp != nil && sp.Role.IsMirror()
}

// iterGPA is the GPA of the iterator's SPTE as the hardware sees it: its
// GFN with the root's bits (the shared bit in a TD's direct root).
func (it *tdpIter) iterGPA() GPA { return (it.gfn | it.gfnBits).GPA() }

// loadPGDWords names the function that points the hardware at a vCPU's
// new direct root and what it writes: for a TD, tdx_load_mmu_pgd sets
// SHARED_EPT_POINTER (the private EPTP belongs to the TDX module).
func (m *Machine) loadPGDWords(v *VCPU) (fn, what string) {
	switch {
	case m.IsTD():
		return "tdx_load_mmu_pgd", fmt.Sprintf("SHARED_EPT_POINTER = %s, the root of the shared half; the private "+
			"half is walked through the TDX module's S-EPT, whose root KVM never loads", v.RootMMU.Root)
	case m.tdp.cfg.Kind == TDPNPT:
		return "svm_load_mmu_pgd", fmt.Sprintf("nCR3 = %s", v.RootMMU.Root)
	}
	return "vmx_load_mmu_pgd", fmt.Sprintf("EPTP = %s (construct_eptp)", hex(m.eptp(v)))
}

// spteWord names the SPTE at sptep: "EPT PDE", or "mirror EPT PDE" in a
// TD's mirror root.
func (m *Machine) spteWord(sptep HPA, level int) string {
	if m.isMirrorSPTEP(sptep) {
		return "mirror " + m.tdp.entryWord(level)
	}
	return m.tdp.entryWord(level)
}
