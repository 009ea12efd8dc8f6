//go:build !js

package main

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"mmuviz/lessons"
)

// TestBrowserQuiz opens exercises by permalink and through the form, and
// checks that the page shows the very quiz `mmuviz quiz -s SEED` prints
// (lessons.NewQuiz, the code the command runs) and judges answers as
// Question.Check does natively, in words and symbols, not colour alone.
func TestBrowserQuiz(t *testing.T) {
	ctx, console, _ := openPage(t, 1280, 800, "#quiz=7")
	pollJS[bool](t, ctx, 10*time.Second, "the quiz", `!document.getElementById("quiz-view").hidden && location.hash === "#quiz=7"`)
	wrong := checkQuiz(t, ctx, 7, lessons.QuizOptions{})
	watchAccess(t, ctx, 7)

	// The form, driven by the keyboard: Enter in the seed field makes it.
	eval[bool](t, ctx, `(() => { const $ = (id) => document.getElementById(id);
	  $("quiz-kind").value = "refs"; $("quiz-mode").value = "pae"; $("quiz-n").value = "3";
	  $("quiz-seed").value = ""; $("quiz-seed").focus(); return true; })()`)
	within(t, ctx, 10*time.Second, "typing a seed", chromedp.SendKeys(chromedp.ID("quiz-seed"), "42"+kb.Enter))
	pollJS[bool](t, ctx, 10*time.Second, "the quiz of seed 42", `location.hash === "#quiz=42&kind=refs&mode=pae&n=3"`)
	wrong += checkQuiz(t, ctx, 42, lessons.QuizOptions{N: 3, Mode: "pae", Kind: "refs"})

	eval[bool](t, ctx, `(location.hash = "#quiz=18446744073709551615&kind=next-entry&mode=5level", true)`)
	pollJS[bool](t, ctx, 10*time.Second, "the largest seed", `document.getElementById("quiz-seed").value === "18446744073709551615"`)
	wrong += checkQuiz(t, ctx, 18446744073709551615, lessons.QuizOptions{Kind: "next-entry", Mode: "5level"})
	if wrong == 0 {
		t.Error("no answer was judged wrong: the check of wrong answers proved nothing")
	}

	badQuizzes(t, ctx)
	quizButtonAndBack(t, ctx)
	console.check(t)
}

// quizPage is what the quiz view shows.
type quizPage struct {
	Command   string
	Registers [][]string
	Captions  []string
	Prompts   []string
}

const quizPageJS = `(() => ({
  Command: document.getElementById("quiz-command").textContent,
  Registers: [...document.querySelectorAll("#quiz-problem table:first-of-type tbody tr")].map((r) => [...r.cells].map((c) => c.textContent)),
  Captions: [...document.querySelectorAll("#quiz-problem caption")].map((c) => c.textContent),
  Prompts: [...document.querySelectorAll("#quiz-questions .prompt")].map((p) => p.textContent),
}))()`

// checkQuiz compares the page with the quiz Go makes natively, answers
// every question (the right answer typed with the keyboard, two others
// set and submitted) and reveals every answer. It returns how many
// answers were judged wrong.
func checkQuiz(t *testing.T, ctx context.Context, seed uint64, opts lessons.QuizOptions) int {
	q, err := lessons.NewQuiz(seed, opts)
	if err != nil {
		t.Fatal(err)
	}
	p := eval[quizPage](t, ctx, quizPageJS)
	if p.Command != q.Command {
		t.Errorf("seed %d: the page says the command is %q, the Go quiz %q", seed, p.Command, q.Command)
	}
	var regs [][]string
	for _, r := range q.Registers {
		regs = append(regs, []string{strings.ToUpper(r.Name), r.Value.String(), r.Bits})
	}
	var captions = []string{"Registers"}
	for _, tb := range q.Tables {
		captions = append(captions, tb.Name+" at GPA "+tb.GPA.String())
	}
	var prompts []string
	for _, qu := range q.Questions {
		prompts = append(prompts, qu.Prompt)
	}
	if !slices.EqualFunc(p.Registers, regs, slices.Equal) || !slices.Equal(p.Captions, captions) || !slices.Equal(p.Prompts, prompts) {
		t.Errorf("seed %d: the page shows\n%+v\nthe Go quiz has registers %v, tables %v, prompts %q", seed, p, regs, captions, prompts)
	}
	wrong := 0
	for i := range q.Questions {
		qu := &q.Questions[i]
		wrong += answer(t, ctx, qu, qu.Answer, true)
		wrong += answer(t, ctx, qu, "42", false)
		wrong += answer(t, ctx, qu, "purple elephants", false)
		reveal(t, ctx, qu)
	}
	t.Logf("seed %d (%s): %d questions compared and answered", seed, q.Command, len(q.Questions))
	return wrong
}

