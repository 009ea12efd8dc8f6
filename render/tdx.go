package render

import (
	"fmt"
	"sort"

	"mmuviz/mmu"
)

// The TD panel: a trust domain's two halves side by side, as the seed's
// figure draws them. On the left the shared EPT (the direct root, which
// the processor walks through SHARED_EPT_POINTER for GPAs with the shared
// bit); in the middle KVM's mirror root (is_mirror), which only KVM
// reads; on the right the S-EPT, the TDX module's tables, which the
// processor walks for private GPAs. A dashed arrow joins each mirror page
// to its S-EPT page (external_spt), the root to the S-EPT root. Each tree
// lists its pages from the root down, each with its interesting entries;
// a page KVM has allocated and not linked yet comes last, dashed.

// tdxMaxEntries is how many present entries besides the step's a page of
// the TD panel lists.
const tdxMaxEntries = 2

// tdxHeadFont is the size of the panel's heading lines.
const tdxHeadFont = 13.0

// isMirrorPage reports whether hpa is a page of a TD's mirror root now.
func isMirrorPage(m *mmu.Machine, hpa mmu.HPA) bool {
	if hpa == 0 || !m.IsTD() {
		return false
	}
	for _, p := range m.TDPPages() {
		if p.HPA == hpa {
			return p.Mirror
		}
	}
	return false
}

// tdxTree is one column: its pages in order (parents before children),
// each page's parent entry, and the pages not linked yet.
type tdxTree struct {
	kind    string // "shared", "mirror", "sept"
	pages   []tdxPage
	heading string
}

// tdxPage is one page of a column.
type tdxPage struct {
	hpa      mmu.HPA
	level    int
	gfn      mmu.GFN
	parent   mmu.HPA // the table whose entry links it (0 for a root or an unlinked page)
	index    int     // that entry's index
	unlinked bool
	mirror   mmu.HPA // for an S-EPT page: the mirror page it stands for
}

// layoutTDX places the TD panel under extent; ok is false for a VM that
// is no TD.
func layoutTDX(f *focus, extent Rect) (Panel, bool) {
	m := f.machine
	info, ok := m.TDX()
	if !ok {
		return Panel{}, false
	}
	p := Panel{ID: "tdx", Title: "TD: shared and private halves"}
	top := extent.Bottom() + blockGap
	head := fmt.Sprintf("TD: GPAW %d, shared bit %s; %s; nr_premapped %d; TD epoch %d", info.GPAW,
		info.SharedBit, info.State, info.NrPremapped, info.Epoch)
	switch {
	case info.Destroyed:
		head += "; destroyed"
	case info.Dead:
		head += "; dead (kvm_vm_dead)"
	}
	p.Texts = append(p.Texts, Text{S: head, X: 0, Y: top, Size: tdxHeadFont, Font: Prose, Color: Ink})
	p.Rect = Rect{0, top, TextWidth(head, Prose, tdxHeadFont), LineHeight(tdxHeadFont)}
	top += LineHeight(tdxHeadFont) + 8
	trees := tdxTrees(m, f.vcpu, info)
	cols := tdxColumns(f, trees, top)
	for _, c := range cols {
		p.Texts = append(p.Texts, c.head)
		p.Boxes = append(p.Boxes, c.boxes...)
		p.Edges = append(p.Edges, c.edges...)
		p.Rect = p.Rect.Union(c.extent)
	}
	p.Edges = append(p.Edges, mirrorLinks(cols[1], cols[2])...)
	return p, true
}

