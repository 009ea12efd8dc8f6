package render

import "mmuviz/mmu"

// Spacing of the natural layout.
const (
	margin    = 16.0
	colGap    = 72.0 // the gap between the two columns, where arrows run
	rowGap    = 16.0 // between boxes of one column
	blockGap  = 14.0 // between the header, the walk and the caption
	maxScale  = 1.6  // never blow the picture up more than this
	minWidth  = 560.0
	edgeW     = 2.0
	litEdgeW  = 3.0
	headSize  = 9.0
	labelFont = 11.0
)

// Options tune a layout. The zero value fits the scene to the stage.
type Options struct {
	// Scale, when non-zero, is used instead of fitting this step alone;
	// FitScale computes one scale for a whole timeline so that the picture
	// does not zoom from step to step.
	Scale float64
}

// Layout computes the Scene of view v (a step of tl) for a stage of size.
func Layout(v *mmu.View, tl *mmu.Timeline, size Size) *Scene {
	return LayoutWith(v, tl, size, Options{})
}

// LayoutWith is Layout with options.
func LayoutWith(v *mmu.View, tl *mmu.Timeline, size Size, o Options) *Scene {
	sc, extent := natural(v, tl)
	s := o.Scale
	if s <= 0 {
		s = fitScale(extent, size)
	}
	sc.place(s, size, extent)
	return sc
}

// FitScale is the largest scale at which every step of tl fits size, so a
// player can keep one zoom for the whole timeline. It lays out every step,
// which takes a few milliseconds for a lesson.
func FitScale(tl *mmu.Timeline, size Size) float64 {
	s := maxScale
	tl.EachView(func(v *mmu.View) {
		_, extent := natural(v, tl)
		s = min(s, fitScale(extent, size))
	})
	return s
}

// fitScale scales extent (plus margins) to fit size.
func fitScale(extent Rect, size Size) float64 {
	if extent.W <= 0 || extent.H <= 0 || size.W <= 0 || size.H <= 0 {
		return 1
	}
	return min(maxScale, (size.W-2*margin)/extent.W, (size.H-2*margin)/extent.H)
}

// natural lays the step out at scale 1 from the origin and returns the
// scene with the extent it needs, counting boxes not yet revealed.
func natural(v *mmu.View, tl *mmu.Timeline) (*Scene, Rect) {
	f := focusAt(v, tl)
	sc := &Scene{Step: v.Step, Background: Paper, Scale: 1}
	head := Panel{ID: "header"}
	fields, texts, hh := headerBoxes(f)
	head.Boxes, head.Texts = fields, texts
	extent := Rect{}
	if hh > 0 {
		extent = Rect{0, 0, 1, hh}
	}
	for _, b := range fields {
		extent = extent.Union(b.Rect)
	}
	top := 0.0
	if hh > 0 {
		top = hh + blockGap
	}
	var panels []Panel
	if f.shadow != nil {
		walk, shadow := layoutShadow(f, top)
		extent = extent.Union(walk.Rect).Union(shadow.Rect)
		panels = []Panel{head, walk, shadow}
	} else {
		walk := Panel{ID: "walk", Title: "guest page tables"}
		wext := layoutChain(&walk, chainFor(f), top)
		extent = extent.Union(wext)
		walk.Rect = wext
		panels = []Panel{head, walk}
	}
	left, hostRect := extent, Rect{}
	if f.tdp != nil {
		host, grid := layoutTDP(f, extent)
		left = extent.Union(grid.Rect)
		hostRect = host.Rect
		extent = left.Union(host.Rect)
		panels = append(panels, grid, host)
		if td, ok := layoutTDX(f, extent); ok {
			extent = extent.Union(td.Rect)
			panels = append(panels, td)
		}
	}
	// A nested run's picture has two columns: the walk, the grid and
	// L1's nested tables on the left, the host tables and the vCPU
	// panel on the right, so that it stays about as wide as it is tall.
	twoCols := f.tdp != nil && tl.ShowsMMUContexts() && f.nestedVCPU()
	under, wrap := extent, 0.0
	if twoCols {
		under, wrap = left, left.Right()
	}
	if np, ok := layoutNestedTables(f, v, tl, under, wrap); ok {
		extent = extent.Union(np.Rect)
		// Right after the header: when KVM walks L1's tables, the entry
		// it reads there is the step's highlight, found first.
		panels = append(panels[:1], append([]Panel{np}, panels[1:]...)...)
	}
	if tl.ShowsMMUContexts() {
		var vp Panel
		if twoCols {
			// Where layoutTDP put the host column, which may hold no box.
			vp = layoutVCPUsAt(f, left.Right()+panelGap, hostRect.Bottom()+blockGap, false)
		} else {
			vp = layoutVCPUs(f, extent)
		}
		extent = extent.Union(vp.Rect)
		panels = append(panels, vp)
	}
	width := max(extent.W, minWidth)
	capBox := captionBox(f, width)
	capBox.Rect = capBox.Rect.Offset(0, extent.Bottom()+blockGap)
	extent = extent.Union(capBox.Rect)
	panels[0].Rect = Rect{0, 0, width, hh}
	caption := Panel{ID: "caption", Rect: capBox.Rect, Boxes: []Box{capBox}}
	sc.Panels = append(panels, caption)
	sc.Highlight = findHighlight(sc)
	return sc, extent
}

