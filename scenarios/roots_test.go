package scenarios

import (
	"strings"
	"testing"

	"mmuviz/mmu"
)

// rootsRun runs a built-in scenario under a variant and returns the root
// counts just before the action whose text starts with from, just before
// the first `check` after it, and at the end, with the obsolete roots held
// at that check.
func rootsRun(t *testing.T, name, variant, from string) (before, after, end mmu.RootStats, held []mmu.ObsoleteRootHeld) {
	t.Helper()
	s, err := LoadBuiltinVariant(name, variant)
	if err != nil {
		t.Fatal(err)
	}
	m := s.Machine.Clone()
	phase := 0
	for i, a := range s.Script {
		text := a.Src().Text
		switch {
		case phase == 0 && strings.HasPrefix(text, from):
			before, _ = m.RootStats()
			phase = 1
		case phase == 1 && text == "check":
			after, _ = m.RootStats()
			held = m.ObsoleteRootsHeld()
			phase = 2
		}
		if _, err := m.Do(a); err != nil {
			t.Fatal(s.ActionError(i, err))
		}
	}
	if phase != 2 {
		t.Fatalf("%s@%s: no %q followed by check", name, variant, from)
	}
	end, _ = m.RootStats()
	return before, after, end, held
}

// TestRootsZapObsoleteVariants counts what each design does when the root
// of process C, held by vCPU 0 in prev_roots and by vCPU 1 as its current
// root, is zapped.
func TestRootsZapObsoleteVariants(t *testing.T) {
	for _, c := range []struct {
		variant            string
		freed, loads       int
		leaked             int
		hitsAfterSwitchToB int
	}{
		// Every root of both vCPUs (3 + 3), both current roots rebuilt, and
		// the switch to B misses on both vCPUs.
		{"reload-all", 6, 2, 0, 0},
		// vCPU 0 frees nothing and keeps C's invalid page; vCPU 1 frees its
		// current root and, needlessly, its two valid cached ones.
		{"posted", 3, 1, 1, 1},
		// Exactly the two holds of C go; B is still cached on both vCPUs.
		{"fixed", 2, 1, 0, 2},
	} {
		before, after, end, held := rootsRun(t, "roots-zap-obsolete", c.variant, "guest-write 0x181008")
		if got := after.Freed - before.Freed; got != c.freed {
			t.Errorf("%s: %d roots freed after the zap, want %d", c.variant, got, c.freed)
		}
		if got := after.Loads - before.Loads; got != c.loads {
			t.Errorf("%s: %d roots rebuilt, want %d", c.variant, got, c.loads)
		}
		if len(held) != c.leaked {
			t.Errorf("%s: obsolete roots left %+v, want %d", c.variant, held, c.leaked)
		}
		if c.leaked > 0 && (held[0].VCPU != 0 || held[0].Prev != 1 || held[0].PGD != 0x181000) {
			t.Errorf("%s: the leak is %+v, want vCPU 0's prev_roots[1], CR3 0x181000", c.variant, held[0])
		}
		if got := end.CacheHits - after.CacheHits; got != c.hitsAfterSwitchToB {
			t.Errorf("%s: %d prev_roots hits on the switch to B, want %d", c.variant, got, c.hitsAfterSwitchToB)
		}
	}
}

// TestRootsCR3Switch checks the prev_roots story of roots-cr3-switch:
// three hits (A, B, and none for C after its eviction), the misses that
// build roots, one eviction per miss once the cache is full, and vCPU 1's
// pae_root freed on both of its switches, never cached.
func TestRootsCR3Switch(t *testing.T) {
	s, err := LoadBuiltin("roots-cr3-switch")
	if err != nil {
		t.Fatal(err)
	}
	m := replay(t, s, nil)
	st, _ := m.RootStats()
	// vCPU 0: B, C, D, E, C miss (5); A, B hit (2); E and C evict (2).
	// vCPU 1: pae_root freed twice, no cache involved.
	if st.CacheHits != 2 || st.CacheMisses != 5 || st.Evicted != 2 {
		t.Errorf("stats %+v, want 2 hits, 5 misses, 2 evictions", st)
	}
	v0, v1 := m.VCPUs[0].RootMMU, m.VCPUs[1].RootMMU
	want := [mmu.KVMMMUNumPrevRoots]uint64{0x183000, 0x180000, 0x182000}
	for i, r := range v0.PrevRoots {
		if !r.Valid || r.PGD != want[i] {
			t.Errorf("vCPU 0 prev_roots[%d] = %+v, want CR3 %#x", i, r, want[i])
		}
	}
	if v0.RootPGD != 0x181000 {
		t.Errorf("vCPU 0 current root shadows %#x, want 0x181000", v0.RootPGD)
	}
	if v1.PrevRoots != ([mmu.KVMMMUNumPrevRoots]mmu.RootInfo{}) {
		t.Errorf("vCPU 1 (32-bit) cached roots: %+v", v1.PrevRoots)
	}
	if bad := m.CheckShadowInvariants(); len(bad) > 0 {
		t.Error(bad)
	}
}
