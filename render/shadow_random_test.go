package render_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"mmuviz/mmu"
)

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
				m, gvas := randomMachine(t, mode, r, func(m *mmu.Machine) error { return m.EnableShadow(cfg) })
				layoutTimeline(t, name, mmu.NewTimeline(m, accepted(m, shadowScript(r, mode, gvas, 16))))
			}
		}
	}
}
