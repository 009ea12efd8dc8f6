package mmu

import (
	"fmt"
	"strings"
)

// Nested EPT (vmx/nested.c): L1 runs L2 with VMLAUNCH/VMRESUME and gives it
// EPT12, rooted at vmcs12's EPT pointer. KVM shadows EPT12 with EPT02
// (guest_mmu's guest_mode shadow pages, same depth as EPT12, so no special
// or passthrough roots); the processor walks L2's tables through EPT02. An
// EPT02 miss always exits to L0 (nested_vmx_l0_wants_exit), which walks
// EPT12 in software: missing or insufficient there, the EPT violation or
// misconfiguration is reflected to L1 (nested_ept_inject_page_fault);
// otherwise EPT02 is filled and L2 never knows.

func init() {
	nestedVendors[NestedVMX] = &nestedVendor{tdp: TDPEPT, entry: nestedVMXRun, exit: nestedVMXReflectVMExit,
		l2Exit: nestedVMXL2Exit, injectFault: nestedEPTInjectPageFault, gvaToGPA: nestedEPTGVAToGPA}
}

// VMX exit reasons the model uses.
const (
	vmxExitEPTViolation = "EXIT_REASON_EPT_VIOLATION"
	vmxExitEPTMisconfig = "EXIT_REASON_EPT_MISCONFIG"
)

// vmxGuestMMUConstants are the guest_mmu callbacks nested_ept_init_mmu_context
// sets on every VM-entry upstream; seed 000 sets get_guest_pgd and
// inject_page_fault once (nested_ept_init_mmu_constants) and drops
// get_pdptr, which EPT has no use for.
var vmxGuestMMUConstants = map[string]string{"get_guest_pgd": "nested_ept_get_eptp",
	"inject_page_fault": "nested_ept_inject_page_fault", "get_pdptr": "kvm_pdptr_read"}

// nestedEPTCaps is what nested_vmx_setup_ctls_msrs offers L1 in its EPT
// capabilities: execute-only and A/D bits as the host has them, 5-level
// EPT if the host walks 5 levels, and 1 GiB pages when the CPU has them
// (ept_caps_to_lpage_level reads that back as the largest page level).
func (m *Machine) nestedEPTCaps() EPTCaps {
	c := m.tdp.cfg
	lpage := 2
	if m.Config.GBPages {
		lpage = 3
	}
	return EPTCaps{ExecOnly: c.ExecOnly, LargePageLevel: lpage, AD: c.AD, FiveLevel: c.Levels >= 5}
}

// nestedEPTGetEPTP is nested_ept_get_eptp, guest_mmu's get_guest_pgd:
// vmcs12's EPT pointer.
func nestedEPTGetEPTP(v *VCPU) uint64 { return v.Nested.NCR3 }

// nestedEPTGVAToGPA is ept_gva_to_gpa over EPT12 for the L2 GPA addr: the
// walker's GPA is the L1 GPA, its Fault an EPT violation or
// misconfiguration for L1.
func nestedEPTGVAToGPA(m *Machine, v *VCPU, addr GPA, access uint64) *GuestWalker {
	return m.eptWalkAddrGeneric(v, &v.GuestMMU, nestedEPTGetEPTP(v), addr, access, 0)
}

