// lessonindex.js: the lesson index, shown over the stage (#index). Every
// built-in lesson with its title, summary, step count, seed threads,
// scenario and variants, generated from the Go program's list() (never a
// list written here), then the scenarios. Counting steps runs a timeline,
// so the counts (steps()) are filled in one per task after the index is
// shown, and kept. A part of the page that app.js wires up.
"use strict";

(() => {
  const parts = (window.mmuvizParts = window.mmuvizParts || {});

  // seedLabel shortens a seed file name (001_807bb12ca514a71a.txt) to its
  // thread number; other seeds are shown as they are.
  function seedLabel(seed) {
    const m = /^(\d{3})_[0-9a-f]+\.txt$/.exec(seed);
    return m ? "thread " + m[1] : seed;
  }

  const node = parts.node; // dom.js

  // fact appends a term and its description to a <dl>.
  function fact(dl, term, value) {
    const row = node("div");
    row.append(node("dt", "", term));
    const dd = node("dd");
    if (value instanceof Node) {
      dd.append(value);
    } else {
      dd.textContent = value;
    }
    row.append(dd);
    dl.append(row);
  }

  function variantsText(variants, running) {
    return variants.map((v) => v.name + (v.name === running ? " (this lesson's)" : "")).join(", ");
  }

  parts.lessonIndex = (app) => {
    const $ = (id) => document.getElementById(id);
    const ui = {
      box: $("index-view"), title: $("index-title"), lessons: $("index-lessons"), scenarios: $("index-scenarios"),
      seed: $("index-seed"), count: $("index-count"), close: $("index-close"),
    };
    let data = null;
    const counts = {}; // "lesson:NAME" → steps (or an error text)
    let counting = 0; // the pending timer

    function load() {
      if (!data) {
        data = app.view.catalog || { lessons: [], scenarios: [] };
        fillSeeds();
      }
      return data;
    }

    // The default lesson comes first ("Start here"), the rest in the
    // catalog's order.
    function ordered() {
      const first = String(app.call("defaultLesson") || "");
      const all = Array.isArray(data.lessons) ? data.lessons.filter((l) => l && l.name) : [];
      return all.filter((l) => l.name === first).concat(all.filter((l) => l.name !== first))
        .map((l) => ({ ...l, start: l.name === first }));
    }

    function card(l) {
      const li = node("li", "card");
      li.dataset.name = l.name;
      li.dataset.seeds = (l.seeds || []).join(" ");
      const open = !app.view.file && app.view.kind === "lesson" && app.view.name === l.name;
      if (open) {
        li.setAttribute("aria-current", "true");
      }
      const h = node("h3");
      const a = node("a", "", l.title || l.name);
      a.href = "#lesson=" + encodeURIComponent(l.name) + "&step=0";
      h.append(a);
      if (l.start) {
        h.append(" ", node("span", "badge", "Start here"));
      }
      if (open) {
        h.append(" ", node("span", "badge now", "Open now"));
      }
      li.append(h);
      if (l.summary) {
        li.append(node("p", "summary", l.summary));
      }
      const dl = node("dl", "facts");
      const steps = node("span", "steps", countText("lesson", l.name));
      steps.dataset.count = "lesson:" + l.name;
      fact(dl, "Steps", steps);
      const seeds = l.seeds || [];
      const sd = node("span");
      seeds.forEach((s, i) => {
        const sp = node("span", "seed", seedLabel(s));
        sp.title = s;
        sd.append(i > 0 ? ", " : "", sp);
      });
      fact(dl, "Seed threads", seeds.length > 0 ? sd : "none named");
      const sc = node("a");
      sc.href = "#scenario=" + encodeURIComponent(l.scenario) + "&step=0" +
        (l.variant ? "&variant=" + encodeURIComponent(l.variant) : "");
      sc.append(node("code", "", l.scenario));
      fact(dl, "Scenario", l.scenario ? sc : "–");
      if (l.variants && l.variants.length > 0) {
        fact(dl, "Variants", variantsText(l.variants, l.variant));
      }
      li.append(dl);
      if (l.error) {
        li.append(node("p", "error", "This lesson does not load: " + l.error));
      }
      return li;
    }

    function scenarioItem(s) {
      const li = node("li");
      const a = node("a", "", s.title || s.name);
      a.href = "#scenario=" + encodeURIComponent(s.name) + "&step=0";
      li.append(a, " ", node("code", "", s.name));
      const steps = node("span", "steps", countText("scenario", s.name));
      steps.dataset.count = "scenario:" + s.name;
      li.append(" — ", steps, " steps");
      const bits = [];
      if (s.variants && s.variants.length > 0) {
        bits.push("variants " + s.variants.map((v) => v.name).join(", "));
      }
      if (s.error) {
        bits.push("does not load: " + s.error);
      }
      if (bits.length > 0) {
        li.append("; " + bits.join("; "));
      }
      return li;
    }

    function countText(kind, name) {
      const c = counts[kind + ":" + name];
      return c === undefined ? "counting…" : String(c);
    }

    // countNext counts the first step count not known yet and shows it,
    // then schedules the next: one timeline per task keeps the page
    // responsive while the index is read.
    function countNext() {
      counting = 0;
      const pending = [...ui.box.querySelectorAll("[data-count]")].filter((n) => counts[n.dataset.count] === undefined);
      ui.lessons.setAttribute("aria-busy", String(pending.length > 0));
      if (pending.length === 0 || ui.box.hidden) {
        return;
      }
      const key = pending[0].dataset.count;
      const i = key.indexOf(":");
      const r = app.parseJSON(app.call("steps", key.slice(0, i), key.slice(i + 1))) || {};
      counts[key] = r.error ? "does not load" : String(r.steps);
      for (const n of ui.box.querySelectorAll("[data-count]")) {
        if (n.dataset.count === key) {
          n.textContent = counts[key];
        }
      }
      counting = setTimeout(countNext, 0);
    }

    // fillSeeds offers every seed thread some lesson names, to filter by.
    function fillSeeds() {
      const seeds = new Set();
      for (const l of data.lessons || []) {
        for (const s of l.seeds || []) {
          seeds.add(s);
        }
      }
      const opts = [node("option", "", "All lessons")];
      opts[0].value = "";
      for (const s of [...seeds].sort()) {
        const o = node("option", "", "Lessons on seed " + seedLabel(s));
        o.value = s;
        o.title = s;
        opts.push(o);
      }
      ui.seed.replaceChildren(...opts);
      ui.seed.disabled = seeds.size === 0;
    }

    function filter() {
      const want = ui.seed.value;
      let shown = 0;
      const cards = [...ui.lessons.children];
      for (const c of cards) {
        const on = want === "" || c.dataset.seeds.split(" ").includes(want);
        c.hidden = !on;
        shown += on ? 1 : 0;
      }
      ui.count.textContent = want === ""
        ? cards.length + (cards.length === 1 ? " lesson" : " lessons")
        : shown + " of " + cards.length + " lessons draw on " + seedLabel(want);
    }

    function render() {
      load();
      ui.lessons.replaceChildren(...ordered().map(card));
      const scen = Array.isArray(data.scenarios) ? data.scenarios.filter((s) => s && s.name) : [];
      ui.scenarios.replaceChildren(...scen.map(scenarioItem));
      filter();
      clearTimeout(counting);
      counting = setTimeout(countNext, 0);
    }

    function show() {
      render();
      ui.box.hidden = false;
      ui.title.focus();
    }

    function hide() {
      ui.box.hidden = true;
    }

    ui.seed.addEventListener("change", filter);
    ui.close.addEventListener("click", () => app.closeOverlay());

    return { show, hide };
  };
})();
