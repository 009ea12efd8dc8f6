package scenarios

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"mmuviz/mmu"
)

// shadowBuiltins are the built-in scenarios on shadow paging, each under
// every variant it declares, with their ids (NAME or NAME@VARIANT).
func shadowBuiltins(t *testing.T) ([]builtinRun, []string) {
	var runs []builtinRun
	var ids []string
	all, allIDs := builtinRuns(t)
	for i, r := range all {
		if strings.HasPrefix(r.name, "shadow-") {
			runs, ids = append(runs, r), append(ids, allIDs[i])
		}
	}
	want := "shadow-2level-on-5level shadow-2level-on-5level@level-expanded shadow-32bit shadow-4level shadow-pae " +
		"shadow-pte-write shadow-unsync shadow-zap"
	if got := strings.Join(ids, " "); got != want {
		t.Fatalf("shadow scenarios: %s, want %s", got, want)
	}
	return runs, ids
}

// shadowView is what a picture can read of a machine's shadow MMU.
func shadowView(m *mmu.Machine) string {
	var b strings.Builder
	for _, p := range m.ShadowPages() {
		fmt.Fprintf(&b, "%+v %x\n", p, m.HostTable(p.HPA))
	}
	for i := range m.VCPUs {
		r, _ := m.ShadowRoots(i)
		fmt.Fprintf(&b, "roots %+v\n", r)
	}
	b.WriteString(m.ShadowCensus())
	return b.String()
}

// knownInvariantBugs are the broken invariants a scenario variant shows on
// purpose: the posted patch of seed 004 leaves an obsolete root in
// prev_roots, and the checker must say so.
var knownInvariantBugs = map[string]string{
	"roots-zap-obsolete@posted": "keeps an obsolete root in prev_roots[1]",
}

// TestShadowScenariosInvariants runs every shadow scenario, under each of
// its variants, action by action, checking the shadow MMU's invariants after each, and checks
// that seeking the timeline to the end of each action gives the same
// machine, as pictures read it.
func TestShadowScenariosInvariants(t *testing.T) {
	runs, ids := shadowBuiltins(t)
	for i, r := range runs {
		t.Run(ids[i], func(t *testing.T) {
			s, err := LoadBuiltinVariant(r.name, r.variant)
			if err != nil {
				t.Fatal(err)
			}
			var views []string
			bug, seen := knownInvariantBugs[ids[i]], false
			replay(t, s, func(_ int, a mmu.Action, m *mmu.Machine) {
				var bad []string
				for _, b := range m.CheckShadowInvariants() {
					if bug != "" && strings.Contains(b, bug) {
						seen = true
						continue
					}
					bad = append(bad, b)
				}
				if len(bad) > 0 {
					t.Fatalf("after line %d (%s): %v", a.Src().Line, a.Src().Text, bad)
				}
				views = append(views, shadowView(m))
			})
			if bug != "" && !seen {
				t.Errorf("the checker never reported the known bug %q", bug)
			}
			tl := checkSeekAtActionEnds(t, s, views, shadowView)
			// EachView's machines are Seek's, step by step.
			k := 0
			tl.EachView(func(v *mmu.View) {
				if k%17 == 0 {
					s, err := tl.Seek(v.Step)
					if err != nil || shadowView(s.Machine) != shadowView(v.Machine) || !reflect.DeepEqual(s.Events, v.Events) {
						t.Fatalf("EachView and Seek differ at step %d", v.Step)
					}
				}
				k++
			})
		})
	}
}

// TestShadowBuildErrors: the messages of the shadow commands.
func TestShadowBuildErrors(t *testing.T) {
	const ram = "memslot 0 gpa=0 size=64M hpa=256M\n"
	for _, tc := range []struct{ src, want string }{
		{ram + "shadow root-level=3", "t.mmu:2:19: shadow: root-level is 4 or 5, not 3"},
		{ram + "shadow variant=level-expanded", "t.mmu:2:16: shadow: the level-expanded proposal only changes guests with fewer levels than KVM's root: add root-level=4 or root-level=5"},
		{ram + "shadow variant=flat", "t.mmu:2:16: shadow: expected the variant (merged, level-expanded), found identifier flat"},
		{ram + "shadow\nshadow", "t.mmu:3:1: shadow: given twice (first on line 2)"},
		{ram + "tdp ept\nshadow", "t.mmu:3:1: shadow: the machine runs on EPT/NPT (line 2); shadow paging is what KVM does without them"},
		{ram + "shadow\ntdp ept", "t.mmu:3:1: tdp: the machine runs on shadow paging (line 2); EPT/NPT replace it"},
		{ram + "shadow\nregs cr4+=pke", "t.mmu:3:11: regs: KVM offers protection keys only with EPT/NPT, not with shadow paging (line 2)"},
		{ram + "paging level4\nscript\ncheck", "t.mmu:4:1: check: the invariants checked are the shadow MMU's: write `shadow` above"},
		{ram + "paging level4\nscript\ninvlpg", "t.mmu:4:7: invlpg: missing the GVA (usage: invlpg GVA [vcpu=N])"},
		{ram + "paging level4\nscript\nwrite 0x1000 size=4", "t.mmu:4:14: write: size= is the size of the value= stored; give value= too"},
		{ram + "paging level4\nscript\nwrite 0x1000 value=0x10000 size=2", "t.mmu:4:20: write: 0x10000 does not fit in a 2-byte store"},
		{ram + "paging level4\nscript\nwrite 0x1ffc value=1", "t.mmu:4:20: write: a 8-byte store at GVA 0x1ffc would cross a page boundary"},
		{ram + "paging level4\nscript\nwrite 0x1000 value=1 size=3", "t.mmu:4:27: write: size is 1, 2, 4 or 8 bytes, not 3"},
		{ram + "paging level4\nscript\nread 0x1000 value=1", "t.mmu:4:13: read: unknown key \"value\" (usage: read GVA [user|supervisor|implicit] [vcpu=N])"},
	} {
		checkBuildError(t, tc.src, tc.want)
	}
}
