package mmu

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"testing"
)

// Test machines: 64 MiB of guest RAM at GPA 0 backed by host memory at 256
// MiB, guest tables in a pool at GPA 1 MiB, and two small extra slots: 4 MiB
// at GPA 4 GiB (for PSE-36) and 4 MiB at GPA 1 GiB (for 1 GiB pages).
const (
	testRAMPages  = 64 << 20 >> PageShift
	testRAMPFN    = 0x10000
	testPool      = GPA(0x100000)
	testPoolSize  = 1 << 20
	testHighGPA   = GPA(1) << 32
	testHighPFN   = 0x20000
	testGiantGPA  = GPA(1) << 30
	testGiantPFN  = 0x21000
	testExtraSize = 4 << 20
)

// testEnv is a machine with one vCPU, guest tables in mode, and the
// registers it will load; load() makes them live (and loads PDPTRs).
type testEnv struct {
	t    testing.TB
	m    *Machine
	g    *GuestTables
	mode PagingMode
	regs Regs
}

// defaultRegs are the registers of a guest in mode with CR0.WP, CR4.PSE and
// EFER.NX set and nothing else optional.
func defaultRegs(mode PagingMode) Regs {
	r := Regs{CR0: CR0PE | CR0PG | CR0WP, CR4: CR4PSE, EFER: EFERNX}
	switch mode {
	case PagingOff:
		r.CR0 = CR0PE
	case PagingPAE:
		r.CR4 |= CR4PAE
	case Paging4:
		r.CR4 |= CR4PAE
		r.EFER |= EFERLME | EFERLMA
	case Paging5:
		r.CR4 |= CR4PAE | CR4LA57
		r.EFER |= EFERLME | EFERLMA
	}
	return r
}

