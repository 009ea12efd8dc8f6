package mmu

import (
	"fmt"
	"strings"
	"testing"
)

// nestedState prints what a nested timeline must restore beyond
// machineState: each vCPU's nested state, which contexts arch.mmu and
// walk_mmu point at, and guest_mmu's and nested_mmu's roles, roots and
// callbacks.
func nestedState(m *Machine) string {
	var b strings.Builder
	b.WriteString(machineState(m))
	for _, v := range m.VCPUs {
		fmt.Fprintf(&b, "vcpu %d nested %+v guest %v arch %s walk %s writes %d\n", v.ID, v.Nested, v.GuestMode,
			v.ArchMMUID, v.WalkMMUID, v.CallbackWrites)
		for _, mmu := range []*MMU{&v.RootMMU, &v.GuestMMU, &v.NestedMMU} {
			fmt.Fprintf(&b, "%s %s %s root %s valid %v pgd %s prev %+v cb %s\n", mmu.Name, mmu.CPURole, mmu.RootRole,
				mmu.Root, mmu.RootValid, hex(mmu.RootPGD), mmu.PrevRoots, mmu.Callbacks)
		}
	}
	return b.String()
}

// TestNestedEPTReentryKeepsRoot: after an EPT violation reflected to L1,
// L1 adds the missing EPT12 entry and re-enters: guest_mmu's role is
// unchanged and its current root, kept across the exit, already shadows
// EPTP12 (fast_pgd_switch), so no root is built; L2's retry then fills
// EPT02 from the new entry.
func TestNestedEPTReentryKeepsRoot(t *testing.T) {
	e := newVMXEnv(t, true)
	e.mapL2(0x400000, 0x200000, PTWritable|PTUser)
	e.mapL2(0x401000, 0x800000, PTWritable|PTUser) // beyond EPT12's 4M
	e.do(&NestedEntry{VCPU: 0})
	v := e.m.VCPUs[0]
	root := v.GuestMMU.Root
	e.do(&Access{VCPU: 0, GVA: 0x400000, Kind: AccessRead})
	st := e.do(&Access{VCPU: 0, GVA: 0x401000, Kind: AccessWrite})
	if v.GuestMode || v.Nested.Reflected.Code != vmxExitEPTViolation || st.Result.OK {
		t.Fatalf("want a reflected EPT violation, got %+v", v.Nested.Reflected)
	}
	if v.GuestMMU.Root != root || !v.GuestMMU.RootValid || v.RootMMU.Root == root {
		t.Fatalf("after the exit guest_mmu's root is %s (valid %v), want %s kept", v.GuestMMU.Root,
			v.GuestMMU.RootValid, root)
	}
	if _, err := e.ept.Map(0x800000, 0xc00000, PageSize, EPTRWX|wb); err != nil {
		t.Fatal(err)
	}
	st = e.do(&NestedEntry{VCPU: 0})
	if count(st, "fast_pgd_switch", "") != 1 || count(st, "kvm_mmu_alloc_shadow_page", "") != 0 ||
		count(st, "kvm_init_shadow_ept_mmu", EvRole) != 0 {
		t.Fatalf("re-entry: %d fast_pgd_switch, %d new pages, %d role changes; want the root kept",
			count(st, "fast_pgd_switch", ""), count(st, "kvm_mmu_alloc_shadow_page", ""),
			count(st, "kvm_init_shadow_ept_mmu", EvRole))
	}
	st = e.do(&Access{VCPU: 0, GVA: 0x401000, Kind: AccessWrite})
	if want := nestedHPA + 0xc00000; !st.Result.OK || st.Result.HPA != want || v.GuestMMU.Root != root {
		t.Fatalf("retry: %+v, want HPA %s through root %s", st.Result, want, root)
	}
}

