//go:build !js

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"mmuviz/lessons"
	"mmuviz/scenarios"
)

// TestBrowserDropin drops a lecturer's own files on the page: a good
// scenario (it runs, its permalink survives a reload), a broken one (its
// errors are listed as FILE:LINE:COL exactly as the Go reader words them,
// and what was open stays), a lesson with its own scenario file, a lesson
// on a built-in scenario, a broken lesson, a file of another kind, a
// scenario with variants, a drop onto the stage itself, and the
// keyboard's "Open file…" input.
func TestBrowserDropin(t *testing.T) {
	ctx, console, base := openPage(t, 1280, 800, "")

	mine := ownScenario(t)
	dropFiles(t, ctx, false, file{"mine.mmu", mine})
	wantOpened(t, ctx, "mine.mmu", "My own walk", scenarioSteps(t, "mine.mmu", mine), "a scenario")
	eval[bool](t, ctx, `(document.activeElement && document.activeElement.blur(), true)`)
	press(t, ctx, kb.ArrowRight)
	pollJS[bool](t, ctx, 10*time.Second, "stepping the dropped scenario", `location.hash === "#file=mine.mmu&step=1"`)
	within(t, ctx, 60*time.Second, "reloading", chromedp.Reload())
	waitReady(t, ctx)
	pollJS[bool](t, ctx, 10*time.Second, "the dropped scenario after a reload",
		`location.hash === "#file=mine.mmu&step=1" && document.getElementById("title").textContent === "My own walk"`)
	if n := readPage(t, ctx).Notice; n != "" {
		t.Errorf("reloading a dropped file's permalink shows %q", n)
	}

	// Two syntax errors: the reader reports both, each at its place.
	broken := strings.Replace(mine, `title "My own walk"`, `title "unterminated`, 1) + "\nmap gva=-4\n"
	_, err := scenarios.Load("broken.mmu", []byte(broken))
	wantErrors(t, ctx, err, file{"broken.mmu", broken})
	if p := readPage(t, ctx); p.Hash != "#file=mine.mmu&step=1" {
		t.Errorf("after a broken drop the page moved to %q", p.Hash)
	}

	lessonWithScenario(t, ctx, mine)
	otherFiles(t, ctx, mine)
	droppedVariants(t, ctx)
	dropOnStage(t, ctx, mine)
	dropOnIndex(t, ctx, mine)
	openFileInput(t, ctx, mine)
	fileInOtherTab(t, ctx, base)
	console.check(t)
}

// fileInOtherTab opens a dropped file's permalink in a new tab, which has
// not got the file: the default lesson opens, with a notice saying why.
func fileInOtherTab(t *testing.T, ctx context.Context, base string) {
	tab := newTab(t, ctx)
	within(t, tab, 60*time.Second, "opening a file permalink elsewhere", chromedp.Navigate(base+"#file=mine.mmu&step=1"))
	waitReady(t, tab)
	lesson := eval[string](t, tab, `document.getElementById("stage").contentWindow.mmuviz.defaultLesson()`)
	p := readPage(t, tab)
	if p.Hash != "#lesson="+lesson+"&step=0" || !strings.Contains(p.Notice, "mine.mmu") || !strings.Contains(p.Notice, "drop it") {
		t.Errorf("a file permalink in another tab: hash %q, notice %q", p.Hash, p.Notice)
	}
}

type file struct{ Name, Text string }

// ownScenario is a built-in scenario under a title of our own.
func ownScenario(t *testing.T) string {
	src, err := scenarios.BuiltinSource("native-4level")
	if err != nil {
		t.Fatal(err)
	}
	s := string(src)
	i := strings.Index(s, "\ntitle ")
	j := strings.Index(s[i+1:], "\n")
	if i < 0 || j < 0 {
		t.Fatal("native-4level.mmu has no title line")
	}
	return s[:i+1] + `title "My own walk"` + s[i+1+j:]
}

