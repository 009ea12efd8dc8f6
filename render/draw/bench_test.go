package draw

import (
	"testing"

	"github.com/hajimehoshi/ebiten/v2"

	"mmuviz/render"
)

// BenchmarkDraw draws a frame of motion into the largest scene (the 5-level
// walk arriving at its result) at device scale 2: the tween, the paths, the
// glyphs, and the GPU work Ebiten flushes (llvmpipe under xvfb, so the GPU
// part is slower here than on real hardware). It needs a running game:
// xvfb-run -a go test -bench Draw ./render/draw/
func BenchmarkDraw(b *testing.B) {
	needGame(b)
	st := render.NewStage(timeline(b, "native-5level"))
	st.Resize(render.Size{W: 870, H: 800})
	st.Player.Seek(34)
	from := st.Frame()
	st.Player.Seek(35)
	to := st.Current()
	r, err := New()
	if err != nil {
		b.Fatal(err)
	}
	dst := ebiten.NewImage(1740, 1600)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r.Draw(dst, render.Tween(from, to, float64(i%16)/16), 2)
		// Reading one pixel waits for the GPU, so the frame is really done.
		_ = dst.At(0, 0)
		i++
	}
}
