package mmu

import (
	"strings"
	"testing"
)

// Tests of the shadow MMU, item by item: the hash and roles, the fault
// path, write protection, unsync and sync, PAE shadows, special and
// passthrough roots, zapping, the invariant checker.

func TestKVMPageTableHashfn(t *testing.T) {
	// hash_64(gfn, 12): the top 12 bits of gfn * GOLDEN_RATIO_64.
	for _, tc := range []struct {
		gfn  GFN
		want int
	}{{0, 0}, {1, 0x61c}, {0x100, 3208}, {0x101, 676}, {0x103, 3805}} {
		if got := kvmPageTableHashfn(tc.gfn); got != tc.want {
			t.Errorf("hash(%s) = %d, want %d", tc.gfn, got, tc.want)
		}
	}
	for gfn := GFN(0); gfn < 5000; gfn += 7 {
		if h := kvmPageTableHashfn(gfn); h < 0 || h >= mmuHashSize {
			t.Fatalf("hash(%s) = %d", gfn, h)
		}
	}
}

// TestShadowFaultBuildsPages: the first access loads a root and faults;
// FNAME(fetch) makes one shadow page per guest table, each found by gfn
// and role; the retry walks 4 levels.
func TestShadowFaultBuildsPages(t *testing.T) {
	e := shadowEnv(t, Paging4, ShadowConfig{})
	e.mapPage(0x400000, 0x200000, PageSize, PTWritable|PTUser)
	e.mapPage(0x401000, 0x201000, PageSize, PTWritable|PTUser)
	e.load()
	st := e.doCheck(read(0x400123, true))
	r := st.Result
	if !r.OK || r.GPA != 0x200123 || r.HPA != testRAMPFN<<PageShift+0x200123 || r.Refs != 4 || r.RefsTotal != 5 {
		t.Fatalf("first read: %+v", r)
	}
	pages := e.m.ShadowPages()
	if len(pages) != 4 {
		t.Fatalf("%d shadow pages, want 4", len(pages))
	}
	path := e.path(0x400123)
	for i, p := range pages {
		if p.Level != 4-i || !p.HasGPTEs || p.GFN != path[p.Level].GFN() {
			t.Errorf("page %d: %+v, want level %d GFN %s", i, p, 4-i, path[4-i].GFN())
		}
	}
	if pages[0].RootCount != 1 || pages[1].RootCount != 0 {
		t.Errorf("root counts %d %d", pages[0].RootCount, pages[1].RootCount)
	}
	// Upper-level tables are write-tracked, the PT only disallows huge
	// pages.
	for _, p := range pages {
		if n, tracked := e.m.WriteTracked(p.GFN); tracked != (p.Level > 1) || (tracked && n != 1) {
			t.Errorf("level %d GFN %s: write tracked %v (%d)", p.Level, p.GFN, tracked, n)
		}
	}
	// A hit walks the shadow tables only.
	st = e.doCheck(read(0x400123, true))
	if st.Result.Refs != 4 || st.Result.HasRefsTotal || hasFunc(st, "kvm_mmu_page_fault") {
		t.Errorf("hit: %+v %v", st.Result, funcs(st))
	}
	// The neighbour shares every page; the write sets D and maps writable.
	st = e.doCheck(write(0x401000, true))
	if len(e.m.ShadowPages()) != 4 || st.Result.RefsTotal != 8 {
		t.Errorf("neighbour: %d pages, %+v", len(e.m.ShadowPages()), st.Result)
	}
	if spte := spteAt(e.m, 0x401000); spte&PTWritable == 0 || spte&PTDirty == 0 || spte&PTUser == 0 {
		t.Errorf("leaf %s", hex(spte))
	}
	// A read of a clean page maps it read-only (protect_clean_gpte).
	if spte := spteAt(e.m, 0x400000); spte&PTWritable != 0 {
		t.Errorf("clean page mapped writable: %s", hex(spte))
	}
}

