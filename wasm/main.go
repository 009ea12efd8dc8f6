//go:build js && wasm

// Command wasm is mmuviz in the browser: the Ebiten game that draws the
// MMU, and the bridge through which the page drives it (web/BRIDGE.md).
// It runs inside the stage iframe of web/index.html, or alone in
// web/game.html.
package main

import (
	"fmt"

	"github.com/hajimehoshi/ebiten/v2"
)

func main() {
	g, err := newGame()
	if err != nil {
		host("onCrash", "mmuviz could not start: "+err.Error())
		return
	}
	registerBridge(g)
	host("onReady")
	ebiten.SetTPS(60)
	// The picture is redrawn only when something moves or changes; the
	// screen keeps the last frame in between.
	ebiten.SetScreenClearedEveryFrame(false)
	// Keys come from the page through key(), never from Ebiten, and the game
	// must keep playing while the lesson panel has the focus.
	ebiten.SetRunnableOnUnfocused(true)
	opts := &ebiten.RunGameOptions{InitUnfocused: true}
	if err := ebiten.RunGameWithOptions(g, opts); err != nil {
		host("onCrash", fmt.Sprintf("the game loop stopped: %v", err))
	}
}
