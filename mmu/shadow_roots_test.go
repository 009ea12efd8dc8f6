package mmu

import (
	"fmt"
	"testing"
)

// Tests of the roots: PAE shadows with quadrants, PAE guests, the special
// roots, passthrough roots and the level-expanded variant, and what a CR3
// switch does to each.

// TestShadow32BitQuadrants: pae_root[i] shadows quarter i of a 32-bit
// guest's page directory; a guest page table is shadowed by two level-1
// pages; a 4 MiB page becomes two 2 MiB SPTEs in host-2M memory.
func TestShadow32BitQuadrants(t *testing.T) {
	e := shadowEnv(t, Paging32, ShadowConfig{})
	slot := Memslot{ID: 9, BaseGFN: 0x4000, NPages: 2048, BasePFN: 0x30000, HostPageSize: 2 << 20}
	if err := e.m.AddMemslot(slot); err != nil {
		t.Fatal(err)
	}
	e.mapPage(0x400000, 0x200000, PageSize, PTWritable|PTUser)
	e.mapPage(0x600000, 0x300000, PageSize, PTWritable|PTUser)
	e.mapPage(0x800000, 0x4000000, 4<<20, PTWritable|PTUser)
	e.load()
	st := e.doCheck(read(0x400000, true))
	if st.Result.Refs != 2 {
		t.Errorf("refs %d, want 2 (PAE: the PDPTE is a register)", st.Result.Refs)
	}
	roots, _ := e.m.ShadowRoots(0)
	if roots.RootIsPage || roots.Root != roots.PAERoot || roots.Level != 3 {
		t.Fatalf("roots %+v", roots)
	}
	for i, pdpte := range roots.PAEEntries {
		p, ok := e.m.ShadowPageAt(HPA(pdpte & eptAddrMask))
		if !ok || p.Level != 2 || p.Quadrant != i || p.GFN != e.g.Root.GFN() || p.RootCount != 1 || pdpte&^eptAddrMask != PTPresent {
			t.Errorf("pae_root[%d] = %s: %+v", i, hex(pdpte), p)
		}
	}
	e.doCheck(read(0x600000, true))
	var halves []ShadowPage
	for _, p := range e.m.ShadowPages() {
		if p.Level == 1 {
			halves = append(halves, p)
		}
	}
	if len(halves) != 2 || halves[0].GFN != halves[1].GFN || halves[0].Quadrant+halves[1].Quadrant != 1 ||
		halves[0].GuestTable+halves[1].GuestTable != 2*halves[0].GFN.GPA()+0x800 {
		t.Errorf("level-1 halves: %+v", halves)
	}
	for _, gva := range []GVA{0x800000, 0xa00000} {
		st := e.doCheck(read(gva, true))
		levels, _, _ := e.m.ShadowPath(0, gva)
		if st.Result.Refs != 1 || len(levels) != 2 || !levels[1].Leaf || levels[1].Value&PTPageSize == 0 {
			t.Errorf("4 MiB page at %s: %+v %+v", gva, st.Result, levels)
		}
	}
	// A 4-byte PDE write zaps both 2 MiB halves.
	st = e.doCheck(&GuestWrite{GPA: e.entryGPA(0x800000, 2), Size: 4, Value: 0x40000a5})
	zaps := 0
	for _, ev := range st.Events {
		if ev.Kind == EvZap && ev.Func == "kvm_mmu_track_write" {
			zaps++
		}
	}
	if zaps != 2 {
		t.Errorf("a 4 MiB PDE write zapped %d SPTEs, want 2", zaps)
	}
}