// TestShadowRoles: pages are shared only when gfn and the whole role match.
func TestShadowRoles(t *testing.T) {
	e := shadowEnv(t, Paging4, ShadowConfig{})
	e.mapPage(0x400000, 0x200000, PageSize, PTWritable|PTUser)
	// The same PT reached through a PDE without U: another access, another
	// level-1 page of the same GFN.
	pt := e.entryGPA(0x400000, 1) &^ pageMask
	if _, err := e.g.SetEntry(0x40000000, 2, PTE(uint64(pt))|PTPresent|PTWritable); err != nil {
		t.Fatal(err)
	}
	e.load()
	e.doCheck(read(0x400000, true))
	e.doCheck(read(0x40000000, false))
	var l1 []ShadowPage
	for _, p := range e.m.ShadowPages() {
		if p.Level == 1 {
			l1 = append(l1, p)
		}
	}
	if len(l1) != 2 || l1[0].GFN != l1[1].GFN || l1[0].Role == l1[1].Role {
		t.Fatalf("level-1 pages: %+v", l1)
	}
	if l1[0].Role.Access()|l1[1].Role.Access() != AccAll || l1[0].Role.Access()&l1[1].Role.Access()&AccUser != 0 {
		t.Errorf("accesses %s %s", accessString(l1[0].Role.Access()), accessString(l1[1].Role.Access()))
	}
}

// TestShadowGuestFaultInjected: a fault the guest's own tables cause is
// injected, with the walker's error code, and nothing is mapped.
func TestShadowGuestFaultInjected(t *testing.T) {
	e := shadowEnv(t, Paging4, ShadowConfig{})
	e.mapPage(0x400000, 0x200000, PageSize, PTUser)
	e.load()
	st := e.doCheck(write(0x400000, true))
	f := st.Result.Fault
	if f == nil || f.Vector != "#PF" || f.ErrorCode != PFErrPresent|PFErrWrite|PFErrUser {
		t.Fatalf("result %+v", st.Result)
	}
	if !hasFunc(st, "kvm_inject_emulated_page_fault") {
		t.Errorf("no injection: %v", funcs(st))
	}
	st = e.doCheck(read(0x500000, true))
	if st.Result.Fault == nil || st.Result.Fault.ErrorCode != PFErrUser {
		t.Errorf("not present: %+v", st.Result)
	}
}

// TestShadowWriteProtection: a store to a shadowed guest table traps and
// is emulated; kvm_mmu_track_write drops only the SPTEs it touched.
func TestShadowWriteProtection(t *testing.T) {
	e := shadowEnv(t, Paging4, ShadowConfig{})
	e.mapPage(0x400000, 0x200000, PageSize, PTWritable|PTUser)
	e.mapPage(0x401000, 0x201000, PageSize, PTWritable|PTUser)
	e.load()
	e.doCheck(read(0x400000, true))
	e.doCheck(read(0x401000, true))
	pte := e.entryGPA(0x401000, 1)
	st := e.doCheck(&GuestWrite{GPA: pte, Size: 8, Value: 0x202067})
	if !hasFunc(st, "kvm_mmu_track_write") || !hasFunc(st, "emulator_write_phys") {
		t.Fatalf("not emulated: %v", funcs(st))
	}
	if spteAt(e.m, 0x401000)&PTPresent != 0 || spteAt(e.m, 0x400000)&PTPresent == 0 {
		t.Errorf("zapped the wrong SPTE: %s %s", hex(spteAt(e.m, 0x401000)), hex(spteAt(e.m, 0x400000)))
	}
	if st := e.doCheck(read(0x401000, true)); st.Result.GPA != 0x202000 {
		t.Errorf("after the edit: %+v", st.Result)
	}
	// A store to a frame no shadow page covers goes straight through.
	st = e.doCheck(&GuestWrite{GPA: 0x300000, Size: 8, Value: 1})
	if hasFunc(st, "kvm_mmu_track_write") {
		t.Errorf("a data store was tracked: %v", funcs(st))
	}
	// A write through a mapping of an upper-level table: RET_PF_WRITE_PROTECTED.
	pd := e.entryGPA(0x400000, 2)
	e.mapPage(0x600000, pd&^pageMask, PageSize, PTWritable)
	st = e.doCheck(store(0x600000|GVA(pd&pageMask), 8, uint64(e.entry(0x400000, 2))))
	if !hasFunc(st, "kvm_mmu_write_protect_fault") || !hasFunc(st, "kvm_mmu_track_write") || !st.Result.OK {
		t.Errorf("PD write: %v %+v", funcs(st), st.Result)
	}
	// Again: the SPTE is present and read-only, so page_fault_handle_page_track.
	st = e.doCheck(store(0x600000|GVA(pd&pageMask), 8, uint64(e.entry(0x400000, 2))))
	if !hasFunc(st, "page_fault_handle_page_track") {
		t.Errorf("second PD write: %v", funcs(st))
	}
}

