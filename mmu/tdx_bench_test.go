package mmu

import "testing"

// benchTD is a booted TD whose private and shared pages are mapped, run
// quietly.
func benchTD(b *testing.B) *tdEnv {
	e := newTD(b, 48)
	e.boot()
	e.do(&TDXAccept{GPA: tdPrivGPA})
	e.do(&TDXMapGPA{GPA: e.shared, Size: PageSize})
	e.do(&Access{GVA: tdSharedGVA, Kind: AccessRead})
	e.m.Quiet = true
	return e
}

// BenchmarkTDXWalkPrivate is a guest read of a private page that needs no
// exit: 24 references, all through the S-EPT.
func BenchmarkTDXWalkPrivate(b *testing.B) {
	benchTDWalk(b, tdPrivGVA)
}

// BenchmarkTDXWalkShared is the same read of the shared page: the guest
// tables through the S-EPT, the final GPA through the shared EPT.
func BenchmarkTDXWalkShared(b *testing.B) {
	benchTDWalk(b, tdSharedGVA)
}

// benchTDWalk reads gva in the booted TD again and again, reporting walks
// a second and the references of a walk.
func benchTDWalk(b *testing.B, gva GVA) {
	e := benchTD(b)
	a := &Access{GVA: gva, Kind: AccessRead}
	n, refs := 0, 0
	for b.Loop() {
		st, _ := e.m.Do(a)
		if !st.Result.OK {
			b.Fatal(st.Result)
		}
		n, refs = n+1, st.Result.Refs
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "walks/s")
	b.ReportMetric(float64(refs), "refs/walk")
}

// BenchmarkTDXConvertRoundTrip converts the private page to shared and
// back and accepts it again: BLOCK, TRACK, REMOVE, then AUG and ACCEPT.
func BenchmarkTDXConvertRoundTrip(b *testing.B) {
	e := benchTD(b)
	shared := &TDXMapGPA{GPA: tdPrivGPA | e.shared&^tdSharedGFN.GPA(), Size: PageSize}
	private := &TDXMapGPA{GPA: tdPrivGPA, Size: PageSize}
	accept := &TDXAccept{GPA: tdPrivGPA}
	for b.Loop() {
		for _, a := range []Action{shared, private, accept} {
			if _, err := e.m.Do(a); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// TestTDXFuncNames: every function a TD's story names is a Linux 6.16 KVM
// identifier or a seed's ("cpu" is the processor or the TDX module
// serving a TDCALL, "guest store" the engine's name for the guest's own
// store, "invariants" its checker).
func TestTDXFuncNames(t *testing.T) {
	known := knownFuncNames(t)
	e := newTD(t, 48)
	for _, a := range tdxScript(e) {
		checkFuncNames(t, known, a, e.do(a))
	}
}
