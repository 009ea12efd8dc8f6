//go:build !js

package main

import (
	"context"
	"fmt"
	"image"
	"math"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"mmuviz/web"
)

// TestBrowser drives the real page, served by the real binary, in headless
// Chromium: it checks that the stage is drawn where the game says, that keys
// (in the page and in the iframe), buttons, autoplay, the URL hash, reload
// and bad hashes behave, and that the console stays free of errors.
func TestBrowser(t *testing.T) {
	ctx, console, base := openPage(t, 1280, 720, "")
	lesson := eval[string](t, ctx, `document.getElementById("stage").contentWindow.mmuviz.defaultLesson()`)
	first := readPage(t, ctx)
	total := readGame(t, ctx, 0).Total
	if total < 5 {
		t.Fatalf("the default lesson %q has %d steps; the test needs at least 5", lesson, total)
	}
	wantStep(t, ctx, "lesson", lesson, 0, total)
	if first.Notice != "" {
		t.Errorf("a notice is shown on a clean load: %q", first.Notice)
	}

	checkStage(t, ctx, "default")
	stepWithKeys(t, ctx, lesson, total)
	reloadKeepsStep(t, ctx, lesson, total)
	buttonsAndClicker(t, ctx, lesson, total)
	autoplay(t, ctx)
	badHashes(t, ctx, base, lesson, total)
	lessonLinks(t, ctx, lesson, total)
	openScenario(t, ctx)
	variants(t, ctx)
	presenting(t, ctx, base, lesson, total)
	console.check(t)

	t.Run("dpr2", func(t *testing.T) { highDPI(t, ctx, base, lesson) })
	t.Run("crash", func(t *testing.T) {
		crashShowsError(t, ctx, []byte("this is not wasm"), `(?i)wasm|webassembly|compile|magic`)
	})
	t.Run("panic", func(t *testing.T) {
		crashShowsError(t, ctx, panickingWasm(t), `(?s)panic: boom from the test.*exited with code 2`)
	})
}

// panickingWasm builds a tiny Go program for js/wasm that panics at once, to
// check that game.js catches the panic text and the exit.
func panickingWasm(t *testing.T) []byte {
	dir := t.TempDir()
	src := "package main\n\nfunc main() {\n\tprintln(\"starting\")\n\tpanic(\"boom from the test\")\n}\n"
	for name, data := range map[string]string{"go.mod": "module panicker\n\ngo 1.26\n", "main.go": src} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "p.wasm")
	cmd := exec.Command(goTool(), "build", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm", "GOWORK=off", "GOFLAGS=")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the panicking wasm: %v\n%s", err, msg)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// wantStep checks the counter, the hash, the narration and kernel function
