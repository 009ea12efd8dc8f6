package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestCLILessonQuiz runs the real binary: a built-in lesson as a handout,
// a quiz with answers (twice: the same bytes), its JSON and its scenario
// (which `run` accepts), a lesson file with a scenario beside it, and bad
// inputs, which exit 2 with the message.
func TestCLILessonQuiz(t *testing.T) {
	bin := buildCLI(t)
	out, errOut, code := runCLI(t, bin, "lesson", "walk-4level")
	if code != 0 || errOut != "" || !strings.HasPrefix(out, "The 4-level page walk\n") ||
		!strings.Contains(out, "  step 12 [paging64_gva_to_gpa] GVA 0x400123 → GPA 0x200123") {
		t.Errorf("lesson walk-4level: exit %d, stderr %q, stdout %.300q", code, errOut, out)
	}

	out, errOut, code = runCLI(t, bin, "quiz", "-s", "7", "-c")
	again, _, _ := runCLI(t, bin, "quiz", "-c", "-s", "7")
	if code != 0 || errOut != "" || out != again {
		t.Errorf("quiz -s 7 -c: exit %d, stderr %q, same output twice: %v", code, errOut, out == again)
	}
	// The golden files of the lessons package pin seed 7.
	golden := func(name string) string {
		b, err := os.ReadFile("../../lessons/testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for _, want := range append([]string{"mmuviz quiz -s 7 -n 5 -mode any -kind any\n", "Registers:\n  CR0 ",
		"\n  PML4 at GPA 0x100000\n", "      step 2 [walk_addr_generic] GVA bits 47:39 = "},
		strings.SplitAfter(strings.TrimSpace(regexp.MustCompile(`(?m)^\d\. [a-z-]+: `).ReplaceAllString(
			golden("quiz-7-answers.txt"), "    Answer: ")), "\n")...) {
		if !strings.Contains(out, want) {
			t.Errorf("quiz -s 7 -c lacks %q", want)
		}
	}
	if n := strings.Count(out, "    Answer: "); n != 5 {
		t.Errorf("quiz -s 7 -c has %d answers", n)
	}
	problem, _, _ := runCLI(t, bin, "quiz", "-s", "7")
	if problem != golden("quiz-7.txt") || !strings.HasPrefix(out, problem[:strings.Index(problem, "\n 1. ")]) {
		t.Errorf("quiz -s 7 is not lessons/testdata/quiz-7.txt, or -c shows another problem:\n%s", problem)
	}

	out, _, code = runCLI(t, bin, "quiz", "-s", "7", "--json", "-n", "3", "-kind", "refs")
	var q struct {
		Seed      string `json:"seed"`
		Scenario  string `json:"scenario"`
		Questions []struct {
			Kind   string `json:"kind"`
			Answer string `json:"answer"`
			Want   struct {
				Refs *int `json:"refs"`
			} `json:"want"`
		} `json:"questions"`
	}
	if err := json.Unmarshal([]byte(out), &q); err != nil || code != 0 || q.Seed != "7" || len(q.Questions) != 3 ||
		q.Questions[2].Kind != "refs" || q.Questions[2].Want.Refs == nil {
		t.Errorf("quiz --json: exit %d, %v, %+v", code, err, q)
	}

	dir := t.TempDir()
	mmu, _, _ := runCLI(t, bin, "quiz", "-s", "7", "-scenario")
	file := filepath.Join(dir, "q.mmu")
	writeFile(t, file, mmu)
	out, errOut, code = runCLI(t, bin, "run", file)
	_, script, _ := strings.Cut(mmu, "\nscript\n")
	first := strings.Count(mmu, "\n") - strings.Count(script, "\n") + 1
	if want := fmt.Sprintf("line %d: %s\n", first, strings.SplitN(script, "\n", 2)[0]); code != 0 ||
		mmu != golden("quiz-7.mmu") || !strings.HasPrefix(out, want) {
		t.Errorf("run of the quiz's scenario: exit %d, stderr %q\n%.400s", code, errOut, out)
	}

	lesson := filepath.Join(dir, "sub", "l.md")
	writeFile(t, filepath.Join(dir, "sub", "s.mmu"), "memslot 0 gpa=0 size=4M hpa=16M\npaging pae\nscript\nread 0x0\n")
	writeFile(t, lesson, "---\ntitle: Mine\nscenario: s.mmu\n---\nHello.\n\n<!-- step 2 -->\nThe PDPTR.\n")
	out, errOut, code = runCLI(t, bin, "lesson", lesson)
	if code != 0 || !strings.Contains(out, "Section 2 of 2, steps 2 to 3\n\nThe PDPTR.\n\n  line 4: read 0x0 "+
		"(continued)\n  step 2 [get_pdptr]") {
		t.Errorf("lesson with a scenario beside it: exit %d, stderr %q\n%s", code, errOut, out)
	}
	writeFile(t, lesson, "---\ntitle: Mine\nscenario: s.mmu\n---\n<!-- step 9 -->\nLate.\n")
	_, errOut, code = runCLI(t, bin, "lesson", lesson)
	if want := lesson + ":5:1: step 9 is past the end"; code != 2 || !strings.HasPrefix(errOut, want) {
		t.Errorf("marker past the end: exit %d, stderr %q, want %q", code, errOut, want)
	}
	writeFile(t, lesson, "---\ntitle: Mine\nscenario: none.mmu\n---\n")
	_, errOut, code = runCLI(t, bin, "lesson", lesson)
	if want := lesson + `:3:11: scenario "none.mmu": open `; code != 2 || !strings.HasPrefix(errOut, want) {
		t.Errorf("missing scenario: exit %d, stderr %q, want %q", code, errOut, want)
	}
	_, errOut, code = runCLI(t, bin, "quiz", "-mode", "6level")
	if code != 2 || errOut != "mmuviz quiz: unknown paging mode \"6level\" (the modes are 32bit, pae, 4level, "+
		"5level, any)\n" {
		t.Errorf("quiz -mode 6level: exit %d, stderr %q", code, errOut)
	}
}

