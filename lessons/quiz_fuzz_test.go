package lessons

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzQuiz generates quizzes from any seed and options and checks any
// answer against every question: nothing panics, bad options are errors,
// and a quiz is the same when generated twice.
func FuzzQuiz(f *testing.F) {
	f.Add(uint64(7), 5, "any", "any", "0x7")
	f.Add(uint64(0), 1, "32bit", "next-entry", "PDE 3")
	f.Add(uint64(1)<<63, 50, "5level", "refs", "four")
	f.Add(^uint64(0), 3, "pae", "translate", "fault")
	f.Add(uint64(42), 0, "", "", "")
	f.Add(uint64(3), -2, "4level", "error-code", "P W U RSVD I/D PK")
	f.Add(uint64(9), 7, "bogus", "any", "level 99999999999999999999 index 0x")
	f.Fuzz(func(t *testing.T, seed uint64, n int, mode, kind, answer string) {
		opts := QuizOptions{N: n, Mode: mode, Kind: kind}
		q, err := NewQuiz(seed, opts)
		if err != nil {
			if strings.Contains(err.Error(), internalError) {
				t.Fatalf("seed %d %+v: %v", seed, opts, err)
			}
			return
		}
		q2, _ := NewQuiz(seed, opts)
		var a, b bytes.Buffer
		if q.WriteJSON(&a) != nil || q2.WriteJSON(&b) != nil || a.String() != b.String() {
			t.Fatalf("seed %d %+v: not deterministic", seed, opts)
		}
		for i := range q.Questions {
			qu := &q.Questions[i]
			if ok, fb := qu.Check(answer); fb == "" || ok && answer == "" {
				t.Fatalf("question %d: Check(%q) = %v, %q", qu.N, answer, ok, fb)
			}
			if ok, fb := qu.Check(qu.Answer); !ok {
				t.Fatalf("question %d refuses its own answer %q: %s", qu.N, qu.Answer, fb)
			}
		}
	})
}
