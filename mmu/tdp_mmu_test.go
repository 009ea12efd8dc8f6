package mmu

import (
	"strings"
	"testing"
)

// hugeEnv is a 4-level guest on 4-level EPT with three kinds of memory: RAM
// at GPA 0 in host 4 KiB pages (guest tables at 1M), 64 MiB at GPA 1G in
// host 2 MiB pages, 1 GiB at GPA 2G in host 1 GiB pages. Guest pages: 4
// KiB at 0x400000 (→ 2M, RAM), 2 MiB at 0x600000 (→ 8M, RAM), 4 KiB at
// 0x40000000 (→ 1G), 4 KiB at 0x80000000 (→ 2G), 1 GiB at 0xc0000000 (→ 2G).
func hugeEnv(t *testing.T) *testEnv {
	t.Helper()
	cfg := DefaultConfig()
	cfg.HostMemory = 4 << 30
	m, err := NewMachine(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []Memslot{
		{ID: 0, BaseGFN: 0, NPages: 64 << 20 >> PageShift, BasePFN: 0x10000},
		{ID: 1, BaseGFN: GPA(1 << 30).GFN(), NPages: 64 << 20 >> PageShift, BasePFN: HPA(1 << 30).PFN(), HostPageSize: 2 << 20},
		{ID: 2, BaseGFN: GPA(2 << 30).GFN(), NPages: 1 << 30 >> PageShift, BasePFN: HPA(2 << 30).PFN(), HostPageSize: 1 << 30},
	} {
		if err := m.AddMemslot(s); err != nil {
			t.Fatal(err)
		}
	}
	e := &testEnv{t: t, m: m, mode: Paging4, regs: defaultRegs(Paging4)}
	if e.g, err = NewGuestTables(m, Paging4, testPool, testPoolSize); err != nil {
		t.Fatal(err)
	}
	e.regs.CR3 = e.g.CR3()
	e.mapPage(0x400000, 0x200000, PageSize, PTWritable|PTUser)
	e.mapPage(0x600000, 0x800000, 2<<20, PTWritable|PTUser)
	e.mapPage(0x40000000, 1<<30, PageSize, PTWritable|PTUser)
	e.mapPage(0x80000000, 2<<30, PageSize, PTWritable|PTUser)
	e.mapPage(0xc0000000, 2<<30, 1<<30, PTWritable|PTUser)
	e.load()
	if err := m.EnableTDP(ept4); err != nil {
		t.Fatal(err)
	}
	e.prefault(testPool, 64<<10)
	return e
}

// TestTDPHugePages: KVM maps with the largest page the memslot and the
// host allow, and huge pages on either side shorten the 2D walk.
func TestTDPHugePages(t *testing.T) {
	cases := []struct {
		name      string
		gva       GVA
		hostLevel int // level of the EPT leaf KVM makes for the data page
		refs      int
	}{
		{"guest 4K on host 4K", 0x400123, 1, 24},
		{"guest 2M over host 4K", 0x7fe123, 1, 19},
		{"guest 4K over host 2M", 0x40000123, 2, 23},
		{"guest 4K over host 1G", 0x80000123, 3, 22},
		{"guest 1G over host 1G", 0xc0123456, 3, 12},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := hugeEnv(t)
			first := e.do(&Access{GVA: c.gva, User: true})
			if !first.Result.OK || exitsOf(first) != 1 {
				t.Fatalf("first access: %s, %d exits (want one, for the data page)", ResultString(first.Result), exitsOf(first))
			}
			st := e.do(&Access{GVA: c.gva, User: true})
			if !st.Result.OK || st.Result.Refs != c.refs || exitsOf(st) != 0 {
				t.Fatalf("%s, want %d references", ResultString(st.Result), c.refs)
			}
			spte, level := e.leafSPTE(st.Result.GPA)
			if level != c.hostLevel || (level > 1) != (spte&EPTPageSize != 0) {
				t.Fatalf("EPT leaf %s at level %d, want level %d", hex(spte), level, c.hostLevel)
			}
			if want, _ := e.m.GPAToHPA(st.Result.GPA); st.Result.HPA != want {
				t.Fatalf("HPA %s, memslot says %s", st.Result.HPA, want)
			}
		})
	}
}

