package mmu

import (
	"fmt"
	"strings"
)

// The two-dimensional walk: with EPT or NPT the processor itself walks the
// guest's tables, and every guest-physical address it uses on the way (each
// guest table, and the final GPA) is first translated through the EPT/NPT
// tables KVM built. hwWalk is that EPT/NPT walk, plugged into
// walk_addr_generic's Translator hook; no KVM code runs during it.

// TDPExit is the VM exit a two-dimensional walk ends with when a
// translation through EPT/NPT fails: an EPT violation, an EPT
// misconfiguration, or a nested page fault (#NPF).
type TDPExit struct {
	Reason string // "EPT violation", "EPT misconfiguration" or "#NPF"
	GPA    GPA    // the guest-physical address being translated
	GVA    GVA    // the linear address the guest was accessing
	// Qualification is the EPT violation's exit qualification
	// (EPT_VIOLATION_* bits); ErrorCode is an #NPF's EXITINFO1.
	Qualification uint64
	ErrorCode     uint64
	Final         bool // the final GPA, not a guest paging-structure access
	GuestLevel    int  // the guest level whose table was being reached; 0 for the final GPA
	HostLevel     int  // the EPT/NPT level where the translation stopped
	Why           string
	// Pending is a TD's extended exit qualification type
	// PENDING_EPT_VIOLATION: the S-EPT leaf is a page the guest has not
	// accepted.
	Pending bool
}

// Exit reasons of a TDPExit.
const (
	ExitEPTViolation = "EPT violation"
	ExitEPTMisconfig = "EPT misconfiguration"
	ExitNPF          = "#NPF"
)

// hwTrans is a translation the walk made of a guest table's page, kept for
// the guest A/D writes that follow (the processor still holds it).
type hwTrans struct {
	allow     int // bits 2:0 ANDed over the entries: EPT X W R, NPT U W P
	leaf      HPA // the EPT/NPT leaf entry
	leafLevel int
}

// hwWalk is the processor's EPT/NPT walk during one attempt at a guest
// access. root is the nested table it walks: root_mmu's TDP root for L1,
// guest_mmu's shadow (EPT02/NPT02) while L2 runs on nested TDP.
type hwWalk struct {
	v       *VCPU
	gva     GVA
	refBase int
	exit    *TDPExit
	tables  map[GFN]hwTrans
	root    HPA
	level   int    // the root's level
	mmu     string // the context whose root it is, for the trace
	// ad: the EPTP the processor uses enables A/D bits. EPTP02 has them
	// only when EPTP12 does (construct_eptp), i.e. guest_mmu's root role
	// is not ad_disabled.
	ad bool
}

// newHWWalk starts the processor's walk for one attempt at an access by
// v: through arch.mmu's root.
func (m *Machine) newHWWalk(v *VCPU, gva GVA) *hwWalk {
	mmu := v.ArchMMU()
	level := m.tdp.level
	if mmu != &v.RootMMU {
		level = mmu.RootRole.Level()
	}
	ad := m.tdp.cfg.AD && (mmu == &v.RootMMU || !mmu.RootRole.ADDisabled())
	return &hwWalk{v: v, gva: gva, refBase: m.refs, tables: map[GFN]hwTrans{}, root: mmu.Root, level: level,
		mmu: mmu.Name, ad: ad}
}

// tableKind names the nested table the walk uses: EPT or NPT, or for L2
// EPT02/NPT02.
func (h *hwWalk) tableKind(t *tdpState) string {
	if h.mmu == "guest_mmu" {
		return t.cfg.Kind.String() + "02"
	}
	return t.cfg.Kind.String()
}

// hwAccess is what a translation is for.
type hwAccess int

const (
	hwRead  hwAccess = iota
	hwWrite          // a data write, or the processor writing a guest entry's A/D bits
	hwFetch
	hwTable // the processor reading a guest paging-structure entry
)

// isWrite says whether the access needs write permission and sets D:
// writes, and with EPT A/D enabled the guest paging-structure accesses.
func (k hwAccess) isWrite(t *tdpState, ad bool) bool {
	return k == hwWrite || (k == hwTable && t.cfg.Kind == TDPEPT && ad)
}

