// Package web holds the browser front end of mmuviz: the parent page with the
// lesson panel (index.html, app.js, style.css), the stage page that runs the
// Go program (game.html, game.js), the page's parts (hash.js, panel.js, share.js,
// export.js, dom.js, lessonindex.js, quiz.js, dropin.js) and, in dist/, the build output
// (mmuviz.wasm, wasm_exec.js and compressed siblings written by the Makefile).
// cmd/server serves FS; BRIDGE.md documents the JS ⇄ Go contract.
package web

import "embed"

// FS is the whole site, rooted at this directory: "index.html",
// "dist/mmuviz.wasm", and so on. The dist/ pattern uses "all:" so that the
// committed dist/.gitkeep keeps the embed valid on a clean checkout, before
// `make wasm` has written anything there.
//
//go:embed index.html game.html *.js style.css favicon.svg all:dist
var FS embed.FS
