package render

import (
	"fmt"
	"strings"

	"mmuviz/mmu"
)

// The guest walk panel: a chain of boxes from the vCPU's registers through
// each table the walk reaches to the page (or the fault), placed in two
// columns that alternate, so every arrow crosses the gap between them and
// never a box.

// link is one box of the chain and the arrow that leads into it.
type link struct {
	spec    *boxSpec
	box     Box
	hidden  bool // not reached yet: it takes room (so the scale stays put) but is not drawn
	edge    bool // an arrow leads into it from the previous box
	fromRow int  // row of the previous box the arrow leaves from; -1: its title
	ink     Color
	dashed  bool
	label   string
}

// chainFor builds the chain of the focus.
func chainFor(f *focus) []*link {
	ch := []*link{{spec: registerSpec(f), fromRow: -1}}
	if f.mode == mmu.PagingOff {
		if f.showResult || f.walking {
			ch = append(ch, &link{spec: resultSpec(f), fromRow: -1, hidden: !f.showResult})
		}
		if f.cur.kind == tgtMemory && f.memWrite != nil {
			ch = append(ch, &link{spec: memorySpec(f), fromRow: -1})
		}
		return ch
	}
	if f.loadPDPT {
		from := -1
		if f.cur.loadPDP {
			from = f.cur.index
		}
		ch = append(ch, &link{spec: pdptMemSpec(f), edge: true, fromRow: 0, ink: EdgeInk})
		ch = append(ch, &link{spec: pdptrSpec(f, nil), edge: true, fromRow: from, ink: EdgeInk, dashed: true,
			label: "load_pdptrs copies"})
	}
	if !f.hasGVA {
		if f.mode == mmu.PagingPAE && !f.loadPDPT {
			ch = append(ch, &link{spec: pdptrSpec(f, nil), edge: true, ink: EdgeInk, dashed: true,
				label: "loaded at CR3 write"})
		} else if f.mode != mmu.PagingPAE {
			ch = append(ch, &link{spec: rootOnlySpec(f), edge: true, ink: EdgeInk})
		}
		return ch
	}
	final := f.finalFault()
	for i := range f.path.Levels {
		l := &f.path.Levels[i]
		if final != nil && final.Level > 0 && l.Level < final.Level {
			break
		}
		prev := ch[len(ch)-1]
		k := &link{hidden: i >= f.reached, edge: true, fromRow: prev.spec.pathRow(), ink: EdgeInk}
		if l.FromReg && !f.pdptesFromMemory() {
			if f.loadPDPT {
				prev.spec = pdptrSpec(f, l)
				continue
			}
			k.spec, k.dashed, k.label = pdptrSpec(f, l), true, "loaded at CR3 write"
		} else {
			k.spec = tableSpec(f, l)
		}
		ch = append(ch, k)
	}
	return appendOutcome(f, ch, final)
}

// appendOutcome ends the chain with the fault or the page the walk reaches.
func appendOutcome(f *focus, ch []*link, final *mmu.Fault) []*link {
	last := ch[len(ch)-1]
	switch {
	case final != nil:
		k := &link{spec: faultSpec(f, final), edge: final.Level > 0, fromRow: last.spec.faultRow(),
			ink: FaultInk, label: "×"}
		k.hidden = f.fault == nil
		ch = append(ch, k)
	case f.path.HasGPA && len(f.path.Levels) > 0:
		k := &link{spec: resultSpec(f), edge: true, fromRow: last.spec.pathRow(), ink: ResultInk,
			label: mmu.SizeString(f.path.PageSize) + " page"}
		k.hidden = !f.showResult || last.hidden
		ch = append(ch, k)
	}
	if f.cur.kind == tgtMemory && f.memWrite != nil {
		ch = append(ch, &link{spec: memorySpec(f), fromRow: -1})
	}
	return ch
}

// finalFault is the fault the current access ends in, known from the
// action's result before the step that raises it, so that the fault box
// has its room from the start.
func (f *focus) finalFault() *mmu.Fault {
	if !f.walking {
		return nil
	}
	return f.actionFault
}

// pathRow is the index of the row on the walk path (-1 when none).
func (s *boxSpec) pathRow() int {
	for i, r := range s.rows {
		if r.style == RowPath || r.style == RowCurrent || r.style == RowWritten || r.style == RowFaulted {
			if r.count == 1 && r.onPath {
				return i
			}
		}
	}
	return -1
}