// TestDetectWriteMisaligned is detect_write_misaligned's table.
func TestDetectWriteMisaligned(t *testing.T) {
	sp64 := &KVMMMUPage{Role: PageRole(0).WithLevel(1)}
	sp32 := &KVMMMUPage{Role: PageRole(0).WithLevel(1).WithHas4ByteGPTE(true)}
	for _, tc := range []struct {
		sp    *KVMMMUPage
		off   GPA
		bytes int
		want  bool
	}{
		{sp64, 0, 8, false}, {sp64, 8, 8, false}, {sp64, 0, 1, false}, {sp64, 1, 1, true}, {sp64, 2, 2, true},
		{sp64, 4, 8, true}, {sp64, 0, 4, false}, {sp64, 4, 4, false}, {sp64, 6, 4, true},
		{sp32, 4, 4, false}, {sp32, 4, 1, false}, {sp32, 2, 4, true}, {sp32, 0, 8, true}, {sp32, 0, 2, true},
	} {
		if got := detectWriteMisaligned(tc.sp, 0x1000+tc.off, tc.bytes); got != tc.want {
			t.Errorf("4-byte %v, offset %d, %d bytes: %v", tc.sp.Role.Has4ByteGPTE(), tc.off, tc.bytes, got)
		}
	}
}

// TestGetWrittenSPTEs: offsets of 32-bit guest writes into PAE shadows.
func TestGetWrittenSPTEs(t *testing.T) {
	role := PageRole(0).WithHas4ByteGPTE(true)
	for _, tc := range []struct {
		level, quadrant int
		off             GPA
		ok              bool
		first, n        int
	}{
		{1, 0, 0, true, 0, 1}, {1, 0, 4, true, 1, 1}, {1, 0, 0x800, false, 0, 0}, {1, 1, 0x800, true, 0, 1},
		{1, 1, 0xffc, true, 511, 1}, {2, 0, 8, true, 4, 2}, {2, 1, 0x400, true, 0, 2}, {2, 3, 0xffc, true, 510, 2},
		{2, 2, 0x400, false, 0, 0},
	} {
		sp := &KVMMMUPage{Role: role.WithLevel(tc.level).WithQuadrant(tc.quadrant), SPT: 0x5000}
		first, n, ok := getWrittenSPTEs(sp, 0x3000+tc.off)
		if ok != tc.ok || (ok && (first != 0x5000+HPA(8*tc.first) || n != tc.n)) {
			t.Errorf("level %d quadrant %d offset %s: %s %d %v", tc.level, tc.quadrant, tc.off, first, n, ok)
		}
	}
	sp := &KVMMMUPage{Role: PageRole(0).WithLevel(2), SPT: 0x5000}
	if first, n, ok := getWrittenSPTEs(sp, 0x3018); !ok || first != 0x5018 || n != 1 {
		t.Errorf("64-bit: %s %d %v", first, n, ok)
	}
}

