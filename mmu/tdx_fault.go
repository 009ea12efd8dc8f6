package mmu

import "fmt"

// A TD's EPT violations (tdx_handle_ept_violation): the TDX module
// reports the GPA of the exit, and KVM sends a private GPA (no shared
// bit) with PFERR_PRIVATE_ACCESS down the usual fault path, which then
// builds the mirror root and calls the TDX hooks; a shared GPA takes the
// ordinary path in the direct root.

// Verdicts of a TD's fault path beyond RET_PF_*: ways KVM_RUN ends.
const (
	// retPFMemoryFault is -EFAULT with KVM_EXIT_MEMORY_FAULT: the access
	// is private and the memory shared, or the other way round, and
	// userspace must convert it.
	retPFMemoryFault retPF = 100 + iota
	// retPFVMDead is -EIO after kvm_vm_dead: the guest touched a private
	// page it has not accepted.
	retPFVMDead
	// retPFTDXMMIO is a shared GPA outside every memslot: MMIO, which a TD
	// requests from KVM with a TDVMCALL after a #VE (not modelled).
	retPFTDXMMIO
)

// maxLocalRetries bounds tdx_handle_ept_violation's local retries of a
// private fault.
const maxLocalRetries = 3

// tdxHandleEPTViolation is tdx_handle_ept_violation.
func (m *Machine) tdxHandleEPTViolation(v *VCPU, x *TDPExit) retPF {
	private := m.isPrivateGPA(x.GPA)
	half := "shared: it has the shared bit, so the direct root maps it, and KVM keeps the exit qualification"
	if private {
		half = "private: it lacks the shared bit, so the fault goes to the mirror root; KVM ignores the exit " +
			"qualification and treats it as a write (EPT_VIOLATION_ACC_WRITE), as private pages are always RWX"
	}
	if !m.Quiet {
		m.emit(Event{Kind: EvExit, MMU: "root_mmu", Func: "tdx_handle_ept_violation", Space: SpaceGPA,
			Addr: uint64(x.GPA), Old: x.Qualification, New: x.Qualification, VCPU: v.ID, GVA: x.GVA,
			Text: fmt.Sprintf("TD exit: TDH.VP.ENTER returns EXIT_REASON_EPT_VIOLATION for GPA %s (%s), and KVM's "+
				"tdx_handle_ept_violation runs. The GPA is %s.", x.GPA, exitWhat(x), half)})
	}
	if private && x.Pending {
		m.tdx().dead = true
		if !m.Quiet {
			m.emit(Event{Kind: EvFault, MMU: "root_mmu", Func: "tdx_is_sept_violation_unexpected_pending",
				Space: SpaceGPA, Addr: uint64(x.GPA), VCPU: v.ID, GVA: x.GVA,
				Text: fmt.Sprintf("tdx_is_sept_violation_unexpected_pending: the extended exit qualification says the "+
					"S-EPT entry is PENDING: the guest used GPA %s before accepting it. With SEPT_VE_DISABLE there is "+
					"no #VE to tell it; KVM kills the TD (kvm_vm_dead) and KVM_RUN fails with EIO.", x.GPA)})
		}
		return retPFVMDead
	}
	q := x.Qualification
	if private {
		q = EPTViolationAccWrite
	}
	r := retPFRetry
	for try := 0; try < maxLocalRetries && r == retPFRetry; try++ {
		r = m.tdxVMXHandleEPTViolation(v, x.GPA, q, private)
		if !private {
			break // only private faults are retried without re-entering
		}
	}
	return r
}

// tdxVMXHandleEPTViolation is __vmx_handle_ept_violation for a TD: the
// error code of the exit qualification, plus PFERR_PRIVATE_ACCESS for a
// private GPA.
func (m *Machine) tdxVMXHandleEPTViolation(v *VCPU, gpa GPA, q uint64, private bool) retPF {
	ec := eptViolationErrorCode(q, m.tdp.cfg.GVAValidFix)
	what := "no PFERR_PRIVATE_ACCESS: a shared fault"
	if private {
		ec |= PFErrPrivateAccess
		what = "vt_is_tdx_private_gpa adds PFERR_PRIVATE_ACCESS"
	}
	if !m.Quiet {
		m.emit(Event{Kind: EvCheck, MMU: "root_mmu", Func: "__vmx_handle_ept_violation", Space: SpaceGPA,
			Addr: uint64(gpa), Old: q, New: ec, VCPU: v.ID,
			Text: fmt.Sprintf("__vmx_handle_ept_violation: error code %s = %s; %s.", hex(ec),
				DecodeNPFErrorCode(ec&^PFErrPrivateAccess), what)})
	}
	return m.kvmMMUPageFault(v, gpa, ec)
}

