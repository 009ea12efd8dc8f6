package mmu

import (
	"fmt"
	"strings"
)

// Nested virtualization: KVM (L0) runs a hypervisor, L1, which runs its
// own guest, L2. L1 gives L2 nested paging: its own EPT or NPT tables
// (EPT12, NPT12), which map L2's guest-physical addresses to L1's. The
// processor can walk only one nested table, so L0 shadows L1's: guest_mmu
// builds EPT02/NPT02 (shadow pages with role.guest_mode) mapping L2 GPAs
// straight to host addresses, and nested_mmu walks L2's own page tables
// in software, translating each L2 GPA through guest_mmu
// (translate_nested_gpa). A nested VM-entry points arch.mmu at guest_mmu
// and walk_mmu at nested_mmu; a VM-exit points both back at root_mmu,
// whose root (L1's TDP root) stays loaded while L2 runs.
//
// This file holds what SVM and VMX share: the per-vCPU state, the entry
// and exit actions and the steps they have in common. The vendors plug
// in through nestedVendors (svm_nested.go for nested NPT; nested EPT
// registers NestedVMX the same way).

// NestedKind is the vendor's flavour of nested virtualization.
type NestedKind uint8

// The kinds of nested virtualization.
const (
	NestedNone NestedKind = iota
	NestedSVM             // AMD: VMRUN, the VMCB, nested NPT (svm/nested.c)
	NestedVMX             // Intel: VMLAUNCH/VMRESUME, the VMCS, nested EPT (vmx/nested.c)
)

// String names the kind as scenarios write it.
func (k NestedKind) String() string {
	switch k {
	case NestedSVM:
		return "svm"
	case NestedVMX:
		return "vmx"
	}
	return "none"
}

// NestedExitInfo is a VM-exit as L1 sees it: SVM's exit_code, exit_info_1
// and exit_info_2 in the VMCB control area; VMX's exit reason, exit
// qualification and guest-physical address in the VMCS.
type NestedExitInfo struct {
	Code  string // "SVM_EXIT_NPF", "SVM_EXIT_VMMCALL", ...
	Info1 uint64 // exit_info_1 (for #NPF: the page-fault error code)
	Info2 uint64 // exit_info_2 (for #NPF: the L2 GPA)
}

// NestedState is what KVM keeps per vCPU for nested virtualization (the
// svm->nested and vmcb01/vmcb12 fields, or vmx->nested and vmcs12): L1's
// and L2's registers, the root of L1's nested tables, the last exits. It
// holds no pointers, so a VCPU copy is a deep copy.
type NestedState struct {
	// Kind is NestedNone until the scenario sets nesting up.
	Kind NestedKind
	// L1 holds L1's control registers while L2 runs (SVM: vmcb01's
	// save area, filled by nested_svm_vmrun; VMX: vmcs01), restored on
	// VM-exit; L1PDPTRs L1's PDPTR registers.
	L1       Regs
	L1PDPTRs [4]uint64
	// L2 holds L2's registers while L1 runs: the guest state of L1's
	// VMCB (vmcb12) or VMCS (vmcs12), which VM-entry loads and VM-exit
	// writes back.
	L2 Regs
	// NCR3 is what L1 put in vmcb12's nested_cr3 (VMX: the EPTP in
	// vmcs12): the L1 GPA of its nested table's root.
	NCR3 uint64
	// NestedPGD is KVM's cached copy (svm->nested.ctl.nested_cr3), what
	// guest_mmu's get_guest_pgd returns: set at VM-entry, 0 after exit.
	NestedPGD uint64
	// HWExit is the exit that brought the vCPU from L2 to L0 last
	// (vmcb02's control area); Reflected the last one KVM reflected to
	// L1 (vmcb12's).
	HWExit    NestedExitInfo
	Reflected NestedExitInfo
	// Entries and Exits count nested VM-entries and VM-exits.
	Entries, Exits int
}

