package draw

import (
	"image"
	"image/color"
	"math"

	"github.com/hajimehoshi/ebiten/v2"

	"mmuviz/render"
)

// tris collects coloured triangles and draws them in one DrawTriangles
// call. Every shape of a scene (boxes, rows, outlines, arrows) goes into
// one batch in painter's order, so a frame costs one draw call for shapes
// plus Ebiten's batched glyphs, instead of a stencil pass per vector path.
//
// Edges are anti-aliased by feathering: each shape gets a ring one device
// pixel wide whose outer vertices are transparent. The inside of a shape is
// exactly its colour, which the highlight's probe relies on.
type tris struct {
	vs    []ebiten.Vertex
	is    []uint32
	white *ebiten.Image
	pts   []render.Point // scratch
	in    []render.Point // scratch
	out   []render.Point // scratch
}

// feather is the width of the anti-aliasing ring in device pixels.
const feather = 1.0

func newTris() *tris {
	img := ebiten.NewImage(3, 3)
	img.Fill(color.White)
	return &tris{white: img.SubImage(image.Rect(1, 1, 2, 2)).(*ebiten.Image)}
}

func (t *tris) reset() { t.vs, t.is = t.vs[:0], t.is[:0] }

// flush draws the batch on dst and empties it.
func (t *tris) flush(dst *ebiten.Image) {
	if len(t.is) > 0 {
		op := &ebiten.DrawTrianglesOptions{ColorScaleMode: ebiten.ColorScaleModePremultipliedAlpha}
		dst.DrawTriangles32(t.vs, t.is, t.white, op)
	}
	t.reset()
}

// vertex adds a vertex of colour c (straight alpha) times alpha.
func (t *tris) vertex(p render.Point, c render.Color, alpha float64) uint32 {
	a := float32(float64(c.A) / 255 * alpha)
	t.vs = append(t.vs, ebiten.Vertex{DstX: float32(p.X), DstY: float32(p.Y), SrcX: 1.5, SrcY: 1.5,
		ColorR: float32(c.R) / 255 * a, ColorG: float32(c.G) / 255 * a, ColorB: float32(c.B) / 255 * a, ColorA: a})
	return uint32(len(t.vs) - 1)
}

// ring joins two closed contours of equal length with quads.
func (t *tris) ring(a, b []render.Point, ca, cb render.Color, aa, ab float64) {
	n := len(a)
	base := uint32(len(t.vs))
	for i := range a {
		t.vertex(a[i], ca, aa)
		t.vertex(b[i], cb, ab)
	}
	for i := 0; i < n; i++ {
		j := (i + 1) % n
		a0, b0, a1, b1 := base+uint32(2*i), base+uint32(2*i+1), base+uint32(2*j), base+uint32(2*j+1)
		t.is = append(t.is, a0, b0, a1, a1, b0, b1)
	}
}

// offset moves each point of a closed convex contour (clockwise on screen)
// outward by d along its averaged edge normal.
func offset(dst, pts []render.Point, d float64) []render.Point {
	dst = dst[:0]
	n := len(pts)
	for i, p := range pts {
		prev, next := pts[(i+n-1)%n], pts[(i+1)%n]
		n1 := normal(prev, p)
		n2 := normal(p, next)
		nx, ny := n1.X+n2.X, n1.Y+n2.Y
		l := math.Hypot(nx, ny)
		if l < 1e-9 {
			nx, ny, l = n1.X, n1.Y, 1
		}
		// Scale so that both edges move by d (miter), capped for sharp tips.
		cos := (nx*n1.X + ny*n1.Y) / l
		s := d / math.Max(cos, 0.3)
		dst = append(dst, render.Point{X: p.X + nx/l*s, Y: p.Y + ny/l*s})
	}
	return dst
}

// normal is the outward unit normal of edge a→b of a clockwise contour.
func normal(a, b render.Point) render.Point {
	dx, dy := b.X-a.X, b.Y-a.Y
	l := math.Hypot(dx, dy)
	if l < 1e-9 {
		return render.Point{}
	}
	return render.Point{X: dy / l, Y: -dx / l}
}

