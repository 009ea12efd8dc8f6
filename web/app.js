// app.js drives the parent page: the lesson panel, the step controls, the
// variant switch, the keyboard (forwarded to the game in the stage iframe),
// the URL hash (#lesson=NAME&step=K or #scenario=NAME&step=K, with
// &variant=V when the scenario has variants) and the error boxes.
// It talks to the Go program only through the bridge in web/BRIDGE.md.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
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
  };

  // view is what the panel shows; it follows the game's state JSON.
  const view = {
    game: null, crashed: false, kind: "", name: "", total: 0, step: -1,
    playing: false, speed: 1, sections: [], current: -1, catalog: null,
    variant: "", variants: [],
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
    fillPicker(view.catalog);
    el.loading.hidden = true;
    for (const b of [el.first, el.back, el.play, el.next, el.last, el.speed, el.pick, el.variant,
      el.copyLink, el.present, el.exportPNG]) {
      b.disabled = false;
    }
    openFromHash();
  }

  // ---- URL hash -------------------------------------------------------

  // parseHash reads #lesson=NAME&step=K / #scenario=NAME&step=K, each with
  // an optional &variant=V. It never throws; whatever it could not use is
  // listed in problems.
  function parseHash(hash) {
    const want = { kind: "", name: "", step: 0, variant: "", sameThing: false, embed: false, present: false, problems: [] };
    const raw = hash.replace(/^#/, "");
    if (raw === "") {
      return want;
    }
    let params;
    try {
      params = new URLSearchParams(raw);
    } catch (err) {
      want.problems.push("The address could not be read.");
      return want;
    }
    for (const key of params.keys()) {
      if (!["lesson", "scenario", "step", "variant", "embed", "present"].includes(key)) {
        want.problems.push("The address has an unknown part “" + clip(key) + "”.");
      }
    }
    want.embed = params.get("embed") === "1";
    want.present = params.get("present") === "1";
    const lesson = params.get("lesson");
    const scenario = params.get("scenario");
    if (lesson !== null) {
      want.kind = "lesson";
      want.name = lesson;
    } else if (scenario !== null) {
      want.kind = "scenario";
      want.name = scenario;
    } else if (params.get("step") !== null && want.problems.length === 0) {
      want.sameThing = true; // "#step=N": a jump link within what is open
    } else if (want.problems.length === 0) {
      want.problems.push("The address names no lesson or scenario.");
    }
    // An older permalink names the variant in the scenario: NAME:VARIANT.
    let variant = params.get("variant");
    if (want.kind === "scenario" && want.name.includes(":")) {
      const i = want.name.indexOf(":");
      variant = variant !== null ? variant : want.name.slice(i + 1);
      want.name = want.name.slice(0, i);
    }
    if (variant !== null) {
      if (/^[A-Za-z0-9._-]{1,40}$/.test(variant)) {
        want.variant = variant;
      } else {
        want.problems.push("Variant “" + clip(variant) + "” is not a variant name; showing the default.");
      }
    }
    const step = params.get("step");
    if (step !== null) {
      if (/^\d{1,9}$/.test(step)) {
        want.step = Number(step);
      } else {
        want.problems.push("Step “" + clip(step) + "” is not a step number; showing step 0.");
      }
    }
    return want;
  }

  function clip(s) {
    s = String(s);
    return s.length > 40 ? s.slice(0, 40) + "…" : s;
  }

  function known(kind, name) {
    const list = view.catalog && view.catalog[kind === "lesson" ? "lessons" : "scenarios"];
    return Array.isArray(list) && list.some((x) => x && x.name === name);
  }

  // openFromHash opens what the hash names, falling back to the default
  // lesson at step 0 (or clamping the step) and saying why in the notice.
  function openFromHash() {
    const want = parseHash(location.hash);
    setModes(want.embed, want.present, false);
    const problems = want.problems;
    if (want.sameThing && view.kind) {
      want.kind = view.kind;
      want.name = view.name;
      want.variant = want.variant || view.variant;
    }
    let opened = null;
    if (want.kind && !known(want.kind, want.name)) {
      problems.push("There is no " + want.kind + " “" + clip(want.name) + "”.");
    } else if (want.kind) {
      opened = openThing(want.kind, want.name, want.variant, problems);
    }
    if (!opened) {
      if (!want.sameThing) {
        want.step = 0; // the step belonged to something else
      }
      opened = openThing("lesson", String(call("defaultLesson") || ""), "", problems);
      if (!opened) {
        showCrash("The default lesson could not be opened. " + problems.join(" "));
        return;
      }
      if (problems.length > 0) {
        problems.push("Showing the default lesson instead.");
      }
    }
    let step = want.step;
    if (step > view.total - 1) {
      problems.push("Step " + step + " is out of range: this " + view.kind +
        " has steps 0–" + (view.total - 1) + "; showing step " + (view.total - 1) + ".");
      step = Math.max(0, view.total - 1);
    }
    seek(step);
    if (problems.length > 0) {
      showNotice(problems.join(" "));
    } else {
      hideNotice();
    }
  }

  // openThing opens a lesson or scenario under a variant ("" for its
  // default, a lesson's own) and rebuilds the panel. A variant it does not
  // have falls back to the default, with a note in problems; it returns null
  // (and notes the reason) if the game refused.
  function openThing(kind, name, variant, problems) {
    let res = parseJSON(call("open", kind, name, variant || ""));
    if (variant && (!res || !res.ok)) {
      const plain = parseJSON(call("open", kind, name, ""));
      if (plain && plain.ok) {
        const names = (Array.isArray(plain.variants) ? plain.variants : []).map((v) => String(v && v.name));
        problems.push(names.length === 0
          ? "The " + kind + " “" + clip(name) + "” has no variants; ignoring “" + clip(variant) + "”."
          : "The " + kind + " “" + clip(name) + "” has no variant “" + clip(variant) + "” (it has " +
            names.join(", ") + "); showing “" + String(plain.variant || names[0]) + "”.");
        res = plain;
      }
    }
    if (!res || !res.ok) {
      const why = res && res.error ? res.error : "the visualizer gave no answer";
      problems.push("Could not open " + kind + " “" + clip(name) + "”: " + why + ".");
      return null;
    }
    view.kind = kind;
    view.name = name;
    view.variant = String(res.variant || "");
    view.variants = Array.isArray(res.variants) ? res.variants.filter((v) => v && typeof v.name === "string") : [];
    fillVariants();
    view.total = Math.max(1, Number(res.total) || 1);
    view.step = -1;
    view.current = -1;
    el.title.textContent = res.title || name;
    document.title = (res.title || name) + " — mmuviz";
    el.pick.value = kind + ":" + name;
    buildSections(Array.isArray(res.sections) ? res.sections : []);
    return res;
  }

  // permalink is the hash naming what is shown: the thing, the step, the
  // variant, and the embed/presenter modes when on.
  function permalink() {
    let h = "#" + view.kind + "=" + encodeURIComponent(view.name) + "&step=" + view.step;
    if (view.variants.length > 0 && view.variant) {
      h += "&variant=" + encodeURIComponent(view.variant);
    }
    if (view.embed) {
      h += "&embed=1";
    }
    if (view.present) {
      h += "&present=1";
    }
    return h;
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
    const want = parseHash(location.hash);
    setModes(want.embed, want.present, false);
    const same = (want.sameThing || (want.kind === view.kind && want.name === view.name)) &&
      (want.variant === "" || want.variant === view.variant);
    if (want.problems.length === 0 && same && want.step < view.total) {
      seek(want.step);
      hideNotice();
      return;
    }
    openFromHash();
  });

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
      if (typeof s.variant === "string") {
        view.variant = s.variant;
        el.variant.value = s.variant;
      }
    }
    el.play.textContent = view.playing ? "Pause" : "Play";
    setSpeedValue(view.speed);
    el.narration.textContent = String(s.narration || "");
    el.narration.title = el.narration.textContent;
    el.func.textContent = String(s.func || "–");
    view.step = step;
    el.counter.textContent = "Step " + step + " / " + (view.total - 1);
    el.first.disabled = el.back.disabled = step <= 0;
    el.next.disabled = el.last.disabled = step >= view.total - 1;
    highlightSection(step);
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

  function buildSections(sections) {
    const nodes = sections.map((sec, i) => {
      const div = document.createElement("section");
      div.className = "step";
      div.dataset.from = String(Number(sec.from) || 0);
      div.dataset.to = String(Number(sec.to) || 0);
      div.id = "sec-" + i;
      // The HTML comes from the lessons compiled into our own wasm, rendered
      // by goldmark with raw HTML disabled.
      div.innerHTML = String(sec.html || "");
      return div;
    });
    view.sections = nodes;
    el.sections.replaceChildren(...nodes);
    // Links out of the lesson open beside it, so the lesson keeps its place.
    for (const a of el.sections.querySelectorAll('a[href^="http:"], a[href^="https:"]')) {
      a.target = "_blank";
      a.rel = "noopener noreferrer";
    }
  }

  // Links inside the lesson that point into the page: jump links
  // (#step=N, data-step) seek; other fragments (footnotes) scroll the panel.
  // Neither may change the hash, which holds the permalink.
  el.sections.addEventListener("click", (e) => {
    const a = e.target instanceof Element ? e.target.closest("a[href]") : null;
    if (!a || e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey || e.altKey) {
      return;
    }
    const href = a.getAttribute("href") || "";
    if (!href.startsWith("#")) {
      return;
    }
    e.preventDefault();
    const m = /^#step=(\d{1,9})$/.exec(href);
    const step = a.dataset.step !== undefined ? Number(a.dataset.step) : m ? Number(m[1]) : NaN;
    if (Number.isInteger(step) && step >= 0) {
      seek(Math.min(step, view.total - 1));
      giveKeysBack(e);
      return;
    }
    let id = href.slice(1);
    try {
      id = decodeURIComponent(id);
    } catch (err) {
      return;
    }
    const target = document.getElementById(id);
    if (target && el.sections.contains(target)) {
      target.scrollIntoView({ block: "nearest" });
    }
  });

  function highlightSection(step) {
    const idx = view.sections.findIndex((n) =>
      Number(n.dataset.from) <= step && step <= Number(n.dataset.to));
    if (idx === view.current) {
      return;
    }
    const old = view.sections[view.current];
    if (old) {
      old.classList.remove("current");
      old.removeAttribute("aria-current");
    }
    view.current = idx;
    const cur = view.sections[idx];
    if (cur) {
      cur.classList.add("current");
      cur.setAttribute("aria-current", "step");
      cur.scrollIntoView({ block: "nearest" });
    }
  }

  function setSpeedValue(speed) {
    const v = String(speed);
    if (![...el.speed.options].some((o) => o.value === v)) {
      const o = document.createElement("option");
      o.value = v;
      o.textContent = v + "×";
      el.speed.append(o);
    }
    el.speed.value = v;
  }

  // fillVariants shows the variant switch when what is open has variants.
  function fillVariants() {
    const nodes = view.variants.map((v) => {
      const o = document.createElement("option");
      o.value = v.name;
      o.textContent = v.text ? v.name + " — " + v.text : v.name;
      o.title = o.textContent;
      return o;
    });
    el.variant.replaceChildren(...nodes);
    el.variant.value = view.variant;
    el.variant.title = "Run the same script under another design or patch; the step stays";
    el.variantBox.hidden = nodes.length === 0;
  }

  // switchVariant reopens what is open under another variant, at the same
  // step (the last one if the other variant's timeline is shorter).
  function switchVariant(variant) {
    if (!view.kind || variant === view.variant) {
      return;
    }
    const step = Math.max(0, view.step);
    const problems = [];
    if (openThing(view.kind, view.name, variant, problems)) {
      seek(Math.min(step, view.total - 1));
    } else {
      el.variant.value = view.variant;
    }
    if (problems.length > 0) {
      showNotice(problems.join(" "));
    } else {
      hideNotice();
    }
  }

  function fillPicker(catalog) {
    const groups = [["lesson", "Lessons", catalog.lessons], ["scenario", "Scenarios", catalog.scenarios]];
    const nodes = [];
    for (const [kind, label, items] of groups) {
      if (!Array.isArray(items) || items.length === 0) {
        continue;
      }
      const g = document.createElement("optgroup");
      g.label = label;
      for (const it of items) {
        const o = document.createElement("option");
        o.value = kind + ":" + it.name;
        o.textContent = it.title || it.name;
        g.append(o);
      }
      nodes.push(g);
    }
    el.pick.replaceChildren(...nodes);
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
    for (const b of [el.first, el.back, el.play, el.next, el.last, el.speed, el.pick, el.variant,
      el.copyLink, el.present, el.exportPNG]) {
      b.disabled = true;
    }
    el.crashReload.focus();
  }

  // ---- copy link, embed, presenter, blank, PNG export -----------------

  let copyTimer = 0;
  function copyLink() {
    const url = location.href.split("#")[0] + permalink();
    el.linkText.value = url;
    const done = (ok) => {
      el.copyStatus.textContent = ok ? "Copied" : "Press Ctrl+C to copy the selected link";
      clearTimeout(copyTimer);
      copyTimer = setTimeout(() => { el.copyStatus.textContent = ""; }, 4000);
    };
    // The fallback: a read-only field holding the link, selected.
    const fallback = () => {
      el.linkText.hidden = false;
      el.linkText.focus();
      el.linkText.select();
      let ok = false;
      try {
        ok = document.execCommand("copy");
      } catch (err) {
        ok = false;
      }
      done(ok);
    };
    if (navigator.clipboard && typeof navigator.clipboard.writeText === "function") {
      navigator.clipboard.writeText(url).then(() => {
        el.linkText.hidden = true;
        done(true);
      }, fallback);
    } else {
      fallback();
    }
  }

  // setModes turns embed and presenter mode on or off; the hash follows
  // (unless the change comes from the hash, which the caller then reads).
  function setModes(embed, present, write) {
    view.embed = embed === true;
    view.present = present === true;
    document.body.classList.toggle("embed", view.embed);
    document.body.classList.toggle("presenting", view.present);
    el.present.textContent = view.present ? "Stop presenting" : "Present";
    if (!view.present) {
      setBlank(false);
    }
    if (write !== false) {
      writeHash();
    }
  }

  function togglePresent() {
    const on = !view.present;
    setModes(view.embed, on);
    const doc = document.documentElement;
    if (on) {
      // Fullscreen needs a user gesture; a permalink with &present=1 opens
      // presenter mode without it.
      const gesture = !navigator.userActivation || navigator.userActivation.isActive;
      if (gesture && !document.fullscreenElement && typeof doc.requestFullscreen === "function") {
        doc.requestFullscreen().then(() => { view.fullscreen = true; }, () => { view.fullscreen = false; });
      }
    } else if (document.fullscreenElement && typeof document.exitFullscreen === "function") {
      view.fullscreen = false;
      document.exitFullscreen().catch(() => {});
    }
  }

  // Leaving fullscreen (the browser's own Esc) leaves presenter mode too.
  document.addEventListener("fullscreenchange", () => {
    if (!document.fullscreenElement && view.fullscreen) {
      view.fullscreen = false;
      if (view.present) {
        setModes(view.embed, false);
      }
    }
  });

  function setBlank(on) {
    view.blank = on === true;
    el.blank.hidden = !view.blank;
  }

  // exportName is mmuviz-<name>[-<variant>]-step<k>.png.
  function exportName() {
    let n = view.name;
    if (view.variants.length > 0 && view.variant) {
      n += "-" + view.variant;
    }
    n = n.replace(/[^A-Za-z0-9._-]+/g, "_");
    return "mmuviz-" + n + "-step" + Math.max(0, view.step) + ".png";
  }

  // exportPNG downloads the stage canvas as a PNG. The WebGL canvas keeps
  // its pixels only until the frame is shown, so the copy is taken in an
  // animation frame of the stage, after the game has drawn in it.
  function exportPNG() {
    let win = null;
    let canvas = null;
    try {
      win = stage.contentWindow;
      canvas = stage.contentDocument.querySelector("canvas");
    } catch (err) {
      canvas = null;
    }
    if (!canvas || !win || view.crashed) {
      el.copyStatus.textContent = "There is no frame to save yet";
      return;
    }
    const name = exportName();
    win.requestAnimationFrame(() => {
      canvas.toBlob((blob) => {
        if (!blob) {
          el.copyStatus.textContent = "The frame could not be saved";
          return;
        }
        window.mmuvizLastExport = { name, blob };
        const url = URL.createObjectURL(blob);
        const a = document.createElement("a");
        a.href = url;
        a.download = name;
        document.body.append(a);
        a.click();
        a.remove();
        setTimeout(() => URL.revokeObjectURL(url), 10000);
        el.copyStatus.textContent = "Saved " + name;
      }, "image/png");
    });
  }

  // hostKey handles the page's own keys (presenter, blank, export); it is
  // also called by game.js for keys pressed inside the stage.
  function hostKey(key) {
    if (view.crashed || !view.game) {
      return false;
    }
    switch (key) {
      case "f": case "F":
        togglePresent();
        return true;
      case "b": case "B": case ".":
        setBlank(!view.blank);
        return true;
      case "s": case "S":
        exportPNG();
        return true;
      case "Escape":
        if (view.blank) {
          setBlank(false);
          return true;
        }
        if (view.present) {
          togglePresent();
          return true;
        }
        return false;
      default:
        // A blanked screen keeps its place: only B (or .) brings it back.
        return view.blank;
    }
  }
  window.mmuvizHost.onKey = hostKey;

  // ---- keyboard and controls -----------------------------------------

  const fieldTags = new Set(["INPUT", "SELECT", "TEXTAREA"]);
  const activatable = new Set(["BUTTON", "A", "SUMMARY"]);

  // Keys pressed anywhere in the parent go to the game, except those that a
  // focused control needs for itself (a select's arrows, a button's Space).
  document.addEventListener("keydown", (e) => {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || e.isComposing) {
      return;
    }
    if (e.key === "Escape" && (view.blank || view.present) && hostKey(e.key)) {
      e.preventDefault();
      return;
    }
    if (e.key === "Escape" && !el.notice.hidden) {
      hideNotice();
      e.preventDefault();
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
  el.copyLink.addEventListener("click", copyLink);
  onClick(el.present, togglePresent);
  onClick(el.exportPNG, exportPNG);
  el.crashReload.addEventListener("click", () => location.reload());

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
