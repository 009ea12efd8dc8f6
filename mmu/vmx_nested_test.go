package mmu

import (
	"strings"
	"testing"
)

// A nested EPT test machine: 64 MiB of L1 memory at HPA 256M, L0 on 4-level
// EPT with A/D bits and execute-only pages; L1 4-level with its tables at
// L1 GPA 1M; EPT12 at L1 GPA 2M mapping L2 GPAs [0, 4M) to L1 GPAs
// [8M, 12M) read/write/execute; L2 4-level with its tables at L2 GPA 1M.
type vmxEnv struct {
	nestedMachine
	ept  *EPT12Tables
	eptp uint64
	l2   *GuestTables
}

func newVMXEnv(t testing.TB, ad bool) *vmxEnv {
	t.Helper()
	m, err := NewMachine(DefaultConfig(), 1)
	if err != nil {
		t.Fatal(err)
	}
	e := &vmxEnv{nestedMachine: nestedMachine{t: t, m: m}}
	e.must(m.AddMemslot(Memslot{ID: 0, BaseGFN: 0, NPages: 64 << 8, BasePFN: PFN(nestedHPA >> PageShift)}))
	e.must(m.EnableTDP(TDPConfig{Kind: TDPEPT, Levels: 4, AD: true, ExecOnly: true}))
	l1Tables, err := NewGuestTables(m, Paging4, 1<<20, 64<<10)
	e.must(err)
	e.ept, err = NewEPT12Tables(m, 4, 2<<20, 1<<20)
	e.must(err)
	for off := uint64(0); off < nestedNPTSz; off += PageSize {
		_, err := e.ept.Map(GPA(off), nestedL1Base+GPA(off), PageSize, EPTRWX|wb)
		e.must(err)
	}
	e.eptp = e.ept.EPTP(ad)
	e.must(m.SetupRegs(0, l1RegsFor(Paging4, l1Tables.CR3())))
	e.must(m.SetupNested(0, NestedSetup{Kind: NestedVMX, NCR3: e.eptp}))
	e.l2, err = NewGuestTablesIn(m, Paging4, 1<<20, 256<<10, func(l2 GPA) (GPA, error) {
		return m.EPT12Translate(e.eptp, l2)
	})
	e.must(err)
	e.must(m.SetupNestedL2Regs(0, l1RegsFor(Paging4, e.l2.CR3())))
	return e
}

func (e *vmxEnv) mapL2(gva GVA, l2 GPA, flags PTE) {
	e.t.Helper()
	_, err := e.l2.Map(gva, l2, PageSize, flags)
	e.must(err)
}

// count counts a step's events by function and, if kind is not "", kind.
func count(st Step, fn string, kind EventKind) int {
	n := 0
	for _, ev := range st.Events {
		if ev.Func == fn && (kind == "" || ev.Kind == kind) {
			n++
		}
	}
	return n
}

// TestNestedEPTEntryAndFirstAccess: VM-entry points arch.mmu at guest_mmu
// (EPT role from EPTP12) and walk_mmu at nested_mmu; L2's first access
// exits to L0 once per missing EPT02 translation, each fixed silently, and
// ends at the host page L2's tables, EPT12 and the memslots give, in the
// 24 references of a 4-on-4 two-dimensional walk.
func TestNestedEPTEntryAndFirstAccess(t *testing.T) {
	for _, ad := range []bool{false, true} {
		e := newVMXEnv(t, ad)
		e.mapL2(0x400000, 0x200000, PTWritable|PTUser)
		e.do(&NestedEntry{VCPU: 0})
		v := e.m.VCPUs[0]
		if !v.GuestMode || v.ArchMMUID != GuestMMUID || v.WalkMMUID != NestedMMUID {
			t.Fatalf("after VM-entry: guest mode %v, arch.mmu %s, walk_mmu %s", v.GuestMode, v.ArchMMUID, v.WalkMMUID)
		}
		role := v.GuestMMU.RootRole
		if role.Level() != 4 || !role.GuestMode() || role.Direct() || role.ADDisabled() == ad || v.GuestMMU.RootPGD != e.eptp {
			t.Fatalf("guest_mmu root role %s, pgd %s", role, hex(v.GuestMMU.RootPGD))
		}
		cb := v.GuestMMU.Callbacks
		if cb.PageFault != "ept_page_fault" || cb.GVAToGPA != "ept_gva_to_gpa" || cb.SyncSPTE != "ept_sync_spte" ||
			cb.GetGuestPGD != "nested_ept_get_eptp" || cb.InjectPageFault != "nested_ept_inject_page_fault" {
			t.Fatalf("guest_mmu callbacks: %s", cb)
		}
		st := e.do(&Access{VCPU: 0, GVA: 0x400123, Kind: AccessWrite, User: true})
		want := nestedHPA + HPA(nestedL1Base) + 0x200123
		if !st.Result.OK || st.Result.HPA != want || st.Result.Refs != 24 {
			t.Fatalf("ad=%t: L2 write: %+v, want HPA %s in 24 references", ad, st.Result, want)
		}
		exits := count(st, "nested_vmx_l0_wants_exit", EvExit)
		if exits < 5 || count(st, "nested_ept_inject_page_fault", "") != 0 {
			t.Fatalf("ad=%t: %d exits fixed by L0 (want one per L2 table and the data page at least)", ad, exits)
		}
		t.Logf("ad=%t: first L2 write: %d EPT violations fixed by L0, %d events, %d EPT02 pages, %d references in all",
			ad, exits, len(st.Events), count(st, "kvm_mmu_alloc_shadow_page", ""), st.Result.RefsTotal)
	}
}

