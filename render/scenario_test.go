package render_test

import (
	"os"
	"testing"

	"mmuviz/mmu"
	"mmuviz/render"
	"mmuviz/scenarios"
)

// timelineOf builds a built-in scenario's timeline.
func timelineOf(t testing.TB, name string) *mmu.Timeline {
	t.Helper()
	s, err := scenarios.LoadBuiltin(name)
	if err != nil {
		t.Fatal(err)
	}
	return s.Timeline()
}

func TestDumpScenario(t *testing.T) {
	name := os.Getenv("DUMP")
	if name == "" {
		t.Skip("set DUMP=scenario to print its scenes")
	}
	tl := timelineOf(t, name)
	for step := 0; step < tl.Len(); step++ {
		v, err := tl.Seek(step)
		if err != nil {
			t.Fatal(err)
		}
		t.Log(dump(render.Layout(v, tl, render.Size{W: 870, H: 800})))
	}
}