// TestKVMMMUMaxMappingLevel: lpage_info's rules and the host's mapping.
func TestKVMMMUMaxMappingLevel(t *testing.T) {
	m := &Machine{}
	g2m, g1g := GFN(512), GFN(512*512)
	cases := []struct {
		name string
		slot Memslot
		gfn  GFN
		want int
		why  string
	}{
		{"host 4K", Memslot{BaseGFN: 0, NPages: 1 << 20, BasePFN: 0}, 5, 1, "4 KiB pages"},
		{"host 2M", Memslot{BaseGFN: 0, NPages: 1 << 20, BasePFN: 0, HostPageSize: 2 << 20}, 5, 2, "2 MiB pages"},
		{"host 1G", Memslot{BaseGFN: 0, NPages: 1 << 20, BasePFN: 0, HostPageSize: 1 << 30}, 5, 3, "1 GiB pages"},
		{"GPA and host misaligned", Memslot{BaseGFN: 1, NPages: 1 << 20, BasePFN: 0, HostPageSize: 1 << 30}, 2 * g2m, 1,
			"aligned alike"},
		{"1G page sticks out of the slot", Memslot{BaseGFN: g2m, NPages: uint64(4 * g2m), BasePFN: PFN(g2m), HostPageSize: 1 << 30},
			g2m + 5, 2, "1 GiB pages"},
		{"2M page sticks out of the slot", Memslot{BaseGFN: g2m, NPages: uint64(g2m - 1), BasePFN: PFN(g2m), HostPageSize: 2 << 20},
			g2m + 5, 1, "not wholly inside"},
		{"last 2M page of the slot", Memslot{BaseGFN: 0, NPages: uint64(g1g + g2m), BasePFN: 0, HostPageSize: 1 << 30}, g1g + 7, 2,
			"1 GiB pages"},
	}
	for _, c := range cases {
		got, why := m.kvmMMUMaxMappingLevel(&c.slot, c.gfn, 3)
		if got != c.want || !strings.Contains(why, c.why) {
			t.Errorf("%s: level %d (%s), want %d (%s)", c.name, got, why, c.want, c.why)
		}
	}
}

// TestTDPSplitHugePage: a write to a hand-made read-only 2 MiB EPT page in
// host-4K memory makes KVM split it (tdp_mmu_split_huge_page) and map the
// 4 KiB page writable.
func TestTDPSplitHugePage(t *testing.T) {
	e := newTDPEnv(t, Paging4, ept4)
	e.prefaultAll()
	huge := testGPA &^ (2<<20 - 1)
	e.setSPTE(huge, 2, eptLeaf(hostOf(e, huge), 2, EPTRead|EPTExec))
	before := len(e.m.TDPPages())
	st := e.do(&Access{GVA: testGVA(Paging4), Kind: AccessWrite, User: true})
	if !st.Result.OK || countEvents(st, EvWrite, "tdp_mmu_split_huge_page") != 1 || len(e.m.TDPPages()) != before+1 {
		t.Fatalf("%s; %d pages, had %d", ResultString(st.Result), len(e.m.TDPPages()), before)
	}
	levels, _, _ := e.m.TDPPath(0, testGPA)
	pt := levels[len(levels)-1].Table
	for i := 0; i < 512; i++ {
		v, _ := e.m.ReadSPTE(pt + HPA(8*i))
		want := uint64(hostOf(e, huge)) + uint64(i)<<PageShift
		if v&eptAddrMask != want || v&EPTPageSize != 0 || (i == int(testGPA.GFN()&511)) != (v&EPTWrite != 0) {
			t.Fatalf("split SPTE %d = %s", i, hex(v))
		}
	}
}

