package render

import "mmuviz/mmu"

// Stage ties a timeline to a player and hands out the frame to draw: the
// scene of the current step, tweened from whatever was on screen when the
// step changed. It is the whole state of the picture, kept outside the game
// loop so that it is tested natively.
type Stage struct {
	TL     *mmu.Timeline
	Player *Player

	size    Size
	extents []Rect  // natural extent of every step, for one zoom per timeline
	scale   float64 // the zoom for size
	cur     *Scene  // the scene of cur.Step at rest
	from    *Scene  // what was on screen when the motion to cur began
	last    *Scene  // the frame handed out last
	view    *mmu.View
	err     error
}

// NewStage returns a stage at step 0 of tl. It lays out every step once to
// find the zoom that fits them all.
func NewStage(tl *mmu.Timeline) *Stage {
	s := &Stage{TL: tl, Player: NewPlayer(tl.Len())}
	s.extents = make([]Rect, tl.Len())
	tl.EachView(func(v *mmu.View) { _, s.extents[v.Step] = natural(v, tl) })
	return s
}

// Err is the error of the last layout, if seeking the timeline failed.
func (s *Stage) Err() error { return s.err }

// Resize sets the stage size in CSS px; the current scene is laid out again
// and shown at once, without motion.
func (s *Stage) Resize(size Size) {
	if size == s.size {
		return
	}
	s.size = size
	s.scale = maxScale
	for _, e := range s.extents {
		s.scale = min(s.scale, fitScale(e, size))
	}
	s.cur, s.from, s.last = nil, nil, nil
}

// Size returns the stage size last set.
func (s *Stage) Size() Size { return s.size }

// scene lays out one step at the stage's zoom.
func (s *Stage) scene(step int) *Scene {
	v, err := s.TL.Seek(step)
	if err != nil {
		s.err, s.view = err, nil
		return &Scene{Size: s.size, Background: Paper, Step: step, Scale: s.scale}
	}
	s.view = v
	return LayoutWith(v, s.TL, s.size, Options{Scale: s.scale})
}

// View is the engine's view of the current step (nil if seeking failed).
func (s *Stage) View() *mmu.View {
	s.Current()
	return s.view
}

// Current is the scene of the current step at rest (what probe reports).
func (s *Stage) Current() *Scene {
	if s.cur == nil || s.cur.Step != s.Player.Step {
		s.from = s.last
		s.cur = s.scene(s.Player.Step)
		if s.from == nil {
			s.Player.Progress = 1
		}
	}
	return s.cur
}

// Frame is the picture to draw now.
func (s *Stage) Frame() *Scene {
	cur := s.Current()
	f := cur
	if s.Player.Moving() && s.from != nil {
		f = Tween(s.from, cur, s.Player.Eased())
	}
	s.last = f
	return f
}
