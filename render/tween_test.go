package render_test

import (
	"testing"

	"mmuviz/render"
)

func TestTween(t *testing.T) {
	tl := timelineOf(t, "native-4level")
	size := render.Size{W: 870, H: 800}
	at := func(step int) *render.Scene {
		v, err := tl.Seek(step)
		if err != nil {
			t.Fatal(err)
		}
		return render.Layout(v, tl, size)
	}
	// Step 3 reads the PML4; step 4 adds the PDPT and moves the highlight.
	a, b := at(3), at(4)
	if f := render.Tween(a, b, 1); f != b {
		t.Error("Tween at 1 is not the target scene")
	}
	f0 := render.Tween(a, b, 0)
	for _, bx := range f0.Boxes() {
		old, had := a.Box(bx.ID)
		switch {
		case had && bx.Alpha > 0 && bx.Rect != old.Rect:
			t.Errorf("box %s at t=0 is at %v, was at %v", bx.ID, bx.Rect, old.Rect)
		case !had && bx.Alpha != 0:
			if _, now := b.Box(bx.ID); now {
				t.Errorf("new box %s is visible at t=0", bx.ID)
			}
		}
	}
	if f0.Highlight.Rect != a.Highlight.Rect || f0.Highlight.Color != a.Highlight.Color {
		t.Error("the highlight does not start where it was")
	}
	ya, yb := a.Highlight.Rect.Y, b.Highlight.Rect.Y
	if ym := render.Tween(a, b, 0.5).Highlight.Rect.Y; ya == yb || ym <= min(ya, yb) || ym >= max(ya, yb) {
		t.Errorf("the highlight does not slide: %v, %v, %v", ya, ym, yb)
	}
	// Going back, the PDPT fades out rather than vanishing.
	back := render.Tween(b, a, 0.25)
	if bx, ok := back.Box("gpt:0x101000"); !ok || bx.Alpha <= 0 || bx.Alpha >= 1 {
		t.Errorf("the PDPT does not fade out: %+v", bx)
	}
	if render.Tween(nil, b, 0.3) != b {
		t.Error("Tween from nothing")
	}
}

func TestStage(t *testing.T) {
	tl := timelineOf(t, "native-4level")
	st := render.NewStage(tl)
	st.Resize(render.Size{W: 870, H: 800})
	first := st.Frame()
	if first.Step != 0 || !first.Highlight.Valid {
		t.Fatalf("first frame %+v", first.Highlight)
	}
	st.Player.Seek(12)
	f := st.Frame()
	if f.Highlight.Rect != first.Highlight.Rect {
		t.Error("the motion does not start from what was shown")
	}
	for i := 0; i < 30; i++ {
		st.Player.Tick(1.0 / 60)
	}
	if f := st.Frame(); f != st.Current() || f.Step != 12 {
		t.Error("at rest the frame is not the current scene")
	}
	if v := st.View(); v == nil || v.Step != 12 {
		t.Error("View is not the current step")
	}
	// One zoom for the whole timeline.
	scale := st.Current().Scale
	for _, s := range []int{0, 3, 42, tl.Len() - 1} {
		st.Player.Seek(s)
		if got := st.Current().Scale; got != scale {
			t.Errorf("step %d at scale %v, step 12 at %v", s, got, scale)
		}
	}
	st.Resize(render.Size{W: 1600, H: 1000})
	if st.Current().Scale <= scale {
		t.Error("a bigger stage does not zoom in")
	}
}