// answer submits an answer to a question (typing it when typed) and
// checks the verdict against Question.Check; it returns 1 if wrong.
func answer(t *testing.T, ctx context.Context, qu *lessons.Question, text string, typed bool) int {
	ok, feedback := qu.Check(text)
	input := fmt.Sprintf("qa-%d", qu.N)
	eval[bool](t, ctx, fmt.Sprintf(`(() => { const i = document.getElementById(%q); i.value = "";
	  document.getElementById("qf-%d").textContent = ""; return true; })()`, input, qu.N))
	if typed {
		within(t, ctx, 10*time.Second, "typing an answer", chromedp.SendKeys(chromedp.ID(input), text+kb.Enter))
	} else {
		eval[bool](t, ctx, fmt.Sprintf(`(() => { const i = document.getElementById(%q); i.value = %q;
		  i.form.requestSubmit(); return true; })()`, input, text))
	}
	got := pollJS[struct{ Text, Result string }](t, ctx, 10*time.Second, "the verdict", fmt.Sprintf(
		`(() => { const f = document.getElementById("qf-%d"); return f.textContent && {Text: f.textContent, Result: f.dataset.result}; })()`, qu.N))
	want := "✗ " + feedback
	wantResult := "wrong"
	if ok {
		want, wantResult = "✓ "+feedback, "right"
	}
	if got.Text != want || got.Result != wantResult {
		t.Errorf("question %d (%s), answer %q: the page says %q (%s), Question.Check %q (%s)",
			qu.N, qu.Kind, text, got.Text, got.Result, want, wantResult)
	}
	if typed && !ok {
		t.Errorf("question %d: the Go answer %q does not check as right: %s", qu.N, text, feedback)
	}
	if ok {
		return 0
	}
	return 1
}

// reveal shows a question's answer with the keyboard (Space on the
// button) and compares it with the Go quiz's answer and explanation.
func reveal(t *testing.T, ctx context.Context, qu *lessons.Question) {
	eval[bool](t, ctx, fmt.Sprintf(`(document.querySelector("#q-%d .reveal").focus(), true)`, qu.N))
	press(t, ctx, " ")
	got := pollJS[struct {
		Answer, Expanded string
		Why              []string
	}](t, ctx, 10*time.Second, "the answer", fmt.Sprintf(`(() => { const s = document.getElementById("qs-%d");
	  return !s.hidden && {Answer: s.querySelector("p").textContent,
	    Expanded: document.querySelector("#q-%d .reveal").getAttribute("aria-expanded"),
	    Why: [...s.querySelectorAll(".explain li")].map((l) => l.textContent)}; })()`, qu.N, qu.N))
	if got.Answer != "Answer: "+qu.Answer || got.Expanded != "true" || !slices.Equal(got.Why, qu.Explanation) {
		t.Errorf("question %d: the revealed answer is %+v; the Go quiz says %q with %d explanation lines",
			qu.N, got, qu.Answer, len(qu.Explanation))
	}
}

