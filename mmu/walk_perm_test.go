package mmu

import "fmt"

// Walk cases for permissions (U/S, R/W under CR0.WP, NX, SMEP, SMAP,
// protection keys) and for addresses the mode cannot walk; the runner and
// the other case tables are in walk_test.go.

// permissionCases cover U/S, R/W with CR0.WP, NX, SMEP, SMAP and keys.
func permissionCases() []walkCase {
	all := pagingModes
	wide := []PagingMode{PagingPAE, Paging4, Paging5}
	long := []PagingMode{Paging4, Paging5}
	leafFlags := func(set, clear PTE) func(e *testEnv, gva GVA) {
		return func(e *testEnv, gva GVA) { e.edit(gva, 1, set, clear) }
	}
	super := leafFlags(0, PTUser)
	ro := leafFlags(0, PTWritable)
	nx := leafFlags(PTNX, 0)
	key1 := leafFlags(PTE(1)<<PTPKeyShift, 0)
	pke := func(pkru uint64) func(r *Regs) {
		return func(r *Regs) { r.CR4 |= CR4PKE; r.PKRU = pkru }
	}
	const adKey1, wdKey1 = 1 << 2, 1 << 3
	cases := []walkCase{
		{name: "user read", modes: all, user: true},
		{name: "user write", modes: all, kind: AccessWrite, user: true},
		{name: "supervisor read", modes: all},
		{name: "user read of a supervisor page", modes: all, edit: super, user: true,
			want: walkWant{fault: true, ec: ecP | ecU, level: 1}},
		{name: "user write to a supervisor page", modes: all, edit: super, kind: AccessWrite, user: true,
			want: walkWant{fault: true, ec: ecP | ecW | ecU, level: 1}},
		{name: "user write to a read-only page", modes: all, edit: ro, kind: AccessWrite, user: true,
			want: walkWant{fault: true, ec: ecP | ecW | ecU, level: 1}},
		{name: "user write to a read-only page, CR0.WP=0", modes: all, edit: ro, kind: AccessWrite, user: true,
			regs: func(r *Regs) { r.CR0 &^= CR0WP }, want: walkWant{fault: true, ec: ecP | ecW | ecU, level: 1}},
		{name: "user read of a read-only page", modes: all, edit: ro, user: true},
		{name: "supervisor write to a read-only page, CR0.WP=1", modes: all, edit: ro, kind: AccessWrite,
			want: walkWant{fault: true, ec: ecP | ecW, level: 1}},
		{name: "supervisor write to a read-only page, CR0.WP=0", modes: all, edit: ro, kind: AccessWrite,
			regs: func(r *Regs) { r.CR0 &^= CR0WP }},
		{name: "supervisor write to a read-only supervisor page, CR0.WP=0", modes: all,
			edit: leafFlags(0, PTWritable|PTUser), kind: AccessWrite, regs: func(r *Regs) { r.CR0 &^= CR0WP }},
		{name: "user fetch", modes: all, kind: AccessFetch, user: true},
		{name: "user fetch from an NX page", modes: wide, edit: nx, kind: AccessFetch, user: true,
			want: walkWant{fault: true, ec: ecP | ecU | ecID, level: 1}},
		{name: "supervisor fetch from an NX supervisor page", modes: wide, edit: leafFlags(PTNX, PTUser),
			kind: AccessFetch, want: walkWant{fault: true, ec: ecP | ecID, level: 1}},
		{name: "user read of an NX page", modes: wide, edit: nx, user: true},
		{name: "user write to an NX page", modes: wide, edit: nx, kind: AccessWrite, user: true},
		// 32-bit entries have no NX bit; EFER.NX=1 changes nothing but the
		// error code (below).
		{name: "32-bit: fetch with EFER.NX=1", modes: []PagingMode{Paging32}, kind: AccessFetch, user: true},
		// KVM reports I/D whenever EFER.NX=1, even in 32-bit paging where
		// the SDM sets it only with SMEP (walk_addr_generic tests is_efer_nx).
		{name: "32-bit: fetch from a supervisor page with EFER.NX=1 reports I/D", modes: []PagingMode{Paging32},
			edit: super, kind: AccessFetch, user: true,
			want: walkWant{fault: true, ec: ecP | ecU | ecID, level: 1}},
		{name: "fetch from a supervisor page with EFER.NX=0: no I/D", modes: all,
			edit: super, kind: AccessFetch, user: true, regs: func(r *Regs) { r.EFER &^= EFERNX },
			want: walkWant{fault: true, ec: ecP | ecU, level: 1}},
		{name: "NX in a PDE applies to the page", modes: wide,
			edit: func(e *testEnv, gva GVA) { e.edit(gva, 2, PTNX, 0) }, kind: AccessFetch, user: true,
			want: walkWant{fault: true, ec: ecP | ecU | ecID, level: 1}},
		{name: "NX in the top entry applies to the page", modes: long,
			edit: func(e *testEnv, gva GVA) { e.edit(gva, int(formatFor(e.mode).rootLevel), PTNX, 0) },
			kind: AccessFetch, user: true, want: walkWant{fault: true, ec: ecP | ecU | ecID, level: 1}},
		// SMEP: no supervisor fetch from a user page.
		{name: "SMEP: supervisor fetch from a user page", modes: all, kind: AccessFetch,
			regs: func(r *Regs) { r.CR4 |= CR4SMEP }, want: walkWant{fault: true, ec: ecP | ecID, level: 1}},
		{name: "SMEP with EFER.NX=0 still reports I/D", modes: all, kind: AccessFetch,
			regs: func(r *Regs) { r.CR4 |= CR4SMEP; r.EFER &^= EFERNX },
			want: walkWant{fault: true, ec: ecP | ecID, level: 1}},
		{name: "SMEP: supervisor fetch from a supervisor page", modes: all, kind: AccessFetch, edit: super,
			regs: func(r *Regs) { r.CR4 |= CR4SMEP }},
		{name: "SMEP: user fetch from a user page", modes: all, kind: AccessFetch, user: true,
			regs: func(r *Regs) { r.CR4 |= CR4SMEP }},
		{name: "SMEP: supervisor read of a user page", modes: all,
			regs: func(r *Regs) { r.CR4 |= CR4SMEP }},
		{name: "no SMEP: supervisor fetch from a user page", modes: all, kind: AccessFetch},
		{name: "SMEP: a U=0 PDE makes the page supervisor", modes: all, kind: AccessFetch,
			edit: func(e *testEnv, gva GVA) { e.edit(gva, 2, 0, PTUser) }, regs: func(r *Regs) { r.CR4 |= CR4SMEP }},
		// SMAP: no supervisor data access to a user page unless EFLAGS.AC=1
		// on an explicit access.
		{name: "SMAP: supervisor read of a user page", modes: all, regs: func(r *Regs) { r.CR4 |= CR4SMAP },
			want: walkWant{fault: true, ec: ecP, level: 1}},
		{name: "SMAP: supervisor write to a user page", modes: all, kind: AccessWrite,
			regs: func(r *Regs) { r.CR4 |= CR4SMAP }, want: walkWant{fault: true, ec: ecP | ecW, level: 1}},
		{name: "SMAP: supervisor write to a read-only user page, CR0.WP=0", modes: all, kind: AccessWrite,
			edit: ro, regs: func(r *Regs) { r.CR4 |= CR4SMAP; r.CR0 &^= CR0WP },
			want: walkWant{fault: true, ec: ecP | ecW, level: 1}},
		{name: "SMAP: EFLAGS.AC=1 exempts an explicit read", modes: all,
			regs: func(r *Regs) { r.CR4 |= CR4SMAP; r.RFLAGS |= RFLAGSAC }},
		{name: "SMAP: EFLAGS.AC=1 exempts an explicit write", modes: all, kind: AccessWrite,
			regs: func(r *Regs) { r.CR4 |= CR4SMAP; r.RFLAGS |= RFLAGSAC }},
		{name: "SMAP: EFLAGS.AC=1, CR0.WP=0, write to a read-only user page", modes: all, kind: AccessWrite,
			edit: ro, regs: func(r *Regs) { r.CR4 |= CR4SMAP; r.RFLAGS |= RFLAGSAC; r.CR0 &^= CR0WP }},
		{name: "SMAP: EFLAGS.AC=1, CR0.WP=1, write to a read-only user page", modes: all, kind: AccessWrite,
			edit: ro, regs: func(r *Regs) { r.CR4 |= CR4SMAP; r.RFLAGS |= RFLAGSAC },
			want: walkWant{fault: true, ec: ecP | ecW, level: 1}},
		{name: "SMAP: EFLAGS.AC=1 does not exempt an implicit read", modes: all, impl: true,
			regs: func(r *Regs) { r.CR4 |= CR4SMAP; r.RFLAGS |= RFLAGSAC }, want: walkWant{fault: true, ec: ecP, level: 1}},
		{name: "SMAP: EFLAGS.AC=1 does not exempt an implicit write", modes: all, impl: true, kind: AccessWrite,
			regs: func(r *Regs) { r.CR4 |= CR4SMAP; r.RFLAGS |= RFLAGSAC },
			want: walkWant{fault: true, ec: ecP | ecW, level: 1}},
		{name: "SMAP: implicit read of a supervisor page", modes: all, impl: true, edit: super,
			regs: func(r *Regs) { r.CR4 |= CR4SMAP }},
		{name: "SMAP: user read of a user page", modes: all, user: true, regs: func(r *Regs) { r.CR4 |= CR4SMAP }},
		{name: "SMAP does not cover fetches", modes: all, kind: AccessFetch,
			regs: func(r *Regs) { r.CR4 |= CR4SMAP }},
		{name: "no SMAP: implicit read of a user page", modes: all, impl: true},
		// Protection keys: user pages only, data accesses only, long mode
		// with CR4.PKE only.
		{name: "PKRU.AD: user read", modes: long, edit: key1, regs: pke(adKey1), user: true,
			want: walkWant{fault: true, ec: ecP | ecU | ecPK, level: 1}},
		{name: "PKRU.AD: user write", modes: long, edit: key1, regs: pke(adKey1), kind: AccessWrite, user: true,
			want: walkWant{fault: true, ec: ecP | ecW | ecU | ecPK, level: 1}},
		{name: "PKRU.AD: supervisor read of a user page", modes: long, edit: key1, regs: pke(adKey1),
			want: walkWant{fault: true, ec: ecP | ecPK, level: 1}},
		{name: "PKRU.AD: supervisor write to a user page", modes: long, edit: key1, regs: pke(adKey1),
			kind: AccessWrite, want: walkWant{fault: true, ec: ecP | ecW | ecPK, level: 1}},
		{name: "PKRU.AD: supervisor write, CR0.WP=0", modes: long, edit: key1, kind: AccessWrite,
			regs: func(r *Regs) { pke(adKey1)(r); r.CR0 &^= CR0WP },
			want: walkWant{fault: true, ec: ecP | ecW | ecPK, level: 1}},
		{name: "PKRU.AD: implicit read, EFLAGS.AC=1", modes: long, edit: key1, impl: true,
			regs: func(r *Regs) { pke(adKey1)(r); r.RFLAGS |= RFLAGSAC },
			want: walkWant{fault: true, ec: ecP | ecPK, level: 1}},
		{name: "PKRU.AD: never fetches", modes: long, edit: key1, regs: pke(adKey1), kind: AccessFetch, user: true},
		{name: "PKRU.AD for another key", modes: long, edit: key1, regs: pke(1 << 4), user: true},
		{name: "PKRU.AD: supervisor page ignores its key", modes: long, edit: leafFlags(PTE(1)<<PTPKeyShift, PTUser),
			regs: pke(adKey1)},
		{name: "PKRU.AD: user read of a supervisor page is a U fault, not PK", modes: long,
			edit: leafFlags(PTE(1)<<PTPKeyShift, PTUser), regs: pke(adKey1), user: true,
			want: walkWant{fault: true, ec: ecP | ecU, level: 1}},
		{name: "PKRU.AD with SMAP: both", modes: long, edit: key1,
			regs: func(r *Regs) { pke(adKey1)(r); r.CR4 |= CR4SMAP },
			want: walkWant{fault: true, ec: ecP | ecPK, level: 1}},
		{name: "PKRU.WD: user read", modes: long, edit: key1, regs: pke(wdKey1), user: true},
		{name: "PKRU.WD: user write", modes: long, edit: key1, regs: pke(wdKey1), kind: AccessWrite, user: true,
			want: walkWant{fault: true, ec: ecP | ecW | ecU | ecPK, level: 1}},
		{name: "PKRU.WD: user write to a read-only page", modes: long, edit: leafFlags(PTE(1)<<PTPKeyShift, PTWritable),
			regs: pke(wdKey1), kind: AccessWrite, user: true,
			want: walkWant{fault: true, ec: ecP | ecW | ecU | ecPK, level: 1}},
		{name: "PKRU.WD: supervisor write, CR0.WP=1", modes: long, edit: key1, regs: pke(wdKey1), kind: AccessWrite,
			want: walkWant{fault: true, ec: ecP | ecW | ecPK, level: 1}},
		{name: "PKRU.WD: supervisor write, CR0.WP=0", modes: long, edit: key1, kind: AccessWrite,
			regs: func(r *Regs) { pke(wdKey1)(r); r.CR0 &^= CR0WP }},
		{name: "PKRU.WD: supervisor read", modes: long, edit: key1, regs: pke(wdKey1)},
		{name: "PKRU.WD: user fetch", modes: long, edit: key1, regs: pke(wdKey1), kind: AccessFetch, user: true},
		{name: "CR4.PKE=0: keys ignored", modes: long, edit: key1, regs: func(r *Regs) { r.PKRU = adKey1 },
			user: true},
		{name: "key 0 with PKRU.AD for key 0", modes: long, regs: pke(1), user: true,
			want: walkWant{fault: true, ec: ecP | ecU | ecPK, level: 1}},
		// PAE has no keys even with CR4.PKE (and bits 62:59 are reserved).
		{name: "PAE: CR4.PKE and PKRU.AD for key 0 change nothing", modes: []PagingMode{PagingPAE},
			regs: pke(1), user: true},
		{name: "the key comes from the leaf only", modes: long,
			edit: func(e *testEnv, gva GVA) { e.edit(gva, 2, PTE(1)<<PTPKeyShift, 0) }, regs: pke(adKey1), user: true},
	}
	// U/S and R/W at every upper level restrict the page.
	for _, mode := range pagingModes {
		for level := formatFor(mode).rootLevel; level >= 2; level-- {
			if mode == PagingPAE && level == 3 {
				continue // PDPTEs have no R/W or U/S
			}
			l := level
			cases = append(cases,
				walkCase{name: fmt.Sprintf("U=0 in the %s", EntryName(mode, l)), modes: []PagingMode{mode},
					edit: func(e *testEnv, gva GVA) { e.edit(gva, l, 0, PTUser) }, user: true,
					want: walkWant{fault: true, ec: ecP | ecU, level: 1}},
				walkCase{name: fmt.Sprintf("W=0 in the %s", EntryName(mode, l)), modes: []PagingMode{mode},
					edit: func(e *testEnv, gva GVA) { e.edit(gva, l, 0, PTWritable) }, kind: AccessWrite, user: true,
					want: walkWant{fault: true, ec: ecP | ecW | ecU, level: 1}},
				walkCase{name: fmt.Sprintf("W=0 in the %s, supervisor, CR0.WP=1", EntryName(mode, l)), modes: []PagingMode{mode},
					edit: func(e *testEnv, gva GVA) { e.edit(gva, l, 0, PTWritable) }, kind: AccessWrite,
					want: walkWant{fault: true, ec: ecP | ecW, level: 1}},
			)
		}
	}
	return cases
}

