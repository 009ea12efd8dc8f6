package mmu

import "fmt"

// A guest access under shadow paging: the processor walks KVM's shadow
// tables, never the guest's. When that walk faults the #PF is intercepted
// and KVM handles it (kvm_mmu_page_fault), then re-enters the guest, which
// retries the instruction; or KVM emulates it; or KVM injects the guest's
// own #PF.

// maxShadowAttempts bounds the retries of one access.
const maxShadowAttempts = 12

// shadowHW is what the processor's walk of the shadow tables found.
type shadowHW struct {
	refs   int
	hpa    HPA
	gpa    GPA // the frame KVM mapped there (sp's gfn for the entry), for the result
	level  int
	fault  *Fault
	ec     uint64
	unsync bool // an unsync shadow page was on the path
}

// hwShadowPermissions is the processor's permission table while it runs
// the shadow tables: the guest's SMEP and SMAP, but CR0.WP and EFER.NX
// forced on (KVM runs shadow paging that way) and no protection keys.
func hwShadowPermissions(role CPURole) [16]uint8 {
	r := role
	r.Base = setFlag(setFlag(r.Base, roleCR0WP, true), roleEferNX, true)
	r.Ext.CR4PKE = false
	return updatePermissionBitmask(r)
}

// shadowHWWalk is the processor walking the shadow tables from KVM's root
// for gva: with a PAE root the PDPTE comes from a register, loaded from
// pae_root at VM entry; every other level is a memory reference.
func (m *Machine) shadowHWWalk(v *VCPU, gva GVA, acc uint64) *shadowHW {
	h := &shadowHW{}
	mmu := v.ArchMMU()
	table := mmu.Root
	level := m.hwRootLevel(v)
	if level == 3 {
		i := int(uint64(gva)>>30) & 3
		e := m.readSPTE(table + HPA(8*i))
		m.emitHWRead(v, gva, table, 3, i, e, false)
		if e&PTPresent == 0 {
			return m.hwFault(v, gva, h, acc, 0, 3, "the PDPTE is not present")
		}
		table, level = HPA(e&eptAddrMask), 2
	}
	allow := AccAll
	for ; level >= 1; level-- {
		if sp := m.shadow.spAt(table); sp != nil && sp.Unsync {
			h.unsync = true
		}
		i := spteIndex(GPA(gva), level)
		sptep := table + HPA(8*i)
		e := m.readSPTE(sptep)
		h.refs++
		m.emitHWRead(v, gva, table, level, i, e, true)
		if e&PTPresent == 0 {
			return m.hwFault(v, gva, h, acc, 0, level, fmt.Sprintf("the level-%d SPTE is not present", level))
		}
		if r := e & hwReservedBits(m.Config.MaxPhyAddr, level); r != 0 {
			return m.hwFault(v, gva, h, acc, PFErrPresent|PFErrRsvd, level,
				fmt.Sprintf("the level-%d SPTE sets reserved bits %s (an MMIO SPTE)", level, hex(r)))
		}
		allow &= gpteAccess(PTE(e), true)
		if level == 1 || e&PTPageSize != 0 {
			size := uint64(PageSize) << (9 * uint(level-1))
			h.hpa = HPA(e&eptAddrMask&^(size-1) | uint64(gva)&(size-1))
			h.level = level
			if sp := m.shadow.spAt(table); sp != nil {
				h.gpa = m.shadow.kvmMMUPageGetGFN(sp, i).GPA() | GPA(uint64(gva)&(size-1))
			}
			break
		}
		table = HPA(e & eptAddrMask)
	}
	hw := MMU{permissions: hwShadowPermissions(mmu.CPURole)}
	if ec := hw.permissionFault(allow, 0, acc, v.Regs.RFLAGS, 0); ec != 0 {
		return m.hwFault(v, gva, h, acc, ec, h.level, fmt.Sprintf("the shadow tables grant %s, which does not allow "+
			"a %s (the processor runs them with CR0.WP=1)", rightsString(allow, true), describeAccess(acc)))
	}
	return h
}

