// quiz.js: exercises from a seed, like OSTEP's simulators (`-s SEED`). The
// Go program generates the quiz with the same code as `mmuviz quiz -s SEED`
// and checks each answer (Question.Check); the page shows the problem,
// takes answers, says right or wrong in words, and shows an answer only
// when asked. The seed, kind, mode and number of questions are in the
// address: #quiz=SEED[&kind=K][&mode=M][&n=N]. A part wired up by app.js.
"use strict";

(() => {
  const parts = (window.mmuvizParts = window.mmuvizParts || {});

  const node = parts.node; // dom.js

  // table builds a <table> with a caption, a header row and text cells.
  function table(caption, head, rows) {
    const t = node("table", "dump");
    t.append(node("caption", "", caption));
    const tr = node("tr");
    for (const h of head) {
      const th = node("th", "", h);
      th.scope = "col";
      tr.append(th);
    }
    const thead = node("thead");
    thead.append(tr);
    const tbody = node("tbody");
    for (const r of rows) {
      const row = node("tr");
      for (const c of r) {
        row.append(node("td", "", String(c)));
      }
      tbody.append(row);
    }
    t.append(thead, tbody);
    return t;
  }

  const hexWidth = (value, bytes) => "0x" + BigInt(value).toString(16).padStart(2 * bytes, "0");

  parts.quiz = (app) => {
    const $ = (id) => document.getElementById(id);
    const ui = {
      box: $("quiz-view"), title: $("quiz-title"), form: $("quiz-form"), seed: $("quiz-seed"),
      kind: $("quiz-kind"), mode: $("quiz-mode"), n: $("quiz-n"), random: $("quiz-random"),
      close: $("quiz-close"), error: $("quiz-error"), command: $("quiz-command"), problem: $("quiz-problem"),
      questions: $("quiz-questions"), score: $("quiz-score"),
    };
    let cur = { seed: "0", kind: "any", mode: "any", n: 5 };
    let scenario = ""; // the quiz's guest as scenario text
    let results = {}; // question number → right (true) or not (false)

    function fillOptions() {
      const info = (app.view.catalog && app.view.catalog.quiz) || {};
      for (const [sel, list] of [[ui.kind, info.kinds], [ui.mode, info.modes]]) {
        if (sel.options.length > 0 || !Array.isArray(list)) {
          continue;
        }
        sel.replaceChildren(...list.map((v) => {
          const o = node("option", "", v);
          o.value = v;
          return o;
        }));
      }
      ui.n.max = String(info.max || 50);
    }

    // fresh is a new exercise for the Quiz button: a random seed (a small
    // number, easy to read out in class), the options kept.
    function fresh() {
      const seed = String(1 + Math.floor(Math.random() * 99999));
      return { seed, kind: cur.kind, mode: cur.mode, n: cur.n };
    }

    function show(want) {
      fillOptions();
      generate(want && want.seed ? want : fresh());
      ui.box.hidden = false;
      ui.title.focus();
    }

    function hide() {
      ui.box.hidden = true;
    }

    // generate asks the Go program for the quiz of a seed and shows it.
    function generate(want) {
      const res = app.parseJSON(app.call("quiz", String(want.seed), want.kind || "", want.mode || "", Number(want.n) || 0));
      results = {};
      if (!res || !res.ok) {
        ui.error.textContent = "No quiz for these settings: " + ((res && res.error) || "the visualizer gave no answer") + ".";
        ui.error.hidden = false;
        ui.problem.replaceChildren();
        ui.questions.replaceChildren();
        ui.command.textContent = "";
        ui.score.textContent = "";
        return;
      }
      ui.error.hidden = true;
      cur = { seed: res.seed, kind: res.options.kind, mode: res.options.mode, n: res.options.n };
      scenario = String(res.scenario || "");
      ui.seed.value = cur.seed;
      ui.kind.value = cur.kind;
      ui.mode.value = cur.mode;
      ui.n.value = String(cur.n);
      ui.command.textContent = res.command;
      renderProblem(res);
      ui.questions.replaceChildren(...res.questions.map(question));
      score();
      app.writeHash();
    }

    function renderProblem(q) {
      const items = [];
      items.push(node("p", "", q.title + ", MAXPHYADDR " + q.maxphyaddr +
        (q.mode === "32bit" ? "." : ": entry bits " + q.maxphyaddr + " to 51 are reserved.")));
      items.push(table("Registers", ["Register", "Value", "Bits set"],
        q.registers.map((r) => [r.name.toUpperCase(), r.value, r.bits || ""])));
      const size = q.tables.length > 0 ? q.tables[0].entry_size : 8;
      items.push(node("p", "", "Guest physical memory: the page-table pages, non-zero " + size + "-byte entries only."));
      for (const t of q.tables) {
        items.push(table(t.name + " at GPA " + t.gpa, ["GPA", "Index", "Entry"],
          t.entries.length === 0 ? [["(all zero)", "", ""]]
            : t.entries.map((e) => [e.gpa, e.index, hexWidth(e.value, t.entry_size)])));
      }
      items.push(node("p", "", "vCPU 0 makes these accesses in this order. (The A and D bits a walk sets change no answer.)"));
      ui.problem.replaceChildren(...items);
    }

    // question builds one question: the prompt, an answer field with
    // Check (Enter) and Show the answer, and a feedback line read aloud.
    function question(q) {
      const li = node("li", "question");
      li.id = "q-" + q.n;
      li.append(node("p", "prompt", q.prompt));
      const form = node("form", "answer");
      const input = node("input");
      input.type = "text";
      input.id = "qa-" + q.n;
      input.autocomplete = "off";
      input.spellcheck = false;
      const label = node("label", "", "Answer " + q.n);
      label.htmlFor = input.id;
      const check = node("button", "", "Check");
      check.type = "submit";
      const reveal = node("button", "reveal", "Show the answer");
      reveal.type = "button";
      reveal.setAttribute("aria-expanded", "false");
      reveal.setAttribute("aria-controls", "qs-" + q.n);
      form.append(label, input, check, reveal);
      const feedback = node("p", "feedback");
      feedback.id = "qf-" + q.n;
      feedback.setAttribute("aria-live", "polite");
      input.setAttribute("aria-describedby", feedback.id);
      const solution = node("div", "solution");
      solution.id = "qs-" + q.n;
      solution.hidden = true;
      li.append(form, feedback, solution);
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        checkAnswer(q.n, input.value, feedback);
      });
      reveal.addEventListener("click", () => toggleAnswer(q, reveal, solution));
      return li;
    }

    function checkAnswer(n, answer, out) {
      const r = app.parseJSON(app.call("quizCheck", n, answer)) || {};
      const ok = r.ok === true;
      out.textContent = (ok ? "✓ " : "✗ ") + String(r.feedback || "");
      out.className = "feedback " + (ok ? "right" : "wrong");
      out.dataset.result = ok ? "right" : "wrong";
      results[n] = ok;
      score();
    }

    function toggleAnswer(q, button, box) {
      const open = box.hidden;
      if (open && box.childElementCount === 0) {
        const a = app.parseJSON(app.call("quizAnswer", q.n)) || {};
        const p = node("p", "", "");
        p.append(node("strong", "", "Answer: "), String(a.answer || a.error || ""));
        const why = node("details");
        why.append(node("summary", "", "Why, in the engine's own steps"));
        const ol = node("ol", "explain");
        for (const line of a.explanation || []) {
          ol.append(node("li", "", line));
        }
        why.append(ol);
        const watch = node("button", "watch", "Watch this access in the visualizer");
        watch.type = "button";
        watch.addEventListener("click", () => watchAccess(q));
        box.append(p, why, watch);
      }
      box.hidden = !open;
      button.setAttribute("aria-expanded", String(open));
      button.textContent = open ? "Hide the answer" : "Show the answer";
    }

    // watchAccess opens the quiz's guest (its scenario text, as a file of
    // its own) at the first step of the question's walk.
    function watchAccess(q) {
      const res = app.openFiles([{ name: "quiz-" + cur.seed + ".mmu", text: scenario }]);
      if (!res || !res.ok) {
        app.showNotice("The quiz's scenario could not be opened: " + ((res && res.error) || "no answer") + ".");
        return;
      }
      app.seek(Number(q.access && q.access.step) || 0);
      app.closeOverlay();
    }

    function score() {
      const n = ui.questions.children.length;
      const right = Object.values(results).filter((v) => v).length;
      ui.score.textContent = n === 0 ? "" : right + " of " + n + " answered right so far.";
    }

    function fromForm() {
      return { seed: ui.seed.value.trim(), kind: ui.kind.value, mode: ui.mode.value, n: Number(ui.n.value) || 5 };
    }

    ui.form.addEventListener("submit", (e) => {
      e.preventDefault();
      generate(fromForm());
    });
    ui.random.addEventListener("click", () => {
      const f = fromForm();
      f.seed = fresh().seed;
      generate(f);
    });
    ui.close.addEventListener("click", () => app.closeOverlay());

    return { show, hide, fresh, current: () => cur };
  };
})();