// tdxTrees gathers the three columns' pages.
func tdxTrees(m *mmu.Machine, vcpu int, info mmu.TDXInfo) [3]tdxTree {
	var shared, mirror []mmu.TDPPage
	for _, pg := range m.TDPPages() {
		if pg.Mirror {
			mirror = append(mirror, pg)
		} else if !pg.Invalid || pg.Root {
			shared = append(shared, pg)
		}
	}
	root, _ := m.TDPRoot(vcpu)
	mroot, _ := m.TDXMirrorRoot(vcpu)
	t := [3]tdxTree{
		{kind: "shared", heading: "shared EPT: root.hpa → SHARED_EPT_POINTER"},
		{kind: "mirror", heading: "mirror root: mirror_root_hpa, KVM only"},
		{kind: "sept", heading: "S-EPT: the TDX module's, what the CPU walks"},
	}
	t[0].pages = treeOrder(m, kvmPages(shared), root)
	t[1].pages = treeOrder(m, kvmPages(mirror), mroot)
	var sept []tdxPage
	for _, sp := range m.SEPTPages() {
		sept = append(sept, tdxPage{hpa: sp.HPA, level: sp.Level, gfn: sp.GFN, mirror: sp.Mirror})
	}
	if !info.Destroyed {
		t[2].pages = treeOrder(m, sept, info.SEPTRoot)
	}
	return t
}

// kvmPages turns TDP MMU pages into column pages.
func kvmPages(pages []mmu.TDPPage) []tdxPage {
	out := make([]tdxPage, 0, len(pages))
	for _, p := range pages {
		out = append(out, tdxPage{hpa: p.HPA, level: p.Level, gfn: p.GFN})
	}
	return out
}

// treeOrder orders pages depth first from root, following the present
// entries that point to them; pages no entry reaches come last, unlinked.
func treeOrder(m *mmu.Machine, pages []tdxPage, root mmu.HPA) []tdxPage {
	byHPA := map[mmu.HPA]*tdxPage{}
	for i := range pages {
		byHPA[pages[i].hpa] = &pages[i]
	}
	var out []tdxPage
	seen := map[mmu.HPA]bool{}
	var visit func(hpa, parent mmu.HPA, index int)
	visit = func(hpa, parent mmu.HPA, index int) {
		pg := byHPA[hpa]
		if pg == nil || seen[hpa] {
			return
		}
		seen[hpa] = true
		pg.parent, pg.index = parent, index
		out = append(out, *pg)
		if pg.level <= 1 {
			return
		}
		for i, e := range m.HostTable(hpa) {
			if mmu.SEPTPresent(e) && e&mmu.EPTPageSize == 0 {
				visit(mmu.HPA(e&0x000ffffffffff000), hpa, i)
			}
		}
	}
	visit(root, 0, -1)
	var rest []tdxPage
	for _, pg := range pages {
		if !seen[pg.hpa] {
			pg.unlinked = true
			rest = append(rest, pg)
		}
	}
	sort.SliceStable(rest, func(i, j int) bool { return rest[i].level > rest[j].level })
	return append(out, rest...)
}

// tdxColumn is a laid-out column.
type tdxColumn struct {
	tree   tdxTree
	head   Text
	boxes  []Box
	edges  []Edge
	at     map[mmu.HPA]int // box index of each page
	extent Rect
}

// tdxColumns lays out the three columns from y = top: the shared one, then
// the mirror and the S-EPT side by side, each S-EPT page level with the
// mirror page it stands for.
func tdxColumns(f *focus, trees [3]tdxTree, top float64) []*tdxColumn {
	cols := make([]*tdxColumn, 3)
	specs := make([][]*boxSpec, 3)
	x := 0.0
	for i, tr := range trees {
		c := &tdxColumn{tree: tr, at: map[mmu.HPA]int{}}
		w := TextWidth(tr.heading, Prose, tdxHeadFont)
		for _, pg := range tr.pages {
			s := tdxPageSpec(f, tr, pg)
			specs[i] = append(specs[i], s)
			w = max(w, s.build().Rect.W)
		}
		for _, s := range specs[i] {
			s.minW = w
			c.boxes = append(c.boxes, s.build())
		}
		c.head = Text{S: tr.heading, X: x, Y: top, Size: tdxHeadFont, Font: Prose, Color: HostInk}
		c.extent = Rect{x, top, w, LineHeight(tdxHeadFont)}
		for j := range c.boxes {
			c.boxes[j].Rect.X = x
			c.at[tr.pages[j].hpa] = j
		}
		cols[i] = c
		x += w + colGap
	}
	y0 := top + LineHeight(tdxHeadFont) + 6
	stack(cols[0], y0)
	pairRows(cols[1], cols[2], y0)
	for _, c := range cols {
		for j := range c.boxes {
			c.extent = c.extent.Union(c.boxes[j].Rect)
		}
		c.extent.W += 30 // the gutter where the column's arrows run
		c.edges = treeEdges(c)
	}
	return cols
}