// faultRow is the row the walk faulted on, else the path row.
func (s *boxSpec) faultRow() int {
	for i, r := range s.rows {
		if r.style == RowFaulted || r.faultAt {
			return i
		}
	}
	return s.pathRow()
}

// registerSpec is the vCPU's register box: CR3 first, since it starts
// every walk, then the bits that choose the paging mode.
func registerSpec(f *focus) *boxSpec {
	s := &boxSpec{id: fmt.Sprintf("regs:%d", f.vcpu), kind: BoxRegisters, title: f.regsTitle(),
		titleInk: PaperInk, titleBG: RegTitle, fill: RegFill, border: RegTitle, borderW: 1.5}
	reg := func(r mmu.Reg, name string, v uint64, decoded string) {
		row := rowSpec{index: -1, count: 1, cells: []cell{{name, MonoBold, Ink, false}, {hexVal(v), Mono, Ink, false},
			{decoded, Mono, MutedInk, false}}}
		f.markTarget(&row, f.cur.kind == tgtRegister && f.cur.reg == r)
		if r == mmu.RegCR3 {
			row.onPath = true
		}
		s.rows = append(s.rows, row)
	}
	reg(mmu.RegCR3, "CR3", f.regs.CR3, "")
	reg(mmu.RegCR0, "CR0", f.regs.CR0, mmu.DecodeReg(mmu.RegCR0, f.regs.CR0))
	reg(mmu.RegCR4, "CR4", f.regs.CR4, mmu.DecodeReg(mmu.RegCR4, f.regs.CR4))
	reg(mmu.RegEFER, "EFER", f.regs.EFER, mmu.DecodeReg(mmu.RegEFER, f.regs.EFER))
	if f.regs.PKRU != 0 || (f.cur.kind == tgtRegister && f.cur.reg == mmu.RegPKRU) {
		reg(mmu.RegPKRU, "PKRU", f.regs.PKRU, "")
	}
	if f.regs.RFLAGS != 0 || (f.cur.kind == tgtRegister && f.cur.reg == mmu.RegRFLAGS) {
		reg(mmu.RegRFLAGS, "RFLAGS", f.regs.RFLAGS, mmu.DecodeReg(mmu.RegRFLAGS, f.regs.RFLAGS))
	}
	mode := rowSpec{index: -1, count: 1, span: &cell{s: "mode: " + f.mode.String(), font: Prose, color: Ink}}
	f.markTarget(&mode, f.cur.kind == tgtRole)
	s.rows = append(s.rows, mode)
	return s
}

// markTarget styles a row as the step's target when is is true.
func (f *focus) markTarget(r *rowSpec, is bool) {
	if !is {
		return
	}
	r.style, r.marker = RowCurrent, "►"
	switch {
	case f.cur.fault:
		r.style, r.marker = RowFaulted, "×"
	case f.cur.write:
		r.style, r.marker = RowWritten, "Δ"
	}
}

// tableSpec is a guest table on the path: its interesting entries, the
// path entry marked, empty runs folded.
func tableSpec(f *focus, l *mmu.PathLevel) *boxSpec {
	n := mmu.TableEntries(f.mode, l.Level)
	title := fmt.Sprintf("%s @ %s %s", mmu.TableName(f.mode, l.Level), f.gpaWord(), l.Table)
	if l.Mapped {
		title += fmt.Sprintf(" (HPA %s)", l.TableHPA)
	} else {
		title += " (no memslot)"
	}
	s := newTableSpec("gpt:"+hexVal(uint64(l.Table)), BoxTable, l.Level, title)
	entries := f.guestTable(f.mode, l.Table, n)
	must := []int{l.Index}
	cur := f.cur.kind == tgtEntry && f.cur.table == l.Table && !f.cur.loadPDP
	if cur {
		must = append(must, f.cur.index)
	}
	on := l
	if t := f.tdp; t != nil && f.walking && !t.entryRead(l.Level) {
		// A 2D walk shows the table while it translates its GPA; the
		// entry it will read is not marked before it is read.
		unread := *l
		unread.Index, on = -1, &unread
		if t.translating(l.Level) {
			s.lit, s.border, s.borderW, s.dashed = true, HostInk, 2.5, true
		}
	}
	if f.shadow != nil {
		s.rows = append(s.rows, f.shadow.guestStatus(f, l.Table, l.Level))
	}
	f.entryRows(s, entries, must, on, cur)
	return s
}

