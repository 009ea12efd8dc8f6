package main

import (
	"strings"
	"testing"

	"mmuviz/lessons"
	"mmuviz/scenarios"
)

// TestBuiltinLessons checks that every built-in lesson names a built-in
// scenario whose script runs under the lesson's variant, and that its step
// markers and jump links lie within that timeline.
func TestBuiltinLessons(t *testing.T) {
	names := lessons.Builtin()
	found := false
	for _, name := range names {
		found = found || name == "walk-4level"
		l, err := lessons.LoadBuiltin(name)
		if err != nil {
			t.Errorf("lesson %s: %v", name, err)
			continue
		}
		s, err := scenarios.LoadBuiltinVariant(l.Scenario, l.Variant)
		if err != nil {
			t.Errorf("lesson %s: scenario %q: %v", name, l.Scenario, err)
			continue
		}
		tl := s.Timeline()
		if tl.Err != nil {
			t.Errorf("lesson %s: scenario %s: %v", name, l.Scenario, s.ActionError(tl.ErrStep, tl.Err))
		}
		if err := l.Resolve(tl.Len()); err != nil {
			t.Errorf("lesson %s: %v", name, err)
		}
		if len(l.Sections) < 2 {
			t.Errorf("lesson %s has %d sections", name, len(l.Sections))
		}
	}
	if !found {
		t.Errorf("walk-4level is not among the built-in lessons %v", names)
	}
}

// TestWalk4LevelAnchors pins the steps the walk-4level lesson talks about
// to the events of native-4level, so that an edit of the scenario that
// moves them fails here instead of silently misplacing the prose.
func TestWalk4LevelAnchors(t *testing.T) {
	s, err := scenarios.LoadBuiltin("native-4level")
	if err != nil {
		t.Fatal(err)
	}
	tl := s.Timeline()
	anchors := map[int]string{
		1:   "kvm_set_cr3: cr3 ← 0x100000",
		2:   "read as user of GVA 0x400123",
		3:   "the PML4E at GPA 0x100000 (HPA 0x10100000) is 0x101007",
		4:   "the PDPTE at GPA 0x101000",
		5:   "the PDE at GPA 0x102010",
		6:   "the PTE at GPA 0x103000 (HPA 0x10103000) is 0x200007",
		7:   "a read as user is allowed",
		8:   "A is set in the PML4E",
		11:  "A is set in the PTE",
		12:  "GPA 0x200123 → HPA 0x10200123, a 4 KiB page; 4 memory references",
		13:  "write as user of GVA 0x400123",
		19:  "D is set in the PTE at GPA 0x103000 (0x200027 → 0x200067)",
		20:  "4 memory references",
		21:  "GVA 0x600abc",
		24:  "is 0x800083 (P W PS): it maps a 2 MiB page",
		28:  "GVA 0x40001234",
		30:  "is 0x8000000040000083 (P W PS NX): it maps a 1 GiB page",
		33:  "a 1 GiB page; 2 memory references",
		34:  "instruction fetch as supervisor of GVA 0x40001234",
		37:  "Error code 0x11 = P I/D",
		38:  "read as user of GVA 0x800000",
		41:  "0x0: not present",
		42:  "Error code 0x4 = U",
		43:  "write as user of GVA 0x401000",
		47:  "is 0x201005 (P U)",
		48:  "Error code 0x7 = P W U",
		49:  "stores 0x201007 to GPA 0x103008",
		50:  "write as user of GVA 0x401000",
		56:  "A and D are set in the PTE at GPA 0x103008 (0x201007 → 0x201067)",
		58:  "GVA 0x402000",
		63:  "Error code 0xd = P U RSVD",
		64:  "GVA 0x403000",
		69:  "Error code 0x27 = P W U PK",
		70:  "read as supervisor of GVA 0x400123",
		75:  "Error code 0x1 = P;",
		76:  "rflags ← 0x40000",
		83:  "GVA 0x400123 → GPA 0x200123",
		84:  "write as supervisor of GVA 0x404000",
		89:  "Error code 0x3 = P W",
		90:  "kvm_set_cr0",
		92:  "write as supervisor of GVA 0x404000",
		98:  "A and D are set in the PTE",
		100: "GVA 0x800000000000",
		101: "#GP(0)",
		102: "0x200067 (P W U A D)",
	}
	for step, want := range anchors {
		v, err := tl.Seek(step)
		if err != nil {
			t.Errorf("step %d: %v", step, err)
			continue
		}
		if !strings.Contains(v.Event.Text, want) {
			t.Errorf("step %d is %q, the lesson expects %q", step, v.Event.Text, want)
		}
	}
	if tl.Len() != 103 {
		t.Errorf("native-4level has %d steps, the lesson was written for 103", tl.Len())
	}
}
