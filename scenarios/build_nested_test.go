package scenarios

import (
	"fmt"
	"strings"
	"testing"

	"mmuviz/mmu"
)

// nestedCoverage notes what a step shows of nested virtualization, by the
// kernel functions in its trace.
func nestedCoverage(got map[string]bool, st mmu.Step) {
	names := map[string]string{
		"nested_svm_vmrun": "vmrun", "nested_svm_vmexit": "vmexit", "nested_svm_inject_npf_exit": "npf reflected",
		"emulator_write_phys": "emulated l1 write", "kvm_tdp_mmu_write_protect_gfn": "tdp wrprot",
		"translate_nested_gpa": "nested walk", "fast_pgd_switch": "root kept",
		"nested_vmx_run": "vmlaunch", "nested_vmx_vmexit": "vmx exit", "ept_page_fault": "ept12 walk",
		"nested_ept_inject_page_fault": "ept reflected", "nested_vmx_l0_wants_exit": "l0 wants exit",
		"protect_clean_gpte": "clean ept12 leaf",
	}
	for _, e := range st.Events {
		if n, ok := names[e.Func]; ok {
			got[n] = true
		}
		if e.Func == "kvm_unsync_page" && e.MMU == "guest_mmu" {
			got["npt02 unsync"] = true
		}
		if e.Func == "nested_ept_inject_page_fault" && strings.Contains(e.Text, "EXIT_REASON_EPT_MISCONFIG") {
			got["ept misconfig reflected"] = true
		}
	}
}

// TestNestedBuildErrors: the nested commands refuse what the machine
// cannot do, at the argument concerned.
func TestNestedBuildErrors(t *testing.T) {
	const base = "memslot 0 gpa=0 size=64M hpa=256M\n"
	for _, c := range []struct{ src, want string }{
		{base + "paging level2\nnested svm pool=0x200000\n", "t.mmu:3:1: nested: nested NPT needs L0 on NPT"},
		{base + "tdp ept\npaging level2\nnested svm pool=0x200000\n", "t.mmu:4:1: nested: nested svm shadows"},
		{base + "tdp npt\npaging level2\nnested vmx pool=0x200000\n", "t.mmu:4:1: nested: nested EPT needs L0 on EPT"},
		{base + "tdp npt\npaging level2\nnested svm\n", "t.mmu:4:11: nested: missing pool="},
		{base + "tdp npt\npaging level2\nnested svm pool=0x100000\n", "t.mmu:4:17: nested: the table pool 0x100000-0x1fffff overlaps"},
		{base + "tdp npt\npaging level2\nmap 0 0 space=l2\n", "t.mmu:4:1: map: vCPU 0 has no nested set-up"},
		{base + "tdp npt\npaging level2\nnested svm pool=0x200000\nmap 0 0 space=l2\n",
			"t.mmu:5:1: map: L2 has no page tables yet"},
		{base + "tdp npt\npaging level2\nnested svm pool=0x200000\npaging level4 space=l2\n",
			"t.mmu:5:1: paging: table pool: L2 GPA 0x100000: the NPT12 level-2 entry is not present"},
		{base + "tdp npt\npaging level2\nnested svm pool=0x200000\nregs space=npt12 cr0=1\n",
			"t.mmu:5:12: regs: NPT12 has no regs of its own"},
		{base + "tdp npt\npaging level2\nnested svm pool=0x200000\nmap 0x100000000 0 space=npt12\n",
			"t.mmu:5:5: map: GVA 0x100000000 does not fit in the 32-bit address space"},
		{base + "tdp npt\npaging level2\nscript\nnested-entry\n", "t.mmu:5:1: nested-entry: vCPU 0 has no nested set-up"},
		{base + "tdp npt\npaging level2\nnested svm pool=0x200000\nscript\nnested-exit reason=nap\n",
			"t.mmu:6:20: nested-exit: expected the reason (hypercall, hlt, cpuid)"},
		{base + "tdp npt\npaging level2\nnested svm pool=0x200000\npaging pae pool=0x400000\n",
			"t.mmu:4:1: nested: L1's registers now give NPT12 the PAE paging format"},
	} {
		_, err := Load("t.mmu", []byte(c.src))
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%q:\n got %v\nwant %s...", c.src, err, c.want)
		}
	}
}

// nestedView is what a picture can read of a nested machine: the shadow
// pages and their tables, and each vCPU's contexts and nested state.
func nestedView(m *mmu.Machine) string {
	var b strings.Builder
	b.WriteString(shadowView(m))
	for _, v := range m.VCPUs {
		fmt.Fprintf(&b, "vcpu %d mode %v arch %s walk %s regs %+v nested %+v\n", v.ID, v.GuestMode, v.ArchMMUID,
			v.WalkMMUID, v.Regs, v.Nested)
		for _, mmu := range []*mmu.MMU{&v.RootMMU, &v.GuestMMU, &v.NestedMMU} {
			fmt.Fprintf(&b, "%s root %s %v pgd %x prev %+v callbacks %s\n", mmu.Name, mmu.Root, mmu.RootValid,
				mmu.RootPGD, mmu.PrevRoots, mmu.Callbacks)
		}
	}
	return b.String()
}

// TestNestedScenariosInvariants runs every nested scenario, under each of
// its variants, action by action: the invariants (guest_mmu's pages
// against NPT12, root counts and prev_roots of guest_mmu) hold after each,
// and seeking the timeline to the end of each action gives the same
// machine.
func TestNestedScenariosInvariants(t *testing.T) {
	runs, ids := builtinRuns(t)
	n := 0
	for i, r := range runs {
		if !strings.HasPrefix(r.name, "nested-npt-") {
			continue
		}
		n++
		t.Run(ids[i], func(t *testing.T) {
			s, err := LoadBuiltinVariant(r.name, r.variant)
			if err != nil {
				t.Fatal(err)
			}
			var views []string
			replay(t, s, func(_ int, a mmu.Action, m *mmu.Machine) {
				if bad := m.CheckShadowInvariants(); len(bad) > 0 {
					t.Fatalf("after line %d (%s): %v", a.Src().Line, a.Src().Text, bad)
				}
				views = append(views, nestedView(m))
			})
			checkSeekAtActionEnds(t, s, views, nestedView)
		})
	}
	if n < 5 {
		t.Errorf("%d nested runs, want the 3 scenarios and their variants", n)
	}
}
