// hash.js reads and writes the page's address (the permalink); app.js uses
// it. The forms (web/BRIDGE.md):
//   #lesson=NAME&step=K   #scenario=NAME&step=K   #file=FILE.md&step=K
//     each with &variant=V, &embed=1, &present=1 when they apply
//   #step=K                         a jump within what is open
//   #index                          the lesson index
//   #quiz=SEED[&kind=K][&mode=M][&n=N]   the exercise of a seed
"use strict";

(() => {
  const parts = (window.mmuvizParts = window.mmuvizParts || {});

  const KEYS = ["lesson", "scenario", "file", "step", "variant", "embed", "present", "index", "quiz", "kind", "mode", "n"];
  const NAME = /^[A-Za-z0-9._-]{1,40}$/;

  function clip(s) {
    s = String(s);
    return s.length > 40 ? s.slice(0, 40) + "…" : s;
  }

  // parse reads a hash. It never throws; whatever it could not use is
  // listed in problems. view is "index", "quiz" or "" (a lesson, scenario
  // or dropped file, named by kind and name, or by file).
  function parse(hash) {
    const want = {
      kind: "", name: "", file: "", step: 0, variant: "", sameThing: false, embed: false, present: false,
      view: "", quiz: { seed: "", kind: "", mode: "", n: 0 }, problems: [],
    };
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
      if (!KEYS.includes(key)) {
        want.problems.push("The address has an unknown part “" + clip(key) + "”.");
      }
    }
    want.embed = params.get("embed") === "1";
    want.present = params.get("present") === "1";
    if (params.has("index")) {
      want.view = "index";
      return want;
    }
    if (params.has("quiz")) {
      want.view = "quiz";
      readQuiz(params, want);
      return want;
    }
    readThing(params, want);
    readStep(params, want);
    return want;
  }

  // readThing reads what the address opens and its variant.
  function readThing(params, want) {
    const lesson = params.get("lesson");
    const scenario = params.get("scenario");
    const file = params.get("file");
    if (lesson !== null) {
      want.kind = "lesson";
      want.name = lesson;
    } else if (scenario !== null) {
      want.kind = "scenario";
      want.name = scenario;
    } else if (file !== null) {
      want.file = file;
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
      if (NAME.test(variant)) {
        want.variant = variant;
      } else {
        want.problems.push("Variant “" + clip(variant) + "” is not a variant name; showing the default.");
      }
    }
  }

  function readStep(params, want) {
    const step = params.get("step");
    if (step !== null) {
      if (/^\d{1,9}$/.test(step)) {
        want.step = Number(step);
      } else {
        want.problems.push("Step “" + clip(step) + "” is not a step number; showing step 0.");
      }
    }
  }

  // readQuiz reads #quiz=SEED&kind=K&mode=M&n=N; the Go program checks the
  // kind and mode against the ones it knows.
  function readQuiz(params, want) {
    const q = want.quiz;
    const seed = params.get("quiz").trim();
    if (/^\d{1,20}$/.test(seed)) {
      q.seed = seed;
    } else {
      want.problems.push("Quiz seed “" + clip(seed) + "” is not a whole number; showing seed 0.");
      q.seed = "0";
    }
    for (const key of ["kind", "mode"]) {
      const v = params.get(key);
      if (v === null || v === "") {
        continue;
      }
      if (NAME.test(v)) {
        q[key] = v;
      } else {
        want.problems.push("Quiz " + key + " “" + clip(v) + "” is not a name; using any.");
      }
    }
    const n = params.get("n");
    if (n !== null) {
      if (/^\d{1,3}$/.test(n) && Number(n) >= 1) {
        q.n = Number(n);
      } else {
        want.problems.push("“" + clip(n) + "” is not a number of questions; using the default.");
      }
    }
  }

  // thing is the permalink of what is open: s has kind, name, file, step,
  // variant (with hasVariants), embed and present.
  function thing(s) {
    let h = s.file
      ? "#file=" + encodeURIComponent(s.file)
      : "#" + s.kind + "=" + encodeURIComponent(s.name);
    h += "&step=" + s.step;
    if (s.hasVariants && s.variant) {
      h += "&variant=" + encodeURIComponent(s.variant);
    }
    if (s.embed) {
      h += "&embed=1";
    }
    if (s.present) {
      h += "&present=1";
    }
    return h;
  }

  // quiz is the permalink of an exercise; "any" and the default number of
  // questions are left out, as the command line's defaults are.
  function quiz(q) {
    let h = "#quiz=" + encodeURIComponent(q.seed);
    if (q.kind && q.kind !== "any") {
      h += "&kind=" + encodeURIComponent(q.kind);
    }
    if (q.mode && q.mode !== "any") {
      h += "&mode=" + encodeURIComponent(q.mode);
    }
    if (q.n && q.n !== 5) {
      h += "&n=" + q.n;
    }
    return h;
  }

  parts.hash = { parse, thing, quiz, clip };
})();
