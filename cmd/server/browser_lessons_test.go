//go:build !js

package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"mmuviz/lessons"
)

// TestBrowserLessons checks the lesson index against the lessons built
// into the Go program, reaches it and leaves it with the keyboard, then
// opens every lesson from it and walks every step, checking the panel at
// each one: the step, the narration (an aria-live region), the counter,
// the section marked current and the permalink.
func TestBrowserLessons(t *testing.T) {
	ctx, console, _ := openPage(t, 1280, 800, "")

	want := nativeIndex(t)
	indexByKeyboard(t, ctx)
	cards := readIndex(t, ctx, len(want))
	compareIndex(t, cards, want)
	seedFilter(t, ctx, want)
	start := time.Now()
	steps := 0
	for _, c := range cards {
		steps += walkLesson(t, ctx, c.Name, want[c.Name].steps)
	}
	t.Logf("walked %d lessons, %d steps in all, in %v (seek every step, a frame drawn at up to 16 section starts a lesson)",
		len(cards), steps, time.Since(start).Round(time.Millisecond))
	backToIndex(t, ctx, cards[len(cards)-1].Name)
	currentSectionMarked(t, ctx)
	console.check(t)
}

// indexEntry is what the index should say of a lesson.
type indexEntry struct {
	title, summary, scenario string
	seeds                    []string
	steps                    int
}

// nativeIndex reads every built-in lesson with the Go code the page runs.
func nativeIndex(t *testing.T) map[string]indexEntry {
	t.Helper()
	out := map[string]indexEntry{}
	for _, name := range lessons.Builtin() {
		h, err := lessons.BuiltinHandout(name)
		if err != nil {
			t.Fatalf("built-in lesson %s does not open: %v", name, err)
		}
		l := h.Lesson
		out[name] = indexEntry{l.Title, l.Summary, l.Scenario, l.Seeds, h.Timeline.Len()}
	}
	if len(out) == 0 {
		t.Fatal("there are no built-in lessons")
	}
	return out
}

// indexByKeyboard opens the index with Enter on "All lessons", tabs to
// the first lesson with visible focus on the way, and leaves with Esc.
func indexByKeyboard(t *testing.T, ctx context.Context) {
	hash := eval[string](t, ctx, `location.hash`)
	eval[bool](t, ctx, `(document.getElementById("all-lessons").focus(), true)`)
	press(t, ctx, kb.Enter)
	pollJS[bool](t, ctx, 10*time.Second, "the index", `!document.getElementById("index-view").hidden && location.hash === "#index"`)
	if a := readPage(t, ctx).Active; a != "h2#index-title" {
		t.Errorf("the index opened with the focus on %s, want its heading", a)
	}
	var visited []string
	for i := 0; i < 6; i++ {
		press(t, ctx, kb.Tab)
		f := eval[struct {
			ID, Tag, Outline string
			InCard           bool
		}](t, ctx, `(() => { const a = document.activeElement; const s = getComputedStyle(a);
		  return {ID: a.id, Tag: a.tagName, Outline: s.outlineStyle + " " + s.outlineWidth,
		    InCard: !!a.closest("#index-lessons .card")}; })()`)
		visited = append(visited, f.Tag+"#"+f.ID)
		if f.Outline != "solid 3px" {
			t.Errorf("keyboard focus on %s#%s shows outline %q, want a visible 3px ring", f.Tag, f.ID, f.Outline)
		}
		if f.InCard && f.Tag == "A" {
			break
		}
	}
	if !slices.Contains(visited, "BUTTON#index-close") || !strings.HasPrefix(visited[len(visited)-1], "A#") {
		t.Errorf("Tab from the index heading went through %v; want the Back button, then a lesson link", visited)
	}
	press(t, ctx, kb.Escape)
	pollJS[bool](t, ctx, 10*time.Second, "the index to close", `document.getElementById("index-view").hidden`)
	if p := readPage(t, ctx); p.Hash != hash || p.Active != "button#all-lessons" {
		t.Errorf("after Esc: hash %q (want %q), focus on %s (want the All lessons button)", p.Hash, hash, p.Active)
	}
}

// indexCard is what a card of the index shows.
type indexCard struct {
	Name, Title, Summary, Steps, Scenario string
	Seeds                                 []string
	Start, Open                           bool
}

