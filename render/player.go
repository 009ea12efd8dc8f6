package render

// Speeds of autoplay, in steps per second.
const (
	MinSpeed = 0.25
	MaxSpeed = 8.0
	// MoveSeconds is how long the motion into a new step takes at most;
	// at high speeds it is shortened so that a step is still seen to rest.
	MoveSeconds = 0.25
)

// Player is the time of the visualizer: which step is shown, whether it
// plays and how fast, and how far the motion into the step has got. It
// knows nothing of scenes or Ebiten; the game calls its methods on keys
// and bridge calls and Tick once per frame.
type Player struct {
	Step    int     // the step shown (and moved to)
	From    int     // the step the motion comes from
	Total   int     // number of steps, counting step 0
	Playing bool    // autoplay is on
	Speed   float64 // autoplay speed in steps per second
	// Progress is how far the motion from From to Step has got, 0..1;
	// 1 means at rest.
	Progress float64
	due      float64 // autoplay: fraction of a step accumulated
}

// NewPlayer returns a player at step 0 of total steps, paused, at 1 step/s.
func NewPlayer(total int) *Player {
	return &Player{Total: max(total, 1), Speed: 1, Progress: 1}
}

// PlayerState is what the page is told about: it changes exactly when the
// state JSON must be sent again.
type PlayerState struct {
	Step    int
	Playing bool
	Speed   float64
}

// State returns the player's state as the page sees it.
func (p *Player) State() PlayerState { return PlayerState{p.Step, p.Playing, p.Speed} }

// Seek moves to step (clamped) and starts the motion there; it reports
// whether the step changed.
func (p *Player) Seek(step int) bool {
	step = min(max(step, 0), p.Total-1)
	p.due = 0
	if step == p.Step {
		return false
	}
	p.From, p.Step, p.Progress = p.Step, step, 0
	return true
}

// Next moves one step forward.
func (p *Player) Next() bool { return p.Seek(p.Step + 1) }

// Prev moves one step back.
func (p *Player) Prev() bool { return p.Seek(p.Step - 1) }

// Home moves to step 0.
func (p *Player) Home() bool { return p.Seek(0) }

// End moves to the last step.
func (p *Player) End() bool { return p.Seek(p.Total - 1) }

// SetPlaying starts or stops autoplay. Starting at the last step starts
// over from step 0, which is what a lecturer pressing play expects.
func (p *Player) SetPlaying(on bool) {
	if on && !p.Playing && p.Step >= p.Total-1 {
		p.Seek(0)
	}
	p.Playing, p.due = on, 0
	if p.Total <= 1 {
		p.Playing = false
	}
}

// TogglePlay flips autoplay.
func (p *Player) TogglePlay() { p.SetPlaying(!p.Playing) }

// SetSpeed sets the autoplay speed, clamped to MinSpeed..MaxSpeed.
func (p *Player) SetSpeed(x float64) {
	if x != x { // NaN
		x = 1
	}
	p.Speed = min(max(x, MinSpeed), MaxSpeed)
}

// Faster doubles the speed.
func (p *Player) Faster() { p.SetSpeed(p.Speed * 2) }

// Slower halves the speed.
func (p *Player) Slower() { p.SetSpeed(p.Speed / 2) }

// Key handles a KeyboardEvent.key as web/BRIDGE.md lists them and reports
// whether the key is one of the player's (even if it changed nothing, such
// as → on the last step, so that the page does not scroll instead).
func (p *Player) Key(k string) bool {
	switch k {
	case "ArrowRight", " ", "Spacebar", "PageDown":
		p.Next()
	case "ArrowLeft", "PageUp":
		p.Prev()
	case "Home":
		p.Home()
	case "End":
		p.End()
	case "p", "P":
		p.TogglePlay()
	case "+", "=":
		p.Faster()
	case "-", "_":
		p.Slower()
	default:
		return false
	}
	return true
}

// Duration is how long the motion into a step takes at the current speed.
func (p *Player) Duration() float64 {
	if p.Playing {
		return min(MoveSeconds, 0.6/p.Speed)
	}
	return MoveSeconds
}

// Moving reports whether a motion is under way (the game then draws every
// frame; at rest it need not).
func (p *Player) Moving() bool { return p.Progress < 1 }

// Eased is the eased progress of the motion, for Tween.
func (p *Player) Eased() float64 { return Ease(p.Progress) }

// Tick advances time by dt seconds: the motion goes on, and autoplay takes
// a step whenever one is due, stopping at the last step. It reports
// whether the step changed.
func (p *Player) Tick(dt float64) bool {
	if dt <= 0 || dt != dt {
		return false
	}
	dt = min(dt, 1) // a frame after a long stall is not a leap
	if p.Progress < 1 {
		p.Progress = min(1, p.Progress+dt/p.Duration())
	}
	if !p.Playing {
		return false
	}
	p.due += dt * p.Speed
	if p.due < 1 {
		return false
	}
	p.due--
	if p.Step >= p.Total-1 {
		p.Playing, p.due = false, 0
		return false
	}
	due := p.due
	p.Seek(p.Step + 1)
	p.due = due
	if p.Step >= p.Total-1 {
		// The last step is shown; playing ends here rather than one tick
		// later, so the page's Play button flips back in time.
		p.Playing, p.due = false, 0
	}
	return true
}