// hwReservedBits are the bits the processor requires clear in a present
// entry of the shadow tables at level: above MAXPHYADDR, and PS in the top
// two levels. KVM's MMIO SPTEs set bit 51 on purpose.
func hwReservedBits(maxPhyAddr, level int) uint64 {
	r := bits(maxPhyAddr, 51)
	if level >= 4 {
		r |= PTPageSize
	}
	return r
}

// hwFault ends the walk with a #PF that the processor does not deliver:
// under shadow paging KVM intercepts every #PF (the exception bitmap).
func (m *Machine) hwFault(v *VCPU, gva GVA, h *shadowHW, acc, ec uint64, level int, why string) *shadowHW {
	ec |= acc & (PFErrWrite | PFErrUser | PFErrFetch)
	h.ec = ec
	h.fault = &Fault{Vector: "#PF", ErrorCode: ec, Addr: gva, Level: level, Reason: why}
	if !m.Quiet {
		m.emit(Event{Kind: EvFault, MMU: "root_mmu", Func: "cpu", Space: SpaceGVA, Addr: uint64(gva), Level: level,
			Old: ec, New: ec, VCPU: v.ID, GVA: gva,
			Text: fmt.Sprintf("#PF in the shadow tables: %s (error code %s = %s). Under shadow paging KVM intercepts "+
				"every #PF, so the guest does not see it: the vCPU exits to KVM.", why, hex(ec), DecodeErrorCode(ec))})
		m.emit(Event{Kind: EvExit, MMU: "root_mmu", Func: "kvm_handle_page_fault", Space: SpaceGVA, Addr: uint64(gva),
			Old: ec, New: ec, VCPU: v.ID, GVA: gva,
			Text: fmt.Sprintf("VM exit (#PF intercepted): handle_exception_nmi → kvm_handle_page_fault with CR2 = %s, "+
				"error code %s.", gva, hex(ec))})
	}
	return h
}

// shadowTableName names a table of KVM's for narration.
func (m *Machine) shadowTableName(v *VCPU, table HPA) string {
	mmu := v.ArchMMU()
	switch {
	case m.shadow.spAt(table) != nil:
		return spName(m.shadow.spAt(table))
	case table == 0:
		return "the dummy root"
	case table == mmu.PML5Root:
		return "pml5_root at HPA " + table.String()
	case table == mmu.PML4Root:
		return "pml4_root at HPA " + table.String()
	case table == mmu.PAERoot:
		return "pae_root at HPA " + table.String()
	}
	return "the table at HPA " + table.String()
}

// emitHWRead records the processor reading an entry of the shadow tables.
func (m *Machine) emitHWRead(v *VCPU, gva GVA, table HPA, level, i int, e uint64, ref bool) {
	if m.Quiet {
		return
	}
	sptep := table + HPA(8*i)
	lo := PageShift + 9*(level-1)
	hi := lo + 8
	what := fmt.Sprintf("GVA bits %d:%d = %d index %s", hi, lo, i, m.shadowTableName(v, table))
	cost := ""
	if !ref {
		what = fmt.Sprintf("GVA bits 31:30 = %d select PDPTE %d, which the processor loaded from %s at VM entry", i, i,
			m.shadowTableName(v, table))
		cost = " No memory reference."
	}
	state := "not present"
	switch {
	case e&PTPresent == 0:
	case level == 1 || (e&PTPageSize != 0 && level > 1):
		state = fmt.Sprintf("%s: it maps a %s page at HPA %s", DecodeFlags(PTE(e), level, true), levelPageName(level),
			HPA(e&eptAddrMask&^(uint64(PageSize)<<(9*uint(level-1))-1)))
	default:
		state = fmt.Sprintf("%s: the next table is %s", DecodeFlags(PTE(e), level, true),
			m.shadowTableName(v, HPA(e&eptAddrMask)))
	}
	m.emit(Event{Kind: EvRead, MMU: "root_mmu", Func: "cpu", Space: SpaceHPA, Addr: uint64(sptep), Level: level,
		Index: i, HasEntry: true, Old: e, New: e, VCPU: v.ID, GVA: gva, Table: uint64(table), HPA: sptep, HasHPA: true,
		Size: 8, Text: fmt.Sprintf("The processor walks the shadow tables: %s; its entry at HPA %s is %s (%s).%s",
			what, sptep, hex(e), state, cost)})
}