// tdxFaultinPFN is the TD part of kvm_mmu_faultin_pfn. It reports done
// when it decided the fault: a private/shared mismatch or a private page
// without guest_memfd exits to userspace (KVM_EXIT_MEMORY_FAULT); a
// private fault takes its page from guest_memfd, 4 KiB at most; a shared
// fault outside the memslots is MMIO.
func (m *Machine) tdxFaultinPFN(v *VCPU, f *kvmPageFault) (retPF, bool) {
	if !m.IsTD() {
		return 0, false
	}
	if f.private != m.kvmMemIsPrivate(f.gfn) {
		kind, attr := "private", "shared"
		if !f.private {
			kind, attr = "shared", "private"
		}
		m.emitMemoryFault(v, f, fmt.Sprintf("a %s access, but the memory attributes say GFN %s is %s", kind, f.gfn, attr))
		return retPFMemoryFault, true
	}
	if !f.private {
		if f.slot == nil {
			m.emitFaultin(v, f, "kvm_handle_noslot_fault", fmt.Sprintf("kvm_handle_noslot_fault: no memslot covers "+
				"shared GFN %s: MMIO. A TD's MMIO SPTE is not present and lets the TDX module raise #VE in the guest, "+
				"whose handler asks KVM for the access with TDG.VP.VMCALL<#VE.RequestMMIO> (tdx_emulate_mmio); the "+
				"model stops the access here.", f.gfn))
			return retPFTDXMMIO, true
		}
		return 0, false
	}
	pfn, slot, ok := m.gmemPFN(f.gfn)
	if !ok {
		why := "no memslot covers it"
		if slot != nil {
			why = fmt.Sprintf("memslot %d has no guest_memfd", slot.ID)
		}
		m.emitMemoryFault(v, f, fmt.Sprintf("a private access to GFN %s, but %s", f.gfn, why))
		return retPFMemoryFault, true
	}
	f.pfn, f.maxLevel = pfn, 1
	m.emitFaultin(v, f, "kvm_mmu_faultin_pfn_private", fmt.Sprintf("kvm_mmu_faultin_pfn_private: kvm_gmem_get_pfn "+
		"gives guest_memfd's page for GFN %s: HPA %s (private memory, encrypted with the TD's key, never mapped "+
		"for the host); tdx_gmem_private_max_mapping_level caps the mapping at 4 KiB.", f.gfn, pfn.HPA()))
	return retPFContinue, true
}

func (m *Machine) emitFaultin(v *VCPU, f *kvmPageFault, fn, text string) {
	if !m.Quiet {
		m.emit(Event{Kind: EvCheck, MMU: "root_mmu", Func: fn, Space: SpaceGPA, Addr: uint64(f.addr),
			VCPU: v.ID, Text: text})
	}
}

func (m *Machine) emitMemoryFault(v *VCPU, f *kvmPageFault, why string) {
	if !m.Quiet {
		m.emit(Event{Kind: EvFault, MMU: "root_mmu", Func: "kvm_mmu_prepare_memory_fault_exit", Space: SpaceGPA,
			Addr: uint64(f.addr), VCPU: v.ID, Text: fmt.Sprintf("kvm_mmu_faultin_pfn: %s. "+
				"kvm_mmu_prepare_memory_fault_exit fills KVM_EXIT_MEMORY_FAULT and KVM_RUN returns EFAULT: userspace "+
				"must convert the memory (KVM_SET_MEMORY_ATTRIBUTES) and run the vCPU again.", why)})
	}
}

// tdxVCPUPreRun is tdx_vcpu_pre_run: a TD's vCPU runs only once the TD
// is finalized, and not after KVM killed it.
func (m *Machine) tdxVCPUPreRun() error {
	x := m.tdx()
	switch {
	case x == nil:
		return nil
	case x.destroyed:
		return fmt.Errorf("the TD has been destroyed")
	case x.state != tdStateRunnable:
		return fmt.Errorf("KVM_RUN fails with EINVAL: the TD is not finalized yet (tdx_vcpu_pre_run); " +
			"finalize it first (tdx-finalize)")
	}
	return nil
}

// tdxExitResult is how an access ends when KVM_RUN returns to userspace
// from a TD's fault path.
func (m *Machine) tdxExitResult(r retPF, last *Fault, w *GuestWalker, total, try int) Result {
	// The walk stopped at the guest level whose GPA exited; the host level
	// where the translation failed stays in the exit.
	f := *last
	if f.Exit != nil {
		f.Level = f.Exit.GuestLevel
	}
	res := Result{Fault: &f, HasRefs: true, Refs: w.Refs}
	setRefsTotal(&res, total, try)
	switch r {
	case retPFMemoryFault:
		res.Note = "KVM_EXIT_MEMORY_FAULT: userspace must convert the GPA before the guest can use it"
	case retPFVMDead:
		res.Note = "the TD is dead (kvm_vm_dead): the guest used a private page it had not accepted"
	default:
		res.Fault = &Fault{Vector: "#VE", Addr: w.GVA, Reason: "MMIO in a TD: the TDX module raises #VE in the guest",
			Exit: last.Exit}
		res.Note = "a TD's MMIO goes through #VE and TDG.VP.VMCALL, which the model does not follow"
	}
	return res
}

