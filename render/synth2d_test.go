package render_test

import (
	"fmt"
	"testing"

	"mmuviz/mmu"
	"mmuviz/render"
)

// A synthetic two-dimensional walk, built by the test itself from the
// event contract of mmu.Event (TwoD, GuestLevel, HostLevel, Ref), so that
// the 2D view is tested without the engine's TDP MMU: EPT tables written
// straight into host memory, and the trace a hardware walk of them gives.

// synthEPT is a 4K-only EPT in the host memory of m, mapping GPA g to the
// HPA the memslots give it.
type synthEPT struct {
	m      *mmu.Machine
	levels int
	root   mmu.HPA
	next   mmu.HPA // bump allocator for tables
}

const eptRWX = 7 | 6<<3 // R W X, memory type WB on leaves

func newSynthEPT(t testing.TB, m *mmu.Machine, levels int) *synthEPT {
	t.Helper()
	s := &synthEPT{m: m, levels: levels, root: 0x3000000, next: 0x3001000}
	return s
}

// entryAddr is the HPA of the entry for gpa in the table at level.
func entryAddr(table mmu.HPA, gpa mmu.GPA, level int) mmu.HPA {
	return table + mmu.HPA((uint64(gpa)>>(12+9*uint(level-1))&511)*8)
}

// mapGPA maps the 4 KiB page of gpa, creating tables on the way.
func (s *synthEPT) mapGPA(t testing.TB, gpa mmu.GPA) {
	t.Helper()
	hpa, ok := s.m.GPAToHPA(gpa &^ 0xfff)
	if !ok {
		t.Fatalf("GPA %s has no memslot", gpa)
	}
	table := s.root
	for level := s.levels; level > 1; level-- {
		a := entryAddr(table, gpa, level)
		e, _ := s.m.Mem.Read(a, 8)
		if e&7 == 0 {
			e = uint64(s.next) | 7
			s.next += 0x1000
			if _, err := s.m.Mem.Write(a, 8, e); err != nil {
				t.Fatal(err)
			}
		}
		table = mmu.HPA(e &^ 0xfff)
	}
	if _, err := s.m.Mem.Write(entryAddr(table, gpa, 1), 8, uint64(hpa)|eptRWX); err != nil {
		t.Fatal(err)
	}
}

// walkEvents are the reads of a host walk of gpa for the guest level row,
// numbered from ref+1; ok is false when an entry is not present (the last
// event is then that entry's read).
func (s *synthEPT) walkEvents(gpa mmu.GPA, row int, ref *int) ([]mmu.Event, bool) {
	var out []mmu.Event
	table := s.root
	for level := s.levels; level >= 1; level-- {
		a := entryAddr(table, gpa, level)
		e, _ := s.m.Mem.Read(a, 8)
		*ref++
		idx := int(uint64(gpa)>>(12+9*uint(level-1))) & 511
		out = append(out, mmu.Event{Kind: mmu.EvRead, Func: "cpu", Space: mmu.SpaceHPA, Addr: uint64(a),
			Table: uint64(table), Level: level, Index: idx, Old: e, New: e, HasEntry: true, Size: 8,
			TwoD: true, GuestLevel: row, HostLevel: level, Ref: *ref,
			Text: fmt.Sprintf("ref %d: EPT level %d for GPA %s", *ref, level, gpa)})
		if e&7 == 0 {
			return out, false
		}
		table = mmu.HPA(e &^ 0xfff)
	}
	return out, true
}

// twoDWalk is the trace of a 2D walk of gva by vCPU 0: a begin, every
// reference, and the result or an EPT violation where the walk stops.
func (s *synthEPT) twoDWalk(gva mmu.GVA) []mmu.Event {
	path := s.m.PathOf(0, gva)
	out := []mmu.Event{{Kind: mmu.EvBegin, Func: "cpu", Space: mmu.SpaceGVA, Addr: uint64(gva), GVA: gva,
		Text: "the access starts"}}
	ref := 0
	violation := func(row int, gpa mmu.GPA, final bool) []mmu.Event {
		q := uint64(1 | 1<<7) // a read, the GVA valid
		if final {
			q |= 1 << 8
		}
		return append(out, mmu.Event{Kind: mmu.EvExit, Func: "handle_ept_violation", Space: mmu.SpaceGPA,
			Addr: uint64(gpa), New: q, TwoD: true, GuestLevel: row, Text: "EPT violation"})
	}
	for _, l := range path.Levels {
		if l.FromReg {
			continue
		}
		evs, ok := s.walkEvents(l.Table, l.Level, &ref)
		out = append(out, evs...)
		if !ok {
			return violation(l.Level, l.Table, false)
		}
		ref++
		out = append(out, mmu.Event{Kind: mmu.EvRead, Func: "cpu", Space: mmu.SpaceGPA, Addr: uint64(l.EntryGPA),
			Table: uint64(l.Table), Level: l.Level, Index: l.Index, New: uint64(l.Entry), HasEntry: true,
			HPA: l.TableHPA + mmu.HPA(l.EntryGPA-l.Table), HasHPA: true, Size: 8, GVA: gva,
			TwoD: true, GuestLevel: l.Level, HostLevel: 0, Ref: ref, Text: "the guest entry"})
	}
	if path.HasGPA {
		evs, ok := s.walkEvents(path.GPA, 0, &ref)
		out = append(out, evs...)
		if !ok {
			return violation(0, path.GPA, true)
		}
	}
	return append(out, mmu.Event{Kind: mmu.EvResult, Func: "cpu", Space: mmu.SpaceGVA, Addr: uint64(gva),
		Text: fmt.Sprintf("%d references", ref)})
}

