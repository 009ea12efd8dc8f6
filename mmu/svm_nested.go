package mmu

import (
	"fmt"
	"strings"
)

// Nested NPT (svm/nested.c and mmu.c's kvm_init_shadow_npt_mmu): L1 runs
// L2 with VMRUN and gives it a nested page table, NPT12, whose format is
// L1's own paging mode (32-bit, PAE or 64-bit), rooted at vmcb12's
// nested_cr3. KVM shadows it with NPT02 at the host's NPT depth (4 or 5
// levels): a 32-bit or PAE NPT12 needs the special roots above pae_root,
// a 4-level NPT12 on a 5-level host a passthrough root.

func init() {
	nestedVendors[NestedSVM] = &nestedVendor{tdp: TDPNPT, entry: nestedSVMVMRun, exit: nestedSVMVMExit,
		l2Exit: nestedSVML2Exit, injectFault: nestedSVMInjectNPFExit, gvaToGPA: nestedSVMGVAToGPA}
}

// nestedSVMGVAToGPA is guest_mmu's gva_to_gpa for NPT12: paging32_gva_to_gpa
// or paging64_gva_to_gpa (FNAME(walk_addr_generic) in L1's format) from
// nested_cr3, reading L1 memory through the memslots.
func nestedSVMGVAToGPA(m *Machine, v *VCPU, addr GPA, access uint64) *GuestWalker {
	return m.walkAddrGeneric(v, &v.GuestMMU, GVA(addr), access, SlotTranslator{})
}

// SVM exit codes the model uses.
const (
	svmExitNPF = "SVM_EXIT_NPF"
)

// svmGuestMMUConstants are the guest_mmu callbacks nested_svm_init_mmu_context
// sets on every VMRUN upstream (seed 000 sets them once:
// nested_svm_init_mmu_constants).
var svmGuestMMUConstants = map[string]string{"get_guest_pgd": "nested_svm_get_tdp_cr3",
	"get_pdptr": "nested_svm_get_tdp_pdptr", "inject_page_fault": "nested_svm_inject_npf_exit"}

// nestedSVMVMRun is nested_svm_vmrun: L1's VMRUN exits to KVM, which reads
// vmcb12 (L2's save area, the nested_cr3 of its control area), keeps L1's
// state in vmcb01's save area and enters L2 (enter_svm_guest_mode).
func nestedSVMVMRun(m *Machine, v *VCPU) string {
	n := &v.Nested
	if !m.Quiet {
		l2 := n.L2
		m.emit(Event{Kind: EvBegin, MMU: v.ArchMMU().Name, Func: "nested_svm_vmrun", VCPU: v.ID,
			Text: fmt.Sprintf("L1 executes VMRUN, which exits to L0: KVM emulates it (nested_svm_vmrun). L1's VMCB, "+
				"vmcb12, holds L2's state (CR0 %s, CR3 %s, CR4 %s, EFER %s: %s) and, in its control area, "+
				"nested_cr3 = %s: the L1 GPA of NPT12, the nested page table L1 built for L2.", hex(l2.CR0),
				hex(l2.CR3), hex(l2.CR4), hex(l2.EFER), l2.Mode(), hex(n.NCR3))})
	}
	n.L1, n.L1PDPTRs = v.Regs, v.PDPTRs
	m.emitNested(v, EvSet, "nested_svm_vmrun", fmt.Sprintf("vmcb01 is idle while L2 runs, so its save area keeps L1's "+
		"EFER %s, CR0 %s and CR4 %s (L1's CR3 %s is already there: with NPT the hardware keeps it).", hex(n.L1.EFER),
		hex(n.L1.CR0), hex(n.L1.CR4), hex(n.L1.CR3)))
	m.enterSVMGuestMode(v)
	return ""
}

// enterSVMGuestMode is enter_svm_guest_mode: vmcb02 becomes current;
// nested_vmcb02_prepare_control enters guest mode and sets up the MMUs
// (6.16 enters guest mode first, so that guest_mmu's role has
// guest_mode=1); nested_vmcb02_prepare_save loads L2's EFER, CR0 and CR4;
// nested_svm_load_cr3 loads L2's CR3 and runs kvm_init_mmu, which now
// configures nested_mmu.
func (m *Machine) enterSVMGuestMode(v *VCPU) {
	n := &v.Nested
	m.emitNested(v, EvSet, "enter_svm_guest_mode", "svm_switch_vmcb makes vmcb02, KVM's VMCB for running L2, the "+
		"current one; nested_vmcb02_prepare_control fills its control area.")
	m.nestedTransitionTLBFlush(v)
	m.enterGuestMode(v)
	n.NestedPGD = n.NCR3
	m.nestedSVMInitMMUContext(v)
	l1 := v.Regs
	v.Regs = n.L2
	m.emitNested(v, EvSet, "nested_vmcb02_prepare_save", fmt.Sprintf("svm_set_efer, svm_set_cr0 and svm_set_cr4 "+
		"load L2's EFER %s, CR0 %s and CR4 %s (L1's were %s, %s, %s); these do not reset the MMU.",
		hex(n.L2.EFER), hex(n.L2.CR0), hex(n.L2.CR4), hex(l1.EFER), hex(l1.CR0), hex(l1.CR4)))
	m.emitNested(v, EvSet, "nested_svm_load_cr3", fmt.Sprintf("CR3 = %s, L2's. With nested NPT, L2's CR3 is an "+
		"L2 GPA that only the processor's walk and nested_mmu use: no PDPTRs are loaded and kvm_mmu_new_pgd is "+
		"not called for it. kvm_init_mmu follows: with walk_mmu = nested_mmu, mmu_is_nested is true, so it "+
		"configures nested_mmu (init_kvm_nested_mmu).", hex(n.L2.CR3)))
	m.kvmInitMMU(v)
	m.loadNestedPDPTRs(v)
}