// TestShadowPAEGuest: pae_root follows the PDPTRs; a non-present PDPTE
// is INVALID_PAE_ROOT; new PDPTEs at a CR3 write rebuild it.
func TestShadowPAEGuest(t *testing.T) {
	e := shadowEnv(t, PagingPAE, ShadowConfig{})
	e.mapPage(0x400000, 0x200000, PageSize, PTWritable|PTUser)
	e.mapPage(0x80000000, 0x300000, PageSize, PTWritable|PTUser)
	e.load()
	e.doCheck(read(0x400000, true))
	roots, _ := e.m.ShadowRoots(0)
	if roots.PAEEntries[1] != 0 || roots.PAEEntries[3] != 0 || roots.PAEEntries[0] == 0 || roots.PAEEntries[2] == 0 {
		t.Fatalf("pae_root %x", roots.PAEEntries)
	}
	p0, _ := e.m.ShadowPageAt(HPA(roots.PAEEntries[0] & eptAddrMask))
	if p0.GFN != GPA(e.m.VCPUs[0].PDPTRs[0]&bits(12, 51)).GFN() || p0.Quadrant != 0 {
		t.Errorf("pae_root[0] shadows %+v", p0)
	}
	if st := e.doCheck(read(0x40000000, false)); st.Result.Fault == nil || st.Result.Refs != 0 {
		t.Errorf("PDPTE 1: %+v", st.Result)
	}
	// PDPTE 1 now points to PDPTE 2's page directory, and CR3 is written.
	pd2 := e.m.VCPUs[0].PDPTRs[2]
	if err := e.m.WriteGuest(e.g.Root+8, 8, pd2); err != nil {
		t.Fatal(err)
	}
	st := e.doCheck(&SetReg{Reg: RegCR3, Value: e.regs.CR3})
	if !hasFunc(st, "kvm_mmu_free_roots") {
		t.Errorf("CR3 write with new PDPTEs: %v", funcs(st))
	}
	roots, _ = e.m.ShadowRoots(0)
	if roots.PAEEntries[1] != roots.PAEEntries[2] || roots.PAEEntries[1] == 0 {
		t.Errorf("pae_root %x", roots.PAEEntries)
	}
	if st := e.doCheck(read(0x40000000, true)); st.Result.GPA != 0x300000 {
		t.Errorf("through PDPTE 1: %+v", st.Result)
	}
}

// rootCase is a guest mode under a forced root level and variant.
type rootCase struct {
	mode    PagingMode
	level   int
	variant ShadowVariant
	// refs of a hit; pages after the first fault (shadow pages, special
	// pages in use); whether the root is a shadow page and passthrough.
	refs, pages, special int
	rootIsPage, pass     bool
}

var rootCases = []rootCase{
	{Paging32, 0, ShadowMerged, 2, 5, 1, false, false},
	{Paging32, 4, ShadowMerged, 4, 5, 2, false, false},
	{Paging32, 5, ShadowMerged, 5, 5, 3, false, false},
	{Paging32, 4, ShadowLevelExpanded, 4, 7, 0, true, true},
	{Paging32, 5, ShadowLevelExpanded, 5, 8, 0, true, true},
	{PagingPAE, 0, ShadowMerged, 2, 2, 1, false, false},
	{PagingPAE, 5, ShadowMerged, 5, 2, 3, false, false},
	{PagingPAE, 5, ShadowLevelExpanded, 5, 5, 0, true, true},
	{Paging4, 5, ShadowMerged, 5, 5, 0, true, true},
	{Paging4, 5, ShadowLevelExpanded, 5, 5, 0, true, true},
	{Paging4, 4, ShadowMerged, 4, 4, 0, true, false},
	{Paging5, 0, ShadowMerged, 5, 5, 0, true, false},
	{Paging5, 4, ShadowMerged, 5, 5, 0, true, false},
}