// stack puts a column's boxes one under the other from y.
func stack(c *tdxColumn, y float64) {
	for j := range c.boxes {
		c.boxes[j].Rect.Y = y
		y = c.boxes[j].Rect.Bottom() + rowGap
	}
}

// pairRows stacks the mirror column and puts each S-EPT page level with
// its mirror page (the root with the root); S-EPT pages without one go
// last.
func pairRows(mirror, sept *tdxColumn, y float64) {
	placed := map[int]bool{}
	ys := y
	for j, pg := range mirror.tree.pages {
		k := -1
		for i, sp := range sept.tree.pages {
			if (j == 0 && sp.parent == 0 && !sp.unlinked && !pg.unlinked && pg.parent == 0) ||
				(sp.mirror != 0 && sp.mirror == pg.hpa) {
				k = i
			}
		}
		at := max(y, ys)
		mirror.boxes[j].Rect.Y = at
		y = mirror.boxes[j].Rect.Bottom() + rowGap
		if k >= 0 && !placed[k] {
			placed[k] = true
			sept.boxes[k].Rect.Y = at
			ys = sept.boxes[k].Rect.Bottom() + rowGap
		}
		y = max(y, ys)
		ys = y
	}
	for k := range sept.boxes {
		if !placed[k] {
			sept.boxes[k].Rect.Y = ys
			ys = sept.boxes[k].Rect.Bottom() + rowGap
		}
	}
}

// tdxPageSpec is one page of a column: its link entries, the step's entry
// and a few other non-empty ones; the rest folded.
func tdxPageSpec(f *focus, tr tdxTree, pg tdxPage) *boxSpec {
	m := f.machine
	word := map[string]string{"shared": "EPT", "mirror": "mirror", "sept": "S-EPT"}[tr.kind]
	title := fmt.Sprintf("%s %s @ HPA %s", word, mmu.TableName(mmu.Paging4, pg.level), pg.hpa)
	if pg.unlinked {
		title += " (not linked yet)"
	}
	s := newTableSpec(tr.kind+":"+hexVal(uint64(pg.hpa)), BoxTable, pg.level, title)
	s.titleBG, s.strip, s.dashed = HostTint, HostInk, pg.unlinked
	if tr.kind == "sept" {
		s.titleBG = FaultPaper // the TDX module's: encrypted, out of KVM's reach
	}
	entries := m.HostTable(pg.hpa)
	interest := make([]uint64, len(entries))
	var must []int
	for i, e := range entries {
		if tdxEntryShown(m, tr.kind, e) {
			interest[i] = 1
			if pg.level > 1 && e&mmu.EPTPageSize == 0 {
				must = append(must, i) // a link: its arrow leaves from this row
			}
		}
	}
	cur := f.tdp != nil && f.tdp.cur.ok && f.tdp.cur.table == pg.hpa
	if cur && f.tdp.cur.index >= 0 {
		must = append([]int{f.tdp.cur.index}, must...)
	}
	for _, p := range pickEntriesN(interest, must, tdxMaxEntries+len(must)) {
		s.rows = append(s.rows, tdxRow(f, tr.kind, pg, entries, p, cur))
	}
	if cur && f.tdp.cur.index < 0 && len(s.rows) > 0 {
		f.markTarget(&s.rows[0], true)
	}
	return s
}

