package mmu

import (
	"strings"
	"testing"
)

// TestPostSetRegDecisions checks which register writes reset the MMU, only
// re-run kvm_init_mmu, or leave it alone (kvm_post_set_cr0/cr4, set_efer).
func TestPostSetRegDecisions(t *testing.T) {
	on := defaultRegs(Paging4)
	off := on
	off.CR0 &^= CR0PG
	with := func(r Regs, f func(*Regs)) Regs { f(&r); return r }
	cases := []struct {
		name      string
		tdp       bool
		reg       Reg
		old, next Regs
		want      mmuUpdate
	}{
		{"WP only, paging on, shadow", false, RegCR0, on, with(on, func(r *Regs) { r.CR0 &^= CR0WP }), mmuReset},
		{"WP only, paging on, TDP", true, RegCR0, on, with(on, func(r *Regs) { r.CR0 &^= CR0WP }), mmuInitOnly},
		{"WP only, paging off", true, RegCR0, off, with(off, func(r *Regs) { r.CR0 ^= CR0WP }), mmuNoUpdate},
		{"PG", true, RegCR0, on, off, mmuReset},
		{"CR0.PE is no role bit", false, RegCR0, with(on, func(r *Regs) { r.CR0 &^= CR0PE }), on, mmuNoUpdate},
		{"CR4.SMEP", true, RegCR4, on, with(on, func(r *Regs) { r.CR4 |= CR4SMEP }), mmuReset},
		{"CR4.PGE", false, RegCR4, on, with(on, func(r *Regs) { r.CR4 |= CR4PGE }), mmuNoUpdate},
		{"EFER.NX", false, RegEFER, on, with(on, func(r *Regs) { r.EFER &^= EFERNX }), mmuReset},
		{"EFER.SCE", false, RegEFER, on, with(on, func(r *Regs) { r.EFER |= 1 }), mmuNoUpdate},
		{"CR3", false, RegCR3, on, with(on, func(r *Regs) { r.CR3 += 0x1000 }), mmuNoUpdate},
	}
	for _, c := range cases {
		m, err := NewMachine(DefaultConfig(), 1)
		if err != nil {
			t.Fatal(err)
		}
		if c.tdp {
			m.tdp = &tdpState{}
		}
		if got, _, _ := m.postSetReg(c.reg, &c.old, &c.next); got != c.want {
			t.Errorf("%s: update %d, want %d", c.name, got, c.want)
		}
	}
}

// rsvdEnv is a shadow-paged 4-level vCPU whose PTE for 0x401000 sets bit
// 41: an address bit with MAXPHYADDR 46, reserved with 39.
func rsvdEnv(t *testing.T, opts MMUOptions) *testEnv {
	e := shadowEnv(t, Paging4, ShadowConfig{})
	if err := e.m.SetOptions(opts); err != nil {
		t.Fatal(err)
	}
	e.mapPage(0x401000, 0x201000, PageSize, PTWritable)
	e.load()
	e.edit(0x401000, 1, 1<<41, 0)
	return e
}

// TestCPUIDMarkers runs the seed-003 markers: each forces kvm_init_mmu past
// its early return, so the reserved-bit masks follow MAXPHYADDR 39 and the
// walk faults with RSVD; without a marker the old masks let it through.
func TestCPUIDMarkers(t *testing.T) {
	for _, c := range []struct {
		marker RoleMarker
		rsvd   bool
		how    string
	}{
		{MarkerValid, true, "clears cpu_role.ext.valid"},
		{MarkerLevel0, true, "level to 0"},
		{MarkerCPUIDStale, true, "cpuid_stale"},
		{MarkerNone, false, "marks nothing"},
	} {
		e := rsvdEnv(t, MMUOptions{Marker: c.marker})
		st := e.do(&SetCPUID{MaxPhyAddr: 39})
		if !st.Result.OK || !strings.Contains(eventText(st, "kvm_mmu_after_set_cpuid"), c.how) {
			t.Errorf("marker %d: cpuid step %+v", c.marker, st.Result)
		}
		if got := e.m.VCPUs[0].RootMMU.MasksMaxPhyAddr(); (got == 39) != c.rsvd {
			t.Errorf("marker %d: masks for MAXPHYADDR %d", c.marker, got)
		}
		if hasFunc(st, "shadow_mmu_init_context") == c.rsvd {
			t.Errorf("marker %d: skipped = %v", c.marker, hasFunc(st, "shadow_mmu_init_context"))
		}
		res := e.do(read(0x401000, false)).Result
		gotRsvd := res.Fault != nil && res.Fault.ErrorCode&PFErrRsvd != 0
		if gotRsvd != c.rsvd {
			t.Errorf("marker %d: access %+v, want RSVD fault %v", c.marker, res, c.rsvd)
		}
		if c.rsvd {
			// Without a marker the MMIO SPTE encodes a GPA beyond the new
			// MAXPHYADDR: the checker rightly objects to that state.
			mustCheck(t, e.m, "after the access")
		}
	}
}

