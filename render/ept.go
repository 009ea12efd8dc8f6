package render

import (
	"fmt"
	"strings"

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
func (ht *hostTables) tableName(level int) string {
	return ht.name + " " + mmu.TableName(mmu.Paging4, level)
}

// hostChain builds the column: the tables of the path (those not read yet
// hidden, keeping their room), a table KVM has just allocated, the frame
// the leaf maps, and the violation.
func hostChain(f *focus) []*link {
	t := f.tdp
	var ch []*link
	for i, hl := range t.path {
		k := &link{spec: hostTableSpec(f, hl), edge: i > 0, fromRow: -1, ink: HostInk,
			hidden: !t.all && !t.seen[hl.level] && !hl.pending}
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
	case t.exit != nil:
		// Drawn where the walk stopped; once KVM mends its tables the
		// violation stays as the reason, no longer tied to an entry.
		ch = append(ch, &link{spec: violationSpec(f), edge: !t.mended && !last.pending,
			fromRow: ch[len(ch)-1].spec.faultRow(), ink: FaultInk})
	case last.leaf && t.hasGPA:
		ch = append(ch, &link{spec: frameSpec(f, last), edge: true, fromRow: ch[len(ch)-1].spec.pathRow(),
			ink: HostInk, hidden: ch[len(ch)-1].hidden})
	}
	return ch
}

// hostTableSpec is one host table: the path entry, the entry the step is
// about, a couple of neighbours, empty runs folded.
func hostTableSpec(f *focus, hl hostLevel) *boxSpec {
	t := f.tdp
	title := fmt.Sprintf("%s @ HPA %s", t.host.tableName(hl.level), hl.table)
	if hl.pending || t.fresh[hl.table] {
		title += " (new)"
	}
	s := newTableSpec("ept:"+hexVal(uint64(hl.table)), BoxTable, hl.level, title)
	s.titleBG, s.strip = HostTint, HostInk
	entries := hostTable(f.machine, hl.table)
	var must []int
	if t.hasGPA && !hl.pending {
		must = append(must, hl.index)
	}
	cur := t.cur.ok && t.cur.table == hl.table
	if cur && t.cur.index >= 0 {
		must = append(must, t.cur.index)
	}
	for _, p := range pickEntriesN(entries, must, maxHostEntries) {
		s.rows = append(s.rows, hostRow(f, hl, entries, p, cur))
	}
	if cur && t.cur.index < 0 && len(s.rows) > 0 {
		// A table as a whole (just allocated, or freed): its first line.
		f.markTarget(&s.rows[0], true)
	}
	return s
}

// hostRow is one line of a host table.
func hostRow(f *focus, hl hostLevel, entries []uint64, p entryPick, cur bool) rowSpec {
	t := f.tdp
	if p.folded {
		return rowSpec{style: RowCollapsed, level: hl.level, index: p.index, count: p.count,
			span: &cell{s: foldText(p, nonZeroIn(entries, p)), font: Mono, color: MutedInk}}
	}
	e := entries[p.index]
	row := rowSpec{style: RowNormal, level: hl.level, index: p.index, count: 1,
		cells: []cell{{fmt.Sprint(p.index), Mono, Ink, true}, {hexVal(e), Mono, Ink, false},
			{t.host.decode(e, hl.level), Mono, MutedInk, false}}}
	if t.hasGPA && p.index == hl.index && !hl.pending {
		row.onPath = true
		row.style, row.marker, row.fill = RowPath, "→", HostTint
	}
	f.markTarget(&row, cur && p.index == t.cur.index)
	if row.style == RowFaulted {
		row.faultAt = true
	}
	return row
}

// eptMemTypes names the EPT memory types of bits 5:3.
var eptMemTypes = [8]string{"UC", "WC", "mt2", "mt3", "WT", "WP", "WB", "mt7"}

// decode spells out a host entry's bits: "R W X WB PS A D" for EPT, the
// x86 flags for NPT.
func (ht *hostTables) decode(e uint64, level int) string {
	switch {
	case e == 0:
		return "empty"
	case !ht.present(e):
		return "not present"
	case ht.name == "NPT":
		return mmu.DecodeFlags(mmu.PTE(e), level, true)
	}
	var parts []string
	for i, n := range []string{"R", "W", "X"} {
		if e&(1<<uint(i)) != 0 {
			parts = append(parts, n)
		}
	}
	leaf := ht.isLeaf(e, level)
	if leaf {
		parts = append(parts, eptMemTypes[e>>3&7])
		if e&(1<<6) != 0 {
			parts = append(parts, "IPAT")
		}
		if level > 1 {
			parts = append(parts, "PS")
		}
	}
	if e&(1<<8) != 0 {
		parts = append(parts, "A")
	}
	if leaf && e&(1<<9) != 0 {
		parts = append(parts, "D")
	}
	return strings.Join(parts, " ")
}

// frameSpec is the host frame the leaf maps: the end of a host walk, and
// the link from the host tables back to the guest's table (or page).
func frameSpec(f *focus, leaf hostLevel) *boxSpec {
	t := f.tdp
	size := uint64(1) << (12 + 9*uint(leaf.level-1))
	base := leaf.entry & hostAddrMask &^ (size - 1)
	hpa := mmu.HPA(base | uint64(t.gpa)&(size-1))
	s := &boxSpec{id: "hostframe", kind: BoxMemory, title: "HPA " + hpa.String(), titleInk: Ink,
		titleBG: LevelTint(max(t.row, 0)), fill: BoxFill, border: LevelInk(max(t.row, 0)), borderW: 1.5}
	what := "the data page"
	if t.row > 0 {
		what = "the guest's " + mmu.TableName(f.mode, t.row)
	}
	s.rows = append(s.rows, rowSpec{index: -1, count: 1, cells: []cell{{"holds", MonoBold, Ink, false},
		{what, Prose, Ink, false}}})
	s.rows = append(s.rows, rowSpec{index: -1, count: 1, cells: []cell{{"GPA", MonoBold, Ink, false},
		{t.gpa.String(), Mono, Ink, false}}})
	s.rows[0].onPath = true
	return s
}

// violationSpec is the EPT violation (or nested page fault) that stopped
// the walk, its exit qualification spelled out.
func violationSpec(f *focus) *boxSpec {
	t := f.tdp
	title := "× EPT violation (VM exit)"
	if t.host.name == "NPT" {
		title = "× Nested page fault (#NPF)"
	}
	s := &boxSpec{id: "hostfault", kind: BoxFault, title: title, titleInk: PaperInk, titleBG: FaultInk,
		fill: FaultPaper, border: FaultInk, borderW: 2.5}
	for _, l := range exitLines(t) {
		s.rows = append(s.rows, rowSpec{index: -1, count: 1, cells: []cell{{l[0], MonoBold, FaultInk, false},
			{l[1], Mono, Ink, false}, {l[2], Prose, Ink, false}}})
	}
	return s
}

// exitLines decodes the exit qualification of the violation: what the
// access was, what the entry allowed, and whether the GPA was the access's
// own or a guest paging structure's.
func exitLines(t *tdpFocus) [][3]string {
	q := t.exit.New
	gpa := t.gpa
	out := [][3]string{{"qual", hexVal(q), "exit qualification"}}
	access := "a read"
	switch {
	case q&2 != 0:
		access = "a write"
	case q&4 != 0:
		access = "an instruction fetch"
	}
	out = append(out, [3]string{"access", fmt.Sprintf("%03b", q&7), access + " (bits 2:0 = X W R)"})
	entry := "not present: R W X all 0"
	if q&0x38 != 0 {
		var p []string
		for i, n := range []string{"R", "W", "X"} {
			if q&(8<<uint(i)) != 0 {
				p = append(p, n)
			}
		}
		entry = "allowed only " + strings.Join(p, " ")
	}
	out = append(out, [3]string{"entry", fmt.Sprintf("%03b", q>>3&7), entry})
	switch {
	case q&(1<<7) == 0:
		out = append(out, [3]string{"GVA", "0", "no linear address (bit 7)"})
	case q&(1<<8) != 0:
		out = append(out, [3]string{"GVA", "1", "final translation: the access's own GPA"})
	default:
		out = append(out, [3]string{"GVA", "1", "a guest paging-structure read (bit 8 = 0)"})
	}
	if t.hasGPA {
		out = append(out, [3]string{"GPA", gpa.String(), "the address no EPT entry maps"})
	}
	return out
}