// readIndex opens the index and waits until every step count is in.
func readIndex(t *testing.T, ctx context.Context, n int) []indexCard {
	within(t, ctx, 10*time.Second, "clicking All lessons", chromedp.Click(chromedp.ID("all-lessons")))
	pollJS[bool](t, ctx, 60*time.Second, "the step counts",
		`!document.getElementById("index-view").hidden && document.getElementById("index-lessons").getAttribute("aria-busy") === "false"`)
	cards := eval[[]indexCard](t, ctx, `[...document.querySelectorAll("#index-lessons .card")].map((c) => ({
	  Name: c.dataset.name, Title: c.querySelector("h3 a").textContent,
	  Summary: (c.querySelector(".summary") || {}).textContent || "",
	  Steps: c.querySelector("[data-count]").textContent,
	  Scenario: (c.querySelector("dd code") || {}).textContent || "",
	  Seeds: [...c.querySelectorAll(".seed")].map((s) => s.title),
	  Start: [...c.querySelectorAll(".badge")].some((b) => b.textContent === "Start here"),
	  Open: c.getAttribute("aria-current") === "true" && [...c.querySelectorAll(".badge")].some((b) => b.textContent === "Open now"),
	}))`)
	if len(cards) != n {
		t.Fatalf("the index lists %d lessons, the Go program has %d", len(cards), n)
	}
	return cards
}

func compareIndex(t *testing.T, cards []indexCard, want map[string]indexEntry) {
	lesson := cards[0].Name
	if !cards[0].Start || !cards[0].Open {
		t.Errorf("the first card (%s) is not marked Start here and Open now: %+v", lesson, cards[0])
	}
	for _, c := range cards {
		w, ok := want[c.Name]
		if !ok {
			t.Errorf("the index lists %q, which is not a built-in lesson", c.Name)
			continue
		}
		seeds := w.seeds
		if seeds == nil {
			seeds = []string{}
		}
		if c.Title != w.title || c.Summary != w.summary || c.Scenario != w.scenario || c.Steps != strconv.Itoa(w.steps) ||
			!slices.Equal(c.Seeds, seeds) {
			t.Errorf("index card %s: %+v\nwant title %q summary %q scenario %q steps %d seeds %v",
				c.Name, c, w.title, w.summary, w.scenario, w.steps, seeds)
		}
		if c.Name != lesson && (c.Start || c.Open) {
			t.Errorf("index card %s is marked Start here or Open now", c.Name)
		}
	}
}

// seedFilter picks each seed thread in the index's filter: the cards
// shown are exactly the lessons that name it.
func seedFilter(t *testing.T, ctx context.Context, want map[string]indexEntry) {
	seeds := eval[[]string](t, ctx, `[...document.getElementById("index-seed").options].map((o) => o.value).filter((v) => v)`)
	for _, seed := range seeds {
		shown := eval[[]string](t, ctx, fmt.Sprintf(`(() => { const s = document.getElementById("index-seed");
		  s.value = %q; s.dispatchEvent(new Event("change"));
		  return [...document.querySelectorAll("#index-lessons .card")].filter((c) => !c.hidden).map((c) => c.dataset.name); })()`, seed))
		var names []string
		for name, w := range want {
			if slices.Contains(w.seeds, seed) {
				names = append(names, name)
			}
		}
		slices.Sort(names)
		slices.Sort(shown)
		if !slices.Equal(shown, names) {
			t.Errorf("seed %s: the index shows %v, the lessons naming it are %v", seed, shown, names)
		}
	}
	t.Logf("seed filter: %d seed threads named by lessons", len(seeds))
	eval[bool](t, ctx, `(() => { const s = document.getElementById("index-seed"); s.value = ""; s.dispatchEvent(new Event("change")); return true; })()`)
}

// walkJS seeks every step of what is open and checks the panel after each
// seek; at the first step of up to 16 sections it waits for an animation
// frame of the stage, so that the game draws that step (software WebGL
// takes 50-200 ms a frame here: drawing every step would take minutes;
// render's own tests lay out every step of every built-in).
const walkJS = `(async (name) => {
  const $ = (id) => document.getElementById(id);
  const win = $("stage").contentWindow;
  const g = win.mmuviz;
  const total = JSON.parse(g.seek(0)).total;
  // Frames are drawn at up to 16 section starts, spread over the lesson.
  const all = [...document.querySelectorAll("#sections .step")].map((s) => Number(s.dataset.from));
  const starts = new Set(all.filter((_, i) => all.length <= 16 || Math.floor(i * 16 / all.length) !== Math.floor((i - 1) * 16 / all.length)));
  const bad = [];
  let frames = 0, waited = 0;
  const t0 = performance.now();
  for (let k = 0; k < total && bad.length < 10; k++) {
    const s = JSON.parse(g.seek(k));
    const where = "step " + k + ": ";
    if (s.step !== k || s.lesson !== name || s.kind !== "lesson") bad.push(where + "the game is at " + s.kind + " " + s.lesson + " step " + s.step);
    if ($("narration").textContent !== s.narration || s.narration === "") bad.push(where + "narration " + JSON.stringify($("narration").textContent) + ", the game says " + JSON.stringify(s.narration));
    if ($("counter").textContent !== "Step " + k + " / " + (total - 1)) bad.push(where + "counter " + $("counter").textContent);
    const hash = "#lesson=" + name + "&step=" + k + (s.variant ? "&variant=" + s.variant : "");
    if (location.hash !== hash) bad.push(where + "hash " + location.hash + ", want " + hash);
    const cur = [...document.querySelectorAll('#sections .step[aria-current="step"]')];
    if (cur.length !== 1 || Number(cur[0].dataset.from) > k || k > Number(cur[0].dataset.to)) {
      bad.push(where + cur.length + " sections marked current: " + cur.map((c) => c.dataset.from + "-" + c.dataset.to));
    } else if (cur[0].textContent.trim() === "") {
      bad.push(where + "the current section has no text");
    }
    if (starts.has(k)) {
      const w0 = performance.now();
      await new Promise((r) => win.requestAnimationFrame(r));
      waited += performance.now() - w0;
      frames++;
    }
    if (!$("crash").hidden) {
      bad.push(where + "crash: " + $("crash-text").textContent);
      break;
    }
  }
  return {total, frames, bad, ms: Math.round(performance.now() - t0), waited: Math.round(waited)};
})`

