package render

import (
	"strings"

	"mmuviz/mmu"
)

// Which box and row of the shadow view an event is about. The guest's own
// entries and registers (KVM's software walk, A/D updates, the guest's
// stores, CR writes) stay with the native targets; everything KVM and the
// processor do to the shadow tables lands here.

// shBox names a box of the shadow view.
type shBox uint8

const (
	sbNone   shBox = iota
	sbRoot         // the vCPU's root_mmu box; row: one of the root rows
	sbTable        // a shadow page or special root; row: entry index, -1 the status line
	sbGuest        // the status line of a guest table (write tracking, unsync)
	sbFault        // the processor's #PF and KVM's handling of it; row: one of the fault rows
	sbResult       // the end of the processor's walk
	sbCheck        // the invariant checker
	sbRoots        // a vCPU's roots box; row: the current root or a prev_roots slot
)

// Rows of the root box and of the fault box that targets name.
const (
	rootRowRoot  = 0
	rootRowPages = 3
	faultRowPF   = 0
	faultRowExit = 2
	faultRowKVM  = 3
)

// shadowTarget is the thing of the shadow view the current step is about.
type shadowTarget struct {
	box   shBox
	table mmu.HPA // sbTable
	gpa   mmu.GPA // sbGuest: the guest table
	level int
	row   int
	write bool
	fault bool
	ghost bool // sbTable: the page is being freed
	vcpu  int  // sbRoots: whose roots
}

func rootTarget(row int, write bool) shadowTarget {
	return shadowTarget{box: sbRoot, row: row, write: write}
}

// targetOf maps the current event to its target in the shadow view; ok is
// false when the native targets decide (the guest's side of things).
func (s *shadowFocus) targetOf(f *focus, e *mmu.Event) (target, bool) {
	if e == nil {
		return target{}, false
	}
	if e.Kind == mmu.EvCheck && strings.HasSuffix(e.Func, "_page_fault") && strings.HasPrefix(e.Func, "paging") {
		// FNAME(page_fault): KVM walks the guest's tables from its CR3.
		return target{kind: tgtRegister, reg: mmu.RegCR3}, true
	}
	if e.Func == "kvm_mmu_hugepage_adjust" || e.Func == "kvm_handle_noslot_fault" {
		// About the guest's page: its leaf entry, or the page itself.
		if l := f.leafOf(); l != nil {
			return target{kind: tgtEntry, level: l.Level, index: l.Index, table: l.Table}, true
		}
		if f.showResult {
			return target{kind: tgtResult}, true
		}
	}
	t, native := s.eventTarget(f, e)
	if native {
		return target{}, false
	}
	if t.box == sbNone {
		t = rootTarget(rootRowRoot, false)
	}
	s.cur = t
	return target{kind: tgtShadow, level: t.level, write: t.write, fault: t.fault, sh: t}, true
}

// eventTarget is targetOf's mapping; native says the guest's side decides.
func (s *shadowFocus) eventTarget(f *focus, e *mmu.Event) (t shadowTarget, native bool) {
	switch {
	case e.Space == mmu.SpaceHPA && e.HasEntry:
		return s.onTable(mmu.HPA(e.Table), e.Index, e.Kind == mmu.EvWrite || e.Kind == mmu.EvZap), false
	case e.HasEntry || e.Space == mmu.SpaceReg || e.Space == mmu.SpacePDPTR || e.Kind == mmu.EvRole:
		return t, true
	case e.Kind == mmu.EvFault:
		if isShadowHWFault(f.machine, e) {
			return shadowTarget{box: sbFault, row: faultRowPF, fault: true}, false
		}
		return t, true // the guest's own fault, which KVM injects
	case e.Kind == mmu.EvFree && e.Space == mmu.SpaceHPA:
		return shadowTarget{box: sbTable, table: mmu.HPA(e.Addr), level: e.Level, row: -1, write: true, ghost: true}, false
	}
	if t, ok := s.rootsTarget(e); ok {
		return t, false
	}
	if t, ok := s.byFunc(f, e); ok {
		return t, false
	}
	switch {
	case e.Space == mmu.SpaceHPA && e.Addr != 0:
		// A page as a whole: allocated, made a root, synced, zapped.
		return s.onTable(mmu.HPA(e.Addr), -1, e.Kind != mmu.EvCheck), false
	case e.Kind == mmu.EvExit && e.Space == mmu.SpaceGPA:
		// A guest store to a write-protected guest table traps.
		return s.onGuest(f, mmu.GPA(e.Addr), false, true), false
	case e.Space == mmu.SpaceGVA && s.hwFault != nil && e.Kind == mmu.EvCheck:
		return s.faultRow(faultRowKVM), false
	case e.Space == mmu.SpaceGPA && e.Kind != mmu.EvBegin:
		return t, true // a store or the end of an emulated access
	}
	return rootTarget(rootRowRoot, false), false
}

