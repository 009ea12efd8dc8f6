package mmu

import (
	"strings"
	"testing"
)

// A 2-level L1 on a 5-level host: VMRUN builds guest_mmu's special roots,
// L2's first access fills NPT02, and the result is L2's tables composed
// with NPT12 and the memslots.
func TestNestedNPT32BitL1FirstAccess(t *testing.T) {
	e := newNestedEnv(t, 5, Paging32, Paging4, ShadowMerged)
	_, err := e.l2.Map(0x400000, 0x200000, PageSize, PTWritable|PTUser)
	e.must(err)
	e.do(&NestedEntry{VCPU: 0})
	v := e.m.VCPUs[0]
	if !v.GuestMode || v.ArchMMUID != GuestMMUID || v.WalkMMUID != NestedMMUID {
		t.Fatalf("after VMRUN: guest mode %v, arch.mmu %s, walk_mmu %s", v.GuestMode, v.ArchMMUID, v.WalkMMUID)
	}
	mmu := &v.GuestMMU
	if mmu.PML5Root == 0 || mmu.PML4Root == 0 || mmu.PAERoot == 0 || mmu.Root != mmu.PML5Root {
		t.Fatalf("guest_mmu's roots: root %s, pml5 %s, pml4 %s, pae %s", mmu.Root, mmu.PML5Root, mmu.PML4Root, mmu.PAERoot)
	}
	st := e.do(&Access{VCPU: 0, GVA: 0x400123, Kind: AccessRead, User: true})
	want := nestedHPA + HPA(nestedL1Base) + 0x200123
	if !st.Result.OK || st.Result.HPA != want || st.Result.Refs != 29 {
		t.Fatalf("L2 read: %+v, want HPA %s in 29 references ((4+1)(5+1)-1)", st.Result, want)
	}
}

// An L2 GPA that NPT12 does not map is reflected to L1 as #VMEXIT(NPF)
// with the L2 GPA in exit_info_2; a scripted exit leaves L2 too; both put
// the vCPU back on root_mmu with L1's registers.
func TestNestedNPTReflectAndExit(t *testing.T) {
	e := newNestedEnv(t, 5, Paging32, Paging4, ShadowMerged)
	_, err := e.l2.Map(0x400000, 0x800000, PageSize, PTWritable|PTUser) // L2 GPA 8M: beyond NPT12's 4M
	e.must(err)
	l1 := e.m.VCPUs[0].Regs
	e.do(&NestedEntry{VCPU: 0})
	st := e.do(&Access{VCPU: 0, GVA: 0x400000, Kind: AccessWrite})
	v := e.m.VCPUs[0]
	info := v.Nested.Reflected
	if st.Result.OK || v.GuestMode || info.Code != svmExitNPF || info.Info2 != 0x800000 {
		t.Fatalf("reflected: result %+v, guest mode %v, exit %+v", st.Result, v.GuestMode, info)
	}
	if info.Info1&PFErrGuestFinal == 0 || info.Info1&PFErrUser == 0 || info.Info1&PFErrWrite == 0 ||
		info.Info1&PFErrPresent != 0 {
		t.Fatalf("exit_info_1 %s = %s: want a not-present user write on the final GPA", hex(info.Info1),
			DecodeNPFErrorCode(info.Info1))
	}
	if v.Regs != l1 || v.ArchMMUID != RootMMUID || v.WalkMMUID != RootMMUID {
		t.Fatalf("after the exit: regs %+v (L1's %+v), arch.mmu %s, walk_mmu %s", v.Regs, l1, v.ArchMMUID, v.WalkMMUID)
	}
	e.do(&NestedEntry{VCPU: 0})
	e.do(&NestedExit{VCPU: 0})
	if v.GuestMode || v.Nested.Reflected.Code != "SVM_EXIT_VMMCALL" || v.Nested.Exits != 2 || v.Nested.Entries != 2 {
		t.Fatalf("after vmexit: %+v", v.Nested)
	}
}

