package scenarios

import (
	"strings"
	"testing"

	"mmuviz/mmu"
)

// TestRootStatsPerVCPU checks, at every step of the root scenarios, that
// the vCPUs' counts add up to the VM's, and that a cache hit or miss is
// already counted at the step that narrates it (the picture of that step
// shows the count).
func TestRootStatsPerVCPU(t *testing.T) {
	for _, c := range []struct{ name, variant string }{{"roots-cr3-switch", ""}, {"roots-zap-obsolete", "reload-all"},
		{"roots-zap-obsolete", "posted"}, {"roots-zap-obsolete", "fixed"}} {
		s, err := LoadBuiltinVariant(c.name, c.variant)
		if err != nil {
			t.Fatal(err)
		}
		tl := s.Timeline()
		prev := mmu.RootStats{}
		for k := 0; k < tl.Len(); k++ {
			v, err := tl.Seek(k)
			if err != nil {
				t.Fatal(err)
			}
			all, _ := v.Machine.RootStats()
			var sum mmu.RootStats
			for id := range v.Machine.VCPUs {
				st, _ := v.Machine.VCPURootStats(id)
				sum.Loads += st.Loads
				sum.Freed += st.Freed
				sum.CacheHits += st.CacheHits
				sum.CacheMisses += st.CacheMisses
				sum.Evicted += st.Evicted
			}
			if sum != all {
				t.Fatalf("%s@%s step %d: vCPUs add up to %+v, the VM counts %+v", c.name, c.variant, k, sum, all)
			}
			if e := v.Event; e != nil && strings.HasPrefix(e.Func, "cached_root_find") {
				hit := !strings.Contains(e.Text, "no cached root")
				if hit && all.CacheHits != prev.CacheHits+1 || !hit && all.CacheMisses != prev.CacheMisses+1 {
					t.Errorf("%s@%s step %d (%s): counts %+v, before %+v", c.name, c.variant, k, e.Func, all, prev)
				}
			}
			prev = all
		}
	}
}
