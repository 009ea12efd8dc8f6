package mmu

import (
	"fmt"
	"sort"
	"strings"
	"testing"
)

// TestTDXFastZapKeepsMirror: kvm_mmu_zap_all_fast invalidates and zaps
// the direct root only; the mirror root, the S-EPT and the private pages
// stay, and the vCPU gets a new direct root on its next entry.
func TestTDXFastZapKeepsMirror(t *testing.T) {
	e := newTD(t, 48)
	e.boot()
	e.do(&TDXAccept{GPA: tdPrivGPA})
	e.do(&TDXMapGPA{GPA: e.shared, Size: PageSize})
	e.do(&Access{GVA: tdSharedGVA, Kind: AccessRead})
	mirror := e.m.mirrorRootOf(e.m.VCPUs[0])
	oldRoot, _ := e.m.TDPRoot(0) // freed by the zap, its page is the next root's
	septBefore := len(e.m.tdx().sept)
	e.m.kvmMMUZapAllFast()
	if mirror.Role.Invalid() || e.m.mirrorRootOf(e.m.VCPUs[0]) != mirror {
		t.Fatal("the fast zap invalidated the mirror root")
	}
	if _, e2, ok := e.m.septLeaf(tdPrivGPA.GFN()); !ok || e2&EPTRWX != EPTRWX || len(e.m.tdx().sept) != septBefore {
		t.Errorf("the S-EPT changed: leaf %s, %d pages (was %d)", hex(e2), len(e.m.tdx().sept), septBefore)
	}
	if err := e.m.CheckTDXInvariants(); err != nil {
		t.Fatal(err)
	}
	st := e.do(&Access{GVA: tdPrivGVA, Kind: AccessRead})
	if !st.Result.OK || exitsOf(st) != 0 {
		t.Errorf("the private page needs %d exits after the fast zap: %+v", exitsOf(st), st.Result)
	}
	if st = e.do(&Access{GVA: tdSharedGVA, Kind: AccessRead}); !st.Result.OK || exitsOf(st) != 1 {
		t.Errorf("the shared page after the fast zap: %d exits, %+v", exitsOf(st), st.Result)
	}
	if r := e.m.rootOf(e.m.VCPUs[0]); r == nil || r.Role.Invalid() || r.SPT != oldRoot {
		t.Errorf("the vCPU's direct root after the reload: %+v", r)
	}
}

// TestTDXMemoryFaultAndPending: a shared access to private memory exits
// to userspace (KVM_EXIT_MEMORY_FAULT) and maps nothing; a private page
// the guest touches before accepting it is a #VE in the guest, or with
// SEPT_VE_DISABLE kills the TD.
func TestTDXMemoryFaultAndPending(t *testing.T) {
	e := newTD(t, 48)
	e.boot()
	_, d0 := tdPages(e.m)
	st := e.do(&Access{GVA: tdSharedGVA, Kind: AccessRead})
	if _, d1 := tdPages(e.m); st.Result.OK || !strings.Contains(st.Result.Note, "KVM_EXIT_MEMORY_FAULT") || d1 != d0 {
		t.Errorf("shared access to private memory: %+v, direct pages %d → %d", st.Result, d0, d1)
	}
	for _, veDisable := range []bool{false, true} {
		e := newTD(t, 48)
		e.m.tdx().cfg.SEPTVEDisable = veDisable
		e.boot()
		st := e.do(&Access{GVA: tdPrivGVA, Kind: AccessRead})
		f := st.Result.Fault
		switch {
		case !veDisable && (f == nil || f.Vector != "#VE" || e.m.tdx().dead):
			t.Errorf("without SEPT_VE_DISABLE: %+v", st.Result)
		case veDisable && (!e.m.tdx().dead || !strings.Contains(st.Result.Note, "dead")):
			t.Errorf("with SEPT_VE_DISABLE: %+v", st.Result)
		}
		if veDisable {
			st = e.do(&Access{GVA: tdSharedGVA, Kind: AccessRead})
			if len(st.Events) != 0 || !strings.Contains(st.Result.Note, "EIO") || st.Result.OK {
				t.Errorf("a dead TD ran: %+v", st.Result)
			}
		}
	}
}

