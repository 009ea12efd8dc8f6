//go:build js && wasm

package main

import (
	"fmt"
	"sync"
	"syscall/js"

	"github.com/hajimehoshi/ebiten/v2"

	"mmuviz/wasm/framezip"
)

// Exporting a lesson's frames for slides (web/BRIDGE.md): the page asks
// for each step with still(), which also asks the next Draw to keep a copy
// of the picture; shot() hands that copy over as RGBA pixels, which the
// page turns into a PNG. The copy is read from the screen image inside
// Draw, so it never depends on when the browser presents or clears the
// WebGL canvas. The page then builds one ZIP: zipAdd() returns each file's
// header while the PNG data stays in the browser, zipEnd() the directory.
// The ZIP is deterministic; only one is built at a time.

// capture is the copy of a frame still() asked for.
type capture struct {
	want  bool // the next frame drawn at rest is to be kept
	ready bool
	step  int
	w, h  int
	pix   []byte // RGBA, premultiplied (the frame is opaque)
}

// still goes to a step at once, without the motion seek() starts, so that
// the next frame drawn is the step's final picture, and asks for a copy.
func (g *game) still(step int) stateJSON {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stage == nil {
		return g.state()
	}
	p := g.stage.Player
	p.Seek(step)
	p.From, p.Progress = p.Step, 1
	g.dirty = true
	g.shot.want, g.shot.ready = true, false
	g.notify()
	return g.state()
}

// keepShot copies the frame just drawn on screen when still() asked for
// it; Draw calls it with g.mu held.
func (g *game) keepShot(screen *ebiten.Image) {
	if !g.shot.want || g.stage.Player.Moving() {
		return
	}
	b := screen.Bounds()
	n := 4 * b.Dx() * b.Dy()
	if cap(g.shot.pix) < n {
		g.shot.pix = make([]byte, n)
	}
	g.shot.pix = g.shot.pix[:n]
	screen.ReadPixels(g.shot.pix)
	g.shot.w, g.shot.h, g.shot.step = b.Dx(), b.Dy(), g.stage.Player.Step
	g.shot.want, g.shot.ready = false, true
}

// takeShot returns the kept frame as {step, width, height, pixels} with
// the pixels in a Uint8Array, or null while there is none.
func (g *game) takeShot() any {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.shot.ready {
		return nil
	}
	g.shot.ready = false
	out := js.Global().Get("Object").New()
	out.Set("step", g.shot.step)
	out.Set("width", g.shot.w)
	out.Set("height", g.shot.h)
	out.Set("pixels", bytesToJS(g.shot.pix))
	return out
}

// zipState is the archive being built.
type zipState struct {
	mu  sync.Mutex
	w   *framezip.Writer
	buf []byte // reused for each file's bytes
}

// begin starts a new archive, dropping any unfinished one.
func (z *zipState) begin() {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.w = &framezip.Writer{}
}

// add reads a file's bytes from a Uint8Array and returns its header as a
// Uint8Array, or a string saying what is wrong.
func (z *zipState) add(name string, data js.Value) any {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.w == nil {
		return "zipAdd before zipBegin"
	}
	if data.Type() != js.TypeObject || !data.InstanceOf(js.Global().Get("Uint8Array")) {
		return "zipAdd needs the file's bytes as a Uint8Array"
	}
	n := data.Get("length").Int()
	if n > framezip.MaxBytes {
		return fmt.Sprintf("%s is %d bytes, too large for a ZIP", name, n)
	}
	if cap(z.buf) < n {
		z.buf = make([]byte, n)
	}
	z.buf = z.buf[:n]
	js.CopyBytesToGo(z.buf, data)
	h, err := z.w.Add(name, z.buf)
	if err != nil {
		return err.Error()
	}
	return bytesToJS(h)
}

// end returns the archive's directory as a Uint8Array (or an error string)
// and frees the buffers.
func (z *zipState) end() any {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.w == nil {
		return "zipEnd before zipBegin"
	}
	b, err := z.w.Close()
	z.w, z.buf = nil, nil
	if err != nil {
		return err.Error()
	}
	return bytesToJS(b)
}

// bytesToJS copies b into a new Uint8Array.
func bytesToJS(b []byte) js.Value {
	a := js.Global().Get("Uint8Array").New(len(b))
	js.CopyBytesToJS(a, b)
	return a
}