// entryRows fills a table-like box with the picked entries.
func (f *focus) entryRows(s *boxSpec, entries []uint64, must []int, l *mmu.PathLevel, cur bool) {
	size := mmu.GPA(mmu.EntrySize(f.mode))
	n := maxShownEntries
	if f.shadow != nil {
		n = guestNeighbours
	}
	for _, p := range pickEntriesN(entries, must, n) {
		if p.folded {
			s.rows = append(s.rows, rowSpec{style: RowCollapsed, level: s.level, index: p.index, count: p.count,
				span: &cell{s: foldText(p, nonZeroIn(entries, p)), font: Mono, color: MutedInk}})
			continue
		}
		e := mmu.PTE(entries[p.index])
		row := rowSpec{style: RowNormal, level: s.level, index: p.index, count: 1,
			cells: []cell{{fmt.Sprint(p.index), Mono, Ink, true}, {hexVal(uint64(e)), Mono, Ink, false},
				{flagsText(f, e, s.level), Mono, MutedInk, false}}}
		if l != nil && p.index == l.Index {
			row.onPath = true
			row.style, row.marker = RowPath, "→"
			row.fill = LevelTint(s.level)
		}
		if l != nil && f.written[l.Table+mmu.GPA(p.index)*size] {
			row.marker, row.fill = "Δ", WrittenTint
		}
		f.markTarget(&row, cur && p.index == f.cur.index)
		if row.style == RowFaulted {
			row.faultAt = true
		}
		s.rows = append(s.rows, row)
	}
}

// flagsText decodes an entry's bits for its row.
func flagsText(f *focus, e mmu.PTE, level int) string {
	if e == 0 {
		return "empty"
	}
	if !e.Present() {
		return "not present"
	}
	return mmu.DecodeFlags(e, level, f.mode != mmu.Paging32)
}

// pdptrSpec is the PAE PDPTR registers: four entries, not memory.
func pdptrSpec(f *focus, l *mmu.PathLevel) *boxSpec {
	s := newTableSpec(pdptrID(f), BoxRegisters, 3, "PDPTR0-3 registers (PAE)")
	s.dashed, s.fill = true, RegFill
	cur := f.cur.kind == tgtPDPTR
	entries := f.pdptrs[:]
	must := []int{0, 1, 2, 3}
	f.entryRows(s, entries, must, l, false)
	for i := range s.rows {
		if cur && s.rows[i].index == f.cur.index {
			f.markTarget(&s.rows[i], true)
		}
	}
	return s
}

// pdptrID is the ID of the PDPTR registers' box.
func pdptrID(f *focus) string { return fmt.Sprintf("pdptr:%d", f.vcpu) }

// pdptMemSpec is the PAE PDPT in memory while load_pdptrs reads it.
func pdptMemSpec(f *focus) *boxSpec {
	hpa, ok := f.machine.GPAToHPA(f.pdptBase)
	title := fmt.Sprintf("PDPT @ %s %s", f.gpaWord(), f.pdptBase)
	if ok {
		title += fmt.Sprintf(" (HPA %s)", hpa)
	}
	s := newTableSpec("gpt:"+hexVal(uint64(f.pdptBase)), BoxTable, 3, title)
	entries := f.guestTable(f.mode, f.pdptBase, 4)
	cur := f.cur.kind == tgtEntry && f.cur.loadPDP
	f.entryRows(s, entries, []int{0, 1, 2, 3}, nil, cur)
	return s
}

// rootOnlySpec is the root table when no address is being translated.
func rootOnlySpec(f *focus) *boxSpec {
	p := f.pathOf(0)
	if len(p.Levels) == 0 {
		return &boxSpec{id: "none", kind: BoxMemory, title: "no tables", fill: BoxFill, border: BoxBorder}
	}
	l := p.Levels[0]
	l.Index = -1
	s := tableSpec(f, &l)
	return s
}

