package scenarios

import (
	"strings"
	"testing"

	"mmuviz/mmu"
)

// TestNestedEPTBuildErrors: `nested vmx` and space=ept12 refuse what the
// machine cannot do, at the argument concerned.
func TestNestedEPTBuildErrors(t *testing.T) {
	const base = "memslot 0 gpa=0 size=64M hpa=256M\n"
	const vmx = base + "tdp ept\npaging level4\nnested vmx pool=0x200000\n"
	const svm = base + "tdp npt\npaging level4\nnested svm pool=0x200000\n"
	for _, c := range []struct{ src, want string }{
		{base + "paging level4\nnested vmx pool=0x200000\n", "t.mmu:3:1: nested: nested EPT needs L0 on EPT"},
		{base + "tdp ept\npaging level4\nnested vmx\n", "t.mmu:4:11: nested: missing pool="},
		{base + "tdp ept\npaging level4\nnested vmx pool=0x200000 levels=3\n", "t.mmu:4:33: nested: EPT12 has 4 or 5 levels"},
		{base + "tdp ept ad=off\npaging level4\nnested vmx pool=0x200000 ad=on\n",
			"t.mmu:4:29: nested: L0 runs EPT without A/D bits"},
		{base + "tdp ept\npaging level4\nnested vmx pool=0x200000 shadow=merged\n", "t.mmu:4:26: nested: shadow= is for nested svm"},
		{base + "tdp npt\npaging level4\nnested svm pool=0x200000 levels=4\n", "t.mmu:4:26: nested: levels= is for nested vmx"},
		{svm + "map 0 0x800000 space=ept12\n", "t.mmu:5:22: map: space=ept12 is nested vmx's"},
		{vmx + "map 0 0x800000 space=npt12\n", "t.mmu:5:22: map: space=npt12 is nested svm's"},
		{vmx + "map 0 0x800000 space=ept12 flags=u\n", "t.mmu:5:34: map: unknown name u for flags; expected one of r, w, x, ipat, a, d, ve"},
		{vmx + "map 0 0x800001 space=ept12\n", "t.mmu:5:7: map: L1 GPA 0x800001 is not aligned"},
		{vmx + "paging level4 space=ept12\n", "t.mmu:5:21: paging: EPT12 has no paging of its own"},
		{vmx + "entry 0 level=5 addr=0 space=ept12\n", "t.mmu:5:15: entry: a 4-level EPT12 has levels 1 to 4, not 5"},
		{vmx + "entry 0 level=1 addr=0 flags=ps space=ept12\n", "t.mmu:5:30: entry: only EPT levels 2 and 3"},
		{vmx + "entry 0 level=2 addr=0x1000 flags=r,ps space=ept12\n", "t.mmu:5:22: entry: addr 0x1000 is not aligned to 2 MiB"},
		{vmx + "entry 0 level=1 addr=0 pkey=1 space=ept12\n", "t.mmu:5:24: entry: EPT entries have no protection key"},
		{vmx + "entry 0 level=1 value=7 addr=0 space=ept12\n", "t.mmu:5:25: entry: value= is the whole entry"},
		{vmx + "paging level4 space=l2\n", "t.mmu:5:1: paging: table pool: L2 GPA 0x100000: the EPT12 PML4E is not present"},
		{vmx + "map 0 0 space=ept12 pages=256\nentry 0 level=1 addr=0 space=ept12\nscript\nentry 0x300000 level=1 addr=0 space=ept12\n",
			""}, // accepted here; the action refuses when it runs (no table)
	} {
		_, err := Load("t.mmu", []byte(c.src))
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%q: %v", c.src, err)
		case c.want != "" && (err == nil || !strings.HasPrefix(err.Error(), c.want)):
			t.Errorf("%q:\n got %v\nwant %s", c.src, err, c.want)
		}
	}
}

// TestNestedEPTScenarioTables: the built-in scenario's L2 tables live
// where EPT12 maps their L2 GPAs, and the EPT pointer is EPT12's root with
// a 4-level walk, write-back and A/D.
func TestNestedEPTScenarioTables(t *testing.T) {
	s, err := LoadBuiltin("nested-ept")
	if err != nil {
		t.Fatal(err)
	}
	v := s.Machine.VCPUs[0]
	if v.Nested.Kind != mmu.NestedVMX || v.Nested.NCR3 != 0x20005e {
		t.Fatalf("nested state %+v", v.Nested)
	}
	l1, err := s.Machine.EPT12Translate(v.Nested.NCR3, mmu.GPA(v.Nested.L2.CR3))
	if err != nil || l1 != 0x900000 {
		t.Fatalf("L2's PML4 at L2 GPA %s is L1 GPA %s (%v), want 0x900000", mmu.Hex(v.Nested.L2.CR3), l1, err)
	}
	if _, err := s.Machine.EPT12Translate(v.Nested.NCR3, 0x1f0000); err == nil {
		t.Fatal("L2 GPA 0x1f0000 is mapped before the script maps it")
	}
}