// findHighlight locates the row styled current, written or faulted.
func findHighlight(sc *Scene) Highlight {
	for _, b := range sc.Boxes() {
		for i, r := range b.Rows {
			var c Color
			switch r.Style {
			case RowCurrent:
				c = CurrentFill
			case RowWritten:
				c = WrittenFill
			case RowFaulted:
				c = FaultFill
			default:
				continue
			}
			abs := r.Rect.Offset(b.Rect.X, b.Rect.Y)
			return Highlight{Valid: true, Box: b.ID, Row: i, Rect: abs, Probe: probeOf(abs), Color: c}
		}
	}
	return Highlight{Row: -1}
}

// place scales the natural scene by s and centres it on a stage of size.
func (sc *Scene) place(s float64, size Size, extent Rect) {
	// Centred across, at the top: the caption then sits right below the
	// picture rather than at the bottom of a tall stage.
	ox, oy := (size.W-extent.W*s)/2, margin
	sc.Size, sc.Scale = size, s
	at := func(r Rect) Rect { return Rect{ox + (r.X-extent.X)*s, oy + (r.Y-extent.Y)*s, r.W * s, r.H * s} }
	pt := func(p Point) Point { return Point{ox + (p.X-extent.X)*s, oy + (p.Y-extent.Y)*s} }
	for p := range sc.Panels {
		pn := &sc.Panels[p]
		pn.Rect = at(pn.Rect)
		for t := range pn.Texts {
			pn.Texts[t] = scaleText(pn.Texts[t], s, pt)
		}
		for b := range pn.Boxes {
			scaleBox(&pn.Boxes[b], s, at)
		}
		for e := range pn.Edges {
			ed := &pn.Edges[e]
			for i := range ed.Points {
				ed.Points[i] = pt(ed.Points[i])
			}
			ed.Width *= s
			ed.HeadSize *= s
			if ed.Label != nil {
				l := scaleText(*ed.Label, s, pt)
				ed.Label = &l
			}
		}
	}
	if sc.Highlight.Valid {
		sc.Highlight.Rect = at(sc.Highlight.Rect)
		sc.Highlight.Probe = at(sc.Highlight.Probe)
	}
}

// scaleText scales a text; pt maps its position (identity-like scaling for
// texts relative to a box).
func scaleText(t Text, s float64, pt func(Point) Point) Text {
	p := pt(Point{t.X, t.Y})
	t.X, t.Y, t.Size = p.X, p.Y, t.Size*s
	return t
}

func scaleBox(b *Box, s float64, at func(Rect) Rect) {
	b.Rect = at(b.Rect)
	b.BorderW *= s
	b.TitleH *= s
	rel := func(p Point) Point { return Point{p.X * s, p.Y * s} }
	for i := range b.Title {
		b.Title[i] = scaleText(b.Title[i], s, rel)
	}
	for r := range b.Rows {
		row := &b.Rows[r]
		row.Rect = Rect{row.Rect.X * s, row.Rect.Y * s, row.Rect.W * s, row.Rect.H * s}
		for i := range row.Texts {
			row.Texts[i] = scaleText(row.Texts[i], s, rel)
		}
	}
}
