package lessons

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"mmuviz/scenarios"
)

func FuzzParse(f *testing.F) {
	if src, err := os.ReadFile("testdata/walk.md"); err == nil {
		f.Add(src)
	}
	for _, body := range []string{
		"", "Hello.\n", "Intro.\n\n<!-- step 2 -->\nTwo.\n\n<!-- step 5 -->\nFive.\n",
		"# T\n<!-- step 0 -->\nZero.\n<!-- step 1 -->\n", "<!-- step 3 -->\n<!-- step 3 -->\n",
		"<!-- step 3\n-->\n", "<!-- step 3 --> x\n", "a <!-- step 3 --> b\n", "- a\n\n  <!-- step 1 -->\n",
		"> q\n> <!-- step 1 -->\n", "<!-- step x -->\n", "```\n<!-- step 3 -->\n```\n",
		"[go](#step=7) [r][r] [bad](#step=x)\n\n[r]: #step=2\n",
		"| a | b |\n| - | -: |\n| 1 | ~~2~~ |\n\n- [x] done\n- [ ] todo\n",
		"x[^1]\n\n<!-- step 1 -->\ny[^2]\n\n[^1]: one\n[^2]: two\n",
		"<script>alert(1)</script>\n\n[x](javascript:alert(1)) <img src=x onerror=y>\n",
	} {
		f.Add([]byte(front + body))
	}
	for _, src := range []string{"", "---\n", "---\ntitle: \"T\nscenario: s\n---\n", "---\ntitle: T\nx: y\n---\n",
		"\uFEFF---\r\ntitle: T\r\nscenario: s\r\nseeds: a,,b\r\n---\r\n"} {
		f.Add([]byte(src))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		fuzzLesson(t, src)
		fuzzLesson(t, append([]byte(front), src...))
	})
}

// fuzzLesson checks Parse and Resolve on one input.
func fuzzLesson(t *testing.T, src []byte) {
	l, err := Parse("f.md", src)
	l2, err2 := Parse("f.md", src)
	if !reflect.DeepEqual(l, l2) || !reflect.DeepEqual(err, err2) {
		t.Fatalf("Parse is not deterministic")
	}
	if err != nil {
		fuzzCheckError(t, src, err)
		return
	}
	for _, s := range l.Sections {
		lower := strings.ToLower(s.HTML)
		if strings.Contains(lower, "<script") || strings.Contains(lower, `href="javascript:`) {
			t.Fatalf("unsafe HTML reached the output: %q", s.HTML)
		}
	}
	total := 1
	if n := len(l.Sections); n > 0 {
		total = l.Sections[n-1].From + 3
	}
	for _, j := range l.jumps {
		total = max(total, j.step+1)
	}
	if err := l.Resolve(total); err != nil {
		t.Fatalf("Resolve(%d): %v", total, err)
	}
	fuzzCheckSections(t, l, total)
}

// fuzzCheckError checks that an error is a *scenarios.Error within the input.
func fuzzCheckError(t *testing.T, src []byte, err error) {
	var e *scenarios.Error
	if !errors.As(err, &e) || strings.Contains(e.Msg, internalError) {
		t.Fatalf("error %T %v is not a *scenarios.Error or is a bug", err, err)
	}
	lines := strings.Split(string(src), "\n")
	if e.Pos.File != "f.md" || e.Pos.Line < 1 || e.Pos.Line > len(lines) || e.Pos.Col < 1 ||
		e.Pos.Col > len(lines[e.Pos.Line-1])+1 {
		t.Fatalf("error %v is outside the input", err)
	}
}

// fuzzCheckSections checks that resolved sections are ordered, do not overlap
// and agree with SectionAt.
func fuzzCheckSections(t *testing.T, l *Lesson, total int) {
	for i, s := range l.Sections {
		next := total
		if i+1 < len(l.Sections) {
			next = l.Sections[i+1].From
		}
		if s.From < 0 || s.From > s.To || s.To != next-1 {
			t.Fatalf("section %d is %d to %d, the next starts at %d", i, s.From, s.To, next)
		}
	}
	for step := -1; step <= total; step++ {
		i := l.SectionAt(step)
		if i == -1 {
			continue
		}
		if s := l.Sections[i]; step < s.From || step > s.To {
			t.Fatalf("SectionAt(%d) = %d, which shows steps %d to %d", step, i, s.From, s.To)
		}
	}
}
