package mmu

import "testing"

// Benchmarks of shadow paging: the processor's walk of the shadow tables
// when everything is mapped (a hit), and shadow page faults.

// BenchmarkShadowHitWalk measures steady-state accesses: a user read whose
// leaf SPTE is present, so the processor walks the shadow tables and
// nothing exits.
func BenchmarkShadowHitWalk(b *testing.B) {
	for _, c := range []struct {
		name string
		mode PagingMode
		cfg  ShadowConfig
		refs int
	}{
		{"4level", Paging4, ShadowConfig{}, 4},
		{"32bit-pae", Paging32, ShadowConfig{}, 2},
		{"2on5-merged", Paging32, ShadowConfig{RootLevel: 5}, 5},
		{"2on5-expanded", Paging32, ShadowConfig{RootLevel: 5, Variant: ShadowLevelExpanded}, 5},
	} {
		for _, quiet := range []bool{false, true} {
			name := c.name + "/traced"
			if quiet {
				name = c.name + "/quiet"
			}
			b.Run(name, func(b *testing.B) {
				e := shadowEnv(b, c.mode, c.cfg)
				e.mapPage(0x400000, 0x200000, PageSize, PTWritable|PTUser)
				e.load()
				e.m.Quiet = quiet
				acc := read(0x400040, true)
				if st, err := e.m.Do(acc); err != nil || !st.Result.OK {
					b.Fatalf("warm-up: %v %s", err, ResultString(st.Result))
				}
				n := 0
				for b.Loop() {
					st, err := e.m.Do(acc)
					if err != nil || st.Result.Refs != c.refs || st.Result.HasRefsTotal {
						b.Fatalf("walk: %v %s", err, ResultString(st.Result))
					}
					n++
				}
				b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "walks/s")
			})
		}
	}
}

// BenchmarkShadowFault measures shadow page faults. "leaf": the shadow
// pages exist, the fault walks the guest's tables and installs one leaf
// (one exit, one retry). "cold": the first access of a fresh VM, which
// loads the root and builds a shadow page per level.
func BenchmarkShadowFault(b *testing.B) {
	const pages = 512
	for _, quiet := range []bool{false, true} {
		name := "traced"
		if quiet {
			name = "quiet"
		}
		b.Run("leaf/"+name, func(b *testing.B) {
			e := shadowEnv(b, Paging4, ShadowConfig{})
			for i := 0; i < pages; i++ {
				e.mapPage(0x400000+GVA(i)*PageSize, 0x200000+GPA(i)*PageSize, PageSize, PTWritable|PTUser)
			}
			e.load()
			e.m.Quiet = quiet
			if _, err := e.m.Do(read(0x400000, true)); err != nil {
				b.Fatal(err)
			}
			zap := &ZapGFNRange{GPA: 0x200000, Size: pages * PageSize}
			n := 0
			for b.Loop() {
				i := n % pages
				if i == 0 {
					b.StopTimer()
					if _, err := e.m.Do(zap); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				st, err := e.m.Do(read(0x400000+GVA(i)*PageSize, true))
				if err != nil || st.Result.RefsTotal != 8 {
					b.Fatalf("fault: %v %s", err, ResultString(st.Result))
				}
				n++
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "faults/s")
		})
		b.Run("cold/"+name, func(b *testing.B) {
			e := shadowEnv(b, Paging4, ShadowConfig{})
			e.mapPage(0x400000, 0x200000, PageSize, PTWritable|PTUser)
			e.load()
			e.m.Quiet = quiet
			n := 0
			for b.Loop() {
				b.StopTimer()
				m := e.m.Clone()
				b.StartTimer()
				if st, err := m.Do(read(0x400000, true)); err != nil || st.Result.RefsTotal != 5 {
					b.Fatalf("cold: %v %s", err, ResultString(st.Result))
				}
				n++
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "accesses/s")
		})
	}
}
