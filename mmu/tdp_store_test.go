package mmu

import "testing"

// TestTDPGuestStore checks that a guest store by GPA on EPT goes through
// the EPT: on an empty EPT it exits until KVM has mapped the page, then
// memory changes and the EPT leaf is dirty; a second store needs no exit.
func TestTDPGuestStore(t *testing.T) {
	for _, kind := range []TDPKind{TDPEPT, TDPNPT} {
		e := newTestEnv(t, Paging4, DefaultConfig())
		if err := e.m.EnableTDP(TDPConfig{Kind: kind, Levels: 4, AD: true}); err != nil {
			t.Fatal(err)
		}
		e.load()
		const gpa = GPA(0x300008)
		st := e.do(&GuestWrite{GPA: gpa, Size: 8, Value: 0x1234})
		hpa, _ := e.m.GPAToHPA(gpa)
		if got, _ := e.m.Mem.Read(hpa, 8); !st.Result.OK || got != 0x1234 {
			t.Fatalf("%s: store %+v, memory %#x", kind, st.Result, got)
		}
		exits := 0
		for _, ev := range st.Events {
			if ev.Kind == EvFault && ev.Func == "cpu" {
				exits++
			}
		}
		// An empty 4-level EPT/NPT: the violation at the root, then KVM
		// builds the whole path at once.
		if exits != 1 || !st.Result.HasRefsTotal || !hasFunc(st, "tdp_mmu_map_handle_target_level") {
			t.Errorf("%s: %d exits, funcs %v", kind, exits, funcs(st))
		}
		levels, _, ok := e.m.TDPPath(0, gpa)
		var leaf uint64
		if ok {
			leaf = levels[len(levels)-1].Value
		}
		if !ok || leaf&e.m.tdp.masks.dirty == 0 {
			t.Errorf("%s: EPT/NPT leaf %#x (found %v) is not dirty after the store", kind, leaf, ok)
		}
		st = e.do(&GuestWrite{GPA: gpa, Size: 4, Value: 0x5678})
		if !st.Result.OK || st.Result.HasRefsTotal || hasFunc(st, "kvm_mmu_page_fault") {
			t.Errorf("%s: second store exits: %v", kind, funcs(st))
		}
		if st.Result.Refs != 4 {
			t.Errorf("%s: second store made %d references, want the 4 of the EPT/NPT walk", kind, st.Result.Refs)
		}
	}
}