// doAccessShadow is doAccess under shadow paging.
func (m *Machine) doAccessShadow(v *VCPU, a *Access, mode PagingMode, acc uint64, gp *Fault) (Result, error) {
	m.emitShadowBegin(v, a, mode, acc, gp)
	if gp != nil {
		if !m.Quiet {
			m.emit(Event{Kind: EvFault, MMU: "root_mmu", Func: "cpu", Space: SpaceGVA, Addr: uint64(a.GVA), VCPU: v.ID,
				GVA: a.GVA, Text: "#GP(0): " + gp.Reason + ". The processor raises it in the guest; no VM exit."})
		}
		return Result{Fault: gp, HasRefs: true}, nil
	}
	total := 0
	for try := 1; try <= maxShadowAttempts; try++ {
		if try > 1 {
			m.emitShadowReentry(v, a, try)
		}
		if err := m.shadowEnterGuest(v); err != nil {
			return Result{}, err
		}
		hw := m.shadowHWWalk(v, a.GVA, acc)
		total += hw.refs
		if hw.fault == nil {
			return m.shadowAccessResult(v, a, mode, hw, total, try), nil
		}
		r, w, inj := m.kvmMMUPageFaultShadow(v, a.GVA, hw.ec, acc)
		if inj != nil {
			res := Result{Fault: inj, HasRefs: true, Refs: hw.refs}
			setRefsTotal(&res, total, try)
			return res, nil
		}
		switch r {
		case retPFFixed, retPFSpurious, retPFRetry:
			continue
		case retPFEmulate:
			return m.shadowEmulate(v, a, acc, w, hw, total, try)
		}
		res := Result{Fault: hw.fault, HasRefs: true, Refs: hw.refs,
			Note: "KVM_RUN fails: kvm_mmu_page_fault returned an error, so the VM stops"}
		setRefsTotal(&res, total, try)
		return res, nil
	}
	return noProgress(nil, total, maxShadowAttempts, "the same fault keeps recurring"), nil
}

// emitShadowBegin narrates the start of a guest access under shadow paging.
func (m *Machine) emitShadowBegin(v *VCPU, a *Access, mode PagingMode, acc uint64, gp *Fault) {
	if m.Quiet {
		return
	}
	text := fmt.Sprintf("vCPU %d runs the guest: a %s of GVA %s with %s under shadow paging", v.ID,
		describeAccess(acc), a.GVA, mode)
	switch {
	case gp == nil && mode == PagingOff:
		text += ". The processor still runs with paging on, through KVM's direct shadow tables, which map GVA = GPA " +
			"to HPA."
	case gp == nil:
		text += ". The processor walks KVM's shadow tables, not the guest's: they map GVA straight to HPA."
	default:
		text += "."
	}
	m.emit(Event{Kind: EvBegin, MMU: "root_mmu", Func: "cpu", Space: SpaceGVA, Addr: uint64(a.GVA), VCPU: v.ID,
		GVA: a.GVA, Old: acc, New: acc, Text: text})
}

// emitShadowReentry narrates the VM entry after KVM handled a fault.
func (m *Machine) emitShadowReentry(v *VCPU, a *Access, try int) {
	if !m.Quiet {
		m.emit(Event{Kind: EvBegin, MMU: "root_mmu", Func: "cpu", Space: SpaceGVA, Addr: uint64(a.GVA), VCPU: v.ID,
			GVA: a.GVA, Text: fmt.Sprintf("VM entry: KVM resumes the guest, which executes the same instruction "+
				"again. Attempt %d: the processor walks the shadow tables again.", try)})
	}
}