// TestNestedEPTReflected: L2 GPAs EPT12 does not map, or maps without the
// right, or misconfigures, are reflected to L1 with the qualification
// nested_ept_inject_page_fault builds, and the vCPU runs L1 again.
func TestNestedEPTReflected(t *testing.T) {
	const gva = GVA(0x400000)
	cases := []struct {
		name  string
		setup func(e *vmxEnv)
		acc   AccessKind
		code  string
		qual  uint64
		gpa   GPA
	}{
		{"final GPA not mapped", func(e *vmxEnv) { e.mapL2(gva, 0x800000, PTWritable|PTUser) }, AccessWrite,
			vmxExitEPTViolation, EPTViolationAccWrite | EPTViolationGVAIsValid | EPTViolationGVATranslated, 0x800000},
		{"read-only page written", func(e *vmxEnv) {
			e.mapL2(gva, 0x200000, PTWritable|PTUser)
			e.ept.Map(0x200000, nestedL1Base+0x200000, PageSize, EPTRead|wb)
		}, AccessWrite, vmxExitEPTViolation,
			EPTViolationAccWrite | EPTViolationProtRead | EPTViolationGVAIsValid | EPTViolationGVATranslated, 0x200000},
		{"fetch from a no-exec page", func(e *vmxEnv) {
			e.mapL2(gva, 0x200000, PTUser)
			e.ept.Map(0x200000, nestedL1Base+0x200000, PageSize, EPTRead|EPTWrite|wb)
		}, AccessFetch, vmxExitEPTViolation, EPTViolationAccInstr | EPTViolationProtRead | EPTViolationProtWrite |
			EPTViolationGVAIsValid | EPTViolationGVATranslated, 0x200000},
		{"L2's page table not mapped", func(e *vmxEnv) {
			e.mapL2(gva, 0x200000, PTWritable|PTUser)
			pt, _ := e.l2.entryAddr(gva, 1)
			e.ept.SetEntry(pt&^pageMask, 1, 0)
		}, AccessRead, vmxExitEPTViolation, EPTViolationAccRead | EPTViolationGVAIsValid, 0},
		{"memory type 7", func(e *vmxEnv) {
			e.mapL2(gva, 0x200000, PTWritable|PTUser)
			e.ept.Map(0x200000, nestedL1Base+0x200000, PageSize, EPTRWX|7<<3)
		}, AccessRead, vmxExitEPTMisconfig, 0, 0x200000},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newVMXEnv(t, false)
			c.setup(e)
			l1 := e.m.VCPUs[0].Regs
			e.do(&NestedEntry{VCPU: 0})
			st := e.do(&Access{VCPU: 0, GVA: gva, Kind: c.acc, User: true})
			v := e.m.VCPUs[0]
			info := v.Nested.Reflected
			wantGPA := c.gpa
			if c.name == "L2's page table not mapped" {
				pt, _ := e.l2.entryAddr(gva, 1)
				wantGPA = pt // the entry the processor was reading
			}
			if st.Result.OK || v.GuestMode || info.Code != c.code || info.Info1 != c.qual || GPA(info.Info2) != wantGPA {
				t.Fatalf("got %+v (result %+v), want %s qualification %s (%s) at %s", info, st.Result, c.code,
					hex(c.qual), DecodeEPTQualification(c.qual), wantGPA)
			}
			if v.Regs != l1 || v.ArchMMUID != RootMMUID || v.WalkMMUID != RootMMUID {
				t.Fatalf("after the exit: arch.mmu %s, walk_mmu %s, L1 regs %v", v.ArchMMUID, v.WalkMMUID, v.Regs == l1)
			}
			if st.Result.Fault == nil || st.Result.Fault.Exit == nil || st.Result.Fault.Exit.Qualification != c.qual {
				t.Fatalf("the access's fault does not carry the qualification: %+v", st.Result.Fault)
			}
		})
	}
}

// TestNestedEPTInvariantsCatchStaleLeaf: an EPT12 leaf changed behind
// KVM's back (no trapped store) leaves an EPT02 leaf for the old frame,
// and the invariant checker says so.
func TestNestedEPTInvariantsCatchStaleLeaf(t *testing.T) {
	e := newVMXEnv(t, true)
	e.mapL2(0x400000, 0x200000, PTWritable|PTUser)
	e.do(&NestedEntry{VCPU: 0})
	e.do(&Access{VCPU: 0, GVA: 0x400000, Kind: AccessRead, User: true})
	_, err := e.ept.Map(0x200000, nestedL1Base+0x300000, PageSize, EPTRWX|wb)
	e.must(err)
	bad := e.m.CheckShadowInvariants()
	if len(bad) == 0 || !strings.Contains(strings.Join(bad, "\n"), "EPT12 and the memslots give") {
		t.Fatalf("stale EPT02 leaf not reported: %v", bad)
	}
}
