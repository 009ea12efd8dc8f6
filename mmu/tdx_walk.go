package mmu

import (
	"fmt"
	"strings"
)

// The processor's walk of a TD's private GPA: not through the vCPU's EPT
// root (SHARED_EPT_POINTER) but through the S-EPT, whose root the TDX
// module loads as the TD's private EPTP. Its entries are the TDX
// module's: a mapped page is always R, W and X, the S-EPT keeps no A/D
// bits, and a leaf may be a page the guest has not accepted (PENDING) or
// one being removed (BLOCKED), which the processor does not see.

// translateSEPT is hwWalk.translate for a private GPA of a TD.
func (h *hwWalk) translateSEPT(m *Machine, gpa GPA, kind hwAccess, glevel int) (HPA, bool, *Fault) {
	table := m.tdx().septRoot
	for l := m.tdp.level; l >= 1; l-- {
		idx := spteIndex(gpa, l)
		ep := table + HPA(8*idx)
		e, _ := m.Mem.Read(ep, 8)
		m.refs++
		h.emitSEPTWalkRead(m, gpa, glevel, l, idx, table, ep, e)
		if !SEPTPresent(e) {
			return h.septNotPresent(m, gpa, kind, glevel, l, e)
		}
		if l == 1 {
			// Nothing to deny: private pages are always R W X in the
			// S-EPT. No A/D bits to set, and nothing for the guest's A/D
			// writes to check (no h.tables entry).
			return HPA(e&eptAddrMask) | HPA(gpa.Offset()), true, nil
		}
		table = HPA(e & eptAddrMask)
	}
	return 0, false, nil
}

// emitSEPTWalkRead records one memory reference of the walk: an S-EPT
// entry, numbered as the 2D walk numbers its references.
func (h *hwWalk) emitSEPTWalkRead(m *Machine, gpa GPA, glevel, level, idx int, table, ep HPA, e uint64) {
	if m.Quiet {
		return
	}
	var b strings.Builder
	if level == m.tdp.level {
		what := "the final GPA"
		if glevel > 0 {
			what = "the guest's " + TableName(Paging4, glevel)
		}
		b.WriteString("The processor translates GPA " + gpa.String() + " (" + what + ") through the S-EPT (a " +
			"private GPA: the TDX module's tables, the TD's private EPTP): ")
	}
	lo := PageShift + 9*(level-1)
	b.WriteString(fmt.Sprintf("GPA bits %d:%d = %d index the S-EPT %s at HPA %s; its entry at HPA %s is %s (%s)",
		lo+8, lo, idx, TableName(Paging4, level), table, ep, hex(e), DecodeSEPT(e, level)))
	switch {
	case !SEPTPresent(e):
		b.WriteString(": not present to the processor.")
	case level == 1:
		b.WriteString(": it maps the private page at HPA " + HPA(e&eptAddrMask).String() + ".")
	default:
		b.WriteString(": the next S-EPT table is at HPA " + HPA(e&eptAddrMask).String() + ".")
	}
	m.emit(Event{Kind: EvRead, MMU: "tdx_module", Func: "cpu", Space: SpaceHPA, Addr: uint64(ep), Level: level,
		Index: idx, HasEntry: true, Old: e, New: e, VCPU: h.v.ID, GVA: h.gva, HPA: ep, HasHPA: true,
		Table: uint64(table), Size: 8, TwoD: true, GuestLevel: glevel, HostLevel: level, Ref: h.ref(m), Text: b.String()})
}

// septNotPresent ends a walk of the S-EPT at an entry the processor does
// not see: a missing one is an ordinary EPT violation; a leaf the guest
// has not accepted is a PENDING one, which the TDX module turns into #VE
// in the guest, or, with SEPT_VE_DISABLE, into an exit to KVM.
func (h *hwWalk) septNotPresent(m *Machine, gpa GPA, kind hwAccess, glevel, l int, e uint64) (HPA, bool, *Fault) {
	x := m.tdx()
	word := "S-EPT " + EntryName(Paging4, l)
	if l != 1 || e&SEPTPending == 0 || e&SEPTBlocked != 0 {
		why := "the " + word + " is not present"
		if e&SEPTBlocked != 0 {
			why = "the " + word + " is BLOCKED"
		}
		return h.fail(m, ExitEPTViolation, gpa, kind, glevel, l, 0, why)
	}
	why := "the S-EPT PTE maps a PENDING page: the guest has not accepted it (TDG.MEM.PAGE.ACCEPT)"
	if x.cfg.SEPTVEDisable {
		hpa, ok, f := h.fail(m, ExitEPTViolation, gpa, kind, glevel, l, 0, why+"; with SEPT_VE_DISABLE the TDX "+
			"module exits to KVM")
		h.exit.Pending = true
		return hpa, ok, f
	}
	if !m.Quiet {
		m.emit(Event{Kind: EvFault, MMU: "root_mmu", Func: "cpu", Space: SpaceGPA, Addr: uint64(gpa), Level: l,
			VCPU: h.v.ID, GVA: h.gva, TwoD: true, GuestLevel: glevel, HostLevel: l,
			Text: fmt.Sprintf("#VE: %s. The TDX module raises a virtualization exception in the guest, whose handler "+
				"decides what to do; KVM sees nothing.", why)})
	}
	return 0, false, &Fault{Vector: "#VE", Addr: h.gva, Level: l, Reason: why}
}
