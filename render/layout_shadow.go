package render

import (
	"strings"
)

// Placing the shadow view: the guest's tables in a column on the left,
// KVM's shadow pages in a column on the right, each shadow page level
// with the guest table it shadows, so that the dashed link between them
// runs straight across the gap. Rows of the picture are bands: the
// registers beside the vCPU's root, then each paging level from the top,
// then the outcomes (the guest's page or fault beside the end of the
// processor's walk). Boxes that pair with nothing (special roots, the
// other quadrants of a guest table, a page being zapped) take the next
// free place in their column. The guest chain's arrows run down the left
// gutter, the shadow chain's down the right gutter, the dashed links only
// in the gap between the columns: no line crosses a box.

const (
	shGap      = 92.0 // between the columns, where the dashed links run
	shGutter   = 20.0 // outside each column, where its arrows run
	shSibGap   = 6.0  // between the pages of one guest table
	shHeadFont = 13.0
	rankOut    = 10.0 // band of the outcomes; a table of level L is in band 10-L
)

// colItem is a box of one column and its band. Keyed items pair with the
// keyed item of the same band in the other column; the others follow the
// band before them.
type colItem struct {
	k     *link
	rank  float64
	keyed bool
	sp    *spItem // the shadow column's item; nil in the guest column
}

// gapBefore is the room above an item in its column.
func (c *colItem) gapBefore() float64 {
	if c.sp != nil && c.sp.compact {
		return shSibGap
	}
	return rowGap
}

// layoutShadow lays out the guest column and the shadow column from y =
// top and returns them as two panels.
func layoutShadow(f *focus, top float64) (walk, shadow Panel) {
	s := f.shadow
	left, right := guestColumn(f), s.column(f)
	wL, wR := 0.0, 0.0
	for _, c := range left {
		c.k.box = c.k.spec.build()
		wL = max(wL, c.k.box.Rect.W)
	}
	for _, c := range right {
		wR = max(wR, c.k.spec.build().Rect.W)
	}
	for _, c := range right {
		c.k.spec.minW = wR
		c.k.box = c.k.spec.build()
	}
	for _, c := range append(append([]*colItem(nil), left...), right...) {
		if c.k.spec.holdsTarget() && c.k.box.Kind == BoxTable {
			c.k.box.Lit, c.k.box.Border, c.k.box.BorderW = true, LevelInk(c.k.box.Level), 2.5
		}
	}
	colRight := shGutter + wL
	xR := colRight + shGap
	y0 := top + LineHeight(shHeadFont) + 8
	placeColumns(left, right, colRight, xR, y0)
	walk = Panel{ID: "walk", Title: "guest page tables"}
	shadow = Panel{ID: "shadow", Title: "shadow pages"}
	walk.Texts = []Text{{S: "guest page tables: KVM reads them", X: colRight, Y: top, Size: shHeadFont,
		Font: Prose, Color: MutedInk, Align: AlignRight}}
	shadow.Texts = []Text{{S: "shadow pages: the processor walks these", X: xR, Y: top, Size: shHeadFont,
		Font: Prose, Color: MutedInk}}
	walk.Rect = Rect{0, top, colRight, LineHeight(shHeadFont)}
	shadow.Rect = Rect{xR, top, max(wR+shGutter, TextWidth(shadow.Texts[0].S, Prose, shHeadFont)), LineHeight(shHeadFont)}
	for _, c := range left {
		walk.Rect = walk.Rect.Union(c.k.box.Rect)
	}
	for _, c := range right {
		shadow.Rect = shadow.Rect.Union(c.k.box.Rect)
	}
	shadow.Rect.W = max(shadow.Rect.W, xR+wR+shGutter-shadow.Rect.X)
	addColumn(&walk, left)
	addColumn(&shadow, right)
	walk.Edges = guestEdges(left, shGutter-10)
	shadow.Edges = append(s.shadowEdges(right, xR+wR+10), shadowLinks(left, right, colRight+shGap/2)...)
	return walk, shadow
}

// addColumn puts the column's drawn boxes into p.
func addColumn(p *Panel, col []*colItem) {
	for _, c := range col {
		if !c.k.hidden {
			p.Boxes = append(p.Boxes, c.k.box)
		}
	}
}

