package mmu

import (
	"fmt"
	"testing"
)

// shadowTimelineEnv builds a guest that a shadow timeline script uses:
// data pages, a window onto their page table and one onto the page
// directory, and a second memslot to remove.
func shadowTimelineEnv(t testing.TB, mode PagingMode, cfg ShadowConfig) *testEnv {
	e := shadowEnv(t, mode, cfg)
	e.mapPage(0x400000, 0x200000, PageSize, PTWritable|PTUser)
	e.mapPage(0x401000, 0x201000, PageSize, PTWritable|PTUser)
	e.mapPage(0x402000, 0x202000, PageSize, 0)
	e.mapPage(0x800000, extraGPA(mode), PageSize, PTWritable|PTUser)
	e.mapPage(0x600000, e.entryGPA(0x400000, 1)&^pageMask, PageSize, PTWritable)
	e.mapPage(0x601000, e.entryGPA(0x400000, 2)&^pageMask, PageSize, PTWritable)
	e.load()
	return e
}

// extraGPA is a GPA in a memslot a script can remove: 4 GiB (slot 1), or
// 1 GiB (slot 2) for a 32-bit guest, whose entries cannot reach 4 GiB.
func extraGPA(mode PagingMode) GPA {
	if mode == Paging32 {
		return testGiantGPA
	}
	return testHighGPA
}

// extraSlot is the memslot of extraGPA.
func extraSlot(mode PagingMode) int {
	if mode == Paging32 {
		return 2
	}
	return 1
}

// shadowScript exercises what a shadow timeline must restore: pages made,
// unsync and resynced, emulated writes, flooding, a role change, a zap,
// and a memslot removal with a root still in use.
func shadowScript(mode PagingMode) []Action {
	size := EntrySize(mode)
	pde := GVA(0x601000) | GVA(2*size) // PDE 2 maps 0x400000 in every mode but 32-bit's
	if mode == Paging32 {
		pde = 0x601000 | 4
	}
	return []Action{
		read(0x400123, true), write(0x401000, true), read(0x402000, false),
		store(0x600000|GVA(size), size, 0x203067), read(0x401000, true), &Invlpg{GVA: 0x401000},
		read(0x401000, true), store(0x600000, size, 0), &SetReg{Reg: RegCR3, Value: 0x100000},
		read(0x400000, true), store(pde, size, 0), read(0x400000, true),
		&GuestWrite{GPA: 0x103800, Size: size, Value: 0}, &GuestWrite{GPA: 0x103800, Size: size, Value: 0},
		&SetReg{Reg: RegCR0, Op: RegClearBits, Value: CR0WP}, write(0x402000, false), read(0x402000, true),
		&SetReg{Reg: RegCR0, Op: RegSetBits, Value: CR0WP}, read(0x800000, true),
		&ZapGFNRange{GPA: extraGPA(mode), Size: PageSize}, read(0x800000, true), &CheckShadow{},
		&RemoveMemslot{ID: extraSlot(mode)}, read(0x800000, true), read(0x402000, false), &CheckShadow{},
	}
}

// TestShadowTimelineSeek: Seek(k) for every step of shadow scripts (PAE
// shadow, special roots, both variants, 4 levels) equals running the
// script: at the end of each action, and in the middle of it as an
// independent replay observed it.
func TestShadowTimelineSeek(t *testing.T) {
	for _, c := range []struct {
		mode PagingMode
		cfg  ShadowConfig
	}{
		{Paging4, ShadowConfig{}}, {Paging32, ShadowConfig{}},
		{Paging32, ShadowConfig{RootLevel: 5}}, {Paging32, ShadowConfig{RootLevel: 5, Variant: ShadowLevelExpanded}},
	} {
		t.Run(fmt.Sprintf("%s-root%d-%s", modeShort(c.mode), c.cfg.RootLevel, c.cfg.Variant), func(t *testing.T) {
			seekCheck(t, func() *Machine { return shadowTimelineEnv(t, c.mode, c.cfg).m }, shadowScript(c.mode))
		})
	}
}

// seekCheck is checkTimelineSeek for shadow paging: every eighth event in
// the middle of an action, and the shadow invariants after each action.
func seekCheck(t *testing.T, env func() *Machine, script []Action) {
	t.Helper()
	checkTimelineSeek(t, env, script, 8, func(m *Machine, when string) { mustCheck(t, m, when) })
}