// nestedSVMInitMMUContext is nested_svm_init_mmu_context: arch.mmu =
// guest_mmu, configured for L1's NPT format by kvm_init_shadow_npt_mmu
// from vmcb01's CR4 and EFER (CR0.PG forced, CR0.WP ignored), which ends
// with kvm_mmu_new_pgd(nested_cr3); then walk_mmu = nested_mmu.
func (m *Machine) nestedSVMInitMMUContext(v *VCPU) {
	m.switchArchMMU(v, GuestMMUID, "nested_svm_init_mmu_context")
	l1 := &v.Nested.L1
	m.kvmInitShadowNPTMMU(v, CR0PG, l1.CR4, l1.EFER, v.Nested.NestedPGD)
	if m.Opts.Callbacks == CallbacksUpstream {
		set := m.setCallbacks(v, &v.GuestMMU, nil, svmGuestMMUConstants)
		m.emitNested(v, EvSet, "nested_svm_init_mmu_context", fmt.Sprintf("guest_mmu's %s: assigned on every "+
			"VMRUN in 6.16 (seed 000 would set them once, at vCPU creation).", strings.Join(set, ", ")))
	}
	m.switchWalkMMU(v, NestedMMUID, "nested_svm_init_mmu_context")
}

// kvmInitShadowNPTMMU is kvm_init_shadow_npt_mmu: guest_mmu's CPU role is
// L1's paging mode (the format of NPT12), its root role that role at the
// host's NPT level; shadow_mmu_init_context reconfigures it only if a
// role changed; kvm_mmu_new_pgd then switches guest_mmu to nested_cr3.
func (m *Machine) kvmInitShadowNPTMMU(v *VCPU, cr0, cr4, efer, ncr3 uint64) {
	mmu := &v.GuestMMU
	regs := Regs{CR0: cr0, CR4: cr4 &^ CR4PKE, EFER: efer}
	cpu := calcCPURole(&regs, v.GuestMode)
	root := m.shadowNPTRootRole(cpu)
	m.emitNPTRoles(v, cpu, root)
	if !m.rolesUnchanged(v, mmu, "shadow_mmu_init_context", cpu, root, true) {
		mmu.CPURole, mmu.RootRole = cpu, root
		m.resetGuestPagingMetadata(mmu)
		pf, gva, sync := softmmuCallbacks(PagingMode(cpu.Base.Level()))
		set := m.setCallbacks(v, mmu, map[string]string{"page_fault": pf, "gva_to_gpa": gva, "sync_spte": sync}, nil)
		m.emitRoleChange(v, mmu, "shadow_mmu_init_context", set)
	}
	m.kvmMMUNewPGD(v, ncr3)
}

// shadowNPTRootRole is the root role of kvm_init_shadow_npt_mmu: the CPU
// role at the host's NPT level (kvm_mmu_get_tdp_level), passthrough for a
// 4-level NPT12 under 5 levels. Seed 001's level-expanded design marks the
// levels above L1's with role.glevel instead.
func (m *Machine) shadowNPTRootRole(cpu CPURole) PageRole {
	r := cpu.Base.WithLevel(m.tdp.level)
	if m.shadow.cfg.Variant == ShadowLevelExpanded {
		return r.WithGLevel(cpu.Base.Level())
	}
	if r.Level() == 5 && cpu.Base.Level() == 4 {
		r = r.WithPassthrough(true)
	}
	return r
}

