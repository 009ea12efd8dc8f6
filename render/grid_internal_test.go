package render

import (
	"fmt"
	"slices"
	"testing"

	"mmuviz/mmu"
)

// walkEvents is the trace of a 2D walk as the event contract gives it:
// for each row (guest level, root first, 0 last) a host walk from level h
// down to stop[row] (1 without a huge page), then the guest entry.
func walkEvents(rows []int, h int, stop map[int]int) []mmu.Event {
	out := []mmu.Event{{Kind: mmu.EvBegin, TwoD: true}}
	ref := 0
	for _, g := range rows {
		for l := h; l >= max(stop[g], 1); l-- {
			ref++
			out = append(out, mmu.Event{Kind: mmu.EvRead, Space: mmu.SpaceHPA, TwoD: true, GuestLevel: g, HostLevel: l,
				Level: l, HasEntry: true, Ref: ref})
		}
		if g > 0 {
			ref++
			out = append(out, mmu.Event{Kind: mmu.EvRead, Space: mmu.SpaceGPA, TwoD: true, GuestLevel: g, Level: g,
				HasEntry: true, Ref: ref})
		}
	}
	return out
}

// TestGridModel counts references, lights the current cell, and marks the
// cells a huge page skips, after the walk has passed them.
func TestGridModel(t *testing.T) {
	// A 4-level guest whose PD maps a 2 MiB page, on 4-level EPT whose
	// translation of the guest's PDPT is a 2 MiB EPT page.
	events := walkEvents([]int{4, 3, 2, 0}, 4, map[int]int{3: 2})
	for done := 1; done <= len(events); done++ {
		m := newGridModel(mmu.Paging4, 4, 0, events, done, 1)
		e := events[done-1]
		if m.count != e.Ref && done > 1 || m.filled() != m.count {
			t.Fatalf("after %d events: count %d, %d filled, the event is ref %d", done, m.count, m.filled(), e.Ref)
		}
		if s, n := m.state(cellKey{e.GuestLevel, e.HostLevel}); done > 1 && (s != cellCurrent || n != e.Ref) {
			t.Errorf("ref %d: its cell is %v %d", e.Ref, s, n)
		}
	}
	m := newGridModel(mmu.Paging4, 4, 0, events, len(events), 1)
	if m.total != 18 || m.formula() != 24 {
		t.Errorf("total %d, formula %d; want 18 and 24", m.total, m.formula())
	}
	for _, k := range []cellKey{{3, 1}, {1, 4}, {1, 1}, {1, 0}} {
		if s, _ := m.state(k); s != cellSkipped {
			t.Errorf("cell %v is %v, want skipped", k, s)
		}
	}
	if s, _ := m.state(cellKey{0, 0}); s != cellNone {
		t.Errorf("the final GPA has a guest entry cell: %v", s)
	}
	// With the result, the data page's cell the 2 MiB EPT page skips too.
	done := append(walkEvents([]int{4, 3, 2, 0}, 4, map[int]int{3: 2, 0: 2}), mmu.Event{Kind: mmu.EvResult})
	if s, _ := newGridModel(mmu.Paging4, 4, 0, done, len(done), 1).state(cellKey{0, 1}); s != cellSkipped {
		t.Errorf("after the result, the final GPA's PTE cell is %v", s)
	}
	if s, _ := newGridModel(mmu.Paging4, 4, 0, done, len(done)-1, 1).state(cellKey{0, 1}); s != cellEmpty {
		t.Errorf("before the result, the final GPA's PTE cell is %v", s)
	}
	mid := newGridModel(mmu.Paging4, 4, 0, events, 3, 1)
	if s, _ := mid.state(cellKey{1, 1}); s != cellEmpty {
		t.Errorf("before the walk gets there, a skipped cell is %v", s)
	}
	if got := m.noteText(); got != "huge pages skipped 6" {
		t.Errorf("note %q", got)
	}
}

// TestGridModelPAEAndFault: a PAE guest on EPT has a register row and g
// = 2; a violation marks its cell and says so.
func TestGridModelPAEAndFault(t *testing.T) {
	events := walkEvents([]int{2, 1}, 4, nil)
	events = append(events, mmu.Event{Kind: mmu.EvRead, Space: mmu.SpaceHPA, TwoD: true, HostLevel: 4, Ref: 11},
		mmu.Event{Kind: mmu.EvFault, Space: mmu.SpaceGPA, TwoD: true, HostLevel: 4, Level: 4})
	m := newGridModel(mmu.PagingPAE, 4, 3, events, len(events), 1)
	if m.g != 2 || m.formula() != 14 {
		t.Errorf("g = %d, formula %d; want 2 and 14", m.g, m.formula())
	}
	if s, n := m.state(cellKey{0, 4}); s != cellFault || n != 11 {
		t.Errorf("the violation's cell is %v %d", s, n)
	}
	count, formula := m.countText()
	if count != "refs: 11 / 14" || formula != "(g+1)(h+1)-1 = (2+1)(4+1)-1 = 14" {
		t.Errorf("%q, %q", count, formula)
	}
	if got := m.noteText(); got != "a violation stopped the walk after 11" {
		t.Errorf("note %q", got)
	}
	b := gridBox(m, "guest", "EPT")
	var texts []string
	for _, r := range b.Rows {
		for _, x := range r.Texts {
			texts = append(texts, x.S)
		}
	}
	if s := fmt.Sprint(texts); !slices.Contains(texts, "register, no reference") || !slices.Contains(texts, "PDPTR") {
		t.Errorf("the PAE grid does not show its register row: %s", s)
	}
}

// TestAttemptOf splits an action's events at each begin.
func TestAttemptOf(t *testing.T) {
	ev := []mmu.Event{{Kind: mmu.EvBegin}, {}, {}, {Kind: mmu.EvBegin}, {}, {}}
	for _, c := range []struct{ done, from, to, try int }{{1, 0, 3, 1}, {3, 0, 3, 1}, {4, 3, 6, 2}, {6, 3, 6, 2}} {
		if from, to, try := attemptOf(ev, c.done); from != c.from || to != c.to || try != c.try {
			t.Errorf("done %d: %d..%d try %d, want %d..%d try %d", c.done, from, to, try, c.from, c.to, c.try)
		}
	}
}