// placeColumns stacks both columns from y = top: the left one's boxes
// with their right edge at colRight, the right one's at x = xR, the keyed
// boxes of one band level with each other.
func placeColumns(left, right []*colItem, colRight, xR, top float64) {
	yl, yr := top-rowGap, top-rowGap // bottom of the last box placed
	put := func(c *colItem, x, y float64) float64 {
		c.k.box.Rect.X, c.k.box.Rect.Y = x, y
		return c.k.box.Rect.Bottom()
	}
	for i, j := 0, 0; i < len(left) || j < len(right); {
		var a, b *colItem
		if i < len(left) {
			a = left[i]
		}
		if j < len(right) {
			b = right[j]
		}
		switch {
		case a != nil && b != nil && a.keyed && b.keyed && a.rank == b.rank:
			y := max(yl+a.gapBefore(), yr+b.gapBefore())
			yl, yr = put(a, colRight-a.k.box.Rect.W, y), put(b, xR, y)
			i, j = i+1, j+1
		case b == nil || (a != nil && a.rank <= b.rank):
			yl = put(a, colRight-a.k.box.Rect.W, yl+a.gapBefore())
			i++
		default:
			yr = put(b, xR, yr+b.gapBefore())
			j++
		}
	}
}

// guestLevelOf is the paging level a box of the guest chain stands for
// (a table, or a PAE guest's PDPTE registers), 0 for other boxes.
func guestLevelOf(f *focus, k *link) int {
	switch {
	case k.spec.kind == BoxTable && strings.HasPrefix(k.spec.id, "gpt:"):
		return k.spec.level
	case k.spec.id == pdptrID(f):
		return 3
	}
	return 0
}

// guestColumn is the guest's chain (registers, tables, the page or the
// fault) as a column: the last box of each level pairs with that level's
// shadow page.
func guestColumn(f *focus) []*colItem {
	ch := chainFor(f)
	last := map[int]int{}
	for i, k := range ch {
		if lv := guestLevelOf(f, k); lv > 0 {
			last[lv] = i
		}
	}
	var out []*colItem
	rank := 0.0
	for i, k := range ch {
		c := &colItem{k: k}
		lv := guestLevelOf(f, k)
		switch {
		case i == 0:
			c.keyed = true
		case lv > 0 && last[lv] == i:
			rank, c.keyed = rankOut-float64(lv), true
		case k.spec.kind == BoxResult || k.spec.kind == BoxFault:
			rank, c.keyed = rankOut, true
		}
		c.rank = rank
		if !c.keyed {
			c.rank = rank + 0.5
		}
		out = append(out, c)
	}
	return out
}

// column is the shadow column: the root, the pages level by level, the
// outcome of the processor's walk, the checker's verdict.
func (s *shadowFocus) column(f *focus) []*colItem {
	out := []*colItem{{k: &link{spec: s.rootSpec(f), fromRow: -1}, keyed: true}}
	for _, sp := range s.rootsSpecs(f) {
		out = append(out, &colItem{k: &link{spec: sp, fromRow: -1}, rank: 0.5})
	}
	keyed := map[int]bool{} // levels whose first box pairs with the guest's table
	for _, it := range s.items {
		c := &colItem{k: &link{spec: s.itemSpec(f, it), fromRow: -1, ink: EdgeInk}, sp: it,
			rank: rankOut - float64(it.level)}
		c.keyed = !keyed[it.level]
		keyed[it.level] = true
		if !c.keyed {
			c.rank += 0.5
		}
		out = append(out, c)
	}
	switch {
	case s.hwFault != nil:
		out = append(out, &colItem{k: &link{spec: s.faultSpec(f), fromRow: -1, ink: FaultInk}, rank: rankOut, keyed: true})
	case s.hasLeaf:
		out = append(out, &colItem{k: &link{spec: s.resultSpec(f), fromRow: -1, ink: ResultInk}, rank: rankOut, keyed: true})
	}
	if s.check != nil {
		out = append(out, &colItem{k: &link{spec: s.checkSpec(f), fromRow: -1}, rank: rankOut + 0.5})
	}
	return out
}

