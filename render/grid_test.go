package render_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"mmuviz/mmu"
	"mmuviz/render"
)

// gridCells maps each cell of the grid box that shows a reference number
// to that number; a violation's cell counts with its number too.
func gridCells(b *render.Box) map[[2]int]int {
	out := map[[2]int]int{}
	for _, r := range b.Rows {
		if r.Count != 1 || len(r.Texts) == 0 {
			continue
		}
		n, err := strconv.Atoi(strings.TrimPrefix(r.Texts[0].S, "×"))
		if err == nil {
			out[[2]int{r.Level, r.Index}] = n
		}
	}
	return out
}

// gridCurrent is the cell filled with the highlight colour, if any.
func gridCurrent(b *render.Box) ([2]int, bool) {
	for _, r := range b.Rows {
		if r.Count == 1 && r.Fill == render.CurrentFill {
			return [2]int{r.Level, r.Index}, true
		}
	}
	return [2]int{}, false
}

// gridText joins every text of the grid box.
func gridText(b *render.Box) string {
	var s []string
	for _, t := range b.Title {
		s = append(s, t.S)
	}
	for _, r := range b.Rows {
		for _, t := range r.Texts {
			s = append(s, t.S)
		}
	}
	return strings.Join(s, " | ")
}

// checkGrid checks the grid against the trace: exactly the references
// made so far fill their cells with their numbers, the current one lit,
// and the running count says how many.
func checkGrid(sc *render.Scene, v *mmu.View) []string {
	b, ok := sc.Box("grid")
	if !ok {
		return []string{"a 2D walk without a grid"}
	}
	var bad []string
	want := map[[2]int]int{}
	last := 0
	for _, e := range v.Events[lastBeginOf(v.Events):] {
		if e.TwoD && e.Ref > 0 && e.Kind == mmu.EvRead {
			want[[2]int{e.GuestLevel, e.HostLevel}] = e.Ref
			last = max(last, e.Ref)
		}
	}
	got := gridCells(b)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		bad = append(bad, fmt.Sprintf("grid cells %v, the trace made %v", got, want))
	}
	if len(got) != last {
		bad = append(bad, fmt.Sprintf("%d cells filled at reference %d", len(got), last))
	}
	if !strings.Contains(gridText(b), fmt.Sprintf("refs: %d / ", last)) {
		bad = append(bad, fmt.Sprintf("the count does not say %d: %s", last, gridText(b)))
	}
	cur, lit := gridCurrent(b)
	e := v.Event
	isRef := e != nil && e.TwoD && e.Ref > 0 && e.Kind == mmu.EvRead
	switch {
	case isRef && (!lit || cur != [2]int{e.GuestLevel, e.HostLevel}):
		bad = append(bad, fmt.Sprintf("reference %d at %d,%d lights cell %v (%v)", e.Ref, e.GuestLevel, e.HostLevel, cur, lit))
	case !isRef && lit:
		bad = append(bad, fmt.Sprintf("no reference, yet cell %v is lit", cur))
	}
	return bad
}

func lastBeginOf(events []mmu.Event) int {
	for i := len(events) - 1; i >= 0; i-- {
		if events[i].Kind == mmu.EvBegin {
			return i
		}
	}
	return 0
}

// TestGridSynthetic walks 4-level guests on 4- and 5-level EPT with a
// hand-made trace and checks every step's scene and grid.
func TestGridSynthetic(t *testing.T) {
	for _, c := range []struct {
		levels, refs int
		formula      string
	}{{4, 24, "(4+1)(4+1)−1 = 24"}, {5, 29, "(4+1)(5+1)−1 = 29"}} {
		m, ept := machineOn4(t, c.levels)
		events := ept.twoDWalk(0x400123)
		tl := synthTimeline(0x400123, events)
		if n := events[len(events)-2].Ref; n != c.refs {
			t.Fatalf("4-on-%d: the synthetic walk makes %d references, want %d", c.levels, n, c.refs)
		}
		for k := 1; k <= len(events); k++ {
			v := synthView(m, events, k)
			for _, size := range stageSizes {
				sc := render.Layout(v, tl, size)
				for _, p := range append(checkScene(sc, v), checkGrid(sc, v)...) {
					t.Errorf("4-on-%d step %d at %v: %s", c.levels, k, size, p)
				}
				if t.Failed() {
					t.Fatalf("first failing scene:\n%s", dump(sc))
				}
			}
		}
		sc := render.Layout(synthView(m, events, len(events)), tl, render.Size{W: 870, H: 800})
		if s := gridText(gridOf(t, sc)); !strings.Contains(s, c.formula) || !strings.Contains(s, fmt.Sprintf("refs: %d / %d", c.refs, c.refs)) {
			t.Errorf("4-on-%d: the grid at the end says %s", c.levels, s)
		}
	}
}

// TestViolationSynthetic follows a walk into an EPT violation, KVM's
// fix and the retry: the violation is drawn where it happened, the new
// table appears, the SPTE writes are highlighted as writes, and the retry
// counts from 1 again.
func TestViolationSynthetic(t *testing.T) {
	events, machines, newPT := faultAndFix(t)
	tl := synthTimeline(0x400123, events)
	for k := 1; k <= len(events); k++ {
		v := synthViewOn(machines, events, k)
		for _, size := range stageSizes {
			sc := render.Layout(v, tl, size)
			for _, p := range append(checkScene(sc, v), checkGrid(sc, v)...) {
				t.Errorf("step %d (%s) at %v: %s", k, events[k-1].Kind, size, p)
			}
			if t.Failed() {
				t.Fatalf("first failing scene:\n%s", dump(sc))
			}
		}
	}
	at := func(kind mmu.EventKind, nth int) *render.Scene {
		for k := 1; k <= len(events); k++ {
			if events[k-1].Kind == kind {
				if nth--; nth == 0 {
					return render.Layout(synthViewOn(machines, events, k), tl, render.Size{W: 870, H: 800})
				}
			}
		}
		t.Fatalf("no %s event", kind)
		return nil
	}
	sc := at(mmu.EvExit, 1)
	if b, ok := sc.Box("hostfault"); !ok || b.Kind != render.BoxFault || sc.Highlight.Color != render.FaultFill ||
		!strings.HasPrefix(sc.Highlight.Box, "ept:") {
		t.Errorf("the violation is not drawn at its EPT entry:\n%s", dump(sc))
	}
	if s := gridText(gridOf(t, sc)); !strings.Contains(s, "×23") {
		t.Errorf("the grid does not mark the violation at reference 23: %s", s)
	}
	sc = at(mmu.EvAlloc, 1)
	id := fmt.Sprintf("ept:%#x", uint64(newPT))
	if b, ok := sc.Box(id); !ok || !strings.Contains(b.Title[0].S, "(new)") || sc.Highlight.Box != id ||
		sc.Highlight.Color != render.WrittenFill {
		t.Errorf("the new table %s is not shown as written:\n%s", id, dump(sc))
	}
	sc = at(mmu.EvBegin, 2)
	if s := gridText(gridOf(t, sc)); !strings.Contains(s, "refs: 0 / 24") || !strings.Contains(s, "try 2") {
		t.Errorf("the retry's grid says %s", s)
	}
}
