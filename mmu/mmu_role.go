package mmu

import (
	"fmt"
	"strings"
)

// kvm_init_mmu and the three init functions it chooses between. Each one
// computes the roles its context would have and returns early when they
// equal the ones it has: that is how KVM skips reconfiguring the MMU on a
// register write that changes nothing it depends on, and why a CPUID
// update must first mark the roles stale (kvm_mmu_after_set_cpuid).

// kvmInitMMU is kvm_init_mmu: nested_mmu while L2 runs on nested TDP,
// else root_mmu as a TDP or a shadow MMU. It reports whether the context
// was reconfigured.
func (m *Machine) kvmInitMMU(v *VCPU) bool {
	v.cr0WPStale = false // the roles are computed from the registers as they are
	cpu := calcCPURole(&v.Regs, v.GuestMode)
	switch {
	case v.WalkMMUID == NestedMMUID:
		return m.initKVMNestedMMU(v, cpu)
	case m.tdp != nil:
		return m.initKVMTDPMMU(v, cpu)
	}
	return m.initKVMSoftMMU(v, cpu)
}

// initKVMTDPMMU is init_kvm_tdp_mmu: root_mmu walks the guest's tables in
// software only for emulation; its roots are direct TDP roots.
func (m *Machine) initKVMTDPMMU(v *VCPU, cpu CPURole) bool {
	mmu := &v.RootMMU
	root := m.tdp.kvmCalcTDPMMURootPageRole()
	if m.rolesUnchanged(v, mmu, "init_kvm_tdp_mmu", cpu, root, true) {
		return false
	}
	mmu.CPURole, mmu.RootRole = cpu, root
	m.resetGuestPagingMetadata(mmu)
	set := m.setCallbacks(v, mmu, map[string]string{"gva_to_gpa": gvaToGPAName(PagingMode(cpu.Base.Level()))},
		map[string]string{"page_fault": "kvm_tdp_page_fault", "sync_spte": "", "get_guest_pgd": "get_guest_cr3",
			"get_pdptr": "kvm_pdptr_read", "inject_page_fault": "kvm_inject_page_fault"})
	m.emitRoleChange(v, mmu, "init_kvm_tdp_mmu", set)
	return true
}

// initKVMSoftMMU is init_kvm_softmmu: kvm_init_shadow_mmu computes the
// shadow root role and shadow_mmu_init_context returns early when both
// roles are unchanged; the three pointers init_kvm_softmmu sets itself
// are set on every call in 6.16, even then.
func (m *Machine) initKVMSoftMMU(v *VCPU, cpu CPURole) bool {
	mmu := &v.RootMMU
	root := m.softmmuRootRole(cpu)
	constants := map[string]string{"get_guest_pgd": "get_guest_cr3", "get_pdptr": "kvm_pdptr_read",
		"inject_page_fault": "kvm_inject_page_fault"}
	if m.rolesUnchanged(v, mmu, "shadow_mmu_init_context", cpu, root, true) {
		if m.Opts.Callbacks == CallbacksUpstream {
			m.setCallbacks(v, mmu, nil, constants)
		}
		return false
	}
	mmu.CPURole, mmu.RootRole = cpu, root
	m.resetGuestPagingMetadata(mmu)
	pf, gva, sync := softmmuCallbacks(PagingMode(cpu.Base.Level()))
	set := m.setCallbacks(v, mmu, map[string]string{"page_fault": pf, "gva_to_gpa": gva, "sync_spte": sync}, constants)
	m.emitRoleChange(v, mmu, "init_kvm_softmmu", set)
	return true
}

// initKVMNestedMMU is init_kvm_nested_mmu: nested_mmu has no roots, so
// only its CPU role is compared.
func (m *Machine) initKVMNestedMMU(v *VCPU, cpu CPURole) bool {
	mmu := &v.NestedMMU
	if m.rolesUnchanged(v, mmu, "init_kvm_nested_mmu", cpu, mmu.RootRole, false) {
		return false
	}
	mmu.CPURole = cpu
	m.resetGuestPagingMetadata(mmu)
	set := m.setCallbacks(v, mmu, map[string]string{"gva_to_gpa": gvaToGPAName(PagingMode(cpu.Base.Level()))},
		map[string]string{"get_guest_pgd": "get_guest_cr3", "get_pdptr": "kvm_pdptr_read",
			"inject_page_fault": "kvm_inject_page_fault"})
	m.emitRoleChange(v, mmu, "init_kvm_nested_mmu", set)
	return true
}