// shadowAccessResult is the outcome of an attempt whose walk succeeded,
// with the store of a write that carries a value.
func (m *Machine) shadowAccessResult(v *VCPU, a *Access, mode PagingMode, hw *shadowHW, total, try int) Result {
	res := Result{OK: true, HasRefs: true, Refs: hw.refs, HasGPA: true, GPA: hw.gpa, HasHPA: true, HPA: hw.hpa}
	setRefsTotal(&res, total, try)
	if !m.Quiet {
		more := ""
		if try > 1 {
			more = fmt.Sprintf(" (%d in all over %d attempts)", total, try)
		}
		stale := ""
		if hw.unsync {
			stale = " The path went through an unsync shadow page: if the guest changed its entry since, this " +
				"translation is stale until the guest flushes its TLB."
		}
		m.emit(Event{Kind: EvResult, MMU: "root_mmu", Func: "cpu", Space: SpaceGPA, Addr: uint64(hw.gpa),
			Level: hw.level, VCPU: v.ID, GVA: a.GVA, HPA: hw.hpa, HasHPA: true,
			Text: fmt.Sprintf("GVA %s → HPA %s through a %s shadow page (GPA %s as KVM shadowed it); %s%s.%s", a.GVA,
				hw.hpa, levelPageName(hw.level), hw.gpa, refsString(hw.refs), more, stale)})
	}
	m.guestStore(v, a, hw.gpa, hw.hpa)
	return res
}

// shadowEmulate is x86_emulate_instruction after RET_PF_EMULATE: an MMIO
// access goes to the device model; a write to a guest page table KVM
// write-protects is performed by KVM itself (emulator_write_phys), which
// then tells the shadow MMU what changed (kvm_page_track_write →
// kvm_mmu_track_write).
func (m *Machine) shadowEmulate(v *VCPU, a *Access, acc uint64, w *GuestWalker, hw *shadowHW, total, try int) (Result, error) {
	res := Result{HasRefs: true, Refs: hw.refs}
	setRefsTotal(&res, total, try)
	if w == nil {
		restore := m.quietly()
		w = m.walkAddrGeneric(v, v.WalkMMU(), a.GVA, acc, SlotTranslator{})
		restore()
	}
	if w.Fault != nil {
		res.Fault = w.Fault
		return res, nil
	}
	res.OK, res.HasGPA, res.GPA = true, true, w.GPA
	if !w.Mapped {
		if !m.Quiet {
			m.emit(Event{Kind: EvResult, MMU: "root_mmu", Func: "x86_emulate_instruction", Space: SpaceGPA,
				Addr: uint64(w.GPA), VCPU: v.ID, GVA: a.GVA,
				Text: fmt.Sprintf("x86_emulate_instruction: GPA %s is MMIO, so the access goes to the device model (an "+
					"exit to userspace); KVM then resumes the guest after the instruction.", w.GPA)})
		}
		res.Note = "MMIO: no memslot covers the GPA; KVM emulated the access"
		return res, nil
	}
	res.HasHPA, res.HPA = true, w.HPA
	if a.Kind == AccessWrite {
		m.emulatedGuestWrite(v, a, w)
		res.Note = "KVM emulated the write to a write-protected guest page table"
	}
	return res, m.shadowResume(v)
}

