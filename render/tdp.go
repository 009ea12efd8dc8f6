package render

import (
	"mmuviz/mmu"
)

// The 2D view: when the guest runs on TDP (EPT or NPT), every access is a
// two-dimensional walk, and the picture adds the host tables on the path
// of the reference being made, the grid of references, and what KVM does
// about an EPT violation. tdpFocus gathers that from the trace and from
// the engine's views of the TDP MMU (mmu/tdp_view.go), as focus does for
// the guest walk.

// hostLevel is one level of the host tables on the path of a GPA.
type hostLevel struct {
	mmu.TDPPathLevel
	pending bool // a table KVM has allocated and not linked yet (Index -1 when no GPA)
}

// hostTarget is the host entry (or table) the current step is about.
type hostTarget struct {
	ok        bool
	table     mmu.HPA
	level     int
	index     int  // -1: the table as a whole (new, freed, split)
	write     bool // the step writes it
	fault     bool // the walk stopped there: an EPT violation or misconfiguration
	violation bool // the step is about the violation itself (the exit, KVM's checks)
	alloc     bool // the step allocates the table
}

// tdpFocus is what the 2D panels show at one step.
type tdpFocus struct {
	format mmu.TDPFormat
	root   mmu.HPA
	rooted bool // the vCPU has a valid root
	grid   *gridModel
	// nested: the host tables shown are guest_mmu's EPT02/NPT02, the
	// shadow of L1's EPT12/NPT12 that the processor walks while the vCPU
	// runs L2; levels is how many levels the shown host tables have.
	// gridL2: the grid's attempt is L2's (through EPT02/NPT02).
	nested, gridL2 bool
	levels         int
	special        map[mmu.HPA]specialRoot // guest_mmu's special roots, by address
	nestedRun      bool                    // a vCPU has a nested set-up: root_mmu's tables are EPT01/NPT01
	row            int                     // guest level whose GPA the shown host walk translates, -1 when none
	gpa            mmu.GPA                 // that GPA
	hasGPA         bool
	seen           [6]bool // host levels that host walk has read so far
	all            bool    // show every table on the path, not only those read
	// walkFault is the processor's report that a translation failed (its
	// GuestLevel, HostLevel, GPA and code); exit is KVM's side of it, the
	// VM exit handler's event, once it has run.
	walkFault *mmu.Event
	exit      *mmu.Event
	mended    bool             // KVM has changed its tables since the violation
	fresh     map[mmu.HPA]bool // tables KVM allocated in this action
	path      []hostLevel
	sept      bool    // a TD's private GPA: the path is through the S-EPT (tdx.go)
	hpa       mmu.HPA // where the path leads, when it ends in a leaf
	cur       hostTarget
}

// isHostFault reports whether e is the processor stopping a 2D walk (an
// EPT violation, misconfiguration or nested page fault) or the VM exit
// that follows: faults the guest never sees.
func isHostFault(e *mmu.Event) bool {
	return e.Kind == mmu.EvExit || (e.Kind == mmu.EvFault && e.TwoD)
}

// changesHost reports whether e changes the host tables: KVM allocating,
// writing, zapping or freeing.
func changesHost(e *mmu.Event) bool {
	switch e.Kind {
	case mmu.EvAlloc, mmu.EvFree, mmu.EvZap, mmu.EvWrite:
		return e.Space == mmu.SpaceHPA
	}
	return false
}

// attemptOf finds the attempt at an access that event done-1 belongs to:
// the events from the last begin up to the next, and which try it is.
func attemptOf(events []mmu.Event, done int) (from, to, try int) {
	to = len(events)
	for i := 0; i < len(events); i++ {
		if events[i].Kind != mmu.EvBegin {
			continue
		}
		if i < done {
			from, try = i, try+1
		} else if i > from {
			to = i
			break
		}
	}
	return from, to, max(try, 1)
}

