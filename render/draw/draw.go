// Package draw paints a render.Scene with Ebiten: rounded boxes and arrows
// as vector paths, text with text/v2 in the Go fonts. It decides nothing
// about where things go; render does. Everything is multiplied by the
// device scale factor k so that the picture is crisp on a HiDPI screen.
package draw

import (
	"bytes"
	"fmt"
	"image/color"
	"math"

	"github.com/hajimehoshi/ebiten/v2"
	"github.com/hajimehoshi/ebiten/v2/text/v2"
	"golang.org/x/image/font/gofont/gomono"
	"golang.org/x/image/font/gofont/gomonobold"
	"golang.org/x/image/font/gofont/goregular"

	"mmuviz/render"
)

// cornerRadius rounds every box, in CSS px.
const cornerRadius = 6.0

// Renderer draws scenes. It holds the font sources and a reusable path.
type Renderer struct {
	src  [3]*text.GoTextFaceSource
	tris *tris
	// faces caches a face per font and device size: text/v2 keys its glyph
	// cache by face, so reusing them keeps glyphs cached across frames.
	faces map[faceKey]*text.GoTextFace
}

type faceKey struct {
	f    render.Font
	size float64
}

// New loads the fonts.
func New() (*Renderer, error) {
	r := &Renderer{faces: map[faceKey]*text.GoTextFace{}, tris: newTris()}
	for i, ttf := range [][]byte{gomono.TTF, gomonobold.TTF, goregular.TTF} {
		s, err := text.NewGoTextFaceSource(bytes.NewReader(ttf))
		if err != nil {
			return nil, fmt.Errorf("loading font %d: %v", i, err)
		}
		r.src[i] = s
	}
	return r, nil
}

// Face returns the face of font f for text laid out at size device px.
//
// The face's size is size rounded down to whole pixels: text/v2 spaces the
// glyphs of a fractional size as if the size were rounded up (measured:
// Go Mono at 12.375 px advances 7.797 px, not 7.425), which would make
// text overflow the room render measured for it. A whole size spaces as
// measured, and rounding down never overflows.
func (r *Renderer) Face(f render.Font, size float64) *text.GoTextFace {
	k := faceKey{f, max(1, math.Floor(size+1e-6))}
	if fc, ok := r.faces[k]; ok {
		return fc
	}
	if len(r.faces) > 256 {
		r.faces = map[faceKey]*text.GoTextFace{}
	}
	fc := &text.GoTextFace{Source: r.src[f], Size: k.size}
	r.faces[k] = fc
	return fc
}

// rgba converts a render colour with an extra alpha factor into the
// premultiplied colour Ebiten expects.
func rgba(c render.Color, alpha float64) color.RGBA {
	a := float64(c.A) / 255 * alpha
	return color.RGBA{uint8(float64(c.R)*a + 0.5), uint8(float64(c.G)*a + 0.5), uint8(float64(c.B)*a + 0.5), uint8(255*a + 0.5)}
}

// Draw paints sc on dst at k device pixels per CSS pixel: every shape in
// one batch of triangles, in painter's order, then every text.
func (r *Renderer) Draw(dst *ebiten.Image, sc *render.Scene, k float64) {
	dst.Fill(rgba(sc.Background, 1))
	t := r.tris
	t.reset()
	boxes := sc.Boxes()
	for _, b := range boxes {
		r.boxBody(b, k)
	}
	if h := sc.Highlight; h.Valid {
		// Flat and opaque: the pixel probe() names must be exactly this
		// colour (the feathering touches only the outermost pixel).
		t.fillRound(h.Rect.X*k, h.Rect.Y*k, h.Rect.W*k, h.Rect.H*k, 0, 0, h.Color, 1)
	}
	for _, b := range boxes {
		r.boxBorder(b, k)
	}
	edges := sc.Edges()
	for _, e := range edges {
		r.edge(e, k)
	}
	t.flush(dst)
	for _, b := range boxes {
		r.boxText(dst, b, k)
	}
	for _, e := range edges {
		if e.Label != nil {
			r.Text(dst, *e.Label, 0, 0, k, e.Alpha)
		}
	}
	for _, p := range sc.Panels {
		for _, t := range p.Texts {
			r.Text(dst, t, 0, 0, k, 1)
		}
	}
}

