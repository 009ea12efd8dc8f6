package mmu

import (
	"strings"
	"testing"
)

// mirrorPages and directPages count the TDP MMU's pages of each kind.
func tdPages(m *Machine) (mirror, direct int) {
	for _, p := range m.TDPPages() {
		if p.Mirror {
			mirror++
		} else {
			direct++
		}
	}
	return mirror, direct
}

// eventOf returns the first event of fn in a step.
func eventOf(t *testing.T, st Step, fn string) Event {
	t.Helper()
	for _, e := range st.Events {
		if e.Func == fn {
			return e
		}
	}
	t.Fatalf("no %s event in:\n%s", fn, traceText(st))
	return Event{}
}

// TestTDXRoutingBySharedBit: a private GPA faults into the mirror root
// with PFERR_PRIVATE_ACCESS and the processor then walks the S-EPT; a GPA
// with the shared bit faults into the direct root, indexed with the bit,
// and the processor walks the shared EPT. Neither touches the other half.
func TestTDXRoutingBySharedBit(t *testing.T) {
	for _, gpaw := range []int{48, 52} {
		e := newTD(t, gpaw)
		e.boot()
		m0, d0 := tdPages(e.m)
		st := e.do(&TDXAccept{GPA: tdPrivGPA})
		if ec := eventOf(t, st, "__vmx_handle_ept_violation").New; ec&PFErrPrivateAccess == 0 {
			t.Errorf("GPAW %d: private fault error code %s lacks PFERR_PRIVATE_ACCESS", gpaw, hex(ec))
		}
		m1, d1 := tdPages(e.m)
		if m1 != m0+1 || d1 != d0 {
			t.Errorf("GPAW %d: private fault: mirror pages %d → %d, direct %d → %d; want one new mirror PT", gpaw,
				m0, m1, d0, d1)
		}
		e.do(&TDXMapGPA{GPA: e.shared, Size: PageSize})
		st = e.do(&Access{GVA: tdSharedGVA, Kind: AccessRead})
		if !st.Result.OK || st.Result.HPA != HPA(256<<20)+HPA(tdSharedGFN.GPA()) {
			t.Fatalf("GPAW %d: shared read: %+v", gpaw, st.Result)
		}
		if ec := eventOf(t, st, "__vmx_handle_ept_violation").New; ec&PFErrPrivateAccess != 0 {
			t.Errorf("GPAW %d: shared fault has PFERR_PRIVATE_ACCESS", gpaw)
		}
		m2, d2 := tdPages(e.m)
		if m2 != m1 || d2 != d1+e.m.tdp.level-1 {
			t.Errorf("GPAW %d: shared fault: mirror %d → %d, direct %d → %d", gpaw, m1, m2, d1, d2)
		}
		// The direct root's entry is the one of the shared bit.
		root, _ := e.m.TDPRoot(0)
		idx := spteIndex(e.shared, e.m.tdp.level)
		if v, _ := e.m.ReadSPTE(root + HPA(8*idx)); !isShadowPresentPTE(v) || idx != 1<<(gpaw-1-PageShift-9*(e.m.tdp.level-1)) {
			t.Errorf("GPAW %d: direct root entry %d is %s", gpaw, idx, hex(v))
		}
		// The processor's path: S-EPT for the private GPA, direct root
		// for the shared one.
		priv, _, ok1 := e.m.TDPPath(0, tdPrivGPA)
		shared, _, ok2 := e.m.TDPPath(0, e.shared)
		if !ok1 || !ok2 || priv[0].Table != e.m.tdx().septRoot || shared[0].Table != root {
			t.Errorf("GPAW %d: paths start at %s and %s", gpaw, priv[0].Table, shared[0].Table)
		}
	}
}

