package mmu

import (
	"fmt"
	"strings"
	"testing"
)

// The table-driven walk tests. Every case builds a fresh guest in each of
// its modes: a 4 KiB page at testGVA(mode) mapped to testGPA with P, W and
// U at every level (unless the case builds its own tables), CR0.WP=1,
// CR4.PSE=1, EFER.NX=1. Error codes are written out by hand from the SDM
// and from walk_addr_generic; the runner also checks that a fault writes
// nothing and that a success sets A on every entry it used and D on the
// leaf only for a write.

var pagingModes = []PagingMode{Paging32, PagingPAE, Paging4, Paging5}

// Error-code shorthands for the expectations below.
const (
	ecP    = PFErrPresent
	ecW    = PFErrWrite
	ecU    = PFErrUser
	ecRSVD = PFErrRsvd
	ecID   = PFErrFetch
	ecPK   = PFErrPK
)

const testGPA = GPA(0x345000)

// testGVA is an address with a non-zero index at every level of mode.
func testGVA(mode PagingMode) GVA {
	switch mode {
	case Paging4:
		return 0x00007f8080403000 // PML4 255, PDPT 2, PD 2, PT 3
	case Paging5:
		return 0x00ff7f8080403000 // PML5 255, then as 4-level
	}
	return 0x80403000 // 32-bit: PD 0x201, PT 3; PAE: PDPT 2, PD 2, PT 3
}

// walkRefs is the number of memory references of a 4 KiB walk: one per
// level, except that PAE's PDPTEs come from registers.
func walkRefs(mode PagingMode) int {
	switch mode {
	case Paging32, PagingPAE:
		return 2
	}
	return int(mode)
}

type walkWant struct {
	gp    bool   // #GP (non-canonical)
	err   bool   // Do returns an error (the mode cannot express the GVA)
	fault bool   // #PF with error code ec at level
	ec    uint64 //
	level int    //
	gpa   GPA    // on success; 0 means testGPA plus the GVA's page offset
	refs  int    // on success; 0 means walkRefs(mode)
	leaf  int    // level of the leaf on success; 0 means 1
	mmio  bool   // on success, no memslot backs the GPA
}

type walkCase struct {
	name  string
	modes []PagingMode // nil: all four
	cfg   func(c *Config)
	// build replaces the default mapping; it gets the GVA the case walks.
	build func(e *testEnv, gva GVA)
	// edit runs after the mapping and before the registers are loaded.
	edit func(e *testEnv, gva GVA)
	regs func(r *Regs)
	gva  func(mode PagingMode) GVA // default testGVA(mode) + 0x123
	kind AccessKind
	user bool
	impl bool
	want walkWant
	// wantFor overrides want per mode.
	wantFor func(mode PagingMode) walkWant
}

