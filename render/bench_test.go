package render_test

import (
	"fmt"
	"slices"
	"testing"

	"mmuviz/mmu"
	"mmuviz/render"
	"mmuviz/scenarios"
)

// BenchmarkLayout lays out the largest scene of the built-ins: the 5-level
// walk of GVA 0x1000000401abc at its result, five tables, the registers,
// the page and the bit fields.
func BenchmarkLayout(b *testing.B) {
	tl := timelineOf(b, "native-5level")
	v, err := tl.Seek(35)
	if err != nil {
		b.Fatal(err)
	}
	size := render.Size{W: 870, H: 800}
	if n := len(render.Layout(v, tl, size).Boxes()); n < 13 {
		b.Fatalf("step 35 has only %d boxes", n)
	}
	b.ReportAllocs()
	for b.Loop() {
		render.Layout(v, tl, size)
	}
}

// BenchmarkLayout2D lays out the largest 2D scene: the 5-level guest on
// 5-level EPT (scenario ept-5on5) at its last reference, the 35th: six
// guest boxes, five EPT tables, the grid full.
func BenchmarkLayout2D(b *testing.B) {
	if !slices.Contains(scenarios.Builtin(), "ept-5on5") {
		b.Skip("no scenario ept-5on5")
	}
	tl := timelineOf(b, "ept-5on5")
	step := -1
	for s := 1; s < tl.Len(); s++ {
		if a, ev := tl.Locate(s); a >= 0 {
			if e := tl.Steps[a].Events[ev]; e.TwoD && e.Ref == 35 {
				step = s
				break
			}
		}
	}
	if step < 0 {
		b.Fatal("ept-5on5 makes no 35th reference")
	}
	v, err := tl.Seek(step)
	if err != nil {
		b.Fatal(err)
	}
	size := render.Size{W: 870, H: 800}
	if n := len(render.Layout(v, tl, size).Boxes()); n < 16 {
		b.Fatalf("step %d has only %d boxes", step, n)
	}
	b.ReportAllocs()
	for b.Loop() {
		render.Layout(v, tl, size)
	}
}

// BenchmarkLayoutShadow lays out the largest shadow-paging scene of the
// built-ins: the step with the most boxes and rows (guest tables beside
// their shadow pages, special roots, other quadrants, pages being zapped).
func BenchmarkLayoutShadow(b *testing.B) {
	size := render.Size{W: 870, H: 800}
	var tl *mmu.Timeline
	var view *mmu.View
	most, where := 0, ""
	for _, name := range scenarios.Builtin() {
		t := timelineOf(b, name)
		if v, _ := t.Seek(0); !v.Machine.ShadowEnabled() {
			continue
		}
		for s := 0; s < t.Len(); s++ {
			v, _ := t.Seek(s)
			n := 0
			for _, bx := range render.Layout(v, t, size).Boxes() {
				n += 1 + len(bx.Rows)
			}
			if n > most {
				most, where, tl, view = n, fmt.Sprintf("%s step %d", name, s), t, v
			}
		}
	}
	if view == nil {
		b.Skip("no shadow-paging scenario")
	}
	b.Logf("largest shadow scene: %s, %d boxes and rows", where, most)
	b.ReportAllocs()
	for b.Loop() {
		render.Layout(view, tl, size)
	}
}

// BenchmarkSeekAndLayout is what a step costs the game: seek the timeline
// (replaying from a checkpoint), then lay the step out.
func BenchmarkSeekAndLayout(b *testing.B) {
	tl := timelineOf(b, "native-5level")
	size := render.Size{W: 870, H: 800}
	b.ReportAllocs()
	step := 0
	for b.Loop() {
		v, err := tl.Seek(step)
		if err != nil {
			b.Fatal(err)
		}
		render.Layout(v, tl, size)
		step = (step + 1) % tl.Len()
	}
}

// BenchmarkOpen is what opening a scenario costs the game: every step is
// laid out once to find one zoom for the whole timeline.
func BenchmarkOpen(b *testing.B) {
	tl := timelineOf(b, "native-4level")
	b.ReportAllocs()
	for b.Loop() {
		render.NewStage(tl)
	}
}

// BenchmarkTween is the per-frame cost of motion.
func BenchmarkTween(b *testing.B) {
	tl := timelineOf(b, "native-5level")
	size := render.Size{W: 870, H: 800}
	v1, _ := tl.Seek(34)
	v2, _ := tl.Seek(35)
	s1, s2 := render.Layout(v1, tl, size), render.Layout(v2, tl, size)
	b.ReportAllocs()
	for b.Loop() {
		render.Tween(s1, s2, 0.5)
	}
}

// BenchmarkLayoutNested lays out the largest scene of a nested run: the
// step of nested-ept with the most boxes and rows (L2's tables, EPT02 with
// its violation, L1's EPT12 read by KVM, the grid, the vCPU panel).
func BenchmarkLayoutNested(b *testing.B) {
	tl := timelineOf(b, "nested-ept")
	size := render.Size{W: 870, H: 800}
	var view *mmu.View
	most, where := 0, 0
	for s := 0; s < tl.Len(); s++ {
		v, _ := tl.Seek(s)
		n := 0
		for _, bx := range render.Layout(v, tl, size).Boxes() {
			n += 1 + len(bx.Rows)
		}
		if n > most {
			most, where, view = n, s, v
		}
	}
	b.Logf("largest nested scene: step %d, %d boxes and rows", where, most)
	b.ReportAllocs()
	for b.Loop() {
		render.Layout(view, tl, size)
	}
}

// BenchmarkOpenNested is opening the longest nested scenario in the game
// (nested-npt-32bit-l1, 868 steps): every step laid out once for the zoom.
func BenchmarkOpenNested(b *testing.B) {
	tl := timelineOf(b, "nested-npt-32bit-l1")
	b.ReportAllocs()
	for b.Loop() {
		render.NewStage(tl)
	}
}
