//go:build js && wasm

package main

import (
	"fmt"
	"image/color"
	"sync"
	"time"

	"github.com/hajimehoshi/ebiten/v2"

	"mmuviz/render"
	"mmuviz/render/draw"
)

// game is the Ebiten game and the state behind the bridge. The picture's
// state lives in a render.Stage (tested natively); game only routes calls,
// ticks time and draws. mu guards everything: bridge calls arrive on their
// own goroutines while the game loop runs.
type game struct {
	mu      sync.Mutex
	cat     catalog
	rend    *draw.Renderer
	cur     *opened
	stage   *render.Stage
	speed   float64     // kept across open() so the lecturer's choice stays
	outside render.Size // CSS px, from LayoutF
	dsf     float64     // device pixels per CSS pixel, from LayoutF
	dirty   bool        // the screen must be drawn again
	crashed bool
	sent    render.PlayerState // what onState said last

	shot capture   // a copy of a frame for the frames export (export.go)
	quiz quizState // the exercise shown (quiz.go)
	zip  zipState  // the frames archive being built (export.go)
}

// Hooks of the debug build (debug.go); nil and empty in a release build.
var (
	debugDrawn   func(d time.Duration) // told how long each Draw took
	debugUpdated func(g *game)         // called at every Update
	debugPanic   string                // "update", "draw" or "bridge": panic there once
)

// maybePanic panics once where the debug build asked for it.
func maybePanic(where string) {
	if debugPanic == where {
		debugPanic = ""
		panic("mmuvizDebug.panic(\"" + where + "\") asked for it")
	}
}

func newGame() (*game, error) {
	r, err := draw.New()
	if err != nil {
		return nil, err
	}
	return &game{rend: r, speed: 1, dirty: true}, nil
}

func (g *game) isCrashed() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.crashed
}

// crash reports msg once and stops the picture; the page shows the message.
func (g *game) crash(msg string) {
	g.mu.Lock()
	first := !g.crashed
	g.crashed = true
	g.mu.Unlock()
	if first {
		host("onCrash", msg)
	}
}

// Update advances time: the motion and autoplay. It is the only place
// state changes on its own.
func (g *game) Update() (err error) {
	defer func() {
		if r := recover(); r != nil {
			g.crash(crashText("Update", r))
			err = nil
		}
	}()
	g.mu.Lock()
	defer g.mu.Unlock()
	if debugUpdated != nil {
		debugUpdated(g)
	}
	if g.crashed || g.stage == nil {
		return nil
	}
	maybePanic("update")
	if g.outside != g.stage.Size() && g.outside.W > 0 {
		g.stage.Resize(g.outside)
		g.dirty = true
	}
	p := g.stage.Player
	moving := p.Moving()
	p.Tick(1 / float64(ebiten.TPS()))
	if moving || p.Moving() {
		g.dirty = true
	}
	g.notify()
	return nil
}

// Draw paints the current frame when something changed.
func (g *game) Draw(screen *ebiten.Image) {
	defer func() {
		if r := recover(); r != nil {
			g.crash(crashText("Draw", r))
		}
	}()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.crashed || !g.dirty || g.outside.W <= 0 {
		return
	}
	if g.stage == nil {
		// Nothing is open yet (a long timeline is still being laid out):
		// show paper, not the black of a canvas never drawn.
		p := render.Paper
		screen.Fill(color.RGBA{R: p.R, G: p.G, B: p.B, A: p.A})
		g.dirty = false
		return
	}
	maybePanic("draw")
	k := float64(screen.Bounds().Dx()) / g.outside.W
	start := time.Now()
	g.rend.Draw(screen, g.stage.Frame(), k)
	if debugDrawn != nil {
		debugDrawn(time.Since(start))
	}
	g.dirty = g.stage.Player.Moving()
	g.keepShot(screen)
}

// Layout is never called: LayoutF takes precedence. It exists because
// ebiten.Game requires it.
func (g *game) Layout(w, h int) (int, int) {
	fw, fh := g.LayoutF(float64(w), float64(h))
	return int(fw), int(fh)
}

// LayoutF makes the screen as many device pixels as the canvas has, so
// that nothing is scaled and the picture is crisp at any pixel ratio.
func (g *game) LayoutF(w, h float64) (float64, float64) {
	dsf := ebiten.Monitor().DeviceScaleFactor()
	if dsf <= 0 {
		dsf = 1
	}
	g.mu.Lock()
	// A new size (or pixel ratio) gives a new, empty screen: draw again.
	if g.outside != (render.Size{W: w, H: h}) || g.dsf != dsf {
		g.outside, g.dsf, g.dirty = render.Size{W: w, H: h}, dsf, true
	}
	g.mu.Unlock()
	return w * dsf, h * dsf
}

