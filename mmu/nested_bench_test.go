package mmu

import "testing"

// Benchmarks of an L2 access on nested NPT (a 32-bit L1 on 5-level NPT, a
// 4-level L2): a hit, which the processor's 2D walk through NPT02 serves
// alone, and a miss that KVM must fill from NPT12 (the NPT02 leaf zapped
// before each access).

func benchNestedEnv(b *testing.B) *nestedEnv {
	e := newNestedEnv(&testing.T{}, 5, Paging32, Paging4, ShadowMerged)
	if _, err := e.l2.Map(0x400000, 0x200000, PageSize, PTWritable|PTUser); err != nil {
		b.Fatal(err)
	}
	e.m.Quiet = true
	for _, a := range []Action{&NestedEntry{}, &Access{GVA: 0x400000, Kind: AccessRead, User: true}} {
		if _, err := e.m.Do(a); err != nil {
			b.Fatal(err)
		}
	}
	return e
}

func BenchmarkNestedL2AccessHit(b *testing.B) {
	e := benchNestedEnv(b)
	a := &Access{GVA: 0x400010, Kind: AccessRead, User: true}
	for b.Loop() {
		if st, err := e.m.Do(a); err != nil || !st.Result.OK {
			b.Fatal(err, st.Result)
		}
	}
}

func BenchmarkNestedL2AccessMiss(b *testing.B) {
	e := benchNestedEnv(b)
	a := &Access{GVA: 0x400010, Kind: AccessRead, User: true}
	for b.Loop() {
		// L1 rewrites NPT12's PTE for L2 GPA 2M (offset 0x800 of its page table): the NPT02 leaf goes.
		e.m.kvmMMUTrackWrite(e.m.VCPUs[0], GPA(e.npt.CR3())+PageSize+0x800, 4)
		if st, err := e.m.Do(a); err != nil || !st.Result.OK {
			b.Fatal(err, st.Result)
		}
	}
}

// TestNestedNPTFuncNames: every function a nested NPT story names is a
// Linux 6.16 KVM identifier or a seed's ("cpu" is the processor, "guest
// store" the engine's name for a guest's own store).
func TestNestedNPTFuncNames(t *testing.T) {
	known := knownFuncNames(t)
	for _, variant := range []ShadowVariant{ShadowMerged, ShadowLevelExpanded} {
		e := newNestedEnv(t, 5, Paging32, Paging4, variant)
		_, err := e.l2.Map(0x400000, 0x200000, PageSize, PTWritable|PTUser)
		e.must(err)
		_, err = e.l2.Map(0x401000, 0x800000, PageSize, PTWritable|PTUser)
		e.must(err)
		for _, a := range []Action{&NestedEntry{}, &Access{GVA: 0x400000, Kind: AccessWrite, User: true},
			&Access{GVA: 0x401000, Kind: AccessRead}, &WriteNPT12Entry{L2GPA: 0x200000, Level: 1, Value: 0x900007},
			&WriteNPT12Entry{L2GPA: 0x800000, Level: 2, Value: 0xc00087}, &NestedEntry{},
			&Access{GVA: 0x401000, Kind: AccessRead}, &NestedGVAToGPA{GVA: 0x400010}, &NestedExit{Reason: "hlt"},
			&CheckShadow{}} {
			checkFuncNames(t, known, a, e.do(a))
		}
	}
}