// badQuizzes: a seed that is not a number falls back to 0 with a notice;
// a kind the Go program does not know is reported in the quiz view.
func badQuizzes(t *testing.T, ctx context.Context) {
	eval[bool](t, ctx, `(location.hash = "#quiz=abc", true)`)
	pollJS[bool](t, ctx, 10*time.Second, "the fallback seed", `document.getElementById("quiz-seed").value === "0"`)
	if n := readPage(t, ctx).Notice; !strings.Contains(n, "abc") {
		t.Errorf("a bad seed gives the notice %q", n)
	}
	press(t, ctx, kb.Escape) // dismisses the notice, not the quiz
	eval[bool](t, ctx, `(location.hash = "#quiz=5&kind=essay", true)`)
	msg := pollJS[string](t, ctx, 10*time.Second, "the quiz error",
		`!document.getElementById("quiz-error").hidden && document.getElementById("quiz-error").textContent`)
	if !strings.Contains(msg, `unknown question kind "essay"`) {
		t.Errorf("an unknown kind says %q", msg)
	}
}

// quizButtonAndBack opens a fresh quiz with the Quiz button (a new seed
// in the address), leaves it with Esc and comes back to it with Back.
func quizButtonAndBack(t *testing.T, ctx context.Context) {
	press(t, ctx, kb.Escape)
	pollJS[bool](t, ctx, 10*time.Second, "the quiz to close",
		`document.getElementById("quiz-view").hidden && /^#(lesson|file)=/.test(location.hash)`)
	if a := readPage(t, ctx).Active; a != "button#open-quiz" {
		t.Errorf("after Esc the focus is on %s, want the Quiz button", a)
	}
	lesson := eval[string](t, ctx, `location.hash`)
	within(t, ctx, 10*time.Second, "clicking Quiz", chromedp.Click(chromedp.ID("open-quiz")))
	hash := pollJS[string](t, ctx, 10*time.Second, "a fresh quiz",
		`!document.getElementById("quiz-view").hidden && document.querySelectorAll("#quiz-questions .question").length > 0 && location.hash`)
	if !regexp.MustCompile(`^#quiz=\d+(&|$)`).MatchString(hash) {
		t.Errorf("the Quiz button gave the address %q", hash)
	}
	eval[bool](t, ctx, `(history.back(), true)`)
	pollJS[bool](t, ctx, 10*time.Second, "the lesson after Back",
		fmt.Sprintf(`document.getElementById("quiz-view").hidden && location.hash === %q`, lesson))
}

// watchAccess opens the quiz's guest from a revealed answer: the page
// shows the quiz's scenario at the first step of that question's walk.
func watchAccess(t *testing.T, ctx context.Context, seed uint64) {
	q, err := lessons.NewQuiz(seed, lessons.QuizOptions{})
	if err != nil {
		t.Fatal(err)
	}
	qu := q.Questions[len(q.Questions)-1]
	within(t, ctx, 10*time.Second, "clicking Watch", chromedp.Click(chromedp.CSS(fmt.Sprintf("#qs-%d .watch", qu.N))))
	want := fmt.Sprintf("#file=quiz-%d.mmu&step=%d", seed, qu.Access.Step)
	pollJS[bool](t, ctx, 10*time.Second, "the quiz's walk", fmt.Sprintf(
		`document.getElementById("quiz-view").hidden && location.hash === %q`, want))
	g := readGame(t, ctx, qu.Access.Step)
	// The explanation's first line is the walk's first step, as the engine
	// narrates it: "step K [func] text".
	if got := fmt.Sprintf("step %d [%s] %s", g.Step, g.Func, g.Narration); got != qu.Explanation[0] {
		t.Errorf("question %d: the page is at %q, the quiz's explanation starts %q", qu.N, got, qu.Explanation[0])
	}
	if p := readPage(t, ctx); p.Narration != g.Narration {
		t.Errorf("the panel shows %q, the game %q", p.Narration, g.Narration)
	}
	eval[bool](t, ctx, fmt.Sprintf(`(location.hash = "#quiz=%d", true)`, seed))
	pollJS[bool](t, ctx, 10*time.Second, "the quiz again", `!document.getElementById("quiz-view").hidden`)
}
