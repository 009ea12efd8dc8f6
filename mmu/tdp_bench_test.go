package mmu

import "testing"

// BenchmarkTDPWalk measures steady-state 2D walks: a user read of a page
// whose whole path is mapped in EPT, with A bits already set, so neither
// the guest's nor EPT's entries are written and there is no VM exit.
// "traced" builds the events a lesson shows; "quiet" skips them.
func BenchmarkTDPWalk(b *testing.B) {
	for _, c := range []struct {
		name string
		mode PagingMode
		cfg  TDPConfig
		refs int
	}{
		{"4on4", Paging4, ept4, 24},
		{"5on5", Paging5, ept5, 35},
		{"npt4on4", Paging4, npt4, 24},
	} {
		for _, quiet := range []bool{false, true} {
			name := c.name + "/traced"
			if quiet {
				name = c.name + "/quiet"
			}
			b.Run(name, func(b *testing.B) {
				e := newTDPEnv(b, c.mode, c.cfg)
				e.prefaultAll()
				e.m.Quiet = quiet
				acc := &Access{GVA: testGVA(c.mode) + 0x40, User: true}
				if st, err := e.m.Do(acc); err != nil || !st.Result.OK {
					b.Fatalf("warm-up walk: %v %s", err, ResultString(st.Result))
				}
				n := 0
				for b.Loop() {
					st, err := e.m.Do(acc)
					if err != nil || st.Result.Refs != c.refs {
						b.Fatalf("walk: %v %s", err, ResultString(st.Result))
					}
					n++
				}
				b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "walks/s")
				b.ReportMetric(float64(c.refs), "refs/walk")
			})
		}
	}
}

// BenchmarkTDPFaultPopulate measures a first access on an empty EPT: six
// attempts, five VM exits, KVM allocating four tables.
func BenchmarkTDPFaultPopulate(b *testing.B) {
	for _, quiet := range []bool{false, true} {
		name := "traced"
		if quiet {
			name = "quiet"
		}
		b.Run(name, func(b *testing.B) {
			e := newTDPEnv(b, Paging4, ept4)
			e.m.Quiet = quiet
			acc := &Access{GVA: testGVA(Paging4), User: true}
			for b.Loop() {
				m := e.m.Clone()
				if st, err := m.Do(acc); err != nil || !st.Result.OK {
					b.Fatalf("%v %s", err, ResultString(st.Result))
				}
			}
		})
	}
}