// VM-entry and VM-exit switch the contexts as nested_svm_init_mmu_context
// and nested_svm_uninit_mmu_context do: arch.mmu and walk_mmu move to
// guest_mmu and nested_mmu and back; root_mmu keeps its root throughout;
// guest_mmu gets the NPT callbacks for L1's format; upstream assigns the
// three SVM constants on every VMRUN, seed 000 never after creation.
func TestNestedNPTEntryExitContexts(t *testing.T) {
	for _, style := range []CallbackStyle{CallbacksUpstream, CallbacksConstantsOnce} {
		e := newNestedEnvOpts(t, 5, PagingPAE, Paging4, ShadowMerged, MMUOptions{Callbacks: style})
		v := e.m.VCPUs[0]
		e.do(&Access{VCPU: 0, GVA: 0x1000, Kind: AccessRead}) // L1 runs first: root_mmu gets its root
		l1Root := v.RootMMU.Root
		e.do(&NestedEntry{VCPU: 0})
		writes := v.CallbackWrites
		g := v.GuestMMU.Callbacks
		want := MMUCallbacks{GetGuestPGD: "nested_svm_get_tdp_cr3", GetPDPTR: "nested_svm_get_tdp_pdptr",
			InjectPageFault: "nested_svm_inject_npf_exit", PageFault: "paging64_page_fault",
			GVAToGPA: "paging64_gva_to_gpa", SyncSPTE: "paging64_sync_spte"}
		if g != want {
			t.Errorf("%v: guest_mmu's callbacks %s, want %s", style, g, want)
		}
		if v.NestedMMU.Callbacks.GVAToGPA != "paging64_gva_to_gpa" || v.RootMMU.Root != l1Root || !v.RootMMU.RootValid {
			t.Errorf("%v: nested_mmu %s; root_mmu's root %s (was %s)", style, v.NestedMMU.Callbacks, v.RootMMU.Root, l1Root)
		}
		e.do(&NestedExit{VCPU: 0})
		if v.ArchMMUID != RootMMUID || v.WalkMMUID != RootMMUID || v.RootMMU.Root != l1Root || !v.GuestMMU.RootValid {
			t.Errorf("%v: after the exit arch.mmu %s walk_mmu %s root %s guest_mmu root valid %v", style, v.ArchMMUID,
				v.WalkMMUID, v.RootMMU.Root, v.GuestMMU.RootValid)
		}
		e.do(&NestedEntry{VCPU: 0})
		again := v.CallbackWrites - writes
		if style == CallbacksUpstream && again != 3 || style == CallbacksConstantsOnce && again != 0 {
			t.Errorf("%v: the second VMRUN assigned %d callbacks (roles unchanged: upstream sets the 3 SVM constants, "+
				"seed 000 none)", style, again)
		}
	}
}

// Pages built for L2 are never L1's: every shadow page of a nested run has
// guest_mode in its role, and no TDP MMU page (L1's) has.
func TestNestedNPTRolesApart(t *testing.T) {
	e := newNestedEnv(t, 4, Paging4, Paging32, ShadowMerged)
	_, err := e.l2.Map(0x400000, 0x200000, PageSize, PTWritable|PTUser)
	e.must(err)
	e.do(&Access{VCPU: 0, GVA: 0x1000, Kind: AccessRead})
	e.do(&NestedEntry{VCPU: 0})
	e.do(&Access{VCPU: 0, GVA: 0x400000, Kind: AccessWrite})
	e.do(&NestedExit{VCPU: 0})
	e.do(&Access{VCPU: 0, GVA: 0x2000, Kind: AccessWrite})
	if len(e.m.shadow.pages) == 0 || len(e.m.tdp.pages) == 0 {
		t.Fatalf("%d shadow pages, %d TDP pages: nothing to compare", len(e.m.shadow.pages), len(e.m.tdp.pages))
	}
	for _, sp := range e.m.shadow.sortedPages() {
		if !sp.Role.GuestMode() {
			t.Errorf("%s is guest_mmu's but has no guest_mode: %s", spName(sp), sp.Role)
		}
	}
	for _, sp := range e.m.tdp.sortedPages() {
		if sp.Role.GuestMode() {
			t.Errorf("L1's TDP page at HPA %s has guest_mode", sp.SPT)
		}
	}
}