// TestShadowUnsync: writing a leaf table through a mapping unsyncs its
// shadow page; the old translation stays until INVLPG resyncs that SPTE
// or a CR3 write resyncs the whole page.
func TestShadowUnsync(t *testing.T) {
	e := shadowEnv(t, Paging4, ShadowConfig{})
	e.mapPage(0x400000, 0x200000, PageSize, PTWritable|PTUser)
	e.mapPage(0x401000, 0x201000, PageSize, PTWritable|PTUser)
	pt := e.entryGPA(0x400000, 1) &^ pageMask
	e.mapPage(0x600000, pt, PageSize, PTWritable)
	e.load()
	e.doCheck(read(0x400000, true))
	e.doCheck(read(0x401000, true))
	st := e.doCheck(store(0x600008, 8, 0x203067))
	if !hasFunc(st, "kvm_unsync_page") || !hasFunc(st, "mark_unsync") || hasFunc(st, "kvm_mmu_track_write") {
		t.Fatalf("unsync: %v", funcs(st))
	}
	var unsync int
	for _, p := range e.m.ShadowPages() {
		if p.Unsync {
			unsync++
			if p.Level != 1 || p.GFN != pt.GFN() {
				t.Errorf("unsync page %+v", p)
			}
		} else if p.Level > 1 && p.UnsyncChildren != 1 {
			t.Errorf("level %d: unsync_children %d", p.Level, p.UnsyncChildren)
		}
	}
	if unsync != 1 {
		t.Fatalf("%d unsync pages", unsync)
	}
	// Stale: the shadow SPTE still maps the old frame.
	if st := e.doCheck(read(0x401000, true)); st.Result.GPA != 0x201000 || hasFunc(st, "kvm_mmu_page_fault") {
		t.Errorf("stale read: %+v", st.Result)
	}
	// Another edit goes straight through: the mapping is writable now.
	if st := e.doCheck(store(0x600000, 8, 0)); hasFunc(st, "kvm_mmu_page_fault") {
		t.Errorf("second edit faulted: %v", funcs(st))
	}
	// INVLPG resyncs only that GVA.
	st = e.doCheck(&Invlpg{GVA: 0x401000})
	if !hasFunc(st, "paging64_sync_spte") {
		t.Errorf("invlpg: %v", funcs(st))
	}
	if st := e.doCheck(read(0x401000, true)); st.Result.GPA != 0x203000 {
		t.Errorf("after invlpg: %+v", st.Result)
	}
	if st := e.doCheck(read(0x400000, true)); !st.Result.OK {
		t.Errorf("0x400000 should still be stale: %+v", st.Result)
	}
	// A CR3 write resyncs the page: 0x400000's PTE is gone.
	st = e.doCheck(&SetReg{Reg: RegCR3, Value: e.regs.CR3})
	if !hasFunc(st, "kvm_mmu_sync_roots") || !hasFunc(st, "kvm_unlink_unsync_page") {
		t.Errorf("cr3: %v", funcs(st))
	}
	if st := e.doCheck(read(0x400000, true)); st.Result.Fault == nil {
		t.Errorf("after the sync: %+v", st.Result)
	}
	for _, p := range e.m.ShadowPages() {
		if p.Unsync || p.UnsyncChildren != 0 {
			t.Errorf("still unsync: %+v", p)
		}
	}
	// The window is write-protected again.
	if spte := spteAt(e.m, 0x600000); spte&PTWritable != 0 {
		t.Errorf("window still writable: %s", hex(spte))
	}
}

// TestShadowWPRule: with CR0.WP=0 a supervisor write to a read-only page
// is mapped W=1 U=0, and with SMEP X=0.
func TestShadowWPRule(t *testing.T) {
	e := shadowEnv(t, Paging4, ShadowConfig{})
	e.regs.CR0 &^= CR0WP
	e.regs.CR4 |= CR4SMEP
	e.mapPage(0x400000, 0x200000, PageSize, PTUser)
	e.load()
	st := e.doCheck(write(0x400000, false))
	if !st.Result.OK {
		t.Fatalf("write: %+v", st.Result)
	}
	spte := spteAt(e.m, 0x400000)
	if spte&PTWritable == 0 || spte&PTUser != 0 || spte&PTNX == 0 {
		t.Errorf("SPTE %s: want W, no U, NX", DecodeFlags(PTE(spte), 1, true))
	}
	if r := e.m.ShadowPages()[0].Role; r.CR0WP() || !r.SMEPAndNotWP() {
		t.Errorf("root role %s", r)
	}
	// A user read remaps it with the guest's rights.
	st = e.doCheck(read(0x400000, true))
	if spte := spteAt(e.m, 0x400000); !st.Result.OK || spte&PTWritable != 0 || spte&PTUser == 0 {
		t.Errorf("user read: %+v %s", st.Result, hex(spte))
	}
	// CR0.WP back on: another role, another root.
	before := e.m.ShadowPages()[0].HPA
	st = e.doCheck(&SetReg{Reg: RegCR0, Op: RegSetBits, Value: CR0WP})
	if !hasFunc(st, "kvm_mmu_reset_context") {
		t.Errorf("no reset: %v", funcs(st))
	}
	if r, _ := e.m.ShadowRoots(0); r.Root == before {
		t.Errorf("the root survived a role change")
	}
}