// NestedSetup describes a vCPU's nested set-up as a scenario gives it:
// L2's registers and the root of L1's nested tables, both as L1 wrote
// them into its VMCB/VMCS.
type NestedSetup struct {
	Kind NestedKind
	L2   Regs
	NCR3 uint64
	// Shadow is the design guest_mmu's roots follow: Linux's merged
	// special roots, or seed 001's level-expanded pages.
	Shadow ShadowVariant
}

// nestedVendor is one vendor's nested code, as the generic flow calls it.
type nestedVendor struct {
	tdp TDPKind // the L0 TDP that this nested TDP needs (NPT for SVM, EPT for VMX)
	// entry emulates L1's VM-entry instruction up to the point where L2
	// can run (nested_svm_vmrun); it returns a refusal L1 sees as an
	// exit, or "".
	entry func(m *Machine, v *VCPU) string
	// exit emulates a VM-exit to L1 (nested_svm_vmexit).
	exit func(m *Machine, v *VCPU, info NestedExitInfo)
	// l2Exit handles an EPT violation or #NPF that the processor's
	// two-dimensional walk of L2 ended with (npf_interception,
	// handle_ept_violation), with arch.mmu = guest_mmu.
	l2Exit func(m *Machine, v *VCPU, x *TDPExit) retPF
	// injectFault is guest_mmu's inject_page_fault: reflect a fault that
	// L1's nested tables cause to L1 as a VM-exit
	// (nested_svm_inject_npf_exit, nested_ept_inject_page_fault).
	injectFault func(m *Machine, v *VCPU, f *Fault, addr GPA)
	// gvaToGPA is guest_mmu's walk of L1's nested table for the L2 GPA
	// addr (paging32/paging64_gva_to_gpa over NPT12, ept_gva_to_gpa over
	// EPT12): FNAME(page_fault) and translate_nested_gpa use it. The
	// walker's GPA is the L1 GPA; its Fault says why L1's table refuses.
	gvaToGPA func(m *Machine, v *VCPU, addr GPA, access uint64) *GuestWalker
}

// guestMMUWalk is the software walk FNAME(page_fault) makes for arch.mmu:
// the guest's own tables for root_mmu, L1's nested table for guest_mmu.
func (m *Machine) guestMMUWalk(v *VCPU, mmu *MMU, addr GVA, access uint64) *GuestWalker {
	if mmu == &v.GuestMMU && v.vendor() != nil {
		return v.vendor().gvaToGPA(m, v, GPA(addr), access)
	}
	return m.walkAddrGeneric(v, mmu, addr, access, SlotTranslator{})
}

// nestedVendors are the vendors the engine models, by kind.
var nestedVendors = map[NestedKind]*nestedVendor{}

// vendor returns the nested code of v's kind, or nil.
func (v *VCPU) vendor() *nestedVendor { return nestedVendors[v.Nested.Kind] }

// SetupNested gives vCPU id a nested set-up, as a scenario's initial
// state: L1 has VMCB/VMCS contents ready (L2's registers and the nested
// table root), untraced. It needs the matching TDP on L0 (NPT for SVM, EPT
// for VMX), and makes the shadow MMU's state exist next to the TDP MMU:
// guest_mmu will shadow L1's nested tables.
func (m *Machine) SetupNested(id int, s NestedSetup) error {
	v, err := m.VCPU(id)
	if err != nil {
		return err
	}
	ven := nestedVendors[s.Kind]
	switch {
	case ven == nil:
		return fmt.Errorf("nested %s is not modelled", s.Kind)
	case m.tdp == nil || m.tdp.cfg.Kind != ven.tdp:
		return fmt.Errorf("nested %s shadows L1's nested tables with %s: L0 must run on %s (tdp %s)", s.Kind,
			map[TDPKind]string{TDPNPT: "nested NPT", TDPEPT: "nested EPT"}[ven.tdp], ven.tdp,
			map[TDPKind]string{TDPNPT: "npt", TDPEPT: "ept"}[ven.tdp])
	case v.Nested.Kind != NestedNone:
		return fmt.Errorf("vCPU %d already has a nested set-up", id)
	case s.NCR3&bits(m.Config.MaxPhyAddr, 63) != 0:
		return fmt.Errorf("the nested root %s is beyond MAXPHYADDR (%d bits)", hex(s.NCR3), m.Config.MaxPhyAddr)
	case s.L2.CR3&bits(m.Config.MaxPhyAddr, 63) != 0:
		return fmt.Errorf("L2's CR3 %s is beyond MAXPHYADDR (%d bits)", hex(s.L2.CR3), m.Config.MaxPhyAddr)
	}
	if m.shadow == nil {
		m.shadow = newShadowState(ShadowConfig{Variant: s.Shadow}, m.Config.MaxPhyAddr)
	} else if m.shadow.cfg.Variant != s.Shadow {
		return fmt.Errorf("another vCPU's nested set-up uses the %s shadow design, not %s", m.shadow.cfg.Variant, s.Shadow)
	}
	v.Nested = NestedState{Kind: s.Kind, L2: s.L2, NCR3: s.NCR3}
	return nil
}