func writeFile(t *testing.T, name, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRunLessonQuiz checks the two commands in-process: help, usage
// errors, unknown lessons, bad lesson files and bad quiz flags.
func TestRunLessonQuiz(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.md")
	writeFile(t, bad, "---\ntitle: T\nscenario: native-4level\nlevel: 3\n---\n")
	loc := regexp.QuoteMeta(bad)
	tests := []struct {
		args         []string
		code         int
		stdout, errs string // regular expressions
	}{
		{[]string{"-h"}, 0, `(?s)mmuviz lesson FILE\|NAME.*mmuviz quiz \[flags\].*-kind KIND`, `^$`},
		{[]string{"lesson", "-h"}, 0, `^usage:`, `^$`},
		{[]string{"quiz", "-h"}, 0, `^usage:`, `^$`},
		{[]string{"lesson"}, 2, `^$`, `^mmuviz lesson: expected one lesson file or built-in lesson name \(built-in lessons: .*walk-4level`},
		{[]string{"lesson", "a", "b"}, 2, `^$`, `expected one lesson`},
		{[]string{"lesson", "nope"}, 2, `^$`, `^mmuviz: nope is neither a file nor a built-in lesson \(built-in lessons: .*walk-4level`},
		{[]string{"lesson", dir + "/none.md"}, 2, `^$`, `no such file`},
		{[]string{"lesson", bad}, 2, `^$`, `^` + loc + `:4:1: unknown front matter key "level"`},
		{[]string{"lesson", "--frob"}, 2, `^$`, `not defined: -frob`},
		{[]string{"lesson", "walk-4level"}, 0, `(?s)^The 4-level page walk\n.*Section 39 of 39`, `^$`},
		{[]string{"quiz", "-s", "x"}, 2, `^$`, `invalid value "x" for flag -s`},
		{[]string{"quiz", "-n", "0"}, 2, `^$`, `^mmuviz quiz: -n is 1 to 50 questions, not 0\n$`},
		{[]string{"quiz", "-n", "51"}, 2, `^$`, `not 51`},
		{[]string{"quiz", "-kind", "essay"}, 2, `^$`, `^mmuviz quiz: unknown question kind "essay" \(the kinds are next-entry, error-code, refs, translate, any\)\n$`},
		{[]string{"quiz", "extra"}, 2, `^$`, `unexpected argument "extra"`},
		{[]string{"quiz", "-s", "0x10", "-mode", "32bit", "-n", "1"}, 0, `^mmuviz quiz -s 16 -n 1 -mode 32bit -kind any\nExercise: 32-bit 2-level paging, MAXPHYADDR \d+\.\n`, `^$`},
		{[]string{"quiz", "-s", "3", "-scenario"}, 0, `^# Generated by .mmuviz quiz -s 3 -n 5 -mode any -kind any.`, `^$`},
	}
	for _, tc := range tests {
		var o, e bytes.Buffer
		code := run(tc.args, &o, &e)
		if code != tc.code || !regexp.MustCompile(tc.stdout).MatchString(o.String()) ||
			!regexp.MustCompile(tc.errs).MatchString(e.String()) {
			t.Errorf("mmuviz %q: exit %d\nstdout %.300q\nstderr %.300q", tc.args, code, o.String(), e.String())
		}
	}
}