// convex fills a clockwise convex contour with c, feathered.
func (t *tris) convex(pts []render.Point, c render.Color, alpha float64) {
	if len(pts) < 3 || alpha <= 0 || c.A == 0 {
		return
	}
	t.in = offset(t.in, pts, -feather/2)
	t.out = offset(t.out, pts, feather/2)
	base := uint32(len(t.vs))
	for _, p := range t.in {
		t.vertex(p, c, alpha)
	}
	for i := 1; i+1 < len(t.in); i++ {
		t.is = append(t.is, base, base+uint32(i), base+uint32(i+1))
	}
	t.ring(t.in, t.out, c, c, alpha, 0)
}

// roundRect returns the clockwise contour of a rectangle whose top corners
// have radius top and bottom corners radius bottom (device pixels).
func (t *tris) roundRect(x, y, w, h, top, bottom float64) []render.Point {
	top, bottom = min(top, w/2, h/2), min(bottom, w/2, h/2)
	pts := t.pts[:0]
	corner := func(cx, cy, r, from float64) {
		if r <= 0.5 {
			pts = append(pts, render.Point{X: cx + r*math.Cos(from+math.Pi/4), Y: cy + r*math.Sin(from+math.Pi/4)})
			return
		}
		n := int(min(8, math.Ceil(r/1.5)))
		for i := 0; i <= n; i++ {
			a := from + float64(i)/float64(n)*math.Pi/2
			pts = append(pts, render.Point{X: cx + r*math.Cos(a), Y: cy + r*math.Sin(a)})
		}
	}
	// Clockwise on screen (y down): top-left, top-right, bottom-right, bottom-left.
	corner(x+top, y+top, top, math.Pi)
	corner(x+w-top, y+top, top, -math.Pi/2)
	corner(x+w-bottom, y+h-bottom, bottom, 0)
	corner(x+bottom, y+h-bottom, bottom, math.Pi/2)
	t.pts = pts
	return pts
}

// fillRound fills a rounded rectangle.
func (t *tris) fillRound(x, y, w, h, top, bottom float64, c render.Color, alpha float64) {
	if w <= 0 || h <= 0 {
		return
	}
	t.convex(t.roundRect(x, y, w, h, top, bottom), c, alpha)
}

// strokeRound outlines a rounded rectangle with a line of width lw centred
// on its edge.
func (t *tris) strokeRound(x, y, w, h, r, lw float64, c render.Color, alpha float64) {
	if w <= 0 || h <= 0 || alpha <= 0 || c.A == 0 {
		return
	}
	pts := append([]render.Point(nil), t.roundRect(x, y, w, h, r, r)...)
	outer := offset(nil, pts, lw/2)
	inner := offset(nil, pts, -lw/2)
	outerF := offset(nil, pts, lw/2+feather)
	innerF := offset(nil, pts, -lw/2-feather)
	t.ring(outer, inner, c, c, alpha, alpha)
	t.ring(outerF, outer, c, c, 0, alpha)
	t.ring(inner, innerF, c, c, alpha, 0)
}

// segment draws a straight line from a to b of width lw with square ends
// that reach lw/2 beyond them, so that the segments of a bent line join.
func (t *tris) segment(a, b render.Point, lw float64, c render.Color, alpha float64) {
	dx, dy := b.X-a.X, b.Y-a.Y
	l := math.Hypot(dx, dy)
	if l < 1e-9 {
		return
	}
	ux, uy := dx/l*lw/2, dy/l*lw/2
	px, py := -uy, ux
	// Clockwise on screen.
	t.convex([]render.Point{
		{X: a.X - ux - px, Y: a.Y - uy - py},
		{X: b.X + ux - px, Y: b.Y + uy - py},
		{X: b.X + ux + px, Y: b.Y + uy + py},
		{X: a.X - ux + px, Y: a.Y - uy + py},
	}, c, alpha)
}

// circle fills a disc.
func (t *tris) circle(cx, cy, r float64, c render.Color, alpha float64) {
	n := 16
	pts := t.pts[:0]
	for i := 0; i < n; i++ {
		a := float64(i) / float64(n) * 2 * math.Pi
		pts = append(pts, render.Point{X: cx + r*math.Cos(a), Y: cy + r*math.Sin(a)})
	}
	t.pts = pts
	t.convex(pts, c, alpha)
}
