//go:build !js

package main

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"mmuviz/lessons"
)

// TestBrowserFrames exports the open lesson's frames for slides: one ZIP
// with a PNG per step (step-000.png, ...) and the narration in steps.txt,
// downloaded as mmuviz-<lesson>-frames.zip; then a range typed with the
// keyboard, a range that does not exist, and a cancelled export. With
// MMUVIZ_EXPORT_LONGEST=1 it also exports the longest lesson and logs
// the time (no assertion on time).
func TestBrowserFrames(t *testing.T) {
	ctx, console, _ := openPage(t, 1100, 700, "")
	dir := t.TempDir()
	within(t, ctx, 10*time.Second, "allowing downloads", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir,
		})
		return err
	}))
	lesson := eval[string](t, ctx, `document.getElementById("stage").contentWindow.mmuviz.defaultLesson()`)
	total := readGame(t, ctx, 0).Total
	eval[bool](t, ctx, `(document.getElementById("stage").contentWindow.mmuviz.seek(7), true)`)

	within(t, ctx, 10*time.Second, "opening Export frames", chromedp.Click(chromedp.CSS("#frames-box summary")))
	within(t, ctx, 10*time.Second, "clicking Download ZIP", chromedp.Click(chromedp.ID("export-frames")))
	name, files, ms := readFrames(t, ctx, 5*time.Minute)
	t.Logf("exported %s: %d frames in %d ms", name, total, ms)
	if want := "mmuviz-" + lesson + "-frames.zip"; name != want {
		t.Errorf("the ZIP is named %q, want %q", name, want)
	}
	if c := readPage(t, ctx).Counter; c != fmt.Sprintf("Step 7 / %d", total-1) {
		t.Errorf("after the export the page shows %q, want step 7 again", c)
	}
	checkFrames(t, ctx, files, 0, total-1) // seeks the game to read narrations
	pollFile(t, filepath.Join(dir, name))

	frameRange(t, ctx)
	cancelExport(t, ctx)
	if os.Getenv("MMUVIZ_EXPORT_LONGEST") == "1" {
		exportLongest(t, ctx)
	}
	console.check(t)
}

// readFrames waits for the export and reads the ZIP with archive/zip:
// its name, its files by name (in order) and the time it took.
func readFrames(t *testing.T, ctx context.Context, d time.Duration) (string, []*zip.File, int) {
	t.Helper()
	name := pollJS[string](t, ctx, d, "the frames export", `window.mmuvizLastFrames && window.mmuvizLastFrames.name`)
	tctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	got, err := chromedp.Run(tctx, chromedp.Evaluate[struct {
		Data       string
		MS, DrawMS int
	}](`new Promise((resolve) => {
	  const r = new FileReader();
	  r.onload = () => resolve({Data: r.result, MS: window.mmuvizLastFrames.ms, DrawMS: window.mmuvizLastFrames.drawMs});
	  r.readAsDataURL(window.mmuvizLastFrames.blob);
	})`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("reading the ZIP: %v", err)
	}
	data, err := base64.StdEncoding.DecodeString(got.Data[strings.IndexByte(got.Data, ',')+1:])
	if err != nil {
		t.Fatalf("the ZIP is not a data URL: %.60s", got.Data)
	}
	r, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("the export is not a ZIP (%d bytes): %v", len(data), err)
	}
	t.Logf("%s: %d bytes, %d ms, of which %d ms waiting for the game to draw", name, len(data), got.MS, got.DrawMS)
	return name, r.File, got.MS
}

// checkFrames checks a ZIP of steps from..to: the PNG entries in order,
// each a real PNG (signature, decodes, not blank), and steps.txt with
// each step's narration as the game gives it.
func checkFrames(t *testing.T, ctx context.Context, files []*zip.File, from, to int) {
	t.Helper()
	n := to - from + 1
	if len(files) != n+1 {
		t.Fatalf("the ZIP has %d files, want %d frames and steps.txt", len(files), n)
	}
	distinct := map[[32]byte]bool{}
	for i, f := range files[:n] {
		want := fmt.Sprintf("step-%03d.png", from+i)
		data := readZipped(t, f)
		if f.Name != want || f.Method != zip.Store || !bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")) {
			t.Errorf("entry %d: %s, method %d, starts %q; want %s, stored, a PNG", i, f.Name, f.Method, data[:min(8, len(data))], want)
			continue
		}
		distinct[sha256.Sum256(data)] = true
		if i == 0 || i == n-1 || i == n/2 {
			img, err := png.Decode(bytes.NewReader(data))
			if err != nil {
				t.Errorf("%s does not decode: %v", f.Name, err)
				continue
			}
			if colours, top := colourStats(img, img.Bounds()); colours < 5 || top > 0.985 || img.Bounds().Dx() < 100 {
				saveShot(t, img, "frame")
				t.Errorf("%s (%v) looks blank: %d colours", f.Name, img.Bounds(), colours)
			}
		}
	}
	if n > 2 && len(distinct) < 2 {
		t.Errorf("all %d frames are the same picture", n)
	}
	t.Logf("%d frames, %d distinct pictures", n, len(distinct))
	text := string(readZipped(t, files[n]))
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if files[n].Name != "steps.txt" || len(lines) != n+2 {
		t.Fatalf("the last entry is %s with %d lines, want steps.txt with %d", files[n].Name, len(lines), n+2)
	}
	for _, k := range []int{from, (from + to) / 2, to} {
		g := readGame(t, ctx, k)
		want := fmt.Sprintf("step-%03d.png  step %d: %s", k, k, g.Narration)
		if line := lines[2+k-from]; !strings.HasPrefix(line, want) {
			t.Errorf("steps.txt says %q, want it to start %q", line, want)
		}
	}
}