// (against the game's own state) and the highlighted lesson section.
func wantStep(t testing.TB, ctx context.Context, kind, name string, step, total int) {
	t.Helper()
	pollJS[bool](t, ctx, 15*time.Second, fmt.Sprintf("step %d", step),
		fmt.Sprintf(`document.getElementById("counter").textContent === "Step %d / %d"`, step, total-1))
	p := readPage(t, ctx)
	wantHash := fmt.Sprintf("#%s=%s&step=%d", kind, name, step)
	if p.Hash != wantHash {
		t.Errorf("at step %d the hash is %q, want %q", step, p.Hash, wantHash)
	}
	g := readGame(t, ctx, step)
	if g.Step != step || p.Narration != g.Narration || p.Func != orDash(g.Func) {
		t.Errorf("at step %d the panel shows narration %q func %q; the game says step %d %q %q",
			step, p.Narration, p.Func, g.Step, g.Narration, g.Func)
	}
	if p.Sections > 0 {
		if len(p.Current) != 1 || !inRange(p.Current[0], step) {
			t.Errorf("at step %d the current sections are %v", step, p.Current)
		}
	}
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func inRange(fromTo string, step int) bool {
	a, b, ok := strings.Cut(fromTo, "-")
	from, err1 := strconv.Atoi(a)
	to, err2 := strconv.Atoi(b)
	return ok && err1 == nil && err2 == nil && from <= step && step <= to
}

func press(t testing.TB, ctx context.Context, key string) {
	t.Helper()
	within(t, ctx, 10*time.Second, "pressing a key", chromedp.KeyEvent(key))
}

// stepWithKeys presses → twice in the parent page and once with the focus
// inside the stage iframe, then ←.
func stepWithKeys(t *testing.T, ctx context.Context, lesson string, total int) {
	eval[bool](t, ctx, `(document.activeElement && document.activeElement.blur(), true)`)
	press(t, ctx, kb.ArrowRight)
	wantStep(t, ctx, "lesson", lesson, 1, total)
	press(t, ctx, kb.ArrowRight)
	wantStep(t, ctx, "lesson", lesson, 2, total)
	inFrame := eval[bool](t, ctx, `(() => {
	  const s = document.getElementById("stage");
	  const c = s.contentDocument.querySelector("canvas");
	  (c || s.contentWindow).focus();
	  return document.activeElement === s && s.contentDocument.hasFocus();
	})()`)
	if !inFrame {
		t.Fatal("could not put the focus in the stage iframe")
	}
	press(t, ctx, kb.ArrowRight)
	wantStep(t, ctx, "lesson", lesson, 3, total)
	press(t, ctx, kb.ArrowLeft)
	wantStep(t, ctx, "lesson", lesson, 2, total)
	checkStage(t, ctx, "step2")
}

func reloadKeepsStep(t *testing.T, ctx context.Context, lesson string, total int) {
	within(t, ctx, 60*time.Second, "reloading", chromedp.Reload())
	waitReady(t, ctx)
	wantStep(t, ctx, "lesson", lesson, 2, total)
}

// buttonsAndClicker clicks Next with the mouse, then checks that the focus
// was given back so a clicker's PageDown/PageUp still step.
func buttonsAndClicker(t *testing.T, ctx context.Context, lesson string, total int) {
	within(t, ctx, 10*time.Second, "clicking Next", chromedp.Click(chromedp.ID("next")))
	wantStep(t, ctx, "lesson", lesson, 3, total)
	if a := readPage(t, ctx).Active; a != "body" {
		t.Errorf("after clicking Next the focus is on %s, want body", a)
	}
	press(t, ctx, kb.PageDown)
	wantStep(t, ctx, "lesson", lesson, 4, total)
	press(t, ctx, kb.PageUp)
	wantStep(t, ctx, "lesson", lesson, 3, total)
	press(t, ctx, kb.Home)
	wantStep(t, ctx, "lesson", lesson, 0, total)
	press(t, ctx, kb.End)
	wantStep(t, ctx, "lesson", lesson, total-1, total)
	press(t, ctx, kb.Home)
	wantStep(t, ctx, "lesson", lesson, 0, total)
}

// autoplay starts and stops playing with P and checks that steps advance on
// their own (pushed to the panel through onState).
func autoplay(t *testing.T, ctx context.Context) {
	press(t, ctx, "p")
	pollJS[bool](t, ctx, 5*time.Second, "the Pause label", `document.getElementById("play").textContent === "Pause"`)
	pollJS[bool](t, ctx, 20*time.Second, "autoplay to advance", `!document.getElementById("counter").textContent.startsWith("Step 0 /")`)
	press(t, ctx, "p")
	pollJS[bool](t, ctx, 5*time.Second, "the Play label", `document.getElementById("play").textContent === "Play"`)
	press(t, ctx, kb.Home)
}

// badHashes loads or switches to broken addresses: each must fall back (or
// clamp) and show a message that can be dismissed.
func badHashes(t *testing.T, ctx context.Context, base, lesson string, total int) {
	cases := []struct {
		hash, mention string
		step          int
	}{
		{"#lesson=no-such-lesson&step=3", "no-such-lesson", 0},
		{"#lesson=" + lesson + "&step=zz", "zz", 0},
		{"#lesson=" + lesson + "&step=99999", "out of range", total - 1},
		{"#%%%junk=<b>", "", 0},
		{"#scenario=nope", "nope", 0},
	}
	for i, c := range cases {
		if i == 0 {
			// A fresh load with a bad hash; the others change the hash in place.
			within(t, ctx, 60*time.Second, "loading a bad hash",
				chromedp.Navigate("about:blank"), chromedp.Navigate(base+c.hash))
			waitReady(t, ctx)
		} else {
			eval[bool](t, ctx, fmt.Sprintf(`(location.hash = %q, true)`, c.hash))
		}
		wantStep(t, ctx, "lesson", lesson, c.step, total)
		p := readPage(t, ctx)
		if p.Notice == "" || !strings.Contains(p.Notice, c.mention) {
			t.Errorf("hash %s: notice %q, want one mentioning %q", c.hash, p.Notice, c.mention)
		}
		if i == 0 {
			within(t, ctx, 10*time.Second, "dismissing the notice", chromedp.Click(chromedp.ID("notice-close")))
		} else {
			press(t, ctx, kb.Escape)
		}
		pollJS[bool](t, ctx, 5*time.Second, "the notice to go", `document.getElementById("notice").hidden`)
	}
}

// lessonLinks checks links inside the lesson text: a jump link (#step=N)
// seeks within the lesson, "#step=N" typed into the address does the same,
// and a footnote link scrolls without touching the permalink.
func lessonLinks(t *testing.T, ctx context.Context, lesson string, total int) {
	eval[bool](t, ctx, `(() => {
	  const sec = document.querySelector("#sections .step") || document.getElementById("sections");
	  sec.insertAdjacentHTML("beforeend",
	    '<p id="test-links"><a id="test-jump" href="#step=4" data-step="4">jump</a> <a id="test-fn" href="#fn:nowhere">fn</a></p>');
	  return true;
	})()`)
	within(t, ctx, 10*time.Second, "clicking a jump link", chromedp.Click(chromedp.ID("test-jump")))
	wantStep(t, ctx, "lesson", lesson, 4, total)
	within(t, ctx, 10*time.Second, "clicking a footnote link", chromedp.Click(chromedp.ID("test-fn")))
	if p := readPage(t, ctx); p.Notice != "" || p.Hash != fmt.Sprintf("#lesson=%s&step=4", lesson) {
		t.Errorf("after a footnote link: hash %q, notice %q", p.Hash, p.Notice)
	}
	eval[bool](t, ctx, `(location.hash = "#step=3", true)`)
	wantStep(t, ctx, "lesson", lesson, 3, total)
	eval[bool](t, ctx, `(document.getElementById("test-links").remove(), true)`)
}

// openScenario switches the hash to a bare scenario: the panel then follows
// the scenario (sections built from its narrations) and keeps the hash.
func openScenario(t *testing.T, ctx context.Context) {
	name := eval[string](t, ctx, `(JSON.parse(document.getElementById("stage").contentWindow.mmuviz.list()).scenarios[0] || {}).name || ""`)
	if name == "" {
		t.Fatal("list() has no scenarios")
	}
	eval[bool](t, ctx, fmt.Sprintf(`(location.hash = "#scenario=" + encodeURIComponent(%q) + "&step=2", true)`, name))
	pollJS[bool](t, ctx, 15*time.Second, "the scenario to open",
		fmt.Sprintf(`location.hash.startsWith("#scenario=" + encodeURIComponent(%q))`, name))
	total := readGame(t, ctx, 2).Total
	wantStep(t, ctx, "scenario", name, 2, total)
	if p := readPage(t, ctx); p.Notice != "" {
		t.Errorf("opening scenario %s shows a notice: %q", name, p.Notice)
	}
}

// highDPI loads the page at devicePixelRatio 2 in a second tab: the canvas
// backing store must be twice its CSS size (crisp), and the pixels must
// still be where the probe says.
func highDPI(t *testing.T, ctx context.Context, base, lesson string) {
	tab := newTab(t, ctx)
	console := collectConsole(tab)
	within(t, tab, 60*time.Second, "opening at DPR 2",
		chromedp.EmulateViewport(1000, 640, chromedp.EmulateScale(2)),
		chromedp.Navigate(base+"#lesson="+lesson+"&step=1"))
	waitReady(t, tab)
	si, _ := readStage(t, tab)
	if si.DPR != 2 {
		t.Fatalf("devicePixelRatio is %v, want 2", si.DPR)
	}
	if math.Abs(si.CanvasW-2*si.CSSW) > 2 || math.Abs(si.CanvasH-2*si.CSSH) > 2 || si.CSSW < 100 {
		t.Errorf("canvas backing store %vx%v for CSS %vx%v, want twice the CSS size", si.CanvasW, si.CanvasH, si.CSSW, si.CSSH)
	}
	checkStage(t, tab, "dpr2")
	console.check(t)
}

// crashShowsError serves the site with another wasm (garbage, or a program
// that panics): the page must show the error box with a message matching
// want and a Reload button, not a blank or frozen stage.
func crashShowsError(t *testing.T, ctx context.Context, wasm []byte, want string) {
	files, err := loadSite(web.FS)
	if err != nil {
		t.Fatal(err)
	}
	files[wasmName] = &asset{name: wasmName, ctype: "application/wasm", data: wasm, etag: etagOf(wasm, "")}
	srv := httptest.NewServer(newHandler(files))
	defer srv.Close()
	tab := newTab(t, ctx)
	within(t, tab, 60*time.Second, "opening the broken site", chromedp.Navigate(srv.URL+"/"))
	msg := pollJS[string](t, tab, 30*time.Second, "the crash box",
		`!document.getElementById("crash").hidden && document.getElementById("crash-text").textContent`)
	if !regexp.MustCompile(want).MatchString(msg) {
		t.Errorf("crash message %q does not say what failed", msg)
	}
	if a := readPage(t, tab).Active; a != "button#crash-reload" {
		t.Errorf("focus is on %s, want the Reload button", a)
	}
}

// checkStage takes a screenshot and checks the stage region is really drawn
// (many colours, not one flat fill) and that the highlighted entry box has
// the colour the game says, at the place the game says.
func checkStage(t testing.TB, ctx context.Context, name string) {
	t.Helper()
	// The probe and the screenshot are two reads of an animated stage: a
	// highlight still easing between rows can be caught between them. A
	// mismatch is retried on a fresh screenshot; a real one persists.
	for attempt := 1; ; attempt++ {
		msg := checkStageOnce(t, ctx, name)
		if msg == "" {
			return
		}
		if attempt == 3 {
			t.Error(msg)
			return
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// checkStageOnce checks that the stage is drawn and that the highlight the
// game reports has its colour on screen; it returns what is wrong, or "".
func checkStageOnce(t testing.TB, ctx context.Context, name string) string {
	t.Helper()
	img, si, p := screenshotStable(t, ctx)
	scale := float64(img.Bounds().Dx()) / si.ViewW
	distinct, dominant := colourStats(img, rect(si.X, si.Y, si.W, si.H, scale))
	if distinct < 5 || dominant > 0.985 {
		saveShot(t, img, name)
		t.Errorf("%s: the stage looks blank: %d distinct colours, the commonest covers %.1f%%", name, distinct, dominant*100)
	}
	want, err := parseHex(p.Color)
	if err != nil {
		t.Fatalf("probe colour %q: %v", p.Color, err)
	}
	h := p.Highlight
	if h.W < 2 || h.H < 2 || h.X+h.W/2 < 0 || h.Y+h.H/2 < 0 || h.X+h.W/2 > si.W || h.Y+h.H/2 > si.H {
		t.Fatalf("%s: probe highlight %+v is not inside the %vx%v stage", name, h, si.W, si.H)
	}
	// The centre pixel must have the colour, or (if a label is drawn over the
	// centre) most of a 5×5 grid over the middle of the box must.
	centre := pixelAt(img, (si.X+h.X+h.W/2)*scale, (si.Y+h.Y+h.H/2)*scale)
	hits := 0
	for i := 0; i < 5; i++ {
		for j := 0; j < 5; j++ {
			x := si.X + h.X + h.W*(0.2+0.15*float64(i))
			y := si.Y + h.Y + h.H*(0.2+0.15*float64(j))
			if near(pixelAt(img, x*scale, y*scale), want) {
				hits++
			}
		}
	}
	if !near(centre, want) && hits < 15 {
		saveShot(t, img, name)
		return fmt.Sprintf("%s: the highlight at %+v has centre colour %v (%d/25 grid points match), want %s", name, h, centre, hits, p.Color)
	}
	return ""
}

func rect(x, y, w, h, scale float64) image.Rectangle {
	return image.Rect(int(x*scale), int(y*scale), int((x+w)*scale), int((y+h)*scale))
}

// colourStats samples a region: how many distinct colours, and the share of
// the commonest one.
func colourStats(img image.Image, r image.Rectangle) (int, float64) {
	r = r.Intersect(img.Bounds())
	counts := map[[3]uint8]int{}
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y += 3 {
		for x := r.Min.X; x < r.Max.X; x += 3 {
			counts[rgb(img.At(x, y))]++
			n++
		}
	}
	top := 0
	for _, c := range counts {
		top = max(top, c)
	}
	if n == 0 {
		return 0, 1
	}
	return len(counts), float64(top) / float64(n)
}

func pixelAt(img image.Image, x, y float64) [3]uint8 {
	return rgb(img.At(int(x), int(y)))
}

func rgb(c interface{ RGBA() (r, g, b, a uint32) }) [3]uint8 {
	r, g, b, _ := c.RGBA()
	return [3]uint8{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8)}
}

// near allows for colour management and blending of a few units.
func near(a, b [3]uint8) bool {
	for i := range a {
		if d := int(a[i]) - int(b[i]); d > 12 || d < -12 {
			return false
		}
	}
	return true
}

func parseHex(s string) ([3]uint8, error) {
	var c [3]uint8
	if len(s) != 7 || s[0] != '#' {
		return c, fmt.Errorf("not #rrggbb")
	}
	for i := range c {
		v, err := strconv.ParseUint(s[1+2*i:3+2*i], 16, 8)
		if err != nil {
			return c, err
		}
		c[i] = uint8(v)
	}
	return c, nil
}
