package lessons

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"mmuviz/scenarios"
)

const front = "---\ntitle: T\nscenario: s\n---\n"

// mustParse parses a lesson or fails the test.
func mustParse(t *testing.T, src string) *Lesson {
	t.Helper()
	l, err := Parse("t.md", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return l
}

// spans returns the sections as "from:to@line".
func spans(l *Lesson) string {
	var s []string
	for _, sec := range l.Sections {
		s = append(s, fmt.Sprintf("%d:%d@%d", sec.From, sec.To, sec.Line))
	}
	return strings.Join(s, " ")
}

func TestSections(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"no markers", "Hello.\n", "0:-1@5"},
		{"empty", "", ""},
		{"prelude", "Intro.\n\n<!-- step 2 -->\nTwo.\n\n<!-- step 5 -->\nFive.\n", "0:1@5 2:4@7 5:-1@10"},
		{"no prelude", "\n\n<!-- step 2 -->\nTwo.\n<!-- step 3 -->\n", "2:2@7 3:-1@9"},
		{"step 0 joins the prelude", "# Title\n\n<!-- step 0 -->\nZero.\n<!-- step 1 -->\nOne.\n", "0:0@5 1:-1@9"},
		{"step 0 first", "<!-- step 0 -->\nZero.\n<!-- step 1 -->\n", "0:0@5 1:-1@7"},
		{"indented, spaced", "Intro.\n\n   <!--step 4-->  \n\n<!--   STEP   7   -->\n", "0:3@5 4:6@7 7:-1@9"},
		{"marker interrupts a paragraph", "Intro\n<!-- step 1 -->\nOne\n", "0:0@5 1:-1@6"},
		{"marker in code is text", "```\n<!-- step 3 -->\n```\n", "0:-1@5"},
		{"other comments are not markers", "<!-- stepping -->\n<!-- TODO step 3 -->\n", "0:-1@5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := mustParse(t, front+tt.body)
			if got := spans(l); got != tt.want {
				t.Errorf("sections %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFrontMatter(t *testing.T) {
	src := "\uFEFF---  \r\n# a comment\n\ntitle:   \"Walk \\\"it\\\" \\\\ now\"  \r\nscenario: four-level\n" +
		"  variant: upstream  \nsummary: a: b # c\nseeds: 001.txt , 004.txt,x\n---\nBody.\n"
	l, err := Parse("dir/sub/walk.md", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := Lesson{Name: "walk", Title: `Walk "it" \ now`, Scenario: "four-level", Variant: "upstream",
		Summary: "a: b # c", Seeds: []string{"001.txt", "004.txt", "x"}}
	if l.Name != want.Name || l.Title != want.Title || l.Scenario != want.Scenario || l.Variant != want.Variant ||
		l.Summary != want.Summary || strings.Join(l.Seeds, "|") != strings.Join(want.Seeds, "|") {
		t.Errorf("got  %+v\nwant %+v", l, want)
	}
	if len(l.Sections) != 1 || l.Sections[0].Line != 10 || l.Sections[0].HTML != "<p>Body.</p>\n" {
		t.Errorf("sections %+v", l.Sections)
	}
	l = mustParse(t, "---\ntitle: T\nscenario: s\nseeds:\n---\n")
	if l.Seeds != nil || l.Sections != nil {
		t.Errorf("empty seeds and body: %+v", l)
	}
}

func TestErrors(t *testing.T) {
	long := strings.Repeat("x", MaxSize)
	tests := []struct{ src, want string }{
		{"", `t.md:1:1: expected front matter: a lesson starts with a line "---", then lines "key: value" ` +
			`(title, scenario, ...), then a line "---"; found an empty line`},
		{"# Title\n", `t.md:1:1: expected front matter: a lesson starts with a line "---", then lines "key: value" ` +
			`(title, scenario, ...), then a line "---"; found "# Title"`},
		{"---\ntitle: T\n", `t.md:1:1: the front matter that starts here never ends: close it with a line "---"`},
		{"---\ntitle: T\nscenario s\n---\n", `t.md:3:1: expected "key: value" in the front matter, found "scenario s"`},
		{"---\ntitle: T\n  author: me\n---\n",
			`t.md:3:3: unknown front matter key "author" (the keys are title, scenario, variant, summary, seeds)`},
		{"---\ntitle: T\ntitle: U\n---\n", `t.md:3:1: front matter key "title" given twice (first on line 2)`},
		{"---\ntitle: T\n---\n", `t.md:1:1: the front matter has no "scenario"; add a line "scenario: ..."`},
		{"---\nscenario: s\n---\n", `t.md:1:1: the front matter has no "title"; add a line "title: ..."`},
		{"---\ntitle: \"\"\nscenario: s\n---\n", `t.md:2:1: front matter key "title" is empty`},
		{"---\ntitle: \"T\nscenario: s\n---\n", `t.md:2:8: unterminated quoted value: add a closing "`},
		{"---\ntitle: \"T\" x\nscenario: s\n---\n", `t.md:2:11: unexpected text after the closing quote: " x"`},
		{"---\ntitle: T\nscenario: s\nseeds: a,,b\n---\n", `t.md:4:8: empty item in the list of seeds "a,,b"`},
		{front + "x\n\n<!-- step 3 -->\n<!-- step 3 -->\n", `t.md:8:1: step marker 3 does not come after the ` +
			`previous marker (step 3, line 7): the step numbers of markers must increase`},
		{front + "<!-- step 5 -->\n\n  <!-- step 2 -->\n", `t.md:7:3: step marker 2 does not come after the ` +
			`previous marker (step 5, line 5): the step numbers of markers must increase`},
		{front + "<!-- step 0 -->\n<!-- step 0 -->\n", `t.md:6:1: step marker 0 does not come after the ` +
			`previous marker (step 0, line 5): the step numbers of markers must increase`},
		{front + "<!-- step x -->\n", `t.md:5:1: bad step marker: expected <!-- step N --> with N a whole ` +
			`number, found "<!-- step x -->"`},
		{front + "<!-- step -->\n", `t.md:5:1: bad step marker: expected <!-- step N --> with N a whole ` +
			`number, found "<!-- step -->"`},
		{front + "<!-- step -1 -->\n", `t.md:5:1: bad step marker: expected <!-- step N --> with N a whole ` +
			`number, found "<!-- step -1 -->"`},
		{front + "<!-- step 1 2 -->\n", `t.md:5:1: bad step marker: expected <!-- step N --> with N a whole ` +
			`number, found "<!-- step 1 2 -->"`},
		{front + "<!-- step 99999999999 -->\n", `t.md:5:1: bad step marker: expected <!-- step N --> with N a ` +
			`whole number, found "<!-- step 99999999999 -->"`},
		{front + "<!-- step 3\n-->\n", `t.md:5:1: a step marker must be on one line: write <!-- step N -->`},
		{front + "<!-- step 3 --> more\n", `t.md:5:1: a step marker must be alone on its line, found "more" after it`},
		{front + "Text <!-- step 3 --> more\n", `t.md:5:6: a step marker must be alone on its line, ` +
			`with blank lines or other blocks around it`},
		{front + "- item\n\n  <!-- step 3 -->\n", `t.md:7:3: a step marker must start at the left margin, ` +
			`outside any list or quote`},
		{front + "> quote\n> <!-- step 3 -->\n", `t.md:6:3: a step marker must start at the left margin, ` +
			`outside any list or quote`},
		{front + "See [x](#step=y).\n", `t.md:5:5: bad jump link "#step=y": expected #step=N with N a whole number`},
		{"---\ntitle: T\nscenario: s\n---\n" + long, `t.md:1:1: lesson is 1048605 bytes, larger than the limit of ` +
			`1 MiB (1048576 bytes)`},
	}
	for _, tt := range tests {
		l, err := Parse("t.md", []byte(tt.src))
		var e *scenarios.Error
		if err == nil || l != nil || !errors.As(err, &e) || err.Error() != tt.want {
			t.Errorf("Parse(%.60q):\n got %v\nwant %s", tt.src, err, tt.want)
		}
	}
}

func TestResolve(t *testing.T) {
	l := mustParse(t, front+"Intro.\n<!-- step 2 -->\nTwo [jump](#step=4).\n<!-- step 5 -->\nFive.\n")
	for _, tt := range []struct {
		total int
		want  string
	}{
		{0, "t.md:5:1: step 0 is past the end of the scenario's timeline, which has no steps"},
		{1, "t.md:6:1: step 2 is past the end of the scenario's timeline, which has only step 0"},
		{5, "t.md:8:1: step 5 is past the end of the scenario's timeline, which has steps 0 to 4"},
	} {
		if err := l.Resolve(tt.total); err == nil || err.Error() != tt.want {
			t.Errorf("Resolve(%d) = %v, want %s", tt.total, err, tt.want)
		}
	}
	if got := spans(l); got != "0:1@5 2:4@6 5:-1@8" {
		t.Errorf("a failed Resolve changed the sections: %s", got)
	}
	// SectionAt before Resolve: the last section is open-ended.
	for step, want := range map[int]int{-1: -1, 0: 0, 1: 0, 2: 1, 4: 1, 5: 2, 1000: 2} {
		if got := l.SectionAt(step); got != want {
			t.Errorf("before Resolve, SectionAt(%d) = %d, want %d", step, got, want)
		}
	}
	if err := l.Resolve(9); err != nil {
		t.Fatal(err)
	}
	if got := spans(l); got != "0:1@5 2:4@6 5:8@8" {
		t.Errorf("after Resolve(9): %s", got)
	}
	for step, want := range map[int]int{-1: -1, 0: 0, 1: 0, 2: 1, 3: 1, 4: 1, 5: 2, 8: 2, 9: -1} {
		if got := l.SectionAt(step); got != want {
			t.Errorf("after Resolve, SectionAt(%d) = %d, want %d", step, got, want)
		}
	}
	if err := l.Resolve(6); err != nil || l.Sections[2].To != 5 {
		t.Errorf("Resolve again: %v, %+v", err, l.Sections[2])
	}

	l = mustParse(t, front+"[late](#step=20)\n")
	if err := l.Resolve(20); err == nil || err.Error() !=
		"t.md:5:1: jump link to step 20 is past the end of the scenario's timeline, which has steps 0 to 19" {
		t.Errorf("Resolve with a far jump: %v", err)
	}
	l = mustParse(t, front+"<!-- step 3 -->\nThree.\n")
	if err := l.Resolve(4); err != nil || l.SectionAt(2) != -1 || l.SectionAt(3) != 0 || l.SectionAt(4) != -1 {
		t.Errorf("a lesson starting at step 3: %v %+v", err, l.Sections)
	}
	l = mustParse(t, front)
	if err := l.Resolve(0); err != nil || l.SectionAt(0) != -1 {
		t.Errorf("an empty lesson: %v", err)
	}
}

func TestFixture(t *testing.T) {
	src, err := os.ReadFile("testdata/walk.md")
	if err != nil {
		t.Fatal(err)
	}
	l, err := Parse("testdata/walk.md", src)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Resolve(16); err != nil {
		t.Fatal(err)
	}
	want := "0:0@9 1:1@37 2:2@54 3:4@75 5:6@87 7:7@105 8:8@122 9:10@131 11:11@147 12:13@158 14:15@173"
	if got := spans(l); got != want {
		t.Errorf("sections\n got %s\nwant %s", got, want)
	}
	if l.Title != "Walking a 4-level page table" || l.Scenario != "four-level" || len(l.Seeds) != 2 {
		t.Errorf("front matter: %+v", l)
	}
	last := l.Sections[len(l.Sections)-1]
	if !strings.Contains(last.HTML, `<div class="footnotes" role="doc-endnotes">`) ||
		!strings.Contains(last.HTML, `<li id="fn:1">`) || !strings.Contains(last.HTML, `<li id="fn:2">`) {
		t.Errorf("the footnotes are not in the last section:\n%s", last.HTML)
	}
	if !strings.Contains(l.Sections[0].HTML, `<sup id="fnref:1"><a href="#fn:1" class="footnote-ref"`) ||
		!strings.Contains(l.Sections[4].HTML, `<a href="#fn:2"`) {
		t.Errorf("footnote references do not link to the footnotes")
	}
	if !strings.Contains(l.Sections[0].HTML, `<h1 id="walking-a-4-level-page-table">`) {
		t.Errorf("no heading id:\n%s", l.Sections[0].HTML)
	}
	for _, s := range l.Sections {
		if strings.Contains(s.HTML, "step ") && strings.Contains(s.HTML, "<!--") &&
			!strings.Contains(s.HTML, "raw HTML omitted") {
			t.Errorf("a marker reached the HTML:\n%s", s.HTML)
		}
	}
}
