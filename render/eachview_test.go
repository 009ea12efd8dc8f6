package render_test

import (
	"testing"

	"mmuviz/mmu"
	"mmuviz/render"
)

// TestEachViewMatchesSeek: the views Stage lays out in one replay per
// action (Timeline.EachView) give the same scenes as seeking each step.
func TestEachViewMatchesSeek(t *testing.T) {
	for name, tl := range map[string]*mmu.Timeline{
		"native-4level":     timelineOf(t, "native-4level"),
		"4-on-4 empty EPT":  tdpTimeline(t, tdpCase{mmu.Paging4, mmu.TDPEPT, 4, false}),
		"PAE on NPT, ready": tdpTimeline(t, tdpCase{mmu.PagingPAE, mmu.TDPNPT, 4, true}),
	} {
		size := render.Size{W: 870, H: 800}
		n := 0
		tl.EachView(func(v *mmu.View) {
			if v.Step != n {
				t.Fatalf("%s: view of step %d, want %d", name, v.Step, n)
			}
			n++
			sv, err := tl.Seek(v.Step)
			if err != nil {
				t.Fatal(err)
			}
			if a, b := dump(render.Layout(v, tl, size)), dump(render.Layout(sv, tl, size)); a != b {
				t.Fatalf("%s step %d differs:\n%s\nSeek:\n%s", name, v.Step, a, b)
			}
		})
		if n != tl.Len() {
			t.Errorf("%s: %d views of %d steps", name, n, tl.Len())
		}
	}
}
