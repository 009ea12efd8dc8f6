package render

import (
	"math"
	"testing"
)

func TestPlayerSteps(t *testing.T) {
	p := NewPlayer(5)
	if p.Step != 0 || p.Playing || p.Speed != 1 || p.Moving() {
		t.Fatalf("new player %+v", p)
	}
	if !p.Next() || p.Step != 1 || p.From != 0 || !p.Moving() {
		t.Fatalf("after Next %+v", p)
	}
	if p.Prev(); p.Step != 0 {
		t.Fatalf("after Prev %+v", p)
	}
	if p.Prev() || p.Step != 0 {
		t.Fatal("Prev at step 0 moved")
	}
	if p.End(); p.Step != 4 {
		t.Fatalf("End: %d", p.Step)
	}
	if p.Next() || p.Step != 4 {
		t.Fatal("Next at the last step moved")
	}
	if p.Home(); p.Step != 0 {
		t.Fatalf("Home: %d", p.Step)
	}
	for _, c := range []struct{ in, want int }{{-3, 0}, {2, 2}, {99, 4}} {
		if p.Seek(c.in); p.Step != c.want {
			t.Errorf("Seek(%d) = %d, want %d", c.in, p.Step, c.want)
		}
	}
}

func TestPlayerKeys(t *testing.T) {
	p := NewPlayer(10)
	for _, c := range []struct {
		key     string
		step    int
		playing bool
		speed   float64
	}{
		{"ArrowRight", 1, false, 1}, {" ", 2, false, 1}, {"PageDown", 3, false, 1},
		{"ArrowLeft", 2, false, 1}, {"PageUp", 1, false, 1}, {"End", 9, false, 1}, {"Home", 0, false, 1},
		{"p", 0, true, 1}, {"P", 0, false, 1}, {"+", 0, false, 2}, {"=", 0, false, 4}, {"-", 0, false, 2},
	} {
		if !p.Key(c.key) {
			t.Errorf("key %q not handled", c.key)
		}
		if p.Step != c.step || p.Playing != c.playing || p.Speed != c.speed {
			t.Errorf("after %q: step %d playing %v speed %v, want %d %v %v", c.key, p.Step, p.Playing, p.Speed,
				c.step, c.playing, c.speed)
		}
	}
	for _, k := range []string{"a", "Enter", "ArrowUp", "Escape", ""} {
		if p.Key(k) {
			t.Errorf("key %q handled", k)
		}
	}
	// A handled key that changes nothing still counts, so the page does
	// not scroll on Space at the last step.
	p.End()
	if !p.Key(" ") || p.Step != 9 {
		t.Error("Space at the last step")
	}
}

func TestPlayerSpeed(t *testing.T) {
	p := NewPlayer(3)
	for i := 0; i < 10; i++ {
		p.Faster()
	}
	if p.Speed != MaxSpeed {
		t.Errorf("speed %v after Faster×10", p.Speed)
	}
	for i := 0; i < 10; i++ {
		p.Slower()
	}
	if p.Speed != MinSpeed {
		t.Errorf("speed %v after Slower×10", p.Speed)
	}
	for _, c := range []struct{ in, want float64 }{{3, 3}, {100, 8}, {0, 0.25}, {-1, 0.25}, {math.NaN(), 1}, {math.Inf(1), 8}} {
		if p.SetSpeed(c.in); p.Speed != c.want {
			t.Errorf("SetSpeed(%v) = %v, want %v", c.in, p.Speed, c.want)
		}
	}
}

// tick runs the player for seconds at 60 frames a second and counts steps.
func tick(p *Player, seconds float64) int {
	n := 0
	for i := 0; i < int(seconds*60+0.5); i++ {
		if p.Tick(1.0 / 60) {
			n++
		}
	}
	return n
}

func TestPlayerAutoplay(t *testing.T) {
	p := NewPlayer(100)
	p.SetSpeed(4)
	p.SetPlaying(true)
	if n := tick(p, 2); n < 7 || n > 8 || p.Step != n {
		t.Errorf("2 s at 4 steps/s took %d steps to step %d", n, p.Step)
	}
	p.SetPlaying(false)
	if n := tick(p, 1); n != 0 {
		t.Errorf("paused player took %d steps", n)
	}
	// Playing stops at the last step, and play there starts over.
	p.Seek(97)
	p.SetSpeed(8)
	p.SetPlaying(true)
	tick(p, 2)
	if p.Step != 99 || p.Playing {
		t.Errorf("at the end: step %d playing %v", p.Step, p.Playing)
	}
	p.TogglePlay()
	if p.Step != 0 || !p.Playing {
		t.Errorf("play at the end: step %d playing %v", p.Step, p.Playing)
	}
	one := NewPlayer(1)
	if one.SetPlaying(true); one.Playing {
		t.Error("a one-step timeline plays")
	}
}

func TestPlayerMotion(t *testing.T) {
	p := NewPlayer(3)
	p.Next()
	if p.Progress != 0 || p.Eased() != 0 {
		t.Fatalf("motion starts at %v", p.Progress)
	}
	tick(p, MoveSeconds/2)
	if e := p.Eased(); e < 0.4 || e > 0.6 {
		t.Errorf("halfway eased %v", e)
	}
	tick(p, MoveSeconds)
	if p.Moving() || p.Eased() != 1 {
		t.Errorf("still moving after the motion's time: %v", p.Progress)
	}
	p.SetSpeed(8)
	p.SetPlaying(true)
	if d := p.Duration(); d >= 1/8.0 {
		t.Errorf("at 8 steps/s a motion takes %v s, longer than a step", d)
	}
	if p.Tick(-1) || p.Tick(math.NaN()) {
		t.Error("a bad tick moved")
	}
}

func TestEase(t *testing.T) {
	prev := -1.0
	for i := 0; i <= 100; i++ {
		x := float64(i) / 100
		e := Ease(x)
		if e < prev || e < 0 || e > 1 {
			t.Fatalf("Ease(%v) = %v after %v", x, e, prev)
		}
		prev = e
	}
	if Ease(0) != 0 || Ease(1) != 1 || math.Abs(Ease(0.5)-0.5) > 1e-9 {
		t.Error("Ease ends or middle")
	}
}