// Seek at every step of a nested script equals running it.
func TestNestedNPTTimelineSeek(t *testing.T) {
	env := func() *Machine {
		e := newNestedEnv(t, 5, Paging32, Paging4, ShadowMerged)
		_, err := e.l2.Map(0x400000, 0x200000, PageSize, PTWritable|PTUser)
		e.must(err)
		_, err = e.l2.Map(0x401000, 0x800000, PageSize, PTWritable|PTUser)
		e.must(err)
		return e.m
	}
	seekCheck(t, env, []Action{&NestedEntry{}, &Access{GVA: 0x400000, Kind: AccessWrite, User: true},
		&Access{GVA: 0x401000, Kind: AccessRead}, &WriteNPT12Entry{L2GPA: 0x800000, Level: 2, Value: 0x400087},
		&NestedEntry{}, &Access{GVA: 0x401000, Kind: AccessRead}, &NestedGVAToGPA{GVA: 0x400010},
		&NestedExit{Reason: "cpuid"}})
}

// Bad requests are errors that say why, never panics.
func TestNestedNPTBadInput(t *testing.T) {
	e := newNestedEnv(t, 5, Paging32, Paging4, ShadowMerged)
	for _, c := range []struct {
		a    Action
		want string
	}{
		{&NestedExit{}, "runs L1: there is no L2"},
		{&NestedEntry{VCPU: 3}, "no vCPU 3"},
		{&WriteNPT12Entry{L2GPA: 0x1000, Level: 3}, "levels 1 to 2"},
		{&WriteNPT12Entry{L2GPA: 0x40000000, Level: 1}, "is not present"},
		{&WriteNPT12Entry{L2GPA: 0x1000, Level: 1, Value: 1 << 40}, "cannot hold"},
		{(*NestedEntry)(nil), "nil"},
	} {
		if _, err := e.m.Do(c.a); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%T: %v, want an error with %q", c.a, err, c.want)
		}
	}
	e.do(&NestedEntry{})
	for _, c := range []struct {
		a    Action
		want string
	}{
		{&NestedEntry{}, "already runs L2"},
		{&NestedExit{Reason: "nap"}, "no exit reason"},
		{&GuestWrite{GPA: 0x1000, Size: 4, Value: 1}, "runs L2"},
	} {
		if _, err := e.m.Do(c.a); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%T: %v, want an error with %q", c.a, err, c.want)
		}
	}
	plain, err := NewMachine(DefaultConfig(), 1)
	e.must(err)
	if _, err := plain.Do(&NestedEntry{}); err == nil || !strings.Contains(err.Error(), "no nested set-up") {
		t.Errorf("VMRUN without a set-up: %v", err)
	}
	if err := plain.SetupNested(0, NestedSetup{Kind: NestedSVM}); err == nil || !strings.Contains(err.Error(), "NPT") {
		t.Errorf("nested NPT without NPT: %v", err)
	}
	e.must(plain.EnableTDP(TDPConfig{Kind: TDPEPT, Levels: 4}))
	if err := plain.SetupNested(0, NestedSetup{Kind: NestedSVM}); err == nil || !strings.Contains(err.Error(), "tdp npt") {
		t.Errorf("nested NPT on EPT: %v", err)
	}
	if err := plain.SetupNested(0, NestedSetup{Kind: NestedKind(9)}); err == nil {
		t.Errorf("an unknown kind of nesting was accepted")
	}
}

