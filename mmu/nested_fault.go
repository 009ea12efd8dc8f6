package mmu

import "fmt"

// Faults while L2 runs on nested TDP. The processor walks L2's tables with
// EPT02/NPT02 (guest_mmu's shadow) as its nested table; a miss there exits
// to L0, and kvm_mmu_page_fault runs with arch.mmu = guest_mmu: an
// indirect MMU, so FNAME(page_fault) walks L1's EPT12/NPT12 in software.
// If L1's table lacks the mapping or the right, guest_mmu's
// inject_page_fault reflects the fault to L1 as a VM-exit; otherwise
// FNAME(fetch) builds the missing guest_mode shadow pages and the leaf.

// kvmMMUPageFaultGuestMMU is kvm_mmu_page_fault with arch.mmu = guest_mmu:
// a reserved-bit fault is first tried as MMIO (handle_mmio_page_fault on
// the shadow tables), otherwise kvm_mmu_do_page_fault calls guest_mmu's
// page_fault, FNAME(page_fault) for L1's table format. The error code's
// write, user and fetch bits are the access KVM checks; with NPT the user
// bit is always set.
func (m *Machine) kvmMMUPageFaultGuestMMU(v *VCPU, gpa GPA, ec uint64) retPF {
	mmu := v.ArchMMU()
	if !m.Quiet {
		m.emit(Event{Kind: EvCheck, MMU: mmu.Name, Func: "kvm_mmu_page_fault", Space: SpaceGPA, Addr: uint64(gpa),
			Old: ec, New: ec, VCPU: v.ID,
			Text: fmt.Sprintf("kvm_mmu_page_fault(L2 GPA %s, error code %s): arch.mmu is guest_mmu, an indirect MMU "+
				"(root_role.direct=0): the address is one L1's nested table must translate first, and "+
				"kvm_mmu_do_page_fault calls guest_mmu's page_fault callback, %s.", gpa, hex(ec), mmu.Callbacks.PageFault)})
	}
	if ec&PFErrRsvd != 0 {
		if r := m.handleMMIOPageFaultShadow(v, GVA(gpa)); r == retPFEmulate || r == retPFError {
			return r
		}
	}
	acc := ec & (PFErrWrite | PFErrUser | PFErrFetch)
	r, _, _ := m.fnamePageFault(v, GVA(gpa), ec, acc)
	if r == retPFWriteProtected {
		r = m.kvmMMUWriteProtectFault(v, GVA(gpa))
	}
	return r
}

// nestedTranslator is kvm_translate_gpa for nested_mmu's walks:
// translate_nested_gpa asks guest_mmu's gva_to_gpa to walk L1's nested
// table for each L2 GPA (always as a user access), and the memslots give
// the host address of the L1 GPA. A failure of that inner walk is a
// nested page fault, kept in fault.
type nestedTranslator struct {
	v     *VCPU
	fault *Fault
	addr  GPA // the L2 GPA whose translation failed
}

// TranslateGPA implements Translator. For a table, walk_addr_generic
// translates the table's page (gfn_to_gpa(table_gfn)), so a fault names
// the page; the entry's offset is added back to the host address.
func (t *nestedTranslator) TranslateGPA(m *Machine, gpa GPA, access uint64, level int) (HPA, bool, *Fault) {
	v := t.v
	off := HPA(0)
	if level > 0 {
		gpa, off = gpa&^pageMask, HPA(gpa&pageMask)
	}
	if !m.Quiet {
		m.emit(Event{Kind: EvCheck, MMU: "nested_mmu", Func: "translate_nested_gpa", Space: SpaceGPA,
			Addr: uint64(gpa), VCPU: v.ID,
			Text: fmt.Sprintf("translate_nested_gpa: L2 GPA %s is not an address KVM can read; guest_mmu's gva_to_gpa "+
				"(%s) translates it through L1's nested table, as a user access (PFERR_USER_MASK added).", gpa,
				v.GuestMMU.Callbacks.GVAToGPA)})
	}
	w := m.guestMMUWalk(v, &v.GuestMMU, GVA(gpa), access|PFErrUser)
	if w.Fault != nil {
		t.fault, t.addr = w.Fault, gpa
		return 0, false, w.Fault
	}
	return w.HPA + off, w.Mapped, nil
}

// NestedGVAToGPA is KVM walking the running guest's page tables in
// software, as its emulator does (kvm_mmu_gva_to_gpa_read/_write →
// walk_mmu->gva_to_gpa). While L2 runs on nested TDP, walk_mmu is
// nested_mmu: every L2 GPA on the way goes through translate_nested_gpa.
type NestedGVAToGPA struct {
	Source
	VCPU  int
	GVA   GVA
	Write bool
	User  bool
}