func newTestEnv(t testing.TB, mode PagingMode, cfg Config) *testEnv {
	t.Helper()
	m, err := NewMachine(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	slots := []Memslot{
		{ID: 0, BaseGFN: 0, NPages: testRAMPages, BasePFN: testRAMPFN},
		{ID: 1, BaseGFN: testHighGPA.GFN(), NPages: testExtraSize >> PageShift, BasePFN: testHighPFN},
		{ID: 2, BaseGFN: testGiantGPA.GFN(), NPages: testExtraSize >> PageShift, BasePFN: testGiantPFN},
	}
	for _, s := range slots {
		if uint64(s.LastGFN()+1)<<PageShift > uint64(1)<<cfg.MaxPhyAddr {
			continue
		}
		if err := m.AddMemslot(s); err != nil {
			t.Fatal(err)
		}
	}
	e := &testEnv{t: t, m: m, mode: mode, regs: defaultRegs(mode)}
	if mode != PagingOff {
		e.g, err = NewGuestTables(m, mode, testPool, testPoolSize)
		if err != nil {
			t.Fatal(err)
		}
		e.regs.CR3 = e.g.CR3()
	}
	return e
}

// load installs e.regs on the vCPU, as a scenario's initial state.
func (e *testEnv) load() {
	e.t.Helper()
	if err := e.m.SetupRegs(0, e.regs); err != nil {
		e.t.Fatal(err)
	}
}

func (e *testEnv) mapPage(gva GVA, gpa GPA, size uint64, flags PTE) {
	e.t.Helper()
	if _, err := e.g.Map(gva, gpa, size, flags); err != nil {
		e.t.Fatal(err)
	}
}

// entryGPA is the address of the entry at level on gva's path (the tables
// above must exist).
func (e *testEnv) entryGPA(gva GVA, level int) GPA {
	e.t.Helper()
	a, err := e.g.entryAddr(gva, level)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// path finds, without creating anything, the GPA of each entry on gva's
// path, by level, following present entries down to a leaf (as the
// builder sees them: PS ends the walk above level 1).
func (e *testEnv) path(gva GVA) map[int]GPA {
	out := map[int]GPA{}
	if e.g == nil {
		return out
	}
	f := formatFor(e.mode)
	table := e.g.Root
	for l := f.rootLevel; l >= 1; l-- {
		idx := f.index(gva, l)
		if e.mode == PagingPAE && l == 3 {
			idx = int(uint64(gva)>>30) & 3
		}
		a := table + GPA(idx*f.entrySize)
		out[l] = a
		v, err := e.m.ReadGuest(a, f.entrySize)
		if err != nil || !PTE(v).Present() || (l > 1 && PTE(v).PageSize() && !(e.mode == PagingPAE && l == 3)) {
			break
		}
		table = f.tableAddr(PTE(v))
	}
	return out
}

func (e *testEnv) entry(gva GVA, level int) PTE {
	e.t.Helper()
	v, err := e.m.ReadGuest(e.entryGPA(gva, level), EntrySize(e.mode))
	if err != nil {
		e.t.Fatal(err)
	}
	return PTE(v)
}

// edit sets and clears bits of the entry at level on gva's path.
func (e *testEnv) edit(gva GVA, level int, set, clear PTE) {
	e.t.Helper()
	a := e.entryGPA(gva, level)
	v := (e.entry(gva, level) | set) &^ clear
	if err := e.m.WriteGuest(a, EntrySize(e.mode), uint64(v)); err != nil {
		e.t.Fatal(err)
	}
}

func (e *testEnv) do(a Action) Step {
	e.t.Helper()
	st, err := e.m.Do(a)
	if err != nil {
		e.t.Fatalf("%T %+v: %v", a, a, err)
	}
	return st
}

// memSnapshot is every 8-byte word of host memory that has been written,
// keyed by host address; zero words are left out.
type memSnapshot map[HPA]uint64

func snapshot(m *Machine) memSnapshot {
	s := memSnapshot{}
	for _, pfn := range m.Mem.Touched() {
		for off := 0; off < PageSize; off += 8 {
			hpa := pfn.HPA() + HPA(off)
			v, err := m.Mem.Read(hpa, 8)
			if err != nil {
				panic(err)
			}
			if v != 0 {
				s[hpa] = v
			}
		}
	}
	return s
}

// diff lists the words that differ between two snapshots, sorted.
func (s memSnapshot) diff(o memSnapshot) []string {
	var out []string
	keys := map[HPA]bool{}
	for k := range s {
		keys[k] = true
	}
	for k := range o {
		keys[k] = true
	}
	var sorted []HPA
	for k := range keys {
		if s[k] != o[k] {
			sorted = append(sorted, k)
		}
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	for _, k := range sorted {
		out = append(out, fmt.Sprintf("HPA %s: %s -> %s", k, hex(s[k]), hex(o[k])))
	}
	return out
}

// machineState is everything observable about a machine that a timeline
// must restore, printed so that two states compare with ==.
func machineState(m *Machine) string {
	var b strings.Builder
	fmt.Fprintf(&b, "config %+v quiet %v\n", m.Config, m.Quiet)
	for _, s := range m.Slots {
		fmt.Fprintf(&b, "slot %+v\n", s)
	}
	for _, v := range m.VCPUs {
		fmt.Fprintf(&b, "vcpu %d regs %+v pdptrs %x role %s perms %x pkru %x rsvd %x\n", v.ID, v.Regs, v.PDPTRs,
			v.RootMMU.CPURole, v.RootMMU.permissions, v.RootMMU.pkruMask, v.RootMMU.guestRsvd.mask)
		fmt.Fprintf(&b, "vcpu %d root_role %s root %s valid %v req_free %v\n", v.ID, v.RootMMU.RootRole,
			v.RootMMU.Root, v.RootMMU.RootValid, v.ReqFreeObsoleteRoots)
	}
	fmt.Fprintf(&b, "memslots generation %d\n", m.slotsGen)
	if t := m.tdp; t != nil {
		fmt.Fprintf(&b, "tdp %+v level %d pages %d linked %d\n", t.cfg, t.level, len(t.pages), t.mmuPages)
		for _, r := range t.roots {
			fmt.Fprintf(&b, "root %s\n", r.SPT)
		}
		for _, sp := range t.sortedPages() {
			fmt.Fprintf(&b, "sp %+v\n", *sp)
		}
	}
	if m.shadow != nil {
		b.WriteString(shadowStateString(m))
	}
	snap := snapshot(m)
	keys := make([]HPA, 0, len(snap))
	for k := range snap {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s\n", k, hex(snap[k]))
	}
	return b.String()
}

// guestReader reads guest memory through the memslots, the only engine code
// the reference translator shares.
func guestReader(m *Machine) func(gpa uint64, size int) (uint64, bool) {
	return func(gpa uint64, size int) (uint64, bool) {
		v, err := m.ReadGuest(GPA(gpa), size)
		return v, err == nil
	}
}

// checkSeekMatchesRun compares Seek at every step with a step-by-step run of
// script: step 0 with initial, the last event of action a with before[a+1]
// (the machine after the action), and every every-th event inside an action
// with during[a][event] (the state an observer recorded during the run).
func checkSeekMatchesRun(t *testing.T, tl *Timeline, script []Action, initial string,
	before []*Machine, during []map[int]string, every int) {
	t.Helper()
	for k := 0; k < tl.Len(); k++ {
		a, ev := tl.Locate(k)
		last := a < 0 || ev == len(tl.Steps[a].Events)-1 || len(tl.Steps[a].Events) == 0
		if !last && ev%every != 0 {
			continue
		}
		v, err := tl.Seek(k)
		if err != nil {
			t.Fatalf("Seek(%d): %v", k, err)
		}
		got := machineState(v.Machine)
		switch {
		case a < 0:
			if got != initial {
				t.Fatal("step 0 is not the initial state")
			}
		case last:
			if got != machineState(before[a+1]) {
				t.Fatalf("Seek(%d), the end of action %d (%T), differs from running the script", k, a, script[a])
			}
		default:
			if got != during[a][ev] {
				t.Fatalf("Seek(%d), event %d of action %d (%T: %s), differs from the replay", k, ev, a, script[a],
					tl.Steps[a].Events[ev].Text)
			}
		}
	}
}

// newTimelineOf is the timeline of script from base, failing t on an error
// or if making it changed base; initial is base's state.
func newTimelineOf(t *testing.T, base *Machine, script []Action) (tl *Timeline, initial string) {
	t.Helper()
	initial = machineState(base)
	tl = NewTimeline(base, script)
	if tl.Err != nil {
		t.Fatal(tl.Err)
	}
	if machineState(base) != initial {
		t.Fatal("NewTimeline changed the machine it was given")
	}
	return tl, initial
}

// checkTimelineSeek compares every step of a timeline (every every-th event in
// the middle of an action) with a step-by-step run of script on env(),
// checks that the timeline's trace is the run's, and that clones are
// independent. check, if not nil, runs after each action of the run.
func checkTimelineSeek(t *testing.T, env func() *Machine, script []Action, every int, check func(m *Machine, when string)) {
	t.Helper()
	tl, initial := newTimelineOf(t, env(), script)
	cur := env()
	var before []*Machine
	var during []map[int]string
	for i, a := range script {
		before = append(before, cur.Clone())
		states := map[int]string{}
		cur.observe = func(m *Machine, i int) {
			if i%every == 0 {
				states[i] = machineState(m)
			}
		}
		if _, err := cur.Do(a); err != nil {
			t.Fatal(err)
		}
		cur.observe = nil
		if check != nil {
			check(cur, fmt.Sprintf("after action %d (%T)", i, a))
		}
		during = append(during, states)
	}
	before = append(before, cur)
	j1, _ := traceBytes(t, tl.Steps)
	j2, _ := traceBytes(t, runScript(t, env(), script))
	if !bytes.Equal(j1, j2) {
		t.Fatal("the timeline's trace differs from running the script")
	}
	checkSeekMatchesRun(t, tl, script, initial, before, during, every)
	c := cur.Clone()
	if _, err := c.Do(&Access{GVA: 0x400123, Kind: AccessWrite}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Do(&SetReg{Reg: RegCR3, Value: 0x100000}); err != nil {
		t.Fatal(err)
	}
	if machineState(cur) != machineState(before[len(script)]) {
		t.Fatal("running a clone changed the original")
	}
}
