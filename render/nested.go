package render

import (
	"fmt"

	"mmuviz/mmu"
)

// L1's nested tables (EPT12 or NPT12) as KVM walks them in software while
// it handles an L2 fault on guest_mmu (ept_page_fault, FNAME(page_fault)
// for NPT): a box "n12:GPA" per table the current action has read so far,
// in the order it read them, with the entries it read and the one the
// step is about marked. They live in L1's memory, so they are drawn from
// L1 guest-physical memory through the memslots.

// n12Read is one entry of L1's nested tables the walk read.
type n12Read struct {
	table mmu.GPA
	level int
	index int
}

// n12Cur is the entry the step is about and how: read, faulted, written.
type n12Cur struct {
	read         int // index into the reads, -1 for none
	fault, write bool
}

// n12WalkFuncs are KVM's software-walk steps on guest_mmu that are about
// an entry of L1's nested tables.
var n12WalkFuncs = map[string]bool{"walk_addr_generic": true, "permission_fault": true, "protect_clean_gpte": true,
	"update_accessed_dirty_bits": true, "nested_svm_get_tdp_pdptr": true}

// nestedTableReads lists the entries of L1's nested tables that the
// current action read up to the step, and the one the step is about.
func nestedTableReads(v *mmu.View) (reads []n12Read, cur n12Cur) {
	cur.read = -1
	for i := range v.Events {
		e := &v.Events[i]
		if e.MMU != "guest_mmu" || !e.HasEntry || !n12WalkFuncs[e.Func] {
			continue
		}
		isRead := e.Table != 0 && (e.Func == "walk_addr_generic" && e.Space == mmu.SpaceGPA && e.Kind == mmu.EvRead ||
			e.Func == "nested_svm_get_tdp_pdptr")
		if isRead {
			reads = append(reads, n12Read{table: mmu.GPA(e.Table), level: e.Level, index: e.Index})
		}
		if e != v.Event {
			continue
		}
		for r := len(reads) - 1; r >= 0; r-- {
			if reads[r].level == e.Level && reads[r].index == e.Index && (e.Table == 0 || reads[r].table == mmu.GPA(e.Table)) {
				cur = n12Cur{read: r, fault: e.Kind == mmu.EvFault, write: e.Kind == mmu.EvWrite}
				break
			}
		}
	}
	return reads, cur
}

// nestedFormat is the paging mode L1's nested tables are in (EPT12 as
// 4-level 8-byte entries; NPT12 in L1's own paging mode) and their name.
func nestedFormat(v *mmu.VCPU) (mmu.PagingMode, string) {
	if v.Nested.Kind == mmu.NestedVMX {
		return mmu.Paging4, "EPT12"
	}
	mode := mmu.PagingMode(v.GuestMMU.CPURole.Base.Level())
	if mode == mmu.PagingOff {
		mode = v.Nested.L1.Mode()
	}
	return mode, "NPT12"
}

// layoutNestedTables places L1's nested tables in a row below extent (the
// 2D picture is already wide); ok is false when the step has none to show.
func layoutNestedTables(f *focus, v *mmu.View, extent Rect) (Panel, bool) {
	reads, cur := nestedTableReads(v)
	if len(reads) == 0 || f.vcpu >= len(v.Machine.VCPUs) {
		return Panel{}, false
	}
	vc := v.Machine.VCPUs[f.vcpu]
	mode, name := nestedFormat(vc)
	p := Panel{ID: "n12", Title: "L1's " + name + ", walked by KVM in software"}
	x, y := extent.X, extent.Bottom()+blockGap
	var order []mmu.GPA
	byTable := map[mmu.GPA][]int{}
	for i, r := range reads {
		if _, seen := byTable[r.table]; !seen {
			order = append(order, r.table)
		}
		byTable[r.table] = append(byTable[r.table], i)
	}
	for _, table := range order {
		b := n12Spec(f, v.Machine, mode, name, table, reads, byTable[table], cur).build()
		b.Rect = b.Rect.Offset(x, y)
		p.Boxes = append(p.Boxes, b)
		p.Rect = p.Rect.Union(b.Rect)
		x = b.Rect.Right() + rowGap
	}
	return p, true
}

// n12Spec is one table of L1's nested tables.
func n12Spec(f *focus, m *mmu.Machine, mode mmu.PagingMode, name string, table mmu.GPA, reads []n12Read,
	mine []int, cur n12Cur) *boxSpec {
	level := reads[mine[0]].level
	title := fmt.Sprintf("%s level %d @ L1 GPA %s", name, level, table)
	if hpa, ok := m.GPAToHPA(table); ok {
		title += fmt.Sprintf(" (HPA %s)", hpa)
	}
	s := newTableSpec("n12:"+hexVal(uint64(table)), BoxTable, level, title)
	entries := m.GuestTable(mode, table, mmu.TableEntries(mode, level))
	var must []int
	for _, i := range mine {
		must = append(must, reads[i].index)
	}
	for _, p := range pickEntriesN(entries, must, maxShownEntries) {
		if p.folded {
			s.rows = append(s.rows, rowSpec{style: RowCollapsed, level: level, index: p.index, count: p.count,
				span: &cell{s: foldText(p, nonZeroIn(entries, p)), font: Mono, color: MutedInk}})
			continue
		}
		e := entries[p.index]
		row := rowSpec{style: RowNormal, level: level, index: p.index, count: 1,
			cells: []cell{{fmt.Sprint(p.index), Mono, Ink, true}, {hexVal(e), Mono, Ink, false},
				{n12Flags(m, mode, name, e, level), Mono, MutedInk, false}}}
		for _, i := range mine {
			if reads[i].index != p.index {
				continue
			}
			row.style, row.marker, row.fill = RowPath, "→", LevelTint(level)
			if i == cur.read {
				switch {
				case cur.fault:
					row.style, row.marker, row.faultAt = RowFaulted, "×", true
				case cur.write:
					row.style, row.marker = RowWritten, "Δ"
				default:
					row.style, row.marker = RowCurrent, "►"
				}
			}
		}
		s.rows = append(s.rows, row)
	}
	return s
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