// tdxDeadResult refuses to run a killed TD.
func (m *Machine) tdxDeadResult() (Result, bool) {
	if x := m.tdx(); x != nil && x.dead {
		return Result{Note: "the TD is dead (kvm_vm_dead): KVM_RUN fails with EIO"}, true
	}
	return Result{}, false
}

// tdxWalkRoot is, for a TD's private GPA, the S-EPT root the processor
// walks (the TDX module's private EPTP); ok is false for any other GPA.
func (m *Machine) tdxWalkRoot(gpa GPA) (HPA, bool) {
	if m.isPrivateGPA(gpa) {
		return m.tdx().septRoot, true
	}
	return 0, false
}

// tdxFaultKind adds to a fault's kind which half of a TD it is in, and a
// note on what that means.
func (m *Machine) tdxFaultKind(f *kvmPageFault, kind string) (string, string) {
	switch {
	case !m.IsTD():
		return kind, ""
	case f.private:
		return "private " + kind, " PFERR_PRIVATE_ACCESS: tdp_mmu_get_root_for_fault will pick the mirror root."
	}
	return "shared " + kind, fmt.Sprintf(" The shared bit of GPA %s is stripped from the GFN: memslots know "+
		"nothing of it; the fault goes to the direct root.", f.addr)
}

// tdxPrefaultCode is the error code and address kvm_arch_vcpu_pre_fault_memory
// gives kvm_tdp_map_page: PFERR_GUEST_FINAL, plus PFERR_PRIVATE_ACCESS for
// private memory; shared memory is mapped at its address with the shared
// bit.
func (m *Machine) tdxPrefaultCode(gpa GPA) (uint64, GPA) {
	if !m.IsTD() {
		return PFErrGuestFinal, gpa
	}
	gpa &^= m.kvmGFNDirectBits().GPA()
	if m.kvmMemIsPrivate(gpa.GFN()) {
		return PFErrGuestFinal | PFErrPrivateAccess, gpa
	}
	return PFErrGuestFinal, gpa | m.kvmGFNDirectBits().GPA()
}

// tdxGPAToHPA is where a TD's guest memory lives now, for GPAToHPA: a GPA
// with the shared bit is the memslot's (shared) memory at the GPA without
// it; a private GPA whose guest_memfd page is in the S-EPT is that page.
// Other private GPAs fall back to the memslot (td false): the image
// userspace prepares before KVM_TDX_INIT_MEM_REGION copies it in.
func (m *Machine) tdxGPAToHPA(gpa GPA) (hpa HPA, ok, td bool) {
	x := m.tdx()
	if x == nil {
		return 0, false, false
	}
	if !m.kvmIsAddrDirect(gpa) {
		if _, e, found := m.septLeaf(gpa.GFN()); found && e&eptAddrMask != 0 {
			return HPA(e&eptAddrMask) + HPA(gpa.Offset()), true, true
		}
		return 0, false, false
	}
	natural := gpa &^ x.directBits.GPA()
	s := m.gfnToMemslot(natural.GFN())
	if s == nil {
		return 0, false, true
	}
	return s.PFN(natural.GFN()).HPA() + HPA(gpa.Offset()), true, true
}

// tdxMixedCap lowers a shared mapping's level while the huge page around
// the GFN mixes private and shared memory: KVM marks such ranges in
// lpage_info (KVM_LPAGE_MIXED_FLAG, hugepage_has_attrs) and never maps
// them with one SPTE.
func (m *Machine) tdxMixedCap(f *kvmPageFault, level int, why string) (int, string) {
	if !m.IsTD() {
		return level, why
	}
	for ; level > 1; level-- {
		base := gfnRoundForLevel(f.gfn, level)
		mixed := false
		for g := base; g < base+GFN(pagesPerHPage(level)); g++ {
			if m.kvmMemIsPrivate(g) != f.private {
				mixed = true
				break
			}
		}
		if !mixed {
			return level, why
		}
		why = fmt.Sprintf("the %s page around it mixes private and shared memory (hugepage_has_attrs: "+
			"KVM_LPAGE_MIXED_FLAG)", levelPageName(level))
	}
	return 1, why
}

// tdxRetPFName names a TD's verdicts beyond RET_PF_*.
func tdxRetPFName(r retPF) (string, bool) {
	switch r {
	case retPFMemoryFault:
		return "-EFAULT (KVM_EXIT_MEMORY_FAULT)", true
	case retPFVMDead:
		return "-EIO (the TD is dead)", true
	case retPFTDXMMIO:
		return "MMIO in a TD (#VE)", true
	}
	return "", false
}
