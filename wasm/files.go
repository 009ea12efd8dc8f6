//go:build js && wasm

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"

	"mmuviz/lessons"
	"mmuviz/scenarios"
)

// Files a lecturer drops into the page (or picks with "Open file…"): a
// lesson (.md) and/or scenario files (.mmu). The Go program reads them as
// the command line does (lessons.OpenHandout, scenarios.Load), so an error
// names FILE:LINE:COL exactly as `mmuviz lesson FILE` would.

// maxDropped is the most files one drop may hold.
const maxDropped = 16

// droppedFile is one file of openFiles' JSON.
type droppedFile struct {
	Name string `json:"name"`
	Text string `json:"text"`
}

// posError is an error with its position, for the page to list.
type posError struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Col  int    `json:"col"`
	Msg  string `json:"msg"`
}

// positioned splits an error into the positioned errors it holds: every
// error of a scenarios.ErrorList, the first *scenarios.Error of a chain,
// else one error without a position.
func positioned(err error) []posError {
	var list scenarios.ErrorList
	if errors.As(err, &list) && len(list) > 0 {
		out := make([]posError, 0, len(list))
		for _, e := range list {
			out = append(out, posError{e.Pos.File, e.Pos.Line, e.Pos.Col, e.Msg})
		}
		return out
	}
	var e *scenarios.Error
	if errors.As(err, &e) {
		return []posError{{e.Pos.File, e.Pos.Line, e.Pos.Col, e.Msg}}
	}
	return []posError{{Msg: err.Error()}}
}

// fileKind says what a dropped file is, from its name.
func fileKind(name string) string {
	switch strings.ToLower(path.Ext(name)) {
	case ".md", ".markdown":
		return "lesson"
	case ".mmu":
		return "scenario"
	}
	return ""
}

// openFiles reads the dropped files from their JSON ({"files":[{name,
// text}]}) and opens the lesson among them, or else the scenario, under a
// variant ("" is the default, a lesson's own).
func (c *catalog) openFiles(filesJSON, variant string) (*opened, error) {
	var in struct {
		Files []droppedFile `json:"files"`
	}
	if err := json.Unmarshal([]byte(filesJSON), &in); err != nil {
		return nil, fmt.Errorf("the page sent no readable list of files: %v", err)
	}
	var lesson *droppedFile
	var scens []droppedFile
	switch {
	case len(in.Files) == 0:
		return nil, errors.New("no file was dropped")
	case len(in.Files) > maxDropped:
		return nil, fmt.Errorf("%d files dropped; drop at most %d", len(in.Files), maxDropped)
	}
	for i, f := range in.Files {
		f.Name = path.Base(strings.ReplaceAll(f.Name, `\`, "/"))
		switch fileKind(f.Name) {
		case "lesson":
			if lesson != nil {
				return nil, fmt.Errorf("two lessons dropped (%s and %s): drop one lesson at a time, with its scenario files", lesson.Name, f.Name)
			}
			lesson = &in.Files[i]
			lesson.Name = f.Name
		case "scenario":
			scens = append(scens, f)
		default:
			return nil, fmt.Errorf("%s is neither a lesson (.md) nor a scenario (.mmu)", f.Name)
		}
	}
	if lesson != nil {
		return openDroppedLesson(*lesson, scens, variant)
	}
	o, err := openDroppedScenario(scens[0], variant)
	if err == nil && len(scens) > 1 {
		o.reply.Notes = append(o.reply.Notes, fmt.Sprintf("Several scenarios and no lesson were dropped: opened %s only.", scens[0].Name))
	}
	return o, err
}

// openDroppedScenario opens a scenario file; a script that stops early is
// shown up to where it stopped, as for built-ins.
func openDroppedScenario(f droppedFile, variant string) (*opened, error) {
	s, err := scenarios.LoadVariant(f.Name, []byte(f.Text), variant)
	if err != nil {
		return nil, err
	}
	tl := s.Timeline()
	o := &opened{kind: "scenario", scenario: s.Name, variant: s.Variant, tl: tl, file: f.Name}
	o.reply = openJSON{OK: true, Title: titleOr(s.Title, s.Name), Total: tl.Len(), Sections: scenarioSections(s, tl),
		Variant: s.Variant, Variants: variantsOf(s), Kind: "scenario", Name: s.Name, File: f.Name,
		ScenarioSource: "file"}
	return o, nil
}

// openDroppedLesson opens a lesson file. Its scenario is a dropped file of
// that name if there is one (name or name.mmu), else the built-in.
func openDroppedLesson(f droppedFile, scens []droppedFile, variant string) (*opened, error) {
	source := "builtin"
	used := ""
	load := func(name string) (*scenarios.Scenario, error) {
		for _, s := range scens {
			if s.Name == name || strings.TrimSuffix(s.Name, path.Ext(s.Name)) == strings.TrimSuffix(name, ".mmu") {
				source, used = "file", s.Name
				return scenarios.Load(s.Name, []byte(s.Text))
			}
		}
		if strings.HasSuffix(name, ".mmu") {
			return nil, fmt.Errorf("the lesson runs the scenario file %s: drop it together with the lesson", name)
		}
		return scenarios.LoadBuiltin(name)
	}
	h, err := lessons.OpenHandout(f.Name, []byte(f.Text), load)
	if err != nil {
		return nil, err
	}
	l, sc, tl := h.Lesson, h.Scenario, h.Timeline
	if variant != "" && variant != sc.Variant {
		if sc, err = sc.WithVariant(variant); err != nil {
			return nil, err
		}
		if tl = sc.Timeline(); l.Resolve(tl.Len()) != nil {
			return nil, l.Resolve(tl.Len())
		}
	}
	o := &opened{kind: "lesson", lesson: l.Name, scenario: l.Scenario, variant: sc.Variant, tl: tl, file: f.Name}
	o.reply = openJSON{OK: true, Title: titleOr(l.Title, l.Name), Total: tl.Len(), Sections: []sectionJSON{},
		Variant: sc.Variant, Variants: variantsOf(sc), Kind: "lesson", Name: l.Name, File: f.Name,
		ScenarioSource: source}
	for _, sec := range l.Sections {
		o.reply.Sections = append(o.reply.Sections, sectionJSON{sec.From, sec.To, sec.HTML})
	}
	if tl.Err != nil {
		o.reply.Sections = append(o.reply.Sections, stoppedSection(sc, tl))
	}
	for _, s := range scens {
		if s.Name != used {
			o.reply.Notes = append(o.reply.Notes, fmt.Sprintf("%s was not used: the lesson runs the scenario %q.", s.Name, l.Scenario))
		}
	}
	return o, nil
}