// nestedVMXRun is nested_vmx_run: L1's VMLAUNCH/VMRESUME exits to KVM,
// which checks vmcs12's controls (nested_vmx_check_controls, with
// nested_vmx_check_eptp), keeps L1's state in vmcs01 and enters L2
// (nested_vmx_enter_non_root_mode).
func nestedVMXRun(m *Machine, v *VCPU) string {
	n := &v.Nested
	if !m.Quiet {
		l2 := n.L2
		launch := "VMLAUNCH" // the first entry; vmcs12 is launched after it
		if n.Entries > 0 {
			launch = "VMRESUME"
		}
		m.emit(Event{Kind: EvBegin, MMU: v.ArchMMU().Name, Func: "nested_vmx_run", VCPU: v.ID,
			Text: fmt.Sprintf("L1 executes %s, which exits to L0: KVM emulates it (nested_vmx_run). L1's VMCS, "+
				"vmcs12, holds L2's guest state (CR0 %s, CR3 %s, CR4 %s, EFER %s: %s) and the EPT pointer %s: EPT12, "+
				"the EPT L1 built for L2, %d levels at L1 GPA %s.", launch, hex(l2.CR0), hex(l2.CR3), hex(l2.CR4), hex(l2.EFER),
				l2.Mode(), hex(n.NCR3), eptpPageWalkLevel(n.NCR3), eptpRoot(n.NCR3))})
	}
	if why := nestedVMXCheckEPTP(n.NCR3, m.nestedEPTCaps(), m.Config.MaxPhyAddr); why != "" {
		m.emitNested(v, EvFault, "nested_vmx_check_controls", fmt.Sprintf("nested_vmx_check_eptp refuses vmcs12's "+
			"EPT pointer %s: %s. The VM-entry fails with VMfailValid (nested_vmx_failValid, "+
			"VMXERR_ENTRY_INVALID_CONTROL_FIELD): L1 continues after its VMLAUNCH and L2 never runs.", hex(n.NCR3), why))
		return "VM-entry failed: " + why
	}
	n.L1, n.L1PDPTRs = v.Regs, v.PDPTRs
	m.emitNested(v, EvSet, "nested_vmx_enter_non_root_mode", fmt.Sprintf("vmcs01 keeps L1's state (CR0 %s, CR3 %s, "+
		"CR4 %s, EFER %s) while L2 runs on vmcs02, the VMCS KVM builds from vmcs12 (prepare_vmcs02).",
		hex(v.Regs.CR0), hex(v.Regs.CR3), hex(v.Regs.CR4), hex(v.Regs.EFER)))
	m.enterGuestMode(v)
	m.nestedVMXTransitionTLBFlush(v, true)
	n.NestedPGD = n.NCR3
	m.nestedEPTInitMMUContext(v)
	l1 := v.Regs
	v.Regs = n.L2
	m.emitNested(v, EvSet, "prepare_vmcs02", fmt.Sprintf("vmx_set_cr0, vmx_set_cr4 and vmx_set_efer load L2's CR0 %s, "+
		"CR4 %s and EFER %s (L1's were %s, %s, %s); these do not reset the MMU.", hex(n.L2.CR0), hex(n.L2.CR4),
		hex(n.L2.EFER), hex(l1.CR0), hex(l1.CR4), hex(l1.EFER)))
	m.emitNested(v, EvSet, "nested_vmx_load_cr3", fmt.Sprintf("CR3 = %s, L2's. With nested EPT, L2's CR3 is an L2 GPA "+
		"that only the processor's walk and nested_mmu use, so kvm_mmu_new_pgd is not called for it. kvm_init_mmu "+
		"follows: walk_mmu is nested_mmu, so it configures nested_mmu (init_kvm_nested_mmu).", hex(n.L2.CR3)))
	m.kvmInitMMU(v)
	m.loadNestedPDPTRs(v)
	return ""
}

// nestedEPTInitMMUContext is nested_ept_init_mmu_context: arch.mmu =
// guest_mmu, configured by nested_ept_new_eptp (kvm_init_shadow_ept_mmu
// with L1's EPT capabilities and EPTP12, ending in kvm_mmu_new_pgd), then
// the vendor callbacks (upstream) and walk_mmu = nested_mmu.
func (m *Machine) nestedEPTInitMMUContext(v *VCPU) {
	m.switchArchMMU(v, GuestMMUID, "nested_ept_init_mmu_context")
	m.kvmInitShadowEPTMMU(v, m.nestedEPTCaps(), nestedEPTGetEPTP(v))
	if m.Opts.Callbacks == CallbacksUpstream {
		set := m.setCallbacks(v, &v.GuestMMU, nil, vmxGuestMMUConstants)
		m.emitNested(v, EvSet, "nested_ept_init_mmu_context", fmt.Sprintf("guest_mmu's %s: assigned on every "+
			"VM-entry in 6.16 (seed 000 would set the first two once, at vCPU creation, and drop get_pdptr).",
			strings.Join(set, ", ")))
	}
	m.switchWalkMMU(v, NestedMMUID, "nested_ept_init_mmu_context")
}

// kvmInitShadowEPTMMU is kvm_init_shadow_ept_mmu: reconfigure guest_mmu
// if the EPT role changed, then kvm_mmu_new_pgd(EPTP12) on it.
func (m *Machine) kvmInitShadowEPTMMU(v *VCPU, caps EPTCaps, eptp uint64) {
	if m.tdp != nil {
		// KVM's SPTE format is global: EPT02's entries use the EPT masks
		// kvm_mmu_set_ept_masks chose for EPT01.
		m.shadow.masks = m.tdp.masks
	}
	m.initShadowEPTContext(v, caps, eptp)
	m.kvmMMUNewPGD(v, eptp)
}