// softmmuRootRole is the root role kvm_init_shadow_mmu computes: the CPU
// role at level max(level, 3) with efer_nx (the shadow MMU's own choices
// when it is on).
func (m *Machine) softmmuRootRole(cpu CPURole) PageRole {
	if m.shadow != nil {
		return m.shadow.rootRole(cpu)
	}
	return setFlag(cpu.Base.WithLevel(max(cpu.Base.Level(), 3)), roleEferNX, true)
}

// resetGuestPagingMetadata is reset_guest_paging_metadata: the permission
// and PKRU tables and the guest's reserved-bit masks, which depend on the
// role and on CPUID (MAXPHYADDR, PSE-36, 1 GiB pages).
func (m *Machine) resetGuestPagingMetadata(mmu *MMU) {
	mmu.permissions = updatePermissionBitmask(mmu.CPURole)
	mmu.pkruMask = updatePKRUBitmask(mmu.CPURole)
	mmu.guestRsvd = resetGuestRsvdsBitsMask(mmu.CPURole, m.Config.MaxPhyAddr, m.Config.PSE36, m.Config.GBPages)
	mmu.rsvdMaxPhyAddr = m.Config.MaxPhyAddr
}

// rolesUnchanged is the early return of the init functions: the computed
// roles equal the context's, so nothing is reconfigured. A marker left by
// kvm_mmu_after_set_cpuid makes them differ. When unchanged it says so
// in the trace.
func (m *Machine) rolesUnchanged(v *VCPU, mmu *MMU, fn string, cpu CPURole, root PageRole, hasRoot bool) bool {
	same := mmu.CPURole == cpu && (!hasRoot || mmu.RootRole == root)
	if !same || m.Quiet {
		return same
	}
	what := "cpu_role and root_role are"
	if !hasRoot {
		what = "cpu_role is"
	}
	text := fmt.Sprintf("%s: %s unchanged (cpu_role %s), so reconfiguration is skipped: %s keeps its permission "+
		"tables, reserved-bit masks and callbacks.", fn, what, cpu, mmu.Name)
	if m.Opts.Marker == MarkerLevel0 && !hasRoot && cpu.Base.Level() == 0 && mmu.staleMarked {
		text += " The level-0 marker cannot be told apart from a guest with paging off, whose level is 0 anyway."
	}
	m.emit(Event{Kind: EvCheck, MMU: mmu.Name, Func: fn, VCPU: v.ID, Text: text})
	return true
}

// setCallbacks assigns a context's mode-dependent callbacks and, unless
// they were set once at creation (seed 000), its constant ones. It counts
// the assignments and returns them for the trace.
func (m *Machine) setCallbacks(v *VCPU, mmu *MMU, modal, constant map[string]string) []string {
	var set []string
	assign := func(vals map[string]string) {
		for _, f := range mmu.Callbacks.fields() {
			if fn, ok := vals[f.name]; ok {
				*f.val = fn
				v.CallbackWrites++
				if fn == "" {
					fn = "NULL"
				}
				set = append(set, f.name+"="+fn)
			}
		}
	}
	assign(modal)
	if m.Opts.Callbacks == CallbacksUpstream {
		assign(constant)
	}
	return set
}

// emitRoleChange narrates a reconfigured context: its new roles and the
// callbacks that were assigned.
func (m *Machine) emitRoleChange(v *VCPU, mmu *MMU, fn string, set []string) {
	mmu.staleMarked = false
	if m.Quiet {
		return
	}
	role := mmu.CPURole
	text := fmt.Sprintf("%s: the role changed, so %s is reconfigured for %s, cpu_role %s", fn, mmu.Name,
		PagingMode(role.Base.Level()), role)
	if mmu != &v.NestedMMU {
		text += fmt.Sprintf(", root_role %s", roleWord(mmu.RootRole))
	}
	text += fmt.Sprintf("; reset_guest_paging_metadata rebuilds its permission tables and reserved-bit masks; "+
		"%d callbacks assigned (%s)", len(set), strings.Join(set, ", "))
	if m.Opts.Callbacks == CallbacksConstantsOnce {
		text += "; the constant ones were set once by kvm_init_mmu_constants"
	}
	m.emit(Event{Kind: EvRole, MMU: mmu.Name, Func: fn, VCPU: v.ID, Text: text + "."})
}

