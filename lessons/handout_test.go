package lessons

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"mmuviz/scenarios"
)

// TestBuiltinHandout prints walk-4level: the title and summary, every
// section with its step range and text, and every step of the timeline
// exactly once, in order, with its kernel function.
func TestBuiltinHandout(t *testing.T) {
	h, err := BuiltinHandout("walk-4level")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := h.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"The 4-level page walk\n\nHow a 64-bit guest's virtual address becomes a physical one",
		"Scenario native-4level: 4-level paging: walks, huge pages, faults and A/D bits. Its timeline has steps 0 to 102.",
		"Section 1 of 39, step 0\n\nThe 4-level page walk\n\nA 64-bit x86 guest",
		"  step 0: the initial state, before the script runs.\n",
		"Section 9 of 39, steps 8 to 11\n\nA is set only after success",
		"  line 64: read 0x400123 user\n  step 2 [paging64_gva_to_gpa] vCPU 0: read as user of GVA 0x400123",
		"  line 64: read 0x400123 user (continued)\n  step 3 [walk_addr_generic] GVA bits 47:39 = 0 index the PML4",
		"  step 12 [paging64_gva_to_gpa] GVA 0x400123 → GPA 0x200123 → HPA 0x10200123, a 4 KiB page; 4 memory " +
			"references.\n  => ok, GPA 0x200123, HPA 0x10200123, 4 memory references\n",
		"  step 37 [walk_addr_generic] Page fault on the instruction fetch as supervisor of GVA 0x40001234",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the handout lacks %q", want)
		}
	}
	steps := regexp.MustCompile(`(?m)^  step (\d+)[ :]`).FindAllStringSubmatch(out, -1)
	if len(steps) != h.Timeline.Len() {
		t.Errorf("%d step lines for %d steps", len(steps), h.Timeline.Len())
	}
	for i, m := range steps {
		if m[1] != fmt.Sprint(i) {
			t.Errorf("step line %d is step %s", i, m[1])
			break
		}
	}
	if n := strings.Count(out, "\nSection "); n != len(h.Lesson.Sections) {
		t.Errorf("%d section headers for %d sections", n, len(h.Lesson.Sections))
	}
	if _, err := BuiltinHandout("nope"); err == nil || !strings.Contains(err.Error(), `no built-in lesson "nope"`) {
		t.Errorf("unknown lesson: %v", err)
	}
}

const handoutScenario = "title \"Tiny\"\nmemslot 0 gpa=0 size=4M hpa=16M\npaging level4\nmap 0x1000 0x2000 flags=w\n" +
	"script\nread 0x1000\nwrite 0x5000\n"

// tinyLoader serves one scenario file, x.mmu, and the built-ins.
func tinyLoader(src string) ScenarioLoader {
	return func(name string) (*scenarios.Scenario, error) {
		if name == "x.mmu" {
			return scenarios.Load("dir/x.mmu", []byte(src))
		}
		if strings.HasSuffix(name, ".mmu") {
			return nil, errors.New("open dir/" + name + ": no such file or directory")
		}
		return scenarios.LoadBuiltin(name)
	}
}

// TestHandoutErrors: every problem with a lesson's scenario is reported at
// FILE:LINE:COL, in the lesson or in the scenario file.
func TestHandoutErrors(t *testing.T) {
	lesson := func(scenario, body string) []byte {
		return []byte("---\ntitle: T\nscenario:  " + scenario + "\n---\n" + body)
	}
	h, err := OpenHandout("dir/l.md", lesson("x.mmu", "Intro.\n\n<!-- step 2 -->\nThe write.\n"),
		tinyLoader(handoutScenario))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := h.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Scenario x: Tiny. Its timeline has steps 0 to 17.", "Section 2 of 2, steps 2 to 17",
		"  line 6: read 0x1000 (continued)\n  step 2 [walk_addr_generic]", "  line 7: write 0x5000\n"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the handout lacks %q:\n%s", want, b.String())
		}
	}
	tests := []struct {
		file     string
		src      []byte
		scenario string // x.mmu's text
		want     string
	}{
		{"l.md", lesson("nope", ""), "", `l.md:3:12: scenario "nope": no built-in scenario "nope"`},
		{"l.md", lesson("missing.mmu", ""), "", `l.md:3:12: scenario "missing.mmu": open dir/missing.mmu: no such file`},
		{"l.md", lesson("x.mmu", ""), "mapp 0 0\n", `dir/x.mmu:1:1: unknown command "mapp"`},
		{"l.md", lesson("x.mmu", ""), handoutScenario + "print entry 0x9000000 level=1\n",
			"dir/x.mmu:8:13: print: the PDE for GVA 0x9000000"},
		{"l.md", lesson("x.mmu", "<!-- step 18 -->\nLate.\n"), handoutScenario,
			"l.md:5:1: step 18 is past the end of the scenario's timeline, which has steps 0 to 17"},
		{"l.md", lesson("native-4level", "[late](#step=200)\n"), "", "l.md:5:1: jump link to step 200"},
		{"l.md", []byte("---\ntitle: T\n---\n"), "", `l.md:1:1: the front matter has no "scenario"`},
		{"l.md", lesson("x.mmu", ""), "", ""}, // empty scenario: a machine with nothing to do
	}
	for _, tc := range tests {
		_, err := OpenHandout(tc.file, tc.src, tinyLoader(tc.scenario))
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.src, err)
			}
			continue
		}
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.src, err, tc.want)
		}
	}
	_, err = OpenHandout("l.md", lesson("x.mmu", ""), nil)
	if err == nil || !strings.HasPrefix(err.Error(), `l.md:3:12: scenario "x.mmu": a scenario file (x.mmu) needs`) {
		t.Errorf("a .mmu scenario without a loader: %v", err)
	}
	if p := frontKeyPos("f.md", []byte("\uFEFF---\ntitle: x\n---\nscenario: y\n"), "scenario"); p.Line != 1 || p.Col != 1 {
		t.Errorf("a scenario key after the front matter counts: %v", p)
	}
}
