package render_test

import (
	"fmt"
	"strings"
	"testing"

	"mmuviz/mmu"
	"mmuviz/render"
)

// boxID names a box of the TD panel: kind "shared", "mirror" or "sept".
func boxID(kind string, hpa mmu.HPA) string { return fmt.Sprintf("%s:0x%x", kind, uint64(hpa)) }

// edgeBetween reports whether the scene has an edge from one box to
// another, dashed as asked.
func edgeBetween(sc *render.Scene, from, to string, dashed bool) bool {
	for _, e := range sc.Edges() {
		if e.From == from && e.To == to && e.Dashed == dashed {
			return true
		}
	}
	return false
}

// checkTDXPanel checks the TD panel against the engine's views: a box for
// every page of the three trees, each accounting for its 512 entries, a
// dashed arrow from each mirror page to its S-EPT page, and the step's
// entry lit where it is drawn.
func checkTDXPanel(sc *render.Scene, v *mmu.View) []string {
	var bad []string
	m := v.Machine
	info, _ := m.TDX()
	mroot, hasMirror := m.TDXMirrorRoot(0)
	added := map[mmu.HPA]bool{} // S-EPT pages the TDX module has (after TDH.MEM.SEPT.ADD)
	for _, p := range m.SEPTPages() {
		added[p.HPA] = true
	}
	for _, p := range m.TDPPages() {
		kind := "shared"
		if p.Mirror {
			kind = "mirror"
		}
		if _, ok := sc.Box(boxID(kind, p.HPA)); !ok {
			bad = append(bad, "no box for the "+kind+" page "+p.HPA.String())
		}
		switch {
		case p.Mirror && added[p.ExternalSPT] && !edgeBetween(sc, boxID("mirror", p.HPA), boxID("sept", p.ExternalSPT), true):
			bad = append(bad, "no external_spt arrow from mirror page "+p.HPA.String())
		case p.Mirror && p.HPA == mroot && hasMirror && !info.Destroyed &&
			!edgeBetween(sc, boxID("mirror", p.HPA), boxID("sept", info.SEPTRoot), true):
			bad = append(bad, "no arrow from the mirror root to the S-EPT root")
		}
	}
	if !info.Destroyed {
		for _, p := range m.SEPTPages() {
			if _, ok := sc.Box(boxID("sept", p.HPA)); !ok {
				bad = append(bad, "no box for S-EPT page "+p.HPA.String())
			}
		}
	}
	for _, b := range sc.Boxes() {
		if !strings.HasPrefix(b.ID, "mirror:") && !strings.HasPrefix(b.ID, "sept:") && !strings.HasPrefix(b.ID, "shared:") {
			continue
		}
		next := 0
		for _, r := range b.Rows {
			if r.Index != next {
				bad = append(bad, fmt.Sprintf("%s: row starts at %d, want %d", b.ID, r.Index, next))
			}
			next = r.Index + r.Count
		}
		if next != 512 {
			bad = append(bad, fmt.Sprintf("%s: rows account for %d entries", b.ID, next))
		}
	}
	if e := v.Event; e != nil && e.HasEntry && e.Space == mmu.SpaceHPA && isMirrorTable(m, mmu.HPA(e.Table)) {
		if !sc.Highlight.Valid || sc.Highlight.Box != boxID("mirror", mmu.HPA(e.Table)) {
			bad = append(bad, fmt.Sprintf("a mirror SPTE step lights %q", sc.Highlight.Box))
		}
	}
	return bad
}

func isMirrorTable(m *mmu.Machine, hpa mmu.HPA) bool {
	for _, p := range m.TDPPages() {
		if p.HPA == hpa {
			return p.Mirror
		}
	}
	return false
}

// TestTDXPanelEveryStep lays out every step of the TD scenario and checks
// the TD panel; the host column names the S-EPT while the processor walks
// a private GPA; and a VM that is no TD has no TD panel.
func TestTDXPanelEveryStep(t *testing.T) {
	tl := timelineOf(t, "tdx-private-shared")
	seenSEPT, seenShared, lit := false, false, 0
	for step := 0; step < tl.Len(); step++ {
		v, err := tl.Seek(step)
		if err != nil {
			t.Fatal(err)
		}
		sc := render.Layout(v, tl, render.Size{W: 870, H: 800})
		if _, ok := panelOf(sc, "tdx"); !ok {
			t.Fatalf("step %d: no TD panel", step)
		}
		for _, p := range checkTDXPanel(sc, v) {
			t.Errorf("step %d: %s", step, p)
		}
		if strings.HasPrefix(sc.Highlight.Box, "mirror:") {
			lit++
		}
		if e := v.Event; e != nil && e.Func == "cpu" && e.TwoD && e.Kind == mmu.EvRead && e.HostLevel > 0 {
			title := hostTitles(sc)
			switch {
			case strings.Contains(e.Text, "through the S-EPT") && !strings.Contains(title, "S-EPT PML4"):
				t.Errorf("step %d: the processor walks the S-EPT, the host column shows %s", step, title)
			case strings.Contains(e.Text, "through the S-EPT"):
				seenSEPT = true
			case strings.Contains(e.Text, "through EPT"):
				seenShared = strings.Contains(title, "EPT PML4") && !strings.Contains(title, "S-EPT")
			}
		}
		if t.Failed() {
			t.Fatalf("first failing scene:\n%s", dump(sc))
		}
	}
	if !seenSEPT || !seenShared || lit == 0 {
		t.Errorf("S-EPT walk shown %v, shared walk shown %v, mirror steps lit %d", seenSEPT, seenShared, lit)
	}
	other := timelineOf(t, "ept-fault-populate")
	v, _ := other.Seek(other.Len() - 1)
	if _, ok := panelOf(render.Layout(v, other, render.Size{W: 870, H: 800}), "tdx"); ok {
		t.Error("a VM that is no TD has a TD panel")
	}
}

// panelOf finds a panel by ID.
func panelOf(sc *render.Scene, id string) (render.Panel, bool) {
	for _, p := range sc.Panels {
		if p.ID == id {
			return p, true
		}
	}
	return render.Panel{}, false
}

// hostTitles joins the titles of the host column's boxes.
func hostTitles(sc *render.Scene) string {
	p, _ := panelOf(sc, "host")
	var out []string
	for _, b := range p.Boxes {
		if len(b.Title) > 0 {
			out = append(out, b.Title[0].S)
		}
	}
	return strings.Join(out, " | ")
}
