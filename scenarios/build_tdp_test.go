package scenarios

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"mmuviz/mmu"
)

const tdpRAM = ram + "paging level4\n"

// tdpBuildErrors are the messages of the TDP commands, with positions.
var tdpBuildErrors = []struct{ src, want string }{
	{"tdp vmx", "t.mmu:1:5: tdp: expected the kind of TDP (ept, npt), found identifier vmx"},
	{"tdp ept levels=3", "t.mmu:1:16: tdp: EPT and NPT have 4 or 5 levels, not 3"},
	{"tdp ept levels=5", "t.mmu:1:16: tdp: KVM builds 5-level EPT only when the guest's MAXPHYADDR is above 48 bits " +
		"(kvm_mmu_get_tdp_level); with maxphyaddr=46 it would use 4 levels: write levels=4, or machine maxphyaddr=52"},
	{"machine maxphyaddr=52\ntdp ept levels=4", "t.mmu:2:1: tdp: with 4-level EPT, KVM caps the guest's MAXPHYADDR " +
		"at 48 bits (CPUID 0x80000008), not 52 (see machine maxphyaddr=)"},
	{"tdp npt ad=on", "t.mmu:1:9: tdp: ad= is for EPT only (NPT always keeps A/D bits, has no execute-only entries, " +
		"and npf_interception needs no GVA fix)"},
	{"tdp ept ad=maybe", "t.mmu:1:12: tdp: expected the ad (on, off), found identifier maybe"},
	{"tdp ept\ntdp ept", "t.mmu:2:1: tdp: given twice (first on line 1)"},
	{tdpRAM + "prefault 0", "t.mmu:3:1: prefault: the machine has no EPT or NPT: write `tdp ept` or `tdp npt` above"},
	{tdpRAM + "tdp ept\nprefault 0x1001", "t.mmu:4:10: prefault: GPA 0x1001 is not aligned to 4 KiB"},
	{tdpRAM + "tdp ept\nprefault 0 size=0", "t.mmu:4:17: prefault: size must be at least 4K"},
	{tdpRAM + "tdp ept\nprefault 0x4000000",
		"t.mmu:4:10: prefault: GPA 0x4000000 is not in any memslot: KVM_PRE_FAULT_MEMORY fails with ENOENT"},
	{tdpRAM + "tdp ept\ntdp-entry 0x1000 level=5 value=0", "t.mmu:4:24: tdp-entry: the 4-level EPT has levels 1 to 4, not 5"},
	{tdpRAM + "tdp ept\ntdp-entry 0x1000 level=1", "t.mmu:4:25: tdp-entry: missing value= or addr= (usage: tdp-entry " +
		"GPA level=N (value=RAW | addr=HPA [flags=r,w,x,ipat,ps,a,d,ve | p,w,u,a,d,ps,nx] [memtype=N]) [vcpu=N])"},
	{tdpRAM + "tdp ept\ntdp-entry 0x1000 level=1 value=7 flags=r",
		"t.mmu:4:34: tdp-entry: value= is the whole entry, so flags= cannot be added"},
	{tdpRAM + "tdp ept\ntdp-entry 0x1000 level=1 addr=0x10001000 flags=r,p",
		"t.mmu:4:50: tdp-entry: unknown name p for flags; expected one of r, w, x, ipat, ps, a, d, ve; did you mean \"ps\"?"},
	{tdpRAM + "tdp ept\ntdp-entry 0x1000 level=1 addr=0x10001000 flags=r,ps",
		"t.mmu:4:50: tdp-entry: only levels 2 and 3 map huge pages (ps)"},
	{tdpRAM + "tdp ept\ntdp-entry 0x200000 level=2 addr=0x10001000 flags=r,ps",
		"t.mmu:4:33: tdp-entry: addr 0x10001000 is not aligned to 2 MiB"},
	{tdpRAM + "tdp npt\ntdp-entry 0x1000 level=1 addr=0x10001000 flags=p memtype=6",
		"t.mmu:4:58: tdp-entry: memtype is an EPT field of 0 to 7, not 6"},
	{tdpRAM + "tdp ept\ntdp-entry 0x200000 level=2 addr=0x10200000 flags=r,ps\ntdp-entry 0x201000 level=1 value=0",
		"t.mmu:5:11: tdp-entry: the level-2 EPT entry for GPA 0x201000 maps a huge page, so there is no level-1 entry"},
	{tdpRAM + "tdp-entry 0x1000 level=1 value=0",
		"t.mmu:3:1: tdp-entry: the machine has no EPT or NPT: write `tdp ept` or `tdp npt` above"},
	{ram + "memslot 1 gpa=1G size=3M hpa=512M host-page=2M",
		"t.mmu:2:1: memslot: memslot 1: host pages of 2 MiB need the host address and the size aligned to 2 MiB"},
	{ram + "memslot 1 gpa=1G size=4M hpa=512M host-page=3M", "t.mmu:2:45: memslot: host-page is 4K, 2M or 1G, not 3M"},
	{tdpRAM + "script\nzap gpa=0", "t.mmu:4:1: zap: the machine has neither EPT/NPT nor shadow paging: write `tdp ept`, `tdp npt` or `shadow` above"},
	{tdpRAM + "tdp ept\nscript\nzap gpa=0x10", "t.mmu:5:9: zap: GPA 0x10 is not aligned to 4 KiB"},
	{tdpRAM + "tdp ept\nscript\nzap size=4K", "t.mmu:5:12: zap: missing gpa= (usage: zap gpa=ADDR [size=SIZE])"},
	{tdpRAM + "tdp ept\nscript\nmemslot-remove 3", "t.mmu:5:16: memslot-remove: no memslot 3"},
	{tdpRAM + "tdp ept\nscript\nmemslot-remove 0 zap=some",
		"t.mmu:5:22: memslot-remove: expected the zap (all, slot), found identifier some"},
	{tdpRAM + "tdp ept\nscript\nprint spte 0x10000000000000",
		"t.mmu:5:12: print: GPA 0x10000000000000 is beyond maxphyaddr (46 bits)"},
	{tdpRAM + "tdp ept\nscript\nprefault 0x4000000",
		"t.mmu:5:10: prefault: GPA 0x4000000 is not in any memslot: KVM_PRE_FAULT_MEMORY fails with ENOENT"},
	{tdpRAM + "tdp ept\nscript\nmemslot-remove 0\nmemslot-remove 0", "t.mmu:6:16: memslot-remove: no memslot 0"},
}