// TestTDXExternalRollback: when the TDX module refuses a SEAMCALL (here
// because its S-EPT lost a link), set_external_spte_present puts the old
// mirror SPTE back and the fault is retried; no mirror page is leaked.
func TestTDXExternalRollback(t *testing.T) {
	e := newTD(t, 48)
	e.boot()
	pages := len(e.m.tdp.pages)
	// Break the S-EPT PDPTE the new S-EPT PT will hang below.
	ep, err := e.m.septLookup(tdPrivGPA, 3)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = e.m.Mem.Write(ep, 8, 0)
	st, err := e.m.Do(&TDXAccept{GPA: tdPrivGPA})
	if err != nil {
		t.Fatal(err)
	}
	if n := countEvents(st, EvWrite, "set_external_spte_present"); n < 2 || !strings.Contains(traceText(st), "refused") {
		t.Fatalf("no rollback in:\n%s", traceText(st))
	}
	if st.Result.OK || len(e.m.tdp.pages) != pages {
		t.Errorf("after the refusals: %+v, %d TDP MMU pages (was %d)", st.Result, len(e.m.tdp.pages), pages)
	}
	for _, sp := range e.m.tdp.pages {
		for i := 0; i < 512; i++ {
			if v, _ := e.m.Mem.Read(sp.SPT+HPA(8*i), 8); v == FrozenSPTE {
				t.Fatalf("a mirror SPTE stayed frozen at %s", sp.SPT+HPA(8*i))
			}
		}
	}
}

