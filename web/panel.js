// panel.js builds the lesson panel from what the Go program answers: the
// lesson's sections (with their jump links) and the one marked current,
// the speed, the variant switch and the picker. A part of the page that
// app.js wires up.
"use strict";

(() => {
  const parts = (window.mmuvizParts = window.mmuvizParts || {});

  parts.panel = (app) => {
    const { view, el } = app;

    function buildSections(sections) {
      const nodes = sections.map((sec, i) => {
        const div = document.createElement("section");
        div.className = "step";
        div.dataset.from = String(Number(sec.from) || 0);
        div.dataset.to = String(Number(sec.to) || 0);
        div.id = "sec-" + i;
        // The HTML is rendered by goldmark in our own wasm with raw HTML
        // disabled, also for a dropped lesson.
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
        app.seek(Math.min(step, view.total - 1));
        app.giveKeysBack(e);
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

    // highlightSection marks the section of the step: aria-current for
    // screen readers, a "Now" label for the eye (not the colour alone).
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

    // fillPicker lists the built-ins, and the dropped file when one is open.
    function fillPicker(catalog) {
      const groups = [["lesson", "Lessons", catalog.lessons], ["scenario", "Scenarios", catalog.scenarios]];
      if (view.file) {
        groups.unshift(["file", "Your file", [{ name: view.file, title: view.file }]]);
      }
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
      el.pick.value = view.file ? "file:" + view.file : view.kind + ":" + view.name;
    }

    return { buildSections, highlightSection, setSpeedValue, fillVariants, fillPicker };
  };
})();
