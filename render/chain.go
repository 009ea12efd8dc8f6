package render

// Placing the chain: box 0 (the registers) in the left column, box 1 in the
// right one, box 2 in the left one again, and so on. Left boxes hug the gap
// with their right edge, right boxes with their left edge. Each box is put
// so that its title is level with the row the arrow leaves from, unless
// the box above it in its column is in the way; the arrow then bends once
// down the middle of the gap. Arrows only ever run in the gap, so they never
// cross a box.

// highlighted reports whether a row spec is the step's target.
func (r *rowSpec) highlighted() bool {
	return r.style == RowCurrent || r.style == RowWritten || r.style == RowFaulted
}

// holdsTarget reports whether the box has the step's target row.
func (s *boxSpec) holdsTarget() bool {
	for i := range s.rows {
		if s.rows[i].highlighted() {
			return true
		}
	}
	return false
}

// rowCenterY is the y of the middle of row i of a placed box (its title
// band for -1).
func rowCenterY(b *Box, i int) float64 {
	if i < 0 || i >= len(b.Rows) {
		return b.Rect.Y + b.TitleH/2
	}
	r := b.Rows[i].Rect
	return b.Rect.Y + r.Y + r.H/2
}

// layoutChain places the chain's boxes from y = top into p, adds the
// arrows, and returns the extent of every box, drawn or not.
func layoutChain(p *Panel, ch []*link, top float64) Rect {
	var colW [2]float64
	gap := colGap
	for i, k := range ch {
		k.box = k.spec.build()
		if k.spec.holdsTarget() && k.box.Kind == BoxTable {
			k.box.Lit, k.box.Border, k.box.BorderW = true, LevelInk(k.box.Level), 2.5
		}
		colW[i%2] = max(colW[i%2], k.box.Rect.W)
		if k.label != "" {
			gap = max(gap, TextWidth(k.label, Prose, labelFont)+24)
		}
	}
	for i, k := range ch {
		b := &k.box
		x := colW[0] - b.Rect.W
		if i%2 == 1 {
			x = colW[0] + gap
		}
		y := top
		if i > 0 {
			y = max(top, rowCenterY(&ch[i-1].box, k.fromRow)-titleH/2)
			if i >= 2 {
				y = max(y, ch[i-2].box.Rect.Bottom()+rowGap)
			}
		}
		b.Rect.X, b.Rect.Y = x, y
	}
	var extent Rect
	for i, k := range ch {
		extent = extent.Union(k.box.Rect)
		if k.hidden {
			continue
		}
		p.Boxes = append(p.Boxes, k.box)
		if i > 0 && k.edge && !ch[i-1].hidden {
			p.Edges = append(p.Edges, chainEdge(ch[i-1], k, i, colW[0]+gap/2))
		}
	}
	return extent
}

// chainEdge is the arrow from the previous box's row into box k (the i-th).
func chainEdge(prev, k *link, i int, cx float64) Edge {
	src, dst := &prev.box, &k.box
	sx, ex := src.Rect.Right(), dst.Rect.X
	if i%2 == 0 {
		sx, ex = src.Rect.X, dst.Rect.Right()
	}
	sy, ey := rowCenterY(src, k.fromRow), dst.Rect.Y+dst.TitleH/2
	pts := []Point{{sx, sy}, {ex, ey}}
	if d := sy - ey; d > 0.5 || d < -0.5 {
		pts = []Point{{sx, sy}, {cx, sy}, {cx, ey}, {ex, ey}}
	}
	e := Edge{ID: "edge:" + dst.ID, From: src.ID, To: dst.ID, Points: pts, Color: k.ink, Width: edgeW,
		Dashed: k.dashed, Alpha: 1, FromRow: k.fromRow, HeadSize: headSize}
	if k.spec.holdsTarget() {
		e.Lit, e.Width = true, litEdgeW
		if dst.Kind == BoxTable {
			e.Color = LevelInk(dst.Level)
		}
	}
	if k.label != "" {
		e.Label = &Text{S: k.label, X: cx, Y: sy - LineHeight(labelFont) - 3, Size: labelFont, Font: Prose,
			Color: e.Color, Align: AlignCenter}
	}
	return e
}