// synthTimeline is one access with a hand-made trace; Seek is not
// available (the steps are not the engine's), views come from synthView.
func synthTimeline(gva mmu.GVA, events []mmu.Event) *mmu.Timeline {
	return &mmu.Timeline{Steps: []mmu.Step{{Action: &mmu.Access{GVA: gva}, Events: events}}}
}

// synthView is the view after the k-th event (k >= 1) on machine m.
func synthView(m *mmu.Machine, events []mmu.Event, k int) *mmu.View {
	return &mmu.View{Step: k, Machine: m, Action: 0, Event: &events[k-1], Events: events[:k]}
}

// machineOn4 is machine4 with the guest's tables and its page mapped by
// a 4-level EPT.
func machineOn4(t *testing.T, levels int) (*mmu.Machine, *synthEPT) {
	m, _ := machine4(t, 1)
	s := newSynthEPT(t, m, levels)
	for _, gpa := range []mmu.GPA{0x100000, 0x101000, 0x102000, 0x103000, 0x200000} {
		s.mapGPA(t, gpa)
	}
	return m, s
}

// gridOf returns the grid box of a scene.
func gridOf(t *testing.T, sc *render.Scene) *render.Box {
	t.Helper()
	b, ok := sc.Box("grid")
	if !ok {
		t.Fatalf("no grid:\n%s", dump(sc))
	}
	return b
}

// faultAndFix is a walk that meets an EPT violation on the final GPA,
// KVM's fix (a new EPT PT, the PDE linking it, the leaf), and the retry.
// views[k-1] is the machine after event k.
func faultAndFix(t *testing.T) (events []mmu.Event, machines []*mmu.Machine, newPT mmu.HPA) {
	m, _ := machine4(t, 1)
	s := newSynthEPT(t, m, 4)
	for _, gpa := range []mmu.GPA{0x100000, 0x101000, 0x102000, 0x103000} {
		s.mapGPA(t, gpa)
	}
	events = s.twoDWalk(0x400123)
	exit := events[len(events)-1]
	if exit.Kind != mmu.EvExit {
		t.Fatalf("the walk does not stop at a violation: %+v", exit)
	}
	// The violation stopped at the EPT PDE for GPA 0x200000 (index 1).
	pdRead := events[len(events)-2]
	newPT = s.next
	hpa, _ := m.GPAToHPA(0x200000)
	pde := mmu.HPA(pdRead.Table) + 8
	fix := []mmu.Event{
		{Kind: mmu.EvAlloc, Func: "tdp_mmu_alloc_sp", Space: mmu.SpaceHPA, Addr: uint64(newPT), Level: 1,
			Text: "KVM allocates a page for the EPT PT"},
		{Kind: mmu.EvWrite, Func: "tdp_mmu_link_sp", Space: mmu.SpaceHPA, Addr: uint64(pde), Table: pdRead.Table,
			Level: 2, Index: 1, New: uint64(newPT) | 7, HasEntry: true, Size: 8, Text: "KVM links it"},
		{Kind: mmu.EvWrite, Func: "tdp_mmu_set_spte_atomic", Space: mmu.SpaceHPA, Addr: uint64(newPT),
			Table: uint64(newPT), Level: 1, Index: 0, New: uint64(hpa) | eptRWX, HasEntry: true, Size: 8,
			Text: "KVM maps the page"},
	}
	events = append(events, fix...)
	cur := m.Clone()
	for i := range events {
		e := events[i]
		if e.Kind == mmu.EvWrite && e.Space == mmu.SpaceHPA {
			if _, err := cur.Mem.Write(mmu.HPA(e.Addr), 8, e.New); err != nil {
				t.Fatal(err)
			}
		}
		machines = append(machines, cur.Clone())
	}
	s.m = cur
	retry := s.twoDWalk(0x400123)
	for range retry {
		machines = append(machines, cur.Clone())
	}
	return append(events, retry...), machines, newPT
}

// synthViewOn is synthView on the machine after event k.
func synthViewOn(machines []*mmu.Machine, events []mmu.Event, k int) *mmu.View {
	return synthView(machines[k-1], events, k)
}
