package mmu

import "fmt"

// Actions of the host side of a TDP VM: userspace removing a memslot,
// KVM zapping a range of GPAs, userspace prefaulting memory
// (KVM_PRE_FAULT_MEMORY), and printing KVM's SPTEs.

// RemoveMemslot is userspace deleting a memslot (KVM_SET_USER_MEMORY_REGION
// with memory_size 0). By default KVM_X86_QUIRK_SLOT_ZAP_ALL is on and
// kvm_arch_flush_shadow_memslot zaps every mapping of the VM
// (kvm_mmu_zap_all_fast); with SlotZapOnly the quirk is off and only the
// slot's leaves go (kvm_mmu_zap_memslot).
type RemoveMemslot struct {
	Source
	ID          int
	SlotZapOnly bool
}

// ZapGFNRange is KVM zapping the mappings of [GPA, GPA+Size) in every root
// (kvm_zap_gfn_range, which KVM uses e.g. when guest MTRRs change).
type ZapGFNRange struct {
	Source
	GPA  GPA
	Size uint64
}

// PreFault is userspace asking KVM to map [GPA, GPA+Size) ahead of the
// guest (the KVM_PRE_FAULT_MEMORY ioctl on a vCPU), which runs the TDP
// fault path for each page.
type PreFault struct {
	Source
	VCPU int
	GPA  GPA
	Size uint64
}

// PrintSPTE shows, without side effects, KVM's SPTEs on the path of a GPA
// in a vCPU's root (kvm_tdp_mmu_get_walk).
type PrintSPTE struct {
	Source
	VCPU int
	GPA  GPA
}

// maxPrefaultPages bounds the mappings one prefault may create.
const maxPrefaultPages = 1 << 16

// needTDP refuses a TDP action on a VM without EPT/NPT.
func (m *Machine) needTDP(what string) error {
	if m.tdp == nil {
		return fmt.Errorf("%s needs EPT or NPT: the VM has no TDP MMU", what)
	}
	return nil
}

func (m *Machine) doRemoveMemslot(a *RemoveMemslot) (Result, error) {
	s := m.memslotByID(a.ID)
	if s == nil {
		return Result{}, fmt.Errorf("no memslot %d", a.ID)
	}
	slot := *s
	first, end := slot.BaseGFN.GPA(), (slot.LastGFN() + 1).GPA()
	if !m.Quiet {
		m.emit(Event{Kind: EvBegin, MMU: "kvm", Func: "kvm_set_memory_region", Space: SpaceGPA, Addr: uint64(first),
			Text: fmt.Sprintf("Userspace deletes memslot %d (GPA %s-%s): KVM_SET_USER_MEMORY_REGION with memory_size 0. "+
				"KVM marks the slot invalid and, before dropping it, flushes its mappings "+
				"(kvm_arch_flush_shadow_memslot).", a.ID, first, end-1)})
	}
	zapped, freed := 0, 0
	if m.tdp != nil {
		before := len(m.tdp.pages)
		if a.SlotZapOnly || m.IsTD() {
			if m.IsTD() && !m.Quiet {
				m.emit(Event{Kind: EvCheck, MMU: "kvm", Func: "kvm_memslot_flush_zap_all",
					Text: "kvm_memslot_flush_zap_all: never for a TDX VM, whose S-EPT cannot be zapped all at once: " +
						"KVM zaps only the slot's mappings, private and shared (kvm_mmu_zap_memslot)."})
			}
			zapped = m.kvmMMUZapMemslot(&slot)
		} else {
			if !m.Quiet {
				m.emit(Event{Kind: EvCheck, MMU: "kvm", Func: "kvm_memslot_flush_zap_all",
					Text: "kvm_memslot_flush_zap_all: KVM_X86_QUIRK_SLOT_ZAP_ALL is on (the default), so KVM zaps " +
						"everything, not only this slot's mappings: kvm_mmu_zap_all_fast."})
			}
			zapped = m.kvmMMUZapAllFast()
		}
		freed = before - len(m.tdp.pages)
	}
	if m.shadow != nil {
		zapped, freed = m.shadowRemoveMemslot(&slot, a.SlotZapOnly)
	}
	m.deleteMemslot(a.ID)
	if !m.Quiet {
		m.emit(Event{Kind: EvResult, MMU: "kvm", Func: "kvm_set_memory_region", Space: SpaceGPA, Addr: uint64(first),
			Text: fmt.Sprintf("Memslot %d is gone: to the guest, GPA %s-%s is now MMIO. The memslot generation is %d.",
				a.ID, first, end-1, m.slotsGen)})
	}
	if m.shadow != nil {
		return Result{OK: true, Note: fmt.Sprintf("memslot %d removed; %d shadow pages or SPTEs zapped, %d shadow pages freed",
			a.ID, zapped, freed)}, nil
	}
	return Result{OK: true, Note: fmt.Sprintf("memslot %d removed; %d SPTEs zapped, %d table pages freed",
		a.ID, zapped, freed)}, nil
}

