package mmu

import "fmt"

// The life of a TD as userspace and the guest drive it: the initial
// memory (KVM_TDX_INIT_MEM_REGION), finalization (KVM_TDX_FINALIZE_VM),
// the guest accepting a private page (TDG.MEM.PAGE.ACCEPT, tdx_accept.go)
// and converting memory between private and shared
// (TDG.VP.VMCALL<MapGPA>, which userspace carries out with
// KVM_SET_MEMORY_ATTRIBUTES), and teardown.

// TDXInitMemRegion is KVM_TDX_INIT_MEM_REGION on a vCPU: each page of
// [GPA, GPA+Size) (private) is mapped in the mirror root and added to the
// S-EPT with the contents userspace prepared at the same GPA of the
// memslot (TDH.MEM.PAGE.ADD), and measured when Measure is set
// (TDH.MR.EXTEND). Only before the TD is finalized.
type TDXInitMemRegion struct {
	Source
	VCPU    int
	GPA     GPA
	Size    uint64
	Measure bool
}

// TDXFinalize is KVM_TDX_FINALIZE_VM: TDH.MR.FINALIZE, after which the TD
// runs and its private memory grows only through TDH.MEM.PAGE.AUG.
type TDXFinalize struct{ Source }

// TDXMapGPA is the guest asking, with TDG.VP.VMCALL<MapGPA>, that
// [GPA, GPA+Size) become shared (the GPA has the shared bit) or private
// (it has not); userspace does it with KVM_SET_MEMORY_ATTRIBUTES, which
// first unmaps the old kind.
type TDXMapGPA struct {
	Source
	VCPU int
	GPA  GPA
	Size uint64
}

// TDXDestroy is the VMM exiting: the guest_memfd files close (every
// private page leaves the S-EPT), then the VM is destroyed: the TD's key
// is released and the S-EPT tables are reclaimed.
type TDXDestroy struct{ Source }

// needTD refuses a TDX action on a VM that is no live TD.
func (m *Machine) needTD(what string) (*tdxState, error) {
	x := m.tdx()
	switch {
	case x == nil:
		return nil, fmt.Errorf("%s needs a TD: the VM is not one (tdx)", what)
	case x.destroyed:
		return nil, fmt.Errorf("%s: the TD has been destroyed", what)
	}
	return x, nil
}

// tdxRange checks a page-aligned, non-empty range of one half of a TD
// (it may not cross the shared bit) and returns its GFNs, without the
// shared bit.
func (m *Machine) tdxRange(what string, gpa GPA, size uint64) (GFN, GFN, error) {
	x := m.tdx()
	end := uint64(gpa) + size
	switch {
	case uint64(gpa)&pageMask != 0 || size&pageMask != 0 || size == 0 || end < uint64(gpa):
		return 0, 0, fmt.Errorf("%s needs a page-aligned GPA and a non-zero page-aligned size", what)
	case end > uint64(1)<<uint(x.cfg.GPAW):
		return 0, 0, fmt.Errorf("%s: GPA %s-%s is beyond the TD's GPAW (%d bits)", what, gpa, GPA(end-1), x.cfg.GPAW)
	case m.isPrivateGPA(gpa) != m.isPrivateGPA(GPA(end-1)):
		return 0, 0, fmt.Errorf("%s: GPA %s-%s crosses the shared bit (%s)", what, gpa, GPA(end-1), x.directBits.GPA())
	case size>>PageShift > maxPrefaultPages:
		return 0, 0, fmt.Errorf("%s: %s is more than %d pages", what, sizeString(size), maxPrefaultPages)
	}
	start := gpa.GFN() &^ x.directBits
	return start, start + GFN(size>>PageShift), nil
}

