package render

// Ease is the ease-in-out curve of every motion: slow start, slow end.
func Ease(t float64) float64 {
	switch {
	case t <= 0:
		return 0
	case t >= 1:
		return 1
	case t < 0.5:
		return 4 * t * t * t
	}
	u := -2*t + 2
	return 1 - u*u*u/2
}

func lerp(a, b, t float64) float64 { return a + (b-a)*t }

func lerpRect(a, b Rect, t float64) Rect {
	return Rect{lerp(a.X, b.X, t), lerp(a.Y, b.Y, t), lerp(a.W, b.W, t), lerp(a.H, b.H, t)}
}

func lerpColor(a, b Color, t float64) Color {
	l := func(x, y uint8) uint8 { return uint8(lerp(float64(x), float64(y), t) + 0.5) }
	return Color{l(a.R, b.R), l(a.G, b.G), l(a.B, b.B), l(a.A, b.A)}
}

// Tween is the frame a fraction t (already eased) of the way from scene
// from to scene to. Boxes with the same ID glide from their old rectangle
// to the new one with their new contents; boxes that appear fade in, boxes
// that go fade out; arrows follow their boxes when their shape is the same
// and otherwise fade in once the boxes have mostly arrived. The highlight
// slides. At t = 1 the result is to itself.
func Tween(from, to *Scene, t float64) *Scene {
	if from == nil || to == nil || t >= 1 {
		return to
	}
	out := *to
	out.Panels = make([]Panel, len(to.Panels))
	oldBoxes, oldEdges := map[string]*Box{}, map[string]*Edge{}
	for _, b := range from.Boxes() {
		oldBoxes[b.ID] = b
	}
	for _, e := range from.Edges() {
		oldEdges[e.ID] = e
	}
	seen := map[string]bool{}
	for p, pn := range to.Panels {
		np := pn
		np.Boxes = make([]Box, 0, len(pn.Boxes))
		for _, b := range pn.Boxes {
			seen[b.ID] = true
			if ob, ok := oldBoxes[b.ID]; ok {
				b.Rect = lerpRect(ob.Rect, b.Rect, t)
			} else {
				b.Alpha *= t
			}
			np.Boxes = append(np.Boxes, b)
		}
		np.Edges = make([]Edge, 0, len(pn.Edges))
		for _, e := range pn.Edges {
			np.Edges = append(np.Edges, tweenEdge(oldEdges[e.ID], e, t))
			seen["edge\x00"+e.ID] = true
		}
		out.Panels[p] = np
	}
	fadeOut(&out, from, seen, t)
	if from.Highlight.Valid && to.Highlight.Valid {
		out.Highlight.Rect = lerpRect(from.Highlight.Rect, to.Highlight.Rect, t)
		out.Highlight.Color = lerpColor(from.Highlight.Color, to.Highlight.Color, t)
	}
	return &out
}

// tweenEdge moves an edge along with its boxes, or fades it in late.
func tweenEdge(old *Edge, e Edge, t float64) Edge {
	if old != nil && len(old.Points) == len(e.Points) {
		pts := make([]Point, len(e.Points))
		for i := range pts {
			pts[i] = Point{lerp(old.Points[i].X, e.Points[i].X, t), lerp(old.Points[i].Y, e.Points[i].Y, t)}
		}
		e.Points = pts
		return e
	}
	e.Alpha *= max(0, 2*t-1)
	return e
}

// fadeOut keeps what the old scene had and the new one has not, fading.
func fadeOut(out, from *Scene, seen map[string]bool, t float64) {
	if len(out.Panels) == 0 {
		return
	}
	for _, pn := range from.Panels {
		dst := &out.Panels[len(out.Panels)-1]
		for i := range out.Panels {
			if out.Panels[i].ID == pn.ID {
				dst = &out.Panels[i]
			}
		}
		for _, b := range pn.Boxes {
			if !seen[b.ID] {
				b.Alpha *= 1 - t
				dst.Boxes = append(dst.Boxes, b)
			}
		}
		for _, e := range pn.Edges {
			if !seen["edge\x00"+e.ID] {
				e.Alpha *= max(0, 1-2*t)
				dst.Edges = append(dst.Edges, e)
			}
		}
	}
}
