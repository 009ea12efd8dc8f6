package render_test

import (
	"fmt"
	"strings"
	"testing"

	"mmuviz/mmu"
	"mmuviz/render"
	"mmuviz/scenarios"
)

// rootsRow is the slot value and the whole text of row name ("current",
// "prev[0]", ...) of vCPU id's roots box; ok is false without one.
func rootsRow(sc *render.Scene, id int, name string) (val, text string, ok bool) {
	b, found := sc.Box(fmt.Sprintf("sroots:%d", id))
	if !found {
		return "", "", false
	}
	for _, r := range b.Rows {
		if len(r.Texts) >= 3 && r.Texts[len(r.Texts)-3].S == name {
			var s []string
			for _, t := range r.Texts {
				s = append(s, t.S)
			}
			return r.Texts[len(r.Texts)-2].S, strings.Join(s, " "), true
		}
	}
	return "", "", false
}

// checkRootsBoxes compares every vCPU's roots box with the engine's
// ShadowRoots: the current root, prev_roots in MRU order, obsolete ones
// marked in words.
func checkRootsBoxes(sc *render.Scene, v *mmu.View) []string {
	var bad []string
	for _, vc := range v.Machine.VCPUs {
		r, ok := v.Machine.ShadowRoots(vc.ID)
		if !ok {
			continue
		}
		val, _, ok := rootsRow(sc, vc.ID, "current")
		if !ok {
			bad = append(bad, fmt.Sprintf("no roots box for vCPU %d", vc.ID))
			continue
		}
		if want := render.RootSlotText(r.Valid, r.PGD, r.Root); val != want {
			bad = append(bad, fmt.Sprintf("vCPU %d current root drawn %q, engine %q", vc.ID, val, want))
		}
		for i, p := range r.Prev {
			name := fmt.Sprintf("prev[%d]", i)
			val, text, _ := rootsRow(sc, vc.ID, name)
			if want := render.RootSlotText(p.Valid, p.PGD, p.Root); val != want {
				bad = append(bad, fmt.Sprintf("vCPU %d %s drawn %q, engine %q", vc.ID, name, val, want))
			}
			marked := strings.Contains(text, "OBSOLETE") || strings.Contains(text, "invalid")
			if p.Obsolete != marked {
				bad = append(bad, fmt.Sprintf("vCPU %d %s obsolete=%v but drawn %q", vc.ID, name, p.Obsolete, text))
			}
		}
	}
	return bad
}

// TestRootsBoxesCR3Switch: at every step of roots-cr3-switch each vCPU's
// roots box shows the engine's current root and prev_roots; a cache hit
// and an eviction highlight their slot.
func TestRootsBoxesCR3Switch(t *testing.T) {
	tl := timelineOf(t, "roots-cr3-switch")
	var hit, evict, free bool
	for step := 0; step < tl.Len(); step++ {
		sc, v := sceneAt(t, tl, step)
		for _, p := range checkRootsBoxes(sc, v) {
			t.Errorf("step %d: %s", step, p)
		}
		e, h := v.Event, sc.Highlight
		if e == nil || !strings.HasPrefix(h.Box, "sroots:") {
			continue
		}
		row := rowText(sc, h)
		switch {
		case strings.HasPrefix(e.Func, "cached_root_find") && strings.Contains(row, "current"):
			hit = true
		case strings.HasPrefix(e.Func, "cached_root_find") && strings.Contains(row, "prev[0]"):
			evict = true
		case e.Func == "kvm_mmu_free_roots" && strings.Contains(row, "prev["):
			free = true
		}
	}
	if !hit || !evict {
		t.Errorf("highlighted slots: hit %v, miss/eviction %v, free %v", hit, evict, free)
	}
}

// TestRootsBoxesObsoletePosted: under the posted patch the obsolete root
// left in prev_roots is drawn and marked OBSOLETE and LEAKED; under every
// variant the boxes match the engine.
func TestRootsBoxesObsoletePosted(t *testing.T) {
	for _, variant := range []string{"posted", "fixed", "reload-all"} {
		s, err := scenarios.LoadBuiltinVariant("roots-zap-obsolete", variant)
		if err != nil {
			t.Fatal(err)
		}
		tl := s.Timeline()
		leaked := false
		for step := 0; step < tl.Len(); step++ {
			sc, v := sceneAt(t, tl, step)
			for _, p := range checkRootsBoxes(sc, v) {
				t.Errorf("%s step %d: %s", variant, step, p)
			}
			for _, o := range v.Machine.ObsoleteRootsHeld() {
				if o.Prev < 0 {
					continue
				}
				_, text, ok := rootsRow(sc, o.VCPU, fmt.Sprintf("prev[%d]", o.Prev))
				if !ok || !strings.Contains(text, "OBSOLETE") || !strings.Contains(text, "LEAKED") {
					t.Errorf("%s step %d: leaked obsolete root of vCPU %d prev[%d] drawn %q", variant, step, o.VCPU, o.Prev, text)
				}
				leaked = true
			}
		}
		if variant == "posted" && !leaked {
			t.Errorf("posted: no step holds a leaked obsolete prev root")
		}
	}
}
