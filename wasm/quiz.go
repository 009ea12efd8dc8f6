//go:build js && wasm

package main

import (
	"fmt"
	"strconv"
	"strings"
	"sync"

	"mmuviz/lessons"
)

// The exercise of a seed, as `mmuviz quiz -s SEED` prints it: the page
// shows the problem and the prompts, checks answers with Question.Check
// and shows an answer only when asked. The quiz is generated here by the
// same lessons.NewQuiz, so one seed gives the same exercise in the page
// and on the command line.

// quizState is the quiz the page shows; it has its own lock because it
// never touches the stage.
type quizState struct {
	mu sync.Mutex
	q  *lessons.Quiz
}

// quizQuestion is a question without its answer.
type quizQuestion struct {
	N      int                `json:"n"`
	Kind   string             `json:"kind"`
	Prompt string             `json:"prompt"`
	Access lessons.QuizAccess `json:"access"`
}

// quizJSON is quiz()'s answer: the problem, not the answers.
type quizJSON struct {
	OK         bool                `json:"ok"`
	Error      string              `json:"error,omitempty"`
	Seed       string              `json:"seed"`
	Options    lessons.QuizOptions `json:"options"`
	Command    string              `json:"command"`
	Mode       string              `json:"mode"`
	Title      string              `json:"title"`
	MaxPhyAddr int                 `json:"maxphyaddr"`
	Registers  []lessons.QuizReg   `json:"registers"`
	Tables     []lessons.QuizTable `json:"tables"`
	Questions  []quizQuestion      `json:"questions"`
	Scenario   string              `json:"scenario"`
}

// checkJSON is quizCheck()'s answer.
type checkJSON struct {
	N        int    `json:"n"`
	OK       bool   `json:"ok"`
	Feedback string `json:"feedback"`
}

// answerJSON is quizAnswer()'s answer.
type answerJSON struct {
	N           int      `json:"n"`
	Answer      string   `json:"answer"`
	Hint        string   `json:"hint"`
	Explanation []string `json:"explanation"`
	Error       string   `json:"error,omitempty"`
}

// parseSeed reads a seed as the command line's -s does: a whole number
// from 0 to 2^64-1, in decimal.
func parseSeed(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("the seed is a whole number from 0 to 18446744073709551615, not %q", s)
	}
	return v, nil
}

// generate makes the quiz of a seed and keeps it for check and answer.
// An empty kind or mode is "any"; n 0 is the default number of questions.
func (qs *quizState) generate(seed, kind, mode string, n int) quizJSON {
	v, err := parseSeed(seed)
	if err != nil {
		return quizJSON{Error: err.Error(), Seed: seed}
	}
	q, err := lessons.NewQuiz(v, lessons.QuizOptions{N: n, Mode: mode, Kind: kind})
	if err != nil {
		return quizJSON{Error: err.Error(), Seed: seed}
	}
	qs.mu.Lock()
	qs.q = q
	qs.mu.Unlock()
	out := quizJSON{OK: true, Seed: strconv.FormatUint(q.Seed, 10), Options: q.Options, Command: q.Command,
		Mode: q.Mode, Title: q.Title, MaxPhyAddr: q.MaxPhyAddr, Registers: q.Registers, Tables: q.Tables,
		Questions: make([]quizQuestion, 0, len(q.Questions)), Scenario: q.Scenario}
	for _, qu := range q.Questions {
		out.Questions = append(out.Questions, quizQuestion{qu.N, qu.Kind, qu.Prompt, qu.Access})
	}
	return out
}

// question returns question n (1-based) of the quiz shown.
func (qs *quizState) question(n int) (*lessons.Question, error) {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	if qs.q == nil {
		return nil, fmt.Errorf("no quiz is open")
	}
	if n < 1 || n > len(qs.q.Questions) {
		return nil, fmt.Errorf("the quiz has questions 1 to %d, not %d", len(qs.q.Questions), n)
	}
	return &qs.q.Questions[n-1], nil
}

// check checks an answer to question n with Question.Check.
func (qs *quizState) check(n int, answer string) checkJSON {
	q, err := qs.question(n)
	if err != nil {
		return checkJSON{N: n, Feedback: err.Error()}
	}
	ok, feedback := q.Check(answer)
	return checkJSON{N: n, OK: ok, Feedback: feedback}
}

// answer gives the answer of question n with the engine's steps behind it.
func (qs *quizState) answer(n int) answerJSON {
	q, err := qs.question(n)
	if err != nil {
		return answerJSON{N: n, Error: err.Error(), Explanation: []string{}}
	}
	return answerJSON{N: n, Answer: q.Answer, Hint: q.Hint, Explanation: q.Explanation}
}