// tdpFocusAt gathers the 2D view of the step, or nil when the VM does not
// run on TDP (the picture is then the native one).
func tdpFocusAt(f *focus, v *mmu.View, tl *mmu.Timeline) *tdpFocus {
	format, ok := v.Machine.TDPFormat()
	if !ok {
		return nil
	}
	t := &tdpFocus{format: format, row: -1, nestedRun: f.nestedVCPU()}
	var all []mmu.Event
	done := 0
	if v.Action >= 0 {
		all, done = tl.Steps[v.Action].Events, len(v.Events)
	}
	from, to, try := attemptOf(all, done)
	att := hostContextOf(v.Machine, f.vcpu, all[from:to], nil)
	t.gridL2 = att.nested
	mode := f.mode
	if l2 := v.Machine.L2Mode(f.vcpu); att.nested && l2 != mmu.PagingOff {
		// The attempt is L2's: its grid has L2's levels, even once L1
		// runs again (the exit that ended it reflected to L1).
		mode = l2
	}
	attempt, upTo := all[from:to], done-from
	if !f.walking && !guestStore(v, tl) {
		attempt, upTo, try = nil, 0, 1
	}
	t.grid = newGridModel(mode, att.levels, regRowOf(mode, format), attempt, upTo, try)
	if b := firstBegin(all); guestStore(v, tl) && b != nil && b.Space == mmu.SpaceGPA {
		t.grid.storeByGPA() // before the store's walk begins, too
	}
	col := hostContextOf(v.Machine, f.vcpu, all[from:to], v.Event)
	t.nested, t.root, t.rooted, t.levels = col.nested, col.root, col.rooted, col.levels
	if t.nested {
		t.special = specialRoots(v.Machine, f.vcpu)
	}
	t.scan(all[from:done])
	t.noteFresh(all[:done])
	t.cur = t.targetOf(v.Event)
	other := col.nested != att.nested
	if other {
		t.forgetAttempt() // the step is about the other context's tables
	}
	switch {
	case t.hasGPA:
	case f.walking && !other:
		t.gpa, t.hasGPA = t.rowGPA(f)
	default:
		if other {
			t.gpa, t.hasGPA = t.tableGPA(v.Machine)
		}
		if !t.hasGPA {
			t.gpa, t.hasGPA = kvmGPA(v, tl, t.nested)
		}
		t.all = t.hasGPA
	}
	t.pathFor(v.Machine, f.vcpu)
	return t
}

// firstBegin is the first begin event of an action, nil if none.
func firstBegin(events []mmu.Event) *mmu.Event {
	for i := range events {
		if events[i].Kind == mmu.EvBegin {
			return &events[i]
		}
	}
	return nil
}

// guestStore says the step's action is a guest store by GPA (guest-write,
// a scripted entry edit, L1's store into its EPT12/NPT12), whose EPT/NPT
// walk fills the grid's data column.
func guestStore(v *mmu.View, tl *mmu.Timeline) bool {
	if v.Action < 0 {
		return false
	}
	switch tl.Steps[v.Action].Action.(type) {
	case *mmu.GuestWrite, *mmu.WriteEntry, *mmu.WriteEPT12Entry, *mmu.WriteNPT12Entry:
		return true
	}
	return false
}

