package render

import (
	"mmuviz/mmu"
)

// The 2D view: when the guest runs on TDP (EPT or NPT), every access is a
// two-dimensional walk, and the picture adds the host tables on the path
// of the reference being made, the grid of references, and what KVM does
// about an EPT violation. tdpFocus gathers that from the trace and the
// machine, as focus does for the guest walk.

// hostTables describes the vCPU's TDP tables for the picture.
type hostTables struct {
	name    string // "EPT" or "NPT"
	levels  int
	root    mmu.HPA
	hasRoot bool
	ad      bool // accessed and dirty flags are enabled
}

// hostLevel is one level of the host tables on the path of a GPA.
type hostLevel struct {
	level   int
	table   mmu.HPA
	index   int
	entry   uint64
	present bool
	leaf    bool
	pending bool // a table KVM has allocated and not linked yet
}

// hostTarget is the host entry (or table) the current step is about.
type hostTarget struct {
	ok    bool
	table mmu.HPA
	level int
	index int // -1: the table as a whole (a new one)
	write bool
	fault bool
	alloc bool
}

// tdpFocus is what the 2D panels show at one step.
type tdpFocus struct {
	host   hostTables
	grid   *gridModel
	row    int     // guest level whose GPA the shown host walk translates, -1 when none
	gpa    mmu.GPA // that GPA
	hasGPA bool
	seen   [6]bool          // host levels that host walk has read so far
	all    bool             // show every table on the path, not only those read
	exit   *mmu.Event       // the violation that stopped this attempt, once it happened
	mended bool             // KVM has changed its tables since the violation
	fresh  map[mmu.HPA]bool // tables KVM allocated in this action
	path   []hostLevel
	cur    hostTarget
}

// isHostFault reports whether e is an EPT violation or nested page fault:
// a VM exit to KVM, not a fault the guest sees.
func isHostFault(e *mmu.Event) bool {
	return e.Kind == mmu.EvExit || (e.Kind == mmu.EvFault && (e.TwoD || e.Space == mmu.SpaceHPA))
}

// isHostEvent reports whether e is about the host tables: a reference of a
// 2D walk to them, KVM changing them, or a violation.
func isHostEvent(e *mmu.Event) bool {
	switch e.Kind {
	case mmu.EvAlloc, mmu.EvFree, mmu.EvZap, mmu.EvExit:
		return true
	}
	return e.Space == mmu.SpaceHPA || isHostFault(e)
}

// tdpLevels reports whether tl walks in two dimensions and how many host
// levels its walks read.
func tdpLevels(tl *mmu.Timeline) (int, bool) {
	levels, ok := 0, false
	for a := range tl.Steps {
		for i := range tl.Steps[a].Events {
			e := &tl.Steps[a].Events[i]
			if e.TwoD || e.Kind == mmu.EvExit || e.Kind == mmu.EvAlloc {
				ok = true
			}
			if isRef(e) {
				levels = max(levels, e.HostLevel)
			}
		}
	}
	return levels, ok
}

// hostTablesOf finds the host tables of vcpu: their root is the table of
// the first reference of the timeline at the top host level.
func hostTablesOf(tl *mmu.Timeline, levels int) hostTables {
	ht := hostTables{name: "EPT", levels: max(levels, 4)}
	for a := range tl.Steps {
		for i := range tl.Steps[a].Events {
			e := &tl.Steps[a].Events[i]
			if isRef(e) && e.HostLevel == ht.levels && !ht.hasRoot {
				ht.root, ht.hasRoot = mmu.HPA(e.Table), true
			}
		}
	}
	return ht
}

// hostPresent reports whether a host entry maps anything: any of R, W, X
// for EPT, P for NPT.
func (ht *hostTables) present(e uint64) bool {
	if ht.name == "NPT" {
		return e&1 != 0
	}
	return e&7 != 0
}

// isLeaf reports whether a present host entry at level maps a page.
func (ht *hostTables) isLeaf(e uint64, level int) bool {
	return level == 1 || (level <= 3 && e&(1<<7) != 0)
}

// hostAddrMask keeps bits 51:12 of a host entry: the next table or frame.
const hostAddrMask = 0x000ffffffffff000

// hostIndex is the index a GPA selects in a host table at level.
func hostIndex(gpa mmu.GPA, level int) int { return int(uint64(gpa)>>(12+9*uint(level-1))) & 511 }

