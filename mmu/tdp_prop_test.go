package mmu

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"
)

// The property of the 2D walk: it is the composition of two
// one-dimensional walks. KVM's software walker reads the guest's tables
// through the memslots (walk_addr_generic with the SlotTranslator); a
// separate, minimal EPT/NPT walker below translates each GPA that walk
// touches. The processor's 2D walk must stop where the first translation
// fails (an EPT violation or misconfiguration, an #NPF), deliver the same
// #PF as the software walk otherwise, end at the same GPA and HPA, and make
// as many memory references as the two walks read entries.

// refTDP is the outcome of the reference EPT/NPT walk of one GPA.
type refTDP struct {
	hpa    HPA
	reads  int    // entries read
	fail   string // "", ExitEPTViolation or ExitEPTMisconfig
	allow  uint64 // bits 2:0 ANDed over the entries read
	nx     bool
	level  int // level of the last entry read
	leafAt HPA
}

// refTDPWalk walks cfg-format tables from root for gpa: kind is "r", "w"
// or "x".
func refTDPWalk(m *Machine, cfg TDPConfig, root HPA, levels int, gpa GPA, kind string) refTDP {
	out := refTDP{allow: 7}
	table := root
	for l := levels; l >= 1; l-- {
		eh := table + HPA(8*(uint64(gpa)>>(12+9*uint(l-1))&511))
		e, _ := m.Mem.Read(eh, 8)
		out.reads++
		out.level, out.leafAt = l, eh
		leaf := l == 1 || e&(1<<7) != 0
		if cfg.Kind == TDPEPT {
			xwr, mt := e&7, e>>3&7
			switch {
			case xwr == 0:
				out.fail, out.allow = ExitEPTViolation, 0
				return out
			case xwr == 2 || xwr == 6 || (xwr == 4 && !cfg.ExecOnly) || (leaf && (mt == 2 || mt == 3 || mt == 7)):
				out.fail = ExitEPTMisconfig
				return out
			}
		} else if e&1 == 0 {
			out.fail, out.allow = ExitEPTViolation, 0
			return out
		}
		out.allow &= e & 7
		out.nx = out.nx || e>>63 == 1
		if leaf {
			size := uint64(1) << (12 + 9*uint(l-1))
			out.hpa = HPA(e&0x000ffffffffff000&^(size-1) | uint64(gpa)&(size-1))
			break
		}
		table = HPA(e & 0x000ffffffffff000)
	}
	var ok bool
	if cfg.Kind == TDPEPT {
		ok = map[string]bool{"r": out.allow&1 != 0, "w": out.allow&2 != 0, "x": out.allow&4 != 0}[kind]
	} else {
		ok = out.allow&4 != 0 && (kind != "w" || out.allow&2 != 0) && (kind != "x" || !out.nx)
	}
	if !ok {
		out.fail = ExitEPTViolation
	}
	return out
}

// outcome2D is what one attempt at an access ends with.
type outcome2D struct {
	kind  string // "ok", "#PF", or an exit reason
	gpa   GPA    // the translation, or the GPA whose translation failed
	hpa   HPA
	ec    uint64
	final bool
	level int // guest level of a failed translation
	refs  int
}

func (o outcome2D) String() string {
	return fmt.Sprintf("%s gpa %s hpa %s ec %s final %v level %d refs %d", o.kind, o.gpa, o.hpa, hex(o.ec),
		o.final, o.level, o.refs)
}

