//go:build js && wasm

package main

import (
	"fmt"
	"html"
	"strings"

	"mmuviz/lessons"
	"mmuviz/mmu"
	"mmuviz/scenarios"
)

// catalog knows the built-in lessons and scenarios and opens them.
type catalog struct {
	listed  *catalogJSON         // list() is computed once
	counted map[string]stepsJSON // steps(), by kind:name
}

type sectionJSON struct {
	From int    `json:"from"`
	To   int    `json:"to"`
	HTML string `json:"html"`
}

type openJSON struct {
	OK       bool                `json:"ok"`
	Error    string              `json:"error"`
	Title    string              `json:"title"`
	Total    int                 `json:"total"`
	Sections []sectionJSON       `json:"sections"`
	Variant  string              `json:"variant"`  // the variant running ("" if none)
	Variants []scenarios.Variant `json:"variants"` // the scenario's, default first
	// For openFiles: the kind and name opened, the file they came from,
	// where the scenario came from, notes for the lecturer, and on
	// failure every error with its position.
	Kind           string     `json:"kind,omitempty"`
	Name           string     `json:"name,omitempty"`
	File           string     `json:"file,omitempty"`
	ScenarioSource string     `json:"scenarioSource,omitempty"` // "file" or "builtin"
	Notes          []string   `json:"notes,omitempty"`
	Errors         []posError `json:"errors,omitempty"`
}

// opened is a lesson or scenario ready to show.
type opened struct {
	kind, lesson, scenario, variant string
	file                            string // the dropped file it came from ("" for a built-in)
	tl                              *mmu.Timeline
	reply                           openJSON
}

// openFailed is open's answer when nothing could be opened.
func openFailed(err error) openJSON {
	return openJSON{OK: false, Error: err.Error(), Sections: []sectionJSON{}, Variants: []scenarios.Variant{}}
}

// variantsOf is a scenario's variants for JSON: never null.
func variantsOf(s *scenarios.Scenario) []scenarios.Variant {
	if len(s.Variants) == 0 {
		return []scenarios.Variant{}
	}
	return s.Variants
}

// defaultLesson is the lesson opened when the URL names none: the 4-level
// walk, which every other lesson builds on, else the first there is.
func (c *catalog) defaultLesson() string {
	names := lessons.Builtin()
	for _, n := range names {
		if n == "walk-4level" {
			return n
		}
	}
	if len(names) > 0 {
		return names[0]
	}
	return ""
}

// open loads a lesson (with its scenario) or a bare scenario under a
// variant: "" is the scenario's default, or for a lesson its front
// matter's. A scenario named NAME:VARIANT (an older permalink) means
// that variant unless one is given.
func (c *catalog) open(kind, name, variant string) (*opened, error) {
	switch kind {
	case "lesson":
		return c.openLesson(name, variant)
	case "scenario":
		base, v, colon := strings.Cut(name, ":")
		if colon && variant == "" {
			variant = v
		}
		s, err := scenarios.LoadBuiltinVariant(base, variant)
		if err != nil {
			return nil, err
		}
		tl := s.Timeline()
		o := &opened{kind: kind, scenario: base, variant: s.Variant, tl: tl}
		o.reply = openJSON{OK: true, Title: titleOr(s.Title, base), Total: tl.Len(), Sections: scenarioSections(s, tl),
			Variant: s.Variant, Variants: variantsOf(s)}
		return o, nil
	}
	return nil, fmt.Errorf("kind must be \"lesson\" or \"scenario\", not %q", kind)
}

func (c *catalog) openLesson(name, variant string) (*opened, error) {
	l, err := lessons.LoadBuiltin(name)
	if err != nil {
		return nil, err
	}
	if variant == "" {
		variant = l.Variant
	}
	s, err := scenarios.LoadBuiltinVariant(l.Scenario, variant)
	if err != nil {
		return nil, fmt.Errorf("lesson %s runs scenario %q: %v", name, l.Scenario, err)
	}
	tl := s.Timeline()
	if err := l.Resolve(tl.Len()); err != nil {
		return nil, err
	}
	o := &opened{kind: "lesson", lesson: name, scenario: l.Scenario, variant: s.Variant, tl: tl}
	o.reply = openJSON{OK: true, Title: titleOr(l.Title, name), Total: tl.Len(), Sections: []sectionJSON{},
		Variant: s.Variant, Variants: variantsOf(s)}
	for _, sec := range l.Sections {
		o.reply.Sections = append(o.reply.Sections, sectionJSON{sec.From, sec.To, sec.HTML})
	}
	if tl.Err != nil {
		o.reply.Sections = append(o.reply.Sections, stoppedSection(s, tl))
	}
	return o, nil
}

func titleOr(title, name string) string {
	if title == "" {
		return name
	}
	return title
}

// scenarioSections makes a bare scenario's panel: one section per action,
// its source line and the narration of each of its steps, all escaped.
func scenarioSections(s *scenarios.Scenario, tl *mmu.Timeline) []sectionJSON {
	out := []sectionJSON{{0, 0, "<p>The initial state of <strong>" + html.EscapeString(titleOr(s.Title, s.Name)) +
		"</strong>, before the first line of its script. Step with → or Space.</p>"}}
	for a, st := range tl.Steps {
		from := tl.StepOf(a, 0)
		n := max(len(st.Events), 1)
		var b strings.Builder
		src := st.Action.Src()
		fmt.Fprintf(&b, "<p><code>%s</code>", html.EscapeString(strings.TrimSpace(src.Text)))
		if src.Line > 0 {
			fmt.Fprintf(&b, " <small>(line %d)</small>", src.Line)
		}
		b.WriteString("</p>")
		if len(st.Events) > 0 {
			b.WriteString("<ol>")
			for _, e := range st.Events {
				fmt.Fprintf(&b, "<li>%s</li>", html.EscapeString(e.Text))
			}
			b.WriteString("</ol>")
		}
		out = append(out, sectionJSON{from, from + n - 1, b.String()})
	}
	if tl.Err != nil {
		out = append(out, stoppedSection(s, tl))
	}
	return out
}

// stoppedSection tells that the script stopped early, on the last step.
func stoppedSection(s *scenarios.Scenario, tl *mmu.Timeline) sectionJSON {
	err := s.ActionError(tl.ErrStep, tl.Err)
	last := tl.Len() - 1
	return sectionJSON{last, last, "<p><strong>The script stopped here:</strong> " + html.EscapeString(err.Error()) + "</p>"}
}
