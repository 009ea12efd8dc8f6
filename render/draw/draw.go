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
	"github.com/hajimehoshi/ebiten/v2/vector"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/gomono"
	"golang.org/x/image/font/gofont/gomonobold"
	"golang.org/x/image/font/gofont/goregular"

	"mmuviz/render"
)

// cornerRadius rounds every box, in CSS px.
const cornerRadius = 6.0

// Renderer draws scenes. It holds the font sources and a reusable path.
type Renderer struct {
	src  [4]*text.GoTextFaceSource
	path vector.Path
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
	r := &Renderer{faces: map[faceKey]*text.GoTextFace{}}
	for i, ttf := range [][]byte{gomono.TTF, gomonobold.TTF, goregular.TTF, gobold.TTF} {
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

// Draw paints sc on dst at k device pixels per CSS pixel.
func (r *Renderer) Draw(dst *ebiten.Image, sc *render.Scene, k float64) {
	dst.Fill(rgba(sc.Background, 1))
	for _, b := range sc.Boxes() {
		r.boxBody(dst, b, k)
	}
	if h := sc.Highlight; h.Valid {
		// Flat and opaque, no anti-aliasing: the pixel probe() names must
		// be exactly this colour.
		vector.FillRect(dst, float32(h.Rect.X*k), float32(h.Rect.Y*k), float32(h.Rect.W*k), float32(h.Rect.H*k),
			rgba(h.Color, 1), false)
	}
	for _, b := range sc.Boxes() {
		r.boxText(dst, b, k)
		r.boxBorder(dst, b, k)
	}
	for _, e := range sc.Edges() {
		r.edge(dst, e, k)
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

// boxBody draws the shadow, the fills and the title band of a box.
func (r *Renderer) boxBody(dst *ebiten.Image, b *render.Box, k float64) {
	if b.Alpha <= 0 {
		return
	}
	x, y, w, h := b.Rect.X*k, b.Rect.Y*k, b.Rect.W*k, b.Rect.H*k
	rad := cornerRadius * k * min(1, b.Rect.H/20)
	if b.Kind != render.BoxField {
		r.fillRound(dst, x+1.5*k, y+2.5*k, w, h, rad, rad, render.Color{A: 0x30}, b.Alpha)
	}
	r.fillRound(dst, x, y, w, h, rad, rad, b.Fill, b.Alpha)
	th := b.TitleH * k
	if b.TitleBG.A != 0 && th > 0 {
		r.fillRound(dst, x, y, w, th, rad, 0, b.TitleBG, b.Alpha)
		if b.Kind == render.BoxTable || b.Kind == render.BoxResult || (b.Kind == render.BoxRegisters && b.Level > 0) {
			strip := render.LevelInk(b.Level)
			if b.Kind == render.BoxResult {
				strip = render.ResultInk
			}
			r.fillRound(dst, x, y, 5*k, th, rad, 0, strip, b.Alpha)
		}
	}
	for _, row := range b.Rows {
		if row.Fill.A == 0 {
			continue
		}
		rr := row.Rect
		vector.FillRect(dst, float32(x+rr.X*k), float32(y+rr.Y*k), float32(rr.W*k), float32(rr.H*k),
			rgba(row.Fill, b.Alpha), false)
	}
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

// boxBorder outlines a box, dashed for registers.
func (r *Renderer) boxBorder(dst *ebiten.Image, b *render.Box, k float64) {
	if b.Alpha <= 0 || b.BorderW <= 0 {
		return
	}
	x, y, w, h := b.Rect.X*k, b.Rect.Y*k, b.Rect.W*k, b.Rect.H*k
	rad := cornerRadius * k * min(1, b.Rect.H/20)
	bw := b.BorderW * k
	if b.Dashed {
		r.dashedRect(dst, x, y, w, h, bw, b.Border, b.Alpha, k)
		return
	}
	r.path.Reset()
	roundRect(&r.path, float32(x), float32(y), float32(w), float32(h), float32(rad), float32(rad))
	op := &vector.DrawPathOptions{AntiAlias: true}
	op.ColorScale.ScaleWithColor(rgba(b.Border, b.Alpha))
	vector.StrokePath(dst, &r.path, &vector.StrokeOptions{Width: float32(bw), LineJoin: vector.LineJoinRound}, op)
}

// fillRound fills a rectangle whose top corners have radius top and bottom
// corners radius bottom.
func (r *Renderer) fillRound(dst *ebiten.Image, x, y, w, h, top, bottom float64, c render.Color, alpha float64) {
	if c.A == 0 || alpha <= 0 || w <= 0 || h <= 0 {
		return
	}
	r.path.Reset()
	roundRect(&r.path, float32(x), float32(y), float32(w), float32(h), float32(top), float32(bottom))
	op := &vector.DrawPathOptions{AntiAlias: true}
	op.ColorScale.ScaleWithColor(rgba(c, alpha))
	vector.FillPath(dst, &r.path, nil, op)
}

// roundRect appends a closed rounded rectangle to p.
func roundRect(p *vector.Path, x, y, w, h, top, bottom float32) {
	top = min(top, w/2, h/2)
	bottom = min(bottom, w/2, h/2)
	p.MoveTo(x+top, y)
	p.LineTo(x+w-top, y)
	p.ArcTo(x+w, y, x+w, y+top, top)
	p.LineTo(x+w, y+h-bottom)
	p.ArcTo(x+w, y+h, x+w-bottom, y+h, bottom)
	p.LineTo(x+bottom, y+h)
	p.ArcTo(x, y+h, x, y+h-bottom, bottom)
	p.LineTo(x, y+top)
	p.ArcTo(x, y, x+top, y, top)
	p.Close()
}
