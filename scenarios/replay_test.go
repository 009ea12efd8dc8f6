package scenarios

import (
	"errors"
	"testing"

	"mmuviz/mmu"
)

// The checks several tables and scenario tests share: a bad file's exact
// error, and a script replayed action by action against its timeline.

// checkBuildError loads src as t.mmu and runs it: it must fail with
// exactly want, as an *Error.
func checkBuildError(t *testing.T, src, want string) {
	t.Helper()
	s, err := Load("t.mmu", []byte(src))
	if err == nil {
		_, err = s.Run()
	}
	if err == nil {
		t.Errorf("%q: no error, want %s", src, want)
		return
	}
	if err.Error() != want {
		t.Errorf("%q:\n got %s\nwant %s", src, err, want)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Errorf("%q: error %T is not an *Error", src, err)
	}
}

// replay runs s's script on a clone of its machine, failing t at the first
// engine error (named by its line); after, when not nil, sees the machine
// after each action. It returns the machine at the end.
func replay(t *testing.T, s *Scenario, after func(i int, a mmu.Action, m *mmu.Machine)) *mmu.Machine {
	t.Helper()
	m := s.Machine.Clone()
	for i, a := range s.Script {
		if _, err := m.Do(a); err != nil {
			t.Fatal(s.ActionError(i, err))
		}
		if after != nil {
			after(i, a, m)
		}
	}
	return m
}

// checkSeekAtActionEnds seeks s's timeline to the last step of each action
// and compares view of that machine with views, the views of replaying the
// script one action at a time. It returns the timeline.
func checkSeekAtActionEnds(t *testing.T, s *Scenario, views []string, view func(*mmu.Machine) string) *mmu.Timeline {
	t.Helper()
	tl := s.Timeline()
	if tl.Err != nil {
		t.Fatal(tl.Err)
	}
	for a, st := range tl.Steps {
		end := tl.StepOf(a, max(len(st.Events)-1, 0))
		v, err := tl.Seek(end)
		if err != nil {
			t.Fatal(err)
		}
		if got := view(v.Machine); got != views[a] {
			t.Fatalf("Seek(%d), the end of line %d, differs from running the script", end, st.Action.Src().Line)
		}
	}
	return tl
}