// nestedVMXTransitionTLBFlush is nested_vmx_transition_tlb_flush for a
// vmcs12 without VPID: KVM_REQ_TLB_FLUSH_GUEST. Under TDP that request
// syncs nothing (kvm_vcpu_flush_tlb_guest syncs roots only without TDP),
// and nested EPT mappings are never synced on VM-entry or VM-exit.
func (m *Machine) nestedVMXTransitionTLBFlush(v *VCPU, entry bool) {
	when := "VM-exit"
	if entry {
		when = "VM-entry"
	}
	m.emitNested(v, EvSet, "nested_vmx_transition_tlb_flush", fmt.Sprintf("vmcs12 does not enable VPID, so L1 expects "+
		"the %s to flush its TLB: KVM_REQ_TLB_FLUSH_GUEST. With TDP, kvm_vcpu_flush_tlb_guest only flushes the "+
		"hardware TLB; EPT02 is not resynced, since L1 cannot rely on VM-entry or VM-exit to flush EPT mappings "+
		"(it must use INVEPT).", when))
}

// nestedVMXReflectVMExit is nested_vmx_reflect_vmexit for an exit L1
// intercepts (VMCALL, HLT, CPUID...): nested_vmx_vmexit with that reason.
func nestedVMXReflectVMExit(m *Machine, v *VCPU, info NestedExitInfo) {
	m.nestedVMXVMExit(v, info)
}

// nestedVMXVMExit is nested_vmx_vmexit: leave guest mode, write L2's state
// and the exit information into vmcs12 (sync_vmcs02_to_vmcs12,
// prepare_vmcs12), switch to vmcs01, and load L1's host state from vmcs12
// (load_vmcs12_host_state): L1's CR0/CR4/EFER, the MMUs back at root_mmu
// (nested_ept_uninit_mmu_context) and L1's CR3 (nested_vmx_load_cr3,
// which finds root_mmu's TDP root still loaded). For VMX, Info1 is the
// exit qualification and Info2 the guest-physical address field.
func (m *Machine) nestedVMXVMExit(v *VCPU, info NestedExitInfo) {
	n := &v.Nested
	text := fmt.Sprintf("KVM emulates a VM exit to L1: vmcs12 receives exit reason %s and exit qualification %s",
		info.Code, hex(info.Info1))
	if info.Code == vmxExitEPTViolation || info.Code == vmxExitEPTMisconfig {
		text += fmt.Sprintf(", guest-physical address %s", GPA(info.Info2))
	}
	m.emitNested(v, EvExit, "nested_vmx_vmexit", fmt.Sprintf("%s, and L2's registers (CR3 %s) "+
		"(sync_vmcs02_to_vmcs12, prepare_vmcs12).", text, hex(v.Regs.CR3)))
	m.leaveGuestMode(v)
	n.L2, n.Reflected = v.Regs, info
	n.Exits++
	v.Regs = n.L1
	m.emitNested(v, EvSet, "load_vmcs12_host_state", fmt.Sprintf("vmx_switch_vmcs makes vmcs01 current again; "+
		"vmx_set_efer, vmx_set_cr0 and vmx_set_cr4 load L1's EFER %s, CR0 %s and CR4 %s from vmcs12's host-state "+
		"fields.", hex(v.Regs.EFER), hex(v.Regs.CR0), hex(v.Regs.CR4)))
	m.nestedUninitMMUContext(v, "nested_ept_uninit_mmu_context")
	m.nestedVMXLoadL1CR3(v)
	m.nestedVMXTransitionTLBFlush(v, false)
	if err := m.nestedEnterL1(v); err != nil {
		m.emitKVMError(v, "kvm_mmu_reload", err)
	}
}

// nestedVMXLoadL1CR3 is nested_vmx_load_cr3 for vmcs12's host CR3 on
// VM-exit: kvm_mmu_new_pgd on root_mmu (direct, so the pgd does not
// matter: its TDP root is kept), PDPTRs for a PAE L1, and kvm_init_mmu for
// root_mmu, whose roles did not change.
func (m *Machine) nestedVMXLoadL1CR3(v *VCPU) {
	cr3 := v.Regs.CR3
	if !m.Quiet {
		m.emit(Event{Kind: EvCheck, MMU: "root_mmu", Func: "kvm_mmu_new_pgd", Space: SpaceHPA,
			Addr: uint64(v.RootMMU.Root), VCPU: v.ID, Text: fmt.Sprintf("nested_vmx_load_cr3(host CR3 %s) → "+
				"kvm_mmu_new_pgd on root_mmu → fast_pgd_switch: root_mmu is direct (EPT01), so is_root_usable ignores "+
				"the pgd and the role is unchanged: the current root at HPA %s, L1's EPT01 root, is kept. It stayed "+
				"root_mmu's current root all the while L2 ran; nothing moved into prev_roots.", hex(cr3),
				v.RootMMU.Root)})
	}
	v.PDPTRs = v.Nested.L1PDPTRs
	if v.Regs.Mode() == PagingPAE {
		if ok, _ := m.loadPDPTRs(v, cr3); !ok {
			v.PDPTRs = v.Nested.L1PDPTRs
		}
	}
	m.kvmInitMMU(v)
}

