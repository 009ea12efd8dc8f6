package render_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"mmuviz/mmu"
	"mmuviz/render"
	"mmuviz/scenarios"
)

// nestedRuns are the nested scenarios and their variants.
var nestedRuns = [][2]string{{"nested-ept", ""}, {"nested-ept", "constants-once"}, {"nested-npt-32bit-l1", ""},
	{"nested-npt-32bit-l1", "level-expanded"}, {"nested-npt-4level-l1", ""}, {"nested-npt-4level-l1", "level-expanded"},
	{"nested-npt-pae-l1", ""}}

// hostTree lists the tables reachable from root through present non-leaf
// entries of a host table of levels levels.
func hostTree(m *mmu.Machine, root mmu.HPA, levels int) map[mmu.HPA]bool {
	out := map[mmu.HPA]bool{root: true}
	var visit func(table mmu.HPA, level int)
	visit = func(table mmu.HPA, level int) {
		if level <= 1 {
			return
		}
		for _, e := range m.HostTable(table) {
			if next, leaf := mmu.SPTEPointsTo(e, level); m.SPTEPresent(e) && !leaf && !out[next] {
				out[next] = true
				visit(next, level-1)
			}
		}
	}
	visit(root, levels)
	return out
}

// hostBoxes lists the host table boxes of a scene by address, with their
// titles.
func hostBoxes(t *testing.T, sc *render.Scene) map[mmu.HPA]string {
	out := map[mmu.HPA]string{}
	for _, b := range sc.Boxes() {
		if !strings.HasPrefix(b.ID, "ept:") {
			continue
		}
		hpa, err := strconv.ParseUint(strings.TrimPrefix(b.ID, "ept:0x"), 16, 64)
		if err != nil {
			t.Fatalf("host box %s", b.ID)
		}
		out[mmu.HPA(hpa)] = b.Title[0].S
	}
	return out
}

// TestNestedHostTables checks, at every reference of every 2D walk of the
// nested scenarios, that the host column and the grid show the tables the
// processor walks: guest_mmu's EPT02/NPT02 for L2 (every box on its tree,
// named so, the grid counting its levels), root_mmu's EPT/NPT for L1
// (every box a TDP MMU page), with the read entry's table highlighted.
func TestNestedHostTables(t *testing.T) {
	seen := map[string]int{}
	for _, run := range nestedRuns {
		s, err := scenarios.LoadBuiltinVariant(run[0], run[1])
		if err != nil {
			t.Fatal(err)
		}
		tl := s.Timeline()
		l2refs := seen["guest_mmu"]
		for step := 1; step < tl.Len(); step++ {
			a, ev := tl.Locate(step)
			e := &tl.Steps[a].Events[ev]
			if !(e.TwoD && e.Ref > 0 && e.Kind == mmu.EvRead && e.HostLevel > 0) {
				continue
			}
			v, err := tl.Seek(step)
			if err != nil {
				t.Fatal(err)
			}
			sc := render.Layout(v, tl, render.Size{W: 1280, H: 800})
			for _, p := range checkNestedHost(t, sc, v, e) {
				t.Errorf("%s:%s step %d (%s ref %d): %s", run[0], run[1], step, e.MMU, e.Ref, p)
			}
			seen[e.MMU]++
		}
		if seen["guest_mmu"] == l2refs {
			t.Errorf("%s:%s: no reference through guest_mmu", run[0], run[1])
		}
	}
	if seen["root_mmu"] == 0 {
		t.Error("no reference of L1's through root_mmu")
	}
}

// checkNestedHost checks one reference's scene.
func checkNestedHost(t *testing.T, sc *render.Scene, v *mmu.View, e *mmu.Event) []string {
	var bad []string
	format, _ := v.Machine.TDPFormat()
	boxes := hostBoxes(t, sc)
	grid, ok := sc.Box("grid")
	if !ok {
		return []string{"no grid"}
	}
	gridTitle := grid.Title[0].S
	var tree map[mmu.HPA]bool
	name, levels := format.Name, format.Levels
	if e.MMU == "guest_mmu" {
		root, lv, ok := v.Machine.NestedHostRoot(e.VCPU)
		if !ok {
			return []string{"a reference through guest_mmu without its root"}
		}
		tree, name, levels = hostTree(v.Machine, root, lv), format.Name+"02", lv
		if !strings.Contains(gridTitle, " L2 × ") {
			bad = append(bad, fmt.Sprintf("grid %q does not say L2", gridTitle))
		}
	} else {
		root, _ := v.Machine.TDPRoot(e.VCPU)
		tree, name = hostTree(v.Machine, root, levels), format.Name+"01"
	}
	if want := fmt.Sprintf(" %d-level %s", levels, name); !strings.HasSuffix(gridTitle, want) {
		bad = append(bad, fmt.Sprintf("grid %q, want it to end %q", gridTitle, want))
	}
	for hpa, title := range boxes {
		if !tree[hpa] {
			bad = append(bad, fmt.Sprintf("box %q is not a table of %s's tree", title, e.MMU))
		}
		if !strings.HasPrefix(title, name+" ") {
			bad = append(bad, fmt.Sprintf("box %q is not named %s", title, name))
		}
	}
	if want := fmt.Sprintf("ept:%#x", e.Table); sc.Highlight.Box != want {
		bad = append(bad, fmt.Sprintf("highlight on %s, the reference reads %s", sc.Highlight.Box, want))
	}
	return bad
}