// kvmMMUZapMemslot is kvm_mmu_zap_memslot: zap the slot's leaves in every
// root (kvm_unmap_gfn_range → kvm_tdp_mmu_unmap_gfn_range) and flush.
func (m *Machine) kvmMMUZapMemslot(s *Memslot) int {
	n := 0
	for _, r := range append([]*KVMMMUPage(nil), m.tdp.roots...) {
		n += m.tdpMMUZapLeafs(r, s.BaseGFN, s.LastGFN()+1, "kvm_tdp_mmu_unmap_gfn_range")
	}
	m.emitFlush("kvm_flush_remote_tlbs_memslot", fmt.Sprintf("kvm_mmu_zap_memslot: KVM_X86_QUIRK_SLOT_ZAP_ALL is off, so only memslot %d's leaves "+
		"were zapped (%d); its tables stay, empty, until their root is zapped", s.ID, n))
	return n
}

// emitFlush records the remote TLB flush (fn) that ends a zap.
func (m *Machine) emitFlush(fn, text string) {
	if !m.Quiet {
		m.emit(Event{Kind: EvSet, MMU: "kvm", Func: fn,
			Text: text + "; " + fn + " makes every vCPU drop the stale translations."})
	}
}

func (m *Machine) doZapGFNRange(a *ZapGFNRange) (Result, error) {
	if a.Size == 0 || uint64(a.GPA)&pageMask != 0 || a.Size&pageMask != 0 || uint64(a.GPA)+a.Size < uint64(a.GPA) {
		return Result{}, fmt.Errorf("zap needs a page-aligned GPA and a non-zero page-aligned size")
	}
	if m.shadowPaging() {
		return m.shadowZapGFNRange(a), nil
	}
	if err := m.needTDP("zap"); err != nil {
		return Result{}, err
	}
	// GFNs as memslots know them: without a TD's shared bit.
	start, end := a.GPA.GFN()&^m.kvmGFNDirectBits(), (a.GPA+GPA(a.Size)).GFN()&^m.kvmGFNDirectBits()
	if end <= start {
		return Result{}, fmt.Errorf("zap: the range crosses the shared bit")
	}
	if !m.Quiet {
		m.emit(Event{Kind: EvBegin, MMU: "kvm", Func: "kvm_zap_gfn_range", Space: SpaceGPA, Addr: uint64(a.GPA),
			Text: fmt.Sprintf("kvm_zap_gfn_range(GFN %s, %s): KVM removes every mapping of GPA %s-%s from each valid "+
				"root (kvm_tdp_mmu_zap_leafs).", start, end, a.GPA, a.GPA+GPA(a.Size)-1)})
	}
	n := 0
	for _, r := range append([]*KVMMMUPage(nil), m.tdp.roots...) {
		if !r.Role.Invalid() {
			n += m.tdpMMUZapLeafs(r, start, end, "tdp_mmu_zap_leafs")
		}
	}
	m.emitFlush("kvm_flush_remote_tlbs_range", fmt.Sprintf("%d leaf SPTEs zapped; tdp_mmu_zap_leafs zaps only leaves, so no table is freed", n))
	if m.shadow != nil {
		// Shadow pages built for L2 (nested TDP) map the range too:
		// kvm_zap_gfn_range also zaps through the rmaps.
		m.shadowZapGFNRange(a)
	}
	return Result{OK: true, Note: fmt.Sprintf("%d leaf SPTEs zapped", n)}, nil
}

// Prefault maps [gpa, gpa+size) for vCPU id as KVM_PRE_FAULT_MEMORY does,
// without tracing: scenarios use it to start with populated EPT/NPT.
func (m *Machine) Prefault(id int, gpa GPA, size uint64) error {
	defer m.quietly()()
	_, err := m.doPreFault(&PreFault{VCPU: id, GPA: gpa, Size: size})
	return err
}

// doPreFault is the KVM_PRE_FAULT_MEMORY loop: each call of
// kvm_arch_vcpu_pre_fault_memory reloads the MMU, maps one page
// (kvm_tdp_map_page, a prefetch fault) and moves past the mapping, which
// may be a huge page.
func (m *Machine) doPreFault(a *PreFault) (Result, error) {
	v, err := m.VCPU(a.VCPU)
	if err != nil {
		return Result{}, err
	}
	if err := m.needTDP("prefault"); err != nil {
		return Result{}, err
	}
	if x := m.tdx(); x != nil && x.state != tdStateRunnable {
		return Result{}, fmt.Errorf("KVM_PRE_FAULT_MEMORY fails with EOPNOTSUPP: the TD is not finalized " +
			"(pre_fault_allowed); KVM_TDX_INIT_MEM_REGION maps its initial memory")
	}
	end := uint64(a.GPA) + a.Size
	if a.Size == 0 || uint64(a.GPA)&pageMask != 0 || a.Size&pageMask != 0 || end < uint64(a.GPA) {
		return Result{}, fmt.Errorf("KVM_PRE_FAULT_MEMORY needs a page-aligned GPA and a non-zero page-aligned size (EINVAL)")
	}
	if !m.Quiet {
		m.emit(Event{Kind: EvBegin, MMU: "root_mmu", Func: "kvm_arch_vcpu_pre_fault_memory", Space: SpaceGPA,
			Addr: uint64(a.GPA), VCPU: v.ID,
			Text: fmt.Sprintf("Userspace asks KVM to map GPA %s-%s before the guest touches it (KVM_PRE_FAULT_MEMORY on "+
				"vCPU %d). Each page goes through the real fault path as a prefetch: SPTEs are made without A.",
				a.GPA, GPA(end-1), v.ID)})
	}
	n := 0
	for gpa := uint64(a.GPA); gpa < end; n++ {
		if n == maxPrefaultPages {
			return Result{}, fmt.Errorf("prefault of %s would make more than %d mappings", sizeString(a.Size), maxPrefaultPages)
		}
		if err := m.kvmMMUReload(v); err != nil {
			return Result{}, err
		}
		level, err := m.kvmTDPMapPage(v, GPA(gpa))
		if err != nil {
			return Result{}, err
		}
		size := pagesPerHPage(level) << PageShift
		gpa = gpa&^(size-1) + size
	}
	return Result{OK: true, Note: fmt.Sprintf("%d mappings made", n)}, nil
}

