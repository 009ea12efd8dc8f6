package mmu

import "fmt"

// loadPDPTRs reads the four PDPTEs of a PAE guest from the 32-byte aligned
// table at cr3 into the PDPTR registers, as load_pdptrs does, refusing
// present entries with reserved bits. Nothing is loaded on failure.
func (m *Machine) loadPDPTRs(v *VCPU, cr3 uint64) (bool, string) {
	return m.loadPDPTRsBy(v, cr3, false)
}

// loadPDPTRsBy is loadPDPTRs done by KVM (load_pdptrs) or, byCPU, by the
// processor itself on a CR3 load that does not exit (EPT).
func (m *Machine) loadPDPTRsBy(v *VCPU, cr3 uint64, byCPU bool) (bool, string) {
	base := GPA(cr3 & 0xffffffe0)
	rsvd := pdptrRsvdBits(m.Config.MaxPhyAddr)
	var pd [4]uint64
	for i := range pd {
		gpa := base + GPA(8*i)
		hpa, ok := m.GPAToHPA(gpa)
		if !ok {
			return false, fmt.Sprintf("the PDPT at GPA %s is outside every memslot", base)
		}
		val, err := m.Mem.Read(hpa, 8)
		if err != nil {
			return false, err.Error()
		}
		m.refs++
		pd[i] = val
		if !m.Quiet {
			fn, who := "load_pdptrs", "load_pdptrs:"
			if byCPU {
				fn, who = "cpu", "The processor loads the PDPTEs itself (no exit):"
			}
			m.emit(Event{Kind: EvRead, MMU: v.WalkMMU().Name, Func: fn, Space: SpaceGPA,
				Addr: uint64(gpa), Level: 3, Index: i, HasEntry: true, Old: val, New: val, HPA: hpa, HasHPA: true,
				Table: uint64(base), Size: 8, VCPU: v.ID,
				Text: fmt.Sprintf("%s PDPTE %d at GPA %s = %s is copied into the PDPTR%d register.", who, i, gpa, hex(val), i)})
		}
		if val&PTPresent != 0 && val&rsvd != 0 {
			return false, fmt.Sprintf("PDPTE %d = %s sets reserved bits %s", i, hex(val), hex(val&rsvd))
		}
	}
	v.PDPTRs = pd
	return true, ""
}

// gp records a #GP(0) for a refused register write.
func (m *Machine) gp(v *VCPU, fn, why string) (Result, error) {
	if !m.Quiet {
		m.emit(Event{Kind: EvFault, MMU: v.WalkMMU().Name, Func: fn, VCPU: v.ID,
			Text: "#GP(0): " + why + "; the register keeps its old value."})
	}
	return Result{Fault: &Fault{Vector: "#GP", Reason: why}}, nil
}

func (m *Machine) doSetReg(a *SetReg) (Result, error) {
	v, err := m.VCPU(a.VCPU)
	if err != nil {
		return Result{}, err
	}
	if err := checkReg(a.Reg); err != nil {
		return Result{}, err
	}
	if a.Op != RegAssign && a.Op != RegSetBits && a.Op != RegClearBits {
		return Result{}, fmt.Errorf("register operation %d is not assign, set bits or clear bits", int(a.Op))
	}
	old := v.Regs
	oldPDPTRs := v.PDPTRs
	next := v.Regs
	switch a.Op {
	case RegSetBits:
		next.Set(a.Reg, old.Get(a.Reg)|a.Value)
	case RegClearBits:
		next.Set(a.Reg, old.Get(a.Reg)&^a.Value)
	default:
		next.Set(a.Reg, a.Value)
	}
	fn, why := m.validateRegWrite(v, a.Reg, &next)
	noExit, exitWhy := m.tdpWriteWithoutExit(v, a.Reg, &old, &next)
	if noExit {
		fn = "cpu"
	}
	if why != "" {
		return m.gp(v, fn, why)
	}
	if noExit {
		return m.cpuSetReg(v, a.Reg, old, next, exitWhy)
	}
	if next.Mode() == PagingPAE && m.needPDPTRReload(a.Reg, &old, &next) {
		if ok, msg := m.loadPDPTRs(v, next.CR3); !ok {
			return m.gp(v, fn, msg)
		}
	}
	v.Regs = next
	v.HasRun = true // the guest executed the write
	val := v.Regs.Get(a.Reg)
	text := fmt.Sprintf("%s: %s ← %s", fn, a.Reg, hex(val))
	if _, named := RegBits[a.Reg]; named {
		text += " (" + DecodeReg(a.Reg, val) + ")"
	}
	if !m.Quiet {
		m.emit(Event{Kind: EvSet, MMU: v.WalkMMU().Name, Func: fn, Space: SpaceReg, Reg: a.Reg,
			Old: old.Get(a.Reg), New: val, VCPU: v.ID, Text: text + "."})
	}
	if a.Reg == RegCR0 && next.EFER != old.EFER {
		if !m.Quiet {
			m.emit(Event{Kind: EvSet, MMU: v.WalkMMU().Name, Func: fn, Space: SpaceReg, Reg: RegEFER,
				Old: old.EFER, New: next.EFER, VCPU: v.ID,
				Text: fmt.Sprintf("%s: long mode is now %s, so EFER.LMA follows (EFER = %s).",
					fn, map[bool]string{true: "active", false: "inactive"}[next.EFER&EFERLMA != 0], hex(next.EFER))})
		}
	}
	update, post, why := m.postSetReg(a.Reg, &old, &next)
	roleChanged := false
	switch update {
	case mmuReset:
		if m.tdp == nil && m.shadow == nil {
			// No roots to unload: kvm_mmu_reset_context is kvm_init_mmu.
			roleChanged = m.kvmInitMMU(v)
		} else {
			m.emitPostSet(v, post, why)
			m.kvmMMUResetContextAll(v)
			roleChanged = true
		}
	case mmuInitOnly:
		m.emitPostSet(v, post, why)
		roleChanged = m.kvmInitMMU(v)
	default:
		if why != "" {
			m.emitPostSet(v, post, why)
		}
	}
	if m.shadow != nil {
		if err := m.shadowAfterSetReg(v, a.Reg, &old, oldPDPTRs, roleChanged); err != nil {
			return Result{}, err
		}
	}
	return Result{OK: true, HasValue: true, Value: val}, nil
}

