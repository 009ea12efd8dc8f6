package mmu

import (
	"fmt"
	"strings"
	"testing"
)

// TestTDPWalkRefs: with EPT/NPT filled in advance, every guest mode on
// every host depth makes (g+1)(h+1)-1 memory references: g guest levels
// read from memory (PAE on EPT takes its PDPTEs from registers, g=2; AMD's
// NPT keeps no PDPTE registers, g=3), h host levels.
func TestTDPWalkRefs(t *testing.T) {
	want := map[string]map[PagingMode]int{
		"ept4": {PagingOff: 4, Paging32: 14, PagingPAE: 14, Paging4: 24, Paging5: 29},
		"ept5": {PagingOff: 5, Paging32: 17, PagingPAE: 17, Paging4: 29, Paging5: 35},
		"npt4": {PagingOff: 4, Paging32: 14, PagingPAE: 19, Paging4: 24, Paging5: 29},
		"npt5": {PagingOff: 5, Paging32: 17, PagingPAE: 23, Paging4: 29, Paging5: 35},
	}
	for _, cfg := range []TDPConfig{ept4, ept5, npt4, npt5} {
		for _, mode := range append([]PagingMode{PagingOff}, pagingModes...) {
			t.Run(fmt.Sprintf("%s/%s", tdpName(cfg), modeShort(mode)), func(t *testing.T) {
				e := newTDPEnv(t, mode, cfg)
				e.prefaultAll()
				g := RootLevel(mode)
				if mode == PagingPAE && cfg.Kind == TDPEPT {
					g = 2
				}
				formula := (g+1)*(cfg.Levels+1) - 1
				if w := want[tdpName(cfg)][mode]; w != formula {
					t.Fatalf("table says %d, (g+1)(h+1)-1 says %d", w, formula)
				}
				for i := 0; i < 2; i++ {
					st := e.do(&Access{GVA: tdpGVA(mode) + 0x10, Kind: AccessWrite, User: true})
					r := st.Result
					if !r.OK || r.HasRefsTotal || r.Refs != formula || r.HPA != testRAMPFN<<PageShift+HPA(testGPA)+0x10 {
						t.Fatalf("access %d: %s, want %d references in one attempt", i, ResultString(r), formula)
					}
					checkTwoDEvents(t, st, formula)
				}
			})
		}
	}
}

// checkTwoDEvents checks the event contract of a 2D walk: references are
// numbered 1..n in order, EPT/NPT entry reads are host reads by the cpu,
// guest entry reads have host level 0.
func checkTwoDEvents(t *testing.T, st Step, refs int) {
	t.Helper()
	n := 0
	for _, e := range st.Events {
		if !e.TwoD || e.Kind != EvRead || e.Ref == 0 {
			continue
		}
		n++
		if e.Ref != n || e.Func != "cpu" {
			t.Fatalf("reference %d: Ref %d, Func %s", n, e.Ref, e.Func)
		}
		switch {
		case e.HostLevel > 0 && (e.Space != SpaceHPA || e.Level != e.HostLevel || e.Table != e.Addr&^pageMask):
			t.Fatalf("host reference %d: %+v", n, e)
		case e.HostLevel == 0 && (e.Space != SpaceGPA || e.GuestLevel != e.Level):
			t.Fatalf("guest reference %d: %+v", n, e)
		}
	}
	if n != refs {
		t.Fatalf("%d reference events, want %d", n, refs)
	}
}

