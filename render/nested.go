package render

import (
	"fmt"

	"mmuviz/mmu"
)

// L1's nested tables (EPT12 or NPT12) as the step touches them: the
// entries KVM reads while it walks them in software on guest_mmu
// (ept_page_fault, FNAME(page_fault) for NPT, translate_nested_gpa), and
// the entry L1 itself stores to (WriteEPT12Entry, WriteNPT12Entry: an
// ordinary L1 store that traps while KVM shadows the table). A box
// "n12:GPA" per table, in the order the action reached them, with those
// entries marked and the one the step is about highlighted. They live in
// L1's memory, so they are drawn from L1 guest-physical memory through
// the memslots.

// n12Mark is one entry of L1's nested tables the action touched.
type n12Mark struct {
	table mmu.GPA
	level int
	index int
	store bool // the entry L1 stores to (not one KVM read)
}

// n12Cur is the mark the step is about and how: read, faulted, written.
type n12Cur struct {
	mark         int // index into the marks, -1 for none
	fault, write bool
}

// n12WalkFuncs are KVM's software-walk steps on guest_mmu that are about
// an entry of L1's nested tables.
var n12WalkFuncs = map[string]bool{"walk_addr_generic": true, "permission_fault": true, "protect_clean_gpte": true,
	"update_accessed_dirty_bits": true, "nested_svm_get_tdp_pdptr": true}

// n12State is what the nested-tables panel shows at a step.
type n12State struct {
	marks  []n12Mark
	cur    n12Cur
	stored bool // L1's store has landed (its entry shows the new value)
}

// nestedTableReads lists the entries of L1's nested tables that the
// current action read up to the step, and the one the step is about.
func nestedTableReads(v *mmu.View) (marks []n12Mark, cur n12Cur) {
	cur.mark = -1
	for i := range v.Events {
		e := &v.Events[i]
		if e.MMU != "guest_mmu" || !e.HasEntry || !n12WalkFuncs[e.Func] {
			continue
		}
		isRead := e.Table != 0 && (e.Func == "walk_addr_generic" && e.Space == mmu.SpaceGPA && e.Kind == mmu.EvRead ||
			e.Func == "nested_svm_get_tdp_pdptr")
		if isRead {
			marks = append(marks, n12Mark{table: mmu.GPA(e.Table), level: e.Level, index: e.Index})
		}
		if e != v.Event {
			continue
		}
		for r := len(marks) - 1; r >= 0; r-- {
			if marks[r].level == e.Level && marks[r].index == e.Index && (e.Table == 0 || marks[r].table == mmu.GPA(e.Table)) {
				cur = n12Cur{mark: r, fault: e.Kind == mmu.EvFault, write: e.Kind == mmu.EvWrite}
				break
			}
		}
	}
	return marks, cur
}

// nestedStore adds the entry L1 stores to when the action is L1's edit
// of its EPT12/NPT12. The step is about it when KVM sees the store trap
// (kvm_mmu_page_fault on that address, the action's opening summary) and
// when the store lands (the guest's write to it).
func (s *n12State) nestedStore(v *mmu.View, tl *mmu.Timeline) {
	if v.Action < 0 {
		return
	}
	var vcpu, level int
	var l2 mmu.GPA
	switch a := tl.Steps[v.Action].Action.(type) {
	case *mmu.WriteEPT12Entry:
		vcpu, l2, level = a.VCPU, a.L2GPA, a.Level
	case *mmu.WriteNPT12Entry:
		vcpu, l2, level = a.VCPU, a.L2GPA, a.Level
	default:
		return
	}
	ref, err := v.Machine.NestedEntryAt(vcpu, l2, level)
	if err != nil {
		return
	}
	s.marks = append(s.marks, n12Mark{table: ref.Table, level: level, index: ref.Index, store: true})
	at := len(s.marks) - 1
	for i := range v.Events {
		e := &v.Events[i]
		if e.Space != mmu.SpaceGPA || mmu.GPA(e.Addr) != ref.Addr {
			continue
		}
		landed := e.Kind == mmu.EvWrite
		s.stored = s.stored || landed
		if e == v.Event && (landed || i == 0 && e.Func == "kvm_mmu_page_fault") {
			s.cur = n12Cur{mark: at, write: landed}
		}
	}
}

// nestedFormat is the paging mode L1's nested tables are in (EPT12 as
// 8-byte entries, 4 or 5 levels; NPT12 in L1's own paging mode) and their
// name.
func nestedFormat(v *mmu.VCPU) (mmu.PagingMode, string) {
	if v.Nested.Kind == mmu.NestedVMX {
		return mmu.Paging5, "EPT12"
	}
	if mode := mmu.PagingMode(v.GuestMMU.CPURole.Base.Level()); mode != mmu.PagingOff {
		return mode, "NPT12"
	}
	l1 := v.Regs // before the first VMRUN configured guest_mmu: L1's registers
	if v.GuestMode {
		l1 = v.Nested.L1
	}
	return mmu.NPTFormat(l1), "NPT12"
}

