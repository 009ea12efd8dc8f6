// dropin.js: a lecturer's own lesson (.md) and scenario (.mmu) files,
// dropped onto the page or picked with "Open file…". The Go program reads
// them (openFiles in web/BRIDGE.md) as `mmuviz lesson FILE` would; errors
// are listed as FILE:LINE:COL with the message, and what was open stays.
// The files are kept in this tab's sessionStorage, so the permalink
// (#file=NAME&step=K) survives a reload. A part wired up by app.js.
"use strict";

(() => {
  const parts = (window.mmuvizParts = window.mmuvizParts || {});

  const MAX_BYTES = 1 << 20; // the Go side's limit for a lesson or scenario
  const STORE = "mmuviz-dropped-files";

  parts.dropin = (app) => {
    const $ = (id) => document.getElementById(id);
    const ui = {
      zone: $("drop-zone"), input: $("file-input"), button: $("open-file"), errors: $("file-errors"),
      errorsTitle: $("file-errors-title"), errorsList: $("file-errors-list"), errorsClose: $("file-errors-close"),
      status: $("file-status"),
    };

    // read turns File objects into [{name, text}], refusing what cannot
    // be a lesson or scenario before the Go program sees it.
    async function read(fileList) {
      const files = [...fileList];
      if (files.length === 0) {
        throw new Error("No file was dropped.");
      }
      const out = [];
      for (const f of files) {
        if (f.size > MAX_BYTES) {
          throw new Error(f.name + " is " + f.size + " bytes; a lesson or scenario may have at most " + MAX_BYTES + ".");
        }
        out.push({ name: f.name, text: await f.text() });
      }
      return out;
    }

    // open reads and opens dropped files, showing errors or what opened.
    async function open(fileList) {
      if (!app.view.game || app.view.crashed) {
        return;
      }
      let files;
      try {
        files = await read(fileList);
      } catch (err) {
        showErrors(String(err && err.message ? err.message : err), []);
        return;
      }
      const res = app.openFiles(files);
      if (!res || !res.ok) {
        const errs = res && Array.isArray(res.errors) ? res.errors : [];
        showErrors(errs.length > 0 ? "Could not open " + files.map((f) => f.name).join(" and ") + ":" :
          "Could not open the file: " + ((res && res.error) || "the visualizer gave no answer"), errs);
        return;
      }
      hideErrors();
      if (app.view.overlay) {
        app.closeOverlay(); // dropped on the index or the quiz: show what opened
      }
      ui.status.textContent = "Opened " + res.file + describe(res) + ".";
      if (Array.isArray(res.notes) && res.notes.length > 0) {
        app.showNotice(res.notes.join(" "));
      } else {
        app.hideNotice();
      }
    }

    function describe(res) {
      if (res.kind !== "lesson") {
        return " (a scenario, " + res.total + " steps)";
      }
      return " (a lesson, " + res.total + " steps, " +
        (res.scenarioSource === "file" ? "running your scenario file" : "running a built-in scenario") + ")";
    }

    // showErrors lists the errors, each with its FILE:LINE:COL.
    function showErrors(title, errs) {
      ui.errorsTitle.textContent = title;
      ui.errorsList.replaceChildren(...errs.map((e) => {
        const li = document.createElement("li");
        if (e.line > 0) {
          const pos = document.createElement("code");
          pos.className = "pos";
          pos.textContent = (e.file ? e.file + ":" : "") + e.line + ":" + e.col;
          li.append(pos, ": ");
        }
        li.append(String(e.msg || ""));
        return li;
      }));
      ui.errors.hidden = false;
      ui.status.textContent = "";
    }

    function hideErrors() {
      ui.errors.hidden = true;
    }

    function save(files) {
      try {
        sessionStorage.setItem(STORE, JSON.stringify({ files }));
      } catch (err) {
        // Too large or storage off: the permalink then lasts until a reload.
      }
    }

    // restore returns the files kept in this tab if one of them is name.
    function restore(name) {
      if (app.view.files && app.view.file === name) {
        return app.view.files;
      }
      try {
        const kept = JSON.parse(sessionStorage.getItem(STORE) || "null");
        const files = kept && Array.isArray(kept.files) ? kept.files : [];
        return files.some((f) => f && f.name === name) ? files : null;
      } catch (err) {
        return null;
      }
    }

    // ---- dragging files onto the page (or the stage, via game.js) ----

    const hasFiles = (e) => !!e.dataTransfer && [...e.dataTransfer.types].includes("Files");

    function dragging() {
      ui.zone.hidden = false;
    }

    function drop(fileList) {
      ui.zone.hidden = true;
      open(fileList);
    }

    document.addEventListener("dragenter", (e) => {
      if (hasFiles(e)) {
        e.preventDefault();
        dragging();
      }
    });
    document.addEventListener("dragover", (e) => {
      if (hasFiles(e)) {
        e.preventDefault();
        e.dataTransfer.dropEffect = "copy";
        dragging();
      }
    });
    ui.zone.addEventListener("dragleave", (e) => {
      if (e.target === ui.zone && !ui.zone.contains(e.relatedTarget)) {
        ui.zone.hidden = true;
      }
    });
    document.addEventListener("drop", (e) => {
      if (hasFiles(e)) {
        e.preventDefault();
        drop(e.dataTransfer.files);
      }
    });
    document.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && !ui.zone.hidden) {
        ui.zone.hidden = true;
      }
    });

    // "Open file…" is the keyboard's way: a button opening the file picker.
    ui.button.addEventListener("click", () => ui.input.click());
    ui.input.addEventListener("change", () => {
      const files = ui.input.files;
      if (files && files.length > 0) {
        open(files).finally(() => { ui.input.value = ""; });
      }
    });
    ui.errorsClose.addEventListener("click", hideErrors);

    return { restore, save, dragging, drop, open };
  };
})();