func scenarioSteps(t *testing.T, name, src string) int {
	s, err := scenarios.Load(name, []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return s.Timeline().Len()
}

// dropJS dispatches dragenter, dragover and drop of files on a target,
// with the DataTransfer, File and DragEvent of the target's window.
const dropJS = `((onStage, files) => {
  const win = onStage ? document.getElementById("stage").contentWindow : window;
  const dt = new win.DataTransfer();
  for (const f of files) dt.items.add(new win.File([f.Text], f.Name));
  const fire = (target, type) => target.dispatchEvent(new win.DragEvent(type, {dataTransfer: dt, bubbles: true, cancelable: true}));
  const target = onStage ? win.document.body : document.getElementById("panel");
  fire(target, "dragenter");
  fire(target, "dragover");
  const zone = !document.getElementById("drop-zone").hidden;
  fire(onStage ? win.document.body : target, "drop");
  return zone;
})`

func dropFiles(t *testing.T, ctx context.Context, onStage bool, files ...file) {
	t.Helper()
	js, err := json.Marshal(files)
	if err != nil {
		t.Fatal(err)
	}
	eval[bool](t, ctx, `(document.getElementById("file-status").textContent = "",
	  document.getElementById("file-errors").hidden = true, true)`)
	if zone := eval[bool](t, ctx, fmt.Sprintf(`%s(%v, %s)`, dropJS, onStage, js)); !zone {
		t.Errorf("dragging files over the %s did not show the drop zone", map[bool]string{true: "stage", false: "panel"}[onStage])
	}
}

// wantOpened waits for a dropped file to be open at step 0.
func wantOpened(t *testing.T, ctx context.Context, name, title string, steps int, what string) {
	t.Helper()
	status := pollJS[string](t, ctx, 10*time.Second, name+" to open", fmt.Sprintf(
		`location.hash === "#file=%s&step=0" && document.getElementById("title").textContent === %q &&
		 document.getElementById("counter").textContent === "Step 0 / %d" && document.getElementById("file-status").textContent`,
		name, title, steps-1))
	if !strings.Contains(status, "Opened "+name+" ("+what) {
		t.Errorf("opening %s says %q", name, status)
	}
	if !eval[bool](t, ctx, `document.getElementById("file-errors").hidden && document.getElementById("drop-zone").hidden`) {
		t.Errorf("after opening %s an error box or the drop zone is still shown", name)
	}
}

// wantErrors drops files that do not open: the page must list err's
// lines, each FILE:LINE:COL: message, in an alert.
func wantErrors(t *testing.T, ctx context.Context, err error, files ...file) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s opens natively; the test needs a broken file", files[0].Name)
	}
	var pe *scenarios.Error
	if !errors.As(err, &pe) || pe.Pos.Line < 1 {
		t.Fatalf("%s: the Go reader gives no position: %v", files[0].Name, err)
	}
	dropFiles(t, ctx, false, files...)
	got := pollJS[[]string](t, ctx, 10*time.Second, "the errors of "+files[0].Name,
		`!document.getElementById("file-errors").hidden && [...document.querySelectorAll("#file-errors-list li")].map((l) => l.textContent)`)
	want := strings.Split(err.Error(), "\n")
	if !slices.Equal(got, want) {
		t.Errorf("dropping %s lists\n%q\nthe Go reader says\n%q", files[0].Name, got, want)
	}
	if role := eval[string](t, ctx, `document.getElementById("file-errors").getAttribute("role")`); role != "alert" {
		t.Errorf("the error box has role %q", role)
	}
	t.Logf("%s: %q", files[0].Name, got)
}

const ownLesson = `---
title: My lesson
scenario: %s
summary: A lesson a lecturer wrote.
---
# My lesson

The start, shown at step 0.

<!-- step 2 -->
From step two on. [Back to the start](#step=0)
`

// lessonWithScenario drops a lesson with the scenario file it names, then
// a lesson on a built-in scenario, then a lesson whose marker is past the
// end of its timeline.
func lessonWithScenario(t *testing.T, ctx context.Context, mine string) {
	dropFiles(t, ctx, false, file{"lesson.md", fmt.Sprintf(ownLesson, "mine")}, file{"mine.mmu", mine})
	wantOpened(t, ctx, "lesson.md", "My lesson", scenarioSteps(t, "mine.mmu", mine), "a lesson")
	if s := eval[string](t, ctx, `document.getElementById("file-status").textContent`); !strings.Contains(s, "running your scenario file") {
		t.Errorf("the lesson with its scenario file says %q", s)
	}
	eval[bool](t, ctx, `(document.getElementById("stage").contentWindow.mmuviz.seek(2), true)`)
	if cur := readPage(t, ctx).Current; !slices.Equal(cur, []string{"2-" + fmt.Sprint(scenarioSteps(t, "mine.mmu", mine)-1)}) {
		t.Errorf("at step 2 of the dropped lesson the current sections are %v", cur)
	}

	builtin := fmt.Sprintf(ownLesson, "native-4level")
	h, err := lessons.OpenHandout("builtin.md", []byte(builtin), nil)
	if err != nil {
		t.Fatal(err)
	}
	dropFiles(t, ctx, false, file{"builtin.md", builtin})
	wantOpened(t, ctx, "builtin.md", "My lesson", h.Timeline.Len(), "a lesson")
	if s := eval[string](t, ctx, `document.getElementById("file-status").textContent`); !strings.Contains(s, "running a built-in scenario") {
		t.Errorf("the lesson on a built-in scenario says %q", s)
	}

	bad := strings.Replace(builtin, "<!-- step 2 -->", "<!-- step 99999 -->", 1)
	_, err = lessons.OpenHandout("bad.md", []byte(bad), nil)
	wantErrors(t, ctx, err, file{"bad.md", bad})
}

