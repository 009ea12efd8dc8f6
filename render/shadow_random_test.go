package render_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"mmuviz/mmu"
	"mmuviz/render"
)

// shadowMachine is randomMachine under shadow paging with cfg (which the
// engine wants before the registers are set up): two vCPUs, a few pages.
func shadowMachine(t *testing.T, mode mmu.PagingMode, cfg mmu.ShadowConfig, r *rand.Rand) (*mmu.Machine, []mmu.GVA) {
	t.Helper()
	m, err := mmu.NewMachine(mmu.DefaultConfig(), 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.AddMemslot(mmu.Memslot{ID: 0, NPages: 64 << 20 >> mmu.PageShift, BasePFN: 0x10000}); err != nil {
		t.Fatal(err)
	}
	if err := m.EnableShadow(cfg); err != nil {
		t.Fatal(err)
	}
	regs := mmu.Regs{CR0: mmu.CR0PE}
	var gvas []mmu.GVA
	if mode != mmu.PagingOff {
		g, err := mmu.NewGuestTables(m, mode, 0x100000, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 6; i++ {
			gva := mmu.GVA(r.Uint64N(1<<20)) << mmu.PageShift & 0x3ffff000
			if _, err := g.Map(gva, mmu.GPA(r.Uint64N(1<<13))<<mmu.PageShift, mmu.PageSize,
				mmu.PTE(r.Uint64N(8))&(mmu.PTWritable|mmu.PTUser)); err == nil {
				gvas = append(gvas, gva)
			}
		}
		regs = mmu.Regs{CR0: mmu.CR0PE | mmu.CR0PG | mmu.CR0WP, CR3: g.CR3()}
	}
	switch mode {
	case mmu.Paging32:
		regs.CR4 = mmu.CR4PSE
	case mmu.PagingPAE:
		regs.CR4, regs.EFER = mmu.CR4PAE|mmu.CR4PSE, mmu.EFERNX
	case mmu.Paging4, mmu.Paging5:
		regs.CR4, regs.EFER = mmu.CR4PAE|mmu.CR4SMEP, mmu.EFERLME|mmu.EFERLMA|mmu.EFERNX
		if mode == mmu.Paging5 {
			regs.CR4 |= mmu.CR4LA57
		}
	}
	for v := 0; v < 2; v++ {
		if err := m.SetupRegs(v, regs); err != nil {
			t.Fatal(err)
		}
	}
	return m, gvas
}

// shadowScript is randomScript with KVM's shadow actions mixed in:
// INVLPG, zaps of a GFN range, the invariant checker.
func shadowScript(r *rand.Rand, mode mmu.PagingMode, gvas []mmu.GVA, n int) []mmu.Action {
	script := randomScript(r, mode, gvas, n)
	for i := 0; i < n/4; i++ {
		gva := mmu.GVA(0x400000)
		if len(gvas) > 0 {
			gva = gvas[r.IntN(len(gvas))]
		}
		switch r.IntN(3) {
		case 0:
			script = append(script, &mmu.Invlpg{VCPU: r.IntN(2), GVA: gva})
		case 1:
			script = append(script, &mmu.ZapGFNRange{GPA: mmu.GPA(r.Uint64N(1<<13)) << mmu.PageShift, Size: 1 << 21})
		case 2:
			script = append(script, &mmu.CheckShadow{})
		}
	}
	r.Shuffle(len(script), func(i, j int) { script[i], script[j] = script[j], script[i] })
	return script
}

// TestLayoutRandomShadow lays out random timelines of every guest mode
// under every shadow root: KVM's own choice (a PAE shadow for a 32-bit
// guest), roots forced to 4 and 5 levels (special roots, a passthrough
// root), and the level-expanded proposal; paging off gets direct pages.
func TestLayoutRandomShadow(t *testing.T) {
	cfgs := []mmu.ShadowConfig{{}, {RootLevel: 4}, {RootLevel: 5},
		{RootLevel: 5, Variant: mmu.ShadowLevelExpanded}}
	modes := []mmu.PagingMode{mmu.PagingOff, mmu.Paging32, mmu.PagingPAE, mmu.Paging4, mmu.Paging5}
	for ci, cfg := range cfgs {
		for _, mode := range modes {
			for seed := uint64(1); seed <= 2; seed++ {
				name := fmt.Sprintf("%s, root %d %s, seed %d", mode, cfg.RootLevel, cfg.Variant, seed)
				r := rand.New(rand.NewPCG(seed, uint64(mode)+10*uint64(ci)))
				m, gvas := shadowMachine(t, mode, cfg, r)
				var ok []mmu.Action
				probe := m.Clone()
				for _, a := range shadowScript(r, mode, gvas, 16) {
					if _, err := probe.Do(a); err == nil {
						ok = append(ok, a)
					}
				}
				layoutTimeline(t, name, mmu.NewTimeline(m, ok))
			}
		}
	}
}

// layoutTimeline checks every step of tl on the page's stage, stopping at
// the first broken promise.
func layoutTimeline(t *testing.T, name string, tl *mmu.Timeline) {
	t.Helper()
	for step := 0; step < tl.Len(); step++ {
		v, err := tl.Seek(step)
		if err != nil {
			t.Fatal(err)
		}
		sc := render.Layout(v, tl, render.Size{W: 870, H: 800})
		for _, p := range checkScene(sc, v) {
			what := "initial state"
			if v.Event != nil {
				what = string(v.Event.Kind) + " " + v.Event.Func
			}
			t.Errorf("%s step %d (%s): %s\n%s", name, step, what, p, dump(sc))
			return
		}
	}
}