// hookTrail lists the TDX-related steps of a trace with their levels.
func hookTrail(st Step) []string {
	var out []string
	for _, e := range st.Events {
		switch e.Func {
		case "kvm_mmu_alloc_external_spt", "set_external_spte_present", "tdx_sept_link_private_spt",
			"tdx_sept_set_private_spte", "tdx_sept_remove_private_spte", "tdx_sept_zap_private_spte", "tdx_track",
			"tdx_sept_drop_private_spte", "tdx_sept_free_private_spt", "tdp_mmu_link_sp",
			"tdp_mmu_map_handle_target_level":
			out = append(out, e.Func+"@"+itoa(e.Level))
		}
	}
	return out
}

// TestTDXHooksInOrder: the hooks run in the kernel's order with the right
// levels: a table is frozen, added to the S-EPT (TDH.MEM.SEPT.ADD), then
// linked in the mirror; a leaf is frozen, augmented (TDH.MEM.PAGE.AUG),
// then set; a removal blocks, tracks and removes, after the mirror SPTE
// is zapped. The S-EPT entry values follow.
func TestTDXHooksInOrder(t *testing.T) {
	e := newTD(t, 48)
	st := e.do(&TDXInitMemRegion{GPA: tdPool, Size: PageSize})
	want := "kvm_mmu_alloc_external_spt@3 set_external_spte_present@4 tdx_sept_link_private_spt@4 tdp_mmu_link_sp@4 " +
		"kvm_mmu_alloc_external_spt@2 set_external_spte_present@3 tdx_sept_link_private_spt@3 tdp_mmu_link_sp@3 " +
		"kvm_mmu_alloc_external_spt@1 set_external_spte_present@2 tdx_sept_link_private_spt@2 tdp_mmu_link_sp@2 " +
		"set_external_spte_present@1 tdx_sept_set_private_spte@0 tdp_mmu_map_handle_target_level@1"
	if got := strings.Join(hookTrail(st), " "); got != want {
		t.Errorf("premap:\n got %s\nwant %s", got, want)
	}
	e.do(&TDXInitMemRegion{GPA: tdPool + PageSize, Size: tdPoolSize - PageSize})
	e.do(&TDXFinalize{})
	st = e.do(&TDXAccept{GPA: tdPrivGPA})
	want = "kvm_mmu_alloc_external_spt@1 set_external_spte_present@2 tdx_sept_link_private_spt@2 tdp_mmu_link_sp@2 " +
		"set_external_spte_present@1 tdx_sept_set_private_spte@1 tdp_mmu_map_handle_target_level@1"
	if got := strings.Join(hookTrail(st), " "); got != want {
		t.Errorf("accept:\n got %s\nwant %s", got, want)
	}
	aug := eventOf(t, st, "tdx_sept_set_private_spte")
	if !strings.Contains(aug.Text, "TDH.MEM.PAGE.AUG") || aug.New&SEPTPending == 0 || aug.New&EPTRWX != 0 {
		t.Errorf("AUG wrote %s: %s", hex(aug.New), aug.Text)
	}
	if ep, e2, _ := e.m.septLeaf(tdPrivGPA.GFN()); e2&EPTRWX != EPTRWX || e2&SEPTPending != 0 {
		t.Errorf("after the accept the S-EPT PTE at %s is %s", ep, hex(e2))
	}
	st = e.do(&TDXMapGPA{GPA: tdPrivGPA | e.shared&^tdSharedGFN.GPA(), Size: PageSize})
	want = "tdx_sept_remove_private_spte@1 tdx_sept_zap_private_spte@1 tdx_track@0 tdx_sept_drop_private_spte@1"
	if got := strings.Join(hookTrail(st), " "); got != want {
		t.Errorf("conversion:\n got %s\nwant %s", got, want)
	}
	block := eventOf(t, st, "tdx_sept_zap_private_spte")
	drop := eventOf(t, st, "tdx_sept_drop_private_spte")
	track := eventOf(t, st, "tdx_track")
	if block.New&EPTRWX != 0 || block.New&SEPTBlocked == 0 || drop.New != 0 || track.New != track.Old+1 {
		t.Errorf("BLOCK %s, REMOVE %s, TRACK %d→%d", hex(block.New), hex(drop.New), track.Old, track.New)
	}
	if zap := eventOf(t, st, "kvm_tdp_mmu_unmap_gfn_range"); zap.Level != 1 {
		t.Errorf("the mirror leaf zapped at level %d", zap.Level)
	}
}

