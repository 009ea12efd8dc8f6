package render

import (
	"fmt"
	"strings"

	"mmuviz/mmu"
)

// The box of the VM exit that stopped a 2D walk: an EPT violation with its
// exit qualification spelled out bit by bit, an EPT misconfiguration, or
// AMD's nested page fault with its error code (EXITINFO1).

// violationSpec is the exit that stopped the walk.
func violationSpec(f *focus) *boxSpec {
	t := f.tdp
	wf := t.walkFault
	title, lines := "× EPT violation (VM exit)", eptViolationLines(f, wf)
	switch {
	case t.format.Kind == mmu.TDPNPT:
		title, lines = "× Nested page fault (#NPF exit)", npfLines(f, wf)
	case strings.HasPrefix(wf.Text, mmu.ExitEPTMisconfig):
		title, lines = "× EPT misconfiguration (VM exit)", misconfigLines(f, wf)
	}
	s := &boxSpec{id: "hostfault", kind: BoxFault, title: title, titleInk: PaperInk, titleBG: FaultInk,
		fill: FaultPaper, border: FaultInk, borderW: 2.5}
	for _, l := range lines {
		if l[0] == "" && l[1] == "" {
			s.rows = append(s.rows, rowSpec{index: -1, count: 1, span: &cell{s: l[2], font: Prose, color: Ink}})
			continue
		}
		s.rows = append(s.rows, rowSpec{index: -1, count: 1, cells: []cell{{l[0], MonoBold, FaultInk, false},
			{l[1], Mono, Ink, false}, {l[2], Prose, Ink, false}}})
	}
	if t.cur.violation {
		f.markTarget(&s.rows[0], true)
	}
	return s
}

// whatGPA names the GPA a walk fault was translating.
func whatGPA(f *focus, wf *mmu.Event) string {
	if wf.GuestLevel > 0 {
		return f.tdp.guestWord() + " " + mmu.TableName(f.tdp.grid.mode, wf.GuestLevel)
	}
	return "the access's own GPA"
}

// eptViolationLines decodes the exit qualification: what the access was,
// what the EPT entries allowed, and whether the GPA was the access's own
// (final translation) or a guest paging structure's.
func eptViolationLines(f *focus, wf *mmu.Event) [][3]string {
	q := wf.New
	out := [][3]string{{"qual", hexVal(q), "exit qualification"}}
	var acc []string
	for i, n := range []string{"read", "write", "fetch"} {
		if q&(1<<uint(i)) != 0 {
			acc = append(acc, n)
		}
	}
	access := strings.Join(acc, " + ")
	if wf.GuestLevel > 0 && q&mmu.EPTViolationAccWrite != 0 {
		access += " (A/D: a table read)"
	}
	out = append(out, [3]string{"2:0", fmt.Sprintf("%03b", q&7), access})
	allowed := "R W X: none, not present"
	if q&0x38 != 0 {
		allowed = fmt.Sprintf("R W X = %d %d %d: too few", q>>3&1, q>>4&1, q>>5&1)
	}
	out = append(out, [3]string{"5:3", fmt.Sprintf("%03b", q>>3&7), allowed})
	switch {
	case q&mmu.EPTViolationGVAIsValid == 0:
		out = append(out, [3]string{"7", "0", "no linear address"})
	case q&mmu.EPTViolationGVATranslated != 0:
		out = append(out, [3]string{"7,8", "1,1", "GVA valid; the final GPA"})
	default:
		out = append(out, [3]string{"7,8", "1,0", "GVA valid; a guest table"})
	}
	return append(out, [3]string{"GPA", mmu.GPA(wf.Addr).String(), whatGPA(f, wf)})
}

// npfLines decodes a nested page fault's EXITINFO1 error code.
func npfLines(f *focus, wf *mmu.Event) [][3]string {
	ec := wf.New
	out := [][3]string{{"info1", hexVal(ec), mmu.DecodeNPFErrorCode(ec)}}
	p := "0: not present"
	if ec&mmu.PFErrPresent != 0 {
		p = "1: a protection violation"
	}
	out = append(out, [3]string{"P", p[:1], p[3:]})
	if ec&mmu.PFErrWrite != 0 {
		out = append(out, [3]string{"W", "1", "a write"})
	}
	out = append(out, [3]string{"U", "1", "NPT: every access is a user's"})
	if ec&mmu.PFErrGuestFinal != 0 {
		out = append(out, [3]string{"32", "1", "bit 32, GUEST_FINAL: the final GPA"})
	}
	if ec&mmu.PFErrGuestPage != 0 {
		out = append(out, [3]string{"33", "1", "bit 33, GUEST_PAGE: a guest table"})
	}
	return append(out, [3]string{"info2", mmu.GPA(wf.Addr).String(), whatGPA(f, wf)})
}

// misconfigLines says where and why an EPT entry is malformed.
func misconfigLines(f *focus, wf *mmu.Event) [][3]string {
	out := [][3]string{{"GPA", mmu.GPA(wf.Addr).String(), whatGPA(f, wf)}}
	why := wf.Text
	if i := strings.Index(why, "): "); i >= 0 {
		why = why[i+3:]
	}
	if i := strings.Index(why, ". The processor"); i >= 0 {
		why = why[:i+1]
	}
	for _, w := range Wrap(why, Prose, rowFont, 260) {
		out = append(out, [3]string{"", "", w})
	}
	return out
}
