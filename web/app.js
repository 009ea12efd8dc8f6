// app.js drives the parent page: opening what the address names, the step
// controls, the variant switch, the keyboard (forwarded to the game in the
// stage iframe), the URL hash (read and written by hash.js) and the error
// boxes. The other scripts, loaded before it, add parts it wires up here:
// panel.js (the lesson text, picker and switches), share.js (copy
// link, embed, presenter), export.js (PNG and the frames ZIP),
// lessonindex.js (the lesson index), quiz.js (exercises from a seed) and
// dropin.js (lesson and scenario files dropped into the page).
// It talks to the Go program only through the bridge in web/BRIDGE.md.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const parts = window.mmuvizParts || {};
  const H = parts.hash;
  const stage = $("stage");
  const el = {
    title: $("title"), pick: $("pick"), sections: $("sections"),
    variantBox: $("variant-box"), variant: $("variant"),
    narration: $("narration"), func: $("func"), counter: $("counter"),
    first: $("first"), back: $("back"), play: $("play"), next: $("next"), last: $("last"),
    speed: $("speed"), notice: $("notice"), noticeText: $("notice-text"),
    noticeClose: $("notice-close"), loading: $("loading"), crash: $("crash"),
    crashText: $("crash-text"), crashReload: $("crash-reload"),
    copyLink: $("copy-link"), present: $("present"), exportPNG: $("export"),
    linkText: $("link-text"), copyStatus: $("copy-status"), blank: $("blank"),
    allLessons: $("all-lessons"), openQuiz: $("open-quiz"),
  };

  // view is what the panel shows; it follows the game's state JSON. file is
  // the dropped file open ("" for a built-in) and files what was dropped
  // with it; overlay is the view shown over the stage ("index", "quiz").
  const view = {
    game: null, crashed: false, kind: "", name: "", total: 0, step: -1,
    playing: false, speed: 1, sections: [], current: -1, catalog: null,
    variant: "", variants: [], file: "", files: null, overlay: "",
    embed: false, present: false, blank: false, fullscreen: false,
  };

  // Timings for the page-load benchmark, in ms since this page's navigation.
  const timings = { ready: 0, firstState: 0, firstFrame: 0 };
  window.mmuvizTimings = timings;
  const sinceStart = (epochMs) => Math.round(epochMs - performance.timeOrigin);

  // The host callbacks may be called by Go while it holds its own locks, so
  // they never call back into window.mmuviz synchronously.
  window.mmuvizHost = {
    onReady() {
      timings.ready = Math.round(performance.now());
      queueMicrotask(start);
    },
    onState(json) {
      // States pushed before the page opened what the URL names would
      // overwrite the permalink in the hash: ignore them.
      const s = parseJSON(json);
      if (s && view.kind) {
        applyState(s);
      }
    },
    onCrash(msg) {
      showCrash(String(msg));
    },
    mark(name, epochMs) {
      timings[name] = sinceStart(epochMs);
    },
  };

  function parseJSON(text) {
    try {
      const v = JSON.parse(text);
      return v && typeof v === "object" ? v : null;
    } catch (err) {
      return null;
    }
  }

  // call invokes a bridge function; an exception means the Go program is
  // gone, which is shown as a crash rather than left as a dead page.
  function call(fn, ...args) {
    if (view.crashed || !view.game) {
      return undefined;
    }
    try {
      return view.game[fn](...args);
    } catch (err) {
      showCrash("mmuviz." + fn + " failed: " + (err && err.message ? err.message : err));
      return undefined;
    }
  }

  // The controls that need the game are marked data-needs-game: disabled
  // until it is ready, and again if it crashes.
  function enableControls(on) {
    for (const b of document.querySelectorAll("[data-needs-game]")) {
      b.disabled = !on;
    }
  }

  function start() {
    if (view.game || view.crashed) {
      return;
    }
    try {
      view.game = stage.contentWindow.mmuviz;
    } catch (err) {
      view.game = null;
    }
    if (!view.game) {
      showCrash("The visualizer said it was ready but provides no window.mmuviz.");
      return;
    }
    view.catalog = parseJSON(call("list")) || { lessons: [], scenarios: [] };
    panel.fillPicker(view.catalog);
    el.loading.hidden = true;
    enableControls(true);
    openFromHash();
  }

  // ---- opening what the address names ---------------------------------

  function known(kind, name) {
    const list = view.catalog && view.catalog[kind === "lesson" ? "lessons" : "scenarios"];
    return Array.isArray(list) && list.some((x) => x && x.name === name);
  }

  function noticeOf(problems) {
    if (problems.length > 0) {
      showNotice(problems.join(" "));
    } else {
      hideNotice();
    }
  }

  // openFromHash opens what the hash names, falling back to the default
  // lesson at step 0 (or clamping the step) and saying why in the notice.
  // The index and the quiz are shown over what is open (the default lesson
  // when nothing is yet).
  function openFromHash() {
    const want = H.parse(location.hash);
    setModes(want.embed, want.present, false);
    const problems = want.problems;
    if (want.view) {
      if (!view.kind && !openDefault(problems, false)) {
        return;
      }
      showOverlay(want.view, want.quiz);
      seek(Math.max(0, view.step));
      noticeOf(problems);
      return;
    }
    hideOverlay();
    if (want.sameThing && view.kind) {
      want.kind = view.kind;
      want.name = view.name;
      want.file = view.file;
      want.variant = want.variant || view.variant;
    }
    let opened = null;
    if (want.file) {
      const files = dropin.restore(want.file);
      const res = files ? openFilesThing(files, want.variant, problems) : null;
      if (res && res.ok) {
        opened = res;
      } else if (!files) {
        problems.push("The file “" + H.clip(want.file) + "” was opened in another visit of this page; " +
          "drop it (or pick it with Open file…) again to see it.");
      }
    } else if (want.kind && !known(want.kind, want.name)) {
      problems.push("There is no " + want.kind + " “" + H.clip(want.name) + "”.");
    } else if (want.kind) {
      opened = openThing(want.kind, want.name, want.variant, problems);
    }
    if (!opened) {
      if (!want.sameThing) {
        want.step = 0; // the step belonged to something else
      }
      if (!openDefault(problems, true)) {
        return;
      }
    }
    let step = want.step;
    if (step > view.total - 1) {
      problems.push("Step " + step + " is out of range: this " + view.kind +
        " has steps 0–" + (view.total - 1) + "; showing step " + (view.total - 1) + ".");
      step = Math.max(0, view.total - 1);
    }
    seek(step);
    noticeOf(problems);
  }

  // openDefault opens the default lesson; instead says so when asked.
  function openDefault(problems, instead) {
    const before = problems.length;
    if (!openThing("lesson", String(call("defaultLesson") || ""), "", problems)) {
      showCrash("The default lesson could not be opened. " + problems.join(" "));
      return false;
    }
    if (instead && before > 0) {
      problems.push("Showing the default lesson instead.");
    }
    return true;
  }

  // openThing opens a built-in lesson or scenario under a variant ("" for
  // its default, a lesson's own) and rebuilds the panel. A variant it does
  // not have falls back to the default, with a note in problems; it returns
  // null (and notes the reason) if the game refused.
  function openThing(kind, name, variant, problems) {
    let res = parseJSON(call("open", kind, name, variant || ""));
    if (variant && (!res || !res.ok)) {
      const plain = parseJSON(call("open", kind, name, ""));
      if (plain && plain.ok) {
        problems.push(variantProblem(kind, name, variant, plain));
        res = plain;
      }
    }
    if (!res || !res.ok) {
      const why = res && res.error ? res.error : "the visualizer gave no answer";
      problems.push("Could not open " + kind + " “" + H.clip(name) + "”: " + why + ".");
      return null;
    }
    return applyOpen(res, kind, name, "", null);
  }

  function variantProblem(kind, name, variant, plain) {
    const names = (Array.isArray(plain.variants) ? plain.variants : []).map((v) => String(v && v.name));
    return names.length === 0
      ? "The " + kind + " “" + H.clip(name) + "” has no variants; ignoring “" + H.clip(variant) + "”."
      : "The " + kind + " “" + H.clip(name) + "” has no variant “" + H.clip(variant) + "” (it has " +
        names.join(", ") + "); showing “" + String(plain.variant || names[0]) + "”.";
  }

  // openFilesThing opens dropped files ([{name, text}]) like openThing; the
  // answer (with its positioned errors) is returned either way.
  function openFilesThing(files, variant, problems) {
    const json = JSON.stringify({ files });
    let res = parseJSON(call("openFiles", json, variant || ""));
    if (variant && (!res || !res.ok)) {
      const plain = parseJSON(call("openFiles", json, ""));
      if (plain && plain.ok) {
        problems.push(variantProblem(plain.kind, plain.name, variant, plain));
        res = plain;
      }
    }
    if (!res || !res.ok) {
      const why = res && res.error ? res.error : "the visualizer gave no answer";
      problems.push("Could not open the dropped file: " + why);
      return res || { ok: false, error: why, errors: [] };
    }
    return applyOpen(res, String(res.kind), String(res.name), String(res.file), files);
  }

  // applyOpen rebuilds the panel for what was just opened.
  function applyOpen(res, kind, name, file, files) {
    view.kind = kind;
    view.name = name;
    view.file = file;
    view.files = files;
    view.variant = String(res.variant || "");
    view.variants = Array.isArray(res.variants) ? res.variants.filter((v) => v && typeof v.name === "string") : [];
    panel.fillVariants();
    view.total = Math.max(1, Number(res.total) || 1);
    view.step = -1;
    view.current = -1;
    el.title.textContent = res.title || name;
    document.title = (res.title || name) + " — mmuviz";
    panel.fillPicker(view.catalog);
    panel.buildSections(Array.isArray(res.sections) ? res.sections : []);
    exporter.reset();
    return res;
  }

  // ---- the address ----------------------------------------------------

  // permalink is the hash naming what is shown: the index, the quiz, or
  // the thing open with its step, variant and modes.
  function permalink() {
    if (view.overlay === "index") {
      return "#index";
    }
    if (view.overlay === "quiz") {
      return H.quiz(quiz.current());
    }
    return H.thing({
      kind: view.kind, name: view.name, file: view.file, step: view.step, variant: view.variant,
      hasVariants: view.variants.length > 0, embed: view.embed, present: view.present,
    });
  }

  function writeHash() {
    if (!view.kind || view.step < 0) {
      return;
    }
    const h = permalink();
    if (location.hash !== h) {
      // replaceState: stepping must not flood the back button's history.
      history.replaceState(history.state, "", h);
    }
  }

  window.addEventListener("hashchange", () => {
    if (!view.game || view.crashed) {
      return;
    }
    const want = H.parse(location.hash);
    if (want.view) {
      setModes(want.embed, want.present, false);
      showOverlay(want.view, want.quiz);
      noticeOf(want.problems);
      return;
    }
    const overlaid = view.overlay !== "";
    hideOverlay();
    setModes(want.embed, want.present, false);
    const thing = want.file ? want.file === view.file
      : !view.file && want.kind === view.kind && want.name === view.name;
    const same = (want.sameThing || thing) && (want.variant === "" || want.variant === view.variant);
    if (want.problems.length === 0 && same && want.step < view.total) {
      seek(want.step);
      hideNotice();
      if (overlaid) {
        writeHash();
      }
      return;
    }
    openFromHash();
  });

  // ---- views over the stage: the lesson index and the quiz --------------

  // showOverlay shows the index or the quiz (q: the quiz the hash asks
  // for) over the stage, which leaves the tab order meanwhile.
  function showOverlay(name, q) {
    const views = { index: lessonIndex, quiz };
    if (view.overlay && view.overlay !== name) {
      views[view.overlay].hide();
    }
    view.overlay = name;
    stage.inert = true;
    document.body.dataset.overlay = name;
    views[name].show(q);
    writeHash();
  }

  function hideOverlay() {
    if (!view.overlay) {
      return;
    }
    (view.overlay === "index" ? lessonIndex : quiz).hide();
    view.overlay = "";
    stage.inert = false;
    delete document.body.dataset.overlay;
  }

  // closeOverlay goes back to what is open and gives the focus back to the
  // button that opens the view.
  function closeOverlay() {
    const opener = view.overlay === "index" ? el.allLessons : el.openQuiz;
    hideOverlay();
    writeHash();
    if (opener) {
      opener.focus();
    }
  }

  // openOverlay is a button's way in: the index or the quiz gets an entry
  // in the history, so Back returns to the lesson.
  function openOverlay(name, q) {
    if (view.overlay === name) {
      return;
    }
    history.pushState(history.state, "", name === "index" ? "#index" : H.quiz(q));
    showOverlay(name, q);
  }

  // ---- state and panel ------------------------------------------------

  function seek(step) {
    const s = parseJSON(call("seek", step));
    if (s) {
      applyState(s);
    }
  }

  function applyState(s) {
    const step = Number(s.step) || 0;
    view.total = Math.max(1, Number(s.total) || view.total);
    view.playing = s.playing === true;
    view.speed = Number(s.speed) || view.speed;
    if (s.kind === "lesson" || s.kind === "scenario") {
      view.kind = s.kind;
      view.name = String((s.kind === "lesson" ? s.lesson : s.scenario) || view.name);
      view.file = String(s.file || "");
      if (typeof s.variant === "string") {
        view.variant = s.variant;
        el.variant.value = s.variant;
      }
    }
    el.play.textContent = view.playing ? "Pause" : "Play";
    panel.setSpeedValue(view.speed);
    el.narration.textContent = String(s.narration || "");
    el.narration.title = el.narration.textContent;
    el.func.textContent = String(s.func || "–");
    view.step = step;
    el.counter.textContent = "Step " + step + " / " + (view.total - 1);
    el.first.disabled = el.back.disabled = step <= 0;
    el.next.disabled = el.last.disabled = step >= view.total - 1;
    panel.highlightSection(step);
    writeHash();
    if (!timings.firstState) {
      timings.firstState = Math.round(performance.now());
      afterFrames(2, () => { timings.firstFrame = Math.round(performance.now()); });
    }
  }

  // afterFrames runs fn after n animation frames of the stage, i.e. once the
  // game has drawn at least one frame with the current state.
  function afterFrames(n, fn) {
    const win = stage.contentWindow || window;
    const tick = () => (n-- <= 0 ? fn() : win.requestAnimationFrame(tick));
    tick();
  }

  // switchVariant reopens what is open under another variant, at the same
  // step (the last one if the other variant's timeline is shorter).
  function switchVariant(variant) {
    if (!view.kind || variant === view.variant) {
      return;
    }
    const step = Math.max(0, view.step);
    const problems = [];
    const res = view.file && view.files
      ? openFilesThing(view.files, variant, problems)
      : openThing(view.kind, view.name, variant, problems);
    if (res && res.ok) {
      seek(Math.min(step, view.total - 1));
    } else {
      el.variant.value = view.variant;
    }
    noticeOf(problems);
  }

  // ---- messages -------------------------------------------------------

  function showNotice(text) {
    el.noticeText.textContent = text;
    el.notice.hidden = false;
  }

  function hideNotice() {
    el.notice.hidden = true;
  }

  function showCrash(msg) {
    if (view.crashed) {
      return;
    }
    view.crashed = true;
    el.loading.hidden = true;
    el.crashText.textContent = msg;
    el.crash.hidden = false;
    enableControls(false);
    el.crashReload.focus();
  }

  // ---- the parts ------------------------------------------------------

  // app is what the parts may use of this file.
  const app = {
    view, el, stage, call, parseJSON, seek, applyState, showNotice, hideNotice, writeHash, permalink,
    openFiles(files) {
      const problems = [];
      const res = openFilesThing(files, "", problems);
      if (res && res.ok) {
        dropin.save(files);
        seek(0);
      }
      return res;
    },
    openOverlay, closeOverlay, giveKeysBack, onClick, clip: H.clip,
  };
  const panel = parts.panel(app);
  const share = parts.share(app);
  const setModes = share.setModes;
  const exporter = parts.exporter(app);
  const lessonIndex = parts.lessonIndex(app);
  const quiz = parts.quiz(app);
  const dropin = parts.dropin(app);

  // hostKey handles the page's own keys (presenter, blank, export); it is
  // also called by game.js for keys pressed inside the stage.
  function hostKey(key) {
    if (view.crashed || !view.game) {
      return false;
    }
    if (exporter.busy()) {
      // Stepping now would spoil the export: Esc cancels it, the rest wait.
      if (key === "Escape") {
        exporter.cancel();
      }
      return true;
    }
    switch (key) {
      case "f": case "F":
        share.togglePresent();
        return true;
      case "b": case "B": case ".":
        share.setBlank(!view.blank);
        return true;
      case "s": case "S":
        exporter.exportPNG();
        return true;
      case "Escape":
        if (view.blank) {
          share.setBlank(false);
          return true;
        }
        if (view.present) {
          share.togglePresent();
          return true;
        }
        return false;
      default:
        // A blanked screen keeps its place: only B (or .) brings it back.
        return view.blank;
    }
  }
  window.mmuvizHost.onKey = hostKey;
  window.mmuvizHost.onFileDrag = () => dropin.dragging();
  window.mmuvizHost.onFileDrop = (files) => dropin.drop(files);

  // ---- keyboard and controls -----------------------------------------

  const fieldTags = new Set(["INPUT", "SELECT", "TEXTAREA"]);
  const activatable = new Set(["BUTTON", "A", "SUMMARY"]);

  // Keys pressed anywhere in the parent go to the game, except those that a
  // focused control needs for itself (a select's arrows, a button's Space),
  // and all of them while the index or the quiz is shown.
  document.addEventListener("keydown", (e) => {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || e.isComposing) {
      return;
    }
    if (e.key === "Escape" && (view.blank || view.present || exporter.busy()) && hostKey(e.key)) {
      e.preventDefault();
      return;
    }
    if (e.key === "Escape" && !el.notice.hidden) {
      hideNotice();
      e.preventDefault();
      return;
    }
    if (view.overlay) {
      if (e.key === "Escape") {
        closeOverlay();
        e.preventDefault();
      }
      return;
    }
    const t = e.target;
    // The read-only link field needs no keys but Ctrl+C: the rest still step.
    if (!(t instanceof Element) || (fieldTags.has(t.tagName) && t !== el.linkText) || t.isContentEditable) {
      return;
    }
    if ((e.key === " " || e.key === "Enter") && activatable.has(t.tagName)) {
      return;
    }
    if (hostKey(e.key) || call("key", e.key) === true) {
      e.preventDefault();
    }
  });

  // giveKeysBack drops the focus after a mouse click, so that the next
  // clicker key (Space, PageDown) steps instead of re-pressing the button.
  // A keyboard click (detail 0) keeps the focus where the user put it.
  function giveKeysBack(e) {
    if (e && e.detail > 0 && document.activeElement instanceof HTMLElement) {
      document.activeElement.blur();
    }
  }

  function onClick(button, fn) {
    button.addEventListener("click", (e) => {
      fn();
      giveKeysBack(e);
    });
  }

  onClick(el.first, () => seek(0));
  onClick(el.back, () => seek(Math.max(0, view.step - 1)));
  onClick(el.next, () => seek(Math.min(view.total - 1, view.step + 1)));
  onClick(el.last, () => seek(view.total - 1));
  onClick(el.play, () => call("setPlaying", !view.playing));
  onClick(el.noticeClose, hideNotice);
  el.crashReload.addEventListener("click", () => location.reload());
  el.allLessons.addEventListener("click", () => openOverlay("index"));
  el.openQuiz.addEventListener("click", () => openOverlay("quiz", quiz.fresh()));

  // A select chosen with the mouse gives the keys back too; one driven by the
  // keyboard keeps them, or its arrow keys would stop working after one press.
  let pointerOn = null;
  for (const sel of [el.speed, el.pick, el.variant]) {
    sel.addEventListener("pointerdown", () => { pointerOn = sel; });
    sel.addEventListener("keydown", () => { pointerOn = null; });
  }
  function selectDone(sel) {
    if (pointerOn === sel) {
      sel.blur();
    }
    pointerOn = null;
  }

  el.speed.addEventListener("change", () => {
    call("setSpeed", Number(el.speed.value));
    selectDone(el.speed);
  });

  el.variant.addEventListener("change", () => {
    const v = el.variant.value;
    selectDone(el.variant);
    switchVariant(v);
  });

  el.pick.addEventListener("change", () => {
    const v = el.pick.value;
    const i = v.indexOf(":");
    selectDone(el.pick);
    if (i > 0) {
      // Setting the hash fires hashchange, which opens it.
      location.hash = v.slice(0, i) + "=" + encodeURIComponent(v.slice(i + 1)) + "&step=0";
    }
  });

  // The game may have become ready before this deferred script ran.
  try {
    if (stage.contentWindow && stage.contentWindow.mmuviz) {
      window.mmuvizHost.onReady();
    }
  } catch (err) {
    // Not reachable yet: onReady will come.
  }
})();