// do performs KVM_TDX_INIT_MEM_REGION.
func (a *TDXInitMemRegion) do(m *Machine) (Result, error) {
	x, err := m.needTD("KVM_TDX_INIT_MEM_REGION")
	if err != nil {
		return Result{}, err
	}
	v, err := m.VCPU(a.VCPU)
	if err != nil {
		return Result{}, err
	}
	if x.state == tdStateRunnable {
		return Result{}, fmt.Errorf("KVM_TDX_INIT_MEM_REGION fails with EINVAL: the TD is finalized, so its initial " +
			"memory is fixed")
	}
	if !m.isPrivateGPA(a.GPA) {
		return Result{}, fmt.Errorf("KVM_TDX_INIT_MEM_REGION fails with EINVAL: GPA %s has the shared bit; the "+
			"initial memory is private", a.GPA)
	}
	start, end, err := m.tdxRange("KVM_TDX_INIT_MEM_REGION", a.GPA, a.Size)
	if err != nil {
		return Result{}, err
	}
	if !m.Quiet {
		m.emit(Event{Kind: EvBegin, MMU: "root_mmu", Func: "tdx_vcpu_init_mem_region", Space: SpaceGPA,
			Addr: uint64(a.GPA), VCPU: v.ID, Text: fmt.Sprintf("Userspace puts the TD's initial memory in place: "+
				"KVM_TDX_INIT_MEM_REGION(GPA %s-%s) on vCPU %d. For each page, kvm_gmem_populate takes the private "+
				"page from guest_memfd and tdx_gmem_post_populate maps it in the mirror root, then has the TDX module "+
				"add it with the prepared contents.", a.GPA, GPA(uint64(a.GPA)+a.Size-1), v.ID)})
	}
	if err := m.kvmMMUReload(v); err != nil {
		return Result{}, err
	}
	for gfn := start; gfn < end; gfn++ {
		if err := m.tdxGmemPostPopulate(v, gfn, a.Measure); err != nil {
			return Result{}, err
		}
	}
	return Result{OK: true, Note: fmt.Sprintf("%d private pages added", end-start)}, nil
}

// tdxGmemPostPopulate is kvm_gmem_populate's callback for one page:
// kvm_tdp_map_page with PFERR_PRIVATE_ACCESS (a premap), then
// TDH.MEM.PAGE.ADD and, when measured, TDH.MR.EXTEND.
func (m *Machine) tdxGmemPostPopulate(v *VCPU, gfn GFN, measure bool) error {
	x := m.tdx()
	gpa := gfn.GPA()
	pfn, slot, ok := m.gmemPFN(gfn)
	switch {
	case !ok:
		return fmt.Errorf("kvm_gmem_populate fails: GPA %s is in no memslot with a guest_memfd", gpa)
	case !m.kvmMemIsPrivate(gfn):
		return fmt.Errorf("kvm_gmem_populate fails with EINVAL: GPA %s is shared (memory attributes)", gpa)
	}
	src := slot.PFN(gfn).HPA()
	if !m.Quiet {
		m.emit(Event{Kind: EvCheck, MMU: "root_mmu", Func: "tdx_gmem_post_populate", Space: SpaceGPA, Addr: uint64(gpa),
			VCPU: v.ID, Text: fmt.Sprintf("tdx_gmem_post_populate: GFN %s gets guest_memfd's page HPA %s; its initial "+
				"contents are userspace's source page at HPA %s. kvm_tdp_map_page(PFERR_GUEST_FINAL | "+
				"PFERR_PRIVATE_ACCESS) maps it in the mirror root first.", gfn, pfn.HPA(), src)})
	}
	r := retPFRetry
	for try := 0; try < 4 && r == retPFRetry; try++ {
		r = m.kvmMMUDoPageFault(v, gpa, PFErrGuestFinal|PFErrPrivateAccess, true)
	}
	if r != retPFFixed {
		return fmt.Errorf("kvm_tdp_map_page could not map GPA %s (%s)", gpa, r)
	}
	if err := m.tdhMemPageAdd(v, gpa, pfn, src, "tdx_gmem_post_populate"); err != nil {
		return fmt.Errorf("TDH.MEM.PAGE.ADD of GPA %s fails: %v", gpa, err)
	}
	if x.premapped[gfn] {
		delete(x.premapped, gfn)
		x.nrPremapped--
	}
	if measure && !m.Quiet {
		m.emit(Event{Kind: EvSet, MMU: "tdx_module", Func: "tdx_gmem_post_populate", Space: SpaceGPA,
			Addr: uint64(gpa), VCPU: v.ID, Text: fmt.Sprintf("tdx_gmem_post_populate: KVM_TDX_MEASURE_MEMORY_REGION: "+
				"sixteen TDH.MR.EXTEND calls fold the page, 256 bytes at a time, into the TD's measurement (MRTD); "+
				"nr_premapped is back to %d.", x.nrPremapped)})
	}
	return nil
}

