package scenarios

import (
	"testing"

	"mmuviz/mmu"
)

// tdxHead is the setup of a small TD the error cases build on.
const tdxHead = "machine maxphyaddr=48\nmemslot 0 gpa=0 size=16M hpa=256M\npaging level4 pool=1M pool-size=16K\n" +
	"map 0x400000 0x200000\ntdp ept\n"

// tdxErrors are bad TD files with the exact message each must get.
var tdxErrors = []struct{ src, want string }{
	{"machine maxphyaddr=48\ntdx gpaw=48 private-hpa=512M",
		"t.mmu:2:1: tdx: a TD runs on EPT: write `tdp ept` above"},
	{"machine maxphyaddr=48\ntdp npt\ntdx gpaw=48 private-hpa=512M",
		"t.mmu:3:1: tdx: a TD runs on EPT, not NPT"},
	{tdxHead + "tdx gpaw=50 private-hpa=512M",
		"t.mmu:6:10: tdx: a TD's GPAW is 48 (shared bit 47, 4-level EPT) or 52 (shared bit 51, 5-level EPT), not 50"},
	{"memslot 0 gpa=0 size=16M hpa=256M\ntdp ept\ntdx gpaw=48 private-hpa=512M",
		"t.mmu:3:10: tdx: KVM reports a TD's GPAW as its MAXPHYADDR: gpaw=48 needs machine maxphyaddr=48 (it is 46)"},
	{tdxHead + "tdx gpaw=48 private-hpa=0x1001",
		"t.mmu:6:25: tdx: private-hpa 0x1001 is not aligned to 4 KiB"},
	{tdxHead + "tdx gpaw=48 private-hpa=256M",
		"t.mmu:6:25: tdx: the private memory of memslot 0 (HPA 0x10000000-0x10ffffff) overlaps the host memory of memslot 0"},
	{tdxHead + "tdx gpaw=48 private-hpa=512M\ntdx gpaw=48 private-hpa=1G",
		"t.mmu:7:1: tdx: given twice (first on line 6)"},
	{tdxHead + "tdx gpaw=48 private-hpa=512M sept-ve-disable=maybe",
		"t.mmu:6:46: tdx: expected the sept-ve-disable (on, off), found identifier maybe"},
	{tdxHead + "script\ntdx-accept 0x200000",
		"t.mmu:7:1: tdx-accept: the machine is no TD: write `tdx gpaw=... private-hpa=...` above"},
	{tdxHead + "tdx gpaw=48 private-hpa=512M\nscript\ntdx-accept 0x200800",
		"t.mmu:8:12: tdx-accept: GPA 0x200800 is not aligned to 4 KiB"},
	{tdxHead + "tdx gpaw=48 private-hpa=512M\nscript\ntdx-init-mem 0x100000",
		"t.mmu:8:22: tdx-init-mem: missing size= (usage: tdx-init-mem GPA size=SIZE [measure=on|off] [vcpu=N])"},
	{tdxHead + "tdx gpaw=48 private-hpa=512M\nscript\ntdx-map-gpa 0x2000000000000",
		"t.mmu:8:13: tdx-map-gpa: the range would end beyond GPA 0x1000000000000 (maxphyaddr=48)"},
	// Errors of the engine, at the action's GPA.
	{tdxHead + "tdx gpaw=48 private-hpa=512M\nscript\ntdx-accept 0x200000",
		"t.mmu:8:12: tdx-accept: KVM_RUN fails with EINVAL: the TD is not finalized yet (tdx_vcpu_pre_run); " +
			"finalize it first (tdx-finalize)"},
	{tdxHead + "tdx gpaw=48 private-hpa=512M\nscript\ntdx-finalize\ntdx-init-mem 0x100000 size=4K",
		"t.mmu:9:14: tdx-init-mem: KVM_TDX_INIT_MEM_REGION fails with EINVAL: the TD is finalized, so its initial " +
			"memory is fixed"},
	{tdxHead + "tdx gpaw=48 private-hpa=512M\nscript\ntdx-finalize\ntdx-map-gpa 0x7ffffffff000 size=8K",
		"t.mmu:9:13: tdx-map-gpa: TDG.VP.VMCALL<MapGPA>: GPA 0x7ffffffff000-0x800000000fff crosses the shared bit " +
			"(0x800000000000)"},
	{tdxHead + "tdx gpaw=48 private-hpa=512M\nscript\ntdx-finalize\ntdx-accept 0x800000200000",
		"t.mmu:9:12: tdx-accept: TDG.MEM.PAGE.ACCEPT takes a private GPA; 0x800000200000 has the shared bit " +
			"(0x800000000000)"},
	{tdxHead + "tdx gpaw=48 private-hpa=512M\nscript\ntdx-finalize\ntdx-destroy\ntdx-check",
		"t.mmu:10:1: tdx-check: tdx-check: the TD has been destroyed"},
}

func TestTDXBuildErrors(t *testing.T) {
	for _, tc := range tdxErrors {
		checkBuildError(t, tc.src, tc.want)
	}
}

// TestTDXCommandsRegistered: the TD commands are in the language and the
// scenario is a built-in.
func TestTDXCommandsRegistered(t *testing.T) {
	checkNameList(t, "CommandNames", CommandNames(), "tdx tdx-init-mem tdx-finalize tdx-accept tdx-map-gpa tdx-check tdx-destroy")
	checkNameList(t, "Builtin()", Builtin(), "tdx-private-shared")
}

// TestTDXScenarioInvariants: after every action of the built-in TD story
// the mirror root and the S-EPT agree, and the story shows each SEAMCALL
// the issue asks for.
func TestTDXScenarioInvariants(t *testing.T) {
	s, err := LoadBuiltin("tdx-private-shared")
	if err != nil {
		t.Fatal(err)
	}
	replay(t, s, func(_ int, a mmu.Action, m *mmu.Machine) {
		if err := m.CheckTDXInvariants(); err != nil {
			t.Fatalf("after line %d (%s): %v", a.Src().Line, a.Src().Text, err)
		}
	})
}

// tdxCoverage notes what a step shows of TDX: each SEAMCALL by the
// function that issues it, the premap, the guest's accept, the exit to
// userspace for a conversion, the conversion itself and the check.
func tdxCoverage(got map[string]bool, st mmu.Step) {
	for _, e := range st.Events {
		switch {
		case e.Func == "tdx_sept_link_private_spt":
			got["SEPT.ADD"] = true
		case e.Func == "tdx_sept_set_private_spte" && e.Kind == mmu.EvWrite:
			got["PAGE.AUG"] = true
		case e.Func == "tdx_sept_set_private_spte":
			got["premap"] = true
		case e.Func == "tdx_gmem_post_populate" && e.Kind == mmu.EvWrite:
			got["PAGE.ADD"] = true
		case e.Func == "tdx_sept_zap_private_spte":
			got["BLOCK"] = true
		case e.Func == "tdx_track":
			got["TRACK"] = true
		case e.Func == "tdx_sept_drop_private_spte":
			got["REMOVE"] = true
		case e.Func == "tdx_sept_free_private_spt" && e.Kind == mmu.EvFree:
			got["RECLAIM"] = true
		case e.Func == "cpu" && e.MMU == "tdx_module" && e.Kind == mmu.EvWrite:
			got["ACCEPT"] = true
		case e.Func == "kvm_mmu_prepare_memory_fault_exit":
			got["memory fault"] = true
		case e.Func == "kvm_arch_pre_set_memory_attributes":
			got["convert"] = true
		}
	}
	if _, ok := st.Action.(*mmu.TDXCheck); ok && st.Result.OK {
		got["check ok"] = true
	}
}