// TestEPTViolationQualification: the exit qualification tells a guest
// paging-structure access (bit 8 clear) from the final GPA (bit 8 set),
// gives the access (bits 0-2; with EPT A/D a table access is read and
// write) and what the EPT entries allowed (bits 3-5).
func TestEPTViolationQualification(t *testing.T) {
	const (
		rd, wr, ex, pR, pW, pX = EPTViolationAccRead, EPTViolationAccWrite, EPTViolationAccInstr,
			EPTViolationProtRead, EPTViolationProtWrite, EPTViolationProtExec
		gva, fin = EPTViolationGVAIsValid, EPTViolationGVATranslated
	)
	noAD := ept4
	noAD.AD = false
	ptGPA := func(e *testEnv) GPA { return e.entryGPA(testGVA(Paging4), 1) &^ pageMask }
	cases := []struct {
		name   string
		cfg    TDPConfig
		setup  func(e *testEnv)
		kind   AccessKind
		q      uint64
		glevel int
		hlevel int
	}{
		{"empty EPT: the guest's PML4, with A/D", ept4, nil, AccessRead, rd | wr | gva, 4, 4},
		{"empty EPT: the guest's PML4, no A/D", noAD, nil, AccessRead, rd | gva, 4, 4},
		{"final GPA, read", ept4, func(e *testEnv) { e.prefault(testPool, 64<<10) }, AccessRead, rd | gva | fin, 0, 2},
		{"final GPA, write", ept4, func(e *testEnv) { e.prefault(testPool, 64<<10) }, AccessWrite, wr | gva | fin, 0, 2},
		{"final GPA, fetch", ept4, func(e *testEnv) { e.prefault(testPool, 64<<10) }, AccessFetch, ex | gva | fin, 0, 2},
		{"read-only page, write", ept4, func(e *testEnv) {
			e.prefaultAll()
			e.setSPTE(testGPA, 1, eptLeaf(hostOf(e, testGPA), 1, EPTRead|EPTExec))
		}, AccessWrite, wr | pR | pX | gva | fin, 0, 1},
		{"no-execute page, fetch", ept4, func(e *testEnv) {
			e.prefaultAll()
			e.setSPTE(testGPA, 1, eptLeaf(hostOf(e, testGPA), 1, EPTRead|EPTWrite))
		}, AccessFetch, ex | pR | pW | gva | fin, 0, 1},
		{"read-only guest PT, A/D on: table reads count as writes", ept4, func(e *testEnv) {
			e.prefaultAll()
			e.setSPTE(ptGPA(e), 1, eptLeaf(hostOf(e, ptGPA(e)), 1, EPTRead|EPTExec))
		}, AccessRead, rd | wr | pR | pX | gva, 1, 1},
		{"read-only guest PT, A/D off: the A-bit write faults", noAD, func(e *testEnv) {
			e.prefaultAll()
			// Without A/D, prefetched SPTEs are access-tracked: one access
			// lets fast_page_fault restore them.
			e.do(&Access{GVA: testGVA(Paging4)})
			e.setSPTE(ptGPA(e), 1, eptLeaf(hostOf(e, ptGPA(e)), 1, EPTRead|EPTExec))
			e.edit(testGVA(Paging4), 1, 0, PTAccessed)
		}, AccessRead, wr | pR | pX | gva, 1, 1},
		{"execute-only page, read", ept4, func(e *testEnv) {
			e.prefaultAll()
			e.setSPTE(testGPA, 1, eptLeaf(hostOf(e, testGPA), 1, EPTExec))
		}, AccessRead, rd | pX | gva | fin, 0, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newTDPEnv(t, Paging4, c.cfg)
			if c.setup != nil {
				c.setup(e)
			}
			w, h := e.hwAttempt(Access{GVA: testGVA(Paging4) + 8, Kind: c.kind})
			x := h.exit
			if x == nil || x.Reason != ExitEPTViolation || w.Fault == nil || w.Fault.Exit != x {
				t.Fatalf("no EPT violation: exit %+v, fault %+v", x, w.Fault)
			}
			if x.Qualification != c.q || x.GuestLevel != c.glevel || x.HostLevel != c.hlevel || x.Final != (c.glevel == 0) {
				t.Fatalf("qualification %s (%s), guest level %d, host level %d; want %s, %d, %d", hex(x.Qualification),
					DecodeEPTQualification(x.Qualification), x.GuestLevel, x.HostLevel, hex(c.q), c.glevel, c.hlevel)
			}
			// KVM fixes every one of these: the access completes.
			st := e.do(&Access{GVA: testGVA(Paging4) + 8, Kind: c.kind})
			if !st.Result.OK || exitsOf(st) == 0 {
				t.Fatalf("after KVM's handling: %s (%d exits)", ResultString(st.Result), exitsOf(st))
			}
		})
	}
}