// TestTDPHugeReplacesTable: when KVM maps a 2 MiB page where a table of
// 4 KiB SPTEs hangs, the table is cut off and freed (handle_removed_pt).
func TestTDPHugeReplacesTable(t *testing.T) {
	e := hugeEnv(t)
	gpa := GPA(1 << 30)
	e.setSPTE(gpa+PageSize, 1, eptLeaf(hostOf(e, gpa+PageSize), 1, EPTRWX)) // a PT under the 2M region
	pages := len(e.m.TDPPages())
	st := e.do(&Access{GVA: 0x40000123, User: true})
	if !st.Result.OK || countEvents(st, EvFree, "handle_removed_pt") != 1 || countEvents(st, EvZap, "handle_removed_pt") != 1 {
		t.Fatalf("%s; frees %d, zaps %d", ResultString(st.Result), countEvents(st, EvFree, ""), countEvents(st, EvZap, ""))
	}
	if _, level := e.leafSPTE(gpa); level != 2 || len(e.m.TDPPages()) != pages-1 {
		t.Fatalf("leaf level %d, %d pages (had %d)", level, len(e.m.TDPPages()), pages)
	}
}

// TestTDPFaultPopulate: on an empty EPT, the first 4-level access exits
// once per guest table and once for the data page, and KVM allocates the
// tables on the way; the next access walks them: 24 references.
func TestTDPFaultPopulate(t *testing.T) {
	e := newTDPEnv(t, Paging4, ept4)
	st := e.do(&Access{GVA: testGVA(Paging4), User: true})
	r := st.Result
	// 1 + 9 + 14 + 19 + 23 references before the five exits, then 24.
	if !r.OK || exitsOf(st) != 5 || r.Refs != 24 || !r.HasRefsTotal || r.RefsTotal != 90 {
		t.Fatalf("%s, %d exits", ResultString(r), exitsOf(st))
	}
	// Three tables for the first fault (PDPT, PD, PT), a PT for 2M-4M.
	if n := countEvents(st, EvAlloc, "tdp_mmu_alloc_sp"); n != 4 || len(e.m.TDPPages()) != 5 {
		t.Fatalf("%d allocations, %d pages", n, len(e.m.TDPPages()))
	}
	if n := countEvents(st, EvBegin, "cpu"); n != 6 {
		t.Fatalf("%d attempts, want 6", n)
	}
	st = e.do(&Access{GVA: testGVA(Paging4), User: true})
	if !st.Result.OK || exitsOf(st) != 0 || st.Result.Refs != 24 || st.Result.HasRefsTotal {
		t.Fatalf("second access: %s", ResultString(st.Result))
	}
	for _, p := range e.m.TDPPages() {
		if p.Root != (p.Level == 4) || (!p.Root && p.Parent == 0) {
			t.Fatalf("page %+v", p)
		}
	}
}

// TestTDPZap: kvm_zap_gfn_range zaps leaves only; the next access faults
// once, on the final GPA.
func TestTDPZap(t *testing.T) {
	e := newTDPEnv(t, Paging4, ept4)
	e.prefaultAll()
	pages := len(e.m.TDPPages())
	st := e.do(&ZapGFNRange{GPA: testGPA, Size: PageSize})
	if !st.Result.OK || countEvents(st, EvZap, "tdp_mmu_zap_leafs") != 1 || len(e.m.TDPPages()) != pages {
		t.Fatalf("%s; %d pages, had %d", ResultString(st.Result), len(e.m.TDPPages()), pages)
	}
	if spte, _ := e.leafSPTE(testGPA); spte != ShadowNonPresentValue {
		t.Fatalf("zapped SPTE %s", hex(spte))
	}
	st = e.do(&Access{GVA: testGVA(Paging4)})
	if !st.Result.OK || exitsOf(st) != 1 || !strings.Contains(st.Events[len(st.Events)-1].Text, "24 memory references") {
		t.Fatalf("%s, %d exits", ResultString(st.Result), exitsOf(st))
	}
}