// kvmGPA is the GPA an action of KVM's (not a guest access) is at: the
// latest guest-physical address its events name, else the action's own.
//
// For guest_mmu's tables (l2) only an L2 GPA will do: the address of
// kvm_mmu_page_fault on guest_mmu; the other guest-physical addresses
// KVM names while it handles an L2 fault are L1's (its EPT12/NPT12). For
// root_mmu's, none of guest_mmu's or nested_mmu's events: some name L2
// GPAs, the others L1's nested tables, shown in their own panel.
func kvmGPA(v *mmu.View, tl *mmu.Timeline, l2 bool) (mmu.GPA, bool) {
	for i := len(v.Events) - 1; i >= 0; i-- {
		e := &v.Events[i]
		if e.Space != mmu.SpaceGPA {
			continue
		}
		nestedMMU := e.MMU == "guest_mmu" || e.MMU == "nested_mmu"
		if l2 && e.MMU == "guest_mmu" && e.Func == "kvm_mmu_page_fault" || !l2 && !nestedMMU {
			return mmu.GPA(e.Addr), true
		}
	}
	if l2 {
		return 0, false
	}
	if v.Action < 0 {
		return 0, false
	}
	switch a := tl.Steps[v.Action].Action.(type) {
	case *mmu.PrintSPTE:
		return a.GPA, true
	case *mmu.PreFault:
		return a.GPA, true
	case *mmu.ZapGFNRange:
		return a.GPA, true
	}
	return 0, false
}

// pdptesFromMemory reports whether the processor reads a PAE guest's
// PDPTEs from memory in its 2D walk (NPT keeps no PDPTE registers), so
// that the chain shows the PDPT in memory rather than the registers.
func (f *focus) pdptesFromMemory() bool {
	return f.tdp != nil && f.mode == mmu.PagingPAE && regRowOf(f.mode, f.tdp.format) == 0
}

// regRowOf is the guest level whose entries come from registers in a 2D
// walk: a PAE guest's PDPTEs on EPT (loaded at MOV to CR3); NPT reads them
// from memory.
func regRowOf(mode mmu.PagingMode, format mmu.TDPFormat) int {
	if mode == mmu.PagingPAE && format.Kind == mmu.TDPEPT {
		return 3
	}
	return 0
}

// scan follows the attempt so far: the row of the latest reference, the
// host levels its host walk has read, and the violation if there was one.
func (t *tdpFocus) scan(events []mmu.Event) {
	for i := range events {
		e := &events[i]
		switch {
		case isRef(e) && e.HostLevel > 0:
			if e.GuestLevel != t.row {
				t.row, t.seen, t.all = e.GuestLevel, [6]bool{}, false
			}
			if e.HostLevel < len(t.seen) {
				t.seen[e.HostLevel] = true
			}
		case isRef(e):
			t.row, t.all = e.GuestLevel, true // the guest's entry: its page's host walk is complete
		case e.Kind == mmu.EvFault && e.TwoD:
			t.walkFault, t.all = e, true
			t.row, t.gpa, t.hasGPA = e.GuestLevel, mmu.GPA(e.Addr), true
		case e.Kind == mmu.EvExit:
			t.exit, t.all = e, true
		case t.walkFault != nil && changesHost(e):
			t.mended = true
		}
	}
}

// noteFresh remembers the tables KVM allocated in this action.
func (t *tdpFocus) noteFresh(events []mmu.Event) {
	for i := range events {
		if e := &events[i]; e.Kind == mmu.EvAlloc {
			if t.fresh == nil {
				t.fresh = map[mmu.HPA]bool{}
			}
			t.fresh[mmu.HPA(e.Addr)] = true
		}
	}
}

// rowGPA is the GPA the shown host walk translates: the guest table of
// its row, or the final GPA.
func (t *tdpFocus) rowGPA(f *focus) (mmu.GPA, bool) {
	switch {
	case t.row < 0:
		return 0, false
	case t.row == 0:
		return f.path.GPA, f.path.HasGPA
	}
	for _, l := range f.path.Levels {
		if l.Level == t.row {
			return l.EntryGPA, true // the processor translates the entry's address
		}
	}
	return 0, false
}

// entryRead reports whether the walk has read the guest's entry at level
// in this attempt (the grid's guest column).
func (t *tdpFocus) entryRead(level int) bool {
	_, ok := t.grid.refs[cellKey{level, 0}]
	return ok
}

// translating reports whether the shown host walk translates the GPA of
// the guest's table at level and has not finished.
func (t *tdpFocus) translating(level int) bool {
	return t.row == level && level > 0 && !t.entryRead(level) && t.walkFault == nil
}