// SetupNestedL2Regs replaces L2's registers in vCPU id's nested set-up
// (what L1 wrote in vmcb12's save area), untraced; L2 must not be running.
func (m *Machine) SetupNestedL2Regs(id int, r Regs) error {
	v, err := m.VCPU(id)
	if err != nil {
		return err
	}
	switch {
	case v.Nested.Kind == NestedNone:
		return fmt.Errorf("vCPU %d has no nested set-up", id)
	case v.GuestMode:
		return fmt.Errorf("vCPU %d runs L2: its registers are live", id)
	case r.CR3&bits(m.Config.MaxPhyAddr, 63) != 0:
		return fmt.Errorf("L2's CR3 %s is beyond MAXPHYADDR (%d bits)", hex(r.CR3), m.Config.MaxPhyAddr)
	}
	v.Nested.L2 = r
	return nil
}

// NestedEntry is L1 entering L2: VMRUN (SVM) or VMLAUNCH/VMRESUME (VMX),
// which exits to KVM, which emulates it and runs L2 (nested_svm_vmrun →
// enter_svm_guest_mode; nested_vmx_run).
type NestedEntry struct {
	Source
	VCPU int
}

// NestedExit is L2 doing something L1 intercepts (a hypercall, HLT,
// CPUID): the exit reaches KVM, which reflects it to L1
// (nested_svm_vmexit, nested_vmx_vmexit) and runs L1 again. Reason is
// "hypercall" (the default), "hlt" or "cpuid".
type NestedExit struct {
	Source
	VCPU   int
	Reason string
}

// NestedExitReasons are the reasons a NestedExit may give.
var NestedExitReasons = []string{"hypercall", "hlt", "cpuid"}

// nestedExitCodes names each reason's exit code per vendor.
var nestedExitCodes = map[NestedKind]map[string]string{
	NestedSVM: {"hypercall": "SVM_EXIT_VMMCALL", "hlt": "SVM_EXIT_HLT", "cpuid": "SVM_EXIT_CPUID"},
	NestedVMX: {"hypercall": "EXIT_REASON_VMCALL", "hlt": "EXIT_REASON_HLT", "cpuid": "EXIT_REASON_CPUID"},
}

// nestedVCPU is vCPU id for a VM-entry (inL2 false: it must run L1) or
// an L2 exit (inL2 true: it must run L2), with its vendor's nested code.
func (m *Machine) nestedVCPU(id int, inL2 bool) (*VCPU, *nestedVendor, error) {
	v, err := m.VCPU(id)
	if err != nil {
		return nil, nil, err
	}
	ven := v.vendor()
	switch {
	case ven == nil:
		return nil, nil, fmt.Errorf("vCPU %d has no nested set-up (write `nested` in the setup)", v.ID)
	case v.GuestMode && !inL2:
		return nil, nil, fmt.Errorf("vCPU %d already runs L2: a VM-entry comes from L1", v.ID)
	case !v.GuestMode && inL2:
		return nil, nil, fmt.Errorf("vCPU %d runs L1: there is no L2 to exit from", v.ID)
	}
	return v, ven, nil
}