// TestNestedEPTSwitchesMMUs: entry and exit point arch.mmu and walk_mmu at
// the right contexts, with guest_mmu's callbacks set as each design sets
// them: upstream assigns the three vendor callbacks on every VM-entry,
// seed 000 never (kvm_init_mmu_constants did it once).
func TestNestedEPTSwitchesMMUs(t *testing.T) {
	writes := map[CallbackStyle][]int{}
	for _, style := range []CallbackStyle{CallbacksUpstream, CallbacksConstantsOnce} {
		e := newVMXEnv(t, false)
		e.must(e.m.SetOptions(MMUOptions{Callbacks: style}))
		v := e.m.VCPUs[0]
		for i := 0; i < 3; i++ {
			before := v.CallbackWrites
			e.do(&NestedEntry{VCPU: 0})
			if v.ArchMMU() != &v.GuestMMU || v.WalkMMU() != &v.NestedMMU || v.ArchMMU().Name != "guest_mmu" {
				t.Fatalf("%d: after entry arch.mmu %s walk_mmu %s", style, v.ArchMMUID, v.WalkMMUID)
			}
			cb := v.GuestMMU.Callbacks
			if cb.GetGuestPGD != "nested_ept_get_eptp" || cb.InjectPageFault != "nested_ept_inject_page_fault" ||
				cb.PageFault != "ept_page_fault" {
				t.Fatalf("%d: guest_mmu callbacks %s", style, cb)
			}
			if pdptr := cb.GetPDPTR; (style == CallbacksUpstream) != (pdptr == "kvm_pdptr_read") {
				t.Fatalf("%d: get_pdptr = %q", style, pdptr)
			}
			writes[style] = append(writes[style], v.CallbackWrites-before)
			e.do(&NestedExit{VCPU: 0})
			if v.ArchMMU() != &v.RootMMU || v.WalkMMU() != &v.RootMMU || v.GuestMode {
				t.Fatalf("%d: after exit arch.mmu %s walk_mmu %s", style, v.ArchMMUID, v.WalkMMUID)
			}
			if v.Nested.Reflected.Code != "EXIT_REASON_VMCALL" {
				t.Fatalf("exit reason %q", v.Nested.Reflected.Code)
			}
		}
	}
	// Upstream: 3 mode callbacks on the first entry's role change plus 3
	// vendor ones per entry (and nested_mmu's 4 on its first init);
	// constants-once: the 3 mode ones and nested_mmu's gva_to_gpa only.
	want := map[CallbackStyle][]int{CallbacksUpstream: {10, 3, 3}, CallbacksConstantsOnce: {4, 0, 0}}
	for style, w := range want {
		if fmt.Sprint(writes[style]) != fmt.Sprint(w) {
			t.Errorf("style %d: callback writes per entry %v, want %v", style, writes[style], w)
		}
	}
}

// TestNestedEPTTimelineSeek: Seek(k) at every step of a nested EPT script
// (entry, first access, a reflected violation, re-entry, an exit) equals
// running the script, nested state included.
func TestNestedEPTTimelineSeek(t *testing.T) {
	script := []Action{
		&NestedEntry{VCPU: 0},
		&Access{VCPU: 0, GVA: 0x400123, Kind: AccessRead, User: true},
		&Access{VCPU: 0, GVA: 0x400123, Kind: AccessWrite, User: true},
		&Access{VCPU: 0, GVA: 0x401000, Kind: AccessFetch},
		&NestedEntry{VCPU: 0},
		&NestedGVAToGPA{VCPU: 0, GVA: 0x400123},
		&NestedExit{VCPU: 0},
	}
	build := func() *Machine {
		e := newVMXEnv(t, true)
		e.mapL2(0x400000, 0x200000, PTWritable|PTUser)
		e.mapL2(0x401000, 0x800000, PTUser)
		return e.m
	}
	base := build()
	initial := nestedState(base)
	tl := NewTimeline(base, script)
	if tl.Err != nil {
		t.Fatal(tl.Err)
	}
	cur := build()
	var ends []string
	for _, a := range script {
		if _, err := cur.Do(a); err != nil {
			t.Fatal(err)
		}
		ends = append(ends, nestedState(cur))
	}
	for k := 0; k < tl.Len(); k++ {
		a, ev := tl.Locate(k)
		if a >= 0 && ev != len(tl.Steps[a].Events)-1 && len(tl.Steps[a].Events) > 0 {
			continue
		}
		v, err := tl.Seek(k)
		if err != nil {
			t.Fatal(err)
		}
		want := initial
		if a >= 0 {
			want = ends[a]
		}
		if got := nestedState(v.Machine); got != want {
			t.Fatalf("Seek(%d), the end of action %d (%T), differs from running the script", k, a, script[max(a, 0)])
		}
	}
	if got := tl.Steps[3].Result; got.OK || got.Fault == nil || got.Fault.Exit == nil {
		t.Fatalf("the fetch from an unmapped L2 GPA was not reflected: %+v", got)
	}
}