// TestShadowMMIO: a guest page outside every memslot gets an MMIO SPTE;
// the next access goes straight to emulation.
func TestShadowMMIO(t *testing.T) {
	e := shadowEnv(t, Paging4, ShadowConfig{})
	e.mapPage(0x400000, 0xfee00000, PageSize, PTWritable)
	e.load()
	st := e.doCheck(read(0x400000, false))
	if !st.Result.OK || st.Result.HasHPA || !hasFunc(st, "mark_mmio_spte") {
		t.Fatalf("first: %+v %v", st.Result, funcs(st))
	}
	st = e.doCheck(read(0x400000, false))
	if !hasFunc(st, "handle_mmio_page_fault") || hasFunc(st, "walk_addr_generic") {
		t.Errorf("second: %v", funcs(st))
	}
}

// TestShadowEnableErrors: what EnableShadow refuses.
func TestShadowEnableErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  ShadowConfig
		want string
	}{
		{ShadowConfig{RootLevel: 3}, "4 or 5"},
		{ShadowConfig{Variant: ShadowLevelExpanded}, "root level"},
		{ShadowConfig{Variant: 7}, "no shadow variant"},
	} {
		m, _ := NewMachine(DefaultConfig(), 1)
		if err := m.EnableShadow(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v", tc.cfg, err)
		}
	}
	m, _ := NewMachine(DefaultConfig(), 1)
	if err := m.EnableShadow(ShadowConfig{}); err != nil || m.EnableShadow(ShadowConfig{}) == nil {
		t.Errorf("enable twice: %v", err)
	}
	if err := m.EnableTDP(TDPConfig{Kind: TDPEPT, Levels: 4}); err == nil {
		t.Error("EPT on top of shadow paging")
	}
	m, _ = NewMachine(DefaultConfig(), 1)
	_ = m.EnableTDP(TDPConfig{Kind: TDPEPT, Levels: 4})
	if err := m.EnableShadow(ShadowConfig{}); err == nil {
		t.Error("shadow on top of EPT")
	}
	m, _ = NewMachine(DefaultConfig(), 1)
	_ = m.EnableShadow(ShadowConfig{})
	if err := m.SetupRegs(0, Regs{CR0: CR0PE | CR0PG, CR4: CR4PAE | CR4PKE, EFER: EFERLME | EFERLMA}); err == nil {
		t.Error("PKE under shadow paging")
	}
}