// ref is the number of the memory reference just made.
func (h *hwWalk) ref(m *Machine) int { return m.refs - h.refBase }

// TranslateGPA implements Translator: the EPT/NPT walk of a guest table's
// GPA (level > 0) or of the final GPA (level 0).
func (h *hwWalk) TranslateGPA(m *Machine, gpa GPA, access uint64, level int) (HPA, bool, *Fault) {
	kind := hwRead
	switch {
	case level > 0:
		kind = hwTable
	case access&PFErrWrite != 0:
		kind = hwWrite
	case access&PFErrFetch != 0:
		kind = hwFetch
	}
	return h.translate(m, gpa, kind, level)
}

// hostStep is one EPT/NPT entry the walk used.
type hostStep struct {
	hpa   HPA
	value uint64
	level int
}

// translate walks EPT/NPT from the vCPU's root for gpa.
func (h *hwWalk) translate(m *Machine, gpa GPA, kind hwAccess, glevel int) (HPA, bool, *Fault) {
	if m.isPrivateGPA(gpa) {
		return h.translateSEPT(m, gpa, kind, glevel) // a TD's private GPA (tdx_walk.go)
	}
	t := m.tdp
	if h.level == 0 { // built without newHWWalk: L1's walk through root_mmu
		h.root, h.level, h.mmu, h.ad = h.v.RootMMU.Root, t.level, "root_mmu", t.cfg.AD
	}
	table := h.root
	allow, nx := EPTRWX, false
	var path []hostStep
	for l := h.level; l >= 1; l-- {
		idx := spteIndex(gpa, l)
		eh := table + HPA(8*idx)
		e, err := m.Mem.Read(eh, 8)
		if err != nil {
			e = 0
		}
		m.refs++
		path = append(path, hostStep{eh, e, l})
		h.emitRead(m, gpa, glevel, l, idx, table, eh, e)
		if !t.present(e) {
			return h.fail(m, ExitEPTViolation, gpa, kind, glevel, l, 0,
				fmt.Sprintf("the %s is not present", t.entryWord(l)))
		}
		if why := m.tdpRsvd(e, l, t.cfg.ExecOnly); why != "" {
			return h.fail(m, ExitEPTMisconfig, gpa, kind, glevel, l, allow, fmt.Sprintf("the %s: %s", t.entryWord(l), why))
		}
		allow &= int(e & EPTRWX)
		nx = nx || e&PTNX != 0
		if l == 1 || e&PTPageSize != 0 {
			break
		}
		table = HPA(e & eptAddrMask)
	}
	last := path[len(path)-1]
	size := uint64(PageSize) << (9 * uint(last.level-1))
	hpa := HPA(last.value&eptAddrMask&^(size-1) | uint64(gpa)&(size-1))
	if why := h.denied(m, kind, allow, nx); why != "" {
		return h.fail(m, ExitEPTViolation, gpa, kind, glevel, last.level, allow, why)
	}
	h.setAccessedDirty(m, path, kind.isWrite(t, h.ad), glevel)
	if glevel > 0 {
		h.tables[gpa.GFN()] = hwTrans{allow: allow, leaf: last.hpa, leafLevel: last.level}
	}
	return hpa, true, nil
}

// present is the hardware's present check: any of R, W, X for EPT, P for
// NPT.
func (t *tdpState) present(e uint64) bool {
	if t.cfg.Kind == TDPEPT {
		return e&EPTRWX != 0
	}
	return e&PTPresent != 0
}

