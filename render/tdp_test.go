package render_test

import (
	"testing"

	"mmuviz/mmu"
	"mmuviz/render"
)

// Two-dimensional walks built with the engine's API rather than a
// scenario file, so that every guest mode meets every TDP format here,
// with and without a populated EPT/NPT.

// tdpCase is a guest on TDP.
type tdpCase struct {
	mode     mmu.PagingMode
	kind     mmu.TDPKind
	levels   int  // EPT/NPT levels
	prefault bool // map the guest's tables and page before the script
}

// tdpMachine builds the guest of c with GVA 0x400000 mapped to GPA
// 0x200000 (and GVA 0xc00000 to a large page at GPA 0x800000).
func tdpMachine(t *testing.T, c tdpCase) *mmu.Machine {
	t.Helper()
	cfg := mmu.DefaultConfig()
	if c.levels == 5 {
		cfg.MaxPhyAddr = 52
	}
	m, err := mmu.NewMachine(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.AddMemslot(mmu.Memslot{ID: 0, NPages: 64 << 20 >> mmu.PageShift, BasePFN: 0x10000}); err != nil {
		t.Fatal(err)
	}
	g, err := mmu.NewGuestTables(m, c.mode, 0x100000, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Map(0x400000, 0x200000, mmu.PageSize, mmu.PTWritable|mmu.PTUser); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Map(0xc00000, 0x800000, mmu.LevelPageSize(c.mode, 2), mmu.PTWritable|mmu.PTUser); err != nil {
		t.Fatal(err)
	}
	regs := mmu.Regs{CR0: mmu.CR0PE | mmu.CR0PG | mmu.CR0WP, CR3: g.CR3(), CR4: mmu.CR4PAE | mmu.CR4PSE}
	if c.mode == mmu.Paging32 {
		regs.CR4 = mmu.CR4PSE
	}
	if c.mode == mmu.Paging4 || c.mode == mmu.Paging5 {
		regs.EFER = mmu.EFERLME | mmu.EFERLMA | mmu.EFERNX
	}
	if c.mode == mmu.Paging5 {
		regs.CR4 |= mmu.CR4LA57
	}
	if err := m.SetupRegs(0, regs); err != nil {
		t.Fatal(err)
	}
	if err := m.EnableTDP(mmu.TDPConfig{Kind: c.kind, Levels: c.levels, AD: true}); err != nil {
		t.Fatal(err)
	}
	if c.prefault {
		for _, l := range m.PathOf(0, 0x400000).Levels {
			if !l.FromReg {
				if err := m.Prefault(0, l.Table, mmu.PageSize); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := m.Prefault(0, 0x200000, mmu.PageSize); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// tdpTimeline runs accesses to both mappings on the machine of c.
func tdpTimeline(t *testing.T, c tdpCase) *mmu.Timeline {
	t.Helper()
	tl := mmu.NewTimeline(tdpMachine(t, c), []mmu.Action{
		&mmu.Access{GVA: 0x400123},
		&mmu.Access{GVA: 0x400123, Kind: mmu.AccessWrite, User: true},
		&mmu.Access{GVA: 0xc00abc},
		&mmu.PrintSPTE{GPA: 0x200000},
	})
	if tl.Err != nil {
		t.Fatal(tl.Err)
	}
	return tl
}

// refSteps lists the steps of tl whose event is a memory reference of a
// 2D walk, by the reference's number.
func refSteps(tl *mmu.Timeline) map[int][]int {
	out := map[int][]int{}
	for s := 1; s < tl.Len(); s++ {
		a, ev := tl.Locate(s)
		if e := tl.Steps[a].Events[ev]; e.TwoD && e.Ref > 0 && e.Kind == mmu.EvRead {
			out[e.Ref] = append(out[e.Ref], s)
		}
	}
	return out
}

// gridOf returns the grid box of a scene.
func gridOf(t *testing.T, sc *render.Scene) *render.Box {
	t.Helper()
	b, ok := sc.Box("grid")
	if !ok {
		t.Fatalf("no grid:\n%s", dump(sc))
	}
	return b
}