// expected2D composes the software walk and the reference EPT/NPT walk.
func expected2D(m *Machine, a Access) outcome2D {
	t := m.tdp
	v := m.VCPUs[0]
	sw := m.Clone()
	sw.Quiet = true
	w := sw.walkAddrGeneric(sw.VCPUs[0], sw.VCPUs[0].WalkMMU(), a.GVA, accessBits(&a), SlotTranslator{})
	mode := w.Mode
	root, levels := v.RootMMU.Root, t.level
	tableKind := "r"
	if t.cfg.Kind == TDPEPT && t.cfg.AD {
		tableKind = "w"
	}
	var out outcome2D
	allow := map[int]uint64{}
	stop := w.Level
	if mode != PagingOff {
		for l := w.MaxLevel; l >= stop && l >= 1; l-- {
			gpa := w.PTEGPA[l-1]
			if mode == PagingPAE && l == 3 {
				if t.cfg.Kind == TDPEPT {
					continue // the PDPTR register: no memory reference
				}
				gpa = formatFor(mode).cr3Base(v.Regs.CR3, m.Config.MaxPhyAddr) + GPA(8*(uint64(a.GVA)>>30&3))
			}
			r := refTDPWalk(m, t.cfg, root, levels, gpa, tableKind)
			out.refs += r.reads
			if r.fail != "" {
				return outcome2D{kind: r.fail, gpa: gpa, level: l, refs: out.refs}
			}
			allow[l] = r.allow
			out.refs++ // the guest entry itself
		}
	}
	if w.Fault != nil {
		return outcome2D{kind: "#PF", ec: w.Fault.ErrorCode, refs: out.refs}
	}
	kind := map[AccessKind]string{AccessRead: "r", AccessWrite: "w", AccessFetch: "x"}[a.Kind]
	r := refTDPWalk(m, t.cfg, root, levels, w.GPA, kind)
	out.refs += r.reads
	if r.fail != "" {
		return outcome2D{kind: r.fail, gpa: w.GPA, final: true, refs: out.refs}
	}
	// The processor then writes A (and D) into guest entries that lack
	// them: each write needs write permission in its table's translation.
	for l := w.MaxLevel; mode != PagingOff && l >= w.Level && l >= 1; l-- {
		if mode == PagingPAE && l == 3 {
			continue
		}
		old, _ := m.ReadGuest(w.PTEGPA[l-1], EntrySize(mode))
		need := old&PTAccessed == 0 || (l == w.Level && a.Kind == AccessWrite && old&PTDirty == 0)
		okW := allow[l]&2 != 0 && (t.cfg.Kind == TDPEPT || allow[l]&4 != 0)
		if need && !okW {
			return outcome2D{kind: ExitEPTViolation, gpa: w.PTEGPA[l-1], level: l, refs: out.refs}
		}
	}
	return outcome2D{kind: "ok", gpa: w.GPA, hpa: r.hpa, refs: out.refs}
}

// actual2D makes one attempt of the processor's 2D walk.
func actual2D(e *testEnv, a Access) outcome2D {
	w, h := e.hwAttempt(a)
	switch {
	case h.exit != nil:
		reason := h.exit.Reason
		if reason == ExitNPF {
			reason = ExitEPTViolation
			if h.exit.ErrorCode&PFErrRsvd != 0 {
				reason = ExitEPTMisconfig
			}
		}
		return outcome2D{kind: reason, gpa: h.exit.GPA, final: h.exit.Final, level: h.exit.GuestLevel, refs: w.Refs}
	case w.Fault != nil:
		return outcome2D{kind: "#PF", ec: w.Fault.ErrorCode, refs: w.Refs}
	}
	return outcome2D{kind: "ok", gpa: w.GPA, hpa: w.HPA, refs: w.Refs}
}

