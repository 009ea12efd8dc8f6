package mmu

import (
	"math/rand"
	"strings"
	"testing"
)

// tdxScript is the scenario's story as actions: boot, accept and use a
// private page, a shared page after a memory-fault exit, conversions both
// ways, a zap, a memslot-wide prefault.
func tdxScript(e *tdEnv) []Action {
	sharedBit := e.shared &^ tdSharedGFN.GPA()
	return []Action{
		&TDXInitMemRegion{GPA: tdPool, Size: tdPoolSize, Measure: true},
		&TDXFinalize{},
		&TDXAccept{GPA: tdPrivGPA},
		&Access{GVA: tdPrivGVA, Kind: AccessWrite, HasValue: true, Value: 0x1234, Size: 8},
		&Access{GVA: tdSharedGVA, Kind: AccessRead},
		&TDXMapGPA{GPA: e.shared, Size: PageSize},
		&Access{GVA: tdSharedGVA, Kind: AccessRead},
		&TDXMapGPA{GPA: tdPrivGPA | sharedBit, Size: PageSize},
		&TDXMapGPA{GPA: tdPrivGPA, Size: PageSize},
		&TDXAccept{GPA: tdPrivGPA},
		&ZapGFNRange{GPA: tdPrivGPA, Size: PageSize},
		&TDXAccept{GPA: tdPrivGPA + PageSize},
		&PreFault{GPA: 0x800000, Size: 16 << 10},
		&RemoveMemslot{ID: 0},
		&TDXDestroy{},
	}
}

// TestTDXInvariantsEveryStep: the mirror and the S-EPT agree after every
// action of the story, for both GPAWs (tdEnv.do checks).
func TestTDXInvariantsEveryStep(t *testing.T) {
	for _, gpaw := range []int{48, 52} {
		e := newTD(t, gpaw)
		for _, a := range tdxScript(e) {
			e.do(a)
		}
		if x := e.m.tdx(); len(x.sept) != 0 || len(e.m.tdp.pages) != 0 {
			t.Errorf("GPAW %d: after teardown %d S-EPT and %d TDP MMU pages are left", gpaw, len(x.sept),
				len(e.m.tdp.pages))
		}
	}
}

// randomTDXAction picks an action of a random script: accesses and
// accepts of private and shared pages, prefaults, conversions both ways
// and zaps, over a few pages so that they interact.
func randomTDXAction(r *rand.Rand, e *tdEnv) Action {
	sharedBit := e.shared &^ tdSharedGFN.GPA()
	page := GPA(0x200000) + GPA(r.Intn(8))*PageSize
	switch r.Intn(6) {
	case 0:
		return &TDXAccept{GPA: page}
	case 1:
		return &PreFault{GPA: page, Size: PageSize * uint64(1+r.Intn(3))}
	case 2:
		return &TDXMapGPA{GPA: page | sharedBit, Size: PageSize * uint64(1+r.Intn(2))}
	case 3:
		return &TDXMapGPA{GPA: page, Size: PageSize}
	case 4:
		return &ZapGFNRange{GPA: page, Size: PageSize * uint64(1+r.Intn(4))}
	}
	return &Access{GVA: []GVA{tdPrivGVA, tdSharedGVA}[r.Intn(2)], Kind: AccessRead}
}