func (c *walkCase) run(t *testing.T, mode PagingMode) {
	cfg := DefaultConfig()
	if c.cfg != nil {
		c.cfg(&cfg)
	}
	e := newTestEnv(t, mode, cfg)
	gva := testGVA(mode) + 0x123
	if c.gva != nil {
		gva = c.gva(mode)
	}
	base := gva &^ pageMask
	if c.build != nil {
		c.build(e, gva)
	} else {
		e.mapPage(base, testGPA, PageSize, PTWritable|PTUser)
	}
	// The entries on gva's path, found before the case edits them.
	path := e.path(gva)
	if c.edit != nil {
		c.edit(e, gva)
	}
	if c.regs != nil {
		c.regs(&e.regs)
	}
	e.load()
	want := c.want
	if c.wantFor != nil {
		want = c.wantFor(mode)
	}
	before := snapshot(e.m)
	beforeRegs := e.m.VCPUs[0].Regs
	acc := &Access{GVA: gva, Kind: c.kind, User: c.user, Implicit: c.impl}
	st, err := e.m.Do(acc)
	if want.err {
		if err == nil {
			t.Fatalf("want an error, got %s", ResultString(st.Result))
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	r := st.Result
	after := snapshot(e.m)
	if e.m.VCPUs[0].Regs != beforeRegs {
		t.Errorf("an access changed the registers: %+v -> %+v", beforeRegs, e.m.VCPUs[0].Regs)
	}
	switch {
	case want.gp:
		if r.Fault == nil || r.Fault.Vector != "#GP" || r.OK {
			t.Fatalf("want #GP, got %s", ResultString(r))
		}
		if r.Refs != 0 {
			t.Errorf("#GP after %d memory references; it comes before the walk", r.Refs)
		}
	case want.fault:
		if r.Fault == nil || r.Fault.Vector != "#PF" || r.OK {
			t.Fatalf("want #PF %s (%s), got %s", hex(want.ec), DecodeErrorCode(want.ec), ResultString(r))
		}
		if r.Fault.ErrorCode != want.ec {
			t.Errorf("error code %s (%s), want %s (%s)", hex(r.Fault.ErrorCode), DecodeErrorCode(r.Fault.ErrorCode),
				hex(want.ec), DecodeErrorCode(want.ec))
		}
		if r.Fault.Level != want.level {
			t.Errorf("fault at level %d, want %d", r.Fault.Level, want.level)
		}
		if r.Fault.Addr != gva {
			t.Errorf("CR2 = %s, want %s", r.Fault.Addr, gva)
		}
	default:
		wgpa := want.gpa
		if wgpa == 0 {
			wgpa = testGPA + GPA(gva&pageMask)
		}
		if !r.OK || r.Fault != nil || r.GPA != wgpa {
			t.Fatalf("want GPA %s, got %s", wgpa, ResultString(r))
		}
		refs := want.refs
		if refs == 0 {
			refs = walkRefs(mode)
		}
		if mode == PagingOff {
			refs = 0
		}
		if r.Refs != refs {
			t.Errorf("%d memory references, want %d", r.Refs, refs)
		}
		if r.HasHPA == want.mmio {
			t.Errorf("HasHPA = %v, want %v (%s)", r.HasHPA, !want.mmio, ResultString(r))
		}
		if hpa, ok := e.m.GPAToHPA(wgpa); ok && r.HPA != hpa {
			t.Errorf("HPA %s, want %s", r.HPA, hpa)
		}
	}
	// What memory should hold now: unchanged after a fault, A on every
	// entry used and D on the leaf of a write after a success.
	expect := memSnapshot{}
	for k, v := range before {
		expect[k] = v
	}
	if r.OK && mode != PagingOff {
		leaf := want.leaf
		if leaf == 0 {
			leaf = 1
		}
		top := formatFor(mode).rootLevel
		if mode == PagingPAE {
			top = 2 // PDPTEs have no A bit and live in registers
		}
		for l := top; l >= leaf; l-- {
			gpa, ok := path[l]
			if !ok {
				t.Fatalf("no level-%d entry on the path", l)
			}
			hpa, _ := e.m.GPAToHPA(gpa)
			word := hpa &^ 7
			sh := uint(hpa&7) * 8
			set := uint64(PTAccessed)
			if l == leaf && c.kind == AccessWrite {
				set |= PTDirty
			}
			expect[word] |= set << sh
		}
	}
	if d := expect.diff(after); len(d) > 0 {
		t.Errorf("memory after %s (fault=%v):\n%s", ResultString(r), r.Fault != nil, strings.Join(d, "\n"))
	}
}

// notPresentCases clear P at each level; three accesses each show which
// error-code bits mirror the access.
func notPresentCases() []walkCase {
	var out []walkCase
	for _, mode := range pagingModes {
		for level := formatFor(mode).rootLevel; level >= 1; level-- {
			l := level
			clear := func(e *testEnv, gva GVA) { e.edit(gva, l, 0, PTPresent) }
			name := EntryName(mode, l)
			out = append(out,
				walkCase{name: "not present " + name + " user read", modes: []PagingMode{mode}, edit: clear,
					user: true, want: walkWant{fault: true, ec: ecU, level: l}},
				walkCase{name: "not present " + name + " supervisor write", modes: []PagingMode{mode}, edit: clear,
					kind: AccessWrite, want: walkWant{fault: true, ec: ecW, level: l}},
				walkCase{name: "not present " + name + " user fetch NX=1", modes: []PagingMode{mode}, edit: clear,
					kind: AccessFetch, user: true, want: walkWant{fault: true, ec: ecU | ecID, level: l}},
				walkCase{name: "not present " + name + " fetch NX=0 SMEP=0", modes: []PagingMode{mode}, edit: clear,
					regs: func(r *Regs) { r.EFER &^= EFERNX }, kind: AccessFetch,
					want: walkWant{fault: true, ec: 0, level: l}},
				walkCase{name: "not present " + name + " fetch NX=0 SMEP=1", modes: []PagingMode{mode}, edit: clear,
					regs: func(r *Regs) { r.EFER &^= EFERNX; r.CR4 |= CR4SMEP }, kind: AccessFetch,
					want: walkWant{fault: true, ec: ecID, level: l}},
			)
		}
	}
	return out
}

// rsvdCases set one reserved bit in one entry.
func rsvdCases() []walkCase {
	var out []walkCase
	wide := []PagingMode{PagingPAE, Paging4, Paging5}
	for _, mode := range wide {
		lo := 1
		top := formatFor(mode).rootLevel
		if mode == PagingPAE {
			top = 2 // PDPTEs are checked by load_pdptrs, below
		}
		for level := top; level >= lo; level-- {
			l := level
			name := EntryName(mode, l)
			out = append(out,
				walkCase{name: "bit MAXPHYADDR in " + name, modes: []PagingMode{mode},
					edit: func(e *testEnv, gva GVA) { e.edit(gva, l, 1<<46, 0) },
					user: true, want: walkWant{fault: true, ec: ecP | ecRSVD | ecU, level: l}},
				walkCase{name: "bit 51 in " + name, modes: []PagingMode{mode},
					edit: func(e *testEnv, gva GVA) { e.edit(gva, l, 1<<51, 0) },
					kind: AccessWrite, want: walkWant{fault: true, ec: ecP | ecRSVD | ecW, level: l}},
				walkCase{name: "bit 40 with MAXPHYADDR 40 in " + name, modes: []PagingMode{mode},
					cfg:  func(c *Config) { c.MaxPhyAddr = 40 },
					edit: func(e *testEnv, gva GVA) { e.edit(gva, l, 1<<40, 0) },
					user: true, want: walkWant{fault: true, ec: ecP | ecRSVD | ecU, level: l}},
				walkCase{name: "NX in " + name + " with EFER.NX=0", modes: []PagingMode{mode},
					edit: func(e *testEnv, gva GVA) { e.edit(gva, l, PTNX, 0) },
					regs: func(r *Regs) { r.EFER &^= EFERNX }, user: true,
					want: walkWant{fault: true, ec: ecP | ecRSVD | ecU, level: l}},
				walkCase{name: "NX in " + name + " with EFER.NX=0, fetch", modes: []PagingMode{mode},
					edit: func(e *testEnv, gva GVA) { e.edit(gva, l, PTNX, 0) },
					regs: func(r *Regs) { r.EFER &^= EFERNX }, kind: AccessFetch, user: true,
					want: walkWant{fault: true, ec: ecP | ecRSVD | ecU, level: l}},
				walkCase{name: "NX in " + name + " with EFER.NX=0, fetch, SMEP", modes: []PagingMode{mode},
					edit: func(e *testEnv, gva GVA) { e.edit(gva, l, PTNX, 0) },
					regs: func(r *Regs) { r.EFER &^= EFERNX; r.CR4 |= CR4SMEP }, kind: AccessFetch, user: true,
					want: walkWant{fault: true, ec: ecP | ecRSVD | ecU | ecID, level: l}},
			)
		}
	}
	for _, mode := range wide {
		out = append(out, walkCase{name: "bit 39 with MAXPHYADDR 40 in a PTE is an address bit", modes: []PagingMode{mode},
			cfg:  func(c *Config) { c.MaxPhyAddr = 40 },
			edit: func(e *testEnv, gva GVA) { e.edit(gva, 1, 1<<39, 0) },
			user: true, want: walkWant{gpa: testGPA + 0x123 + 1<<39, mmio: true}})
	}
	// Bits 62:52: reserved in PAE entries, ignored (or the protection key)
	// in long mode.
	for _, bit := range []uint{52, 58, 62} {
		b := bit
		out = append(out, walkCase{name: fmt.Sprintf("bit %d in a PTE", b), modes: wide,
			edit: func(e *testEnv, gva GVA) { e.edit(gva, 1, PTE(1)<<b, 0) }, user: true,
			wantFor: func(mode PagingMode) walkWant {
				if mode == PagingPAE {
					return walkWant{fault: true, ec: ecP | ecRSVD | ecU, level: 1}
				}
				return walkWant{}
			}})
	}
	out = append(out,
		walkCase{name: "PS in a PML4E", modes: []PagingMode{Paging4, Paging5},
			edit: func(e *testEnv, gva GVA) { e.edit(gva, 4, PTPageSize, 0) }, user: true,
			want: walkWant{fault: true, ec: ecP | ecRSVD | ecU, level: 4}},
		walkCase{name: "PS in a PML5E", modes: []PagingMode{Paging5},
			edit: func(e *testEnv, gva GVA) { e.edit(gva, 5, PTPageSize, 0) }, kind: AccessWrite, user: true,
			want: walkWant{fault: true, ec: ecP | ecRSVD | ecW | ecU, level: 5}},
		// The reserved-bit check comes before the permission check: a user
		// read of a supervisor page with a reserved bit is an RSVD fault.
		walkCase{name: "reserved bit beats a permission fault", modes: []PagingMode{Paging4},
			edit: func(e *testEnv, gva GVA) { e.edit(gva, 1, 1<<50, PTUser) }, user: true,
			want: walkWant{fault: true, ec: ecP | ecRSVD | ecU, level: 1}},
		// A reserved bit in a non-present entry does not matter.
		walkCase{name: "reserved bit in a non-present PTE", modes: []PagingMode{PagingPAE, Paging4, Paging5},
			edit: func(e *testEnv, gva GVA) { e.edit(gva, 1, 1<<50, PTPresent) }, user: true,
			want: walkWant{fault: true, ec: ecU, level: 1}},
	)
	return out
}

// hugeCases cover 4 MiB, 2 MiB and 1 GiB pages and their reserved bits.
func hugeCases() []walkCase {
	gva4M := func(PagingMode) GVA { return 0x80400000 + 0x1abcde }
	map4M := func(gpa GPA) func(e *testEnv, gva GVA) {
		return func(e *testEnv, gva GVA) { e.mapPage(gva&^0x3fffff, gpa, 4<<20, PTWritable|PTUser) }
	}
	only32 := []PagingMode{Paging32}
	gva2M := func(mode PagingMode) GVA { return testGVA(mode)&^0x1fffff + 0x1abcde }
	map2M := func(e *testEnv, gva GVA) { e.mapPage(gva&^0x1fffff, 0x600000, 2<<20, PTWritable|PTUser) }
	wide := []PagingMode{PagingPAE, Paging4, Paging5}
	refs2M := func(mode PagingMode) int { return map[PagingMode]int{PagingPAE: 1, Paging4: 3, Paging5: 4}[mode] }
	gva1G := func(mode PagingMode) GVA { return testGVA(mode)&^0x3fffffff + 0x123456 }
	map1G := func(e *testEnv, gva GVA) { e.mapPage(gva&^0x3fffffff, testGiantGPA, 1<<30, PTWritable|PTUser) }
	long := []PagingMode{Paging4, Paging5}
	refs1G := func(mode PagingMode) int { return int(mode) - 2 }
	return []walkCase{
		{name: "4 MiB page", modes: only32, gva: gva4M, build: map4M(0x800000), kind: AccessWrite, user: true,
			want: walkWant{gpa: 0x9abcde, refs: 1, leaf: 2}},
		{name: "4 MiB page above 4 GiB with PSE-36", modes: only32, gva: gva4M, build: map4M(testHighGPA),
			want: walkWant{gpa: testHighGPA + 0x1abcde, refs: 1, leaf: 2}},
		{name: "4 MiB page above 4 GiB without PSE-36: bits 16:13 reserved", modes: only32, gva: gva4M,
			cfg: func(c *Config) { c.PSE36 = false }, build: map4M(testHighGPA), user: true,
			want: walkWant{fault: true, ec: ecP | ecRSVD | ecU, level: 2}},
		{name: "4 MiB PDE bit 17 reserved with PSE-36", modes: only32, gva: gva4M, build: map4M(0x800000),
			edit: func(e *testEnv, gva GVA) { e.edit(gva, 2, 1<<17, 0) }, user: true,
			want: walkWant{fault: true, ec: ecP | ecRSVD | ecU, level: 2}},
		{name: "4 MiB PDE bit 21 reserved with PSE-36", modes: only32, gva: gva4M, build: map4M(0x800000),
			edit: func(e *testEnv, gva GVA) { e.edit(gva, 2, 1<<21, 0) }, kind: AccessWrite,
			want: walkWant{fault: true, ec: ecP | ecRSVD | ecW, level: 2}},
		{name: "4 MiB PDE bit 13 is PA bit 32 with PSE-36", modes: only32, gva: gva4M, build: map4M(0),
			edit: func(e *testEnv, gva GVA) { e.edit(gva, 2, 1<<13, 0) }, user: true,
			want: walkWant{gpa: testHighGPA + 0x1abcde, refs: 1, leaf: 2}},
		{name: "4 MiB PDE bit 13 reserved without PSE-36", modes: only32, gva: gva4M, build: map4M(0x800000),
			cfg:  func(c *Config) { c.PSE36 = false },
			edit: func(e *testEnv, gva GVA) { e.edit(gva, 2, 1<<13, 0) }, user: true,
			want: walkWant{fault: true, ec: ecP | ecRSVD | ecU, level: 2}},
		{name: "4 MiB PDE PAT bit 12 is not an address bit", modes: only32, gva: gva4M, build: map4M(0x800000),
			edit: func(e *testEnv, gva GVA) { e.edit(gva, 2, PTLargePAT, 0) }, user: true,
			want: walkWant{gpa: 0x9abcde, refs: 1, leaf: 2}},
		// With CR4.PSE=0, PS in a PDE is ignored: the PDE points to a PT.
		{name: "PS ignored with CR4.PSE=0", modes: only32,
			edit: func(e *testEnv, gva GVA) { e.edit(gva, 2, PTPageSize, 0) },
			regs: func(r *Regs) { r.CR4 &^= CR4PSE }, kind: AccessWrite, user: true,
			want: walkWant{}},
		// ...while with CR4.PSE=1 the same PDE maps 4 MiB, and the PT's
		// address (in the pool at 1 MiB) sets the reserved bit 20.
		{name: "same PDE with CR4.PSE=1", modes: only32,
			edit: func(e *testEnv, gva GVA) { e.edit(gva, 2, PTPageSize, 0) }, kind: AccessWrite, user: true,
			want: walkWant{fault: true, ec: ecP | ecRSVD | ecW | ecU, level: 2}},
		// PS in a PAE or long-mode PDE does not depend on CR4.PSE.
		{name: "2 MiB page with CR4.PSE=0", modes: wide, gva: gva2M, build: map2M,
			regs: func(r *Regs) { r.CR4 &^= CR4PSE }, user: true,
			wantFor: func(mode PagingMode) walkWant {
				return walkWant{gpa: 0x7abcde, refs: refs2M(mode), leaf: 2}
			}},
		{name: "2 MiB page write", modes: wide, gva: gva2M, build: map2M, kind: AccessWrite, user: true,
			wantFor: func(mode PagingMode) walkWant {
				return walkWant{gpa: 0x7abcde, refs: refs2M(mode), leaf: 2}
			}},
		{name: "2 MiB page PAT bit 12", modes: wide, gva: gva2M, build: map2M,
			edit: func(e *testEnv, gva GVA) { e.edit(gva, 2, PTLargePAT, 0) },
			wantFor: func(mode PagingMode) walkWant {
				return walkWant{gpa: 0x7abcde, refs: refs2M(mode), leaf: 2}
			}},
		{name: "2 MiB page bit 13 reserved", modes: wide, gva: gva2M, build: map2M,
			edit: func(e *testEnv, gva GVA) { e.edit(gva, 2, 1<<13, 0) }, user: true,
			want: walkWant{fault: true, ec: ecP | ecRSVD | ecU, level: 2}},
		{name: "2 MiB page bit 20 reserved", modes: wide, gva: gva2M, build: map2M,
			edit: func(e *testEnv, gva GVA) { e.edit(gva, 2, 1<<20, 0) }, kind: AccessFetch,
			want: walkWant{fault: true, ec: ecP | ecRSVD | ecID, level: 2}},
		{name: "1 GiB page", modes: long, gva: gva1G, build: map1G, kind: AccessWrite, user: true,
			wantFor: func(mode PagingMode) walkWant {
				return walkWant{gpa: testGiantGPA + 0x123456, refs: refs1G(mode), leaf: 3}
			}},
		{name: "1 GiB page PAT bit 12", modes: long, gva: gva1G, build: map1G,
			edit: func(e *testEnv, gva GVA) { e.edit(gva, 3, PTLargePAT, 0) },
			wantFor: func(mode PagingMode) walkWant {
				return walkWant{gpa: testGiantGPA + 0x123456, refs: refs1G(mode), leaf: 3}
			}},
		{name: "1 GiB page bit 13 reserved", modes: long, gva: gva1G, build: map1G,
			edit: func(e *testEnv, gva GVA) { e.edit(gva, 3, 1<<13, 0) }, user: true,
			want: walkWant{fault: true, ec: ecP | ecRSVD | ecU, level: 3}},
		{name: "1 GiB page bit 29 reserved", modes: long, gva: gva1G, build: map1G,
			edit: func(e *testEnv, gva GVA) { e.edit(gva, 3, 1<<29, 0) }, user: true,
			want: walkWant{fault: true, ec: ecP | ecRSVD | ecU, level: 3}},
		{name: "1 GiB page without GBPAGES: PS reserved", modes: long, gva: gva1G, build: map1G,
			cfg: func(c *Config) { c.GBPages = false }, user: true,
			want: walkWant{fault: true, ec: ecP | ecRSVD | ecU, level: 3}},
		{name: "1 GiB page MMIO", modes: long, gva: gva1G,
			build: func(e *testEnv, gva GVA) { e.mapPage(gva&^0x3fffffff, 3<<30, 1<<30, PTWritable|PTUser) },
			wantFor: func(mode PagingMode) walkWant {
				return walkWant{gpa: 3<<30 + 0x123456, refs: refs1G(mode), leaf: 3, mmio: true}
			}},
	}
}

func allWalkCases() []walkCase {
	var out []walkCase
	out = append(out, notPresentCases()...)
	out = append(out, rsvdCases()...)
	out = append(out, hugeCases()...)
	out = append(out, permissionCases()...)
	out = append(out, addressCases()...)
	return out
}

func TestWalkCases(t *testing.T) {
	for _, c := range allWalkCases() {
		modes := c.modes
		if modes == nil {
			modes = pagingModes
		}
		for _, mode := range modes {
			c := c
			t.Run(fmt.Sprintf("%s/%s", modeShort(mode), c.name), func(t *testing.T) { c.run(t, mode) })
		}
	}
}

// TestWalkCasesAgreeWithReference runs every table case through the
// reference translator too, so the hand-written expectations, the walker
// and the reference are three witnesses of the same rules.
func TestWalkCasesAgreeWithReference(t *testing.T) {
	for _, c := range allWalkCases() {
		modes := c.modes
		if modes == nil {
			modes = pagingModes
		}
		for _, mode := range modes {
			c := c
			t.Run(fmt.Sprintf("%s/%s", modeShort(mode), c.name), func(t *testing.T) {
				if c.want.err {
					t.Skip("the mode cannot express the GVA")
				}
				cfg := DefaultConfig()
				if c.cfg != nil {
					c.cfg(&cfg)
				}
				e := newTestEnv(t, mode, cfg)
				gva := testGVA(mode) + 0x123
				if c.gva != nil {
					gva = c.gva(mode)
				}
				if c.build != nil {
					c.build(e, gva)
				} else {
					e.mapPage(gva&^pageMask, testGPA, PageSize, PTWritable|PTUser)
				}
				if c.edit != nil {
					c.edit(e, gva)
				}
				if c.regs != nil {
					c.regs(&e.regs)
				}
				e.load()
				r := e.regs
				ref := &refCPU{cr0: r.CR0, cr3: r.CR3, cr4: r.CR4, efer: r.EFER, rflags: r.RFLAGS, pkru: r.PKRU,
					maxPhy: cfg.MaxPhyAddr, pse36: cfg.PSE36, gbpages: cfg.GBPages}
				if refMode(ref) == 3 && !refLoadPDPTEs(ref, guestReader(e.m)) {
					t.Fatal("reference refuses the PDPTEs")
				}
				checkFuzzAccess(t, e.m, ref, Access{GVA: gva, Kind: c.kind, User: c.user, Implicit: c.impl}, c.name)
			})
		}
	}
}

func modeShort(m PagingMode) string {
	switch m {
	case Paging32:
		return "32bit"
	case PagingPAE:
		return "PAE"
	case Paging4:
		return "4level"
	case Paging5:
		return "5level"
	}
	return "nopaging"
}