// TestNestedStoreHighlight checks L1's stores into its EPT12/NPT12: the
// action's opening step (KVM sees the store trap) highlights the entry
// in L1's nested-tables panel, and the step the store lands marks it
// written, at the index the entry has in its table.
func TestNestedStoreHighlight(t *testing.T) {
	for _, run := range nestedRuns {
		s, err := scenarios.LoadBuiltinVariant(run[0], run[1])
		if err != nil {
			t.Fatal(err)
		}
		tl := s.Timeline()
		stores := 0
		for step := 1; step < tl.Len(); step++ {
			a, ev := tl.Locate(step)
			var vcpu, level int
			var l2 mmu.GPA
			switch act := tl.Steps[a].Action.(type) {
			case *mmu.WriteEPT12Entry:
				vcpu, l2, level = act.VCPU, act.L2GPA, act.Level
			case *mmu.WriteNPT12Entry:
				vcpu, l2, level = act.VCPU, act.L2GPA, act.Level
			default:
				continue
			}
			e := &tl.Steps[a].Events[ev]
			v, _ := tl.Seek(step)
			ref, err := v.Machine.NestedEntryAt(vcpu, l2, level)
			if err != nil {
				t.Fatal(err)
			}
			opening := ev == 0
			landed := e.Kind == mmu.EvWrite && e.Space == mmu.SpaceGPA && mmu.GPA(e.Addr) == ref.Addr
			if !opening && !landed {
				continue
			}
			sc := render.Layout(v, tl, render.Size{W: 1280, H: 800})
			h := sc.Highlight
			b, ok := sc.Box(h.Box)
			want := fmt.Sprintf("n12:%#x", uint64(ref.Table))
			switch {
			case !ok || h.Box != want:
				t.Errorf("%s:%s step %d: highlight on %q, want L1's entry in %s", run[0], run[1], step, h.Box, want)
			case b.Rows[h.Row].Index != ref.Index:
				t.Errorf("%s:%s step %d: row %d lit, L1 stores to entry %d", run[0], run[1], step,
					b.Rows[h.Row].Index, ref.Index)
			case landed && b.Rows[h.Row].Style != render.RowWritten:
				t.Errorf("%s:%s step %d: the store landed, the entry is %v", run[0], run[1], step, b.Rows[h.Row].Style)
			}
			stores++
		}
		if strings.HasPrefix(run[0], "nested-ept") || run[0] == "nested-npt-32bit-l1" {
			if stores == 0 {
				t.Errorf("%s:%s: no store of L1's into its nested tables checked", run[0], run[1])
			}
		}
	}
}

// TestNestedWalkAfterExit checks that once L1 has taken the exit of an L2
// access, the walk panel still draws L2's tables (titled L2 GPA, read from
// L2's space), and the header says the address is L2's.
func TestNestedWalkAfterExit(t *testing.T) {
	s, err := scenarios.LoadBuiltin("nested-npt-32bit-l1")
	if err != nil {
		t.Fatal(err)
	}
	tl := s.Timeline()
	checked := 0
	for step := 1; step < tl.Len(); step++ {
		a, ev := tl.Locate(step)
		st := tl.Steps[a]
		if _, ok := st.Action.(*mmu.Access); !ok || st.Events[0].MMU != "nested_mmu" ||
			st.Events[ev].Func != "nested_svm_uninit_mmu_context" {
			continue
		}
		v, _ := tl.Seek(step)
		if v.Machine.VCPUs[0].GuestMode {
			t.Fatalf("step %d: still in guest mode after nested_svm_uninit_mmu_context", step)
		}
		sc := render.Layout(v, tl, render.Size{W: 1280, H: 800})
		tables := 0
		for _, b := range sc.Boxes() {
			if strings.HasPrefix(b.ID, "gpt:") {
				tables++
				if !strings.Contains(b.Title[0].S, "@ L2 GPA") {
					t.Errorf("step %d: table %q is not L2's", step, b.Title[0].S)
				}
			}
		}
		if tables != mmu.RootLevel(v.Machine.L2Mode(0)) {
			t.Errorf("step %d: %d of L2's tables drawn, want %d", step, tables, mmu.RootLevel(v.Machine.L2Mode(0)))
		}
		found := false
		for _, p := range sc.Panels {
			for _, tx := range p.Texts {
				found = found || strings.HasPrefix(tx.S, "L2 GVA ")
			}
		}
		if !found {
			t.Errorf("step %d: the header does not say L2 GVA", step)
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no L2 access ended in an exit to L1")
	}
}
