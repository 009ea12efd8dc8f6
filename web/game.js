// game.js loads and runs the Go program (dist/mmuviz.wasm) inside the stage
// iframe, forwards keys pressed while the iframe has focus, and turns every
// way the program can die into one call of mmuvizHost.onCrash, so the page
// shows an error instead of a frozen canvas. The contract is web/BRIDGE.md.
"use strict";

(() => {
  const WASM_URL = "dist/mmuviz.wasm";
  const MAX_CRASH_TEXT = 4000;
  let crashed = false;

  // standalone is true when game.html is opened on its own, not in index.html.
  const standalone = window.parent === window;

  // epoch returns a wall-clock timestamp comparable across frames, which have
  // different performance.timeOrigin values.
  const epoch = () => performance.timeOrigin + performance.now();

  // host returns the parent's mmuvizHost, or null while it is not defined yet
  // (or if the parent is not reachable, which frame-ancestors should prevent).
  function host() {
    try {
      return window.parent.mmuvizHost || null;
    } catch (err) {
      return null;
    }
  }

  function mark(name) {
    const h = host();
    if (h && typeof h.mark === "function") {
      h.mark(name, epoch());
    }
  }

  // crash reports msg once; later reports are dropped because the first one
  // is the cause and the rest are consequences.
  function crash(msg) {
    if (crashed) {
      return;
    }
    crashed = true;
    const text = String(msg).slice(0, MAX_CRASH_TEXT);
    const h = host();
    if (h && typeof h.onCrash === "function") {
      try {
        h.onCrash(text);
        return;
      } catch (err) {
        // Fall through and show it here.
      }
    }
    showHere(text);
  }

  // showHere shows a crash inside this document; used when there is no parent.
  function showHere(text) {
    const box = document.createElement("pre");
    box.className = "stagecrash";
    box.textContent = "mmuviz stopped:\n" + text + "\n\nReload the page to start again.";
    document.body.replaceChildren(box);
  }

  // In a standalone game.html the Go program still calls
  // window.parent.mmuvizHost, which is then this window: give it a stand-in.
  if (standalone && !window.mmuvizHost) {
    window.mmuvizHost = {
      onReady() {},
      onState() {},
      onCrash(msg) { crash(msg); },
    };
  }

  // Keys pressed while the iframe has focus never reach the parent, so the
  // iframe forwards them itself. Ebiten's canvas listener calls preventDefault
  // on every key, so defaultPrevented says nothing here and is not checked.
  document.addEventListener("keydown", (e) => {
    if (crashed || e.ctrlKey || e.metaKey || e.altKey || e.isComposing) {
      return;
    }
    const g = window.mmuviz;
    if (!g || typeof g.key !== "function") {
      return;
    }
    let handled = false;
    // The page's own keys (presenter, blank, export) first: see BRIDGE.md.
    const h = host();
    try {
      handled = !!(h && typeof h.onKey === "function" && h.onKey(e.key) === true);
    } catch (err) {
      handled = false;
    }
    if (handled) {
      e.preventDefault();
      return;
    }
    try {
      handled = g.key(e.key) === true;
    } catch (err) {
      crash("key(" + e.key + ") failed: " + err);
    }
    if (handled) {
      e.preventDefault();
    }
  });

  // Files dragged over the stage belong to the page (dropin.js): the
  // parent then shows its drop zone above the stage, which takes the drop;
  // a drop that still lands here is handed over too, never opened by the
  // browser in place of the stage.
  const hasFiles = (e) => !!e.dataTransfer && [...e.dataTransfer.types].includes("Files");
  function toHost(fn, ...args) {
    const h = host();
    try {
      if (h && typeof h[fn] === "function") {
        h[fn](...args);
      }
    } catch (err) {
      // The page's problem; the game goes on.
    }
  }
  for (const type of ["dragenter", "dragover"]) {
    document.addEventListener(type, (e) => {
      if (hasFiles(e)) {
        e.preventDefault();
        toHost("onFileDrag");
      }
    });
  }
  document.addEventListener("drop", (e) => {
    if (hasFiles(e)) {
      e.preventDefault();
      toHost("onFileDrop", e.dataTransfer.files);
    }
  });

  // watchOutput tees the Go program's console output to catch the first line
  // of a panic or fatal error and the lines that follow it (the cause and the
  // top of the stack); the report goes out on exit or after a short wait.
  function watchOutput() {
    const fs = globalThis.fs;
    if (!fs || typeof fs.writeSync !== "function") {
      return;
    }
    const write = fs.writeSync.bind(fs);
    const decoder = new TextDecoder("utf-8");
    let partial = "";
    const watcher = { text: null };
    fs.writeSync = (fd, buf) => {
      const n = write(fd, buf);
      partial += decoder.decode(buf, { stream: true });
      const lines = partial.split("\n");
      partial = lines.pop();
      for (const line of lines) {
        noteLine(watcher, line);
      }
      return n;
    };
    return watcher;
  }

  function noteLine(watcher, line) {
    if (watcher.text !== null) {
      if (watcher.text.length < MAX_CRASH_TEXT) {
        watcher.text += "\n" + line;
      }
      return;
    }
    if (line.startsWith("panic:") || line.startsWith("fatal error:")) {
      watcher.text = line;
      // A Go panic normally ends in exit(2) right away; the timer only
      // matters if the program keeps running after printing it.
      setTimeout(() => crash(watcher.text), 500);
    }
  }

  // fetchWasm fetches and instantiates the program. It streams when it can
  // and falls back to an ArrayBuffer when the server sends the wrong MIME type
  // (instantiateStreaming insists on application/wasm).
  async function instantiate(go) {
    let resp = await fetchOK(WASM_URL);
    mark("fetched");
    if (typeof WebAssembly.instantiateStreaming === "function") {
      try {
        const res = await WebAssembly.instantiateStreaming(resp, go.importObject);
        return res.instance;
      } catch (err) {
        if (!(err instanceof TypeError)) {
          throw err;
        }
        resp = await fetchOK(WASM_URL); // the body was consumed: fetch again
      }
    }
    const bytes = await resp.arrayBuffer();
    const res = await WebAssembly.instantiate(bytes, go.importObject);
    return res.instance;
  }

  async function fetchOK(url) {
    const resp = await fetch(url);
    if (!resp.ok) {
      const hint = resp.status === 404 ? " (build it with `make wasm`)" : "";
      throw new Error("could not load " + url + ": HTTP " + resp.status + hint);
    }
    return resp;
  }

  // waitForHost resolves once the parent has defined mmuvizHost: the Go
  // program calls it as soon as it starts, and app.js runs deferred.
  function waitForHost() {
    return new Promise((resolve) => {
      const tick = () => {
        if (host()) {
          resolve();
        } else {
          setTimeout(tick, 10);
        }
      };
      tick();
    });
  }

  async function main() {
    mark("script");
    if (typeof Go !== "function") {
      throw new Error("dist/wasm_exec.js did not load (build the site with `make wasm`)");
    }
    const watcher = watchOutput();
    const go = new Go();
    go.exit = (code) => {
      const why = watcher && watcher.text ? watcher.text + "\n\n" : "";
      crash(why + "The Go program exited with code " + code + ".");
    };
    const instance = await instantiate(go);
    mark("instantiated");
    await waitForHost();
    await go.run(instance);
    // run resolves when the program has exited; go.exit has reported it.
    crash("The Go program ended.");
  }

  // A trap inside the wasm (out of bounds, unreachable, stack overflow) kills
  // the Go runtime without a word on its console.
  window.addEventListener("error", (e) => {
    if (e.error instanceof WebAssembly.RuntimeError) {
      crash("WebAssembly trap: " + e.error.message);
    }
  });

  main().catch((err) => crash(err && err.message ? err.message : String(err)));
})();