// nested_mmu's software walk (the emulator's gva_to_gpa) translates each
// L2 GPA through guest_mmu and agrees with the processor's walk; a table
// NPT12 does not map makes it reflect #VMEXIT(NPF) to L1, the address
// being the L2 GPA of the table's page (emulation, not the hardware).
func TestNestedNPTSoftwareWalk(t *testing.T) {
	e := newNestedEnv(t, 4, Paging4, Paging4, ShadowMerged)
	_, err := e.l2.Map(0x400000, 0x200000, PageSize, PTWritable|PTUser)
	e.must(err)
	e.do(&NestedEntry{})
	hw := e.do(&Access{GVA: 0x400123, Kind: AccessRead, User: true})
	sw := e.do(&NestedGVAToGPA{GVA: 0x400123, User: true})
	if !sw.Result.OK || sw.Result.HPA != hw.Result.HPA || sw.Result.GPA != 0x200123 {
		t.Fatalf("software walk %+v, processor's %+v", sw.Result, hw.Result)
	}
	n := 0
	for _, ev := range sw.Events {
		if ev.Func == "translate_nested_gpa" {
			n++
		}
	}
	if n != 5 {
		t.Errorf("%d L2 GPAs went through translate_nested_gpa, want 5 (4 tables and the page)", n)
	}
	// Drop NPT12's mapping of L2's PML4 page behind KVM's back: the
	// software walk sees it at once.
	_, err = e.npt.SetEntry(GVA(e.l2.Root), 1, 0)
	e.must(err)
	st, err := e.m.Do(&NestedGVAToGPA{GVA: 0x400123}) // NPT02 is stale on purpose: no invariant check
	e.must(err)
	info := e.m.VCPUs[0].Nested.Reflected
	if e.m.VCPUs[0].GuestMode || info.Info2 != uint64(e.l2.Root) || info.Info1&PFErrGuestFinal == 0 || st.Result.OK {
		t.Errorf("reflected exit %+v, guest mode %v, result %+v", info, e.m.VCPUs[0].GuestMode, st.Result)
	}
}

// The invariant checker notices NPT02 disagreeing with NPT12: an NPT12
// entry changed behind KVM's back (no write protection) leaves a stale
// leaf.
func TestNestedNPTInvariantsCatchStaleLeaf(t *testing.T) {
	e := newNestedEnv(t, 5, Paging32, Paging4, ShadowMerged)
	_, err := e.l2.Map(0x400000, 0x200000, PageSize, PTWritable|PTUser)
	e.must(err)
	e.do(&NestedEntry{})
	e.do(&Access{GVA: 0x400000, Kind: AccessRead, User: true})
	_, err = e.npt.SetEntry(0x200000, 1, PTE(nestedL1Base+0x300000)|PTPresent|PTWritable|PTUser)
	e.must(err)
	bad := e.m.CheckShadowInvariants()
	if len(bad) == 0 || !strings.Contains(strings.Join(bad, "\n"), "NPT12 and the memslots give") {
		t.Fatalf("stale NPT02 leaf not reported: %v", bad)
	}
}

// L1 editing NPT12: a leaf table's NPT02 page goes unsync and is synced
// by the next VMRUN; an upper-level table is write-tracked, so L1's store
// (a guest-write, or a write through L1's own mapping) is emulated and
// kvm_mmu_track_write zaps what it shadowed; L1's TDP entry for an NPT12
// frame stays read-only while it is shadowed.
func TestNestedNPTL1EditsNPT12(t *testing.T) {
	e := newNestedEnv(t, 5, Paging32, Paging4, ShadowMerged)
	_, err := e.l2.Map(0x400000, 0x200000, PageSize, PTWritable|PTUser)
	e.must(err)
	e.do(&NestedEntry{})
	e.do(&Access{GVA: 0x400000, Kind: AccessRead, User: true})
	e.do(&NestedExit{})
	st := e.do(&WriteNPT12Entry{L2GPA: 0x200000, Level: 1, Value: uint64(nestedL1Base+0x300000) | 7})
	if !hasFunc(st, "kvm_unsync_page") || hasFunc(st, "emulator_write_phys") {
		t.Errorf("leaf NPT12 edit: %v", funcs(st))
	}
	st = e.do(&NestedEntry{})
	if !hasFunc(st, "mmu_sync_children") {
		t.Errorf("VMRUN did not sync the unsync NPT02 page: %v", funcs(st))
	}
	st = e.do(&Access{GVA: 0x400000, Kind: AccessRead, User: true})
	if want := nestedHPA + HPA(nestedL1Base) + 0x300000; st.Result.HPA != want {
		t.Errorf("after L1's edit L2 reads HPA %s, want %s", st.Result.HPA, want)
	}
	e.do(&NestedExit{})
	// L1's PD (NPT12's root) is write-tracked: L1 writes it through a
	// mapping of its own and KVM emulates the store.
	_, err = e.l1.Map(0x7000000, 2<<20, PageSize, PTWritable)
	e.must(err)
	st = e.do(&Access{GVA: 0x7000004, Kind: AccessWrite, HasValue: true, Value: 0, Size: 4})
	if !st.Result.OK || !hasFunc(st, "emulator_write_phys") || !hasFunc(st, "kvm_mmu_track_write") {
		t.Errorf("L1's write to its NPT12 root: %+v %v", st.Result, funcs(st))
	}
	v := e.m.VCPUs[0]
	for it := e.m.tdpIterStart(e.m.rootOf(v), 1, GFN(2<<20>>PageShift)); it.ok(GFN(2<<20>>PageShift) + 1); it.next() {
		if isShadowPresentPTE(it.oldSPTE) && isLastSPTE(it.oldSPTE, it.level) && it.oldSPTE&PTWritable != 0 {
			t.Errorf("L1's TDP leaf for NPT12's root is writable: %s", hex(it.oldSPTE))
		}
	}
}

