//go:build js && wasm

package main

import (
	"fmt"
	"sync"
	"syscall/js"

	"mmuviz/wasm/framezip"
)

// Exporting a lesson's frames for slides (web/BRIDGE.md): the page seeks
// each step with still(), waits until drawn() says that frame is on the
// canvas, copies the canvas to a PNG, and builds one ZIP: zipAdd() returns
// each file's header while the PNG data stays in the browser, zipEnd() the
// directory. The ZIP is deterministic; only one is built at a time.

// drawnJSON is drawn()'s answer: the last frame painted.
type drawnJSON struct {
	N     int  `json:"n"`     // frames painted so far
	Step  int  `json:"step"`  // the step of the last one
	Still bool `json:"still"` // it was painted at rest (no motion under way)
	Dirty bool `json:"dirty"` // something changed since: another frame is due
}

// still goes to a step at once, without the motion seek() starts, so that
// the next frame drawn is the step's final picture.
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
	g.notify()
	return g.state()
}

// drawn reports the last frame painted.
func (g *game) drawn() drawnJSON {
	g.mu.Lock()
	defer g.mu.Unlock()
	return drawnJSON{N: g.paints, Step: g.paintedStep, Still: g.paintedStill, Dirty: g.dirty}
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
