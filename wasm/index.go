//go:build js && wasm

package main

import (
	"mmuviz/lessons"
	"mmuviz/scenarios"
)

// The catalog as list() gives it (web/BRIDGE.md): every
// built-in lesson with what a newcomer needs to choose one, and every
// built-in scenario. Nothing here is written by hand: it is read from the
// lessons' front matter and the scenario files, so a new lesson appears
// in the index as soon as it is built in.

// lessonEntry is a built-in lesson in list().
type lessonEntry struct {
	Name     string              `json:"name"`
	Title    string              `json:"title"`
	Summary  string              `json:"summary"`
	Scenario string              `json:"scenario"`
	Variant  string              `json:"variant"`  // the variant the lesson runs ("" if none)
	Variants []scenarios.Variant `json:"variants"` // its scenario's, default first
	Seeds    []string            `json:"seeds"`
	Error    string              `json:"error,omitempty"` // why it does not load
}

// scenarioEntry is a built-in scenario in list().
type scenarioEntry struct {
	Name     string              `json:"name"`
	Title    string              `json:"title"`
	Variants []scenarios.Variant `json:"variants"`
	Error    string              `json:"error,omitempty"`
}

// quizInfo tells the page which quiz options exist.
type quizInfo struct {
	Kinds []string `json:"kinds"`
	Modes []string `json:"modes"`
	Max   int      `json:"max"`
}

type catalogJSON struct {
	Lessons   []lessonEntry   `json:"lessons"`
	Scenarios []scenarioEntry `json:"scenarios"`
	Quiz      quizInfo        `json:"quiz"`
}

// list names everything that can be opened, with what the front matter and
// the scenario files say. It builds every scenario (for titles and
// variants) but runs none, so that the page starts quickly. A lesson or
// scenario that does not load is still listed, with the error.
func (c *catalog) list() *catalogJSON {
	if c.listed != nil {
		return c.listed
	}
	out := &catalogJSON{Lessons: []lessonEntry{}, Scenarios: []scenarioEntry{},
		Quiz: quizInfo{Kinds: lessons.QuizKinds, Modes: lessons.QuizModes, Max: lessons.MaxQuestions}}
	built := map[string]*scenarios.Scenario{} // default variants, by name
	for _, n := range scenarios.Builtin() {
		e := scenarioEntry{Name: n, Title: n, Variants: []scenarios.Variant{}}
		s, err := scenarios.LoadBuiltin(n)
		if err != nil {
			e.Error = err.Error()
		} else {
			built[n] = s
			e.Title, e.Variants = titleOr(s.Title, n), variantsOf(s)
		}
		out.Scenarios = append(out.Scenarios, e)
	}
	for _, n := range lessons.Builtin() {
		out.Lessons = append(out.Lessons, lessonOf(n, built))
	}
	c.listed = out
	return out
}

// stepsJSON is steps()' answer.
type stepsJSON struct {
	Steps int    `json:"steps"`
	Error string `json:"error,omitempty"`
}

// steps counts the steps of a built-in lesson (under its variant) or
// scenario (under its default), for the index. Counting runs the
// timeline, so the page asks for one at a time, and the answers are kept.
func (c *catalog) steps(kind, name string) stepsJSON {
	key := kind + ":" + name
	if r, ok := c.counted[key]; ok {
		return r
	}
	var r stepsJSON
	if o, err := c.open(kind, name, ""); err != nil {
		r.Error = err.Error()
	} else {
		r.Steps = o.tl.Len()
	}
	if c.counted == nil {
		c.counted = map[string]stepsJSON{}
	}
	c.counted[key] = r
	return r
}

// lessonOf describes one built-in lesson; built holds the scenarios
// already built under their default variants.
func lessonOf(name string, built map[string]*scenarios.Scenario) lessonEntry {
	e := lessonEntry{Name: name, Title: name, Seeds: []string{}, Variants: []scenarios.Variant{}}
	l, err := lessons.LoadBuiltin(name)
	if err != nil {
		e.Error = err.Error()
		return e
	}
	e.Title, e.Summary, e.Scenario, e.Variant = titleOr(l.Title, name), l.Summary, l.Scenario, l.Variant
	if len(l.Seeds) > 0 {
		e.Seeds = l.Seeds
	}
	s := built[l.Scenario]
	if s == nil {
		e.Error = "its scenario " + l.Scenario + " is not a built-in scenario that loads"
		return e
	}
	e.Variants = variantsOf(s)
	if l.Variant != "" && l.Variant != s.Variant {
		if s, err = s.WithVariant(l.Variant); err != nil {
			e.Error = err.Error()
			return e
		}
	}
	e.Variant = s.Variant
	return e
}