func (a *NestedEntry) do(m *Machine) (Result, error) {
	v, ven, err := m.nestedVCPU(a.VCPU, false)
	if err != nil {
		return Result{}, err
	}
	v.HasRun = true
	if why := ven.entry(m, v); why != "" {
		return Result{Note: why}, nil
	}
	v.Nested.Entries++
	if err := m.kvmMMUReloadArch(v); err != nil {
		return Result{}, err
	}
	// The last event comes after every change, so that a timeline's step
	// shows the entry counted even when the reload had nothing to do.
	m.emitNested(v, EvResult, "vcpu_enter_guest", fmt.Sprintf("VM-entry %d: the vCPU runs L2 on %s's root at HPA %s.",
		v.Nested.Entries, v.ArchMMU().Name, v.ArchMMU().Root))
	return Result{OK: true, Note: fmt.Sprintf("vCPU %d runs L2: arch.mmu = guest_mmu (root at HPA %s), walk_mmu = "+
		"nested_mmu; root_mmu keeps L1's root at HPA %s", v.ID, v.GuestMMU.Root, v.RootMMU.Root)}, nil
}

func (a *NestedExit) do(m *Machine) (Result, error) {
	v, ven, err := m.nestedVCPU(a.VCPU, true)
	if err != nil {
		return Result{}, err
	}
	reason := a.Reason
	if reason == "" {
		reason = "hypercall"
	}
	code, ok := nestedExitCodes[v.Nested.Kind][reason]
	if !ok {
		return Result{}, fmt.Errorf("no exit reason %q: the reasons are %s", reason, strings.Join(NestedExitReasons, ", "))
	}
	info := NestedExitInfo{Code: code}
	v.Nested.HWExit = info
	m.emitNested(v, EvExit, map[NestedKind]string{NestedSVM: "nested_svm_exit_handled", NestedVMX: "nested_vmx_reflect_vmexit"}[v.Nested.Kind], fmt.Sprintf("L2 causes a VM exit (%s) to L0. L1 asked to "+
		"intercept it, so KVM does not handle it itself: it reflects it to L1.", code))
	ven.exit(m, v, info)
	return Result{OK: true, Note: fmt.Sprintf("vCPU %d runs L1 again after %s: arch.mmu = walk_mmu = root_mmu", v.ID,
		code)}, nil
}

// emitNested records a step of the nested flow, attributed to arch.mmu.
func (m *Machine) emitNested(v *VCPU, kind EventKind, fn, text string) {
	if !m.Quiet {
		m.emit(Event{Kind: kind, MMU: v.ArchMMU().Name, Func: fn, VCPU: v.ID, Text: fn + ": " + text})
	}
}

// enterGuestMode is enter_guest_mode: is_guest_mode becomes true, so the
// roles computed from now on have guest_mode set.
func (m *Machine) enterGuestMode(v *VCPU) {
	v.GuestMode = true
	m.emitNested(v, EvSet, "enter_guest_mode", "the vCPU is in guest mode (HF_GUEST_MASK): every role KVM computes "+
		"from now on has guest_mode=1, so no page built for L2 can ever be mistaken for one of L1's.")
}

// leaveGuestMode is leave_guest_mode.
func (m *Machine) leaveGuestMode(v *VCPU) {
	v.GuestMode = false
	m.emitNested(v, EvSet, "leave_guest_mode", "the vCPU leaves guest mode: roles have guest_mode=0 again.")
}

// switchArchMMU points arch.mmu at a context, narrated as fn.
func (m *Machine) switchArchMMU(v *VCPU, id MMUID, fn string) {
	old := v.ArchMMU().Name
	v.ArchMMUID = id
	m.emitNested(v, EvSet, fn, fmt.Sprintf("vcpu->arch.mmu = &%s (was %s): faults and roots are %s's now.", id, old, id))
}

