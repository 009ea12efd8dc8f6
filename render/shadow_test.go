package render_test

import (
	"fmt"
	"strings"
	"testing"

	"mmuviz/mmu"
	"mmuviz/render"
	"mmuviz/scenarios"
)

// The shadow view, checked against timelines of the engine. The scenarios
// are written here rather than taken from the built-ins, so that the
// pictures they pin down stay put when the built-ins grow.

// shadowTimeline builds a timeline from scenario source.
func shadowTimeline(t testing.TB, src string) *mmu.Timeline {
	t.Helper()
	s, err := scenarios.Load("test.mmu", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	tl := s.Timeline()
	if tl.Err != nil {
		t.Fatal(tl.Err)
	}
	return tl
}

// stepWhere is the first step at or after from whose event satisfies ok.
func stepWhere(t testing.TB, tl *mmu.Timeline, from int, ok func(e *mmu.Event) bool) int {
	t.Helper()
	for s := max(from, 1); s < tl.Len(); s++ {
		if a, ev := tl.Locate(s); a >= 0 && ok(&tl.Steps[a].Events[ev]) {
			return s
		}
	}
	t.Fatalf("no step from %d on has the event looked for", from)
	return 0
}

// sceneAt lays out step of tl on the page's stage.
func sceneAt(t testing.TB, tl *mmu.Timeline, step int) (*render.Scene, *mmu.View) {
	t.Helper()
	v, err := tl.Seek(step)
	if err != nil {
		t.Fatal(err)
	}
	sc := render.Layout(v, tl, render.Size{W: 870, H: 800})
	for _, p := range checkScene(sc, v) {
		t.Errorf("step %d: %s", step, p)
	}
	return sc, v
}

// boxText joins the title and every text of a box.
func boxText(b *render.Box) string {
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

// boxesWith lists the shadow boxes whose text has every one of subs.
func boxesWith(sc *render.Scene, subs ...string) []*render.Box {
	var out []*render.Box
next:
	for _, b := range sc.Boxes() {
		if !strings.HasPrefix(b.ID, "spt:") {
			continue
		}
		for _, s := range subs {
			if !strings.Contains(boxText(b), s) {
				continue next
			}
		}
		out = append(out, b)
	}
	return out
}

// linked reports whether a dashed link runs from box from to box to.
func linked(sc *render.Scene, from, to string) bool {
	for _, e := range sc.Edges() {
		if e.Dashed && e.From == from && e.To == to {
			return true
		}
	}
	return false
}

const shadow32Src = `
memslot 0 gpa=0 size=64M hpa=256M
shadow
paging level2
map 0x400000 0x200000 flags=w,u
map 0x600000 0x300000 flags=w,u
map 0xc0001000 0x400000 flags=w
script
read 0x400123 user
read 0x600123 user
`

// TestShadowPAEQuadrants: a 32-bit guest is shadowed by PAE tables. The
// picture shows pae_root's four entries, each to the level-2 page of its
// quadrant; the four level-2 pages of the one guest page directory, each
// linked to it; and two level-1 pages, quadrants 0 and 1, beside the one
// 1024-entry guest page table.
func TestShadowPAEQuadrants(t *testing.T) {
	tl := shadowTimeline(t, shadow32Src)
	last := tl.Len() - 1
	sc, v := sceneAt(t, tl, last)
	pae := boxesWith(sc, "pae_root @ HPA")
	if len(pae) != 1 {
		t.Fatalf("%d pae_root boxes", len(pae))
	}
	entries := 0
	for _, r := range pae[0].Rows {
		if r.Count == 1 && r.Index < 4 {
			entries++
			if s := r.Texts[len(r.Texts)-1].S; !strings.Contains(s, fmt.Sprintf("quadrant %d", r.Index)) {
				t.Errorf("pae_root[%d] says %q, not its quadrant", r.Index, s)
			}
		}
	}
	if entries != 4 {
		t.Errorf("pae_root shows %d of its 4 entries", entries)
	}
	pd := "gpt:0x100000"
	for q := 0; q < 4; q++ {
		bs := boxesWith(sc, "L2 shadow page", "q")
		found := false
		for _, b := range bs {
			txt := boxText(b)
			if strings.Contains(txt, fmt.Sprintf("quadrant %d", q)) || strings.Contains(txt, fmt.Sprintf("· q%d", q)) {
				found = true
				if !linked(sc, b.ID, pd) {
					t.Errorf("the level-2 page of quadrant %d (%s) has no link to the guest's PD", q, b.ID)
				}
			}
		}
		if !found {
			t.Errorf("no level-2 page of quadrant %d", q)
		}
	}
	var l1 []string
	for _, p := range v.Machine.ShadowPages() {
		if p.Level == 1 && p.GFN == 0x101 {
			l1 = append(l1, "spt:"+p.HPA.String())
		}
	}
	if len(l1) != 2 {
		t.Fatalf("the engine has %d level-1 pages of the guest PT, want 2", len(l1))
	}
	for _, id := range l1 {
		if _, ok := sc.Box(id); !ok || !linked(sc, id, "gpt:0x101000") {
			t.Errorf("level-1 page %s is not shown beside the guest's PT", id)
		}
	}
	if got := rootRow(sc, "walk"); got != "2 refs" {
		t.Errorf("walk counter %q at the result, want 2 refs (the PDPTE is a register)", got)
	}
}

const shadow2on5Src = `
memslot 0 gpa=0 size=64M hpa=256M
shadow root-level=5 variant=%s
paging level2
map 0x400000 0x200000 flags=w,u
map 0xc0000000 0x300000 flags=w
script
read 0x400123 user
read 0xc0000123
check
`

// TestShadowSpecialRootsVsExpanded: the same 2-level guest under a 5-level
// root, as Linux does it (pml5_root → pml4_root → pae_root, no shadow
// pages) and as seed 001 proposed (a shadow page at every level). The root
// box counts exactly the engine's shadow pages in both, and the picture
// shows the special roots as such, or the pages that pass through.
func TestShadowSpecialRootsVsExpanded(t *testing.T) {
	for _, c := range []struct {
		variant           string
		pages, special    int
		passthrough, note string
	}{
		{"merged", 6, 3, "", "+ 3 special roots"},
		{"level-expanded", 9, 0, "glevel 2: passes through", "3 pass through"},
	} {
		tl := shadowTimeline(t, fmt.Sprintf(shadow2on5Src, c.variant))
		result := stepWhere(t, tl, 1, func(e *mmu.Event) bool { return e.Kind == mmu.EvResult && e.Func == "cpu" })
		sc, _ := sceneAt(t, tl, result)
		if got := rootRow(sc, "walk"); got != "5 refs" {
			t.Errorf("%s: walk counter %q at the first result, want 5 refs", c.variant, got)
		}
		sc, v := sceneAt(t, tl, tl.Len()-1)
		if n := len(v.Machine.ShadowPages()); rootRow(sc, "pages") != fmt.Sprint(n) || n != c.pages {
			t.Errorf("%s: the root box counts %s pages, the engine has %d, the scenario %d", c.variant,
				rootRow(sc, "pages"), n, c.pages)
		}
		special := len(boxesWith(sc, "_root @ HPA", "special root"))
		if special != c.special {
			t.Errorf("%s: %d special root boxes, want %d", c.variant, special, c.special)
		}
		if c.passthrough != "" && len(boxesWith(sc, c.passthrough)) != 3 {
			t.Errorf("%s: %d pages that pass through, want 3", c.variant, len(boxesWith(sc, c.passthrough)))
		}
		root, _ := sc.Box("sroot:0")
		if !strings.Contains(boxText(root), c.note) {
			t.Errorf("%s: the root box does not say %q:\n%s", c.variant, c.note, boxText(root))
		}
	}
}

const shadowUnsyncSrc = `
memslot 0 gpa=0 size=64M hpa=256M
shadow
paging level4
map 0x400000 0x200000 flags=w,u
map 0x401000 0x201000 flags=w,u
map 0x600000 0x103000 flags=w
script
read 0x400123 user
write 0x401008 user
entry 0x400000 level=1 addr=0x200000 flags=p,w,u
write 0x600008 value=0x203067
read 0x401000 user
invlpg 0x401000
set cr3=0x100000
`

// TestShadowUnsyncStale follows a guest table from write-protected to
// unsync and back: a trapped store zaps the SPTE it touched; an unsync
// page lets a stale SPTE be used, drawn beside the guest's new entry;
// INVLPG drops it; a CR3 write syncs the page.
func TestShadowUnsyncStale(t *testing.T) {
	tl := shadowTimeline(t, shadowUnsyncSrc)
	pt, sp := "gpt:0x103000", ""
	trap := stepWhere(t, tl, 1, func(e *mmu.Event) bool { return e.Kind == mmu.EvExit && e.Space == mmu.SpaceGPA })
	sc, v := sceneAt(t, tl, trap)
	if h := sc.Highlight; h.Box != pt || !strings.Contains(rowText(sc, h), "write traps") || h.Color != render.FaultFill {
		t.Errorf("the trapped store highlights %s %q", h.Box, rowText(sc, h))
	}
	for _, p := range v.Machine.ShadowPages() {
		if p.GFN == 0x103 && p.Level == 1 {
			sp = "spt:" + p.HPA.String()
		}
	}
	zap := stepWhere(t, tl, trap, func(e *mmu.Event) bool { return e.Kind == mmu.EvZap })
	if sc, _ := sceneAt(t, tl, zap); sc.Highlight.Box != sp || sc.Highlight.Color != render.WrittenFill {
		t.Errorf("kvm_mmu_track_write's zap highlights %s, want a written row of %s", sc.Highlight.Box, sp)
	}
	unsync := stepWhere(t, tl, zap, func(e *mmu.Event) bool { return e.Func == "kvm_unsync_page" })
	read := stepWhere(t, tl, unsync, func(e *mmu.Event) bool { return e.Func == "cpu" && e.Level == 1 && e.Index == 1 })
	sc, _ = sceneAt(t, tl, read)
	g, _ := sc.Box(pt)
	s, _ := sc.Box(sp)
	switch {
	case !strings.Contains(boxText(g), "UNSYNC") || !strings.Contains(boxText(s), "UNSYNC"):
		t.Errorf("the guest PT or its shadow page is not marked unsync:\n%s\n%s", boxText(g), boxText(s))
	case !strings.Contains(boxText(g), "0x203067") || !strings.Contains(boxText(s), "0x10201e67"):
		t.Errorf("the guest PTE and the stale SPTE are not both shown:\n%s\n%s", boxText(g), boxText(s))
	case !strings.Contains(boxText(s), "stale: maps GPA 0x201000, the guest's entry 0x203000"):
		t.Errorf("the stale SPTE is not called stale:\n%s", boxText(s))
	case g.Rect.Y != s.Rect.Y:
		t.Errorf("the guest PT (y %.0f) and its shadow page (y %.0f) are not side by side", g.Rect.Y, s.Rect.Y)
	}
	if r, ok := sc.Box("sresult"); !ok || !strings.Contains(boxText(r), "STALE") {
		t.Errorf("the end of the walk does not say it is stale")
	}
	sync := stepWhere(t, tl, read, func(e *mmu.Event) bool { return e.Func == "paging64_sync_spte" })
	if sc, _ := sceneAt(t, tl, sync); sc.Highlight.Box != sp || sc.Highlight.Color != render.WrittenFill {
		t.Errorf("INVLPG's resync highlights %s, want a written row of %s", sc.Highlight.Box, sp)
	}
	sc, _ = sceneAt(t, tl, tl.Len()-1)
	if s, _ := sc.Box(sp); strings.Contains(boxText(s), "UNSYNC") || !strings.Contains(boxText(s), "sync") {
		t.Errorf("after the CR3 write the page is not synced:\n%s", boxText(s))
	}
	if pd, _ := sc.Box("gpt:0x102000"); !strings.Contains(boxText(pd), "write-tracked") {
		t.Errorf("the guest's PD is not marked write-tracked:\n%s", boxText(pd))
	}
}

// rowText joins the texts of the highlighted row.
func rowText(sc *render.Scene, h render.Highlight) string {
	b, ok := sc.Box(h.Box)
	if !ok || h.Row < 0 || h.Row >= len(b.Rows) {
		return ""
	}
	var s []string
	for _, t := range b.Rows[h.Row].Texts {
		s = append(s, t.S)
	}
	return strings.Join(s, " ")
}

// TestShadowWalkCounter: at the end of every walk of the shadow tables in
// the built-in scenarios, the counter says as many references as the
// engine's result.
func TestShadowWalkCounter(t *testing.T) {
	for _, name := range scenarios.Builtin() {
		tl := timelineOf(t, name)
		if v, _ := tl.Seek(0); !v.Machine.ShadowEnabled() {
			continue
		}
		for a, st := range tl.Steps {
			for i, e := range st.Events {
				if e.Kind != mmu.EvResult || e.Func != "cpu" {
					continue
				}
				v, _ := tl.Seek(tl.StepOf(a, i))
				sc := render.Layout(v, tl, render.Size{W: 870, H: 800})
				if got, want := rootRow(sc, "walk"), fmt.Sprintf("%d refs", st.Result.Refs); got != want {
					t.Errorf("%s step %d: counter %q, the engine %q", name, tl.StepOf(a, i), got, want)
				}
			}
		}
	}
}