// nestedVMXL2Exit handles the exit that ended the processor's walk of L2
// through EPT02. nested_vmx_reflect_vmexit asks nested_vmx_l0_wants_exit
// first, which keeps every EPT violation and misconfiguration for L0: L2
// runs on EPT02, KVM's shadow, and only L0 knows whether EPT12 has the
// mapping. handle_ept_violation then calls kvm_mmu_page_fault with
// arch.mmu = guest_mmu.
func nestedVMXL2Exit(m *Machine, v *VCPU, x *TDPExit) retPF {
	code := vmxExitEPTViolation
	if x.Reason == ExitEPTMisconfig {
		code = vmxExitEPTMisconfig
	}
	v.Nested.HWExit = NestedExitInfo{Code: code, Info1: x.Qualification, Info2: uint64(x.GPA)}
	if !m.Quiet {
		q := x.Qualification
		text := fmt.Sprintf("The VM exit from L2 (%s) reaches L0. nested_vmx_reflect_vmexit asks "+
			"nested_vmx_l0_wants_exit, which keeps every %s for L0: the walk missed in EPT02, KVM's shadow, and "+
			"only L0 can tell whether L1's EPT12 has the mapping.", code, code)
		if x.Reason == ExitEPTViolation {
			text += fmt.Sprintf(" handle_ept_violation: guest-physical address %s (%s); exit qualification %s: %s.",
				x.GPA, exitWhat(x), hex(q), DecodeEPTQualification(q))
		}
		m.emit(Event{Kind: EvExit, MMU: "guest_mmu", Func: "nested_vmx_l0_wants_exit", Space: SpaceGPA,
			Addr: uint64(x.GPA), Old: q, New: q, VCPU: v.ID, GVA: x.GVA, Text: text})
	}
	if x.Reason == ExitEPTMisconfig {
		m.emitNested(v, EvCheck, "handle_ept_misconfig", fmt.Sprintf("EPT02 holds a misconfigured entry for L2 GPA "+
			"%s (an MMIO SPTE): kvm_mmu_page_fault with PFERR_RSVD_MASK.", x.GPA))
		return m.kvmMMUPageFaultGuestMMU(v, x.GPA, PFErrRsvd)
	}
	ec := eptViolationErrorCode(x.Qualification, m.tdp.cfg.GVAValidFix)
	m.emitNested(v, EvCheck, "__vmx_handle_ept_violation", fmt.Sprintf("error code %s = %s: a read is PFERR_USER, a "+
		"write PFERR_WRITE, a fetch PFERR_FETCH; P if the EPT02 entries allowed anything. This is the access "+
		"KVM will check against EPT12.", hex(ec), DecodeNPFErrorCode(ec)))
	return m.kvmMMUPageFaultGuestMMU(v, x.GPA, ec)
}

