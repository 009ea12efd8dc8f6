package mmu

import "testing"

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