// TestTDXBadInput: what a TD refuses, with a message that says why.
func TestTDXBadInput(t *testing.T) {
	newVM := func(maxPhy, levels int, kind TDPKind) *Machine {
		cfg := DefaultConfig()
		cfg.MaxPhyAddr = maxPhy
		m, _ := NewMachine(cfg, 1)
		_ = m.AddMemslot(Memslot{ID: 0, NPages: 4096, BasePFN: HPA(256 << 20).PFN()})
		if kind != TDPNone {
			if err := m.EnableTDP(TDPConfig{Kind: kind, Levels: levels}); err != nil {
				t.Fatal(err)
			}
		}
		return m
	}
	for _, c := range []struct {
		m    *Machine
		cfg  TDXConfig
		want string
	}{
		{newVM(48, 4, TDPNone), TDXConfig{GPAW: 48}, "needs EPT"},
		{newVM(48, 4, TDPNPT), TDXConfig{GPAW: 48}, "needs EPT"},
		{newVM(48, 4, TDPEPT), TDXConfig{GPAW: 50}, "48 or 52"},
		{newVM(46, 4, TDPEPT), TDXConfig{GPAW: 48}, "maxphyaddr=48"},
		{newVM(48, 4, TDPEPT), TDXConfig{GPAW: 48, PrivateBase: 0x1001}, "page-aligned"},
		{newVM(48, 4, TDPEPT), TDXConfig{GPAW: 48, PrivateBase: HPA(256 << 20)}, "overlaps"},
		{newVM(48, 4, TDPEPT), TDXConfig{GPAW: 48, PrivateBase: HPA(1<<30 - 4096)}, "beyond"},
	} {
		if err := c.m.EnableTDX(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("EnableTDX(%+v): %v, want %q", c.cfg, err, c.want)
		}
	}
	e := newTD(t, 48)
	if err := e.m.EnableTDX(TDXConfig{GPAW: 48}); err == nil {
		t.Error("a TD became a TD twice")
	}
	above := GPA(1) << 48
	for _, c := range []struct {
		a    Action
		want string
	}{
		{&Access{GVA: tdPrivGVA, Kind: AccessRead}, "not finalized"},
		{&TDXAccept{GPA: tdPrivGPA}, "not finalized"},
		{&TDXFinalize{}, ""},
		{&TDXFinalize{}, "already finalized"},
		{&TDXInitMemRegion{GPA: tdPool, Size: PageSize}, "finalized"},
		{&TDXAccept{GPA: above}, "beyond the TD's GPAW"},
		{&TDXAccept{GPA: tdPrivGPA + 8}, "page-aligned"},
		{&TDXAccept{GPA: e.shared}, "takes a private GPA"},
		{&TDXMapGPA{GPA: GPA(1)<<47 - PageSize, Size: 2 * PageSize}, "crosses the shared bit"},
		{&TDXMapGPA{GPA: tdPrivGPA, Size: 0}, "non-zero"},
		{&TDXMapGPA{GPA: above - PageSize, Size: 2 * PageSize}, "beyond the TD's GPAW"},
		{&PreFault{GPA: above, Size: PageSize}, "EFAULT"},
	} {
		_, err := e.m.Do(c.a)
		if c.want == "" {
			if err != nil {
				t.Fatalf("%T: %v", c.a, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%T %+v: %v, want %q", c.a, c.a, err, c.want)
		}
	}
	if err := e.m.SetTDPEntry(0, tdPrivGPA, 1, 0); err == nil || !strings.Contains(err.Error(), "S-EPT") {
		t.Errorf("SetTDPEntry on a private GPA: %v", err)
	}
	if err := e.m.CheckTDXInvariants(); err != nil {
		t.Fatal(err)
	}
	plain := newVM(48, 4, TDPEPT)
	for _, a := range []Action{&TDXFinalize{}, &TDXAccept{}, &TDXMapGPA{}, &TDXInitMemRegion{}, &TDXDestroy{}} {
		if _, err := plain.Do(a); err == nil || !strings.Contains(err.Error(), "needs a TD") {
			t.Errorf("%T on a VM that is no TD: %v", a, err)
		}
	}
	e.do(&TDXDestroy{})
	if _, err := e.m.Do(&TDXAccept{GPA: tdPrivGPA}); err == nil || !strings.Contains(err.Error(), "destroyed") {
		t.Errorf("accept after teardown: %v", err)
	}
}

// TestTDXDestroyReclaimsSEPT: teardown removes every private page while
// the TD has its key, then gives each S-EPT table back through
// free_external_spt (TDH.PHYMEM.PAGE.RECLAIM): one per mirror table.
func TestTDXDestroyReclaimsSEPT(t *testing.T) {
	e := newTD(t, 48)
	e.boot()
	e.do(&TDXAccept{GPA: tdPrivGPA})
	tables := 0
	for _, p := range e.m.TDPPages() {
		if p.Mirror && !p.Root {
			tables++
		}
	}
	st := e.do(&TDXDestroy{})
	if n := countEvents(st, EvFree, "tdx_sept_free_private_spt"); n != tables || tables == 0 {
		t.Errorf("%d S-EPT tables reclaimed, %d mirror tables", n, tables)
	}
	if n := countEvents(st, EvZap, "tdx_sept_drop_private_spte"); n != tdPoolSize/PageSize+1 {
		t.Errorf("%d private pages removed", n)
	}
	// Removal comes before the key goes, reclaim after.
	trail := strings.Join(tdxFuncs(st), " ")
	if strings.Index(trail, "tdx_sept_drop_private_spte") > strings.Index(trail, "tdx_mmu_release_hkid") ||
		strings.Index(trail, "tdx_sept_free_private_spt") < strings.Index(trail, "tdx_mmu_release_hkid") {
		t.Errorf("teardown order: %s", trail)
	}
}

// tdxFingerprint prints the TD's state for comparisons.
func tdxFingerprint(m *Machine) string {
	x := m.tdx()
	if x == nil {
		return machineState(m)
	}
	var keys []string
	for pfn, p := range x.sept {
		keys = append(keys, fmt.Sprintf("sept %s %+v", pfn, *p))
	}
	for g := range x.shared {
		keys = append(keys, "shared "+g.String())
	}
	for id, r := range x.mirrorRoot {
		keys = append(keys, fmt.Sprintf("mirror %d %s", id, r))
	}
	sort.Strings(keys)
	return machineState(m) + strings.Join(keys, "\n") +
		fmt.Sprintf("\nstate %s hkid %v premapped %d epoch %d dead %v", x.state, x.hkid, x.nrPremapped, x.epoch, x.dead)
}

// TestTDXTimelineSeek: seeking to the end of each action of the story
// gives the state of a step-by-step run, S-EPT and mirror included.
func TestTDXTimelineSeek(t *testing.T) {
	e := newTD(t, 48)
	script := tdxScript(e)
	tl := NewTimeline(e.m, script)
	if tl.Err != nil {
		t.Fatal(tl.Err)
	}
	run := e.m.Clone()
	for a, act := range script {
		if _, err := run.Do(act); err != nil {
			t.Fatal(err)
		}
		v, err := tl.Seek(tl.StepOf(a, max(1, len(tl.Steps[a].Events))-1))
		if err != nil {
			t.Fatal(err)
		}
		if tdxFingerprint(v.Machine) != tdxFingerprint(run) {
			t.Fatalf("Seek to the end of action %d (%T) differs from the run", a, act)
		}
	}
}

// TestTDXFirstAccessCost pins the cost of a TD's first accesses: the
// accept of a private page takes one exit and two SEAMCALLs (SEPT.ADD for
// its S-EPT PT, PAGE.AUG); the first shared access takes one exit and
// three new direct tables.
func TestTDXFirstAccessCost(t *testing.T) {
	e := newTD(t, 48)
	e.boot()
	st := e.do(&TDXAccept{GPA: tdPrivGPA})
	seamcalls := countEvents(st, EvWrite, "tdx_sept_link_private_spt") + countEvents(st, EvWrite, "tdx_sept_set_private_spte")
	if exitsOf(st) != 1 || seamcalls != 2 {
		t.Errorf("accept: %d exits, %d SEAMCALLs, %d events", exitsOf(st), seamcalls, len(st.Events))
	}
	e.do(&TDXMapGPA{GPA: e.shared, Size: PageSize})
	st = e.do(&Access{GVA: tdSharedGVA, Kind: AccessRead})
	if exitsOf(st) != 1 || countEvents(st, EvAlloc, "tdp_mmu_alloc_sp") != 3 || st.Result.RefsTotal != 45 {
		t.Errorf("shared read: %d exits, %d tables, %d refs in all", exitsOf(st),
			countEvents(st, EvAlloc, "tdp_mmu_alloc_sp"), st.Result.RefsTotal)
	}
}