// TestTDPMemslotRemoval: by default removing a memslot zaps everything:
// the root is invalidated, every table below it freed, and the vCPU
// replaces the root when it next enters the guest. With zap=slot only the
// slot's leaves go.
func TestTDPMemslotRemoval(t *testing.T) {
	e := newTDPEnv(t, Paging4, ept4)
	e.prefaultAll()
	oldRoot, _ := e.m.TDPRoot(0)
	st := e.do(&RemoveMemslot{ID: 2}) // the 4 MiB slot at 1G: unrelated, but everything goes
	pages := e.m.TDPPages()
	if !st.Result.OK || len(pages) != 1 || !pages[0].Root || !pages[0].Invalid || pages[0].RootCount != 1 ||
		!e.m.VCPUs[0].ReqFreeObsoleteRoots || countEvents(st, EvFree, "handle_removed_pt") != 4 {
		t.Fatalf("%s; pages %+v", ResultString(st.Result), pages)
	}
	if e.m.memslotByID(2) != nil {
		t.Fatal("the memslot is still there")
	}
	st = e.do(&Access{GVA: testGVA(Paging4)})
	root, ok := e.m.TDPRoot(0)
	pages = e.m.TDPPages()
	if !st.Result.OK || !ok || pages[0].HPA != root || pages[0].Invalid || countEvents(st, EvFree, "kvm_tdp_mmu_put_root") != 1 ||
		countEvents(st, EvAlloc, "kvm_tdp_mmu_alloc_root") != 1 || exitsOf(st) != 5 {
		t.Fatalf("%s; root %s (was %s); pages %+v", ResultString(st.Result), root, oldRoot, pages)
	}

	// zap=slot: only memslot 0's leaves; tables stay; its GPAs are MMIO.
	e = newTDPEnv(t, Paging4, ept4)
	e.prefaultAll()
	n := len(e.m.TDPPages())
	st = e.do(&RemoveMemslot{ID: 0, SlotZapOnly: true})
	if !st.Result.OK || len(e.m.TDPPages()) != n || countEvents(st, EvZap, "kvm_tdp_mmu_unmap_gfn_range") != 17 {
		t.Fatalf("%s; %d pages, had %d", ResultString(st.Result), len(e.m.TDPPages()), n)
	}
	st = e.do(&Access{GVA: testGVA(Paging4)})
	r := st.Result
	if r.Fault == nil || r.Fault.Vector != "#PF" || !strings.Contains(r.Note, "emulator") ||
		countEvents(st, EvRead, "walk_addr_generic") != 0 || !e.m.IsMMIOSPTE(mustLeaf(e, testPool)) {
		t.Fatalf("guest tables in MMIO: %s", ResultString(r))
	}
}

func mustLeaf(e *testEnv, gpa GPA) uint64 {
	v, _ := e.leafSPTE(gpa)
	return v
}

// TestTDPMMIO: a GPA outside every memslot gets an MMIO SPTE and is
// emulated; the next access is an EPT misconfiguration that
// handle_mmio_page_fault recognises; a memslot change makes the MMIO SPTE
// stale (its generation), so the next access takes the full path again.
func TestTDPMMIO(t *testing.T) {
	const mmio = GPA(0xfee00000)
	e := newTDPEnv(t, Paging4, ept4)
	e.mapPage(0x500000, mmio, PageSize, PTWritable)
	e.prefault(testPool, 64<<10)
	first := e.do(&Access{GVA: 0x500000, Kind: AccessWrite})
	spte, _ := e.leafSPTE(mmio)
	if r := first.Result; !r.OK || r.HasHPA || r.GPA != mmio || !e.m.IsMMIOSPTE(spte) || mmioSPTEGFN(spte, 46) != mmio.GFN() {
		t.Fatalf("%s; SPTE %s", ResultString(r), hex(spte))
	}
	second := e.do(&Access{GVA: 0x500000, Kind: AccessWrite})
	if r := second.Result; !r.OK || countEvents(second, EvExit, "handle_ept_misconfig") != 1 ||
		countEvents(second, EvCheck, "kvm_mmu_do_page_fault") != 0 {
		t.Fatalf("second access: %s", ResultString(r))
	}
	gen := e.m.slotsGen
	if err := e.m.AddMemslot(Memslot{ID: 9, BaseGFN: GPA(3 << 30).GFN(), NPages: 1, BasePFN: 0x3f000}); err != nil {
		t.Fatal(err)
	}
	third := e.do(&Access{GVA: 0x500000, Kind: AccessWrite})
	spte, _ = e.leafSPTE(mmio)
	if !third.Result.OK || countEvents(third, EvCheck, "kvm_mmu_do_page_fault") != 1 ||
		mmioSPTEGeneration(spte) != e.m.slotsGen || e.m.slotsGen == gen {
		t.Fatalf("stale MMIO SPTE: %s; SPTE %s, generation %d", ResultString(third.Result), hex(spte), e.m.slotsGen)
	}
}

