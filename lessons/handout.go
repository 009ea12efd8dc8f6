package lessons

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"mmuviz/mmu"
	"mmuviz/scenarios"
)

// Handout is a lesson with its scenario's timeline, ready to be read as
// text: a handout, and the form of the lesson a screen reader reads.
type Handout struct {
	Lesson   *Lesson
	Scenario *scenarios.Scenario
	Timeline *mmu.Timeline
}

// ScenarioLoader loads the scenario a lesson names, given the value of its
// front matter's "scenario" key: a built-in name, or a file (ending in
// .mmu) that the loader finds relative to the lesson.
type ScenarioLoader func(name string) (*scenarios.Scenario, error)

// OpenHandout parses a lesson (file names it in errors), loads its
// scenario with load (nil loads built-in scenarios only), runs the script
// and checks that every step marker and jump link lies on the timeline.
// Errors name FILE:LINE:COL: in the lesson, or in the scenario file when
// the scenario itself is wrong.
func OpenHandout(file string, src []byte, load ScenarioLoader) (*Handout, error) {
	l, err := Parse(file, src)
	if err != nil {
		return nil, err
	}
	if load == nil {
		load = func(name string) (*scenarios.Scenario, error) {
			if strings.HasSuffix(name, ".mmu") {
				return nil, fmt.Errorf("a scenario file (%s) needs a lesson read from a file", name)
			}
			return scenarios.LoadBuiltin(name)
		}
	}
	at := frontKeyPos(file, src, "scenario")
	sc, err := load(l.Scenario)
	if err != nil {
		var pe *scenarios.Error
		if errors.As(err, &pe) {
			return nil, err // the scenario file says where it is wrong
		}
		return nil, scenarios.Errorf(at, "scenario %q: %v", l.Scenario, err)
	}
	if sc == nil || sc.Machine == nil {
		return nil, scenarios.Errorf(at, "scenario %q has no machine", l.Scenario)
	}
	if sc, err = l.WithVariant(sc, frontKeyPos(file, src, "variant")); err != nil {
		return nil, err
	}
	tl := sc.Timeline()
	if tl.Err != nil {
		return nil, sc.ActionError(tl.ErrStep, tl.Err)
	}
	if err := l.Resolve(tl.Len()); err != nil {
		return nil, err
	}
	return &Handout{Lesson: l, Scenario: sc, Timeline: tl}, nil
}

// BuiltinHandout opens the built-in lesson name (see Builtin).
func BuiltinHandout(name string) (*Handout, error) {
	if _, err := LoadBuiltin(name); err != nil {
		return nil, err
	}
	src, err := content.ReadFile("content/" + name + ".md")
	if err != nil {
		return nil, err
	}
	return OpenHandout("lessons/content/"+name+".md", src, nil)
}

// WithVariant returns the scenario built under the lesson's variant (the
// front matter's "variant"), or sc itself when the lesson names none or
// sc already runs it. A variant the scenario does not declare is an error
// at, the position of the lesson's "variant" key.
func (l *Lesson) WithVariant(sc *scenarios.Scenario, at scenarios.Pos) (*scenarios.Scenario, error) {
	if l.Variant == "" || sc.Variant == l.Variant {
		return sc, nil
	}
	var names []string
	for _, v := range sc.Variants {
		names = append(names, v.Name)
	}
	if len(names) == 0 {
		return nil, scenarios.Errorf(at, "variant %q: scenario %q declares no variants", l.Variant, l.Scenario)
	}
	found := false
	for _, n := range names {
		found = found || n == l.Variant
	}
	if !found {
		return nil, scenarios.Errorf(at, "variant %q: scenario %q has no such variant; its variants are %s",
			l.Variant, l.Scenario, strings.Join(names, ", "))
	}
	return sc.WithVariant(l.Variant)
}

// frontKeyPos finds the value of a front matter key, for errors about
// it; 1:1 if there is none.
func frontKeyPos(file string, src []byte, want string) scenarios.Pos {
	p := newPositions(file, src)
	off := 0
	if strings.HasPrefix(string(src), "\uFEFF") {
		off = 3
	}
	for first := true; off < len(src); first = false {
		line, next := lineAt(src, off)
		trimmed := strings.TrimSpace(line)
		if trimmed == "---" && !first {
			break
		}
		key, value, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(key) == want {
			return p.at(off + len(key) + 1 + len(value) - len(strings.TrimLeft(value, " \t")))
		}
		off = next
	}
	return p.at(0)
}

// WriteText prints the handout: the title and summary, then each section
// with its step range, its text, and under it every step of the range with
// the engine's narration and the kernel function responsible.
func (h *Handout) WriteText(w io.Writer) error {
	var b strings.Builder
	l, tl := h.Lesson, h.Timeline
	b.WriteString(l.Title + "\n")
	if l.Summary != "" {
		b.WriteString("\n" + l.Summary + "\n")
	}
	fmt.Fprintf(&b, "\nScenario %s", h.Scenario.Name)
	if h.Scenario.Title != "" {
		fmt.Fprintf(&b, ": %s", h.Scenario.Title)
	}
	fmt.Fprintf(&b, ". Its timeline %s.\n", strings.TrimPrefix(stepRange(tl.Len()), "which "))
	switch {
	case l.Variant != "":
		fmt.Fprintf(&b, "Variant: %s.\n", l.Variant)
	case h.Scenario.Variant != "":
		fmt.Fprintf(&b, "Variant: %s (the scenario's default).\n", h.Scenario.Variant)
	}
	for i, s := range l.Sections {
		fmt.Fprintf(&b, "\nSection %d of %d, %s\n\n", i+1, len(l.Sections), stepsWord(s.From, s.To))
		if s.Text != "" {
			b.WriteString(s.Text + "\n\n")
		}
		for step := s.From; step <= s.To; step++ {
			h.writeStep(&b, step, step == s.From)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// stepsWord says "step 3" or "steps 3 to 6".
func stepsWord(from, to int) string {
	if to <= from {
		return fmt.Sprintf("step %d", from)
	}
	return fmt.Sprintf("steps %d to %d", from, to)
}

// writeStep prints one step: the action's script line before its first
// step (or, continued, at the start of a section), the event, and the
// action's result after its last step.
func (h *Handout) writeStep(b *strings.Builder, step int, first bool) {
	tl := h.Timeline
	a, ev := tl.Locate(step)
	if a < 0 {
		fmt.Fprintf(b, "  step %d: the initial state, before the script runs.\n", step)
		return
	}
	st := tl.Steps[a]
	src := st.Action.Src()
	switch {
	case ev == 0:
		fmt.Fprintf(b, "  line %d: %s\n", src.Line, src.Text)
	case first:
		fmt.Fprintf(b, "  line %d: %s (continued)\n", src.Line, src.Text)
	}
	if ev < len(st.Events) {
		e := st.Events[ev]
		fmt.Fprintf(b, "  step %d [%s] %s\n", step, e.Func, e.Text)
	} else {
		fmt.Fprintf(b, "  step %d: no event.\n", step)
	}
	if ev >= len(st.Events)-1 {
		fmt.Fprintf(b, "  => %s\n", mmu.ResultString(st.Result))
	}
}