// otherFiles drops a file of another kind and two lessons at once.
func otherFiles(t *testing.T, ctx context.Context, mine string) {
	dropFiles(t, ctx, false, file{"notes.txt", "hello"})
	got := pollJS[[]string](t, ctx, 10*time.Second, "the error of notes.txt",
		`!document.getElementById("file-errors").hidden && [...document.querySelectorAll("#file-errors-list li")].map((l) => l.textContent)`)
	if len(got) != 1 || got[0] != "notes.txt is neither a lesson (.md) nor a scenario (.mmu)" {
		t.Errorf("dropping notes.txt lists %q", got)
	}
	within(t, ctx, 10*time.Second, "dismissing the errors", chromedp.Click(chromedp.ID("file-errors-close")))
	dropFiles(t, ctx, false, file{"a.md", fmt.Sprintf(ownLesson, "mine")}, file{"b.md", "x"}, file{"mine.mmu", mine})
	got = pollJS[[]string](t, ctx, 10*time.Second, "the error of two lessons",
		`!document.getElementById("file-errors").hidden && [...document.querySelectorAll("#file-errors-list li")].map((l) => l.textContent)`)
	if len(got) != 1 || !strings.Contains(got[0], "two lessons dropped") {
		t.Errorf("dropping two lessons lists %q", got)
	}
}

// droppedVariants drops a scenario with variants: the switch appears and
// reopens the dropped file under another variant at the same step.
func droppedVariants(t *testing.T, ctx context.Context) {
	src, err := scenarios.BuiltinSource("roots-zap-obsolete")
	if err != nil {
		t.Fatal(err)
	}
	s, err := scenarios.Load("z.mmu", src)
	if err != nil || len(s.Variants) < 2 {
		t.Fatalf("roots-zap-obsolete: %v, %d variants", err, len(s.Variants))
	}
	dropFiles(t, ctx, false, file{"z.mmu", string(src)})
	pollJS[bool](t, ctx, 10*time.Second, "z.mmu", fmt.Sprintf(`location.hash === "#file=z.mmu&step=0&variant=%s"`, s.Variant))
	other := s.Variants[1].Name
	eval[bool](t, ctx, fmt.Sprintf(`(document.getElementById("stage").contentWindow.mmuviz.seek(3),
	  (() => { const v = document.getElementById("variant"); v.value = %q; v.dispatchEvent(new Event("change")); return true; })())`, other))
	pollJS[bool](t, ctx, 10*time.Second, "the other variant", fmt.Sprintf(`location.hash === "#file=z.mmu&step=3&variant=%s"`, other))
	if v := readVariantGame(t, ctx, 3).Variant; v != other {
		t.Errorf("the game runs variant %q, want %q", v, other)
	}
}

// dropOnStage drags a file over the stage iframe: the page's drop zone
// covers it, and a drop there opens the file.
func dropOnStage(t *testing.T, ctx context.Context, mine string) {
	dropFiles(t, ctx, true, file{"stage.mmu", mine})
	wantOpened(t, ctx, "stage.mmu", "My own walk", scenarioSteps(t, "stage.mmu", mine), "a scenario")
}

// openFileInput uses the "Open file…" button's input, the keyboard's way.
func openFileInput(t *testing.T, ctx context.Context, mine string) {
	tag := eval[string](t, ctx, `(() => { const b = document.getElementById("open-file"); b.focus();
	  return document.activeElement === b && !b.disabled ? b.tagName : ""; })()`)
	if tag != "BUTTON" {
		t.Errorf("the Open file button cannot take the focus (%q)", tag)
	}
	p := filepath.Join(t.TempDir(), "picked.mmu")
	if err := os.WriteFile(p, []byte(mine), 0o644); err != nil {
		t.Fatal(err)
	}
	eval[bool](t, ctx, `(document.getElementById("file-status").textContent = "", true)`)
	within(t, ctx, 10*time.Second, "picking a file", chromedp.SetUploadFiles(chromedp.ID("file-input"), []string{p}))
	wantOpened(t, ctx, "picked.mmu", "My own walk", scenarioSteps(t, "picked.mmu", mine), "a scenario")
}

// dropOnIndex drops a file while the lesson index is shown: the index
// closes and the file is open.
func dropOnIndex(t *testing.T, ctx context.Context, mine string) {
	eval[bool](t, ctx, `(location.hash = "#index", true)`)
	pollJS[bool](t, ctx, 10*time.Second, "the index", `!document.getElementById("index-view").hidden`)
	dropFiles(t, ctx, false, file{"indexed.mmu", mine})
	wantOpened(t, ctx, "indexed.mmu", "My own walk", scenarioSteps(t, "indexed.mmu", mine), "a scenario")
	if !eval[bool](t, ctx, `document.getElementById("index-view").hidden`) {
		t.Error("the index stays over the dropped file")
	}
}