// TestNPTMMIO: NPT's MMIO SPTE sets reserved bit 51; with 52 physical
// address bits there is no reserved bit, so KVM emulates without one.
func TestNPTMMIO(t *testing.T) {
	const mmio = GPA(0xfee00000)
	for _, bits := range []int{46, 52} {
		cfg := DefaultConfig()
		cfg.MaxPhyAddr = bits
		e := newTestEnv(t, Paging4, cfg)
		e.mapPage(0x500000, mmio, PageSize, PTWritable)
		e.load()
		npt := npt4
		if bits > 48 {
			npt = npt5 // 4-level NPT caps the guest's MAXPHYADDR at 48
		}
		if err := e.m.EnableTDP(npt); err != nil {
			t.Fatal(err)
		}
		e.prefault(testPool, 64<<10)
		for i := 0; i < 2; i++ {
			st := e.do(&Access{GVA: 0x500000})
			spte, _ := e.leafSPTE(mmio)
			if !st.Result.OK || e.m.IsMMIOSPTE(spte) != (bits < 52) {
				t.Fatalf("%d bits, access %d: %s, SPTE %s", bits, i, ResultString(st.Result), hex(spte))
			}
			if i == 1 && bits < 52 && countEvents(st, EvCheck, "handle_mmio_page_fault") != 1 {
				t.Fatalf("no handle_mmio_page_fault on the #NPF with RSVD")
			}
		}
	}
}

// TestTDPSharedRoot: vCPUs with the same root role share one root; it
// counts a reference for each and one for the TDP MMU.
func TestTDPSharedRoot(t *testing.T) {
	m, err := NewMachine(DefaultConfig(), 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.EnableTDP(ept4); err != nil {
		t.Fatal(err)
	}
	pages := m.TDPPages()
	r0, _ := m.TDPRoot(0)
	r2, _ := m.TDPRoot(2)
	if len(pages) != 1 || pages[0].RootCount != 4 || r0 != r2 || !pages[0].Role.Direct() || pages[0].Level != 4 {
		t.Fatalf("pages %+v", pages)
	}
	if f, _ := m.TDPFormat(); f.Name != "EPT" || f.Levels != 4 || !f.AD {
		t.Fatalf("format %+v", f)
	}
	if eptp, _ := m.EPTP(0); eptp != uint64(r0)|0x5e {
		t.Fatalf("EPTP %s", hex(eptp))
	}
}

// TestEnableTDPErrors: what EnableTDP refuses, and KVM's choice of 4-level
// EPT when 48 bits of GPA suffice.
func TestEnableTDPErrors(t *testing.T) {
	for _, c := range []struct {
		cfg  TDPConfig
		bits int
		want string
	}{
		{TDPConfig{Kind: TDPEPT, Levels: 3}, 46, "4 or 5 levels"},
		{TDPConfig{Kind: 7, Levels: 4}, 46, "neither"},
		{TDPConfig{Kind: TDPNPT, Levels: 4, ExecOnly: true}, 46, "execute-only"},
		{TDPConfig{Kind: TDPEPT, Levels: 4}, 52, "caps the guest's MAXPHYADDR"},
	} {
		cfg := DefaultConfig()
		cfg.MaxPhyAddr = c.bits
		m, _ := NewMachine(cfg, 1)
		if err := m.EnableTDP(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v", c.cfg, err)
		}
	}
	m, _ := NewMachine(DefaultConfig(), 1)
	if err := m.EnableTDP(ept5); err != nil {
		t.Fatal(err)
	}
	if f, _ := m.TDPFormat(); f.Levels != 4 {
		t.Errorf("5-level EPT with 46-bit GPAs: KVM uses %d levels, want 4", f.Levels)
	}
	if err := m.EnableTDP(ept4); err == nil {
		t.Error("EnableTDP twice")
	}
}