// denied says why the rights the walk gathered forbid the access, or "".
// NPT treats every guest access as a user access.
func (h *hwWalk) denied(m *Machine, kind hwAccess, allow int, nx bool) string {
	t := m.tdp
	if t.cfg.Kind == TDPNPT {
		switch {
		case allow&PTUser == 0:
			return "an NPT entry on the way has U=0, and NPT treats every guest access as a user access"
		case kind == hwWrite && allow&EPTWrite == 0:
			return "a write, but an NPT entry on the way is read-only"
		case kind == hwFetch && nx:
			return "an instruction fetch, but an NPT entry on the way has NX"
		}
		return ""
	}
	switch {
	case kind == hwTable && h.ad && allow&EPTWrite == 0:
		return "a guest paging-structure access, which counts as a write with EPT A/D bits, but the EPT entries do not all allow writes"
	case kind == hwTable && allow&EPTRead == 0:
		return "a read of a guest paging structure, but the EPT entries do not all allow reads"
	case kind == hwRead && allow&EPTRead == 0:
		return "a read, but the EPT entries do not all allow reads"
	case kind == hwWrite && allow&EPTWrite == 0:
		return "a write, but the EPT entries do not all allow writes"
	case kind == hwFetch && allow&EPTExec == 0:
		return "an instruction fetch, but the EPT entries do not all allow execution"
	}
	return ""
}

// setAccessedDirty sets A in every entry used and D in the leaf of a
// write, when the hardware keeps A/D bits.
func (h *hwWalk) setAccessedDirty(m *Machine, path []hostStep, write bool, glevel int) {
	t := m.tdp
	if !h.ad {
		return
	}
	a, d := uint64(EPTAccessed), uint64(EPTDirty)
	if t.cfg.Kind == TDPNPT {
		a, d = PTAccessed, PTDirty
	}
	for i, s := range path {
		n := s.value | a
		if write && i == len(path)-1 {
			n |= d
		}
		h.writeAD(m, s, n, glevel)
	}
}

// writeAD updates one EPT/NPT entry's A/D bits.
func (h *hwWalk) writeAD(m *Machine, s hostStep, n uint64, glevel int) {
	if n == s.value {
		return
	}
	if _, err := m.Mem.Write(s.hpa, 8, n); err != nil || m.Quiet {
		return
	}
	what := "A"
	if n&^s.value != (n&^s.value)&uint64(EPTAccessed|PTAccessed) {
		what = "D"
		if n&^s.value&uint64(EPTAccessed|PTAccessed) != 0 {
			what = "A and D"
		}
	}
	m.emit(Event{Kind: EvWrite, MMU: h.mmu, Func: "cpu", Space: SpaceHPA, Addr: uint64(s.hpa), Level: s.level,
		Index: int(s.hpa&pageMask) / 8, HasEntry: true, Old: s.value, New: n, VCPU: h.v.ID, GVA: h.gva,
		Table: uint64(s.hpa &^ pageMask), HPA: s.hpa, HasHPA: true, Size: 8,
		TwoD: true, GuestLevel: glevel, HostLevel: s.level,
		Text: fmt.Sprintf("The processor sets %s in the %s it used (%s → %s).", what, m.tdp.entryWord(s.level),
			hex(s.value), hex(n))})
}

// checkGuestWrite is the processor writing A/D bits into a guest entry at
// gpa: the write needs write permission in the translation of that table,
// which the walk still holds, and sets D in its EPT/NPT leaf.
func (h *hwWalk) checkGuestWrite(m *Machine, gpa GPA, glevel int) *Fault {
	tr, ok := h.tables[gpa.GFN()]
	if !ok {
		return nil
	}
	t := m.tdp
	if tr.allow&EPTWrite == 0 || (t.cfg.Kind == TDPNPT && tr.allow&PTUser == 0) {
		_, _, f := h.fail(m, ExitEPTViolation, gpa, hwWrite, glevel, tr.leafLevel, tr.allow,
			"the processor must write A/D bits into the guest's entry, but its page is not writable")
		return f
	}
	if h.ad {
		e, err := m.Mem.Read(tr.leaf, 8)
		d := uint64(EPTDirty)
		if t.cfg.Kind == TDPNPT {
			d = PTDirty
		}
		if err == nil {
			h.writeAD(m, hostStep{tr.leaf, e, tr.leafLevel}, e|d, glevel)
		}
	}
	return nil
}

