//go:build !js

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"mmuviz/web"
)

// Helpers shared by the browser test and the page-load benchmark.

func browserRequired() bool { return os.Getenv("MMUVIZ_REQUIRE_BROWSER") == "1" }

// skipOrFail skips the test, or fails it when MMUVIZ_REQUIRE_BROWSER=1 (CI),
// where a silently skipped browser test would hide a broken page.
func skipOrFail(t testing.TB, msg string) {
	t.Helper()
	if browserRequired() {
		t.Fatal(msg + " (MMUVIZ_REQUIRE_BROWSER=1)")
	}
	t.Skip(msg)
}

// findBrowser returns the path of a Chromium-family browser.
func findBrowser(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	skipOrFail(t, "no chromium, chromium-browser or google-chrome on PATH; install one (apt-get install chromium) to run the browser test")
	return ""
}

// needWasm checks that the site embedded in this test binary (and so in the
// server binary built from the same tree) has the Go program.
func needWasm(t testing.TB) {
	t.Helper()
	if _, err := fs.Stat(web.FS, wasmName); err != nil {
		skipOrFail(t, "web/dist/mmuviz.wasm is not built: run `make wasm` (make test does it) before the browser test")
	}
}

// newBrowser starts a headless browser with a fresh profile and returns a
// context for its first tab; it is closed at the end of the test.
func newBrowser(t testing.TB, exe string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		// Software WebGL without the deprecation warning (see
		// shared/reference/ebiten-wasm.md); never --disable-software-rasterizer.
		chromedp.Flag("enable-unsafe-swiftshader", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser, with no timeout
		t.Fatalf("starting %s: %v", exe, err)
	}
	return ctx
}

// newTab opens another tab of the browser of ctx, closed at the end of the
// test. The tab is attached here, without a deadline, because the context
// of a tab's first action owns the tab: a timeout there would close it.
func newTab(t testing.TB, ctx context.Context) context.Context {
	t.Helper()
	tab, cancel := chromedp.NewContext(ctx)
	t.Cleanup(cancel)
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("opening a tab: %v", err)
	}
	return tab
}

// consoleLog gathers the console messages and uncaught exceptions of a tab
// (its iframe included: same origin, same target).
type consoleLog struct {
	mu   sync.Mutex
	msgs []chromedp.ConsoleMessage
}

func collectConsole(ctx context.Context) *consoleLog {
	c := &consoleLog{}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			c.mu.Lock()
			c.msgs = append(c.msgs, m)
			c.mu.Unlock()
		}
	}()
	return c
}

// check fails the test on any error-level message, exception, or text that
// mentions a panic; it logs the rest to help read a failure.
func (c *consoleLog) check(t testing.TB) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.msgs {
		bad := m.Type == chromedp.ConsoleError || m.IsException() || strings.Contains(strings.ToLower(m.Text), "panic")
		if bad {
			t.Errorf("console %s (%s:%d): %s", m.Type, m.URL, m.Line+1, m.Text)
		} else if testing.Verbose() {
			t.Logf("console %s: %.200s", m.Type, m.Text)
		}
	}
}

