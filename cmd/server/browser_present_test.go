//go:build !js

package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// presenting checks the sharing and lecture-hall features: the copied link,
// embed mode, presenter mode with the clicker's blank key, and PNG export.
func presenting(t *testing.T, ctx context.Context, base, lesson string, total int) {
	copyLinkText(t, ctx, base, lesson)
	embedMode(t, ctx, base, lesson, total)
	presenterMode(t, ctx, base, lesson, total)
	exportFrame(t, ctx, lesson)
}

// copyLinkText clicks "Copy link to this step" at a variant's step: the link
// (from the clipboard or, when the clipboard is refused, the selected
// read-only field) is the page's address with the permalink.
func copyLinkText(t *testing.T, ctx context.Context, base, lesson string) {
	eval[bool](t, ctx, fmt.Sprintf(`(location.hash = "#scenario=%s&step=4&variant=level-expanded", true)`, variantScenario))
	pollJS[bool](t, ctx, 15*time.Second, "the variant permalink", `document.getElementById("counter").textContent.startsWith("Step 4 /")`)
	want := strings.TrimSuffix(base, "/") + "/#scenario=" + variantScenario + "&step=4&variant=level-expanded"
	within(t, ctx, 10*time.Second, "clicking Copy link", chromedp.Click(chromedp.ID("copy-link")))
	status := pollJS[string](t, ctx, 10*time.Second, "the copy confirmation", `document.getElementById("copy-status").textContent`)
	got := eval[string](t, ctx, `document.getElementById("link-text").value`)
	if got != want {
		t.Errorf("the copied link is %q, want %q", got, want)
	}
	if status != "Copied" {
		// The clipboard was refused: the field must hold the link, selected.
		sel := eval[string](t, ctx, `(() => { const i = document.getElementById("link-text");
		  return i.hidden ? "" : i.value.slice(i.selectionStart, i.selectionEnd); })()`)
		if sel != want {
			t.Errorf("copy said %q and the selected link is %q, want %q", status, sel, want)
		}
	}
	t.Logf("copy link: %q (%s)", got, status)
	if live := eval[string](t, ctx, `document.getElementById("copy-status").getAttribute("aria-live")`); live != "polite" {
		t.Errorf("the copy confirmation has aria-live %q", live)
	}
	// A refused clipboard: the link is left selected in the read-only field.
	eval[bool](t, ctx, `(navigator.clipboard.writeText = () => Promise.reject(new Error("refused by the test")),
	  document.getElementById("copy-status").textContent = "", true)`)
	within(t, ctx, 10*time.Second, "clicking Copy link again", chromedp.Click(chromedp.ID("copy-link")))
	status = pollJS[string](t, ctx, 10*time.Second, "the fallback's message", `document.getElementById("copy-status").textContent`)
	sel := eval[string](t, ctx, `(() => { const i = document.getElementById("link-text");
	  return i.hidden || document.activeElement !== i ? "" : i.value.slice(i.selectionStart, i.selectionEnd); })()`)
	if sel != want {
		t.Errorf("with the clipboard refused (%q) the selected link is %q, want %q", status, sel, want)
	}
	t.Logf("fallback: %q", status)
	// Keys still step with the focus on the read-only field.
	press(t, ctx, kb.ArrowRight)
	pollJS[bool](t, ctx, 10*time.Second, "stepping after the copy", `location.hash.includes("&step=5&")`)
	eval[bool](t, ctx, `(document.activeElement && document.activeElement.blur(), true)`)
	eval[bool](t, ctx, fmt.Sprintf(`(location.hash = "#lesson=%s&step=0", true)`, lesson))
	pollJS[bool](t, ctx, 15*time.Second, "back to the lesson", fmt.Sprintf(`location.hash === "#lesson=%s&step=0"`, lesson))
}

// controlsShown is true while the step buttons or the picker are visible.
const controlsShownJS = `(() => {
  const vis = (id) => { const e = document.getElementById(id); return !!e && e.getClientRects().length > 0; };
  return vis("controls") || vis("pick") || vis("tools") || vis("sections");
})()`