// layoutNestedTables places L1's nested tables in a row below extent (the
// 2D picture is already wide), going on in a new row past wrap when it is
// not 0; ok is false when the step has none to show.
func layoutNestedTables(f *focus, v *mmu.View, tl *mmu.Timeline, extent Rect, wrap float64) (Panel, bool) {
	var s n12State
	s.marks, s.cur = nestedTableReads(v)
	s.nestedStore(v, tl)
	if len(s.marks) == 0 || f.vcpu >= len(v.Machine.VCPUs) {
		return Panel{}, false
	}
	vc := v.Machine.VCPUs[f.vcpu]
	mode, name := nestedFormat(vc)
	p := Panel{ID: "n12", Title: "L1's " + name}
	x, y := extent.X, extent.Bottom()+blockGap
	head := Text{S: s.heading(name), X: x, Y: y, Size: hostHeadFont, Font: Prose, Color: Ink}
	p.Texts = []Text{head}
	p.Rect = Rect{x, y, TextWidth(head.S, Prose, hostHeadFont), LineHeight(hostHeadFont)}
	y += LineHeight(hostHeadFont) + 6
	var order []mmu.GPA
	byTable := map[mmu.GPA][]int{}
	for i, r := range s.marks {
		if _, seen := byTable[r.table]; !seen {
			order = append(order, r.table)
		}
		byTable[r.table] = append(byTable[r.table], i)
	}
	rowBottom := y
	for _, table := range order {
		b := s.tableSpec(f, v.Machine, mode, name, table, byTable[table]).build()
		if wrap > 0 && x > extent.X && x+b.Rect.W > wrap {
			x, y = extent.X, rowBottom+rowGap
		}
		b.Rect = b.Rect.Offset(x, y)
		p.Boxes = append(p.Boxes, b)
		p.Rect = p.Rect.Union(b.Rect)
		x, rowBottom = b.Rect.Right()+rowGap, max(rowBottom, b.Rect.Bottom())
	}
	return p, true
}

// heading says what the panel shows: tables KVM walked, or L1's store.
func (s *n12State) heading(name string) string {
	for _, mk := range s.marks {
		if !mk.store {
			return fmt.Sprintf("L1's %s, in L1's memory: KVM walks it in software for guest_mmu", name)
		}
	}
	return fmt.Sprintf("L1's %s, in L1's memory: L1 stores to the marked entry", name)
}

// tableSpec is one table of L1's nested tables, with its marks.
func (s *n12State) tableSpec(f *focus, m *mmu.Machine, mode mmu.PagingMode, name string, table mmu.GPA,
	mine []int) *boxSpec {
	level := s.marks[mine[0]].level
	// In L1's memory: its L1 GPA says so (the HPA, through the
	// memslots, would make the row of boxes too wide to sit under the walk).
	title := fmt.Sprintf("%s %s @ L1 GPA %s", name, mmu.TableName(mode, level), table)
	sp := newTableSpec("n12:"+hexVal(uint64(table)), BoxTable, level, title)
	n := mmu.TableEntries(mode, level)
	if name == "EPT12" {
		n = 512
	}
	entries := m.GuestTable(mode, table, n)
	var must []int
	for _, i := range mine {
		must = append(must, s.marks[i].index)
	}
	for _, p := range pickEntriesN(entries, must, maxShownEntries) {
		if p.folded {
			sp.rows = append(sp.rows, rowSpec{style: RowCollapsed, level: level, index: p.index, count: p.count,
				span: &cell{s: foldText(p, nonZeroIn(entries, p)), font: Mono, color: MutedInk}})
			continue
		}
		e := entries[p.index]
		row := rowSpec{style: RowNormal, level: level, index: p.index, count: 1,
			cells: []cell{{fmt.Sprint(p.index), Mono, Ink, true}, {hexVal(e), Mono, Ink, false},
				{n12Flags(m, mode, name, e, level), Mono, MutedInk, false}}}
		for _, i := range mine {
			if s.marks[i].index == p.index {
				s.markRow(&row, i)
			}
		}
		sp.rows = append(sp.rows, row)
	}
	return sp
}

// markRow styles the row of mark i: read on the walk (→), L1's store
// (Δ once it has landed), and the step's own mark highlighted.
func (s *n12State) markRow(row *rowSpec, i int) {
	row.style, row.marker, row.fill = RowPath, "→", LevelTint(row.level)
	if s.marks[i].store && s.stored {
		row.marker, row.fill = "Δ", WrittenTint
	}
	if i != s.cur.mark {
		return
	}
	switch {
	case s.cur.fault:
		row.style, row.marker, row.faultAt = RowFaulted, "×", true
	case s.cur.write:
		row.style, row.marker = RowWritten, "Δ"
	default:
		row.style, row.marker = RowCurrent, "►"
	}
}

// n12Flags decodes an entry of L1's nested tables.
func n12Flags(m *mmu.Machine, mode mmu.PagingMode, name string, e uint64, level int) string {
	if e == 0 {
		return "empty"
	}
	if name == "EPT12" {
		return m.DecodeSPTE(e, level)
	}
	if !mmu.PTE(e).Present() {
		return "not present"
	}
	return mmu.DecodeFlags(mmu.PTE(e), level, mode != mmu.Paging32)
}
