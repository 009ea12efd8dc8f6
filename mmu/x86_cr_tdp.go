package mmu

import "fmt"

// Control-register writes the processor completes without a VM exit when
// the guest runs on TDP (vmx.c, svm.c): CR3 loads (no CR3-load exiting
// with EPT; no CR3 write intercept with NPT), and with EPT the CR0 and CR4
// bits KVM lets the guest own (KVM_POSSIBLE_CR0_GUEST_BITS includes WP,
// KVM_POSSIBLE_CR4_GUEST_BITS includes PGE). KVM never sees these writes;
// for CR0.WP its cpu_role goes stale until kvm_mmu_refresh_passthrough_bits
// reads CR0 the next time KVM itself checks a guest walk's permissions.

// Guest-owned bits with EPT that matter to paging.
const (
	eptGuestOwnedCR0 = CR0WP
	eptGuestOwnedCR4 = CR4PGE
)

// tdpWriteWithoutExit says whether the processor performs the register
// write itself, without exiting to KVM, and why.
func (m *Machine) tdpWriteWithoutExit(v *VCPU, r Reg, old, next *Regs) (bool, string) {
	if m.tdp == nil || v.GuestMode || m.tdp.tdx != nil {
		return false, ""
	}
	ept := m.tdp.cfg.Kind == TDPEPT
	switch {
	case r == RegCR3 && next.CR0&CR0PG != 0:
		if ept {
			return true, "with EPT, KVM does not ask for CR3-load exiting: the guest owns CR3"
		}
		return true, "with NPT, KVM does not intercept CR3 writes: the guest owns CR3"
	case r == RegCR0 && ept && old.CR0^next.CR0 != 0 && (old.CR0^next.CR0)&^eptGuestOwnedCR0 == 0:
		return true, "with EPT, CR0.WP is a guest-owned bit (KVM_POSSIBLE_CR0_GUEST_BITS)"
	case r == RegCR4 && ept && old.CR4^next.CR4 != 0 && (old.CR4^next.CR4)&^eptGuestOwnedCR4 == 0:
		return true, "with EPT, CR4.PGE is a guest-owned bit (KVM_POSSIBLE_CR4_GUEST_BITS)"
	}
	return false, ""
}

// cpuSetReg completes a register write the processor makes without an
// exit: the register changes, PAE PDPTEs are loaded by the processor on a
// CR3 load with EPT, and KVM's view of CR0.WP goes stale.
func (m *Machine) cpuSetReg(v *VCPU, r Reg, old, next Regs, why string) (Result, error) {
	if r == RegCR3 && next.Mode() == PagingPAE && m.tdp.cfg.Kind == TDPEPT {
		if ok, msg := m.loadPDPTRsBy(v, next.CR3, true); !ok {
			// The processor's own checks fail the MOV: #GP in the guest.
			return m.gp(v, "cpu", msg)
		}
	}
	v.Regs = next
	v.HasRun = true
	val := v.Regs.Get(r)
	if r == RegCR0 && (old.CR0^next.CR0)&CR0WP != 0 {
		v.cr0WPStale = true
	}
	if !m.Quiet {
		text := fmt.Sprintf("MOV to %s: %s ← %s", r, r, hex(val))
		if _, named := RegBits[r]; named {
			text += " (" + DecodeReg(r, val) + ")"
		}
		text += fmt.Sprintf(". No VM exit: %s, so the processor completes the write and KVM never sees it.", why)
		if v.cr0WPStale {
			text += fmt.Sprintf(" KVM's cpu_role still has cr0_wp=%v until kvm_mmu_refresh_passthrough_bits reads "+
				"CR0 the next time KVM checks a guest walk's permissions.", v.WalkMMU().CPURole.Base.CR0WP())
		}
		m.emit(Event{Kind: EvSet, MMU: v.WalkMMU().Name, Func: "cpu", Space: SpaceReg, Reg: r,
			Old: old.Get(r), New: val, VCPU: v.ID, Text: text})
	}
	return Result{OK: true, HasValue: true, Value: val}, nil
}

// hardwareMMU is the MMU the processor's own walk behaves like: mmu, or,
// when KVM's copy of CR0.WP is stale, a copy whose role and permission
// tables follow the real registers (the processor always uses CR0 as it
// is).
func (m *Machine) hardwareMMU(v *VCPU, mmu *MMU) *MMU {
	if !v.cr0WPStale || mmu != &v.RootMMU {
		return mmu
	}
	hw := *mmu
	hw.CPURole = calcCPURole(&v.Regs, v.GuestMode)
	hw.permissions = updatePermissionBitmask(hw.CPURole)
	return &hw
}

// kvmMMURefreshPassthroughBits is kvm_mmu_refresh_passthrough_bits: before
// KVM checks the permissions of its own walk of the guest's tables on TDP,
// it reads CR0.WP, which the guest may have changed without an exit
// (__kvm_mmu_refresh_passthrough_bits updates the role and the permission
// tables).
func (m *Machine) kvmMMURefreshPassthroughBits(v *VCPU, mmu *MMU) {
	if m.tdp == nil || mmu != &v.RootMMU || !v.cr0WPStale {
		return
	}
	v.cr0WPStale = false
	wp := v.Regs.CR0&CR0WP != 0
	if mmu.CPURole.Base.CR0WP() == wp {
		return
	}
	mmu.CPURole = calcCPURole(&v.Regs, v.GuestMode)
	mmu.permissions = updatePermissionBitmask(mmu.CPURole)
	if !m.Quiet {
		m.emit(Event{Kind: EvRole, MMU: mmu.Name, Func: "__kvm_mmu_refresh_passthrough_bits", VCPU: v.ID,
			Text: fmt.Sprintf("__kvm_mmu_refresh_passthrough_bits: KVM reads CR0.WP = %d, which the guest changed "+
				"without an exit, and updates cpu_role (%s) and the permission tables before its own walk.",
				map[bool]int{false: 0, true: 1}[wp], mmu.CPURole)})
	}
}
