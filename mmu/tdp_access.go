package mmu

import "fmt"

// A guest access on TDP: the vCPU enters the guest, the processor makes
// the two-dimensional walk, and when a translation through EPT/NPT fails
// the VM exits to KVM, which fixes its tables and re-enters; the guest
// then retries the access from scratch.

// maxTDPAttempts bounds the retries of one access: a 5-level guest on an
// empty 5-level EPT needs at most six faults (five tables and the page).
const maxTDPAttempts = 12

// doAccessTDP is doAccess for a guest running on EPT/NPT.
func (m *Machine) doAccessTDP(v *VCPU, a *Access, mode PagingMode, acc uint64, gp *Fault) (Result, error) {
	mmu := v.WalkMMU()
	if err := m.tdxVCPUPreRun(); err != nil {
		return Result{}, err
	}
	if res, dead := m.tdxDeadResult(); dead {
		return res, nil
	}
	m.emitTDPBegin(v, a, mode, acc, gp)
	if gp != nil {
		if !m.Quiet {
			m.emit(Event{Kind: EvFault, MMU: mmu.Name, Func: "cpu", Space: SpaceGVA, Addr: uint64(a.GVA),
				VCPU: v.ID, GVA: a.GVA, Text: "#GP(0): " + gp.Reason + ". The processor raises it in the guest; no VM exit."})
		}
		return Result{Fault: gp, HasRefs: true}, nil
	}
	l2 := v.GuestMode
	if err := m.kvmMMUReloadArch(v); err != nil {
		return Result{}, err
	}
	total := 0
	var last *Fault
	for try := 1; try <= maxTDPAttempts; try++ {
		if try > 1 {
			m.emitReentry(v, a, try)
			if l2 {
				if err := m.kvmMMUReloadArch(v); err != nil {
					return Result{}, err
				}
			}
		}
		h := m.newHWWalk(v, a.GVA)
		w := m.walkAddrGeneric(v, m.hardwareMMU(v, mmu), a.GVA, acc, h)
		total += w.Refs
		if w.Fault == nil || w.Fault.Exit == nil {
			res := m.tdpAccessResult(v, a, mode, w, total, try)
			if res.OK {
				m.guestStore(v, a, w.GPA, w.HPA)
			}
			return res, nil
		}
		last = w.Fault
		if _, emulate := m.nestedL1WriteExit(v, w.Fault.Exit); emulate {
			return m.nestedEmulateL1Write(v, a, w, total, try)
		}
		r := m.handleL2OrTDPExit(v, w.Fault.Exit)
		if l2 && !v.GuestMode {
			return m.reflectedResult(v, w, total, try), nil
		}
		switch r {
		case retPFFixed, retPFSpurious, retPFRetry:
			continue
		case retPFEmulate:
			return m.x86EmulateInstruction(v, a, acc, w, total, try), nil
		case retPFMemoryFault, retPFVMDead, retPFTDXMMIO:
			return m.tdxExitResult(r, last, w, total, try), nil
		default:
			res := Result{Fault: last, HasRefs: true, Refs: w.Refs, Note: "KVM_RUN fails: kvm_mmu_page_fault returned " +
				"an error, so the VM stops"}
			setRefsTotal(&res, total, try)
			return res, nil
		}
	}
	return noProgress(last, total, maxTDPAttempts, "the same kind of exit keeps recurring"), nil
}

// noProgress is the result of a guest access that gave up after tries
// attempts, each ending in last (or none) because of what keeps happening;
// total is the references of every attempt.
func noProgress(last *Fault, total, tries int, what string) Result {
	res := Result{Fault: last, HasRefs: true, Note: fmt.Sprintf("the guest makes no progress: after %d attempts %s",
		tries, what)}
	setRefsTotal(&res, total, tries)
	return res
}

// setRefsTotal records the references of every attempt when there were
// several.
func setRefsTotal(r *Result, total, tries int) {
	if tries > 1 {
		r.RefsTotal, r.HasRefsTotal = total, true
	}
}

// emitTDPBegin narrates the start of a guest access on TDP.
func (m *Machine) emitTDPBegin(v *VCPU, a *Access, mode PagingMode, acc uint64, gp *Fault) {
	if m.Quiet {
		return
	}
	t := m.tdp
	text := fmt.Sprintf("vCPU %d runs the guest: a %s of GVA %s with %s on %d-level %s", v.ID, describeAccess(acc),
		a.GVA, mode, t.level, t.cfg.Kind)
	switch {
	case gp != nil:
		text += "."
	case mode == PagingOff:
		text += ". Paging is off, so the GVA is the GPA, and the processor only translates it through " +
			t.cfg.Kind.String() + "."
	default:
		text += fmt.Sprintf(". The processor walks the guest's tables from CR3 = %s itself, and translates every "+
			"guest-physical address on the way (each table, then the final GPA) through %s: a two-dimensional walk.",
			hex(v.Regs.CR3), t.cfg.Kind)
	}
	if m.IsTD() {
		text += " In a TD, a private GPA goes through the TDX module's S-EPT, a GPA with the shared bit through " +
			"the shared EPT."
	}
	m.emit(Event{Kind: EvBegin, MMU: v.WalkMMU().Name, Func: "cpu", Space: SpaceGVA, Addr: uint64(a.GVA),
		VCPU: v.ID, GVA: a.GVA, Old: acc, New: acc, TwoD: true, Text: text})
}