func readZipped(t *testing.T, f *zip.File) []byte {
	t.Helper()
	rc, err := f.Open()
	if err != nil {
		t.Fatalf("%s: %v", f.Name, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc) // checks the CRC
	if err != nil {
		t.Fatalf("%s: %v", f.Name, err)
	}
	return data
}

// frameRange types a range with the keyboard and exports it; then a range
// that does not exist is refused with a message.
func frameRange(t *testing.T, ctx context.Context) {
	eval[bool](t, ctx, `(window.mmuvizLastFrames = null, document.getElementById("frames-from").focus(), true)`)
	press(t, ctx, "3")
	press(t, ctx, kb.Tab)
	press(t, ctx, "5")
	press(t, ctx, kb.Tab)
	if a := readPage(t, ctx).Active; a != "button#export-frames" {
		t.Fatalf("Tab from the range went to %s, want the Download button", a)
	}
	press(t, ctx, kb.Enter)
	_, files, _ := readFrames(t, ctx, time.Minute)
	checkFrames(t, ctx, files, 3, 5)

	eval[bool](t, ctx, `(document.getElementById("frames-from").value = "7", document.getElementById("frames-to").value = "2", true)`)
	within(t, ctx, 10*time.Second, "exporting a bad range", chromedp.Click(chromedp.ID("export-frames")))
	msg := pollJS[string](t, ctx, 10*time.Second, "the range message", `document.getElementById("frames-status").textContent`)
	if !strings.HasPrefix(msg, "Choose steps from 0 to ") {
		t.Errorf("a bad range says %q", msg)
	}
	eval[bool](t, ctx, `(document.getElementById("frames-from").value = "", document.getElementById("frames-to").value = "", true)`)
}

// cancelExport starts a full export and cancels it with Esc: no ZIP, the
// step is back, the button works again; keys do not step meanwhile.
func cancelExport(t *testing.T, ctx context.Context) {
	step := readPage(t, ctx).Counter
	eval[bool](t, ctx, `(window.mmuvizLastFrames = null, document.getElementById("frames-status").textContent = "", true)`)
	within(t, ctx, 10*time.Second, "starting an export", chromedp.Click(chromedp.ID("export-frames")))
	pollJS[bool](t, ctx, 10*time.Second, "the export to run", `document.body.classList.contains("exporting")`)
	press(t, ctx, kb.Escape)
	msg := pollJS[string](t, ctx, 30*time.Second, "the cancellation",
		`!document.body.classList.contains("exporting") && document.getElementById("frames-status").textContent`)
	if msg != "Export cancelled." || eval[bool](t, ctx, `!!window.mmuvizLastFrames || document.getElementById("export-frames").disabled`) {
		t.Errorf("after Esc: %q, a ZIP was made or the button stays disabled", msg)
	}
	if c := readPage(t, ctx).Counter; c != step {
		t.Errorf("after the cancelled export the page shows %q, want %q", c, step)
	}
}

// exportLongest opens the built-in lesson with the most steps, exports
// all its frames and logs the time.
func exportLongest(t *testing.T, ctx context.Context) {
	longest, steps := "", 0
	for _, name := range lessons.Builtin() {
		if h, err := lessons.BuiltinHandout(name); err == nil && h.Timeline.Len() > steps {
			longest, steps = name, h.Timeline.Len()
		}
	}
	eval[bool](t, ctx, fmt.Sprintf(`(window.mmuvizLastFrames = null, location.hash = "#lesson=%s&step=0", true)`, longest))
	pollJS[bool](t, ctx, 30*time.Second, longest, fmt.Sprintf(`document.getElementById("counter").textContent === "Step 0 / %d"`, steps-1))
	start := time.Now()
	within(t, ctx, 10*time.Second, "exporting the longest lesson", chromedp.Click(chromedp.ID("export-frames")))
	name, files, ms := readFrames(t, ctx, 20*time.Minute)
	t.Logf("longest lesson %s: %d frames, %s with %d files, %d ms in the page (%v with reading it back)",
		longest, steps, name, len(files), ms, time.Since(start).Round(time.Millisecond))
	if len(files) != steps+1 {
		t.Errorf("%s: %d files, want %d", name, len(files), steps+1)
	}
}