// guestEdges are the guest chain's arrows, down the gutter at x = gx.
func guestEdges(col []*colItem, gx float64) []Edge {
	var out []Edge
	for i := 1; i < len(col); i++ {
		prev, k := col[i-1].k, col[i].k
		if !k.edge || k.hidden || prev.hidden {
			continue
		}
		src, dst := &prev.box, &k.box
		sy, ey := rowCenterY(src, k.fromRow), dst.Rect.Y+dst.TitleH/2
		e := Edge{ID: "edge:" + dst.ID, From: src.ID, To: dst.ID, Color: k.ink, Width: edgeW, Dashed: k.dashed,
			Alpha: 1, FromRow: k.fromRow, HeadSize: headSize,
			Points: []Point{{src.Rect.X, sy}, {gx, sy}, {gx, ey}, {dst.Rect.X, ey}}}
		if k.spec.holdsTarget() {
			e.Lit, e.Width = true, litEdgeW
			if dst.Kind == BoxTable {
				e.Color = LevelInk(dst.Level)
			}
		}
		out = append(out, e)
	}
	return out
}

// shadowEdges are the shadow chain's arrows down the gutter at x = gx:
// from the root, along the shadow path, to the page it maps or the #PF.
func (s *shadowFocus) shadowEdges(col []*colItem, gx float64) []Edge {
	byHPA := map[string]*colItem{}
	var tail *colItem
	for _, c := range col {
		byHPA[c.k.spec.id] = c
		if c.k.spec.id == "sresult" || c.k.spec.id == "sfault" {
			tail = c
		}
	}
	var out []Edge
	link := func(from *colItem, row int, to *colItem) {
		if from == nil || to == nil {
			return
		}
		to.k.fromRow = row
		out = append(out, columnEdge(from.k, to.k, gx))
	}
	var prev *colItem
	for i, l := range s.path {
		c := byHPA["spt:"+hexVal(uint64(l.Table))]
		if c == nil {
			break
		}
		if i == 0 && s.roots.Valid && l.Table == s.roots.Root {
			link(col[0], rootRowRoot, c)
		} else if prev != nil {
			link(prev, prev.k.spec.pathRow(), c)
		}
		prev = c
	}
	if prev != nil && tail != nil {
		row := prev.k.spec.pathRow()
		if tail.k.spec.id == "sfault" {
			row = prev.k.spec.faultRow()
		}
		if s.hwFault == nil || !s.mended {
			link(prev, row, tail)
		}
	}
	return out
}

// shadowLinks are the dashed links from each shadow page to the guest
// table it shadows (and from the root to the guest's CR3), across the gap
// at x = mx.
func shadowLinks(left, right []*colItem, mx float64) []Edge {
	guest := map[string]*Box{}
	for _, c := range left {
		if !c.k.hidden {
			guest[c.k.box.ID] = &c.k.box
		}
	}
	var out []Edge
	for i, c := range right {
		var dst *Box
		label := ""
		switch {
		case i == 0:
			dst, label = &left[0].k.box, "pgd = CR3"
			if c.k.spec.rows[0].cells[1].s == "none" {
				continue
			}
		case c.sp != nil && c.sp.guestID != "":
			dst = guest[c.sp.guestID]
			switch {
			case c.sp.kind == spSpecial:
				label = "copies PDPTEs"
			case c.sp.primary:
				label = "shadows"
			}
		}
		if dst != nil {
			out = append(out, dashedLink(&c.k.box, dst, mx, label))
		}
	}
	return out
}

// dashedLink runs from the left edge of box src (at its title) to the
// right edge of box dst: straight when they are level, else through the
// gap at x = mx into dst's nearest row.
func dashedLink(src, dst *Box, mx float64, label string) Edge {
	sy := src.Rect.Y + src.TitleH/2
	ty := min(max(sy, dst.Rect.Y+dst.TitleH/2), dst.Rect.Bottom()-8)
	pts := []Point{{src.Rect.X, sy}, {dst.Rect.Right(), sy}}
	if d := sy - ty; d > 0.5 || d < -0.5 {
		pts = []Point{{src.Rect.X, sy}, {mx, sy}, {mx, ty}, {dst.Rect.Right(), ty}}
	}
	e := Edge{ID: "shadows:" + src.ID, From: src.ID, To: dst.ID, Points: pts, Color: HostInk, Width: 1.5,
		Dashed: true, Alpha: 1, FromRow: -1, HeadSize: 7}
	if label != "" {
		e.Label = &Text{S: label, X: (src.Rect.X + dst.Rect.Right()) / 2, Y: sy - LineHeight(labelFont) - 2,
			Size: labelFont, Font: Prose, Color: HostInk, Align: AlignCenter}
	}
	return e
}
