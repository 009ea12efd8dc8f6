package mmu

import (
	"fmt"
	"sort"
	"strings"
	"testing"
)

// shadowStateString prints everything of the shadow MMU a timeline must
// restore, in a stable order.
func shadowStateString(m *Machine) string {
	s := m.shadow
	var b strings.Builder
	fmt.Fprintf(&b, "shadow %+v gen %d indirect %d\n", s.cfg, s.validGen, s.indirectShadowPages)
	for _, v := range m.VCPUs {
		mmu := &v.RootMMU
		fmt.Fprintf(&b, "vcpu %d pgd %s pae %s pml4 %s pml5 %s sync %v\n", v.ID, hex(mmu.RootPGD), mmu.PAERoot,
			mmu.PML4Root, mmu.PML5Root, v.ReqMMUSync)
	}
	for _, sp := range s.sortedPages() {
		fmt.Fprintf(&b, "sp %s gfn %s role %s rc %d unsync %v uc %d bm %x gen %d flood %d parents %v\n", sp.SPT, sp.GFN,
			roleWord(sp.Role), sp.RootCount, sp.Unsync, sp.UnsyncChildren, sp.unsyncChildBitmap, sp.MMUValidGen,
			sp.WriteFloodingCount, sp.ParentPTEs)
		fmt.Fprintf(&b, "  gfns %x\n", sp.shadowedTranslation)
	}
	for i, bucket := range s.hash {
		if len(bucket) > 0 {
			var l []string
			for _, sp := range bucket {
				l = append(l, sp.SPT.String())
			}
			fmt.Fprintf(&b, "bucket %d %v\n", i, l)
		}
	}
	var active []string
	for _, sp := range s.active {
		active = append(active, sp.SPT.String())
	}
	fmt.Fprintf(&b, "active %v\n", active)
	fmt.Fprintf(&b, "track %v lpage %v\n", sortedMap(s.writeTrack), sortedMap(s.lpage))
	var keys []string
	for k, l := range s.rmap {
		keys = append(keys, fmt.Sprintf("%d/%s=%v", k.level, k.gfn, l))
	}
	sort.Strings(keys)
	fmt.Fprintf(&b, "rmap %v\n", keys)
	return b.String()
}

func sortedMap[K comparable](m map[K]int) []string {
	var out []string
	for k, n := range m {
		out = append(out, fmt.Sprintf("%v:%d", k, n))
	}
	sort.Strings(out)
	return out
}

// shadowEnv is a test machine on shadow paging: guest RAM as in
// newTestEnv, guest tables in mode, shadow enabled with cfg.
func shadowEnv(t testing.TB, mode PagingMode, cfg ShadowConfig) *testEnv {
	t.Helper()
	e := newTestEnv(t, mode, DefaultConfig())
	if err := e.m.EnableShadow(cfg); err != nil {
		t.Fatal(err)
	}
	return e
}

// mustCheck fails when the shadow invariants do not hold.
func mustCheck(t testing.TB, m *Machine, when string) {
	t.Helper()
	if bad := m.CheckShadowInvariants(); len(bad) > 0 {
		t.Fatalf("%s: invariants broken:\n  %s", when, strings.Join(bad, "\n  "))
	}
}

// doCheck performs an action and checks the invariants after it.
func (e *testEnv) doCheck(a Action) Step {
	e.t.Helper()
	st := e.do(a)
	mustCheck(e.t, e.m, fmt.Sprintf("after %T %+v", a, a))
	return st
}

// funcs lists the kernel functions an action's trace names, in order,
// without repeats.
func funcs(st Step) []string {
	var out []string
	seen := map[string]bool{}
	for _, e := range st.Events {
		if !seen[e.Func] {
			seen[e.Func] = true
			out = append(out, e.Func)
		}
	}
	return out
}

func hasFunc(st Step, fn string) bool {
	for _, e := range st.Events {
		if e.Func == fn {
			return true
		}
	}
	return false
}

// read, write and fetch build accesses.
func read(gva GVA, user bool) *Access  { return &Access{GVA: gva, Kind: AccessRead, User: user} }
func write(gva GVA, user bool) *Access { return &Access{GVA: gva, Kind: AccessWrite, User: user} }
func store(gva GVA, size int, v uint64) *Access {
	return &Access{GVA: gva, Kind: AccessWrite, HasValue: true, Size: size, Value: v}
}

// spteAt returns the leaf SPTE the shadow tables give gva (0 if none).
func spteAt(m *Machine, gva GVA) uint64 {
	levels, _, _ := m.ShadowPath(0, gva)
	if len(levels) == 0 {
		return 0
	}
	return levels[len(levels)-1].Value
}
