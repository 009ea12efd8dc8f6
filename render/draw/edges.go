package draw

import (
	"math"

	"github.com/hajimehoshi/ebiten/v2"
	"github.com/hajimehoshi/ebiten/v2/vector"

	"mmuviz/render"
)

// edge draws an arrow: a dot where it leaves its row, the polyline, a
// filled head at the end, and its label on a patch of paper.
func (r *Renderer) edge(dst *ebiten.Image, e *render.Edge, k float64) {
	if e.Alpha <= 0 || len(e.Points) < 2 {
		return
	}
	pts := make([]render.Point, len(e.Points))
	for i, p := range e.Points {
		pts[i] = render.Point{X: p.X * k, Y: p.Y * k}
	}
	w := e.Width * k
	head := e.HeadSize * k
	// Stop the line where the head begins, so its end does not poke out.
	last, prev := pts[len(pts)-1], pts[len(pts)-2]
	dx, dy := last.X-prev.X, last.Y-prev.Y
	l := math.Hypot(dx, dy)
	if l < 1e-6 {
		return
	}
	ux, uy := dx/l, dy/l
	line := append([]render.Point(nil), pts...)
	line[len(line)-1] = render.Point{X: last.X - ux*head*0.8, Y: last.Y - uy*head*0.8}
	if e.Dashed {
		r.dashedLine(dst, line, w, e.Color, e.Alpha, k)
	} else {
		r.path.Reset()
		r.path.MoveTo(float32(line[0].X), float32(line[0].Y))
		for _, p := range line[1:] {
			r.path.LineTo(float32(p.X), float32(p.Y))
		}
		op := &vector.DrawPathOptions{AntiAlias: true}
		op.ColorScale.ScaleWithColor(rgba(e.Color, e.Alpha))
		vector.StrokePath(dst, &r.path, &vector.StrokeOptions{Width: float32(w), LineJoin: vector.LineJoinRound}, op)
	}
	// The head: a triangle whose tip touches the box.
	r.path.Reset()
	px, py := -uy, ux
	r.path.MoveTo(float32(last.X), float32(last.Y))
	r.path.LineTo(float32(last.X-ux*head+px*head*0.5), float32(last.Y-uy*head+py*head*0.5))
	r.path.LineTo(float32(last.X-ux*head-px*head*0.5), float32(last.Y-uy*head-py*head*0.5))
	r.path.Close()
	op := &vector.DrawPathOptions{AntiAlias: true}
	op.ColorScale.ScaleWithColor(rgba(e.Color, e.Alpha))
	vector.FillPath(dst, &r.path, nil, op)
	vector.FillCircle(dst, float32(pts[0].X), float32(pts[0].Y), float32(w*1.6), rgba(e.Color, e.Alpha), true)
	if e.Label != nil {
		r.label(dst, *e.Label, e.Alpha, k)
	}
}

// label draws an edge label over a patch of paper, so that it stays
// legible where it crosses nothing but is near lines.
func (r *Renderer) label(dst *ebiten.Image, t render.Text, alpha, k float64) {
	wd := render.TextWidth(t.S, t.Font, t.Size)
	x := t.X
	switch t.Align {
	case render.AlignCenter:
		x -= wd / 2
	case render.AlignRight:
		x -= wd
	}
	pad := 3.0
	r.fillRound(dst, (x-pad)*k, t.Y*k, (wd+2*pad)*k, render.LineHeight(t.Size)*k, 3*k, 3*k, render.Paper, alpha)
	r.Text(dst, t, 0, 0, k, alpha)
}

// dashedLine strokes a polyline in dashes.
func (r *Renderer) dashedLine(dst *ebiten.Image, pts []render.Point, w float64, c render.Color, alpha, k float64) {
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
				vector.StrokeLine(dst, float32(a.X+ux*pos), float32(a.Y+uy*pos), float32(a.X+ux*(pos+step)),
					float32(a.Y+uy*(pos+step)), float32(w), rgba(c, alpha), true)
			}
			pos += step
			left -= step
			if left <= 0 {
				on = !on
				left = dash
				if !on {
					left = gap
				}
			}
		}
	}
}

// dashedRect outlines a rectangle in dashes (registers: not memory).
func (r *Renderer) dashedRect(dst *ebiten.Image, x, y, w, h, bw float64, c render.Color, alpha, k float64) {
	pts := []render.Point{{X: x, Y: y}, {X: x + w, Y: y}, {X: x + w, Y: y + h}, {X: x, Y: y + h}, {X: x, Y: y}}
	r.dashedLine(dst, pts, bw, c, alpha, k)
}