// nestedEPTInjectPageFault is nested_ept_inject_page_fault, guest_mmu's
// inject_page_fault: EPT12 refused the L2 GPA addr. A reserved-bit fault
// becomes EXIT_REASON_EPT_MISCONFIG with qualification 0; otherwise an
// EPT violation whose qualification is the walker's (bits 5:0) plus bits
// 7 and 8 of the exit KVM is handling (vmx_get_exit_qual). The address is
// resynced in guest_mmu's cached roots that share EPTP12's tables
// (nested_ept_invalidate_addr); then nested_vmx_vmexit, and vmcs12's
// guest-physical address is set to addr.
func nestedEPTInjectPageFault(m *Machine, v *VCPU, f *Fault, addr GPA) {
	hw := v.Nested.HWExit
	info := NestedExitInfo{Code: vmxExitEPTMisconfig, Info2: uint64(addr)}
	how := "a reserved bit or a bad memory type in EPT12: the exit is EXIT_REASON_EPT_MISCONFIG, with no qualification"
	if f.ErrorCode&PFErrRsvd == 0 {
		var walked uint64
		if f.Exit != nil {
			walked = f.Exit.Qualification
		}
		keep := hw.Info1 & (EPTViolationGVAIsValid | EPTViolationGVATranslated)
		info.Code, info.Info1 = vmxExitEPTViolation, walked|keep
		how = fmt.Sprintf("the exit is EXIT_REASON_EPT_VIOLATION; its qualification is the walk's %s (the access, "+
			"and R/W/X ANDed over the EPT12 entries read) plus bits 8:7 = %s of the exit being handled "+
			"(vmx_get_exit_qual): %s = %s", hex(walked), hex(keep>>7), hex(info.Info1), DecodeEPTQualification(info.Info1))
		m.nestedEPTInvalidateAddr(v, addr)
	}
	if !m.Quiet {
		m.emit(Event{Kind: EvFault, MMU: "guest_mmu", Func: "nested_ept_inject_page_fault", Space: SpaceGPA,
			Addr: uint64(addr), Old: info.Info1, New: info.Info1, VCPU: v.ID,
			Text: fmt.Sprintf("nested_ept_inject_page_fault: L1's own EPT12 does not allow the access (%s), so the "+
				"exit is L1's: %s. L1 will see it as if its own EPT had faulted, with guest-physical address %s.",
				f.Reason, how, addr)})
	}
	m.nestedVMXVMExit(v, info)
}

// nestedEPTInvalidateAddr is nested_ept_invalidate_addr: the processor
// tags EPT mappings with the EP4TA (EPTP bits 51:12), so cached EPT02
// roots for the same EPT12 tables must forget the address too
// (kvm_mmu_invalidate_addr on each matching prev_roots entry).
func (m *Machine) nestedEPTInvalidateAddr(v *VCPU, addr GPA) {
	mmu := &v.GuestMMU
	eptp := nestedEPTGetEPTP(v)
	var match []int
	for i, r := range mmu.PrevRoots {
		if r.Valid && nestedEPTRootMatches(r.PGD, eptp) {
			match = append(match, i)
		}
	}
	if !m.Quiet {
		text := fmt.Sprintf("nested_ept_invalidate_addr: no cached root of guest_mmu shares EPTP12's tables (EP4TA "+
			"%s), so there is nothing more to resync for L2 GPA %s.", eptpRoot(eptp), addr)
		if len(match) > 0 {
			text = fmt.Sprintf("nested_ept_invalidate_addr: prev_roots %v of guest_mmu use the same EPT12 tables "+
				"(EP4TA %s, nested_ept_root_matches): kvm_mmu_invalidate_addr resyncs L2 GPA %s in them too.", match,
				eptpRoot(eptp), addr)
		}
		m.emit(Event{Kind: EvCheck, MMU: "guest_mmu", Func: "nested_ept_invalidate_addr", Space: SpaceGPA,
			Addr: uint64(addr), VCPU: v.ID, Text: text})
	}
	for _, i := range match {
		m.kvmMMUInvalidateRoot(v, mmu.PrevRoots[i].HPA, GVA(addr))
	}
}

// nestedEPTRootMatches is nested_ept_root_matches: the same EP4TA.
func nestedEPTRootMatches(pgd, eptp uint64) bool {
	return pgd&eptAddrMask == eptp&eptAddrMask
}

// vmxNestedWords turns a sentence about nested NPT into one about nested
// EPT: the tables' names, the exit L1's store takes, and what resyncs an
// unsync EPT02 page (L1's INVEPT frees the root and kvm_mmu_load syncs it
// when it is rebuilt; a nested VM-entry raises no KVM_REQ_MMU_SYNC here).
var vmxNestedWords = strings.NewReplacer(
	"NPT12", "EPT12", "NPT02", "EPT02", "(#NPF,", "(an EPT violation,",
	"until the KVM_REQ_MMU_SYNC of the next nested VM-entry resyncs those pages",
	"until L1's INVEPT makes KVM rebuild the EPT02 root, which kvm_mmu_load syncs (a nested VM-entry does not "+
		"resync nested EPT)",
	"(KVM_REQ_MMU_SYNC, raised by every nested VM-entry)",
	"(after L1's INVEPT, when kvm_mmu_load rebuilds the root; a nested VM-entry raises no KVM_REQ_MMU_SYNC for "+
		"nested EPT)")

// nestedText says s in v's vendor's words.
func nestedText(v *VCPU, s string) string {
	if v != nil && v.Nested.Kind == NestedVMX {
		return vmxNestedWords.Replace(s)
	}
	return s
}