// byFunc maps events that only their kernel function tells apart.
func (s *shadowFocus) byFunc(f *focus, e *mmu.Event) (shadowTarget, bool) {
	switch e.Func {
	case "cpu":
		switch e.Kind {
		case mmu.EvBegin:
			return rootTarget(rootRowRoot, false), true
		case mmu.EvResult:
			return shadowTarget{box: sbResult}, true
		}
	case "kvm_mmu_load_pgd", "kvm_mmu_reset_context":
		return rootTarget(rootRowRoot, true), true
	case "kvm_mmu_sync_roots", "kvm_invalidate_pcid", "kvm_flush_remote_tlbs", "kvm_mmu_free_obsolete_roots",
		"kvm_mmu_get_dummy_root":
		return rootTarget(rootRowRoot, false), true
	case "kvm_mmu_zap_all_fast", "kvm_zap_gfn_range", "kvm_set_memory_region":
		return rootTarget(rootRowPages, e.Kind == mmu.EvSet), true
	case "invariants":
		return shadowTarget{box: sbCheck, fault: e.Old > 0}, true
	case "kvm_mmu_invlpg", "kvm_mmu_invalidate_addr":
		if len(s.path) > 0 {
			l := s.path[len(s.path)-1]
			return s.onTable(l.Table, l.Index, false), true
		}
		return rootTarget(rootRowRoot, false), true
	case "kvm_handle_page_fault":
		if e.Space == mmu.SpaceGVA {
			return s.faultRow(faultRowExit), true
		}
	case "kvm_mmu_page_fault", "handle_mmio_page_fault", "kvm_mmu_write_protect_fault", "page_fault_handle_page_track":
		return s.faultRow(faultRowKVM), true
	}
	if e.Space == mmu.SpaceGPA && (strings.Contains(e.Func, "write_track") || e.Func == "account_shadowed" ||
		e.Func == "kvm_mmu_track_write") {
		return s.onGuest(f, mmu.GPA(e.Addr), e.Kind == mmu.EvSet, false), true
	}
	return shadowTarget{}, false
}

// faultRow is a row of the fault box while there is one, else the root.
func (s *shadowFocus) faultRow(row int) shadowTarget {
	if s.hwFault == nil {
		return rootTarget(rootRowRoot, false)
	}
	return shadowTarget{box: sbFault, row: row}
}

// onTable targets entry index (-1: the status line) of the table at hpa,
// if the picture can show that table.
func (s *shadowFocus) onTable(hpa mmu.HPA, index int, write bool) shadowTarget {
	it := s.itemFor(hpa)
	if it == nil {
		return rootTarget(rootRowRoot, false)
	}
	return shadowTarget{box: sbTable, table: hpa, level: it.level, row: index, write: write}
}

// onGuest targets the status line of the guest table holding gpa, when it
// is on the path; else that of a shadow page of its frame.
func (s *shadowFocus) onGuest(f *focus, gpa mmu.GPA, write, fault bool) shadowTarget {
	for _, l := range f.path.Levels {
		if !l.FromReg && l.Table.GFN() == gpa.GFN() {
			return shadowTarget{box: sbGuest, gpa: l.Table, level: l.Level, row: -1, write: write, fault: fault}
		}
	}
	for _, p := range s.pages {
		if p.GFN == gpa.GFN() && p.HasGPTEs {
			t := s.onTable(p.HPA, -1, write)
			t.fault = fault
			return t
		}
	}
	return rootTarget(rootRowRoot, false)
}
