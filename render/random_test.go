package render_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"mmuviz/mmu"
	"mmuviz/render"
)

// randomMachine builds two vCPUs in mode with a few pages mapped (none
// with paging off). enable, if not nil, turns on KVM's kind of paging
// before the registers are set up, as the engine wants for shadow paging.
func randomMachine(t *testing.T, mode mmu.PagingMode, r *rand.Rand, enable func(*mmu.Machine) error) (*mmu.Machine, []mmu.GVA) {
	t.Helper()
	m, err := mmu.NewMachine(mmu.DefaultConfig(), 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.AddMemslot(mmu.Memslot{ID: 0, NPages: 64 << 20 >> mmu.PageShift, BasePFN: 0x10000}); err != nil {
		t.Fatal(err)
	}
	if enable != nil {
		if err := enable(m); err != nil {
			t.Fatal(err)
		}
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

// accepted drops the actions the engine refuses (run on a copy of m), so
// that a timeline of the rest runs to its end.
func accepted(m *mmu.Machine, script []mmu.Action) []mmu.Action {
	var ok []mmu.Action
	probe := m.Clone()
	for _, a := range script {
		if _, err := probe.Do(a); err == nil {
			ok = append(ok, a)
		}
	}
	return ok
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

// randomScript mixes walks of mapped and unmapped addresses with edits of
// the guest's own entries (garbage included) and register changes.
func randomScript(r *rand.Rand, mode mmu.PagingMode, gvas []mmu.GVA, n int) []mmu.Action {
	var out []mmu.Action
	pick := func() mmu.GVA {
		if len(gvas) > 0 && r.IntN(4) > 0 {
			return gvas[r.IntN(len(gvas))] + mmu.GVA(r.Uint64N(mmu.PageSize))
		}
		return mmu.GVA(r.Uint64N(1 << 32))
	}
	for i := 0; i < n; i++ {
		vcpu := r.IntN(2)
		switch r.IntN(6) {
		case 0, 1, 2:
			out = append(out, &mmu.Access{VCPU: vcpu, GVA: pick(), Kind: mmu.AccessKind(r.IntN(3)), User: r.IntN(2) == 0})
		case 3:
			v := r.Uint64() & (0x3ffffff | mmu.PTNX | 1<<50)
			if mode == mmu.Paging32 {
				v &= 0xffffffff
			}
			out = append(out, &mmu.WriteEntry{VCPU: vcpu, GVA: pick(), Level: 1 + r.IntN(2), Value: v})
		case 4:
			out = append(out, &mmu.GuestWrite{VCPU: vcpu, GPA: 0x100000 + mmu.GPA(r.Uint64N(1<<14))&^7, Size: 8,
				Value: r.Uint64() & 0xfffffff})
		case 5:
			out = append(out, &mmu.SetReg{VCPU: vcpu, Reg: mmu.RegCR0, Op: mmu.RegOp(1 + r.IntN(2)), Value: mmu.CR0WP})
		}
	}
	return out
}

// TestLayoutRandom lays out random timelines of every mode: no panic, and
// the same promises as the built-ins.
func TestLayoutRandom(t *testing.T) {
	for _, mode := range []mmu.PagingMode{mmu.Paging32, mmu.PagingPAE, mmu.Paging4, mmu.Paging5} {
		for seed := uint64(1); seed <= 8; seed++ {
			r := rand.New(rand.NewPCG(seed, uint64(mode)))
			m, gvas := randomMachine(t, mode, r, nil)
			tl := mmu.NewTimeline(m, accepted(m, randomScript(r, mode, gvas, 25)))
			layoutTimeline(t, fmt.Sprintf("%s seed %d", mode, seed), tl)
		}
	}
}

// TestLayoutRandomTDP is TestLayoutRandom on EPT and NPT, with KVM's own
// actions mixed in: zaps, prefaults and prints of its SPTEs.
func TestLayoutRandomTDP(t *testing.T) {
	for _, kind := range []mmu.TDPKind{mmu.TDPEPT, mmu.TDPNPT} {
		for _, mode := range []mmu.PagingMode{mmu.Paging32, mmu.PagingPAE, mmu.Paging4, mmu.Paging5} {
			for seed := uint64(1); seed <= 3; seed++ {
				r := rand.New(rand.NewPCG(seed, uint64(mode)+10*uint64(kind)))
				cfg := mmu.TDPConfig{Kind: kind, Levels: 4, AD: r.IntN(2) == 0}
				m, gvas := randomMachine(t, mode, r, func(m *mmu.Machine) error { return m.EnableTDP(cfg) })
				script := randomScript(r, mode, gvas, 16)
				for i := 0; i < 4; i++ {
					gpa := mmu.GPA(r.Uint64N(1<<14)) << mmu.PageShift
					switch r.IntN(3) {
					case 0:
						script = append(script, &mmu.ZapGFNRange{GPA: gpa, Size: 1 << 21})
					case 1:
						script = append(script, &mmu.PreFault{GPA: gpa, Size: mmu.PageSize})
					case 2:
						script = append(script, &mmu.PrintSPTE{GPA: gpa})
					}
				}
				r.Shuffle(len(script), func(i, j int) { script[i], script[j] = script[j], script[i] })
				tl := mmu.NewTimeline(m, accepted(m, script))
				layoutTimeline(t, fmt.Sprintf("%s on %s seed %d", mode, kind, seed), tl)
			}
		}
	}
}