// within runs actions with a deadline, without tying the browser's life to it.
func within(t testing.TB, ctx context.Context, d time.Duration, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if err := chromedp.Do(tctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func eval[T any](t testing.TB, ctx context.Context, js string) T {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(tctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluate %.80s: %v", js, err)
	}
	return v
}

// pollJS waits until expr is truthy and returns its value. It evaluates in a
// short loop (25 ms) so a timeout can describe the page as it was.
func pollJS[T any](t testing.TB, ctx context.Context, d time.Duration, what, expr string) T {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	wrapped := `(() => { const v = (` + expr + `); return v ? { ok: true, v } : { ok: false }; })()`
	var lastErr error
	for {
		res, err := chromedp.Run(tctx, chromedp.Evaluate[struct {
			OK bool `json:"ok"`
			V  T    `json:"v"`
		}](wrapped))
		if err == nil && res.OK {
			return res.V
		}
		if err != nil {
			lastErr = err // e.g. the document is being replaced: try again
		}
		select {
		case <-tctx.Done():
			t.Fatalf("waiting for %s: timed out after %v (last error: %v)\npage: %s", what, d, lastErr, describePage(ctx))
			var zero T
			return zero
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// readyJS is truthy once the page has drawn a frame of its first state, or
// has shown a crash (then it says so, and waitReady fails with the message).
const readyJS = `(() => {
  const c = document.getElementById("crash");
  if (c && !c.hidden) return "crash: " + document.getElementById("crash-text").textContent;
  const t = window.mmuvizTimings;
  return t && t.firstFrame > 0 ? "ready" : "";
})()`

// waitReady waits for the loaded page to be usable and fails on a crash.
func waitReady(t testing.TB, ctx context.Context) {
	t.Helper()
	if got := pollJS[string](t, ctx, 90*time.Second, "the page to become ready", readyJS); got != "ready" {
		t.Fatalf("the page crashed: %s", got)
	}
}

// pageState is what a person sees in the panel, plus where focus is.
type pageState struct {
	Counter   string   `json:"counter"`
	Hash      string   `json:"hash"`
	Narration string   `json:"narration"`
	Func      string   `json:"func"`
	Current   []string `json:"current"` // "from-to" of each section marked current
	Sections  int      `json:"sections"`
	Notice    string   `json:"notice"` // empty while hidden
	Play      string   `json:"play"`
	Active    string   `json:"active"`
}

const pageStateJS = `(() => {
  const $ = (id) => document.getElementById(id);
  const a = document.activeElement;
  return {
    counter: $("counter").textContent, hash: location.hash,
    narration: $("narration").textContent, func: $("func").textContent,
    current: [...document.querySelectorAll("#sections .step.current")].map((s) => s.dataset.from + "-" + s.dataset.to),
    sections: document.querySelectorAll("#sections .step").length,
    notice: $("notice").hidden ? "" : $("notice-text").textContent,
    play: $("play").textContent,
    active: a ? a.tagName.toLowerCase() + (a.id ? "#" + a.id : "") : "",
  };
})()`

func readPage(t testing.TB, ctx context.Context) pageState {
	t.Helper()
	return eval[pageState](t, ctx, pageStateJS)
}

func describePage(ctx context.Context) string {
	tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	v, err := chromedp.Run(tctx, chromedp.Evaluate[[]byte](pageStateJS))
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	return string(v)
}

// gameState calls seek(step) on the game (idempotent for the current step)
// to learn the narration and function the panel should show.
type gameState struct {
	Step      int    `json:"step"`
	Total     int    `json:"total"`
	Narration string `json:"narration"`
	Func      string `json:"func"`
	Kind      string `json:"kind"`
	Lesson    string `json:"lesson"`
	Scenario  string `json:"scenario"`
}

func readGame(t testing.TB, ctx context.Context, step int) gameState {
	t.Helper()
	raw := eval[string](t, ctx, fmt.Sprintf(`document.getElementById("stage").contentWindow.mmuviz.seek(%d)`, step))
	var g gameState
	if err := json.Unmarshal([]byte(raw), &g); err != nil {
		t.Fatalf("seek(%d) returned %q: %v", step, raw, err)
	}
	return g
}

// stageInfo is the stage iframe's place in the page, the canvas backing
// store, and the game's probe.
type stageInfo struct {
	X       float64 `json:"x"`
	Y       float64 `json:"y"`
	W       float64 `json:"w"`
	H       float64 `json:"h"`
	ViewW   float64 `json:"viewW"`
	DPR     float64 `json:"dpr"`
	CanvasW float64 `json:"canvasW"`
	CanvasH float64 `json:"canvasH"`
	CSSW    float64 `json:"cssW"`
	CSSH    float64 `json:"cssH"`
	Probe   string  `json:"probe"`
}

type probeResult struct {
	Step      int `json:"step"`
	Highlight struct {
		X float64 `json:"x"`
		Y float64 `json:"y"`
		W float64 `json:"w"`
		H float64 `json:"h"`
	} `json:"highlight"`
	Color string `json:"color"`
}

const stageInfoJS = `(() => {
  const s = document.getElementById("stage");
  const r = s.getBoundingClientRect();
  const c = s.contentDocument.querySelector("canvas");
  return {
    x: r.left + s.clientLeft, y: r.top + s.clientTop, w: s.clientWidth, h: s.clientHeight,
    viewW: window.innerWidth, dpr: window.devicePixelRatio,
    canvasW: c ? c.width : 0, canvasH: c ? c.height : 0,
    cssW: c ? c.clientWidth : 0, cssH: c ? c.clientHeight : 0,
    probe: String(s.contentWindow.mmuviz.probe()),
  };
})()`

func readStage(t testing.TB, ctx context.Context) (stageInfo, probeResult) {
	t.Helper()
	si := eval[stageInfo](t, ctx, stageInfoJS)
	var p probeResult
	if err := json.Unmarshal([]byte(si.Probe), &p); err != nil {
		t.Fatalf("probe() returned %q: %v", si.Probe, err)
	}
	return si, p
}

// screenshotStable takes a screenshot while the highlight is not moving (the
// game eases motion), so the probe describes the captured frame.
func screenshotStable(t testing.TB, ctx context.Context) (image.Image, stageInfo, probeResult) {
	t.Helper()
	for try := 0; try < 40; try++ {
		si, before := readStage(t, ctx)
		tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		buf, err := chromedp.Run(tctx, chromedp.CaptureScreenshot())
		cancel()
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		_, after := readStage(t, ctx)
		if before != after {
			continue
		}
		img, err := png.Decode(bytes.NewReader(buf))
		if err != nil {
			t.Fatalf("decoding the screenshot: %v", err)
		}
		return img, si, after
	}
	t.Fatal("the highlight never stood still for a screenshot")
	return nil, stageInfo{}, probeResult{}
}

// saveShot keeps a screenshot of a failed check where a person can look at it.
func saveShot(t testing.TB, img image.Image, name string) {
	t.Helper()
	p := filepath.Join(os.TempDir(), "mmuviz-"+name+"-"+strconv.FormatInt(time.Now().UnixNano(), 36)+".png")
	f, err := os.Create(p)
	if err != nil {
		return
	}
	defer f.Close()
	if png.Encode(f, img) == nil {
		t.Logf("screenshot saved to %s", p)
	}
}

// openPage starts the server and a headless browser and opens the page at
// hash (empty for the default) in a width×height viewport with loadPage.
// It returns the browser, the console collector and the server's address.
func openPage(t *testing.T, width, height int64, hash string) (context.Context, *consoleLog, string) {
	t.Helper()
	needWasm(t)
	exe := findBrowser(t)
	base := startServer(t)
	ctx := newBrowser(t, exe)
	what := "opening the page"
	if hash != "" {
		what += " at " + hash
	}
	return ctx, loadPage(t, ctx, width, height, base+hash, what), base
}

// loadPage starts collecting ctx's console, loads url in a width×height
// viewport and waits until the stage is ready; what names the load in a
// timeout's error.
func loadPage(t testing.TB, ctx context.Context, width, height int64, url, what string) *consoleLog {
	t.Helper()
	console := collectConsole(ctx)
	within(t, ctx, 60*time.Second, what, chromedp.EmulateViewport(width, height), chromedp.Navigate(url))
	waitReady(t, ctx)
	return console
}