// TestShadowRootLevels: every guest mode under every root level, both
// variants: the processor walks the root's levels; what is a shadow page
// and what is special.
func TestShadowRootLevels(t *testing.T) {
	for _, tc := range rootCases {
		t.Run(fmt.Sprintf("%s-on-%d-%s", modeShort(tc.mode), tc.level, tc.variant), func(t *testing.T) {
			e := shadowEnv(t, tc.mode, ShadowConfig{RootLevel: tc.level, Variant: tc.variant})
			e.mapPage(0x400000, 0x200000, PageSize, PTWritable|PTUser)
			e.load()
			e.doCheck(read(0x400123, true))
			st := e.doCheck(read(0x400123, true))
			if st.Result.Refs != tc.refs || st.Result.HPA != testRAMPFN<<PageShift+0x200123 {
				t.Errorf("hit: %+v, want %d refs", st.Result, tc.refs)
			}
			roots, _ := e.m.ShadowRoots(0)
			special := 0
			for _, h := range []HPA{roots.PML5Root, roots.PML4Root} {
				if h != 0 {
					special++
				}
			}
			if !roots.RootIsPage {
				special++ // pae_root
			}
			if n := len(e.m.ShadowPages()); n != tc.pages || special != tc.special || roots.RootIsPage != tc.rootIsPage {
				t.Errorf("%d pages, %d special, root is a page %v; want %d, %d, %v", n, special, roots.RootIsPage,
					tc.pages, tc.special, tc.rootIsPage)
			}
			if roots.RootIsPage {
				p, _ := e.m.ShadowPageAt(roots.Root)
				if p.Passthrough != tc.pass || p.RootCount != 1 {
					t.Errorf("root %+v", p)
				}
			}
		})
	}
}