// The register bits whose change makes KVM reset the MMU
// (KVM_MMU_CR0_ROLE_BITS, KVM_MMU_CR4_ROLE_BITS, KVM_MMU_EFER_ROLE_BITS).
const (
	mmuCR0RoleBits  = CR0PG | CR0WP
	mmuCR4RoleBits  = CR4PSE | CR4PAE | CR4LA57 | CR4SMEP | CR4SMAP | CR4PKE
	mmuEFERRoleBits = EFERLME | EFERNX
)

// mmuUpdate is what a register write asks of the MMU.
type mmuUpdate int

const (
	mmuNoUpdate mmuUpdate = iota // no role bit changed
	mmuInitOnly                  // kvm_init_mmu, roots kept
	mmuReset                     // kvm_mmu_reset_context
)

// postSetReg decides, as kvm_post_set_cr0, kvm_post_set_cr4 and set_efer
// do, what a register write that was accepted does to the MMU, and why.
func (m *Machine) postSetReg(r Reg, old, next *Regs) (mmuUpdate, string, string) {
	switch r {
	case RegCR0:
		diff := old.CR0 ^ next.CR0
		if diff == CR0WP {
			if next.CR0&CR0PG == 0 {
				return mmuNoUpdate, "kvm_post_set_cr0", "only CR0.WP changed and paging is off: there are no " +
					"permissions to emulate, so the MMU is left alone"
			}
			if m.tdp != nil {
				return mmuInitOnly, "kvm_post_set_cr0", "only CR0.WP changed: under TDP it does not affect SPTEs, " +
					"so kvm_init_mmu runs but the roots are kept"
			}
		}
		if diff&mmuCR0RoleBits != 0 {
			return mmuReset, "kvm_post_set_cr0", "CR0.PG or CR0.WP changed (KVM_MMU_CR0_ROLE_BITS)"
		}
	case RegCR4:
		if (old.CR4^next.CR4)&mmuCR4RoleBits != 0 {
			return mmuReset, "kvm_post_set_cr4", "a bit of KVM_MMU_CR4_ROLE_BITS (PSE, PAE, LA57, SMEP, SMAP, PKE) changed"
		}
		if (old.CR4^next.CR4)&CR4PGE != 0 {
			return mmuNoUpdate, "kvm_post_set_cr4", "CR4.PGE is not a role bit (the shadow MMU ignores global " +
				"pages), so the MMU is not reconfigured; the guest's TLB is flushed (KVM_REQ_TLB_FLUSH_GUEST)"
		}
	case RegEFER:
		if (old.EFER^next.EFER)&mmuEFERRoleBits != 0 {
			return mmuReset, "set_efer", "EFER.LME or EFER.NX changed (KVM_MMU_EFER_ROLE_BITS)"
		}
	}
	return mmuNoUpdate, "", ""
}

// kvmMMUResetContextAll is kvm_mmu_reset_context: kvm_mmu_unload drops
// the roots of root_mmu and guest_mmu (the pages stay: shadow pages in
// the hash, TDP roots in tdp_mmu_roots while referenced), then
// kvm_init_mmu recomputes the roles, or skips if they are unchanged.
func (m *Machine) kvmMMUResetContextAll(v *VCPU) {
	if m.tdp != nil || m.shadow != nil {
		if !m.Quiet {
			m.emit(Event{Kind: EvSet, MMU: v.ArchMMU().Name, Func: "kvm_mmu_reset_context", VCPU: v.ID,
				Text: "kvm_mmu_reset_context: kvm_mmu_unload frees the roots of root_mmu and guest_mmu, then " +
					"kvm_init_mmu computes the roles again."})
		}
		m.kvmMMUUnload(v)
	}
	m.kvmInitMMU(v)
}

// kvmMMUUnload is kvm_mmu_unload: every root of root_mmu and guest_mmu
// is freed (kvm_mmu_free_roots); a TDP root only loses the vCPU's
// reference.
func (m *Machine) kvmMMUUnload(v *VCPU) {
	switch {
	case m.shadow != nil:
		m.kvmMMUUnloadShadow(v, "kvm_mmu_unload")
	case m.tdp != nil:
		if root := m.rootOf(v); root != nil {
			m.kvmTDPMMUPutRoot(v, root, "kvm_mmu_unload")
		}
		v.RootMMU.RootValid = false
	}
}