// randomTDPMachine builds a random guest on random EPT/NPT tables that map
// (part of) guest RAM consistently with the memslots, KVM-made or by
// hand with random rights, and returns it with GVAs worth accessing.
func randomTDPMachine(t *testing.T, r *rand.Rand, cfg TDPConfig) (*testEnv, []GVA) {
	mode := pagingModes[r.Intn(len(pagingModes))]
	c := DefaultConfig()
	if cfg.Levels == 5 {
		c.MaxPhyAddr = 52
	}
	e := newTestEnv(t, mode, c)
	var gvas []GVA
	var pages []GPA
	for i := 0; i < 6; i++ {
		sizes := []uint64{PageSize, 2 << 20}
		if mode == Paging32 {
			sizes[1] = 4 << 20
		}
		size := sizes[r.Intn(len(sizes))]
		gva := GVA(r.Uint64()&0xffffffff) &^ GVA(size-1)
		if mode >= Paging4 {
			gva = GVA(r.Uint64()&(1<<46-1)) &^ GVA(size-1)
		}
		gpa := GPA(2<<20+r.Int63n(60<<20)) &^ GPA(size-1)
		flags := PTE(r.Uint64()) & (PTWritable | PTUser | PTAccessed | PTDirty)
		if mode != Paging32 && r.Intn(4) == 0 {
			flags |= PTNX
		}
		if _, err := e.g.Map(gva, gpa, size, flags); err != nil {
			continue
		}
		off := GVA(r.Int63n(int64(size))) &^ 7
		gvas = append(gvas, gva+off)
		pages = append(pages, gpa+GPA(off)&^pageMask)
	}
	gvas = append(gvas, GVA(r.Uint64()&0xffffffff)&^7) // most likely unmapped
	e.load()
	if err := e.m.EnableTDP(cfg); err != nil {
		t.Fatal(err)
	}
	for gpa := testPool; gpa < e.g.next; gpa += PageSize {
		pages = append(pages, gpa)
	}
	for _, gpa := range pages {
		randomSPTE(e, r, cfg, gpa)
	}
	return e, gvas
}

// randomSPTE maps gpa's page in EPT/NPT: through KVM, by hand with random
// bits at level 1 or 2, or not at all.
func randomSPTE(e *testEnv, r *rand.Rand, cfg TDPConfig, gpa GPA) {
	hpa := hostOf(e, gpa)
	level := 1
	switch k := r.Intn(10); {
	case k < 4:
		_ = e.m.Prefault(0, gpa, PageSize)
		return
	case k == 6:
		level, hpa = 2, hostOf(e, gpa&^(2<<20-1))
	case k > 6:
		return
	}
	v := uint64(hpa) | r.Uint64()&(1<<11|1<<8|1<<9)
	if cfg.Kind == TDPEPT {
		v |= uint64(r.Intn(8))
		v |= [...]uint64{6, 6, 6, 0, 2, 7}[r.Intn(6)] << EPTMTShift
	} else {
		v |= r.Uint64() & (PTPresent | PTWritable | PTUser | PTNX)
		if r.Intn(4) != 0 {
			v |= PTPresent | PTUser
		}
	}
	if level == 2 {
		v |= PTPageSize
	}
	_ = e.m.SetTDPEntry(0, gpa, level, v)
}

// TestTDPCompose checks the property on random machines for EPT and NPT,
// 4 and 5 levels, with and without EPT A/D.
func TestTDPCompose(t *testing.T) {
	noAD := ept4
	noAD.AD = false
	noExec := ept5
	noExec.ExecOnly = false
	seen := map[string]int{}
	for _, cfg := range []TDPConfig{ept4, ept5, noAD, noExec, npt4, npt5} {
		r := rand.New(rand.NewSource(int64(cfg.Levels)*1000 + int64(cfg.Kind)*10 + int64(len(seen))))
		for i := 0; i < 150; i++ {
			e, gvas := randomTDPMachine(t, r, cfg)
			for _, gva := range gvas {
				a := Access{GVA: gva, Kind: AccessKind(r.Intn(3)), User: r.Intn(2) == 0}
				want := expected2D(e.m, a)
				base := e.m
				e.m = base.Clone()
				got := actual2D(e, a)
				e.m = base
				if got != want {
					t.Fatalf("%s, case %d, %s guest, %+v:\n got %s\nwant %s", tdpName(cfg), i, e.mode, a, got, want)
				}
				seen[got.kind]++
				if got.kind == "ok" {
					if hpa, ok := e.m.GPAToHPA(got.gpa); !ok || hpa != got.hpa {
						t.Fatalf("translation %s → %s, memslots say %s", got.gpa, got.hpa, hpa)
					}
				}
			}
		}
	}
	for _, k := range []string{"ok", "#PF", ExitEPTViolation, ExitEPTMisconfig} {
		if seen[k] < 10 {
			t.Errorf("only %d outcomes %q: %v", seen[k], k, seen)
		}
	}
	t.Logf("outcomes: %v", seen)
}

