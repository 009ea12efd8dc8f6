package draw

import (
	"math"
	"testing"

	"github.com/hajimehoshi/ebiten/v2/text/v2"

	"mmuviz/render"
)

// TestMetricsAgree checks that render's table of advances measures text as
// Ebiten draws it, so that layout leaves room for exactly what is drawn.
func TestMetricsAgree(t *testing.T) {
	r, err := New()
	if err != nil {
		t.Fatal(err)
	}
	samples := []string{
		"PML5 @ GPA 0x100000 (HPA 0x10100000)",
		"► 511 0x8000000000102067 P W U A D PS NX",
		"GVA bits 47:39 = 0 index the PML4 at GPA 0x100000; the next table is at … Δ × → ▲",
		"The initial state, before the first step. Press → or Space to step.",
	}
	for f := render.Mono; f <= render.Prose; f++ {
		for _, s := range samples {
			for _, size := range []float64{11, 12.36, 13, 14.7, 26} {
				// Text is drawn at whole pixel sizes, never wider than
				// render measured it at size.
				got := text.Advance(s, r.Face(f, size))
				want := render.TextWidth(s, f, math.Floor(size))
				if math.Abs(got-want) > 0.01*want+0.5 || got > render.TextWidth(s, f, size)*1.001+0.5 {
					t.Errorf("font %d size %v %q: Ebiten %.2f, render %.2f", f, size, s, got, want)
				}
			}
		}
	}
	if lh := r.Face(render.Mono, 20).Metrics(); math.Abs(lh.HAscent+lh.HDescent-render.LineHeight(20)) > 0.01 {
		t.Errorf("line height: Ebiten %.3f, render %.3f", lh.HAscent+lh.HDescent, render.LineHeight(20))
	}
}