// addressCases cover the GVA checks, paging off and tables outside memory.
func addressCases() []walkCase {
	none := func(*testEnv, GVA) {}
	return []walkCase{
		{name: "non-canonical in 4-level", modes: []PagingMode{Paging4},
			build: none, gva: func(PagingMode) GVA { return 0x0000800000000000 }, want: walkWant{gp: true}},
		{name: "non-canonical high half in 4-level", modes: []PagingMode{Paging4},
			build: none, gva: func(PagingMode) GVA { return 0xfff0800000000000 }, kind: AccessWrite, user: true, want: walkWant{gp: true}},
		{name: "canonical high half in 4-level walks", modes: []PagingMode{Paging4},
			build: none, gva: func(PagingMode) GVA { return 0xffff800000000000 }, user: true,
			want: walkWant{fault: true, ec: ecU, level: 4}},
		{name: "bit 47 set is canonical in 5-level", modes: []PagingMode{Paging5},
			build: none, gva: func(PagingMode) GVA { return 0x0000800000000000 }, user: true,
			want: walkWant{fault: true, ec: ecU, level: 5}},
		{name: "non-canonical in 5-level", modes: []PagingMode{Paging5},
			build: none, gva: func(PagingMode) GVA { return 0x0100000000000000 }, kind: AccessFetch, want: walkWant{gp: true}},
		{name: "canonical high half in 5-level", modes: []PagingMode{Paging5},
			build: none, gva: func(PagingMode) GVA { return 0xff00000000000000 }, user: true,
			want: walkWant{fault: true, ec: ecU, level: 5}},
		{name: "GVA above 4 GiB in a 32-bit mode", modes: []PagingMode{Paging32, PagingPAE},
			build: none, gva: func(PagingMode) GVA { return 1 << 32 }, want: walkWant{err: true}},
		{name: "paging off: GVA is GPA", modes: []PagingMode{PagingOff},
			gva: func(PagingMode) GVA { return GVA(testGPA) + 0x123 }, build: none, kind: AccessWrite},
		{name: "paging off: above 4 GiB", modes: []PagingMode{PagingOff},
			gva: func(PagingMode) GVA { return 1 << 32 }, build: none, want: walkWant{err: true}},
		{name: "a page table outside every memslot is not present", modes: pagingModes,
			edit: func(e *testEnv, gva GVA) {
				e.edit(gva, 2, 0, 0)
				pde := e.entry(gva, 2)
				mask := PTE(0xfff)
				if e.mode != Paging32 {
					mask |= PTE(PTNX | PTPKeyMask)
				}
				v := pde&mask | 0x10000000 // 256 MiB: no memslot
				if err := e.m.WriteGuest(e.entryGPA(gva, 2), EntrySize(e.mode), uint64(v)); err != nil {
					e.t.Fatal(err)
				}
			},
			user: true, want: walkWant{fault: true, ec: ecU, level: 1}},
		{name: "a page outside every memslot is MMIO", modes: pagingModes,
			build: func(e *testEnv, gva GVA) { e.mapPage(gva&^pageMask, 0x10000000, PageSize, PTWritable|PTUser) },
			kind:  AccessWrite, want: walkWant{gpa: 0x10000123, mmio: true}},
	}
}