// checkTDPInvariants: every page below a root hangs from a present,
// non-leaf SPTE that points to it; every root is in the list of roots; the
// count of linked pages is right; every vCPU's root is a page.
func checkTDPInvariants(t *testing.T, m *Machine, log []string) {
	t.Helper()
	defer func() {
		if t.Failed() {
			t.Log(strings.Join(log, "\n"))
		}
	}()
	linked := 0
	for pfn, sp := range m.tdp.pages {
		if sp.SPT.PFN() != pfn {
			t.Fatalf("page %s filed under %s", sp.SPT, pfn.HPA())
		}
		if !sp.HasPtep {
			found := false
			for _, r := range m.tdp.roots {
				found = found || r == sp
			}
			if !found || sp.RootCount < 1 {
				t.Fatalf("root %s: listed %v, count %d", sp.SPT, found, sp.RootCount)
			}
			continue
		}
		linked++
		v, _ := m.Mem.Read(sp.Ptep, 8)
		parent := m.spAt(sp.Ptep)
		if parent == nil || !isShadowPresentPTE(v) || isLastSPTE(v, parent.Role.Level()) || HPA(v&eptAddrMask) != sp.SPT ||
			sp.Role.Level() != parent.Role.Level()-1 {
			t.Fatalf("page %s (level %d) hangs from SPTE %s = %s", sp.SPT, sp.Role.Level(), sp.Ptep, hex(v))
		}
	}
	if linked != m.tdp.mmuPages {
		t.Fatalf("%d linked pages, counted %d", linked, m.tdp.mmuPages)
	}
	for _, v := range m.VCPUs {
		if v.RootMMU.RootValid && m.rootOf(v) == nil {
			t.Fatalf("vCPU %d's root %s is not a page", v.ID, v.RootMMU.Root)
		}
	}
}

// TestTDPRandomScripts runs random mixes of accesses, zaps, prefaults,
// memslot removals and hand-made SPTEs (garbage included) on random
// machines: no panic, only well-formed results, and the TDP MMU's
// bookkeeping stays consistent.
func TestTDPRandomScripts(t *testing.T) {
	r := rand.New(rand.NewSource(42))
	for _, cfg := range []TDPConfig{ept4, ept5, npt4} {
		for i := 0; i < 25; i++ {
			e, gvas := randomTDPMachine(t, r, cfg)
			var log []string
			for j := 0; j < 30; j++ {
				var a Action
				switch k := r.Intn(10); {
				case k < 5:
					a = &Access{GVA: gvas[r.Intn(len(gvas))], Kind: AccessKind(r.Intn(3)), User: r.Intn(2) == 0}
				case k == 5:
					a = &ZapGFNRange{GPA: GPA(r.Int63n(64<<20)) &^ pageMask, Size: PageSize << uint(r.Intn(12))}
				case k == 6:
					a = &PreFault{GPA: GPA(r.Int63n(64<<20)) &^ pageMask, Size: PageSize << uint(r.Intn(6))}
				case k == 7 && r.Intn(3) == 0:
					a = &RemoveMemslot{ID: r.Intn(3), SlotZapOnly: r.Intn(2) == 0}
				case k == 8:
					gpa := GPA(r.Int63n(64<<20)) &^ pageMask
					level, v := 1+r.Intn(e.m.tdp.level), r.Uint64()&^(bits(52, 62))
					err := e.m.SetTDPEntry(0, gpa, level, v)
					log = append(log, fmt.Sprintf("SetTDPEntry(%s, %d, %s): %v", gpa, level, hex(v), err))
					checkTDPInvariants(t, e.m, log)
					continue
				default:
					a = &PrintSPTE{GPA: GPA(r.Int63n(64 << 20))}
				}
				mustNotPanic(t, fmt.Sprintf("%T", a), func() {
					st, err := e.m.Do(a)
					if err == nil && !st.Result.OK && st.Result.Fault == nil {
						t.Fatalf("%T %+v: neither ok nor a fault: %s", a, a, ResultString(st.Result))
					}
					log = append(log, fmt.Sprintf("%T %+v: %v %s", a, a, err, ResultString(st.Result)))
				})
				checkTDPInvariants(t, e.m, log)
			}
		}
	}
}