// TestEPTViolationErrorCode: __vmx_handle_ept_violation's error code, as
// 6.16 computes it (never GUEST_FINAL/GUEST_PAGE) and with d0164c161923.
func TestEPTViolationErrorCode(t *testing.T) {
	cases := []struct {
		q            uint64
		linux, fixed uint64
	}{
		{0x83, PFErrUser | PFErrWrite, PFErrUser | PFErrWrite | PFErrGuestPage},
		{0x181, PFErrUser, PFErrUser | PFErrGuestFinal},
		{0x1aa, PFErrWrite | PFErrPresent, PFErrWrite | PFErrPresent | PFErrGuestFinal},
		{0x184, PFErrFetch, PFErrFetch | PFErrGuestFinal},
		{0x02, PFErrWrite, PFErrWrite}, // GVA not valid (a PDPTE load): neither bit
	}
	for _, c := range cases {
		if got := eptViolationErrorCode(c.q, false); got != c.linux {
			t.Errorf("6.16, qualification %s: %s, want %s", hex(c.q), hex(got), hex(c.linux))
		}
		if got := eptViolationErrorCode(c.q, true); got != c.fixed {
			t.Errorf("fixed, qualification %s: %s, want %s", hex(c.q), hex(got), hex(c.fixed))
		}
	}
	e := newTDPEnv(t, Paging4, TDPConfig{Kind: TDPEPT, Levels: 4, AD: true, GVAValidFix: true})
	st := e.do(&Access{GVA: testGVA(Paging4)})
	for _, ev := range st.Events {
		if ev.Func == "__vmx_handle_ept_violation" {
			if ev.New&(PFErrGuestPage|PFErrGuestFinal) == 0 {
				t.Errorf("with the fix, no GUEST_PAGE/FINAL: %s", ev.Text)
			}
			return
		}
	}
	t.Error("no __vmx_handle_ept_violation event")
}

// TestEPTMisconfig: entries the SDM calls misconfigured end the walk with
// an EPT misconfiguration, not a violation; KVM's reaction depends on
// whether the entry looks like one of its own (bit 11).
func TestEPTMisconfig(t *testing.T) {
	noExecOnly := ept4
	noExecOnly.ExecOnly = false
	leaf := func(e *testEnv, bits uint64) func(*testEnv) {
		return func(e *testEnv) { e.setSPTE(testGPA, 1, uint64(hostOf(e, testGPA))|bits) }
	}
	cases := []struct {
		name  string
		cfg   TDPConfig
		set   func(e *testEnv) func(*testEnv)
		kind  AccessKind
		bad   bool // a misconfiguration (else the access works or is a violation)
		level int
	}{
		{"XWR=010", ept4, func(e *testEnv) func(*testEnv) { return leaf(e, EPTWrite|EPTMemWB<<3) }, AccessRead, true, 1},
		{"XWR=110", ept4, func(e *testEnv) func(*testEnv) { return leaf(e, EPTWrite|EPTExec|EPTMemWB<<3) }, AccessRead, true, 1},
		{"XWR=100 without execute-only", noExecOnly, func(e *testEnv) func(*testEnv) { return leaf(e, EPTExec|EPTMemWB<<3) },
			AccessFetch, true, 1},
		{"XWR=100 with execute-only", ept4, func(e *testEnv) func(*testEnv) { return leaf(e, EPTExec|EPTMemWB<<3) },
			AccessFetch, false, 1},
		{"memory type 2", ept4, func(e *testEnv) func(*testEnv) { return leaf(e, EPTRWX|2<<3) }, AccessRead, true, 1},
		{"memory type 3", ept4, func(e *testEnv) func(*testEnv) { return leaf(e, EPTRWX|3<<3) }, AccessRead, true, 1},
		{"memory type 7", ept4, func(e *testEnv) func(*testEnv) { return leaf(e, EPTRWX|7<<3) }, AccessRead, true, 1},
		{"memory type UC", ept4, func(e *testEnv) func(*testEnv) { return leaf(e, EPTRWX) }, AccessRead, false, 1},
		{"bit 47 above MAXPHYADDR", ept4, func(e *testEnv) func(*testEnv) { return leaf(e, EPTRWX|EPTMemWB<<3|1<<47) },
			AccessRead, true, 1},
		{"memory type in a non-leaf PDE", ept4, func(e *testEnv) func(*testEnv) {
			return func(e *testEnv) {
				levels, _, _ := e.m.TDPPath(0, testGPA)
				e.setSPTE(testGPA, 2, levels[2].Value|EPTMemWB<<3)
			}
		}, AccessRead, true, 2},
		{"PS in a PML4E", ept4, func(e *testEnv) func(*testEnv) {
			return func(e *testEnv) {
				levels, _, _ := e.m.TDPPath(0, testGPA)
				e.setSPTE(testGPA, 4, levels[0].Value|EPTPageSize)
			}
		}, AccessRead, true, 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newTDPEnv(t, Paging4, c.cfg)
			e.prefaultAll()
			c.set(e)(e)
			w, h := e.hwAttempt(Access{GVA: testGVA(Paging4), Kind: c.kind})
			switch {
			case c.bad && (h.exit == nil || h.exit.Reason != ExitEPTMisconfig || h.exit.HostLevel != c.level):
				t.Fatalf("want a misconfiguration at level %d: exit %+v", c.level, h.exit)
			case !c.bad && h.exit != nil && h.exit.Reason == ExitEPTMisconfig:
				t.Fatalf("not a misconfiguration: %+v", h.exit)
			case !c.bad && c.kind == AccessFetch && w.Fault != nil:
				t.Fatalf("fetch of an execute-only page: %+v", w.Fault)
			}
		})
	}
}

