package mmu

import "fmt"

// A guest store to a guest-physical address on TDP (`guest-write`, and a
// scripted edit of a guest page-table entry): the processor translates the
// GPA through EPT/NPT with write access, like the final step of a
// two-dimensional walk. A missing or read-only EPT/NPT entry exits to KVM,
// which maps the page; the guest then retries the store. Only then does
// memory change, and the EPT/NPT leaf gets its A and D bits.

// tdpGuestStore stores size bytes of value at gpa for vCPU v on TDP and
// returns the store's outcome; hpa is where the memslots put gpa.
func (m *Machine) tdpGuestStore(v *VCPU, gpa GPA, size int, value uint64) (Result, error) {
	if err := m.kvmMMUReload(v); err != nil {
		return Result{}, err
	}
	if !m.Quiet {
		m.emit(Event{Kind: EvBegin, MMU: v.WalkMMU().Name, Func: "cpu", Space: SpaceGPA, Addr: uint64(gpa), VCPU: v.ID,
			TwoD: true, Text: fmt.Sprintf("vCPU %d runs the guest, which stores %d bytes at GPA %s (the scenario names no "+
				"linear address, so the model treats it as a physical access). Before memory is written, the processor "+
				"translates the GPA through %s with write access.", v.ID, size, gpa, m.tdp.cfg.Kind)})
	}
	total := 0
	var last *Fault
	for try := 1; try <= maxTDPAttempts; try++ {
		if try > 1 && !m.Quiet {
			m.emit(Event{Kind: EvBegin, MMU: v.WalkMMU().Name, Func: "cpu", Space: SpaceGPA, Addr: uint64(gpa),
				VCPU: v.ID, TwoD: true, Text: fmt.Sprintf("VM entry: KVM resumes the guest, which executes the "+
					"store again. Attempt %d: the processor translates GPA %s from the EPT/NPT root again.", try, gpa)})
		}
		h := m.newHWWalk(v, 0)
		hpa, ok, f := h.translate(m, gpa, hwWrite, 0)
		total += h.ref(m)
		if ok {
			res, err := m.storeAt(v, gpa, hpa, size, value)
			res.HasRefs, res.Refs = true, h.ref(m)
			setRefsTotal(&res, total, try)
			return res, err
		}
		last = f
		// The store has no linear address in the model: the exit
		// qualification says so (bits 7 and 8 clear).
		f.Exit.Qualification &^= EPTViolationGVAIsValid | EPTViolationGVATranslated
		switch r := m.handleTDPExit(v, f.Exit); r {
		case retPFFixed, retPFSpurious, retPFRetry:
			continue
		default:
			res := Result{Fault: last, HasRefs: true, Note: "the store cannot complete: kvm_mmu_page_fault did not map " +
				"the page (a GPA without memory would be MMIO, which a store by GPA does not model)"}
			setRefsTotal(&res, total, try)
			return res, nil
		}
	}
	return noProgress(last, total, maxTDPAttempts, "the store still exits"), nil
}

// storeAt writes memory for a guest store that translated, and narrates it.
func (m *Machine) storeAt(v *VCPU, gpa GPA, hpa HPA, size int, value uint64) (Result, error) {
	old, err := m.Mem.Write(hpa, size, value)
	if err != nil {
		return Result{}, err
	}
	if !m.Quiet {
		how := "Without shadow paging KVM does not notice."
		if m.tdp != nil {
			how = fmt.Sprintf("The %s translation allowed it, so KVM does not notice.", m.tdp.cfg.Kind)
		}
		m.emit(Event{Kind: EvWrite, MMU: "guest", Func: "guest store", Space: SpaceGPA,
			Addr: uint64(gpa), Old: old, New: value, VCPU: v.ID, HPA: hpa, HasHPA: true, Size: size,
			Text: fmt.Sprintf("The guest stores %s to GPA %s (%d bytes; was %s). %s", hex(value), gpa, size, hex(old), how)})
	}
	return Result{OK: true, HasGPA: true, GPA: gpa, HasHPA: true, HPA: hpa}, nil
}