// targetOf maps the current event to the host entry or table it is about.
func (t *tdpFocus) targetOf(e *mmu.Event) hostTarget {
	switch {
	case e == nil:
		return hostTarget{}
	case e.Kind == mmu.EvFault && e.TwoD:
		return hostTarget{ok: true, index: -1, fault: true}
	case e.Kind == mmu.EvExit:
		return hostTarget{ok: true, index: -1, violation: true}
	case e.Space == mmu.SpaceHPA && e.HasEntry:
		if e.TwoD && e.Kind == mmu.EvWrite {
			// The processor sets A/D in an entry of the translation of
			// its row's page: show that page's host walk.
			t.row, t.all, t.hasGPA = e.GuestLevel, true, false
		}
		return hostTarget{ok: true, table: mmu.HPA(e.Table), level: e.Level, index: e.Index,
			write: e.Kind == mmu.EvWrite || e.Kind == mmu.EvZap}
	case e.Space == mmu.SpaceHPA && e.Level > 0 && e.Kind != mmu.EvRead && e.Kind != mmu.EvCheck:
		// A table as a whole: allocated, freed, split, a root's count.
		return hostTarget{ok: true, table: mmu.HPA(e.Addr), level: e.Level, index: -1,
			write: e.Kind != mmu.EvSet, alloc: e.Kind == mmu.EvAlloc}
	case e.HasEntry && e.Space != mmu.SpaceHPA:
		// The guest's own entry (KVM's software walker, emulating).
		return hostTarget{}
	case t.walkFault != nil:
		// KVM's handling of the exit: its checks are about the violation.
		return hostTarget{ok: true, index: -1, violation: true}
	}
	return hostTarget{}
}

// pathFor computes the host tables to show: the path of the GPA, else of
// the table the step is about (found among KVM's pages), else the root.
func (t *tdpFocus) pathFor(m *mmu.Machine, vcpu int) {
	if !t.hasGPA {
		t.gpa, t.hasGPA = t.tableGPA(m)
		t.all = t.all || t.hasGPA
	}
	if t.hasGPA && (!t.nested || t.rooted) {
		t.sept = m.IsPrivateGPA(t.gpa)
		levels, hpa, _ := m.TDPPath(vcpu, t.gpa)
		if t.nested && !t.sept {
			levels, hpa, _ = m.TDPPathFrom(t.root, t.levels, t.gpa)
		}
		for _, l := range levels {
			t.path = append(t.path, hostLevel{TDPPathLevel: l})
		}
		t.hpa = hpa
	} else if t.rooted {
		t.path = []hostLevel{{TDPPathLevel: mmu.TDPPathLevel{Level: t.levels, Table: t.root, Index: -1}}}
		t.all = true
	}
	if !isMirrorPage(m, t.cur.table) { // a TD's mirror pages have their own panel (tdx.go)
		t.addPending()
	}
	if t.cur.fault && len(t.path) > 0 {
		// The walk stopped at the last entry it read.
		last := t.path[len(t.path)-1]
		t.cur.table, t.cur.level, t.cur.index = last.Table, last.Level, last.Index
	}
}

// addPending shows a table the step is about that is not on the path: one
// KVM has just allocated and not linked yet, or one it frees.
func (t *tdpFocus) addPending() {
	if !t.cur.ok || t.cur.table == 0 {
		return
	}
	for _, hl := range t.path {
		if hl.Table == t.cur.table {
			return
		}
	}
	level := max(t.cur.level, 1)
	if r, ok := t.special[t.cur.table]; ok {
		level = r.level // an event about a special root may name no level
	}
	hl := hostLevel{TDPPathLevel: mmu.TDPPathLevel{Level: level, Table: t.cur.table, Index: -1},
		pending: true}
	if t.hasGPA {
		hl.Index = mmu.TDPIndex(t.gpa, hl.Level)
	}
	t.path = append(t.path, hl)
}