// TestEPTMisconfigKVM: KVM's handle_mmio_page_fault on a misconfigured
// leaf: one that KVM made itself (bit 11) is a KVM bug and stops the VM;
// a raw one is not an MMIO SPTE, so KVM retries and the guest makes no
// progress.
func TestEPTMisconfigKVM(t *testing.T) {
	for _, own := range []bool{true, false} {
		e := newTDPEnv(t, Paging4, ept4)
		e.prefaultAll()
		bad := uint64(hostOf(e, testGPA)) | EPTWrite
		if own {
			bad |= SPTEMMUPresent
		}
		e.setSPTE(testGPA, 1, bad)
		st := e.do(&Access{GVA: testGVA(Paging4)})
		r := st.Result
		if r.OK || r.Fault == nil || r.Fault.Vector != ExitEPTMisconfig {
			t.Fatalf("own=%v: %s", own, ResultString(r))
		}
		switch {
		case own && (!strings.Contains(r.Note, "KVM_RUN fails") || exitsOf(st) != 1):
			t.Errorf("KVM's own SPTE: %s, %d exits", ResultString(r), exitsOf(st))
		case !own && (!strings.Contains(r.Note, "no progress") || exitsOf(st) != maxTDPAttempts):
			t.Errorf("a raw entry: %s, %d exits", ResultString(r), exitsOf(st))
		}
	}
}