// emitReentry narrates the VM entry after KVM fixed its tables.
func (m *Machine) emitReentry(v *VCPU, a *Access, try int) {
	if m.Quiet {
		return
	}
	m.emit(Event{Kind: EvBegin, MMU: v.WalkMMU().Name, Func: "cpu", Space: SpaceGVA, Addr: uint64(a.GVA),
		VCPU: v.ID, GVA: a.GVA, TwoD: true,
		Text: fmt.Sprintf("VM entry: KVM resumes the guest, which executes the same instruction again. Attempt %d: the "+
			"processor walks again from CR3, with nothing remembered from the failed attempt.", try)})
}

// tdpAccessResult is the outcome of an attempt that ended without a VM
// exit: a translation, or a fault the guest takes itself.
func (m *Machine) tdpAccessResult(v *VCPU, a *Access, mode PagingMode, w *GuestWalker, total, try int) Result {
	res := Result{HasRefs: true, Refs: w.Refs}
	setRefsTotal(&res, total, try)
	if w.Fault != nil {
		res.Fault = w.Fault
		return res
	}
	res.OK, res.HasGPA, res.GPA = true, true, w.GPA
	res.HasHPA, res.HPA = true, w.HPA
	text := fmt.Sprintf("GVA %s → GPA %s → HPA %s", a.GVA, w.GPA, w.HPA)
	if w.Level > 0 {
		text += fmt.Sprintf(", a %s guest page", sizeString(LevelPageSize(mode, w.Level)))
	}
	if !m.Quiet {
		more := ""
		if try > 1 {
			more = fmt.Sprintf(" (%d in all over %d attempts)", total, try)
		}
		m.emit(Event{Kind: EvResult, MMU: v.WalkMMU().Name, Func: "cpu", Space: SpaceGPA, Addr: uint64(w.GPA),
			Level: w.Level, VCPU: v.ID, GVA: a.GVA, HPA: w.HPA, HasHPA: true,
			Text: fmt.Sprintf("%s; %s%s.", text, refsString(w.Refs), more)})
	}
	return res
}

// x86EmulateInstruction is KVM emulating the instruction after
// RET_PF_EMULATE. For an MMIO GPA the emulator knows the GPA from the exit
// and hands the access to the device model. When the exit was on a guest
// table outside every memslot, the emulator must walk the guest's tables
// in software (paging64_gva_to_gpa), which fails there and injects a #PF.
func (m *Machine) x86EmulateInstruction(v *VCPU, a *Access, acc uint64, last *GuestWalker, total, try int) Result {
	x := last.Fault.Exit
	res := Result{HasRefs: true, Refs: last.Refs}
	setRefsTotal(&res, total, try)
	if x.Final {
		if !m.Quiet {
			m.emit(Event{Kind: EvResult, MMU: "root_mmu", Func: "x86_emulate_instruction", Space: SpaceGPA,
				Addr: uint64(x.GPA), VCPU: v.ID, GVA: a.GVA,
				Text: fmt.Sprintf("x86_emulate_instruction: KVM emulates the instruction. The GPA %s is known from the exit "+
					"(gpa_available), so the operand needs no walk of the guest's tables (fetching the instruction at RIP "+
					"does, which the model leaves out); it is MMIO, and the access goes to the device model (an exit to "+
					"userspace). KVM then resumes the guest after the instruction.", x.GPA)})
		}
		res.OK, res.HasGPA, res.GPA = true, true, x.GPA
		res.Note = "MMIO: no memslot covers the GPA; KVM emulated the access"
		return res
	}
	if !m.Quiet {
		m.emit(Event{Kind: EvCheck, MMU: "root_mmu", Func: "x86_emulate_instruction", Space: SpaceGVA,
			Addr: uint64(a.GVA), VCPU: v.ID, GVA: a.GVA,
			Text: fmt.Sprintf("x86_emulate_instruction: the guest's own table at GPA %s is MMIO, which the processor cannot "+
				"walk, so KVM emulates the instruction and its software walker reads the guest's tables.", x.GPA)})
	}
	var tr Translator = SlotTranslator{}
	if v.WalkMMU() == &v.NestedMMU {
		tr = &nestedTranslator{v: v}
	}
	m.kvmMMURefreshPassthroughBits(v, v.WalkMMU())
	w := m.walkAddrGeneric(v, v.WalkMMU(), a.GVA, acc, tr)
	if w.Fault != nil {
		res.Fault = w.Fault
		res.Note = "KVM's emulator injects the #PF (kvm_inject_emulated_page_fault)"
		return res
	}
	res.OK, res.HasGPA, res.GPA = true, true, w.GPA
	res.HPA, res.HasHPA = w.HPA, w.Mapped
	return res
}