// TestShadowTwoVCPUs: two vCPUs with the same CR3 share the root page
// (root_count 2) and every shadow page; a CR3 switch of one leaves the
// other's root alone.
func TestShadowTwoVCPUs(t *testing.T) {
	m, err := NewMachine(DefaultConfig(), 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.AddMemslot(Memslot{ID: 0, NPages: testRAMPages, BasePFN: testRAMPFN}); err != nil {
		t.Fatal(err)
	}
	if err := m.EnableShadow(ShadowConfig{}); err != nil {
		t.Fatal(err)
	}
	g, _ := NewGuestTables(m, Paging4, testPool, testPoolSize)
	g2, _ := NewGuestTables(m, Paging4, testPool+testPoolSize, testPoolSize)
	for _, tg := range []*GuestTables{g, g2} {
		if _, err := tg.Map(0x400000, 0x200000, PageSize, PTWritable|PTUser); err != nil {
			t.Fatal(err)
		}
	}
	regs := defaultRegs(Paging4)
	regs.CR3 = g.CR3()
	for id := 0; id < 2; id++ {
		if err := m.SetupRegs(id, regs); err != nil {
			t.Fatal(err)
		}
	}
	for id := 0; id < 2; id++ {
		if st, err := m.Do(&Access{VCPU: id, GVA: 0x400000, Kind: AccessRead, User: true}); err != nil || !st.Result.OK {
			t.Fatalf("vCPU %d: %v %+v", id, err, st.Result)
		}
		mustCheck(t, m, "after an access")
	}
	r0, _ := m.ShadowRoots(0)
	r1, _ := m.ShadowRoots(1)
	if p, _ := m.ShadowPageAt(r0.Root); r0.Root != r1.Root || p.RootCount != 2 || len(m.ShadowPages()) != 4 {
		t.Fatalf("roots %s %s, %+v, %d pages", r0.Root, r1.Root, p, len(m.ShadowPages()))
	}
	if _, err := m.Do(&SetReg{VCPU: 1, Reg: RegCR3, Value: g2.CR3()}); err != nil {
		t.Fatal(err)
	}
	mustCheck(t, m, "after vCPU 1's CR3 write")
	// vCPU 1 keeps its old root in prev_roots: still two holders.
	if p, _ := m.ShadowPageAt(r0.Root); p.RootCount != 2 || m.VCPUs[1].RootMMU.PrevRoots[0].HPA != r0.Root {
		t.Errorf("vCPU 0's root: %+v, vCPU 1's prev_roots %+v", p, m.VCPUs[1].RootMMU.PrevRoots)
	}
	if st, _ := m.Do(&Access{VCPU: 1, GVA: 0x400000, Kind: AccessRead, User: true}); !st.Result.OK {
		t.Errorf("vCPU 1 on its new tables: %+v", st.Result)
	}
	mustCheck(t, m, "the end")
}

// TestShadowPagingOff: with paging off KVM maps GPA = GVA through direct
// pages (nonpaging_page_fault, direct_map), 2 MiB where it can; turning
// paging on switches to the guest's tables.
func TestShadowPagingOff(t *testing.T) {
	for _, cfg := range []ShadowConfig{{}, {RootLevel: 5}} {
		e := shadowEnv(t, PagingOff, cfg)
		e.load()
		st := e.doCheck(write(0x12345, false))
		if !st.Result.OK || st.Result.GPA != 0x12345 || !hasFunc(st, "nonpaging_page_fault") || !hasFunc(st, "direct_map") &&
			!hasFunc(st, "mmu_set_spte") {
			t.Fatalf("root %d: %+v %v", cfg.RootLevel, st.Result, funcs(st))
		}
		for _, p := range e.m.ShadowPages() {
			if !p.Direct || p.HasGPTEs {
				t.Errorf("root %d: %+v", cfg.RootLevel, p)
			}
		}
		// Turn paging on (4-level tables from the pool).
		g, err := NewGuestTables(e.m, Paging4, testPool, testPoolSize)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := g.Map(0x400000, 0x200000, PageSize, PTWritable); err != nil {
			t.Fatal(err)
		}
		for _, a := range []Action{
			&SetReg{Reg: RegCR3, Value: g.CR3()},
			&SetReg{Reg: RegCR4, Op: RegSetBits, Value: CR4PAE},
			&SetReg{Reg: RegEFER, Op: RegSetBits, Value: EFERLME},
			&SetReg{Reg: RegCR0, Op: RegSetBits, Value: CR0PG | CR0WP},
		} {
			e.doCheck(a)
		}
		if st := e.doCheck(read(0x400000, false)); !st.Result.OK || st.Result.GPA != 0x200000 {
			t.Errorf("root %d, paging on: %+v", cfg.RootLevel, st.Result)
		}
	}
}
