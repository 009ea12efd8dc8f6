package draw

import (
	"os"
	"sync"
	"testing"

	"github.com/hajimehoshi/ebiten/v2"
)

// Tests that read pixels or time real drawing need a running game, which
// needs a display: run them with `xvfb-run -a go test ./render/draw/`.
// Without a display they skip, and the rest of the package's tests run.

// gameRunning is true while the tests run inside ebiten.RunGame.
var gameRunning bool

type testRunner struct {
	m    *testing.M
	once sync.Once
	code int
}

func (r *testRunner) Update() error {
	r.once.Do(func() {
		gameRunning = true
		r.code = r.m.Run()
	})
	return ebiten.Termination
}

func (r *testRunner) Draw(*ebiten.Image) {}

func (r *testRunner) Layout(int, int) (int, int) { return 64, 64 }

func TestMain(m *testing.M) {
	if os.Getenv("DISPLAY") == "" {
		os.Exit(m.Run())
	}
	r := &testRunner{m: m}
	ebiten.SetWindowSize(64, 64)
	if err := ebiten.RunGame(r); err != nil {
		panic(err)
	}
	os.Exit(r.code)
}

// needGame skips a test or benchmark that needs a running game.
func needGame(tb testing.TB) {
	tb.Helper()
	if !gameRunning {
		tb.Skip("needs a display: run with xvfb-run -a go test ./render/draw/")
	}
}