func TestTDPBuildErrors(t *testing.T) {
	for _, tc := range tdpBuildErrors {
		checkBuildError(t, tc.src, tc.want)
	}
}

// TestTDPBuild: the setup commands build what they say.
func TestTDPBuild(t *testing.T) {
	src := `machine maxphyaddr=52
memslot 0 gpa=0 size=64M hpa=256M
memslot 1 gpa=1G size=4M hpa=512M host-page=2M
paging level4
map 0x400000 0x200000 flags=w,u
tdp ept levels=5 ad=off exec-only=off gva-fix=on
prefault 0x100000 size=16K
prefault 1G size=4M
tdp-entry 0x200000 level=1 addr=0x10200000 flags=r,x memtype=6
tdp-entry 0x300000 level=1 value=0x6
script
read 0x400123 user
print spte 0x200000
zap gpa=0x200000
memslot-remove 1 zap=slot
prefault 0x800000 size=8K
`
	s, err := Load("t.mmu", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	m := s.Machine
	f, ok := m.TDPFormat()
	if !ok || f.Kind != mmu.TDPEPT || f.Levels != 5 || f.AD || f.ExecOnly {
		t.Fatalf("format %+v", f)
	}
	// Root, four tables for the first 2M (levels 4-1), a PT for the 2M
	// at 0x200000 (tdp-entry), a PD for 1G with two 2 MiB leaves.
	if n := len(m.TDPPages()); n != 7 {
		t.Fatalf("%d TDP pages: %+v", n, m.TDPPages())
	}
	levels, hpa, ok := m.TDPPath(0, 0x200000)
	if !ok || hpa != 0x10200000 || len(levels) != 5 || levels[4].Value != 0x10200000|mmu.EPTRead|mmu.EPTExec|6<<3|mmu.SPTEMMUPresent {
		t.Fatalf("tdp-entry: %+v %s", levels, hpa)
	}
	if v, _ := m.ReadSPTE(levels[4].Table + 0x100*8); v != 6 {
		t.Fatalf("raw tdp-entry: %#x", v)
	}
	if _, l := leafOf(m, 1<<30); l != 2 {
		t.Fatalf("host-2M memslot mapped at level %d", l)
	}
	steps, err := s.Run()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"*mmu.Access", "*mmu.PrintSPTE", "*mmu.ZapGFNRange", "*mmu.RemoveMemslot", "*mmu.PreFault"}
	for i, st := range steps {
		if got := fmt.Sprintf("%T", st.Action); got != want[i] || (!st.Result.OK && st.Result.Fault == nil) {
			t.Errorf("step %d: %s %s", i, got, mmu.ResultString(st.Result))
		}
	}
	if rm := steps[3].Action.(*mmu.RemoveMemslot); !rm.SlotZapOnly || rm.ID != 1 {
		t.Errorf("memslot-remove: %+v", rm)
	}
}

