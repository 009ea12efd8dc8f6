package render

import (
	"fmt"

	"mmuviz/mmu"
)

// Placing the 2D view: the guest's walk keeps its place at the top left
// and the grid of references goes under it; the host tables stand to the
// right from the top, as tall as they need. The host tables are one
// column of boxes of one width, each arrow leaving its row at the right
// edge and running down the right-hand side into the next box's title.

const (
	panelGap   = 40.0 // between the guest's side and the host column
	hostGutter = 16.0 // right of the host column, where its arrows run
)

// layoutTDP lays out the grid under left (the extent of the header and
// the guest's walk) and the host tables to the right of both, from y = 0.
func layoutTDP(f *focus, left Rect) (host, grid Panel) {
	guest, hostName := f.tdp.gridNames()
	gb := gridBox(f.tdp.grid, guest, hostName)
	gb.Strip = HostInk
	gb.Rect = gb.Rect.Offset(left.X, left.Bottom()+blockGap)
	grid = Panel{ID: "grid", Title: "2D walk", Rect: gb.Rect, Boxes: []Box{gb}}
	x := max(left.Right(), gb.Rect.Right()) + panelGap
	host = Panel{ID: "host", Title: f.tdp.walkName() + " tables"}
	head := Text{S: hostHeading(f), X: x, Y: 0, Size: hostHeadFont, Font: Prose, Color: Ink}
	host.Texts = []Text{head}
	ext := layoutColumn(&host, hostChain(f), x, LineHeight(hostHeadFont)+6)
	host.Rect = ext.Union(Rect{x, 0, TextWidth(head.S, Prose, hostHeadFont), LineHeight(hostHeadFont)})
	return host, grid
}

// hostHeadFont is the size of the line above the host tables.
const hostHeadFont = 13.0

// hostHeading says what the host tables show: whose GPA the walk
// translates, or what KVM is mending.
func hostHeading(f *focus) string {
	t := f.tdp
	what := "the data page"
	if t.row > 0 {
		what = t.guestWord() + " " + mmu.TableName(t.grid.mode, t.row)
	}
	name, gpa := t.walkName(), t.gpaWord()
	switch {
	case t.hasGPA && t.row < 0:
		return fmt.Sprintf("KVM and the %s for %s %s", name, gpa, t.gpa)
	case t.mended && t.hasGPA:
		return fmt.Sprintf("KVM fills the %s for %s %s (%s)", name, gpa, t.gpa, what)
	case t.walkFault != nil && t.hasGPA:
		return fmt.Sprintf("The %s does not map %s %s (%s)", name, gpa, t.gpa, what)
	case t.hasGPA:
		return fmt.Sprintf("%s walk of %s %s, %s", name, gpa, t.gpa, what)
	case t.rooted:
		return fmt.Sprintf("%s root @ HPA %s, %d levels", name, t.root, t.levels)
	}
	return name + ": no root yet"
}

// layoutColumn stacks the chain's boxes at x from y = top, all as wide as
// the widest, adds the arrows, and returns the extent, hidden boxes and
// the arrows' gutter included.
func layoutColumn(p *Panel, ch []*link, x, top float64) Rect {
	w := 0.0
	for _, k := range ch {
		w = max(w, k.spec.build().Rect.W)
	}
	y := top
	extent := Rect{}
	for i, k := range ch {
		k.spec.minW = w
		k.box = k.spec.build()
		if k.spec.holdsTarget() && k.box.Kind == BoxTable {
			k.box.Lit, k.box.Border, k.box.BorderW = true, HostInk, 2.5
		}
		if i > 0 && k.label != "" {
			y += LineHeight(labelFont) + 4
		}
		k.box.Rect.X, k.box.Rect.Y = x, y
		y = k.box.Rect.Bottom() + rowGap
		extent = extent.Union(k.box.Rect)
	}
	extent.W += hostGutter
	for i, k := range ch {
		if k.hidden {
			continue
		}
		p.Boxes = append(p.Boxes, k.box)
		if i > 0 && k.edge && !ch[i-1].hidden {
			e := columnEdge(ch[i-1], k, x+w+hostGutter-4)
			p.Edges = append(p.Edges, e)
		}
	}
	return extent
}

// columnEdge is the arrow from the previous box's row down the gutter at
// gx into the title of box k.
func columnEdge(prev, k *link, gx float64) Edge {
	src, dst := &prev.box, &k.box
	sy, ey := rowCenterY(src, k.fromRow), dst.Rect.Y+dst.TitleH/2
	pts := []Point{{src.Rect.Right(), sy}, {gx, sy}, {gx, ey}, {dst.Rect.Right(), ey}}
	e := Edge{ID: "edge:" + dst.ID, From: src.ID, To: dst.ID, Points: pts, Color: k.ink, Width: edgeW,
		Dashed: k.dashed, Alpha: 1, FromRow: k.fromRow, HeadSize: headSize}
	if k.spec.holdsTarget() {
		e.Lit, e.Width = true, litEdgeW
	}
	if k.label != "" {
		e.Label = &Text{S: k.label, X: dst.Rect.Right() - padX, Y: dst.Rect.Y - LineHeight(labelFont) - 3,
			Size: labelFont, Font: Prose, Color: e.Color, Align: AlignRight}
	}
	return e
}