// emitNPTRoles narrates the roles kvm_init_shadow_npt_mmu computes.
func (m *Machine) emitNPTRoles(v *VCPU, cpu CPURole, root PageRole) {
	if m.Quiet {
		return
	}
	mode := PagingMode(cpu.Base.Level())
	text := fmt.Sprintf("kvm_init_shadow_npt_mmu: NPT12 has L1's paging format, from vmcb01's CR4 and EFER with "+
		"CR0.PG forced and CR0.WP ignored: %s. guest_mmu's cpu_role is %s; its root_role takes the host's NPT "+
		"level, %d (kvm_mmu_get_tdp_level): %s.", mode, cpu, root.Level(), roleWord(root))
	switch {
	case root.Passthrough():
		text += " passthrough=1: the 5-level root shadows no table of L1's (its 4-level NPT12 starts one level down)."
	case root.GLevel() != 0 && root.GLevel() < root.Level():
		text += fmt.Sprintf(" Seed 001's design: glevel=%d marks the levels above L1's table as real shadow pages "+
			"that only pass through.", root.GLevel())
	case cpu.Base.Level() < 4:
		text += fmt.Sprintf(" NPT12 has %d levels, the host's %d: KVM fills the gap with special roots "+
			"(mmu_alloc_special_roots), \"the only paging mode that uses this horror\".", cpu.Base.Level(), root.Level())
	}
	m.emit(Event{Kind: EvRole, MMU: "guest_mmu", Func: "kvm_init_shadow_npt_mmu", VCPU: v.ID, Text: text})
}

// loadNestedPDPTRs fills the PDPTR registers of a PAE L2: with NPT they are
// read from L2's PDPT on demand (svm_cache_reg → load_pdptrs), through
// translate_nested_gpa; the model reads them at VM-entry, untraced.
func (m *Machine) loadNestedPDPTRs(v *VCPU) {
	v.PDPTRs = [4]uint64{}
	if v.Regs.Mode() != PagingPAE {
		return
	}
	defer m.quietly()()
	base := GPA(v.Regs.CR3 & 0xffffffe0)
	for i := range v.PDPTRs {
		w := v.vendor().gvaToGPA(m, v, base+GPA(8*i), PFErrUser|PFErrWrite)
		if w.Fault == nil && w.Mapped {
			v.PDPTRs[i], _ = m.Mem.Read(w.HPA, 8)
		}
	}
}

// nestedSVMVMExit is nested_svm_vmexit: leave guest mode, write L2's state
// and the exit into vmcb12, switch back to vmcb01, restore L1's registers
// from it, flush (nested_svm_transition_tlb_flush), point the MMUs back at
// root_mmu (nested_svm_uninit_mmu_context) and reload L1's CR3
// (nested_svm_load_cr3), which keeps root_mmu's root: it was never
// unloaded.
func nestedSVMVMExit(m *Machine, v *VCPU, info NestedExitInfo) {
	n := &v.Nested
	m.emitNested(v, EvExit, "nested_svm_vmexit", fmt.Sprintf("KVM emulates #VMEXIT for L1: vmcb12 receives "+
		"exit_code %s, exit_info_1 %s, exit_info_2 %s, and L2's registers in its save area (CR3 %s).", info.Code,
		hex(info.Info1), hex(info.Info2), hex(v.Regs.CR3)))
	m.leaveGuestMode(v)
	n.L2, n.Reflected = v.Regs, info
	n.Exits++
	n.NestedPGD = 0
	v.Regs = n.L1
	m.emitNested(v, EvSet, "nested_svm_vmexit", fmt.Sprintf("svm_switch_vmcb makes vmcb01 current again; KVM's "+
		"cached nested_cr3 is cleared; svm_set_efer, svm_set_cr0 and svm_set_cr4 restore L1's EFER %s, CR0 %s "+
		"and CR4 %s from vmcb01's save area.", hex(v.Regs.EFER), hex(v.Regs.CR0), hex(v.Regs.CR4)))
	m.nestedTransitionTLBFlush(v)
	m.nestedUninitMMUContext(v, "nested_svm_uninit_mmu_context")
	m.nestedSVMLoadL1CR3(v)
}

// nestedSVMLoadL1CR3 is nested_svm_load_cr3 for L1's CR3 on VM-exit: a PAE
// L1's PDPTRs are loaded again, kvm_init_mmu configures root_mmu (its
// roles did not change), and kvm_mmu_new_pgd finds root_mmu's current
// root usable: a TDP root serves any CR3.
func (m *Machine) nestedSVMLoadL1CR3(v *VCPU) {
	cr3 := v.Regs.CR3
	m.emitNested(v, EvSet, "nested_svm_load_cr3", fmt.Sprintf("CR3 = %s, L1's, from vmcb01; kvm_init_mmu and "+
		"kvm_mmu_new_pgd follow for root_mmu.", hex(cr3)))
	if v.Regs.Mode() == PagingPAE {
		if ok, _ := m.loadPDPTRs(v, cr3); !ok {
			v.PDPTRs = v.Nested.L1PDPTRs
		}
	} else {
		v.PDPTRs = v.Nested.L1PDPTRs
	}
	m.kvmInitMMU(v)
	if !m.Quiet {
		m.emit(Event{Kind: EvCheck, MMU: "root_mmu", Func: "kvm_mmu_new_pgd", Space: SpaceHPA,
			Addr: uint64(v.RootMMU.Root), VCPU: v.ID, Text: fmt.Sprintf("kvm_mmu_new_pgd(CR3 %s) on root_mmu → "+
				"fast_pgd_switch: root_mmu is direct (TDP), so is_root_usable ignores the pgd and its role is "+
				"unchanged: the current root at HPA %s, L1's TDP root, is kept. It stayed root_mmu's current "+
				"root all the while L2 ran; nothing moved into prev_roots. KVM_REQ_LOAD_MMU_PGD points nCR3 back "+
				"at it.", hex(cr3), v.RootMMU.Root)})
	}
	if err := m.nestedEnterL1(v); err != nil {
		m.emitKVMError(v, "kvm_mmu_reload", err)
	}
}

