package draw

import (
	"math"

	"mmuviz/render"
)

// edge adds an arrow: a dot where it leaves its row, the polyline, a head
// at the end, and a patch of paper under its label.
func (r *Renderer) edge(e *render.Edge, k float64) {
	if e.Alpha <= 0 || len(e.Points) < 2 {
		return
	}
	t := r.tris
	pts := make([]render.Point, len(e.Points))
	for i, p := range e.Points {
		pts[i] = render.Point{X: p.X * k, Y: p.Y * k}
	}
	w, head := e.Width*k, e.HeadSize*k
	last, prev := pts[len(pts)-1], pts[len(pts)-2]
	l := math.Hypot(last.X-prev.X, last.Y-prev.Y)
	if l < 1e-6 {
		return
	}
	ux, uy := (last.X-prev.X)/l, (last.Y-prev.Y)/l
	// The line stops inside the head, so its square end does not poke out.
	line := append([]render.Point(nil), pts...)
	line[len(line)-1] = render.Point{X: last.X - ux*head*0.8, Y: last.Y - uy*head*0.8}
	if e.Dashed {
		r.dashed(line, w, e.Color, e.Alpha, k)
	} else {
		for i := 1; i < len(line); i++ {
			t.segment(line[i-1], line[i], w, e.Color, e.Alpha)
		}
	}
	// The head: a triangle whose tip touches the box, clockwise on screen.
	px, py := -uy, ux
	tip := last
	a := render.Point{X: last.X - ux*head + px*head*0.5, Y: last.Y - uy*head + py*head*0.5}
	b := render.Point{X: last.X - ux*head - px*head*0.5, Y: last.Y - uy*head - py*head*0.5}
	if (a.X-tip.X)*(b.Y-tip.Y)-(a.Y-tip.Y)*(b.X-tip.X) < 0 {
		a, b = b, a
	}
	t.convex([]render.Point{tip, a, b}, e.Color, e.Alpha)
	t.circle(pts[0].X, pts[0].Y, w*1.6, e.Color, e.Alpha)
	if e.Label != nil {
		r.labelPatch(*e.Label, e.Alpha, k)
	}
}

// labelPatch puts a patch of paper under an edge's label, so that the
// label stays legible next to lines; Draw writes the text later.
func (r *Renderer) labelPatch(t render.Text, alpha, k float64) {
	wd := render.TextWidth(t.S, t.Font, t.Size)
	x := t.X
	switch t.Align {
	case render.AlignCenter:
		x -= wd / 2
	case render.AlignRight:
		x -= wd
	}
	pad := 3.0
	r.tris.fillRound((x-pad)*k, t.Y*k, (wd+2*pad)*k, render.LineHeight(t.Size)*k, 3*k, 3*k, render.Paper, alpha)
}

// dashed draws a polyline (device pixels) in dashes.
func (r *Renderer) dashed(pts []render.Point, w float64, c render.Color, alpha, k float64) {
	dash, gap := 6*k, 4*k
	on, left := true, dash
	for i := 1; i < len(pts); i++ {
		a, b := pts[i-1], pts[i]
		l := math.Hypot(b.X-a.X, b.Y-a.Y)
		if l == 0 {
			continue
		}
		ux, uy := (b.X-a.X)/l, (b.Y-a.Y)/l
		for pos := 0.0; pos < l; {
			step := min(left, l-pos)
			if on {
				r.tris.segment(render.Point{X: a.X + ux*pos, Y: a.Y + uy*pos},
					render.Point{X: a.X + ux*(pos+step), Y: a.Y + uy*(pos+step)}, w, c, alpha)
			}
			pos += step
			if left -= step; left <= 0 {
				on = !on
				left = dash
				if !on {
					left = gap
				}
			}
		}
	}
}