// embedMode loads a permalink with &embed=1: no controls, the stage fills
// the page above a one-line caption, keys step and the hash keeps embed=1.
func embedMode(t *testing.T, ctx context.Context, base, lesson string, total int) {
	tab := newTab(t, ctx)
	console := loadPage(t, tab, 1000, 600, base+"#lesson="+lesson+"&step=1&embed=1", "opening an embed link")
	if eval[bool](t, tab, controlsShownJS) {
		t.Error("embed mode shows the controls")
	}
	lay := eval[struct {
		StageW, StageH, ViewW, ViewH, CaptionH float64
		Caption                                string
	}](t, tab, `(() => {
	  const s = document.getElementById("stage").getBoundingClientRect();
	  const n = document.getElementById("narration");
	  return {StageW: s.width, StageH: s.height, ViewW: innerWidth, ViewH: innerHeight,
	    CaptionH: n.getBoundingClientRect().height, Caption: n.textContent};
	})()`)
	if lay.StageW < lay.ViewW-2 || lay.StageH < lay.ViewH*0.8 {
		t.Errorf("embed: the stage is %vx%v in a %vx%v page", lay.StageW, lay.StageH, lay.ViewW, lay.ViewH)
	}
	if lay.Caption == "" || lay.CaptionH < 12 || lay.CaptionH > 40 {
		t.Errorf("embed: caption %q is %vpx high, want one readable line", lay.Caption, lay.CaptionH)
	}
	eval[bool](t, tab, `(document.activeElement && document.activeElement.blur(), true)`)
	press(t, tab, kb.ArrowRight)
	pollJS[bool](t, tab, 10*time.Second, "embed stepping",
		fmt.Sprintf(`location.hash === "#lesson=%s&step=2&embed=1"`, lesson))
	g := readGame(t, tab, 2)
	if n := eval[string](t, tab, `document.getElementById("narration").textContent`); n != g.Narration {
		t.Errorf("embed caption %q, the game says %q", n, g.Narration)
	}
	checkStage(t, tab, "embed")
	console.check(t)
}

// presenterMode toggles presenter mode with F: large type, no controls, the
// clicker still steps, B and . blank the page to black and back, Esc leaves.
func presenterMode(t *testing.T, ctx context.Context, base, lesson string, total int) {
	tab := newTab(t, ctx)
	console := loadPage(t, tab, 1280, 720, base+"#lesson="+lesson+"&step=1", "opening the page to present")
	eval[bool](t, tab, `(document.activeElement && document.activeElement.blur(), true)`)
	press(t, tab, "f")
	pollJS[bool](t, tab, 10*time.Second, "presenter mode",
		fmt.Sprintf(`document.body.classList.contains("presenting") && location.hash === "#lesson=%s&step=1&present=1"`, lesson))
	if eval[bool](t, tab, controlsShownJS) {
		t.Error("presenter mode shows the controls")
	}
	t.Logf("presenter mode: fullscreen %v", eval[bool](t, tab, `!!document.fullscreenElement`))
	size := eval[float64](t, tab, `parseFloat(getComputedStyle(document.getElementById("narration")).fontSize)`)
	if size < 28 {
		t.Errorf("presenter narration is %vpx, want at least 28", size)
	}
	press(t, tab, kb.PageDown)
	pollJS[bool](t, tab, 10*time.Second, "stepping while presenting", `location.hash.includes("&step=2&present=1")`)
	press(t, tab, kb.PageUp)
	pollJS[bool](t, tab, 10*time.Second, "stepping back while presenting", `location.hash.includes("&step=1&present=1")`)
	checkStage(t, tab, "presenting")

	for _, key := range []string{"b", "."} {
		press(t, tab, key)
		pollJS[bool](t, tab, 5*time.Second, "the blank screen", `!document.getElementById("blank").hidden`)
		if c := centrePixel(t, tab); c != [3]uint8{0, 0, 0} {
			t.Errorf("blanked with %q, the page centre is %v, want black", key, c)
		}
		press(t, tab, kb.PageDown) // ignored while blank
		press(t, tab, key)
		pollJS[bool](t, tab, 5*time.Second, "the screen back", `document.getElementById("blank").hidden`)
		if c := centrePixel(t, tab); c == [3]uint8{0, 0, 0} {
			t.Errorf("unblanked with %q, the page centre is still black", key)
		}
		if h := eval[string](t, tab, `location.hash`); h != "#lesson="+lesson+"&step=1&present=1" {
			t.Errorf("blanking moved the permalink to %q", h)
		}
	}

	// Reloading the permalink keeps presenter mode; Esc leaves it.
	within(t, tab, 60*time.Second, "reloading while presenting", chromedp.Reload())
	waitReady(t, tab)
	pollJS[bool](t, tab, 10*time.Second, "presenter mode after a reload", `document.body.classList.contains("presenting")`)
	eval[bool](t, tab, `(document.activeElement && document.activeElement.blur(), true)`)
	press(t, tab, kb.Escape)
	pollJS[bool](t, tab, 10*time.Second, "leaving presenter mode",
		fmt.Sprintf(`!document.body.classList.contains("presenting") && location.hash === "#lesson=%s&step=1"`, lesson))
	if !eval[bool](t, tab, controlsShownJS) {
		t.Error("the controls did not come back after presenter mode")
	}
	// The Present button does the same as F.
	within(t, tab, 10*time.Second, "clicking Present", chromedp.Click(chromedp.ID("present")))
	pollJS[bool](t, tab, 10*time.Second, "presenter mode from the button",
		`document.body.classList.contains("presenting") && location.hash.endsWith("&present=1") && !document.getElementById("blank").getClientRects().length`)
	press(t, tab, kb.ArrowRight)
	pollJS[bool](t, tab, 10*time.Second, "stepping after the button", `location.hash.includes("&step=2&present=1")`)
	press(t, tab, "F")
	pollJS[bool](t, tab, 10*time.Second, "leaving with F", `!document.body.classList.contains("presenting")`)
	console.check(t)
}

