//go:build !js

package main

import (
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// loadTimings mirrors window.mmuvizTimings of the parent page (ms since its
// navigation start; see web/BRIDGE.md).
type loadTimings struct {
	Fetched      float64 `json:"fetched"`
	Instantiated float64 `json:"instantiated"`
	Ready        float64 `json:"ready"`
	FirstState   float64 `json:"firstState"`
	FirstFrame   float64 `json:"firstFrame"`
}

// wasmTransferJS is the number of bytes the wasm took on the wire, headers
// included (about 300 when revalidated from the cache), which shows the
// encoding the server chose and whether the cache worked.
const wasmTransferJS = `(() => {
  const w = document.getElementById("stage").contentWindow;
  const e = w.performance.getEntriesByType("resource").find((r) => r.name.endsWith("/dist/mmuviz.wasm"));
  return e ? e.transferSize : -1;
})()`

// BenchmarkPageLoad measures navigation → first frame drawn with the first
// state, served by the real binary to headless Chromium. "cold" disables the
// HTTP cache (every load downloads and compiles the wasm); "warm" is a
// reload with the cache. It reports the browser's own timings; it never
// fails on time.
func BenchmarkPageLoad(b *testing.B) {
	needWasm(b)
	exe := findBrowser(b)
	base := startServer(b)
	ctx := newBrowser(b, exe)
	within(b, ctx, 30*time.Second, "setting the viewport", chromedp.EmulateViewport(1280, 720))
	for _, mode := range []string{"cold", "warm"} {
		b.Run(mode, func(b *testing.B) {
			if _, err := chromedp.Call(ctx, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: mode == "cold"}); err != nil {
				b.Fatal(err)
			}
			if mode == "warm" { // fill the cache once, untimed
				within(b, ctx, 60*time.Second, "warming the cache", chromedp.Navigate("about:blank"), chromedp.Navigate(base))
				waitReady(b, ctx)
			}
			var sum loadTimings
			var wall time.Duration
			var wire float64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				within(b, ctx, 60*time.Second, "loading", chromedp.Navigate("about:blank"), chromedp.Navigate(base))
				waitReady(b, ctx)
				wall += time.Since(start)
				lt := eval[loadTimings](b, ctx, `window.mmuvizTimings`)
				sum.Fetched += lt.Fetched
				sum.Instantiated += lt.Instantiated
				sum.Ready += lt.Ready
				sum.FirstState += lt.FirstState
				sum.FirstFrame += lt.FirstFrame
				wire += eval[float64](b, ctx, wasmTransferJS)
			}
			n := float64(b.N)
			b.ReportMetric(sum.Fetched/n, "ms-wasm-headers")
			b.ReportMetric(sum.Instantiated/n, "ms-instantiated")
			b.ReportMetric(sum.Ready/n, "ms-ready")
			b.ReportMetric(sum.FirstState/n, "ms-first-state")
			b.ReportMetric(sum.FirstFrame/n, "ms-first-frame")
			b.ReportMetric(float64(wall.Milliseconds())/n, "ms-wall")
			b.ReportMetric(wire/n, "wasm-wire-bytes")
		})
	}
}