// TestTDXPrivate4KOnly: private memory is mapped with 4 KiB pages even
// where the host backs it with 2 MiB pages, while a shared range of the
// same memslot gets a 2 MiB mapping once all of it is shared; the
// set_external_spte hook refuses anything bigger.
func TestTDXPrivate4KOnly(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxPhyAddr = 48
	m, err := NewMachine(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.AddMemslot(Memslot{ID: 0, NPages: 8 << 20 >> PageShift, BasePFN: HPA(256 << 20).PFN(),
		HostPageSize: 2 << 20}); err != nil {
		t.Fatal(err)
	}
	r := Regs{CR0: CR0PE, EFER: EFERNX}
	if err := m.SetupRegs(0, r); err != nil {
		t.Fatal(err)
	}
	if err := m.EnableTDP(TDPConfig{Kind: TDPEPT, Levels: 4, AD: true}); err != nil {
		t.Fatal(err)
	}
	if err := m.EnableTDX(TDXConfig{GPAW: 48, PrivateBase: tdPrivBase}); err != nil {
		t.Fatal(err)
	}
	e := &tdEnv{t: t, m: m}
	e.do(&TDXFinalize{})
	e.do(&PreFault{GPA: 0x400000, Size: 2 << 20})
	shared := GPA(1) << 47
	e.do(&TDXMapGPA{GPA: shared | 0x600000, Size: 2 << 20})
	e.do(&PreFault{GPA: 0x600000, Size: 2 << 20})
	for _, p := range m.TDPPages() {
		if p.Mirror && p.Level > 1 {
			for i := 0; i < 512; i++ {
				if v, _ := m.ReadSPTE(p.HPA + HPA(8*i)); isShadowPresentPTE(v) && isLargePTE(v) {
					t.Errorf("a huge private mapping at level %d", p.Level)
				}
			}
		}
	}
	if _, level := (&testEnv{t: t, m: m}).leafSPTE(shared | 0x600000); level != 2 {
		t.Errorf("the shared 2 MiB range is mapped at level %d, want 2", level)
	}
	if err := m.tdxSeptSetPrivateSPTE(nil, 0x800, 2, 0x20000); err == nil {
		t.Error("set_external_spte took a 2 MiB page")
	}
}

// TestTDXMixedRangeStays4K: a shared page whose 2 MiB neighbourhood is
// still private is mapped with a 4 KiB SPTE (KVM_LPAGE_MIXED_FLAG).
func TestTDXMixedRangeStays4K(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxPhyAddr = 48
	m, _ := NewMachine(cfg, 1)
	_ = m.AddMemslot(Memslot{ID: 0, NPages: 8 << 20 >> PageShift, BasePFN: HPA(256 << 20).PFN(), HostPageSize: 2 << 20})
	_ = m.SetupRegs(0, Regs{CR0: CR0PE})
	_ = m.EnableTDP(TDPConfig{Kind: TDPEPT, Levels: 4, AD: true})
	if err := m.EnableTDX(TDXConfig{GPAW: 48, PrivateBase: tdPrivBase}); err != nil {
		t.Fatal(err)
	}
	e := &tdEnv{t: t, m: m}
	e.do(&TDXFinalize{})
	shared := GPA(1)<<47 | 0x200000
	e.do(&TDXMapGPA{GPA: shared, Size: PageSize})
	st := e.do(&PreFault{GPA: 0x200000, Size: PageSize})
	if _, level := (&testEnv{t: t, m: m}).leafSPTE(shared); level != 1 {
		t.Errorf("mapped at level %d over a mixed range", level)
	}
	if !strings.Contains(traceText(st), "hugepage_has_attrs") {
		t.Error("the trace does not say why")
	}
}