func centrePixel(t *testing.T, ctx context.Context) [3]uint8 {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	buf, err := chromedp.Run(tctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(buf))
	if err != nil {
		t.Fatalf("decoding the screenshot: %v", err)
	}
	b := img.Bounds()
	return rgb(img.At((b.Min.X+b.Max.X)/2, (b.Min.Y+b.Max.Y)/2))
}

// exportFrame presses S: a PNG named after the lesson and step is
// downloaded, and it is a real frame (many colours), not a blank canvas.
func exportFrame(t *testing.T, ctx context.Context, lesson string) {
	dir := t.TempDir()
	within(t, ctx, 10*time.Second, "allowing downloads", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir,
		})
		return err
	}))
	eval[bool](t, ctx, fmt.Sprintf(`(location.hash = "#lesson=%s&step=3", true)`, lesson))
	pollJS[bool](t, ctx, 10*time.Second, "step 3", `document.getElementById("counter").textContent.startsWith("Step 3 /")`)
	eval[bool](t, ctx, `(document.activeElement && document.activeElement.blur(), window.mmuvizLastExport = null, true)`)
	press(t, ctx, "s")
	name := pollJS[string](t, ctx, 15*time.Second, "the export", `window.mmuvizLastExport && window.mmuvizLastExport.name`)
	if want := "mmuviz-" + lesson + "-step3.png"; name != want {
		t.Errorf("exported %q, want %q", name, want)
	}
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	dataURL, err := chromedp.Run(tctx, chromedp.Evaluate[string](`new Promise((resolve) => {
	  const r = new FileReader();
	  r.onload = () => resolve(r.result);
	  r.readAsDataURL(window.mmuvizLastExport.blob);
	})`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("reading the exported blob: %v", err)
	}
	data, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(dataURL, "data:image/png;base64,"))
	if err != nil {
		t.Fatalf("the export is not a PNG data URL: %.60s", dataURL)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("decoding the exported PNG: %v", err)
	}
	distinct, dominant := colourStats(img, img.Bounds())
	if distinct < 5 || dominant > 0.985 || img.Bounds().Dx() < 100 {
		saveShot(t, img, "export")
		t.Errorf("the exported frame (%v) looks blank: %d colours, the commonest covers %.1f%%", img.Bounds(), distinct, dominant*100)
	}
	t.Logf("export: %s, %v, %d colours", name, img.Bounds(), distinct)
	// The download itself lands in the directory (named as asked).
	pollFile(t, filepath.Join(dir, name))
}

func pollFile(t *testing.T, path string) {
	t.Helper()
	for i := 0; i < 100; i++ {
		if st, err := os.Stat(path); err == nil && st.Size() > 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Errorf("the download %s did not appear", path)
}
