package mmu

import "fmt"

// npfInterception is npf_interception: the #NPF's EXITINFO1 is already a
// page-fault error code (with PFERR_GUEST_FINAL or PFERR_GUEST_PAGE set by
// the hardware) and EXITINFO2 the GPA; both go to kvm_mmu_page_fault.
func (m *Machine) npfInterception(v *VCPU, x *TDPExit) retPF {
	ec := x.ErrorCode
	if !m.Quiet {
		m.emit(Event{Kind: EvExit, MMU: "root_mmu", Func: "npf_interception", Space: SpaceGPA, Addr: uint64(x.GPA),
			Old: ec, New: ec, VCPU: v.ID, GVA: x.GVA,
			Text: fmt.Sprintf("VM exit (SVM_EXIT_NPF): KVM's npf_interception runs. EXITINFO2 = GPA %s (%s); EXITINFO1 = "+
				"error code %s = %s (U is always set: NPT treats every guest access as a user access).",
				x.GPA, exitWhat(x), hex(ec), DecodeNPFErrorCode(ec))})
	}
	return m.kvmMMUPageFault(v, x.GPA, ec)
}
