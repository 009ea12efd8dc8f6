//go:build js && wasm

package main

import (
	"encoding/json"
	"fmt"
	"runtime/debug"
	"syscall/js"
)

// The bridge: window.mmuviz in this (iframe) window, and calls to
// window.parent.mmuvizHost. Every value crossing it is a string, number or
// bool; structured values are JSON. The contract is web/BRIDGE.md.

// host calls window.parent.mmuvizHost[fn](args...) if it exists. A failure
// there is the page's problem and must not stop the game.
func host(fn string, args ...any) {
	defer func() { _ = recover() }()
	h := js.Global().Get("parent").Get("mmuvizHost")
	if h.IsUndefined() || h.IsNull() {
		return
	}
	f := h.Get(fn)
	if f.Type() != js.TypeFunction {
		return
	}
	h.Call(fn, args...)
}

// crashText formats a recovered panic with the top of its stack.
func crashText(where string, r any) string {
	stack := string(debug.Stack())
	if len(stack) > 2500 {
		stack = stack[:2500] + "\n…"
	}
	return fmt.Sprintf("panic in %s: %v\n\n%s", where, r, stack)
}

// guard wraps a bridge function: a panic becomes onCrash and the value
// broken, never an exception that leaves the page guessing.
func guard(g *game, name string, broken any, fn func(args []js.Value) any) js.Func {
	return js.FuncOf(func(_ js.Value, args []js.Value) (out any) {
		defer func() {
			if r := recover(); r != nil {
				g.crash(crashText(name+"()", r))
				out = broken
			}
		}()
		if g.isCrashed() {
			return broken
		}
		maybePanic("bridge")
		return fn(args)
	})
}

// toJSON encodes v; the bridge's values always encode.
func toJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return `{"ok":false,"error":"internal: ` + err.Error() + `"}`
	}
	return string(b)
}

func argString(args []js.Value, i int) string {
	if i >= len(args) || args[i].Type() != js.TypeString {
		return ""
	}
	return args[i].String()
}

func argNumber(args []js.Value, i int) float64 {
	if i >= len(args) || args[i].Type() != js.TypeNumber {
		return 0
	}
	return args[i].Float()
}

// registerBridge installs window.mmuviz.
func registerBridge(g *game) {
	obj := js.Global().Get("Object").New()
	obj.Set("defaultLesson", guard(g, "defaultLesson", "", func([]js.Value) any { return g.cat.defaultLesson() }))
	obj.Set("list", guard(g, "list", `{"lessons":[],"scenarios":[]}`, func([]js.Value) any { return toJSON(g.cat.list()) }))
	obj.Set("open", guard(g, "open", `{"ok":false,"error":"the visualizer crashed"}`, func(a []js.Value) any {
		return toJSON(g.open(argString(a, 0), argString(a, 1), argString(a, 2)))
	}))
	obj.Set("seek", guard(g, "seek", "{}", func(a []js.Value) any {
		return toJSON(g.seek(int(argNumber(a, 0))))
	}))
	obj.Set("key", guard(g, "key", false, func(a []js.Value) any { return g.key(argString(a, 0)) }))
	obj.Set("setPlaying", guard(g, "setPlaying", nil, func(a []js.Value) any {
		g.setPlaying(len(a) > 0 && a[0].Truthy())
		return nil
	}))
	obj.Set("setSpeed", guard(g, "setSpeed", nil, func(a []js.Value) any {
		g.setSpeed(argNumber(a, 0))
		return nil
	}))
	obj.Set("probe", guard(g, "probe", "{}", func([]js.Value) any {
		w, h := js.Global().Get("innerWidth").Float(), js.Global().Get("innerHeight").Float()
		return toJSON(g.probe(w, h))
	}))
	registerMore(g, obj)
	js.Global().Set("mmuviz", obj)
}

// registerMore installs the functions of the lesson index, the dropped
// files, the quiz and the frames export.
func registerMore(g *game, obj js.Value) {
	obj.Set("steps", guard(g, "steps", `{"steps":0,"error":"the visualizer crashed"}`, func(a []js.Value) any {
		return toJSON(g.cat.steps(argString(a, 0), argString(a, 1)))
	}))
	obj.Set("openFiles", guard(g, "openFiles", `{"ok":false,"error":"the visualizer crashed"}`, func(a []js.Value) any {
		return toJSON(g.openFiles(argString(a, 0), argString(a, 1)))
	}))
	obj.Set("quiz", guard(g, "quiz", `{"ok":false,"error":"the visualizer crashed"}`, func(a []js.Value) any {
		return toJSON(g.quiz.generate(argString(a, 0), argString(a, 1), argString(a, 2), int(argNumber(a, 3))))
	}))
	obj.Set("quizCheck", guard(g, "quizCheck", "{}", func(a []js.Value) any {
		return toJSON(g.quiz.check(int(argNumber(a, 0)), argString(a, 1)))
	}))
	obj.Set("quizAnswer", guard(g, "quizAnswer", "{}", func(a []js.Value) any {
		return toJSON(g.quiz.answer(int(argNumber(a, 0))))
	}))
	obj.Set("still", guard(g, "still", "{}", func(a []js.Value) any {
		return toJSON(g.still(int(argNumber(a, 0))))
	}))
	obj.Set("shot", guard(g, "shot", nil, func([]js.Value) any { return g.takeShot() }))
	obj.Set("zipBegin", guard(g, "zipBegin", nil, func([]js.Value) any {
		g.zip.begin()
		return nil
	}))
	obj.Set("zipAdd", guard(g, "zipAdd", "the visualizer crashed", func(a []js.Value) any {
		var data js.Value
		if len(a) > 1 {
			data = a[1]
		}
		return g.zip.add(argString(a, 0), data)
	}))
	obj.Set("zipEnd", guard(g, "zipEnd", "the visualizer crashed", func([]js.Value) any { return g.zip.end() }))
}
