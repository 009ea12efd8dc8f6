// Package lessons reads Markdown lessons: front matter naming a scenario,
// prose rendered to HTML with goldmark, and step markers that tie the prose to
// the steps of the scenario's timeline. The format is described for lecturers
// in content/README.md.
package lessons

import (
	"path"
	"sort"
	"strconv"
	"strings"

	"mmuviz/scenarios"
)

// internalError starts the message of an error that is a bug.
const internalError = "internal error reading the lesson, please report it"

// MaxSize is the largest lesson file Parse accepts, in bytes.
const MaxSize = 1 << 20

// Lesson is a parsed lesson. Name is the file name without directory and
// ".md"; Title, Scenario, Variant, Summary and Seeds come from the front
// matter; Sections hold the prose, ordered by step.
type Lesson struct {
	Name, Title, Scenario, Variant, Summary string
	Seeds                                   []string
	Sections                                []Section

	starts []scenarios.Pos // where each section starts (its marker)
	jumps  []jump          // the jump links, in source order
}

// Section is the prose shown for the steps From to To (inclusive). To is -1 for
// the last section until Resolve sets it. Line is the line of the section's
// step marker (of its first text for text before the first marker). HTML is
// the rendered prose; Text is the same as plain text, for screen readers and
// the command-line handout.
type Section struct {
	From, To int
	Line     int
	HTML     string
	Text     string
}

// jump is a link [text](#step=N) to step N.
type jump struct {
	step int
	pos  scenarios.Pos
}

// Parse reads a lesson. name is used in error positions. Errors are
// *scenarios.Error values naming FILE:LINE:COL.
func Parse(name string, src []byte) (lesson *Lesson, err error) {
	p := newPositions(name, src)
	defer func() {
		// Lessons come from strangers and a panic would stop the page: if
		// goldmark or this package has a bug, report it as an error. The
		// fuzz test fails on this message.
		if r := recover(); r != nil {
			lesson, err = nil, scenarios.Errorf(p.at(0), "%s: %v", internalError, r)
		}
	}()
	if len(src) > MaxSize {
		return nil, scenarios.Errorf(p.at(0), "lesson is %d bytes, larger than the limit of 1 MiB (%d bytes)",
			len(src), MaxSize)
	}
	base := path.Base(strings.ReplaceAll(name, `\`, "/"))
	l := &Lesson{Name: strings.TrimSuffix(base, ".md")}
	body, err := l.frontMatter(p, src)
	if err != nil {
		return nil, err
	}
	if err := l.markdown(p, src, body); err != nil {
		return nil, err
	}
	return l, nil
}

// Resolve sets the end of the last section to the last step of a timeline of
// total steps. It fails, naming the marker or link, if a step marker or a jump
// link names a step the timeline does not have. It may be called again.
func (l *Lesson) Resolve(total int) error {
	for i, s := range l.Sections {
		if s.From >= total {
			return scenarios.Errorf(l.starts[i], "step %d is past the end of the scenario's timeline, %s",
				s.From, stepRange(total))
		}
	}
	for _, j := range l.jumps {
		if j.step >= total {
			return scenarios.Errorf(j.pos, "jump link to step %d is past the end of the scenario's timeline, %s",
				j.step, stepRange(total))
		}
	}
	if n := len(l.Sections); n > 0 {
		l.Sections[n-1].To = total - 1
	}
	return nil
}

// stepRange describes the steps of a timeline of total steps.
func stepRange(total int) string {
	switch {
	case total <= 0:
		return "which has no steps"
	case total == 1:
		return "which has only step 0"
	}
	return "which has steps 0 to " + strconv.Itoa(total-1)
}

// SectionAt returns the index of the section showing step, or -1 if no
// section does. Before Resolve, the last section lasts forever.
func (l *Lesson) SectionAt(step int) int {
	i := sort.Search(len(l.Sections), func(i int) bool { return l.Sections[i].From > step }) - 1
	if i < 0 || l.Sections[i].To != -1 && step > l.Sections[i].To {
		return -1
	}
	return i
}

// positions turns byte offsets into positions.
type positions struct {
	file   string
	starts []int // the offset of each line
}

func newPositions(file string, src []byte) *positions {
	p := &positions{file: file, starts: []int{0}}
	for i, c := range src {
		if c == '\n' {
			p.starts = append(p.starts, i+1)
		}
	}
	return p
}

// at returns the position of byte off.
func (p *positions) at(off int) scenarios.Pos {
	line := sort.Search(len(p.starts), func(i int) bool { return p.starts[i] > off }) - 1
	if line < 0 {
		line = 0
	}
	return scenarios.Pos{File: p.file, Line: line + 1, Col: off - p.starts[line] + 1}
}