// stateJSON is the state the page shows (web/BRIDGE.md).
type stateJSON struct {
	Step      int     `json:"step"`
	Total     int     `json:"total"`
	Playing   bool    `json:"playing"`
	Speed     float64 `json:"speed"`
	Narration string  `json:"narration"`
	Func      string  `json:"func"`
	Kind      string  `json:"kind"`
	Lesson    string  `json:"lesson"`
	Scenario  string  `json:"scenario"`
	Variant   string  `json:"variant"`
	File      string  `json:"file"` // the dropped file open ("" for a built-in)
}

// state builds the state JSON; g.mu is held.
func (g *game) state() stateJSON {
	if g.stage == nil {
		return stateJSON{Total: 1, Speed: g.speed}
	}
	p := g.stage.Player
	s := stateJSON{Step: p.Step, Total: p.Total, Playing: p.Playing, Speed: p.Speed,
		Kind: g.cur.kind, Lesson: g.cur.lesson, Scenario: g.cur.scenario, Variant: g.cur.variant, File: g.cur.file,
		Narration: "The initial state, before the first step."}
	if v := g.stage.View(); v != nil && v.Event != nil {
		s.Narration, s.Func = v.Event.Text, v.Event.Func
	}
	return s
}

// notify sends onState if step, playing or speed changed; g.mu is held
// (the host never calls back synchronously, see web/BRIDGE.md).
func (g *game) notify() {
	if g.stage == nil {
		return
	}
	if st := g.stage.Player.State(); st != g.sent {
		g.sent = st
		g.dirty = true
		host("onState", toJSON(g.state()))
	}
}

// open opens a lesson or scenario under a variant ("" is the default); on
// failure the old one stays.
func (g *game) open(kind, name, variant string) openJSON {
	o, err := g.cat.open(kind, name, variant)
	if err != nil {
		return openFailed(err)
	}
	return g.show(o)
}

// openFiles opens dropped files (see files.go); on failure the old one
// stays and the answer lists every error with its position.
func (g *game) openFiles(filesJSON, variant string) openJSON {
	o, err := g.cat.openFiles(filesJSON, variant)
	if err != nil {
		r := openFailed(err)
		r.Errors = positioned(err)
		return r
	}
	return g.show(o)
}

// show puts what was opened on the stage, keeping the speed.
func (g *game) show(o *opened) openJSON {
	st := render.NewStage(o.tl)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stage != nil {
		g.speed = g.stage.Player.Speed
	}
	st.Player.SetSpeed(g.speed)
	if g.outside.W > 0 {
		st.Resize(g.outside)
	}
	g.cur, g.stage, g.dirty = o, st, true
	g.sent = render.PlayerState{Step: -1}
	return o.reply
}

// seek goes to a step and returns the state.
func (g *game) seek(step int) stateJSON {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stage == nil {
		return g.state()
	}
	g.stage.Player.Seek(step)
	g.notify()
	return g.state()
}

// key handles a key from the page.
func (g *game) key(k string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stage == nil {
		return false
	}
	handled := g.stage.Player.Key(k)
	g.notify()
	return handled
}

func (g *game) setPlaying(on bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stage != nil {
		g.stage.Player.SetPlaying(on)
		g.notify()
	}
}

func (g *game) setSpeed(x float64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if x <= 0 {
		x = render.MinSpeed
	}
	g.speed = min(max(x, render.MinSpeed), render.MaxSpeed)
	if g.stage != nil {
		g.stage.Player.SetSpeed(x)
		g.notify()
	}
}

// probeJSON is probe()'s answer.
type probeJSON struct {
	Step      int        `json:"step"`
	Highlight rectJSON   `json:"highlight"`
	Color     string     `json:"color"`
	Error     string     `json:"error,omitempty"`
	Box       string     `json:"box,omitempty"`
	Scene     *sceneInfo `json:"scene,omitempty"`
}

type rectJSON struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
	W float64 `json:"w"`
	H float64 `json:"h"`
}

type sceneInfo struct {
	W, H, Scale float64
}

// probe reports where the highlight is at rest, in CSS px of this window:
// the part of the highlighted row that holds nothing but its fill, and the
// colour of that fill. w and h are the window's size, used when the game
// has not been laid out yet.
func (g *game) probe(w, h float64) probeJSON {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stage == nil {
		return probeJSON{Error: "nothing is open"}
	}
	// The answer must match what is on screen: the size Ebiten last gave
	// LayoutF, or, before the first frame, the window's.
	size := g.outside
	if size.W <= 0 {
		size = render.Size{W: w, H: h}
	}
	if size != g.stage.Size() {
		g.stage.Resize(size)
		g.dirty = true
	}
	sc := g.stage.Current()
	hl := sc.Highlight
	out := probeJSON{Step: sc.Step, Box: hl.Box, Scene: &sceneInfo{sc.Size.W, sc.Size.H, sc.Scale}}
	if !hl.Valid {
		out.Error = fmt.Sprintf("step %d highlights nothing", sc.Step)
		return out
	}
	p := hl.Probe
	out.Highlight = rectJSON{p.X, p.Y, p.W, p.H}
	out.Color = hl.Color.Hex()
	return out
}