// tdxEntryShown reports whether an entry is worth a row: present, or an
// S-EPT page the processor does not see yet (PENDING, BLOCKED).
func tdxEntryShown(m *mmu.Machine, kind string, e uint64) bool {
	if kind == "sept" {
		return e != 0
	}
	return m.SPTEPresent(e)
}

// tdxRow is one line of a page of the TD panel.
func tdxRow(f *focus, kind string, pg tdxPage, entries []uint64, p entryPick, cur bool) rowSpec {
	if p.folded {
		text := fmt.Sprintf("… %d not present", p.count)
		if p.present > 0 {
			text = foldText(p, p.present)
		}
		return rowSpec{style: RowCollapsed, level: pg.level, index: p.index, count: p.count,
			span: &cell{s: text, font: Mono, color: MutedInk}}
	}
	e := entries[p.index]
	flags := hostFlags(f.machine, e, pg.level)
	if kind == "sept" {
		flags = mmu.DecodeSEPT(e, pg.level)
	}
	row := rowSpec{style: RowNormal, level: pg.level, index: p.index, count: 1,
		cells: []cell{{fmt.Sprint(p.index), Mono, Ink, true}, {hexVal(e), Mono, Ink, false},
			{flags, Mono, MutedInk, false}}}
	f.markTarget(&row, cur && p.index == f.tdp.cur.index)
	if row.style == RowFaulted {
		row.faultAt = true
	}
	return row
}

// treeEdges are a column's arrows: from each link entry down the gutter
// into the child's title.
func treeEdges(c *tdxColumn) []Edge {
	var out []Edge
	for j, pg := range c.tree.pages {
		pi, ok := c.at[pg.parent]
		if pg.parent == 0 || !ok {
			continue
		}
		src, dst := &c.boxes[pi], &c.boxes[j]
		row := -1
		for r, rw := range src.Rows {
			if rw.Index == pg.index && rw.Count == 1 {
				row = r
			}
		}
		if row < 0 {
			continue
		}
		gx := src.Rect.Right() + 8 + 5*float64(5-src.Level)
		sy, ey := rowCenterY(src, row), dst.Rect.Y+dst.TitleH/3
		pts := []Point{{src.Rect.Right(), sy}, {gx, sy}, {gx, ey}, {dst.Rect.Right(), ey}}
		out = append(out, Edge{ID: "tdx-edge:" + dst.ID, From: src.ID, To: dst.ID, Points: pts, Color: HostInk,
			Width: edgeW, Alpha: 1, FromRow: row, HeadSize: headSize})
	}
	return out
}

// mirrorLinks are the dashed arrows from each mirror page to the S-EPT
// page it stands for (external_spt; for the root, the S-EPT root).
func mirrorLinks(mirror, sept *tdxColumn) []Edge {
	var out []Edge
	for j := range mirror.boxes {
		src := &mirror.boxes[j]
		for k := range sept.boxes {
			dst := &sept.boxes[k]
			if dst.Rect.Y != src.Rect.Y {
				continue
			}
			y := src.Rect.Y + src.TitleH*3/4
			out = append(out, Edge{ID: "tdx-mirror:" + dst.ID, From: src.ID, To: dst.ID,
				Points: []Point{{src.Rect.Right(), y}, {dst.Rect.X, y}}, Color: FaultInk, Width: edgeW, Dashed: true,
				Alpha: 1, FromRow: -1, HeadSize: headSize})
		}
	}
	return out
}

// walkName names the tables the host column shows: the TDP format's, or
// for a TD's private GPA the S-EPT.
func (t *tdpFocus) walkName() string {
	if t.sept {
		return "S-EPT"
	}
	switch {
	case t.nested:
		return t.format.Name + "02" // guest_mmu's shadow of L1's EPT12/NPT12
	case t.nestedRun:
		return t.format.Name + "01" // root_mmu's tables for L1, in a nested run
	}
	return t.format.Name
}
