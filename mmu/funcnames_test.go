package mmu

import (
	"bufio"
	"os"
	"testing"
)

// knownFuncNames are the names a trace event's Func may take: the Linux
// 6.16 KVM identifiers, the seeds' identifiers, and the engine's own names
// ("cpu" is the processor or the TDX module serving a TDCALL, "guest store"
// a guest's own store, "invariants" the checker). The test is skipped
// where the lists are absent.
func knownFuncNames(t *testing.T) map[string]bool {
	t.Helper()
	known := map[string]bool{"cpu": true, "guest store": true, "invariants": true}
	for _, f := range []string{"/work/shared/reference/names/kernel-6.16-kvm-identifiers.txt",
		"/work/shared/reference/names/seed-identifiers.txt"} {
		fh, err := os.Open(f)
		if err != nil {
			t.Skipf("no list of names: %v", err)
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			known[sc.Text()] = true
		}
		fh.Close()
	}
	return known
}

// checkFuncNames fails t for every event of st, the step of a, whose
// function is not among known.
func checkFuncNames(t *testing.T, known map[string]bool, a Action, st Step) {
	t.Helper()
	for _, ev := range st.Events {
		if !known[ev.Func] {
			t.Errorf("%T names %q, which is no 6.16 identifier", a, ev.Func)
		}
	}
}