// TestCPUIDAfterRun checks that a different CPU model is refused once the
// vCPU has run, and an identical one accepted.
func TestCPUIDAfterRun(t *testing.T) {
	e := rsvdEnv(t, MMUOptions{})
	e.do(read(0x400000, false))
	st := e.do(&SetCPUID{MaxPhyAddr: 39})
	if st.Result.OK || e.m.Config.MaxPhyAddr != 46 || !hasFunc(st, "kvm_cpuid_check_equal") {
		t.Errorf("CPUID after run: %+v, MAXPHYADDR %d", st.Result, e.m.Config.MaxPhyAddr)
	}
	if st := e.do(&SetCPUID{MaxPhyAddr: 46}); !st.Result.OK {
		t.Errorf("identical CPUID refused: %+v", st.Result)
	}
	for _, bad := range []*SetCPUID{{MaxPhyAddr: 31}, {Enable: []string{"avx"}}, {MaxPhyAddr: 32}} {
		if _, err := e.m.Do(bad); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

// TestCallbackStyles runs one script under both callback designs: the
// contexts end with the same callbacks, and setting the constants once
// makes fewer assignments (seed 000).
func TestCallbackStyles(t *testing.T) {
	run := func(style CallbackStyle) *Machine {
		e := rsvdEnv(t, MMUOptions{Callbacks: style})
		for _, a := range []Action{
			&SetReg{Reg: RegCR0, Op: RegClearBits, Value: CR0WP}, read(0x400000, false),
			&SetReg{Reg: RegCR0, Op: RegSetBits, Value: CR0WP}, &SetReg{Reg: RegCR4, Op: RegSetBits, Value: CR4SMEP},
		} {
			e.do(a)
		}
		return e.m
	}
	up, once := run(CallbacksUpstream).VCPUs[0], run(CallbacksConstantsOnce).VCPUs[0]
	if up.RootMMU.Callbacks != once.RootMMU.Callbacks {
		t.Errorf("callbacks differ:\n%s\n%s", up.RootMMU.Callbacks, once.RootMMU.Callbacks)
	}
	if up.RootMMU.Callbacks.PageFault != "paging64_page_fault" || up.RootMMU.Callbacks.GetGuestPGD != "get_guest_cr3" {
		t.Errorf("root_mmu callbacks %s", up.RootMMU.Callbacks)
	}
	if once.CallbackWrites >= up.CallbackWrites {
		t.Errorf("callback writes: constants-once %d, upstream %d", once.CallbackWrites, up.CallbackWrites)
	}
}

// TestTDPWPOnly checks CR0.WP-only writes on TDP. With NPT the write exits
// and only kvm_init_mmu runs, roots kept. With EPT WP is guest-owned: no
// exit, KVM's cpu_role goes stale, the processor's walk still honours the
// new WP, and kvm_mmu_refresh_passthrough_bits catches KVM up.
func TestTDPWPOnly(t *testing.T) {
	for _, kind := range []TDPKind{TDPNPT, TDPEPT} {
		e := newTestEnv(t, Paging4, DefaultConfig())
		if err := e.m.EnableTDP(TDPConfig{Kind: kind, Levels: 4}); err != nil {
			t.Fatal(err)
		}
		e.mapPage(0x600000, 0x300000, PageSize, 0) // read-only, supervisor
		e.load()
		v := e.m.VCPUs[0]
		root := v.RootMMU.Root
		st := e.do(&SetReg{Reg: RegCR0, Op: RegClearBits, Value: CR0WP})
		if kind == TDPNPT {
			if !hasFunc(st, "init_kvm_tdp_mmu") || hasFunc(st, "kvm_mmu_reset_context") || !v.RootMMU.RootValid ||
				v.RootMMU.Root != root || v.RootMMU.CPURole.Base.CR0WP() {
				t.Errorf("NPT WP-only: %v, root %v valid %v", funcs(st), v.RootMMU.Root, v.RootMMU.RootValid)
			}
		} else {
			if got := funcs(st); len(got) != 1 || got[0] != "cpu" || !v.RootMMU.CPURole.Base.CR0WP() || !v.cr0WPStale {
				t.Errorf("EPT WP-only: %v, KVM's cr0_wp %v", got, v.RootMMU.CPURole.Base.CR0WP())
			}
			// The processor uses the real CR0.WP=0: a supervisor write to a
			// read-only page is allowed.
			if res := e.do(write(0x600000, false)).Result; !res.OK {
				t.Errorf("EPT: supervisor write with WP=0 faults: %+v", res.Fault)
			}
			e.m.kvmMMURefreshPassthroughBits(v, &v.RootMMU)
			if v.RootMMU.CPURole.Base.CR0WP() || v.cr0WPStale {
				t.Error("kvm_mmu_refresh_passthrough_bits left cr0_wp stale")
			}
		}
		st = e.do(&SetReg{Reg: RegCR4, Op: RegSetBits, Value: CR4SMEP})
		if !hasFunc(st, "kvm_mmu_reset_context") || v.RootMMU.RootValid {
			t.Errorf("%s CR4.SMEP: %v", kind, funcs(st))
		}
		res := e.do(read(0x400000, false))
		if !hasFunc(res, "kvm_tdp_mmu_alloc_root") || v.RootMMU.Root != root {
			t.Errorf("%s: after the reset the same root is found again by role: %v", kind, funcs(res))
		}
	}
}

// TestTDPCR3NoExit checks that a CR3 load on TDP does not exit, and that
// with EPT a PAE guest's PDPTEs are loaded by the processor.
func TestTDPCR3NoExit(t *testing.T) {
	e := newTestEnv(t, PagingPAE, DefaultConfig())
	if err := e.m.EnableTDP(TDPConfig{Kind: TDPEPT, Levels: 4}); err != nil {
		t.Fatal(err)
	}
	e.load()
	st := e.do(&SetReg{Reg: RegCR3, Value: e.regs.CR3})
	for _, ev := range st.Events {
		if ev.Func != "cpu" {
			t.Errorf("CR3 load under EPT ran %s: %s", ev.Func, ev.Text)
		}
	}
	if len(st.Events) != 5 || !st.Result.OK {
		t.Errorf("CR3 load: %d events (want 4 PDPTE loads and the write), %+v", len(st.Events), st.Result)
	}
}

// eventText is the text of the first event of fn in st.
func eventText(st Step, fn string) string {
	for _, e := range st.Events {
		if e.Func == fn {
			return e.Text
		}
	}
	return ""
}