// emitPostSet narrates what the register write asks of the MMU.
func (m *Machine) emitPostSet(v *VCPU, fn, why string) {
	if !m.Quiet {
		m.emit(Event{Kind: EvCheck, MMU: v.ArchMMU().Name, Func: fn, VCPU: v.ID, Text: fn + ": " + why + "."})
	}
}

// needPDPTRReload says when a PAE guest's register write reloads the
// PDPTRs: a CR3 write, paging being turned on, or a change of the CR4 bits
// that affect them (X86_CR4_PDPTR_BITS).
func (m *Machine) needPDPTRReload(r Reg, old, next *Regs) bool {
	switch r {
	case RegCR3:
		return true
	case RegCR0:
		return (old.CR0^next.CR0)&CR0PG != 0 // X86_CR0_PDPTR_BITS: PG (CD, NW not modelled)
	case RegCR4:
		return (old.CR4^next.CR4)&(CR4PGE|CR4PSE|CR4PAE|CR4SMEP) != 0
	}
	return false
}

// validateRegWrite applies the checks of kvm_set_cr0/3/4 and set_efer that
// matter to paging, updating next (EFER.LMA follows CR0.PG), and returns the
// kernel function and, when the write is refused, why.
func (m *Machine) validateRegWrite(v *VCPU, r Reg, next *Regs) (string, string) {
	old := &v.Regs
	switch r {
	case RegCR0:
		if next.CR0&CR0PG != 0 && next.CR0&CR0PE == 0 {
			return "kvm_set_cr0", "CR0.PG needs CR0.PE"
		}
		if next.CR0&CR0PG != 0 && old.CR0&CR0PG == 0 && next.EFER&EFERLME != 0 {
			if next.CR4&CR4PAE == 0 {
				return "kvm_set_cr0", "entering long mode needs CR4.PAE"
			}
			next.EFER |= EFERLMA
		}
		if next.CR0&CR0PG == 0 {
			next.EFER &^= EFERLMA
		}
		return "kvm_set_cr0", ""
	case RegCR3:
		// kvm_set_cr3 checks this in every mode, not only in long mode.
		if next.CR3&bits(m.Config.MaxPhyAddr, 63) != 0 {
			return "kvm_set_cr3", fmt.Sprintf("CR3 sets bits above MAXPHYADDR (%d)", m.Config.MaxPhyAddr)
		}
		return "kvm_set_cr3", ""
	case RegCR4:
		for _, f := range []struct {
			bit uint64
			has bool
			n   string
		}{{CR4SMEP, m.Config.SMEP, "SMEP"}, {CR4SMAP, m.Config.SMAP, "SMAP"}, {CR4PKE, m.Config.PKU, "PKE"}, {CR4LA57, m.Config.LA57, "LA57"}} {
			if next.CR4&f.bit != 0 && !f.has {
				return "kvm_set_cr4", "the vCPU model has no " + f.n
			}
		}
		if old.EFER&EFERLMA != 0 && next.CR4&CR4PAE == 0 {
			return "kvm_set_cr4", "CR4.PAE cannot be cleared in long mode"
		}
		if old.EFER&EFERLMA != 0 && (old.CR4^next.CR4)&CR4LA57 != 0 {
			return "kvm_set_cr4", "CR4.LA57 cannot change in long mode"
		}
		return "kvm_set_cr4", ""
	case RegEFER:
		next.EFER = next.EFER&^EFERLMA | old.EFER&EFERLMA
		if next.EFER&EFERNX != 0 && !m.Config.NX {
			return "set_efer", "the vCPU model has no NX"
		}
		if old.CR0&CR0PG != 0 && (old.EFER^next.EFER)&EFERLME != 0 {
			return "set_efer", "EFER.LME cannot change while paging is on"
		}
		return "set_efer", ""
	}
	if r == RegPKRU {
		// The guest writes PKRU with WRPKRU, which does not exit; KVM keeps
		// the value in vcpu->arch.pkru.
		return "WRPKRU", ""
	}
	return "kvm_set_rflags", ""
}
