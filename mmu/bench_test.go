package mmu

import (
	"fmt"
	"testing"
)

// BenchmarkWalk measures steady-state guest walks: a user read of a mapped
// 4 KiB page whose entries already have A set, so no walk writes memory
// (the first walk, which sets A, is done before timing). "traced" builds
// the events a lesson shows; "quiet" (Machine.Quiet) skips them, as bulk
// runs do.
func BenchmarkWalk(b *testing.B) {
	for _, mode := range pagingModes {
		for _, quiet := range []bool{false, true} {
			name := "traced"
			if quiet {
				name = "quiet"
			}
			b.Run(fmt.Sprintf("%s/%s", modeShort(mode), name), func(b *testing.B) {
				e := newTestEnv(b, mode, DefaultConfig())
				gva := testGVA(mode)
				e.mapPage(gva, testGPA, PageSize, PTWritable|PTUser)
				e.load()
				e.m.Quiet = quiet
				acc := &Access{GVA: gva + 0x40, User: true}
				if st, err := e.m.Do(acc); err != nil || !st.Result.OK {
					b.Fatalf("warm-up walk: %v %s", err, ResultString(st.Result))
				}
				want := walkRefs(mode)
				n := 0
				for b.Loop() {
					st, err := e.m.Do(acc)
					if err != nil || st.Result.Refs != want {
						b.Fatalf("walk: %v %s", err, ResultString(st.Result))
					}
					n++
				}
				b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "walks/s")
			})
		}
	}
}

// benchScript is a 100-action script on a 4-level guest.
func benchScript(b *testing.B) (*Machine, []Action) {
	return scriptEnv(b, Paging4).m, testScript(Paging4, 100)
}

// BenchmarkTimelineSeek seeks to the last step of a 100-action script:
// clone the checkpoint before the last action and replay it.
func BenchmarkTimelineSeek(b *testing.B) {
	m, script := benchScript(b)
	tl := NewTimeline(m, script)
	if tl.Err != nil {
		b.Fatal(tl.Err)
	}
	last := tl.Len() - 1
	for b.Loop() {
		if _, err := tl.Seek(last); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(tl.Len()), "steps")
}

// BenchmarkNewTimeline runs a 100-action script into a timeline, with a
// checkpoint before every action.
func BenchmarkNewTimeline(b *testing.B) {
	m, script := benchScript(b)
	for b.Loop() {
		if tl := NewTimeline(m, script); tl.Err != nil {
			b.Fatal(tl.Err)
		}
	}
}
