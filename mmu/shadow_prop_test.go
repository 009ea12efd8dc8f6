package mmu

import (
	"fmt"
	"math/rand"
	"testing"
)

// The property test of the shadow MMU: random guest tables and random
// scripts of accesses, guest edits of its tables (through mappings of
// them and by physical stores), INVLPG, CR3 reloads, CR0.WP flips and
// zaps. After every step the invariants hold, and every access agrees
// with the same guest on a machine without shadow paging (the native
// walk over the memslots), unless the access went through an unsync
// shadow page, which may legitimately be stale.

// shadowWorld is a guest built twice from one seed: on shadow paging and
// natively.
type shadowWorld struct {
	t       testing.TB
	r       *rand.Rand
	mode    PagingMode
	sh, nat *testEnv
	data    []GVA // pages the guest maps
	windows []window
}

// window is a supervisor mapping of one of the guest's own tables.
type window struct {
	gva   GVA
	table GPA
}

func newShadowWorld(t testing.TB, seed int64, mode PagingMode, cfg ShadowConfig) *shadowWorld {
	w := &shadowWorld{t: t, r: rand.New(rand.NewSource(seed)), mode: mode}
	w.sh = shadowEnv(t, mode, cfg)
	w.nat = newTestEnv(t, mode, DefaultConfig())
	w.build()
	w.sh.load()
	w.nat.load()
	return w
}

// both applies a setup step to the two guests.
func (w *shadowWorld) both(f func(e *testEnv)) {
	f(w.sh)
	f(w.nat)
}

// randFlags picks leaf flags.
func (w *shadowWorld) randFlags() PTE {
	f := PTE(0)
	if w.r.Intn(10) < 6 {
		f |= PTWritable
	}
	if w.r.Intn(10) < 6 {
		f |= PTUser
	}
	if w.mode != Paging32 && w.r.Intn(5) == 0 {
		f |= PTNX
	}
	return f
}

// build maps data pages in two page tables, a huge page, and windows
// onto the page tables and a page directory.
func (w *shadowWorld) build() {
	var bases = []GVA{0x400000, 0x600000, 0xc0000000}
	if w.mode == Paging4 || w.mode == Paging5 {
		bases[2] = 0xffff800000400000
	}
	for _, base := range bases {
		for i := 0; i < 8; i++ {
			gva := base + GVA(w.r.Intn(512))*PageSize
			if contains(w.data, gva) {
				continue
			}
			gpa := GPA(0x200000 + w.r.Intn(1024)*PageSize)
			flags := w.randFlags()
			w.both(func(e *testEnv) { e.mapPage(gva, gpa, PageSize, flags) })
			w.data = append(w.data, gva)
		}
	}
	huge := uint64(2 << 20)
	if w.mode == Paging32 {
		huge = 4 << 20
	}
	flags := w.randFlags()
	w.both(func(e *testEnv) { e.mapPage(0x2000000, 0x1000000, huge, flags) })
	w.data = append(w.data, 0x2000000, 0x2000000+GVA(huge/2)+0x3000)
	for i, gva := range []GVA{0x400000, 0x600000} {
		w.addWindow(GVA(0x3000000+i*PageSize), w.sh.entryGPA(gva, 1)&^pageMask)
	}
	w.addWindow(0x3002000, w.sh.entryGPA(0x400000, 2)&^pageMask)
}

func (w *shadowWorld) addWindow(gva GVA, table GPA) {
	w.both(func(e *testEnv) { e.mapPage(gva, table, PageSize, PTWritable) })
	w.windows = append(w.windows, window{gva, table})
}

func contains(list []GVA, g GVA) bool {
	for _, x := range list {
		if x == g {
			return true
		}
	}
	return false
}

// randPTE is a new leaf value for a data page.
func (w *shadowWorld) randPTE() uint64 {
	if w.r.Intn(6) == 0 {
		return 0
	}
	return uint64(0x200000+w.r.Intn(1024)*PageSize) | uint64(w.randFlags()|PTPresent)
}

// step makes one random action; native is the twin's action, nil when it
// has none.
func (w *shadowWorld) step() (sh, native Action) {
	size := EntrySize(w.mode)
	gva := w.data[w.r.Intn(len(w.data))]
	switch n := w.r.Intn(100); {
	case n < 45:
		a := &Access{GVA: gva + GVA(w.r.Intn(PageSize)&^7), Kind: AccessKind(w.r.Intn(3)), User: w.r.Intn(2) == 0}
		return a, a
	case n < 60:
		wi := w.windows[w.r.Intn(2)] // a page table, never the page directory's window
		pte, err := w.nat.m.LookupEntry(0, gva, 1)
		if err != nil || pte.Table != wi.table {
			return w.step()
		}
		a := store(wi.gva|GVA(pte.GPA&pageMask), size, w.randPTE()&(uint64(1)<<(8*size)-1))
		return a, a
	case n < 68:
		pte, err := w.nat.m.LookupEntry(0, gva, 1)
		if err != nil {
			return w.step()
		}
		a := &GuestWrite{GPA: pte.GPA, Size: size, Value: w.randPTE() & (uint64(1)<<(8*size) - 1)}
		return a, a
	case n < 72:
		// Rewrite a PDE with its own value, through the PD's window.
		pde, err := w.nat.m.LookupEntry(0, 0x400000, 2)
		if err != nil {
			return w.step()
		}
		a := store(w.windows[2].gva|GVA(pde.GPA&pageMask), size, uint64(pde.Value))
		return a, a
	case n < 82:
		a := &Invlpg{GVA: gva}
		return a, a
	case n < 92:
		a := &SetReg{Reg: RegCR3, Value: w.sh.regs.CR3}
		return a, a
	case n < 96:
		a := &SetReg{Reg: RegCR0, Op: RegAssign, Value: w.sh.m.VCPUs[0].Regs.CR0 ^ CR0WP}
		return a, a
	default:
		return &ZapGFNRange{GPA: GPA(0x200000 + w.r.Intn(1024)*PageSize), Size: PageSize}, nil
	}
}