// nestedSVML2Exit handles the #NPF that ended the processor's walk of L2:
// svm_handle_exit asks nested_svm_exit_special first, which keeps an #NPF
// for L0 when NPT is on (NESTED_EXIT_HOST): the miss is in NPT02, KVM's
// shadow. npf_interception then calls kvm_mmu_page_fault with arch.mmu =
// guest_mmu.
func nestedSVML2Exit(m *Machine, v *VCPU, x *TDPExit) retPF {
	v.Nested.HWExit = NestedExitInfo{Code: svmExitNPF, Info1: x.ErrorCode, Info2: uint64(x.GPA)}
	if !m.Quiet {
		ec := x.ErrorCode
		m.emit(Event{Kind: EvExit, MMU: "guest_mmu", Func: "nested_svm_exit_special", Space: SpaceGPA,
			Addr: uint64(x.GPA), Old: ec, New: ec, VCPU: v.ID, GVA: x.GVA,
			Text: fmt.Sprintf("#VMEXIT(NPF) from L2 reaches L0. nested_svm_exit_special keeps an #NPF for L0 while "+
				"NPT is on (NESTED_EXIT_HOST): the walk missed in NPT02, KVM's shadow, and only L0 can tell whether "+
				"L1's NPT12 has the mapping. npf_interception: EXITINFO2 = L2 GPA %s (%s); EXITINFO1 = %s = %s.",
				x.GPA, exitWhat(x), hex(ec), DecodeNPFErrorCode(ec))})
	}
	return m.kvmMMUPageFaultGuestMMU(v, x.GPA, x.ErrorCode)
}

// nestedSVMInjectNPFExit is nested_svm_inject_npf_exit, guest_mmu's
// inject_page_fault: the fault belongs to L1, whose NPT12 lacks the
// mapping or the right. When the vCPU came from L2 with an #NPF, vmcb02
// already holds SVM_EXIT_NPF: exit_info_2 (the L2 GPA) and the high half
// of exit_info_1 stay, the walk's error code replaces the low half.
// Otherwise (an emulated access) exit_info_1 = bit 32 | error code and
// exit_info_2 = the address. Then nested_svm_vmexit.
func nestedSVMInjectNPFExit(m *Machine, v *VCPU, f *Fault, addr GPA) {
	hw := v.Nested.HWExit
	info := NestedExitInfo{Code: svmExitNPF, Info1: PFErrGuestFinal | f.ErrorCode&0xffffffff, Info2: uint64(addr)}
	how := "vmcb02's exit_code was not SVM_EXIT_NPF, so KVM sets it with exit_info_1 = bit 32 | error code and " +
		"exit_info_2 = the address"
	if hw.Code == svmExitNPF {
		info.Info1, info.Info2 = hw.Info1&^0xffffffff|f.ErrorCode&0xffffffff, hw.Info2
		how = "vmcb02 already holds the hardware's SVM_EXIT_NPF: exit_info_2 (the L2 GPA) and the high half of " +
			"exit_info_1 stay, and the low half becomes the error code of KVM's walk of NPT12"
	}
	if !m.Quiet {
		m.emit(Event{Kind: EvFault, MMU: "guest_mmu", Func: "nested_svm_inject_npf_exit", Space: SpaceGPA,
			Addr: info.Info2, Old: info.Info1, New: info.Info1, VCPU: v.ID,
			Text: fmt.Sprintf("nested_svm_inject_npf_exit: L1's own NPT12 does not allow the access (%s), so the "+
				"#NPF is L1's: %s. exit_info_1 = %s (%s), exit_info_2 = L2 GPA %s. L1 will see a #VMEXIT(NPF) "+
				"as if its own NPT had faulted.", f.Reason, how, hex(info.Info1), DecodeNPFErrorCode(info.Info1),
				GPA(info.Info2))})
	}
	nestedSVMVMExit(m, v, info)
}
