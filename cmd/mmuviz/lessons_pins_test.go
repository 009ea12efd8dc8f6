package main

import (
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"mmuviz/lessons"
	"mmuviz/mmu"
	"mmuviz/scenarios"
)

// The pins that tie every lesson to the trace it was written for, and the
// checks that read them. Every step marker <!-- step N --> and every jump
// link (#step=N) of a lesson is pinned, so that a change of the engine or of
// a scenario that moves the steps fails here, naming the lesson, the marker
// and what moved, instead of silently putting the prose beside the wrong
// picture. The tables are in lessons2_test.go (EPT and the guest paging
// modes), lessons3_test.go (shadow paging, roots) and lessons4_test.go (MMU
// contexts).

// pin is what a lesson expects at one step of its scenario's timeline: the
// kernel function of the step's event and a piece of its narration (the
// numbers the lesson cites).
type pin struct{ fn, text string }

// variantLesson ties a lesson to the trace of the variant its front matter
// names ("" for a scenario without variants). pins holds the event at
// every step marker and jump link; claims holds the
// events at other steps whose numbers the prose cites, by variant ("" is
// the default), so that what a lesson says about another variant, which
// the student reaches through the Variant select, is checked too.
type variantLesson struct {
	lesson, scenario, variant string
	steps                     int                    // the timeline's length under variant
	pins                      map[int]pin            // every marker and jump link
	claims                    map[string]map[int]pin // by variant, then step
}

// pinnedLessons are all the pinned lessons.
var pinnedLessons = slices.Concat(eptLessons, shadowLessons, contextLessons)

// jumpLink finds the jump links of a lesson's source.
var jumpLink = regexp.MustCompile(`\(#step=(\d+)\)`)

// TestPinnedLessons checks each lesson of pinnedLessons: it is built in,
// runs the scenario and variant it was written for, every marker and jump
// link sits on the event the prose explains, the steps it cites in any
// variant hold what it says, and it opens under every variant of its
// scenario (the page's Variant select reopens a lesson that way).
func TestPinnedLessons(t *testing.T) {
	for _, vl := range pinnedLessons {
		t.Run(vl.lesson, func(t *testing.T) {
			h, err := lessons.BuiltinHandout(vl.lesson)
			if err != nil {
				t.Fatal(err)
			}
			l := h.Lesson
			if l.Scenario != vl.scenario || l.Variant != vl.variant {
				t.Fatalf("lesson %s follows scenario %q variant %q; its pins were written for %q variant %q",
					vl.lesson, l.Scenario, l.Variant, vl.scenario, vl.variant)
			}
			if vl.variant != "" && h.Scenario.Variant != vl.variant {
				t.Fatalf("lesson %s runs variant %q, not its front matter's %q", vl.lesson, h.Scenario.Variant, vl.variant)
			}
			if h.Timeline.Len() != vl.steps {
				t.Errorf("lesson %s was written for %d steps of %s, which now has %d: check every marker",
					vl.lesson, vl.steps, vl.scenario, h.Timeline.Len())
			}
			checkPinned(t, vl.lesson, l, h.Timeline, vl.pins)
			for variant, claims := range vl.claims {
				checkClaims(t, vl, variant, claims)
			}
			for _, v := range h.Scenario.Variants {
				s, err := scenarios.LoadBuiltinVariant(vl.scenario, v.Name)
				if err != nil {
					t.Fatal(err)
				}
				fresh, err := lessons.LoadBuiltin(vl.lesson)
				if err != nil {
					t.Fatal(err)
				}
				if err := fresh.Resolve(s.Timeline().Len()); err != nil {
					t.Errorf("lesson %s cannot be opened under variant %s: %v", vl.lesson, v.Name, err)
				}
			}
		})
	}
}

// checkPinned checks that every marker and jump link of lesson l is pinned
// and that each pinned step of tl is the event the prose was written for.
func checkPinned(t *testing.T, name string, l *lessons.Lesson, tl *mmu.Timeline, pins map[int]pin) {
	t.Helper()
	where := map[int]string{}
	for _, sec := range l.Sections {
		if sec.From > 0 {
			where[sec.From] = "marker <!-- step " + strconv.Itoa(sec.From) + " --> (line " + strconv.Itoa(sec.Line) + ")"
		}
	}
	src, err := os.ReadFile(filepath.Join("..", "..", "lessons", "content", name+".md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range jumpLink.FindAllStringSubmatch(string(src), -1) {
		n, _ := strconv.Atoi(m[1])
		if _, ok := where[n]; !ok {
			where[n] = "jump link (#step=" + m[1] + ")"
		}
	}
	for _, step := range slices.Sorted(maps.Keys(where)) {
		if _, ok := pins[step]; !ok {
			t.Errorf("lesson %s: %s is not pinned", name, where[step])
		}
	}
	for _, step := range slices.Sorted(maps.Keys(pins)) {
		at, ok := where[step]
		if !ok {
			t.Errorf("lesson %s: step %d is pinned but is neither a marker nor a jump link", name, step)
			continue
		}
		expectEvent(t, tl, step, pins[step], "lesson "+name+", "+at)
	}
}

// checkClaims checks the steps a lesson cites under one variant of its
// scenario.
func checkClaims(t *testing.T, vl variantLesson, variant string, claims map[int]pin) {
	t.Helper()
	s, err := scenarios.LoadBuiltinVariant(vl.scenario, variant)
	if err != nil {
		t.Fatalf("lesson %s: %v", vl.lesson, err)
	}
	tl := s.Timeline()
	if tl.Err != nil {
		t.Fatalf("lesson %s: %v", vl.lesson, s.ActionError(tl.ErrStep, tl.Err))
	}
	for _, step := range slices.Sorted(maps.Keys(claims)) {
		expectEvent(t, tl, step, claims[step], "lesson "+vl.lesson+", variant "+strconv.Quote(variant)+", cited step "+strconv.Itoa(step))
	}
}

// expectEvent checks the kernel function and narration of one step.
func expectEvent(t *testing.T, tl *mmu.Timeline, step int, want pin, at string) {
	t.Helper()
	v, err := tl.Seek(step)
	if err != nil {
		t.Errorf("%s: %v", at, err)
		return
	}
	if v.Event.Func != want.fn || !strings.Contains(v.Event.Text, want.text) {
		t.Errorf("%s: step %d is now [%s] %q;\nthe lesson was written for [%s] ...%q...", at, step, v.Event.Func, v.Event.Text, want.fn, want.text)
	}
}

// TestEveryLessonPinned: a new built-in lesson must be pinned to its trace
// (walk-4level is pinned by TestWalk4LevelAnchors).
func TestEveryLessonPinned(t *testing.T) {
	pinned := map[string]bool{"walk-4level": true}
	for _, vl := range pinnedLessons {
		if pinned[vl.lesson] {
			t.Errorf("lesson %s is pinned twice", vl.lesson)
		}
		pinned[vl.lesson] = true
	}
	for _, name := range lessons.Builtin() {
		if !pinned[name] {
			t.Errorf("built-in lesson %s is not pinned: add it to one of the tables of pinnedLessons", name)
		}
		delete(pinned, name)
	}
	for name := range pinned {
		t.Errorf("lesson %s is pinned but not built in", name)
	}
}