// pathOf follows the host tables for gpa as they are in m now, from the
// root down to a leaf or an entry that is not present.
func (ht *hostTables) pathOf(m *mmu.Machine, gpa mmu.GPA) []hostLevel {
	if !ht.hasRoot {
		return nil
	}
	var out []hostLevel
	table := ht.root
	for level := ht.levels; level >= 1; level-- {
		hl := hostLevel{level: level, table: table, index: hostIndex(gpa, level)}
		hl.entry, _ = m.Mem.Read(table+mmu.HPA(hl.index*8), 8)
		hl.present = ht.present(hl.entry)
		hl.leaf = hl.present && ht.isLeaf(hl.entry, level)
		out = append(out, hl)
		if !hl.present || hl.leaf {
			break
		}
		table = mmu.HPA(hl.entry & hostAddrMask)
	}
	return out
}

// hostTable reads the 512 entries of the host table at hpa.
func hostTable(m *mmu.Machine, hpa mmu.HPA) []uint64 {
	out := make([]uint64, 512)
	for i := range out {
		out[i], _ = m.Mem.Read(hpa+mmu.HPA(i*8), 8)
	}
	return out
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

// tdpFocusAt gathers the 2D view of the step, or nil when the timeline
// has no two-dimensional walks (the picture is then the native one).
func tdpFocusAt(f *focus, v *mmu.View, tl *mmu.Timeline) *tdpFocus {
	levels, ok := tdpLevels(tl)
	if !ok {
		return nil
	}
	t := &tdpFocus{host: hostTablesOf(tl, levels), row: -1}
	var all []mmu.Event
	done := 0
	if v.Action >= 0 && f.walking {
		all, done = tl.Steps[v.Action].Events, len(v.Events)
	}
	from, to, try := attemptOf(all, done)
	t.grid = newGridModel(f.mode, t.host.levels, all[from:to], done-from, try)
	t.scan(all[from:done])
	for i := range all[:done] {
		if e := &all[i]; e.Kind == mmu.EvAlloc {
			if t.fresh == nil {
				t.fresh = map[mmu.HPA]bool{}
			}
			t.fresh[mmu.HPA(e.Addr)] = true
		}
	}
	t.cur = hostTargetOf(v.Event)
	t.gpa, t.hasGPA = t.rowGPA(f)
	if t.hasGPA {
		t.path = t.host.pathOf(v.Machine, t.gpa)
	} else if t.host.hasRoot {
		t.path = []hostLevel{{level: t.host.levels, table: t.host.root, index: -1}}
		t.all = true
	}
	t.addPending()
	if t.cur.fault && t.cur.index < 0 && len(t.path) > 0 {
		// The violation is the last entry the walk read.
		last := t.path[len(t.path)-1]
		t.cur.table, t.cur.level, t.cur.index = last.table, last.level, last.index
	}
	return t
}

// scan follows the attempt so far: the row of the latest reference, the
// host levels its host walk has read, and the violation if there was one.
func (t *tdpFocus) scan(events []mmu.Event) {
	for i := range events {
		e := &events[i]
		switch {
		case isRef(e):
			if e.GuestLevel != t.row {
				t.row, t.seen, t.all = e.GuestLevel, [6]bool{}, false
			}
			if e.HostLevel > 0 && e.HostLevel < len(t.seen) {
				t.seen[e.HostLevel] = true
			}
			if e.HostLevel == 0 {
				t.all = true // the host walk of this row is complete
			}
		case isHostFault(e):
			t.exit, t.all = e, true
		case t.exit != nil && isHostEvent(e) && e.Kind != mmu.EvRead:
			t.mended = true
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
			return l.Table, true
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
	return t.row == level && level > 0 && !t.entryRead(level) && t.exit == nil
}

// hostTargetOf maps the current event to the host entry or table it is
// about.
func hostTargetOf(e *mmu.Event) hostTarget {
	switch {
	case e == nil:
		return hostTarget{}
	case e.Kind == mmu.EvAlloc || e.Kind == mmu.EvFree:
		return hostTarget{ok: true, table: mmu.HPA(e.Addr), level: e.Level, index: -1, write: true,
			alloc: e.Kind == mmu.EvAlloc}
	case e.Space == mmu.SpaceHPA && e.Level > 0:
		return hostTarget{ok: true, table: mmu.HPA(e.Table), level: e.Level, index: e.Index,
			write: e.Kind == mmu.EvWrite || e.Kind == mmu.EvZap, fault: isHostFault(e)}
	case isHostFault(e):
		return hostTarget{ok: true, index: -1, fault: true}
	}
	return hostTarget{}
}

// addPending shows a table the step is about that is not on the path: one
// KVM has just allocated and not linked yet, or one it frees.
func (t *tdpFocus) addPending() {
	if !t.cur.ok || t.cur.table == 0 {
		return
	}
	for _, hl := range t.path {
		if hl.table == t.cur.table {
			return
		}
	}
	hl := hostLevel{level: max(t.cur.level, 1), table: t.cur.table, index: -1, pending: true}
	if t.hasGPA {
		hl.index = hostIndex(t.gpa, hl.level)
	}
	t.path = append(t.path, hl)
}