func (m *Machine) doPrintSPTE(a *PrintSPTE) (Result, error) {
	v, err := m.VCPU(a.VCPU)
	if err != nil {
		return Result{}, err
	}
	if err := m.needTDP("print spte"); err != nil {
		return Result{}, err
	}
	root := m.rootOf(v)
	if m.isPrivateGPA(a.GPA) {
		root = m.mirrorRootOf(v) // KVM sees the private half through its mirror
	}
	if root == nil {
		return Result{}, fmt.Errorf("vCPU %d has no root", v.ID)
	}
	var last uint64
	gfn := a.GPA.GFN() &^ m.kvmGFNDirectBits()
	for it := m.tdpIterStart(root, 1, gfn); it.ok(gfn + 1); it.next() {
		last = it.oldSPTE
		if !m.Quiet {
			m.emit(Event{Kind: EvRead, MMU: "debug", Func: "kvm_tdp_mmu_get_walk", Space: SpaceHPA, Addr: uint64(it.sptep),
				Level: it.level, Index: it.index(), HasEntry: true, Old: last, New: last, VCPU: v.ID,
				Table: uint64(it.table()), HPA: it.sptep, HasHPA: true, Size: 8,
				Text: fmt.Sprintf("%s[%d] for GPA %s at HPA %s = %s (%s).", m.tdp.entryWord(it.level), it.index(),
					a.GPA, it.sptep, hex(last), m.tdp.decode(last, it.level))})
		}
	}
	return Result{OK: true, HasValue: true, Value: last, HasGPA: true, GPA: a.GPA}, nil
}

// SetTDPEntry writes value into the EPT/NPT entry at level on gpa's path
// in vCPU id's root, without tracing, allocating the tables above it as
// the TDP MMU would. Scenarios use it to build entries KVM itself never
// makes (read-only, misconfigured...). An entry above that maps a huge
// page is an error.
func (m *Machine) SetTDPEntry(id int, gpa GPA, level int, value uint64) error {
	v, err := m.VCPU(id)
	if err != nil {
		return err
	}
	if err := m.needTDP("an EPT/NPT entry"); err != nil {
		return err
	}
	if level < 1 || level > m.tdp.level {
		return fmt.Errorf("the %d-level %s has levels 1 to %d, not %d", m.tdp.level, m.tdp.cfg.Kind, m.tdp.level, level)
	}
	if uint64(gpa)>>uint(m.Config.MaxPhyAddr) != 0 {
		return fmt.Errorf("GPA %s is beyond MAXPHYADDR (%d bits)", gpa, m.Config.MaxPhyAddr)
	}
	if m.isPrivateGPA(gpa) {
		return fmt.Errorf("GPA %s is private: its EPT entries are the TDX module's S-EPT, which nobody else writes; "+
			"give a GPA with the shared bit (%s)", gpa, m.kvmGFNDirectBits().GPA())
	}
	defer m.quietly()()
	// Like KVM, never build under an invalid root: drop it and load a
	// valid one first.
	if err := m.kvmMMUReload(v); err != nil {
		return err
	}
	root := m.rootOf(v)
	gfn := gpa.GFN() &^ m.kvmGFNDirectBits()
	for it := m.tdpIterStart(root, level, gfn); it.ok(gfn + 1); it.next() {
		if it.level == level {
			m.tdpMMUSetSPTE(v, it, value, "", "")
			return nil
		}
		if isShadowPresentPTE(it.oldSPTE) && !isLargePTE(it.oldSPTE) {
			continue
		}
		if isShadowPresentPTE(it.oldSPTE) {
			return fmt.Errorf("the level-%d %s entry for GPA %s maps a huge page, so there is no level-%d entry",
				it.level, m.tdp.cfg.Kind, gpa, level)
		}
		sp, err := m.tdpMMUAllocSP()
		if err != nil {
			return err
		}
		m.tdpMMUInitChildSP(sp, it)
		m.tdpMMULinkSP(v, it, sp)
	}
	return fmt.Errorf("no level-%d entry on the path of GPA %s", level, gpa)
}