// TestShadowCR3Switch: a root with no shadow page behind it is freed on a
// switch; a shadow-page root without a prev_roots cache too, but its pages
// stay in the hash and are found again.
func TestShadowCR3Switch(t *testing.T) {
	for _, tc := range rootCases {
		t.Run(fmt.Sprintf("%s-on-%d-%s", modeShort(tc.mode), tc.level, tc.variant), func(t *testing.T) {
			e := shadowEnv(t, tc.mode, ShadowConfig{RootLevel: tc.level, Variant: tc.variant})
			e.mapPage(0x400000, 0x200000, PageSize, PTWritable|PTUser)
			cr3A := e.g.CR3()
			g2, err := NewGuestTables(e.m, tc.mode, 0x300000, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := g2.Map(0x400000, 0x201000, PageSize, PTWritable|PTUser); err != nil {
				t.Fatal(err)
			}
			e.load()
			e.doCheck(read(0x400000, true))
			before := len(e.m.ShadowPages())
			e.doCheck(&SetReg{Reg: RegCR3, Value: g2.CR3()})
			if st := e.doCheck(read(0x400000, true)); st.Result.GPA != 0x201000 {
				t.Fatalf("process B: %+v", st.Result)
			}
			for _, p := range e.m.ShadowPages() {
				if p.Obsolete || p.Invalid {
					t.Errorf("switching zapped %+v", p)
				}
			}
			total := len(e.m.ShadowPages())
			e.doCheck(&SetReg{Reg: RegCR3, Value: cr3A})
			st := e.doCheck(read(0x400000, true))
			if st.Result.GPA != 0x200000 || hasFunc(st, "kvm_mmu_page_fault") || len(e.m.ShadowPages()) != total {
				t.Errorf("back to A: %+v, %d pages (had %d, %d before B)", st.Result, len(e.m.ShadowPages()), total, before)
			}
		})
	}
}

// TestShadowZapRootInUse: zapping a root a vCPU holds leaves it invalid
// until the vCPU frees it on its next entry.
func TestShadowZapRootInUse(t *testing.T) {
	e := shadowEnv(t, Paging4, ShadowConfig{})
	e.mapPage(0x400000, 0x200000, PageSize, PTWritable|PTUser)
	e.load()
	e.doCheck(read(0x400000, true))
	root := e.m.ShadowPages()[0]
	var invalid []*KVMMMUPage
	e.m.kvmMMUPrepareZapPage(e.m.shadow.spAt(root.HPA), &invalid)
	e.m.kvmMMUCommitZapPage(invalid)
	mustCheck(t, e.m, "after the zap")
	p, ok := e.m.ShadowPageAt(root.HPA)
	if !ok || !p.Invalid || p.RootCount != 1 || !e.m.VCPUs[0].ReqFreeObsoleteRoots {
		t.Fatalf("zapped root: %+v %v", p, ok)
	}
	st := e.doCheck(read(0x400000, true))
	if !hasFunc(st, "kvm_mmu_free_roots") || !st.Result.OK {
		t.Errorf("next entry: %v", funcs(st))
	}
	if _, ok := e.m.ShadowPageAt(root.HPA); ok && e.m.ShadowPages()[0].HPA == root.HPA && e.m.ShadowPages()[0].Invalid {
		t.Error("the invalid root was not freed")
	}
}

// TestShadowFloodAndMisaligned: three emulated writes to an upper-level
// table zap its page; a sub-4-byte write zaps a leaf page.
func TestShadowFloodAndMisaligned(t *testing.T) {
	e := shadowEnv(t, Paging4, ShadowConfig{})
	e.mapPage(0x400000, 0x200000, PageSize, PTWritable|PTUser)
	e.load()
	e.doCheck(read(0x400000, true))
	pd := e.entryGPA(0x400000, 2) &^ pageMask
	for i := 1; i <= 3; i++ {
		st := e.doCheck(&GuestWrite{GPA: pd + 0x800, Size: 8, Value: 0})
		if flooded := hasFunc(st, "kvm_mmu_prepare_zap_page"); flooded != (i == 3) {
			t.Errorf("write %d: flooded %v", i, flooded)
		}
	}
	for _, p := range e.m.ShadowPages() {
		if p.GFN == pd.GFN() && p.Level == 2 {
			t.Errorf("the PD's page survived: %+v", p)
		}
	}
	e.doCheck(read(0x400000, true))
	pt := e.entryGPA(0x400000, 1)
	st := e.doCheck(&GuestWrite{GPA: pt + 2, Size: 2, Value: uint64(e.entry(0x400000, 1)>>16) & 0xffff})
	if !hasFunc(st, "detect_write_misaligned") || !hasFunc(st, "kvm_mmu_free_shadow_page") {
		t.Errorf("misaligned: %v", funcs(st))
	}
	// One byte at the start of an entry is fine (clear_bit).
	st = e.doCheck(&GuestWrite{GPA: e.entryGPA(0x400000, 2), Size: 1, Value: uint64(e.entry(0x400000, 2)) & 0xff})
	if hasFunc(st, "detect_write_misaligned") {
		t.Errorf("1-byte write: %v", funcs(st))
	}
}

// TestShadowMemslotRemoval: zap=all makes every page obsolete; zap=slot
// zaps the slot's pages and leaves.
func TestShadowMemslotRemoval(t *testing.T) {
	for _, slotOnly := range []bool{false, true} {
		e := shadowEnv(t, Paging4, ShadowConfig{})
		e.mapPage(0x400000, 0x200000, PageSize, PTWritable|PTUser)
		e.mapPage(0x800000, testHighGPA, PageSize, PTWritable|PTUser)
		e.load()
		e.doCheck(read(0x400000, true))
		e.doCheck(read(0x800000, true))
		st := e.doCheck(&RemoveMemslot{ID: 1, SlotZapOnly: slotOnly})
		if slotOnly == hasFunc(st, "kvm_mmu_zap_all_fast") {
			t.Errorf("slot only %v: %v", slotOnly, funcs(st))
		}
		if st := e.doCheck(read(0x800000, true)); !st.Result.OK || st.Result.HasHPA {
			t.Errorf("slot only %v: after removal %+v", slotOnly, st.Result)
		}
		if st := e.doCheck(read(0x400000, true)); st.Result.GPA != 0x200000 {
			t.Errorf("slot only %v: %+v", slotOnly, st.Result)
		}
	}
}

// TestPrevRootsView checks that ShadowRoots shows prev_roots, MRU first,
// and that Clone copies them apart from the original.
func TestPrevRootsView(t *testing.T) {
	m, cr3s := processesEnv(t, 1)
	own, other := cr3s[0], cr3s[1]
	read := func() {
		if st, err := m.Do(&Access{GVA: 0x400000, Kind: AccessRead, User: true}); err != nil || !st.Result.OK {
			t.Fatalf("%v %+v", err, st.Result)
		}
	}
	read()
	first, _ := m.ShadowRoots(0)
	if _, err := m.Do(&SetReg{Reg: RegCR3, Value: other}); err != nil {
		t.Fatal(err)
	}
	read()
	r, _ := m.ShadowRoots(0)
	if !r.Prev[0].Valid || r.Prev[0].PGD != own || r.Prev[0].Root != first.Root || r.Prev[0].Obsolete || r.Prev[1].Valid {
		t.Fatalf("prev_roots %+v, want [CR3 %#x → %s]", r.Prev, own, first.Root)
	}
	c := m.Clone()
	if _, err := m.Do(&SetReg{Reg: RegCR3, Value: own}); err != nil {
		t.Fatal(err)
	}
	if r, _ := m.ShadowRoots(0); r.Root != first.Root || r.Prev[0].PGD != other {
		t.Fatalf("after switching back: %+v", r)
	}
	if r, _ := c.ShadowRoots(0); r.Prev[0].PGD != own {
		t.Fatalf("the clone's prev_roots changed with the original: %+v", r.Prev)
	}
	mustCheck(t, m, "the end")
	mustCheck(t, c, "the clone")
}

// TestCachedRootFindWithoutCurrent checks the hit with no current root:
// the found entry becomes current, the entries after it move up, and the
// last slot empties (cached_root_find_without_current).
func TestCachedRootFindWithoutCurrent(t *testing.T) {
	m, cr3s := processesEnv(t, 3)
	for i, c := range cr3s {
		if i > 0 {
			if _, err := m.Do(&SetReg{Reg: RegCR3, Value: c}); err != nil {
				t.Fatal(err)
			}
		}
		if st, err := m.Do(&Access{GVA: 0x400000, Kind: AccessRead, User: true}); err != nil || !st.Result.OK {
			t.Fatalf("%v %+v", err, st.Result)
		}
	}
	v := m.VCPUs[0]
	// Current: cr3s[3]; prev_roots: cr3s[2], cr3s[1], cr3s[0].
	m.kvmMMUFreeRootsShadow(v, &v.RootMMU, "test")
	m.kvmMMUNewPGD(v, cr3s[1])
	mmu := &v.RootMMU
	if !mmu.RootValid || mmu.RootPGD != cr3s[1] {
		t.Fatalf("current %+v, want CR3 %#x", currentRoot(mmu), cr3s[1])
	}
	if mmu.PrevRoots[0].PGD != cr3s[2] || mmu.PrevRoots[1].PGD != cr3s[0] || mmu.PrevRoots[2].Valid {
		t.Fatalf("prev_roots %+v, want [%#x %#x empty]", mmu.PrevRoots, cr3s[2], cr3s[0])
	}
	if err := m.shadowResume(v); err != nil {
		t.Fatal(err)
	}
	mustCheck(t, m, "the end")
}

// processesEnv is a shadow-paged 4-level vCPU with GVA 0x400000 mapped,
// plus n more top-level tables outside the tables' pool, each sharing the
// first one's PDPT: n+1 guest processes. It returns their CR3s, the
// vCPU's own first.
func processesEnv(t *testing.T, n int) (*Machine, []uint64) {
	t.Helper()
	e := shadowEnv(t, Paging4, ShadowConfig{})
	m, g := e.m, e.g
	if _, err := g.Map(0x400000, 0x200000, PageSize, PTWritable|PTUser); err != nil {
		t.Fatal(err)
	}
	if err := m.SetupRegs(0, e.regs); err != nil {
		t.Fatal(err)
	}
	pml4e, err := m.ReadGuest(GPA(g.CR3()), 8)
	if err != nil {
		t.Fatal(err)
	}
	cr3s := []uint64{g.CR3()}
	for i := 0; i < n; i++ {
		c := uint64(testPool+testPoolSize) + uint64(i)*PageSize
		if err := m.WriteGuest(GPA(c), 8, pml4e); err != nil {
			t.Fatal(err)
		}
		cr3s = append(cr3s, c)
	}
	return m, cr3s
}