// emitRead records one memory reference of the walk: an EPT/NPT entry.
func (h *hwWalk) emitRead(m *Machine, gpa GPA, glevel, level, idx int, table, eh HPA, e uint64) {
	if m.Quiet {
		return
	}
	t := m.tdp
	var b strings.Builder
	b.Grow(200)
	if level == h.level {
		what := "the final GPA"
		if glevel > 0 {
			what = "the guest's " + TableName(Paging4, glevel)
		}
		b.WriteString("The processor translates GPA " + gpa.String() + " (" + what + ") through " + h.tableKind(t) + ": ")
	}
	lo := PageShift + 9*(level-1)
	b.WriteString("GPA bits " + itoa(lo+8) + ":" + itoa(lo) + " = " + itoa(idx) + " index the " + t.tableWord(level) +
		" at HPA " + table.String() + "; its entry at HPA " + eh.String() + " is " + hex(e) + " (" + t.decode(e, level) + ")")
	switch {
	case !t.present(e):
		b.WriteString(": not present.")
	case level == 1 || e&PTPageSize != 0:
		b.WriteString(": it maps a " + levelPageName(level) + " page at HPA " +
			HPA(e&eptAddrMask&^(uint64(PageSize)<<(9*uint(level-1))-1)).String() + ".")
	default:
		b.WriteString(": the next " + t.cfg.Kind.String() + " table is at HPA " + HPA(e&eptAddrMask).String() + ".")
	}
	s := b.String()
	m.emit(Event{Kind: EvRead, MMU: h.mmu, Func: "cpu", Space: SpaceHPA, Addr: uint64(eh), Level: level,
		Index: idx, HasEntry: true, Old: e, New: e, VCPU: h.v.ID, GVA: h.gva, HPA: eh, HasHPA: true,
		Table: uint64(table), Size: 8, TwoD: true, GuestLevel: glevel, HostLevel: level, Ref: h.ref(m), Text: s})
}

// fail ends the walk with a VM exit: it builds the exit qualification
// (EPT) or EXITINFO1 (NPT) and records the violation.
func (h *hwWalk) fail(m *Machine, reason string, gpa GPA, kind hwAccess, glevel, hlevel, allow int, why string) (HPA, bool, *Fault) {
	t := m.tdp
	x := &TDPExit{Reason: reason, GPA: gpa, GVA: h.gva, Final: glevel == 0, GuestLevel: glevel, HostLevel: hlevel, Why: why}
	code := uint64(0)
	if t.cfg.Kind == TDPNPT {
		x.Reason = ExitNPF
		code = PFErrUser // NPT treats every guest access as a user access
		if reason == ExitEPTMisconfig {
			code |= PFErrPresent | PFErrRsvd
		} else if allow&PTPresent != 0 {
			code |= PFErrPresent
		}
		if kind == hwWrite {
			code |= PFErrWrite
		}
		if kind == hwFetch {
			code |= PFErrFetch
		}
		if x.Final {
			code |= PFErrGuestFinal
		} else {
			code |= PFErrGuestPage
		}
		x.ErrorCode = code
	} else if reason == ExitEPTViolation {
		switch kind {
		case hwRead:
			code = EPTViolationAccRead
		case hwWrite:
			code = EPTViolationAccWrite
		case hwFetch:
			code = EPTViolationAccInstr
		case hwTable:
			code = EPTViolationAccRead
			if h.ad {
				code |= EPTViolationAccWrite
			}
		}
		code |= uint64(allow&EPTRWX)<<3 | EPTViolationGVAIsValid
		if x.Final {
			code |= EPTViolationGVATranslated
		}
		x.Qualification = code
	}
	h.exit = x
	if !m.Quiet {
		what := "the final GPA"
		if glevel > 0 {
			what = fmt.Sprintf("the guest's level-%d table", glevel)
		}
		m.emit(Event{Kind: EvFault, MMU: h.mmu, Func: "cpu", Space: SpaceGPA, Addr: uint64(gpa), Level: hlevel,
			Old: code, New: code, VCPU: h.v.ID, GVA: h.gva, TwoD: true, GuestLevel: glevel, HostLevel: hlevel,
			Text: fmt.Sprintf("%s on GPA %s (%s): %s. The processor leaves the guest with a VM exit; no guest fault is raised.",
				x.Reason, gpa, what, why)})
	}
	f := &Fault{Vector: x.Reason, ErrorCode: code, Addr: h.gva, Level: hlevel, Reason: why, Exit: x}
	return 0, false, f
}