// mayBeStale says whether the processor's path for gva goes through an
// unsync shadow page.
func mayBeStale(m *Machine, gva GVA) bool {
	levels, _, _ := m.ShadowPath(0, gva)
	for _, l := range levels {
		if p, ok := m.ShadowPageAt(l.Table); ok && p.Unsync {
			return true
		}
	}
	return false
}

// run performs n random steps, checking after each.
func (w *shadowWorld) run(n int) {
	for i := 0; i < n; i++ {
		sh, nat := w.step()
		stale := false
		if a, ok := sh.(*Access); ok {
			stale = mayBeStale(w.sh.m, a.GVA)
		}
		ss, err := w.sh.m.Do(sh)
		if err != nil {
			w.t.Fatalf("step %d %T %+v: %v", i, sh, sh, err)
		}
		if bad := w.sh.m.CheckShadowInvariants(); len(bad) > 0 {
			w.t.Fatalf("step %d %T %+v: invariants broken: %v", i, sh, sh, bad)
		}
		if nat == nil {
			continue
		}
		ns, err := w.nat.m.Do(nat)
		if err != nil {
			w.t.Fatalf("step %d native %T: %v", i, nat, err)
		}
		if _, ok := sh.(*Access); ok && !stale {
			if got, want := resultKey(ss.Result), resultKey(ns.Result); got != want {
				w.t.Fatalf("step %d %+v: shadow %s, native %s", i, sh, got, want)
			}
		}
	}
}

// resultKey is what must agree between shadow paging and the native walk.
func resultKey(r Result) string {
	s := fmt.Sprintf("ok=%v", r.OK)
	if r.Fault != nil {
		s += fmt.Sprintf(" %s %s", r.Fault.Vector, hex(r.Fault.ErrorCode))
	}
	if r.OK {
		s += fmt.Sprintf(" gpa=%s hpa=%v/%s", r.GPA, r.HasHPA, r.HPA)
	}
	return s
}

var shadowWorldConfigs = []struct {
	mode PagingMode
	cfg  ShadowConfig
}{
	{Paging32, ShadowConfig{}}, {PagingPAE, ShadowConfig{}}, {Paging4, ShadowConfig{}}, {Paging5, ShadowConfig{}},
	{Paging32, ShadowConfig{RootLevel: 5}}, {PagingPAE, ShadowConfig{RootLevel: 4}},
	{Paging4, ShadowConfig{RootLevel: 5}}, {Paging32, ShadowConfig{RootLevel: 5, Variant: ShadowLevelExpanded}},
	{PagingPAE, ShadowConfig{RootLevel: 5, Variant: ShadowLevelExpanded}},
	{Paging4, ShadowConfig{RootLevel: 5, Variant: ShadowLevelExpanded}},
}

// TestShadowRandomScripts is the property test.
func TestShadowRandomScripts(t *testing.T) {
	seeds, steps := 6, 80
	if testing.Short() {
		seeds, steps = 2, 40
	}
	for _, c := range shadowWorldConfigs {
		for seed := int64(1); seed <= int64(seeds); seed++ {
			t.Run(fmt.Sprintf("%s-root%d-%s-%d", modeShort(c.mode), c.cfg.RootLevel, c.cfg.Variant, seed), func(t *testing.T) {
				newShadowWorld(t, seed, c.mode, c.cfg).run(steps)
			})
		}
	}
}

// FuzzShadowScripts runs the property on fuzzed seeds and configurations.
func FuzzShadowScripts(f *testing.F) {
	for i := range shadowWorldConfigs {
		f.Add(int64(100+i), uint8(i))
	}
	f.Fuzz(func(t *testing.T, seed int64, which uint8) {
		c := shadowWorldConfigs[int(which)%len(shadowWorldConfigs)]
		newShadowWorld(t, seed, c.mode, c.cfg).run(40)
	})
}

// TestShadowRandomTimelines: the timeline of a random script restores, at
// the end of every action, the machine a step-by-step run gives (every
// change of the shadow MMU is followed by an event).
func TestShadowRandomTimelines(t *testing.T) {
	for i, c := range shadowWorldConfigs[:4] {
		w := newShadowWorld(t, int64(200+i), c.mode, c.cfg)
		var script []Action
		for len(script) < 30 {
			if sh, _ := w.step(); sh != nil {
				script = append(script, sh)
			}
		}
		env := func() *Machine { return newShadowWorld(t, int64(200+i), c.mode, c.cfg).sh.m }
		tl := NewTimeline(env(), script)
		if tl.Err != nil {
			t.Fatal(tl.Err)
		}
		cur := env()
		for a, act := range script {
			if _, err := cur.Do(act); err != nil {
				t.Fatal(err)
			}
			end := tl.StepOf(a, max(len(tl.Steps[a].Events)-1, 0))
			v, err := tl.Seek(end)
			if err != nil {
				t.Fatal(err)
			}
			if machineState(v.Machine) != machineState(cur) {
				t.Fatalf("%s-%d: the end of action %d (%T %+v) differs from the step-by-step run", modeShort(c.mode),
					c.cfg.RootLevel, a, act, act)
			}
		}
	}
}
