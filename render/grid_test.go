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

// TestLayout2D lays out 2D walks of every guest mode on EPT and NPT, with
// the host tables populated beforehand (one attempt per access) and
// empty (KVM fills them fault by fault), and checks the counts.
func TestLayout2D(t *testing.T) {
	for _, c := range []struct {
		tdpCase
		refs    int
		formula string
	}{
		{tdpCase{mmu.Paging4, mmu.TDPEPT, 4, true}, 24, "(4+1)(4+1)-1 = 24"},
		{tdpCase{mmu.Paging4, mmu.TDPEPT, 5, true}, 29, "(4+1)(5+1)-1 = 29"},
		{tdpCase{mmu.Paging5, mmu.TDPEPT, 5, true}, 35, "(5+1)(5+1)-1 = 35"},
		{tdpCase{mmu.PagingPAE, mmu.TDPEPT, 4, true}, 14, "(2+1)(4+1)-1 = 14"},
		{tdpCase{mmu.Paging32, mmu.TDPEPT, 4, true}, 14, "(2+1)(4+1)-1 = 14"},
		{tdpCase{mmu.Paging4, mmu.TDPNPT, 4, true}, 24, "(4+1)(4+1)-1 = 24"},
		{tdpCase{mmu.PagingPAE, mmu.TDPNPT, 4, false}, 19, "(3+1)(4+1)-1 = 19"}, // PDPTEs from memory
		{tdpCase{mmu.Paging4, mmu.TDPEPT, 4, false}, 24, "(4+1)(4+1)-1 = 24"},
		{tdpCase{mmu.Paging4, mmu.TDPNPT, 4, false}, 24, "(4+1)(4+1)-1 = 24"},
	} {
		name := fmt.Sprintf("%v on %d-level %v (prefault %v)", c.mode, c.levels, c.kind, c.prefault)
		tl := tdpTimeline(t, c.tdpCase)
		layoutEveryStep(t, name, tl)
		steps := refSteps(tl)
		last, ok := steps[c.refs]
		if !ok || steps[c.refs+1] != nil {
			t.Fatalf("%s: the walks do not end at reference %d", name, c.refs)
		}
		v, _ := tl.Seek(last[0])
		sc := render.Layout(v, tl, render.Size{W: 870, H: 800})
		want := fmt.Sprintf("refs: %d / %d", c.refs, c.refs)
		if s := gridText(gridOf(t, sc)); !strings.Contains(s, c.formula) || !strings.Contains(s, want) {
			t.Errorf("%s: at its last reference the grid says %s", name, s)
		}
	}
}

// TestViolation2D follows a walk on an empty EPT: each violation is drawn
// where it happened, KVM's new tables appear, its SPTE writes are
// highlighted as writes, and each retry counts from 1 again.
func TestViolation2D(t *testing.T) {
	tl := tdpTimeline(t, tdpCase{mmu.Paging4, mmu.TDPEPT, 4, false})
	seen := map[mmu.EventKind]bool{}
	for step := 1; step < tl.Len(); step++ {
		a, ev := tl.Locate(step)
		e := tl.Steps[a].Events[ev]
		v, _ := tl.Seek(step)
		sc := render.Layout(v, tl, render.Size{W: 870, H: 800})
		switch {
		case e.Kind == mmu.EvFault && e.TwoD:
			b, ok := sc.Box("hostfault")
			if !ok || b.Kind != render.BoxFault || sc.Highlight.Color != render.FaultFill ||
				!strings.HasPrefix(sc.Highlight.Box, "ept:") || !strings.Contains(gridText(gridOf(t, sc)), "×") {
				t.Errorf("step %d: the violation is not drawn at its EPT entry and in the grid:\n%s", step, dump(sc))
			}
		case e.Kind == mmu.EvAlloc:
			id := fmt.Sprintf("ept:%#x", e.Addr)
			if b, ok := sc.Box(id); !ok || !strings.Contains(b.Title[0].S, "(new)") || sc.Highlight.Box != id ||
				sc.Highlight.Color != render.WrittenFill {
				t.Errorf("step %d: the new table %s is not shown as written:\n%s", step, id, dump(sc))
			}
		case e.Kind == mmu.EvBegin && ev > 0:
			if s := gridText(gridOf(t, sc)); !strings.Contains(s, "refs: 0 / 24") || !strings.Contains(s, "try ") {
				t.Errorf("step %d: the retry's grid says %s", step, s)
			}
		default:
			continue
		}
		seen[e.Kind] = true
	}
	if !seen[mmu.EvFault] || !seen[mmu.EvAlloc] || !seen[mmu.EvBegin] {
		t.Errorf("the walk on an empty EPT showed only %v", seen)
	}
}