// switchWalkMMU points walk_mmu at a context, narrated as fn.
func (m *Machine) switchWalkMMU(v *VCPU, id MMUID, fn string) {
	old := v.WalkMMU().Name
	v.WalkMMUID = id
	what := "walks of the running guest's page tables (emulation, gva_to_gpa) use it"
	if id == NestedMMUID {
		what = "software walks of L2's page tables use it, and it translates every L2 GPA they meet through " +
			"guest_mmu (translate_nested_gpa)"
	}
	m.emitNested(v, EvSet, fn, fmt.Sprintf("vcpu->arch.walk_mmu = &%s (was %s): %s.", id, old, what))
}

// nestedUninitMMUContext points arch.mmu and walk_mmu back at root_mmu
// (nested_svm_uninit_mmu_context, nested_ept_uninit_mmu_context).
func (m *Machine) nestedUninitMMUContext(v *VCPU, fn string) {
	v.ArchMMUID, v.WalkMMUID = RootMMUID, RootMMUID
	m.emitNested(v, EvSet, fn, fmt.Sprintf("vcpu->arch.mmu = vcpu->arch.walk_mmu = &root_mmu: L1's own MMU again. "+
		"guest_mmu keeps its root (HPA %s) and prev_roots for the next VM-entry.", v.GuestMMU.Root))
}

// nestedTransitionTLBFlush is nested_svm_transition_tlb_flush: on every
// nested transition KVM asks for KVM_REQ_MMU_SYNC and
// KVM_REQ_TLB_FLUSH_CURRENT.
func (m *Machine) nestedTransitionTLBFlush(v *VCPU) {
	v.ReqMMUSync = true
	m.emitNested(v, EvSet, "nested_svm_transition_tlb_flush", "KVM_REQ_MMU_SYNC and KVM_REQ_TLB_FLUSH_CURRENT are "+
		"raised: before the vCPU runs again, the unsync pages under arch.mmu's root are synced and its TLB flushed.")
}

// kvmMMUReloadArch is the MMU part of vcpu_enter_guest under TDP: with
// nested state, KVM_REQ_MMU_FREE_OBSOLETE_ROOTS is handled for root_mmu
// (the TDP MMU's root) and guest_mmu (kvm_mmu_free_obsolete_roots does
// both); then kvm_mmu_reload loads arch.mmu's root: L1's TDP root, or
// guest_mmu's shadow root while L2 runs.
func (m *Machine) kvmMMUReloadArch(v *VCPU) error {
	if v.ReqFreeObsoleteRoots && m.shadow != nil {
		m.kvmMMUFreeObsoleteRoots(v)
		m.kvmMMUFreeObsoleteRootsShadow(v)
	}
	if v.ArchMMUID == GuestMMUID {
		return m.nestedEnterL2(v)
	}
	return m.kvmMMUReload(v)
}

// nestedEnterL2 is vcpu_enter_guest before L2 runs: KVM_REQ_MMU_SYNC on
// arch.mmu = guest_mmu, then kvm_mmu_reload, which builds guest_mmu's
// root if it has none.
func (m *Machine) nestedEnterL2(v *VCPU) error {
	if v.ReqMMUSync {
		v.ReqMMUSync = false
		m.kvmMMUSyncRoots(v)
	}
	return m.kvmMMUReloadShadow(v)
}

// nestedEnterL1 is vcpu_enter_guest before L1 runs again: KVM_REQ_MMU_SYNC
// on root_mmu, a direct TDP MMU with nothing to sync, and kvm_mmu_reload,
// which finds L1's root still loaded.
func (m *Machine) nestedEnterL1(v *VCPU) error {
	if v.ReqMMUSync {
		v.ReqMMUSync = false
		m.emitNested(v, EvCheck, "kvm_mmu_sync_roots", "KVM_REQ_MMU_SYNC on root_mmu: its root is direct "+
			"(TDP), with no guest tables to resync, so nothing happens.")
	}
	return m.kvmMMUReloadArch(v)
}
