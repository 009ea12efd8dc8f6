package mmu

import "testing"

// BenchmarkNestedEPTL2Hit: an L2 read that hits in EPT02, the processor's
// 24-reference two-dimensional walk.
func BenchmarkNestedEPTL2Hit(b *testing.B) {
	e := newVMXEnv(b, true)
	e.mapL2(0x400000, 0x200000, PTWritable|PTUser)
	e.m.Quiet = true
	if _, err := e.m.Do(&NestedEntry{VCPU: 0}); err != nil {
		b.Fatal(err)
	}
	a := &Access{VCPU: 0, GVA: 0x400123, Kind: AccessRead, User: true}
	if st, err := e.m.Do(a); err != nil || !st.Result.OK {
		b.Fatal(err, st.Result)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if st, _ := e.m.Do(a); st.Result.Refs != 24 {
			b.Fatalf("refs %d", st.Result.Refs)
		}
	}
}

// BenchmarkEPT12Walk: KVM's software walk of a 4-level EPT12 (ept_gva_to_gpa).
func BenchmarkEPT12Walk(b *testing.B) {
	e := newEPTEnv(b, 4, true, DefaultEPTCaps())
	e.mapPage(0x7f_4020_3000, 0x45_6000, PageSize, EPTRWX|wb)
	e.m.Quiet = true
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if w := e.walk(0x7f_4020_3000, PFErrUser); w.Fault != nil {
			b.Fatal(w.Fault)
		}
	}
}