// do performs KVM_TDX_FINALIZE_VM.
func (a *TDXFinalize) do(m *Machine) (Result, error) {
	x, err := m.needTD("KVM_TDX_FINALIZE_VM")
	if err != nil {
		return Result{}, err
	}
	switch {
	case x.state == tdStateRunnable:
		return Result{}, fmt.Errorf("KVM_TDX_FINALIZE_VM fails with EINVAL: the TD is already finalized")
	case x.nrPremapped != 0:
		return Result{}, fmt.Errorf("KVM_TDX_FINALIZE_VM fails with EINVAL: %d premapped pages still wait for "+
			"TDH.MEM.PAGE.ADD (nr_premapped)", x.nrPremapped)
	}
	x.state = tdStateRunnable
	if !m.Quiet {
		m.emit(Event{Kind: EvSet, MMU: "tdx_module", Func: "tdx_td_finalize", Old: uint64(tdStateInitialized),
			New: uint64(tdStateRunnable), Text: "tdx_td_finalize: KVM_TDX_FINALIZE_VM: TDH.MR.FINALIZE seals the TD's " +
				"measurement, and the TD becomes TD_STATE_RUNNABLE (pre_fault_allowed). From now on a private page " +
				"comes with TDH.MEM.PAGE.AUG, as PENDING, and the guest accepts it."})
	}
	return Result{OK: true, Note: "the TD is runnable"}, nil
}

// do performs the guest's MapGPA and userspace's conversion.
func (a *TDXMapGPA) do(m *Machine) (Result, error) {
	x, err := m.needTD("MapGPA")
	if err != nil {
		return Result{}, err
	}
	v, err := m.VCPU(a.VCPU)
	if err != nil {
		return Result{}, err
	}
	if err := m.tdxVCPUPreRun(); err != nil {
		return Result{}, err
	}
	if res, dead := m.tdxDeadResult(); dead {
		return res, nil
	}
	start, end, err := m.tdxRange("TDG.VP.VMCALL<MapGPA>", a.GPA, a.Size)
	if err != nil {
		return Result{}, err
	}
	toShared := !m.isPrivateGPA(a.GPA)
	to, from, filter := "private", "shared", "KVM_FILTER_SHARED: the direct root"
	if toShared {
		to, from, filter = "shared", "private", "KVM_FILTER_PRIVATE: the mirror root, and so the S-EPT"
	}
	last := GPA(uint64(a.GPA) + a.Size - 1)
	m.emitMapGPA(v, a, start, end, to, from, filter, last)
	n := 0
	for _, r := range append([]*KVMMMUPage(nil), m.tdp.roots...) {
		if r.Role.IsMirror() == toShared {
			n += m.tdpMMUZapLeafs(r, start, end, "kvm_tdp_mmu_unmap_gfn_range")
		}
	}
	m.emitFlush("kvm_flush_remote_tlbs_range", fmt.Sprintf("%d %s leaf SPTE(s) unmapped", n, from))
	for gfn := start; gfn < end; gfn++ {
		if toShared {
			x.shared[gfn] = true
		} else {
			delete(x.shared, gfn)
		}
	}
	if !m.Quiet {
		m.emit(Event{Kind: EvResult, MMU: "kvm", Func: "kvm_arch_post_set_memory_attributes", Space: SpaceGPA,
			Addr: uint64(a.GPA), VCPU: v.ID, Text: fmt.Sprintf("GFN %s-%s is now %s. Userspace completes the "+
				"hypercall and KVM resumes the guest, which will fault the range in as %s memory when it uses it.",
				start, end-1, to, to)})
	}
	return Result{OK: true, Note: fmt.Sprintf("GPA %s-%s is %s; %d SPTE(s) unmapped", a.GPA, last, to, n)}, nil
}

// emitMapGPA narrates the guest's MapGPA up to the unmapping.
func (m *Machine) emitMapGPA(v *VCPU, a *TDXMapGPA, start, end GFN, to, from, filter string, last GPA) {
	if m.Quiet {
		return
	}
	m.emit(Event{Kind: EvBegin, MMU: "guest", Func: "cpu", Space: SpaceGPA, Addr: uint64(a.GPA), VCPU: v.ID,
		Text: fmt.Sprintf("vCPU %d runs the TD: the guest calls TDG.VP.VMCALL<MapGPA>(GPA %s, %s) to make the range "+
			"%s (the shared bit of the GPA says which).", v.ID, a.GPA, sizeString(a.Size), to)})
	m.emit(Event{Kind: EvCheck, MMU: "kvm", Func: "tdx_map_gpa", Space: SpaceGPA, Addr: uint64(a.GPA), VCPU: v.ID,
		Text: fmt.Sprintf("TD exit (TDVMCALL): tdx_map_gpa checks GPA %s-%s and exits to userspace with "+
			"KVM_EXIT_HYPERCALL (KVM_HC_MAP_GPA_RANGE): memory attributes belong to userspace.", a.GPA, last)})
	m.emit(Event{Kind: EvCheck, MMU: "kvm", Func: "kvm_arch_pre_set_memory_attributes", Space: SpaceGPA,
		Addr: uint64(a.GPA), VCPU: v.ID, Text: fmt.Sprintf("Userspace calls KVM_SET_MEMORY_ATTRIBUTES on GFN "+
			"%s-%s (%s → %s). Before the attributes change, kvm_arch_pre_set_memory_attributes unmaps the %s "+
			"mappings: kvm_unmap_gfn_range with %s.", start, end-1, from, to, from, filter)})
}