// TestTDXInvariantsRandomScripts: random scripts on a booted TD keep the
// invariants after every action, in either GPAW; a #VE or a dead TD is a
// result, never a broken state.
func TestTDXInvariantsRandomScripts(t *testing.T) {
	seen := map[string]int{}
	for seed := int64(1); seed <= 30; seed++ {
		r := rand.New(rand.NewSource(seed))
		e := newTD(t, []int{48, 52}[seed%2])
		e.m.Quiet = seed%3 == 0
		e.m.tdx().cfg.SEPTVEDisable = seed%4 != 0
		e.boot()
		for i := 0; i < 40; i++ {
			a := randomTDXAction(r, e)
			st, err := e.m.Do(a)
			if err != nil {
				t.Fatalf("seed %d action %d %T: %v", seed, i, a, err)
			}
			for _, ev := range st.Events {
				seen[ev.Func]++
			}
			if err := e.m.CheckTDXInvariants(); err != nil {
				t.Fatalf("seed %d action %d %T %+v: %v", seed, i, a, a, err)
			}
		}
	}
	// The scripts did exercise every hook that runs while a TD lives.
	for _, fn := range []string{"tdx_sept_link_private_spt", "tdx_sept_set_private_spte", "tdx_sept_zap_private_spte",
		"tdx_track", "tdx_sept_drop_private_spte", "kvm_mmu_prepare_memory_fault_exit"} {
		if seen[fn] == 0 {
			t.Errorf("no random script reached %s", fn)
		}
	}
}

// TestTDXInvariantsCatchCorruption: each kind of damage to one of the two
// views is reported.
func TestTDXInvariantsCatchCorruption(t *testing.T) {
	base := newTD(t, 48)
	base.boot()
	base.do(&TDXAccept{GPA: tdPrivGPA})
	base.do(&TDXMapGPA{GPA: base.shared, Size: PageSize})
	base.do(&Access{GVA: tdSharedGVA, Kind: AccessRead})
	mirrorLeaf := func(m *Machine, gfn GFN) HPA {
		for it := m.tdpIterStart(m.mirrorRootOf(m.VCPUs[0]), 1, gfn); it.ok(gfn + 1); it.next() {
			if it.level == 1 {
				return it.sptep
			}
		}
		t.Fatal("no mirror leaf")
		return 0
	}
	cases := map[string]func(m *Machine){
		"S-EPT leaf cleared": func(m *Machine) {
			ep, _, _ := m.septLeaf(tdPrivGPA.GFN())
			_, _ = m.Mem.Write(ep, 8, 0)
		},
		"mirror leaf to another page": func(m *Machine) {
			sp := mirrorLeaf(m, tdPrivGPA.GFN())
			v, _ := m.Mem.Read(sp, 8)
			_, _ = m.Mem.Write(sp, 8, v+PageSize)
		},
		"S-EPT leaf left blocked": func(m *Machine) {
			ep, v, _ := m.septLeaf(tdPrivGPA.GFN())
			_, _ = m.Mem.Write(ep, 8, v&^EPTRWX|SEPTBlocked)
		},
		"mirror SPTE left frozen": func(m *Machine) { _, _ = m.Mem.Write(mirrorLeaf(m, tdPrivGPA.GFN()), 8, FrozenSPTE) },
		"orphan S-EPT page": func(m *Machine) {
			pfn, _ := m.Mem.AllocPage()
			m.tdx().sept[pfn] = &septPage{level: 1}
		},
		"nr_premapped off": func(m *Machine) { m.tdx().nrPremapped++ },
		"external_spt swapped": func(m *Machine) {
			for _, sp := range m.tdp.pages {
				if sp.Role.IsMirror() && sp.Role.Level() == 1 {
					sp.ExternalSPT += PageSize
					return
				}
			}
		},
		"shared mapping of private memory": func(m *Machine) { delete(m.tdx().shared, tdSharedGFN) },
		"private mapping of shared memory": func(m *Machine) { m.tdx().shared[tdPrivGPA.GFN()] = true },
		"mirror entry without S-EPT entry": func(m *Machine) {
			ep, _, _ := m.septLeaf(tdPrivGPA.GFN())
			table := ep &^ pageMask
			_, _ = m.Mem.Write(table+HPA(8*5), 8, 0x30000037) // an S-EPT PTE the mirror lacks
		},
	}
	for name, corrupt := range cases {
		m := base.m.Clone()
		if err := m.CheckTDXInvariants(); err != nil {
			t.Fatalf("%s: broken before: %v", name, err)
		}
		corrupt(m)
		err := m.CheckTDXInvariants()
		if err == nil || !strings.Contains(err.Error(), "TDX invariants broken") {
			t.Errorf("%s: not caught (%v)", name, err)
		}
	}
}
