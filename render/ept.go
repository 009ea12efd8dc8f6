package render

import (
	"fmt"

	"mmuviz/mmu"
)

// The host tables panel: the EPT (or NPT) tables on the path of the GPA
// the current reference translates, one under the other, each with the
// entry the walk takes and a few neighbours, the frame the leaf maps, and
// an EPT violation where the walk stopped. Arrows run down the right-hand
// side of the column, so they never cross a box.

// maxHostEntries is how many non-empty entries besides the path a host
// table lists; the column stays short enough to sit beside the guest's.
const maxHostEntries = 2

// hostTableName names a host table at level: "EPT PML4", "NPT PD".
func (t *tdpFocus) tableName(level int) string {
	return t.walkName() + " " + mmu.TableName(mmu.Paging4, level)
}

// hostChain builds the column: the tables of the path (those not read yet
// hidden, keeping their room), a table KVM has just allocated, the frame
// the leaf maps, and the violation.
func hostChain(f *focus) []*link {
	t := f.tdp
	var ch []*link
	for i, hl := range t.path {
		k := &link{spec: hostTableSpec(f, hl), edge: i > 0, fromRow: -1, ink: HostInk,
			hidden: !t.all && !t.seen[hl.Level] && !hl.pending}
		if hl.pending {
			k.dashed, k.label = true, "not linked yet"
		}
		if i > 0 {
			k.fromRow = ch[i-1].spec.pathRow()
		}
		ch = append(ch, k)
	}
	if len(ch) == 0 {
		return nil
	}
	last := t.path[len(t.path)-1]
	switch {
	case t.walkFault != nil:
		// Drawn where the walk stopped; once KVM mends its tables the
		// violation stays as the reason, no longer tied to an entry.
		ch = append(ch, &link{spec: violationSpec(f), edge: !t.mended && !last.pending,
			fromRow: ch[len(ch)-1].spec.faultRow(), ink: FaultInk})
	case last.Leaf && t.hasGPA:
		ch = append(ch, &link{spec: frameSpec(f), edge: true, fromRow: ch[len(ch)-1].spec.pathRow(),
			ink: HostInk, hidden: ch[len(ch)-1].hidden})
	}
	return ch
}

// hostTableSpec is one host table: the path entry, the entry the step is
// about, a couple of present neighbours, the rest folded.
func hostTableSpec(f *focus, hl hostLevel) *boxSpec {
	t := f.tdp
	name := t.tableName(hl.Level)
	if what := t.shadowKind(f.machine, hl.Table); what != "" {
		name += " (" + what + ")"
	}
	title := fmt.Sprintf("%s @ HPA %s", name, hl.Table)
	if hl.pending || t.fresh[hl.Table] {
		title += " (new)"
	}
	s := newTableSpec("ept:"+hexVal(uint64(hl.Table)), BoxTable, hl.Level, title)
	s.titleBG, s.strip = HostTint, HostInk
	entries, present := hostTable(f.machine, hl.Table)
	var must []int
	onPath := t.hasGPA && !hl.pending && hl.Index >= 0
	if onPath {
		must = append(must, hl.Index)
	}
	cur := t.cur.ok && t.cur.table == hl.Table
	if cur && t.cur.index >= 0 {
		must = append(must, t.cur.index)
	}
	for _, p := range pickEntriesN(present, must, maxHostEntries) {
		s.rows = append(s.rows, hostRow(f, hl, entries, p, onPath, cur))
	}
	if cur && t.cur.index < 0 && len(s.rows) > 0 {
		// A table as a whole (just allocated, freed, split): its first line.
		f.markTarget(&s.rows[0], true)
	}
	return s
}

// hostTable reads the 512 entries of the host table at hpa, and marks
// which of them the hardware sees as present (1) or not (0).
func hostTable(m *mmu.Machine, hpa mmu.HPA) (entries, present []uint64) {
	entries, present = m.HostTable(hpa), make([]uint64, 512)
	for i, e := range entries {
		if m.SPTEPresent(e) {
			present[i] = 1
		}
	}
	return entries, present
}

// hostRow is one line of a host table.
func hostRow(f *focus, hl hostLevel, entries []uint64, p entryPick, onPath, cur bool) rowSpec {
	t := f.tdp
	if p.folded {
		text := fmt.Sprintf("… %d not present", p.count)
		if p.present > 0 {
			text = foldText(p, p.present)
		}
		return rowSpec{style: RowCollapsed, level: hl.Level, index: p.index, count: p.count,
			span: &cell{s: text, font: Mono, color: MutedInk}}
	}
	e := entries[p.index]
	row := rowSpec{style: RowNormal, level: hl.Level, index: p.index, count: 1,
		cells: []cell{{fmt.Sprint(p.index), Mono, Ink, true}, {hexVal(e), Mono, Ink, false},
			{hostFlags(f.machine, e, hl.Level), Mono, MutedInk, false}}}
	if onPath && p.index == hl.Index {
		row.onPath = true
		row.style, row.marker, row.fill = RowPath, "→", HostTint
		if t.walkFault != nil && !t.mended && hl.Table == t.path[len(t.path)-1].Table {
			// Where the walk stopped, while KVM has not yet changed anything.
			row.marker, row.fill, row.faultAt = "×", FaultPaper, true
		}
	}
	f.markTarget(&row, cur && p.index == t.cur.index)
	if row.style == RowFaulted {
		row.faultAt = true
	}
	return row
}

// hostFlags decodes an SPTE for its row; an entry the hardware sees as
// not present is just that (its value shows the rest: SHADOW_NONPRESENT_VALUE
// is bit 63, suppress #VE).
func hostFlags(m *mmu.Machine, e uint64, level int) string {
	if !m.SPTEPresent(e) && !m.IsMMIOSPTE(e) {
		if e == 0 {
			return "empty"
		}
		return "not present"
	}
	return m.DecodeSPTE(e, level)
}

// frameSpec is the host frame the leaf maps: the end of a host walk, and
// the link from the host tables back to the guest's table (or page).
func frameSpec(f *focus) *boxSpec {
	t := f.tdp
	s := &boxSpec{id: "hostframe", kind: BoxMemory, title: "HPA " + t.hpa.String(), titleInk: Ink,
		titleBG: LevelTint(max(t.row, 0)), fill: BoxFill, border: LevelInk(max(t.row, 0)), borderW: 1.5}
	what := "the data page"
	switch {
	case t.row > 0:
		what = t.guestWord() + " " + mmu.TableName(t.grid.mode, t.row)
	case t.row < 0:
		what = "guest memory"
	}
	s.rows = append(s.rows, rowSpec{index: -1, count: 1, cells: []cell{{"holds", MonoBold, Ink, false},
		{what, Prose, Ink, false}}})
	s.rows = append(s.rows, rowSpec{index: -1, count: 1, cells: []cell{{t.gpaWord(), MonoBold, Ink, false},
		{t.gpa.String(), Mono, Ink, false}}})
	s.rows[0].onPath = true
	return s
}
