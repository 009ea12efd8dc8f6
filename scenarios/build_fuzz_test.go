package scenarios

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzBuild parses, builds and runs arbitrary files on a Quiet machine,
// under each variant they declare: whatever the input, nothing panics, and
// every error is located.
func FuzzBuild(f *testing.F) {
	for _, name := range Builtin() {
		src, err := BuiltinSource(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	for _, tc := range buildErrors {
		f.Add([]byte(tc.src))
	}
	for _, tc := range buildCases {
		f.Add([]byte(tc.src))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		s, err := Load("f.mmu", src)
		if err != nil {
			checkLocated(t, src, err)
			return
		}
		runs := []*Scenario{s}
		for _, v := range s.Variants[min(1, len(s.Variants)):] {
			o, err := s.WithVariant(v.Name)
			if err != nil {
				checkLocated(t, src, err)
				continue
			}
			runs = append(runs, o)
		}
		for _, s := range runs {
			s.Machine.Quiet = true
			if _, err := s.Run(); err != nil {
				checkLocated(t, src, err)
			}
		}
	})
}

// checkLocated checks that err is an *Error (or a list of them) inside the
// input.
func checkLocated(t *testing.T, src []byte, err error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %T %v has no position", err, err)
	}
	lines := bytes.Count(src, []byte("\n")) + 1
	if e.Pos.File != "f.mmu" || e.Pos.Line < 1 || e.Pos.Line > lines || e.Pos.Col < 1 || e.Msg == "" {
		t.Fatalf("error %v is outside the input", err)
	}
}