// resultSpec is where the walk ends: the page, the GPA and the HPA.
func resultSpec(f *focus) *boxSpec {
	p := f.path
	title := fmt.Sprintf("%s page @ %s %s", mmu.SizeString(p.PageSize), f.gpaWord(),
		mmu.GPA(uint64(p.GPA)&^(p.PageSize-1)))
	if f.mode == mmu.PagingOff {
		title = "paging off: GPA = GVA"
	}
	s := &boxSpec{id: "result", kind: BoxResult, title: title, titleInk: Ink, titleBG: ResultPaper,
		strip: ResultInk, fill: BoxFill, border: ResultInk, borderW: 2}
	add := func(name, val, note string) {
		s.rows = append(s.rows, rowSpec{index: -1, count: 1, cells: []cell{{name, MonoBold, Ink, false},
			{val, Mono, Ink, false}, {note, Prose, MutedInk, false}}})
	}
	add("GPA", p.GPA.String(), "offset "+hexVal(uint64(p.GPA)&(p.PageSize-1))+" in the page")
	if p.HasHPA {
		how := "through the memslot"
		if f.drawsL2() {
			how = "through L1's " + f.nestedName() + " and the memslot"
		}
		add("HPA", p.HPA.String(), how)
	} else if f.drawsL2() {
		add("HPA", "none", "L1's "+f.nestedName()+" does not map it (or no memslot)")
	} else {
		add("HPA", "none", "no memslot: KVM emulates MMIO")
	}
	if f.showResult && f.walking && f.refs > 0 {
		add("refs", fmt.Sprint(f.refs), "memory references for this walk")
	}
	s.rows[0].onPath = true
	f.markTarget(&s.rows[0], f.cur.kind == tgtResult)
	return s
}

// faultSpec is the fault the walk ends in, its error code spelled out.
func faultSpec(f *focus, ft *mmu.Fault) *boxSpec {
	title := "× Page fault (#PF)"
	switch ft.Vector {
	case "#PF":
	case "#GP":
		title = "× General protection fault (#GP)"
	default:
		title = "× " + ft.Vector
	}
	s := &boxSpec{id: "fault", kind: BoxFault, title: title, titleInk: PaperInk, titleBG: FaultInk,
		fill: FaultPaper, border: FaultInk, borderW: 2.5}
	line := func(name, val, note string) {
		s.rows = append(s.rows, rowSpec{index: -1, count: 1, cells: []cell{{name, MonoBold, FaultInk, false},
			{val, Mono, Ink, false}, {note, Prose, Ink, false}}})
	}
	if ft.Vector == "#PF" {
		ec := ft.ErrorCode
		line("error", hexVal(ec), mmu.DecodeErrorCode(ec))
		bit := func(mask uint64, name, one, zero string, always bool) {
			if ec&mask != 0 {
				line(name, "1", one)
			} else if always {
				line(name, "0", zero)
			}
		}
		bit(mmu.PFErrPresent, "P", "protection violation", "entry not present", true)
		bit(mmu.PFErrWrite, "W", "the access was a write", "the access was a read", true)
		bit(mmu.PFErrUser, "U", "from user mode", "from supervisor mode", true)
		bit(mmu.PFErrRsvd, "RSVD", "a reserved bit was set", "", false)
		bit(mmu.PFErrFetch, "I/D", "an instruction fetch", "", false)
		bit(mmu.PFErrPK, "PK", "a protection key forbade it", "", false)
		line("CR2", ft.Addr.String(), "the faulting address")
	} else {
		line("GVA", ft.Addr.String(), "")
	}
	for _, w := range Wrap(ft.Reason, Prose, rowFont, 300) {
		s.rows = append(s.rows, rowSpec{index: -1, count: 1, span: &cell{s: w, font: Prose, color: Ink}})
	}
	f.markTarget(&s.rows[0], f.cur.kind == tgtFault)
	return s
}

// memorySpec is a store to (or read of) memory that is no shown table.
func memorySpec(f *focus) *boxSpec {
	e := f.memWrite
	s := &boxSpec{id: "mem", kind: BoxMemory, title: fmt.Sprintf("guest memory @ GPA %s", mmu.GPA(e.Addr)),
		titleInk: Ink, titleBG: LevelTint(0), fill: BoxFill, border: BoxBorder, borderW: 1.5}
	verb := "holds"
	if e.Kind == mmu.EvWrite {
		verb = "was " + hexVal(e.Old) + ", now"
	}
	row := rowSpec{index: -1, count: 1, cells: []cell{{fmt.Sprintf("%d bytes", e.Size), MonoBold, Ink, false},
		{strings.TrimSpace(verb + " " + hexVal(e.New)), Mono, Ink, false}}}
	f.markTarget(&row, true)
	s.rows = append(s.rows, row)
	if e.HasHPA {
		s.rows = append(s.rows, rowSpec{index: -1, count: 1, cells: []cell{{"HPA", MonoBold, Ink, false},
			{mmu.HPA(e.HPA).String(), Mono, Ink, false}}})
	}
	return s
}
