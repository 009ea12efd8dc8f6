package mmu

import "fmt"

// VM exits of a two-dimensional walk, and how KVM turns them into a page
// fault: handle_ept_violation and handle_ept_misconfig (vmx/vmx.c,
// vmx/common.h) for EPT, npf_interception (svm/svm.c) for NPT.

// handleTDPExit runs KVM's exit handler for the exit a walk ended with and
// returns what kvm_mmu_page_fault decided.
func (m *Machine) handleTDPExit(v *VCPU, x *TDPExit) retPF {
	if m.IsTD() && x.Reason == ExitEPTViolation {
		return m.tdxHandleEPTViolation(v, x) // tdx_handle_exit: a TD's exits are TDX's
	}
	switch x.Reason {
	case ExitEPTViolation:
		return m.handleEPTViolation(v, x)
	case ExitEPTMisconfig:
		return m.handleEPTMisconfig(v, x)
	}
	return m.npfInterception(v, x)
}

// exitWhat says which access of the walk exited.
func exitWhat(x *TDPExit) string {
	if x.Final && x.Qualification&EPTViolationGVAIsValid == 0 && x.ErrorCode == 0 {
		return "a store by guest-physical address, with no linear address"
	}
	if x.Final {
		return fmt.Sprintf("the final GPA of GVA %s", x.GVA)
	}
	return fmt.Sprintf("the guest's level-%d table, while translating GVA %s", x.GuestLevel, x.GVA)
}

// handleEPTViolation is handle_ept_violation: read the exit qualification
// and the guest-physical address from the VMCS and call
// __vmx_handle_ept_violation.
func (m *Machine) handleEPTViolation(v *VCPU, x *TDPExit) retPF {
	q := x.Qualification
	if !m.Quiet {
		m.emit(Event{Kind: EvExit, MMU: "root_mmu", Func: "handle_ept_violation", Space: SpaceGPA, Addr: uint64(x.GPA),
			Old: q, New: q, VCPU: v.ID, GVA: x.GVA,
			Text: fmt.Sprintf("VM exit (EXIT_REASON_EPT_VIOLATION): KVM's handle_ept_violation runs. GPA %s (%s); "+
				"exit qualification %s: %s.", x.GPA, exitWhat(x), hex(q), DecodeEPTQualification(q))})
	}
	return m.vmxHandleEPTViolation(v, x.GPA, q)
}

// vmxHandleEPTViolation is __vmx_handle_ept_violation: derive a page-fault
// error code from the exit qualification (a read is PFERR_USER, as EPT's
// R is KVM's "user" bit; present if the EPT entries allowed anything) and
// call kvm_mmu_page_fault. 6.16 tests "GVA valid" in the error code it is
// building instead of the qualification, so PFERR_GUEST_FINAL/PAGE are
// never set there; TDPConfig.GVAValidFix runs the fixed version.
func (m *Machine) vmxHandleEPTViolation(v *VCPU, gpa GPA, q uint64) retPF {
	fix := m.tdp.cfg.GVAValidFix
	ec := eptViolationErrorCode(q, fix)
	if !m.Quiet {
		note := "6.16 tests bit 7 (GVA valid) in the error code it is building rather than in the exit qualification, " +
			"so neither PFERR_GUEST_FINAL nor PFERR_GUEST_PAGE is set (d0164c161923, in 6.18-rc5, fixes the test)"
		if fix {
			note = "with the fix d0164c161923 bit 7 of the exit qualification is tested, so bit 8 picks " +
				"PFERR_GUEST_FINAL or PFERR_GUEST_PAGE"
		}
		present := "no P: the EPT entries allowed nothing"
		if ec&PFErrPresent != 0 {
			present = "P: the EPT entries allowed something, so this is a protection violation"
		}
		m.emit(Event{Kind: EvCheck, MMU: "root_mmu", Func: "__vmx_handle_ept_violation", Space: SpaceGPA,
			Addr: uint64(gpa), Old: q, New: ec, VCPU: v.ID,
			Text: fmt.Sprintf("__vmx_handle_ept_violation: error code %s = %s (a read becomes PFERR_USER, as EPT's R is "+
				"KVM's user bit; a write PFERR_WRITE, a fetch PFERR_FETCH; %s). %s.", hex(ec), DecodeNPFErrorCode(ec),
				present, note)})
	}
	return m.kvmMMUPageFault(v, gpa, ec)
}

// eptViolationErrorCode is the error code __vmx_handle_ept_violation
// derives from an exit qualification; fix selects d0164c161923.
func eptViolationErrorCode(q uint64, fix bool) uint64 {
	var ec uint64
	if q&EPTViolationAccRead != 0 {
		ec |= PFErrUser
	}
	if q&EPTViolationAccWrite != 0 {
		ec |= PFErrWrite
	}
	if q&EPTViolationAccInstr != 0 {
		ec |= PFErrFetch
	}
	if q&(EPTViolationProtRead|EPTViolationProtWrite|EPTViolationProtExec) != 0 {
		ec |= PFErrPresent
	}
	gvaValid := ec&EPTViolationGVAIsValid != 0 // as 6.16 writes it: never true
	if fix {
		gvaValid = q&EPTViolationGVAIsValid != 0
	}
	if gvaValid {
		if q&EPTViolationGVATranslated != 0 {
			ec |= PFErrGuestFinal
		} else {
			ec |= PFErrGuestPage
		}
	}
	return ec
}

// handleEPTMisconfig is handle_ept_misconfig: no fast-MMIO handler
// (ioeventfd) is modelled at the GPA, so kvm_mmu_page_fault runs with
// PFERR_RSVD_MASK, which handle_mmio_page_fault checks first.
func (m *Machine) handleEPTMisconfig(v *VCPU, x *TDPExit) retPF {
	if !m.Quiet {
		m.emit(Event{Kind: EvExit, MMU: "root_mmu", Func: "handle_ept_misconfig", Space: SpaceGPA, Addr: uint64(x.GPA),
			VCPU: v.ID, GVA: x.GVA,
			Text: fmt.Sprintf("VM exit (EXIT_REASON_EPT_MISCONFIG): KVM's handle_ept_misconfig runs for GPA %s (%s): %s. "+
				"No fast MMIO handler is registered there (kvm_io_bus_write fails), so it calls kvm_mmu_page_fault "+
				"with PFERR_RSVD_MASK.", x.GPA, exitWhat(x), x.Why)})
	}
	return m.kvmMMUPageFault(v, x.GPA, PFErrRsvd)
}