func (a *NestedGVAToGPA) do(m *Machine) (Result, error) {
	v, err := m.VCPU(a.VCPU)
	if err != nil {
		return Result{}, err
	}
	mmu := v.WalkMMU()
	mode := PagingMode(mmu.CPURole.Base.Level())
	gp, err := checkGVA(mode, a.GVA)
	if err != nil {
		return Result{}, err
	}
	acc := uint64(0)
	fn := "kvm_mmu_gva_to_gpa_read"
	if a.Write {
		acc, fn = PFErrWrite, "kvm_mmu_gva_to_gpa_write"
	}
	if a.User {
		acc |= PFErrUser
	}
	if !m.Quiet {
		m.emit(Event{Kind: EvBegin, MMU: mmu.Name, Func: fn, Space: SpaceGVA, Addr: uint64(a.GVA), VCPU: v.ID,
			GVA: a.GVA, Text: fmt.Sprintf("%s: KVM's emulator needs the GPA behind GVA %s, so walk_mmu (%s) walks "+
				"the guest's tables in software with its gva_to_gpa, %s.", fn, a.GVA, mmu.Name, mmu.Callbacks.GVAToGPA)})
	}
	if gp != nil {
		return Result{Fault: gp, HasRefs: true}, nil
	}
	var tr Translator = SlotTranslator{}
	nt := &nestedTranslator{v: v}
	if mmu == &v.NestedMMU {
		tr = nt
		// The emulator runs after some other exit from L2: vmcb02 does
		// not hold an #NPF (nested_svm_inject_npf_exit then builds one).
		v.Nested.HWExit = NestedExitInfo{}
	}
	w := m.walkAddrGeneric(v, mmu, a.GVA, acc, tr)
	res := Result{HasRefs: true, Refs: w.Refs}
	switch {
	case nt.fault != nil:
		res.Fault = nt.fault
		res.Note = "a nested page fault: L1's nested table does not translate an L2 GPA of the walk"
		m.kvmInjectEmulatedPageFault(v, &v.GuestMMU, GVA(nt.addr), nt.fault)
	case w.Fault != nil:
		res.Fault = w.Fault
		res.Note = "the guest's own tables fault: the emulator would inject #PF into the guest"
	default:
		res.OK, res.HasGPA, res.GPA, res.HasHPA, res.HPA = true, true, w.GPA, w.Mapped, w.HPA
		if !m.Quiet {
			m.emit(Event{Kind: EvResult, MMU: mmu.Name, Func: fn, Space: SpaceGPA, Addr: uint64(w.GPA), VCPU: v.ID,
				GVA: a.GVA, HPA: w.HPA, HasHPA: w.Mapped, Text: fmt.Sprintf("GVA %s → GPA %s → HPA %s in software; %s "+
					"(the inner walks of L1's nested table included).", a.GVA, w.GPA, w.HPA, refsString(w.Refs))})
		}
	}
	return res, nil
}

// handleL2OrTDPExit runs KVM's handler for the exit a two-dimensional
// walk ended with: while L2 runs, the vendor's nested handler (the exit
// reaches L0 first, with arch.mmu = guest_mmu); otherwise handleTDPExit.
func (m *Machine) handleL2OrTDPExit(v *VCPU, x *TDPExit) retPF {
	if v.GuestMode && v.vendor() != nil {
		return v.vendor().l2Exit(m, v, x)
	}
	return m.handleTDPExit(v, x)
}

// reflectedResult is the outcome of an L2 access whose fault KVM
// reflected to L1: the access did not complete; the vCPU now runs L1,
// which received the VM-exit with its exit information.
func (m *Machine) reflectedResult(v *VCPU, w *GuestWalker, total, try int) Result {
	info := v.Nested.Reflected
	reason := w.Fault.Exit.Reason
	x := &TDPExit{Reason: reason, GPA: GPA(info.Info2), GVA: w.GVA, ErrorCode: info.Info1, Qualification: info.Info1,
		Final: info.Info1&PFErrGuestFinal != 0, Why: "L1's nested table does not allow it"}
	if v.Nested.Kind == NestedVMX { // Info1 is the exit qualification
		x.Reason, x.ErrorCode = ExitEPTViolation, 0
		if info.Code == vmxExitEPTMisconfig {
			x.Reason = ExitEPTMisconfig
		}
		x.Final, reason = info.Info1&EPTViolationGVATranslated != 0, x.Reason
	}
	res := Result{HasRefs: true, Refs: w.Refs,
		Fault: &Fault{Vector: reason, ErrorCode: info.Info1, Addr: w.GVA, Reason: x.Why, Exit: x},
		Note: fmt.Sprintf("reflected to L1 as %s: exit_info_1 %s, exit_info_2 %s; the vCPU runs L1 now", info.Code,
			hex(info.Info1), hex(info.Info2))}
	if v.Nested.Kind == NestedVMX {
		res.Note = fmt.Sprintf("reflected to L1 as %s: exit qualification %s, guest-physical address %s; the vCPU "+
			"runs L1 now", info.Code, hex(info.Info1), GPA(info.Info2))
	}
	setRefsTotal(&res, total, try)
	return res
}