// Text draws t offset by (ox, oy) CSS px.
func (r *Renderer) Text(dst *ebiten.Image, t render.Text, ox, oy, k, alpha float64) {
	if t.S == "" || alpha <= 0 {
		return
	}
	op := &text.DrawOptions{}
	op.GeoM.Translate((ox+t.X)*k, (oy+t.Y)*k)
	op.ColorScale.ScaleWithColor(rgba(t.Color, alpha))
	switch t.Align {
	case render.AlignCenter:
		op.PrimaryAlign = text.AlignCenter
	case render.AlignRight:
		op.PrimaryAlign = text.AlignEnd
	}
	text.Draw(dst, t.S, r.Face(t.Font, t.Size*k), op)
}

// boxBody adds the shadow, the fills and the title band of a box.
func (r *Renderer) boxBody(b *render.Box, k float64) {
	if b.Alpha <= 0 {
		return
	}
	t := r.tris
	x, y, w, h := b.Rect.X*k, b.Rect.Y*k, b.Rect.W*k, b.Rect.H*k
	rad := cornerRadius * k * min(1, b.Rect.H/20)
	if b.Kind != render.BoxField {
		t.fillRound(x+1.5*k, y+2.5*k, w, h, rad, rad, render.Color{A: 0x30}, b.Alpha)
	}
	t.fillRound(x, y, w, h, rad, rad, b.Fill, b.Alpha)
	th := b.TitleH * k
	if b.TitleBG.A != 0 && th > 0 {
		t.fillRound(x, y, w, th, rad, 0, b.TitleBG, b.Alpha)
		if strip, ok := stripOf(b); ok {
			t.fillRound(x, y, 5*k, th, min(rad, 2.5*k), 0, strip, b.Alpha)
		}
	}
	for _, row := range b.Rows {
		if row.Fill.A != 0 {
			rr := row.Rect
			t.fillRound(x+rr.X*k, y+rr.Y*k, rr.W*k, rr.H*k, 0, 0, row.Fill, b.Alpha)
		}
	}
}

// stripOf is the colour of the strip at the left of a box's title band:
// the box's own, else its level's for tables (and the PAE PDPTRs), green
// for the result.
func stripOf(b *render.Box) (render.Color, bool) {
	switch {
	case b.Strip.A != 0:
		return b.Strip, true
	case b.Kind == render.BoxResult:
		return render.ResultInk, true
	case b.Kind == render.BoxTable || (b.Kind == render.BoxRegisters && b.Level > 0):
		return render.LevelInk(b.Level), true
	}
	return render.Color{}, false
}

// boxText draws the title and the rows' texts.
func (r *Renderer) boxText(dst *ebiten.Image, b *render.Box, k float64) {
	for _, t := range b.Title {
		r.Text(dst, t, b.Rect.X, b.Rect.Y, k, b.Alpha)
	}
	for _, row := range b.Rows {
		for _, t := range row.Texts {
			r.Text(dst, t, b.Rect.X, b.Rect.Y, k, b.Alpha)
		}
	}
}

// boxBorder outlines a box, dashed for registers (they are not memory).
func (r *Renderer) boxBorder(b *render.Box, k float64) {
	if b.Alpha <= 0 || b.BorderW <= 0 {
		return
	}
	x, y, w, h := b.Rect.X*k, b.Rect.Y*k, b.Rect.W*k, b.Rect.H*k
	bw := b.BorderW * k
	if b.Dashed {
		pts := []render.Point{{X: x, Y: y}, {X: x + w, Y: y}, {X: x + w, Y: y + h}, {X: x, Y: y + h}, {X: x, Y: y}}
		r.dashed(pts, bw, b.Border, b.Alpha, k)
		return
	}
	rad := cornerRadius * k * min(1, b.Rect.H/20)
	r.tris.strokeRound(x, y, w, h, rad, bw, b.Border, b.Alpha)
}
