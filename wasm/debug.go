//go:build js && wasm && mmuvizdebug

package main

// A debug build (go build -tags mmuvizdebug) adds two things the release
// build must not have: window.mmuvizDebug.panic(where), which makes the
// next call of Update, Draw or a bridge function panic so that the crash
// path can be tried in a real browser, and a console line every 60 drawn
// frames with the mean time Draw took (the CPU side: building paths and
// laying out glyphs; the GPU work is flushed after Draw returns).

import (
	"fmt"
	"syscall/js"
	"time"
)

func init() {
	var sum time.Duration
	var n int
	debugDrawn = func(d time.Duration) {
		sum += d
		n++
		if n == 60 {
			fmt.Printf("mmuviz debug: Draw took %.2f ms per frame (mean of %d)\n", float64(sum.Microseconds())/1000/float64(n), n)
			sum, n = 0, 0
		}
	}
	updates, since := 0, time.Now()
	debugUpdated = func(*game) {
		if updates++; updates%600 == 0 {
			fmt.Printf("mmuviz debug: %.1f updates per second\n", 600/time.Since(since).Seconds())
			since = time.Now()
		}
	}
	obj := js.Global().Get("Object").New()
	obj.Set("panic", js.FuncOf(func(_ js.Value, args []js.Value) any {
		if len(args) > 0 {
			debugPanic = args[0].String()
		}
		return nil
	}))
	js.Global().Set("mmuvizDebug", obj)
}