// A 4-level L1 on a 5-level host: guest_mmu's root is a passthrough shadow
// page, a real page that fast_pgd_switch can keep: re-entering with the
// same nested_cr3 keeps it current, switching to another NPT12 moves it
// into prev_roots, and switching back finds it there.
func TestNestedNPTPassthroughRootCached(t *testing.T) {
	e := newNestedEnv(t, 5, Paging4, Paging4, ShadowMerged)
	v := e.m.VCPUs[0]
	e.do(&NestedEntry{})
	root := v.GuestMMU.Root
	sp := e.m.shadow.spAt(root)
	if sp == nil || !sp.Role.Passthrough() || sp.Role.Level() != 5 {
		t.Fatalf("guest_mmu's root %s: %v", root, sp)
	}
	e.do(&NestedExit{})
	st := e.do(&NestedEntry{})
	if v.GuestMMU.Root != root || !hasFunc(st, "fast_pgd_switch") {
		t.Fatalf("same nCR3: root %s (was %s), %v", v.GuestMMU.Root, root, funcs(st))
	}
	e.do(&NestedExit{})
	other, err := NewNPT12Tables(e.m, v.Regs, 3<<20, 64<<10)
	e.must(err)
	ncr3 := v.Nested.NCR3
	v.Nested.NCR3 = other.CR3()
	e.do(&NestedEntry{})
	if v.GuestMMU.PrevRoots[0].HPA != root || v.GuestMMU.PrevRoots[0].PGD != ncr3 {
		t.Fatalf("the first NPT12's root is not prev_roots[0]: %+v", v.GuestMMU.PrevRoots)
	}
	e.do(&NestedExit{})
	v.Nested.NCR3 = ncr3
	st = e.do(&NestedEntry{})
	if v.GuestMMU.Root != root || !hasFunc(st, "cached_root_find_and_keep_current") {
		t.Errorf("back to the first nCR3: root %s (want %s), %v", v.GuestMMU.Root, root, funcs(st))
	}
}

// kvm_zap_gfn_range under nested TDP zaps L1's TDP leaves and, through the
// rmaps, the NPT02 leaves that map the range.
func TestNestedNPTZapRange(t *testing.T) {
	e := newNestedEnv(t, 5, Paging32, Paging4, ShadowMerged)
	_, err := e.l2.Map(0x400000, 0x200000, PageSize, PTWritable|PTUser)
	e.must(err)
	e.do(&NestedEntry{})
	st := e.do(&Access{GVA: 0x400000, Kind: AccessRead, User: true})
	e.do(&ZapGFNRange{GPA: st.Result.GPA&^pageMask + nestedL1Base, Size: PageSize})
	if n := len(e.m.shadow.rmap[rmapKeyFor((nestedL1Base+0x200000).GFN(), 1)]); n != 0 {
		t.Errorf("%d NPT02 leaves still map the zapped frame", n)
	}
	st = e.do(&Access{GVA: 0x400000, Kind: AccessRead, User: true})
	if !st.Result.OK || !st.Result.HasRefsTotal {
		t.Errorf("after the zap L2's read must fault once more and succeed: %+v", st.Result)
	}
}