// emulatedGuestWrite is the emulator's store (emulator_write_emulated →
// emulator_write_phys) followed by kvm_page_track_write. Without a value
// the store writes back the bytes already there: the model does not know
// the data, but KVM reacts the same way.
func (m *Machine) emulatedGuestWrite(v *VCPU, a *Access, w *GuestWalker) {
	size, gpa, hpa := a.Size, w.GPA, w.HPA
	val := a.Value
	if !a.HasValue {
		size = EntrySize(w.Mode)
		gpa &^= GPA(size - 1)
		hpa &^= HPA(size - 1)
		val, _ = m.Mem.Read(hpa, size)
	}
	old, err := m.Mem.Write(hpa, size, val)
	if err != nil {
		return
	}
	if !m.Quiet {
		data := ""
		if !a.HasValue {
			data = " (the script gave no value=, so the store writes back what is there)"
		}
		m.emit(Event{Kind: EvWrite, MMU: "root_mmu", Func: "emulator_write_phys", Space: SpaceGPA, Addr: uint64(gpa),
			Old: old, New: val, VCPU: v.ID, GVA: a.GVA, HPA: hpa, HasHPA: true, Size: size,
			Text: fmt.Sprintf("x86_emulate_instruction → emulator_write_emulated → emulator_write_phys: KVM performs "+
				"the guest's %d-byte store to GPA %s itself (%s → %s)%s, then calls kvm_page_track_write.", size, gpa,
				hex(old), hex(val), data)})
	}
	m.kvmMMUTrackWrite(v, gpa, size)
}

// shadowGuestWrite is a guest store by guest-physical address (an `entry`
// edit or a guest-write) under shadow paging. If KVM write-protects the
// frame because it shadows a guest table there, the store faults, KVM
// emulates it and calls kvm_mmu_track_write; if the frame's shadow pages
// are all unsync, or it holds no shadowed table, the store goes through
// and KVM does not notice.
func (m *Machine) shadowGuestWrite(v *VCPU, gpa GPA, hpa HPA, size int, val uint64) (Result, error) {
	if m.tdp != nil {
		return m.nestedGuestStore(v, gpa, hpa, size, val)
	}
	s := m.shadow
	gfn := gpa.GFN()
	protected := s.gfnWriteProtected(gfn)
	old, err := m.Mem.Write(hpa, size, val)
	if err != nil {
		return Result{}, err
	}
	res := Result{OK: true, HasGPA: true, GPA: gpa, HasHPA: true, HPA: hpa}
	if !protected {
		if !m.Quiet {
			why := "no guest table that KVM shadows is there, so KVM does not notice"
			if len(s.validSPsWithGPTEs(gfn)) > 0 {
				why = "every shadow page of that guest table is unsync, so the guest's mapping of it is writable: KVM " +
					"does not notice, and the shadow SPTEs stay as they were until the guest flushes its TLB"
			}
			m.emit(Event{Kind: EvWrite, MMU: "guest", Func: "guest store", Space: SpaceGPA, Addr: uint64(gpa),
				Old: old, New: val, VCPU: v.ID, HPA: hpa, HasHPA: true, Size: size,
				Text: fmt.Sprintf("The guest stores %s to GPA %s (%d bytes; was %s): %s.", hex(val), gpa, size, hex(old), why)})
		}
		return res, nil
	}
	if !m.Quiet {
		m.emit(Event{Kind: EvExit, MMU: "root_mmu", Func: "kvm_handle_page_fault", Space: SpaceGPA, Addr: uint64(gpa),
			VCPU: v.ID, Text: fmt.Sprintf("The guest stores to GPA %s, which holds a guest page table that KVM shadows: "+
				"every SPTE mapping GFN %s is read-only, so the store faults and exits to KVM, which emulates it "+
				"(kvm_mmu_page_fault → x86_emulate_instruction).", gpa, gfn)})
		m.emit(Event{Kind: EvWrite, MMU: "root_mmu", Func: "emulator_write_phys", Space: SpaceGPA, Addr: uint64(gpa),
			Old: old, New: val, VCPU: v.ID, HPA: hpa, HasHPA: true, Size: size,
			Text: fmt.Sprintf("emulator_write_phys: KVM performs the %d-byte store (%s → %s), then calls "+
				"kvm_page_track_write.", size, hex(old), hex(val))})
	}
	m.kvmMMUTrackWrite(v, gpa, size)
	res.Note = "KVM emulated the write to a write-protected guest page table"
	return res, m.shadowResume(v)
}

// shadowResume is KVM re-entering the guest after handling an exit
// (shadowEnterGuest).
func (m *Machine) shadowResume(v *VCPU) error { return m.shadowEnterGuest(v) }