// TestNestedEPTBadInput: refusals are errors or VM-entry failures, never
// panics.
func TestNestedEPTBadInput(t *testing.T) {
	e := newVMXEnv(t, false)
	if _, err := e.m.Do(&NestedExit{VCPU: 0}); err == nil {
		t.Fatal("an exit from L1 was accepted")
	}
	if _, err := e.m.Do(&NestedEntry{VCPU: 3}); err == nil {
		t.Fatal("an entry on a missing vCPU was accepted")
	}
	for _, eptp := range []uint64{
		e.eptp&^eptpPWLMask | 1<<EPTPPWLShift, // page-walk length 2
		e.eptp&^eptpMTMask | 1,                // memory type WC
		e.eptp | 1<<8,                         // reserved bit 8
		e.eptp | 1<<50,                        // above MAXPHYADDR
	} {
		e.m.VCPUs[0].Nested.NCR3 = eptp
		st, err := e.m.Do(&NestedEntry{VCPU: 0})
		if err != nil || st.Result.OK || !strings.HasPrefix(st.Result.Note, "VM-entry failed") || e.m.VCPUs[0].GuestMode {
			t.Fatalf("EPTP %s: %v %+v", hex(eptp), err, st.Result)
		}
	}
	if _, err := e.ept.Map(0x3000, 0x1001, PageSize, EPTRWX); err == nil {
		t.Fatal("a misaligned EPT12 leaf was accepted")
	}
	if _, err := NewEPT12Tables(e.m, 3, 0, PageSize); err == nil {
		t.Fatal("a 3-level EPT was accepted")
	}
	if _, err := e.ept.SetEntry(GPA(1)<<48, 1, 0); err == nil {
		t.Fatal("an L2 GPA beyond 4 levels was accepted")
	}
	m, _ := NewMachine(DefaultConfig(), 1)
	if _, err := m.EPT12Translate(e.eptp, 0); err == nil {
		t.Fatal("EPT12Translate without EPT was accepted")
	}
}

// TestNestedEPTL1EditsEPT12: L1's stores to EPT12 tables that EPT02
// shadows exit to KVM: a leaf table's EPT02 page goes unsync and the store
// lands; an upper-level table is write-tracked, so KVM emulates the store
// and kvm_mmu_track_write zaps the EPT02 SPTE that shadowed the old entry.
// Either way L2 then sees what EPT12 says.
func TestNestedEPTL1EditsEPT12(t *testing.T) {
	e := newVMXEnv(t, false)
	e.mapL2(0x400000, 0x3ff000, PTWritable|PTUser) // its EPT12 PTE is cleared below
	e.mapL2(0x600000, 0x200000, PTWritable|PTUser)
	_, err := e.ept.SetEntry(0x3ff000, 1, 0)
	e.must(err)
	e.do(&NestedEntry{VCPU: 0})
	e.do(&Access{VCPU: 0, GVA: 0x600000, Kind: AccessRead})
	st := e.do(&Access{VCPU: 0, GVA: 0x400000, Kind: AccessRead})
	if st.Result.OK || e.m.VCPUs[0].GuestMode {
		t.Fatalf("the unmapped page was not reflected: %+v", st.Result)
	}
	st = e.do(&WriteEPT12Entry{VCPU: 0, L2GPA: 0x3ff000, Level: 1, Value: 0xe00000 | EPTRWX | wb})
	if count(st, "kvm_unsync_page", "") != 1 || count(st, "emulator_write_phys", "") != 0 {
		t.Fatalf("a leaf EPT12 edit: %d unsync, %d emulated", count(st, "kvm_unsync_page", ""),
			count(st, "emulator_write_phys", ""))
	}
	e.do(&NestedEntry{VCPU: 0})
	if st = e.do(&Access{VCPU: 0, GVA: 0x400000, Kind: AccessRead}); st.Result.HPA != nestedHPA+0xe00000 {
		t.Fatalf("after L1's leaf edit: %+v", st.Result)
	}
	e.do(&NestedExit{VCPU: 0})
	st = e.do(&WriteEPT12Entry{VCPU: 0, L2GPA: 0x200000, Level: 2, Value: 0x1000000 | EPTRWX | wb | EPTPageSize})
	if count(st, "emulator_write_phys", "") != 1 || count(st, "kvm_mmu_track_write", "") == 0 {
		t.Fatalf("an upper-level EPT12 edit was not emulated: %v", funcs(st))
	}
	e.do(&NestedEntry{VCPU: 0})
	if st = e.do(&Access{VCPU: 0, GVA: 0x600000, Kind: AccessRead}); st.Result.HPA != nestedHPA+0x1000000 {
		t.Fatalf("after L1's PDE edit L2 reads %+v, want the new 2 MiB page", st.Result)
	}
	if _, err := e.m.Do(&WriteEPT12Entry{VCPU: 0, L2GPA: 0x3ff000, Level: 1}); err == nil {
		t.Fatal("L1 edited EPT12 while L2 runs")
	}
	e.do(&NestedExit{VCPU: 0})
	if _, err := e.m.Do(&WriteEPT12Entry{VCPU: 0, L2GPA: 0x200000, Level: 1}); err == nil ||
		!strings.Contains(err.Error(), "maps a 2 MiB page") {
		t.Fatalf("an EPT12 entry below a 2 MiB leaf: %v", err)
	}
}
