package mmu

import "fmt"

// TDXAccept is the guest accepting a private 4 KiB page with
// TDG.MEM.PAGE.ACCEPT, a TDCALL the TDX module serves: it walks the S-EPT
// for the GPA and turns a PENDING leaf into a mapped one, cleared. When
// the walk finds no leaf, the TD exits with an EPT violation, KVM maps
// the page (mirror root, TDH.MEM.SEPT.ADD, TDH.MEM.PAGE.AUG), and the
// TDCALL runs again.
type TDXAccept struct {
	Source
	VCPU int
	GPA  GPA
}

// do performs the guest's TDG.MEM.PAGE.ACCEPT.
func (a *TDXAccept) do(m *Machine) (Result, error) {
	x, err := m.needTD("TDG.MEM.PAGE.ACCEPT")
	if err != nil {
		return Result{}, err
	}
	v, err := m.VCPU(a.VCPU)
	if err != nil {
		return Result{}, err
	}
	switch {
	case uint64(a.GPA)&pageMask != 0:
		return Result{}, fmt.Errorf("TDG.MEM.PAGE.ACCEPT takes a page-aligned GPA, not %s", a.GPA)
	case uint64(a.GPA)>>uint(x.cfg.GPAW) != 0:
		return Result{}, fmt.Errorf("GPA %s is beyond the TD's GPAW (%d bits)", a.GPA, x.cfg.GPAW)
	case !m.isPrivateGPA(a.GPA):
		return Result{}, fmt.Errorf("TDG.MEM.PAGE.ACCEPT takes a private GPA; %s has the shared bit (%s)",
			a.GPA, x.directBits.GPA())
	}
	if err := m.tdxVCPUPreRun(); err != nil {
		return Result{}, err
	}
	if res, dead := m.tdxDeadResult(); dead {
		return res, nil
	}
	if err := m.kvmMMUReload(v); err != nil {
		return Result{}, err
	}
	total := 0
	for try := 1; try <= maxTDPAttempts; try++ {
		h := m.newHWWalk(v, 0)
		m.emitAcceptBegin(v, a.GPA, try)
		res, exit := m.tdgMemPageAccept(h, a.GPA)
		total += m.refs - h.refBase
		if exit == nil {
			setRefsTotal(&res, total, try)
			return res, nil
		}
		switch r := m.handleTDPExit(v, exit.Exit); r {
		case retPFFixed, retPFSpurious, retPFRetry:
			continue
		default:
			res := Result{Fault: exit, HasRefs: true, Note: fmt.Sprintf("KVM_RUN ends: %s", r)}
			if r == retPFMemoryFault || r == retPFVMDead {
				res.Note = "KVM_RUN ends: " + m.tdxExitResult(r, exit, &GuestWalker{}, 0, 1).Note
			}
			setRefsTotal(&res, total, try)
			return res, nil
		}
	}
	return Result{Note: "the accept makes no progress"}, nil
}

// emitAcceptBegin narrates an attempt at the TDCALL.
func (m *Machine) emitAcceptBegin(v *VCPU, gpa GPA, try int) {
	if m.Quiet {
		return
	}
	text := fmt.Sprintf("vCPU %d runs the TD: the guest calls TDG.MEM.PAGE.ACCEPT(GPA %s, 4 KiB) to accept a "+
		"private page; the TDX module walks the S-EPT for it.", v.ID, gpa)
	if try > 1 {
		text = fmt.Sprintf("TD entry again (attempt %d): the guest's TDCALL runs again from the start.", try)
	}
	m.emit(Event{Kind: EvBegin, MMU: "guest", Func: "cpu", Space: SpaceGPA, Addr: uint64(gpa), VCPU: v.ID,
		TwoD: true, Text: text})
}

// tdgMemPageAccept is the TDX module's side of the TDCALL: the S-EPT walk
// and the accept, or the EPT violation that sends KVM to map the page.
func (m *Machine) tdgMemPageAccept(h *hwWalk, gpa GPA) (Result, *Fault) {
	x := m.tdx()
	table := x.septRoot
	for l := m.tdp.level; l >= 1; l-- {
		idx := spteIndex(gpa, l)
		ep := table + HPA(8*idx)
		e, _ := m.Mem.Read(ep, 8)
		m.refs++
		m.emitSEPTRead(h.v, gpa, l, idx, table, ep, e)
		if l > 1 {
			if e&EPTRWX == 0 {
				_, _, f := h.fail(m, ExitEPTViolation, gpa, hwWrite, 0, l, 0, fmt.Sprintf("the S-EPT %s is "+
					"not present: KVM has not mapped the page yet", EntryName(Paging4, l)))
				return Result{}, f
			}
			table = HPA(e & eptAddrMask)
			continue
		}
		return m.acceptLeaf(h, gpa, ep, e)
	}
	return Result{}, nil
}

// acceptLeaf accepts the S-EPT leaf at ep, or says why it cannot.
func (m *Machine) acceptLeaf(h *hwWalk, gpa GPA, ep HPA, e uint64) (Result, *Fault) {
	page := HPA(e & eptAddrMask)
	res := Result{HasRefs: true, Refs: m.refs - h.refBase, HasGPA: true, GPA: gpa}
	switch {
	case e == 0:
		_, _, f := h.fail(m, ExitEPTViolation, gpa, hwWrite, 0, 1, 0,
			"the S-EPT PTE is not present: KVM has not mapped the page yet")
		return Result{}, f
	case e&SEPTBlocked != 0:
		res.Note = "TDG.MEM.PAGE.ACCEPT fails: the page is BLOCKED"
		return res, nil
	case e&SEPTPending == 0:
		res.OK, res.HasHPA, res.HPA = true, true, page
		res.Note = "the page was already accepted: TDG.MEM.PAGE.ACCEPT returns an error status and changes nothing"
		return res, nil
	}
	zeroPage(m.Mem, page)
	m.septWrite(h.v, ep, 1, uint64(page)|septLeafBits, EvWrite, "cpu", fmt.Sprintf("TDG.MEM.PAGE.ACCEPT: "+
		"the TDX module clears the page at HPA %s with the TD's key and maps it: the S-EPT PTE at HPA %s goes from "+
		"PENDING to mapped (R W X WB). The guest may use GPA %s now.", page, ep, gpa))
	res.OK, res.HasHPA, res.HPA = true, true, page
	return res, nil
}

// emitSEPTRead records the TDX module reading an S-EPT entry for a TDCALL
// (not a reference of a guest walk: no cell of the 2D grid).
func (m *Machine) emitSEPTRead(v *VCPU, gpa GPA, level, idx int, table, ep HPA, e uint64) {
	if m.Quiet {
		return
	}
	next := fmt.Sprintf("the next S-EPT table is at HPA %s", HPA(e&eptAddrMask))
	switch {
	case level == 1:
		next = "the leaf for the page"
	case e&EPTRWX == 0:
		next = "not present"
	}
	m.emit(Event{Kind: EvRead, MMU: "tdx_module", Func: "cpu", Space: SpaceHPA, Addr: uint64(ep), Level: level,
		Index: idx, HasEntry: true, Old: e, New: e, VCPU: v.ID, HPA: ep, HasHPA: true, Table: uint64(table), Size: 8,
		Text: fmt.Sprintf("The TDX module walks the S-EPT for GPA %s: index %d of the S-EPT %s at HPA %s is %s (%s): "+
			"%s.", gpa, idx, TableName(Paging4, level), table, hex(e), DecodeSEPT(e, level), next)})
}