// TestNPTErrorCodes: #NPF's EXITINFO1 is a #PF error code with U always
// set and GUEST_FINAL or GUEST_PAGE saying which translation failed.
func TestNPTErrorCodes(t *testing.T) {
	const fin, pg = PFErrGuestFinal, PFErrGuestPage
	nptLeaf := func(bits uint64) func(e *testEnv) {
		return func(e *testEnv) {
			e.prefaultAll()
			e.setSPTE(testGPA, 1, uint64(hostOf(e, testGPA))|bits|SPTEMMUPresent)
		}
	}
	cases := []struct {
		name  string
		setup func(e *testEnv)
		kind  AccessKind
		ec    uint64
	}{
		{"empty NPT: a guest table", func(*testEnv) {}, AccessRead, PFErrUser | pg},
		{"final, read", func(e *testEnv) { e.prefault(testPool, 64<<10) }, AccessRead, PFErrUser | fin},
		{"final, write", func(e *testEnv) { e.prefault(testPool, 64<<10) }, AccessWrite, PFErrWrite | PFErrUser | fin},
		{"final, fetch", func(e *testEnv) { e.prefault(testPool, 64<<10) }, AccessFetch, PFErrFetch | PFErrUser | fin},
		{"read-only leaf, write", nptLeaf(PTPresent | PTUser), AccessWrite, PFErrPresent | PFErrWrite | PFErrUser | fin},
		{"supervisor leaf (U=0), read", nptLeaf(PTPresent | PTWritable), AccessRead, PFErrPresent | PFErrUser | fin},
		{"NX leaf, fetch", nptLeaf(PTPresent | PTWritable | PTUser | PTNX), AccessFetch,
			PFErrPresent | PFErrFetch | PFErrUser | fin},
		{"reserved bit 50", nptLeaf(PTPresent | PTWritable | PTUser | 1<<50), AccessRead,
			PFErrPresent | PFErrRsvd | PFErrUser | fin},
		{"bit 8 in a PML4E", func(e *testEnv) {
			e.prefaultAll()
			levels, _, _ := e.m.TDPPath(0, testGPA)
			e.setSPTE(testGPA, 4, levels[0].Value|1<<8)
		}, AccessRead, PFErrPresent | PFErrRsvd | PFErrUser | pg},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newTDPEnv(t, Paging4, npt4)
			c.setup(e)
			_, h := e.hwAttempt(Access{GVA: testGVA(Paging4), Kind: c.kind, User: true})
			if h.exit == nil || h.exit.Reason != ExitNPF || h.exit.ErrorCode != c.ec {
				t.Fatalf("exit %+v, want #NPF with %s (%s)", h.exit, hex(c.ec), DecodeNPFErrorCode(c.ec))
			}
		})
	}
}

// TestTDPGuestFault: a guest #PF under TDP is delivered by the processor
// without a VM exit, after the references made so far.
func TestTDPGuestFault(t *testing.T) {
	e := newTDPEnv(t, Paging4, ept4)
	e.prefaultAll()
	st := e.do(&Access{GVA: testGVA(Paging4) + 0x200000, User: true}) // no PDE for it
	r := st.Result
	if r.Fault == nil || r.Fault.Vector != "#PF" || r.Fault.ErrorCode != PFErrUser || exitsOf(st) != 0 || r.Refs != 15 {
		t.Fatalf("%s, %d exits", ResultString(r), exitsOf(st))
	}
}

// TestEPTNoADPrefault: without EPT A/D bits a prefetched SPTE is
// access-tracked (R, W, X cleared, R and X saved in high bits), so the
// first access exits and fast_page_fault restores it without mmu_lock.
func TestEPTNoADPrefault(t *testing.T) {
	cfg := ept4
	cfg.AD = false
	e := newTDPEnv(t, Paging4, cfg)
	e.prefaultAll()
	spte, level := e.leafSPTE(testGPA)
	if level != 1 || spte&EPTRWX != 0 || spte>>shadowAccTrackSavedShift&shadowAccTrackSavedMask != EPTRead|EPTExec {
		t.Fatalf("prefetched SPTE %s at level %d is not access-tracked", hex(spte), level)
	}
	// Five restores of R and X (four guest tables, the data page, which
	// also gets W for the write), then four more for W on the tables when
	// the processor writes the guest's A bits.
	st := e.do(&Access{GVA: testGVA(Paging4), Kind: AccessWrite})
	if !st.Result.OK || countEvents(st, EvWrite, "fast_page_fault") != 9 {
		t.Fatalf("%s; %d fast_page_fault fixes, want 9", ResultString(st.Result), countEvents(st, EvWrite, "fast_page_fault"))
	}
	if spte, _ = e.leafSPTE(testGPA); spte&EPTRWX != EPTRWX {
		t.Fatalf("restored SPTE %s", hex(spte))
	}
}