func leafOf(m *mmu.Machine, gpa mmu.GPA) (uint64, int) {
	levels, _, _ := m.TDPPath(0, gpa)
	if len(levels) == 0 {
		return 0, 0
	}
	return levels[len(levels)-1].Value, levels[len(levels)-1].Level
}

// tdpFingerprint is what a timeline step of a TDP scenario must restore,
// through the public API: registers, memory, the TDP MMU's pages and roots.
func tdpFingerprint(m *mmu.Machine) string {
	var b strings.Builder
	for i, v := range m.VCPUs {
		root, ok := m.TDPRoot(i)
		fmt.Fprintf(&b, "vcpu %d %+v %x root %s %v\n", i, v.Regs, v.PDPTRs, root, ok)
	}
	for _, s := range m.Slots {
		fmt.Fprintf(&b, "slot %+v\n", s)
	}
	for _, p := range m.TDPPages() {
		fmt.Fprintf(&b, "page %+v\n", p)
	}
	for _, pfn := range m.Mem.Touched() {
		for off := 0; off < mmu.PageSize; off += 8 {
			if v, _ := m.Mem.Read(pfn.HPA()+mmu.HPA(off), 8); v != 0 {
				fmt.Fprintf(&b, "%s=%x ", pfn.HPA()+mmu.HPA(off), v)
			}
		}
	}
	return b.String()
}

// TestTDPScenarioSeek: for the EPT/NPT scenarios, Seek to the end of each
// action equals running the script action by action, and seeking is
// repeatable mid-action (every seventh step, to keep the test quick).
func TestTDPScenarioSeek(t *testing.T) {
	for _, name := range Builtin() {
		if strings.HasPrefix(name, "native-") {
			continue
		}
		t.Run(name, func(t *testing.T) {
			s, err := LoadBuiltin(name)
			if err != nil {
				t.Fatal(err)
			}
			var views []string
			replay(t, s, func(_ int, _ mmu.Action, m *mmu.Machine) { views = append(views, tdpFingerprint(m)) })
			tl := checkSeekAtActionEnds(t, s, views, tdpFingerprint)
			for k := 1; k < tl.Len(); k += 7 {
				v1, _ := tl.Seek(k)
				_, _ = tl.Seek(tl.Len() - 1)
				v2, _ := tl.Seek(k)
				if tdpFingerprint(v1.Machine) != tdpFingerprint(v2.Machine) || v1.Event.Text != v2.Event.Text {
					t.Fatalf("Seek(%d) is not repeatable", k)
				}
			}
		})
	}
}

// TestTDPRefsTotal: the JSON of an access that faulted to KVM and was
// retried has refs (the last attempt) and refs_total (all attempts).
func TestTDPRefsTotal(t *testing.T) {
	_, js := traces(t, builtinRun{"ept-fault-populate", ""})
	if !bytes.Contains(js, []byte(`"refs": 24,`+"\n"+`        "refs_total": 90`)) {
		t.Error("no access with refs 24 and refs_total 90 in ept-fault-populate's JSON")
	}
	_, js = traces(t, builtinRun{"ept-4on4", ""})
	if bytes.Contains(js, []byte("refs_total")) {
		t.Error("ept-4on4 prefaults everything: no access should need a retry")
	}
}
