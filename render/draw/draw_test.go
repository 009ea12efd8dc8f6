package draw

import (
	"image/color"
	"slices"
	"testing"

	"github.com/hajimehoshi/ebiten/v2"

	"mmuviz/mmu"
	"mmuviz/render"
	"mmuviz/scenarios"
)

func timeline(tb testing.TB, name string) *mmu.Timeline {
	tb.Helper()
	s, err := scenarios.LoadBuiltin(name)
	if err != nil {
		tb.Fatal(err)
	}
	return s.Timeline()
}

// TestHighlightPixel draws steps of native, 2D and shadow-paging
// scenarios (every third, fewer of a long timeline) at device scale 1 and
// 2 and reads the pixel at the centre of the probe rectangle: it must be
// exactly the highlight colour, as the browser test expects of probe(),
// also when the highlight is an EPT entry, a violation, a table KVM just
// allocated, an SPTE, a shadow page's role or the root's walk counter.
func TestHighlightPixel(t *testing.T) {
	needGame(t)
	r, err := New()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"native-4level", "native-pae", "ept-4on4", "ept-fault-populate", "npt-4on4",
		"shadow-4level", "shadow-32bit", "shadow-zap"} {
		if !slices.Contains(scenarios.Builtin(), name) {
			continue
		}
		st := render.NewStage(timeline(t, name))
		st.Resize(render.Size{W: 870, H: 800})
		for _, k := range []float64{1, 2} {
			dst := ebiten.NewImage(int(870*k), int(800*k))
			for step := 0; step < st.TL.Len(); step += max(3, st.TL.Len()/40) {
				st.Player.Seek(step)
				sc := st.Current()
				r.Draw(dst, sc, k)
				c := sc.Highlight.Probe.Center()
				got := dst.At(int(c.X*k), int(c.Y*k)).(color.RGBA)
				want := sc.Highlight.Color
				if got.R != want.R || got.G != want.G || got.B != want.B {
					t.Errorf("%s step %d at k=%v: pixel %v, highlight %s", name, step, k, got, want.Hex())
				}
			}
		}
	}
}