// do tears the TD down.
func (a *TDXDestroy) do(m *Machine) (Result, error) {
	x, err := m.needTD("destroying the TD")
	if err != nil {
		return Result{}, err
	}
	if !m.Quiet {
		m.emit(Event{Kind: EvBegin, MMU: "kvm", Func: "kvm_unmap_gfn_range", Text: "The VMM exits. Closing the " +
			"guest_memfd files unmaps every private page (kvm_unmap_gfn_range with KVM_FILTER_PRIVATE) while the " +
			"TD still has its key: each leaves the S-EPT through remove_external_spte."})
	}
	n := 0
	for _, r := range append([]*KVMMMUPage(nil), m.tdp.roots...) {
		if r.Role.IsMirror() {
			n += m.tdpMMUZapLeafs(r, 0, m.tdpMMUMaxGFNExclusive(), "kvm_tdp_mmu_unmap_gfn_range")
		}
	}
	x.hkid = false
	if !m.Quiet {
		m.emit(Event{Kind: EvSet, MMU: "tdx_module", Func: "tdx_mmu_release_hkid", Text: "tdx_mmu_release_hkid: " +
			"TDH.PHYMEM.CACHE.WB writes back every cache line of the TD's key and TDH.MNG.KEY.FREEID frees the key " +
			"(HKID). Only now may the S-EPT's own pages be reclaimed."})
		m.emit(Event{Kind: EvCheck, MMU: "kvm", Func: "kvm_mmu_uninit_tdp_mmu", Text: "kvm_mmu_uninit_tdp_mmu: " +
			"every root, the mirror one included, is invalidated and zapped (kvm_tdp_mmu_zap_invalidated_roots); " +
			"each mirror table cut off gives its S-EPT page back through free_external_spt."})
	}
	for _, r := range m.tdp.roots {
		if !r.Role.Invalid() {
			r.ScheduledRootToZap, r.Role = true, r.Role.WithInvalid(true)
		}
	}
	for _, v := range m.VCPUs {
		m.kvmMMUUnload(v)
		if r := m.mirrorRootOf(v); r != nil {
			m.kvmTDPMMUPutRoot(v, r, "kvm_mmu_destroy")
		}
		delete(x.mirrorRoot, v.ID)
	}
	n += m.kvmTDPMMUZapInvalidatedRoots()
	delete(x.sept, x.septRoot.PFN())
	m.Mem.FreePage(x.septRoot.PFN())
	x.destroyed = true
	if !m.Quiet {
		m.emit(Event{Kind: EvFree, MMU: "tdx_module", Func: "tdx_vm_destroy", Space: SpaceHPA, Addr: uint64(x.septRoot),
			Level: m.tdp.level, Table: uint64(x.septRoot), Text: fmt.Sprintf("tdx_vm_destroy: "+
				"tdx_reclaim_td_control_pages reclaims the TD's control pages, the S-EPT root at HPA %s among them "+
				"(TDH.PHYMEM.PAGE.RECLAIM). Nothing of the TD is left.", x.septRoot)})
	}
	return Result{OK: true, Note: fmt.Sprintf("the TD is destroyed; %d SPTEs zapped", n)}, nil
}

// TDXCheck checks the TD's invariants (CheckTDXInvariants) as a step of a
// script: the mirror root and the S-EPT agree entry by entry.
type TDXCheck struct{ Source }

// do performs the check.
func (a *TDXCheck) do(m *Machine) (Result, error) {
	x, err := m.needTD("tdx-check")
	if err != nil {
		return Result{}, err
	}
	mirror := 0
	for _, sp := range m.tdp.pages {
		if sp.Role.IsMirror() {
			mirror++
		}
	}
	census := fmt.Sprintf("%d mirror pages, %d S-EPT pages, %d premapped", mirror, len(x.sept), x.nrPremapped)
	bad := m.CheckTDXInvariants()
	text := "The mirror root and the S-EPT agree entry by entry (" + census + "): every mirror table has its " +
		"external_spt linked at the same place, every private leaf maps the same guest_memfd page, 4 KiB, and " +
		"the direct root maps only shared memory."
	if bad != nil {
		text = bad.Error() + "."
	}
	if !m.Quiet {
		m.emit(Event{Kind: EvCheck, MMU: "root_mmu", Func: "invariants", Text: text})
	}
	if bad != nil {
		return Result{Note: bad.Error()}, nil
	}
	return Result{OK: true, Note: census}, nil
}