// walkLesson opens a lesson from the index with a click and walks it.
func walkLesson(t *testing.T, ctx context.Context, name string, steps int) int {
	eval[bool](t, ctx, `(location.hash = "#index", true)`)
	pollJS[bool](t, ctx, 10*time.Second, "the index", `!document.getElementById("index-view").hidden`)
	within(t, ctx, 10*time.Second, "clicking lesson "+name,
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`#index-lessons .card[data-name=%q] h3 a`, name))))
	pollJS[bool](t, ctx, 30*time.Second, "lesson "+name+" to open", fmt.Sprintf(
		`document.getElementById("index-view").hidden && location.hash.startsWith("#lesson=%s&step=0") && document.getElementById("counter").textContent === "Step 0 / %d"`,
		name, steps-1))
	tctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	res, err := chromedp.Run(tctx, chromedp.Evaluate[struct {
		Total, Frames, MS, Waited int
		Bad                       []string
	}](walkJS+`(`+strconv.Quote(name)+`)`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("walking lesson %s: %v", name, err)
	}
	t.Logf("lesson %s: %d steps, %d frames drawn, %d ms (%d ms waiting for frames)", name, res.Total, res.Frames, res.MS, res.Waited)
	if res.Total != steps {
		t.Errorf("lesson %s has %d steps in the page, %d in the Go program", name, res.Total, steps)
	}
	for _, b := range res.Bad {
		t.Errorf("lesson %s, %s", name, b)
	}
	img, si, _ := screenshotStable(t, ctx)
	scale := float64(img.Bounds().Dx()) / si.ViewW
	if distinct, dominant := colourStats(img, rect(si.X, si.Y, si.W, si.H, scale)); distinct < 5 || dominant > 0.985 {
		saveShot(t, img, "lesson-"+name)
		t.Errorf("lesson %s: the stage looks blank at its last step", name)
	}
	return res.Total
}

// backToIndex checks that Back after opening a lesson from the index
// shows the index again, and that the index marks that lesson open.
func backToIndex(t *testing.T, ctx context.Context, name string) {
	eval[bool](t, ctx, `(history.back(), true)`)
	pollJS[bool](t, ctx, 10*time.Second, "the index after Back", `!document.getElementById("index-view").hidden && location.hash === "#index"`)
	open := eval[[]string](t, ctx, `[...document.querySelectorAll('#index-lessons .card[aria-current="true"]')].map((c) => c.dataset.name)`)
	if len(open) != 1 || open[0] != name {
		t.Errorf("after opening %s the index marks %v as open", name, open)
	}
	if !eval[bool](t, ctx, `document.getElementById("stage").inert`) {
		t.Error("the stage stays in the tab order under the index")
	}
	within(t, ctx, 10*time.Second, "clicking Back to the visualizer", chromedp.Click(chromedp.ID("index-close")))
	pollJS[bool](t, ctx, 10*time.Second, "the lesson again", fmt.Sprintf(`document.getElementById("index-view").hidden && location.hash.startsWith("#lesson=%s&")`, name))
}

// currentSectionMarked checks that the current section is told by more
// than its colour: aria-current, and a "Now" label drawn before it.
func currentSectionMarked(t *testing.T, ctx context.Context) {
	m := eval[struct {
		Current, Label, Live string
	}](t, ctx, `(() => { const c = document.querySelector("#sections .step.current");
	  return {Current: c ? c.getAttribute("aria-current") : "", Label: c ? getComputedStyle(c, "::before").content : "",
	    Live: document.getElementById("narration").getAttribute("aria-live")}; })()`)
	if m.Current != "step" || !strings.Contains(m.Label, "Now") || m.Live != "polite" {
		t.Errorf("current section: aria-current %q, label %s; narration aria-live %q", m.Current, m.Label, m.Live)
	}
}
