package render

import (
	"fmt"

	"mmuviz/mmu"
)

// targetKind says what the current step points at.
type targetKind int

const (
	tgtNone     targetKind = iota
	tgtRegister            // a row of the register box (reg)
	tgtRole                // the paging-mode row of the register box
	tgtPDPTR               // a PDPTR register (index)
	tgtEntry               // an entry of a guest table (table, level, index)
	tgtMemory              // memory that is no shown table (the memory box)
	tgtResult              // the result of a walk
	tgtFault               // a fault without an entry (the fault box)
	tgtHost                // a host (EPT/NPT) entry or table, or a violation: tdpFocus.cur says which
	tgtShadow              // a box of the shadow view: sh says which
)

// target is the thing the current step is about and how it was touched.
type target struct {
	kind    targetKind
	reg     mmu.Reg
	table   mmu.GPA
	level   int
	index   int
	write   bool // the step writes it
	fault   bool // the walk faulted on it
	loadPDP bool // an entry of the PDPT in memory, read by load_pdptrs
	sh      shadowTarget
}

// focus is what the native walk panel shows at one step, gathered from the
// view and the timeline before any geometry is decided.
type focus struct {
	step, total int
	vcpu        int
	mode        mmu.PagingMode
	regs        mmu.Regs
	pdptrs      [4]uint64
	hasGVA      bool
	gva         mmu.GVA
	access      string // "write as user", empty when the GVA is only context
	path        mmu.GuestPath
	reached     int  // how many levels of path the picture reveals
	walking     bool // the step belongs to an access (a walk)
	showResult  bool
	refs        int        // memory references of the walk, when the result is shown
	fault       *mmu.Event // the fault event, once it has happened
	actionFault *mmu.Fault // the fault the access ends in, known in advance
	cur         target
	written     map[mmu.GPA]bool // entries written earlier in this action
	loadPDPT    bool             // the action loads the PDPTRs from memory
	pdptBase    mmu.GPA          // where they come from
	memWrite    *mmu.Event       // a store or read of memory that is no shown table
	event       *mmu.Event
	leafLevel   int  // level of the leaf reached, 0 when none
	l2          bool // an L2 access whose exit L1 has taken: its tables are drawn from L2's state
	machine     *mmu.Machine
	tdp         *tdpFocus    // the 2D view; nil for a guest without TDP
	shadow      *shadowFocus // the shadow view; nil for a guest without shadow paging
}

// actionGVA returns the GVA, vCPU and access description an action is
// about, if it is about one.
func actionGVA(a mmu.Action) (gva mmu.GVA, vcpu int, access string, ok bool) {
	switch a := a.(type) {
	case *mmu.Access:
		who := "supervisor"
		if a.User {
			who = "user"
		}
		kind := a.Kind.String()
		if a.Kind == mmu.AccessFetch {
			kind = "instruction fetch"
		}
		return a.GVA, a.VCPU, kind + " as " + who, true
	case *mmu.WriteEntry:
		return a.GVA, a.VCPU, fmt.Sprintf("the guest rewrites its %s", mmu.EntryName(mmu.Paging4, a.Level)), true
	case *mmu.PrintEntry:
		return a.GVA, a.VCPU, fmt.Sprintf("print of its %s", mmu.EntryName(mmu.Paging4, a.Level)), true
	case *mmu.Invlpg:
		return a.GVA, a.VCPU, "INVLPG: the guest flushes its TLB entry", true
	case *mmu.NestedGVAToGPA:
		kind := "read"
		if a.Write {
			kind = "write"
		}
		return a.GVA, a.VCPU, "KVM's emulator walks it for a " + kind, true
	}
	return 0, 0, "", false
}

// focusGVA finds the address the step is about: the action's own, else the
// last one an earlier action used, else (at the start) the first one the
// script will use; from is the action it comes from.
func focusGVA(v *mmu.View, tl *mmu.Timeline) (gva mmu.GVA, vcpu int, access string, from int, ok bool) {
	if v.Action >= 0 && v.Action < len(tl.Steps) {
		if gva, vcpu, access, ok = actionGVA(tl.Steps[v.Action].Action); ok {
			return gva, vcpu, access, v.Action, ok
		}
		for a := v.Action - 1; a >= 0; a-- {
			if gva, vcpu, _, ok = actionGVA(tl.Steps[a].Action); ok {
				return gva, vcpu, "", a, ok
			}
		}
	}
	for a := max(v.Action+1, 0); a < len(tl.Steps); a++ {
		if gva, vcpu, _, ok = actionGVA(tl.Steps[a].Action); ok {
			return gva, vcpu, "", a, ok
		}
	}
	return 0, 0, "", -1, false
}

// focusAt gathers the focus of view v of timeline tl.
func focusAt(v *mmu.View, tl *mmu.Timeline) *focus {
	f := &focus{step: v.Step, total: tl.Len(), event: v.Event, written: map[mmu.GPA]bool{}, machine: v.Machine}
	gva, vcpu, access, from, ok := focusGVA(v, tl)
	if v.Event != nil {
		vcpu = v.Event.VCPU
	}
	if vcpu < 0 || vcpu >= len(v.Machine.VCPUs) {
		vcpu = 0
	}
	f.vcpu = vcpu
	cpu := v.Machine.VCPUs[vcpu]
	f.regs, f.pdptrs = cpu.Regs, cpu.PDPTRs
	f.mode = v.Machine.GuestMode(vcpu)
	f.hasGVA, f.gva, f.access = ok, gva, access
	if f.l2 = ok && l2WalkAway(tl, from, cpu); f.l2 {
		// The GVA is L2's, and the vCPU does not walk L2's tables now.
		f.regs, f.mode = cpu.Nested.L2, v.Machine.L2Mode(vcpu)
	}
	if ok {
		f.path = f.pathOf(gva)
	}
	f.reached = len(f.path.Levels)
	f.showResult = f.path.HasGPA && f.mode != mmu.PagingOff
	if v.Action >= 0 {
		if _, isAccess := tl.Steps[v.Action].Action.(*mmu.Access); isAccess {
			f.walking = true
			f.walkProgress(v, tl.Steps[v.Action].Result)
		}
	}
	f.scanAction(v)
	f.tdp = tdpFocusAt(f, v, tl)
	if f.shadow = shadowFocusAt(f, v, tl); f.shadow != nil {
		// The guest's tables are all there to compare with KVM's pages;
		// the refs are the processor's, which walks only KVM's.
		f.reached, f.showResult, f.refs = len(f.path.Levels), f.path.HasGPA, 0
	}
	f.cur = f.targetOf(v.Event)
	if f.shadow != nil {
		f.shadow.buildItems(f)
	}
	for _, l := range f.path.Levels[:f.reached] {
		if l.Leaf {
			f.leafLevel = l.Level
		}
	}
	return f
}

// l2WalkAway reports whether the GVA in focus comes from a walk of L2's
// (action from began on nested_mmu: an L2 access, KVM's emulator walking
// L2's tables) while the vCPU does not walk L2's tables itself: it runs
// L1 (a VM-exit has brought it back), or it is half-way through a
// VM-entry (walk_mmu not yet a configured nested_mmu). The picture draws
// L2's tables, which that address is in, from L2's saved state.
func l2WalkAway(tl *mmu.Timeline, from int, cpu *mmu.VCPU) bool {
	if cpu.Nested.Kind == mmu.NestedNone || from < 0 || from >= len(tl.Steps) || walksL2(cpu) {
		return false
	}
	st := tl.Steps[from]
	return len(st.Events) > 0 && st.Events[0].Kind == mmu.EvBegin && st.Events[0].MMU == "nested_mmu"
}

// walksL2 reports whether the vCPU runs L2 with nested_mmu configured as
// its walk_mmu: its live registers and walk MMU are L2's.
func walksL2(cpu *mmu.VCPU) bool {
	return cpu.GuestMode && cpu.WalkMMUID == mmu.NestedMMUID && cpu.NestedMMU.CPURole.Base.Level() != 0
}

// pathOf is the path of gva through the tables the picture draws: L2's
// after it left (accessLeftL2), else those of the guest the vCPU runs.
func (f *focus) pathOf(gva mmu.GVA) mmu.GuestPath {
	if f.l2 {
		return f.machine.L2PathOf(f.vcpu, gva)
	}
	return f.machine.PathOf(f.vcpu, gva)
}

// nestedVCPU reports whether a vCPU of the machine has a nested set-up.
func (f *focus) nestedVCPU() bool {
	for _, v := range f.machine.VCPUs {
		if v.Nested.Kind != mmu.NestedNone {
			return true
		}
	}
	return false
}

// drawsL2 reports whether the guest tables drawn are L2's: the vCPU runs
// L2 (its guest-physical space is L2's), or L1 took the exit of an L2
// access.
func (f *focus) drawsL2() bool {
	return f.l2 || (f.vcpu < len(f.machine.VCPUs) && f.machine.VCPUs[f.vcpu].GuestMode)
}

// regsTitle names the register box: the vCPU's, or L2's as vmcs12 or
// vmcb12 keeps them while L1 runs (l2).
func (f *focus) regsTitle() string {
	if !f.l2 {
		return fmt.Sprintf("vCPU %d registers", f.vcpu)
	}
	where := "vmcb12"
	if f.machine.VCPUs[f.vcpu].Nested.Kind == mmu.NestedVMX {
		where = "vmcs12"
	}
	return fmt.Sprintf("L2's registers (%s)", where)
}

// nestedName names L1's nested tables: EPT12 or NPT12.
func (f *focus) nestedName() string {
	_, name := nestedFormat(f.machine.VCPUs[f.vcpu])
	return name
}

// gpaWord names the drawn guest's physical addresses: "L2 GPA" for a
// nested guest's, which only L1's nested tables translate, "L1 GPA" for
// the guest hypervisor's in a nested run, else "GPA".
func (f *focus) gpaWord() string {
	return f.levelWord() + "GPA"
}

// levelWord is "L2 " or "L1 " in a nested run, for the guest whose tables
// are drawn, "" otherwise.
func (f *focus) levelWord() string {
	switch {
	case f.drawsL2():
		return "L2 "
	case f.nestedVCPU():
		return "L1 "
	}
	return ""
}

// guestTable reads n entries of the drawn guest's table at gpa in mode.
func (f *focus) guestTable(mode mmu.PagingMode, gpa mmu.GPA, n int) []uint64 {
	if f.l2 {
		return f.machine.L2GuestTable(f.vcpu, mode, gpa, n)
	}
	return f.machine.GuestTableOf(f.vcpu, mode, gpa, n)
}

// walkProgress decides how much of the path an access has revealed so
// far: the levels it has read, and the result once it is there.
//
// In a 2D walk a guest table appears as soon as the host walk translating
// its GPA starts, and a retry after an EPT violation starts over.
func (f *focus) walkProgress(v *mmu.View, res mmu.Result) {
	lowest := -1 // lowest level revealed so far; -1 when none
	f.showResult = false
	events := v.Events[lastBegin(v.Events):]
	for i := range events {
		e := &events[i]
		switch {
		case isRef(e) && e.HostLevel > 0:
			if lowest < 0 || e.GuestLevel < lowest {
				lowest = e.GuestLevel
			}
		case e.Kind == mmu.EvRead && e.HasEntry && e.Space != mmu.SpaceHPA:
			if lowest < 0 || e.Level < lowest {
				lowest = e.Level
			}
		case e.Kind == mmu.EvFault && !isHostFault(e) && !isShadowHWFault(f.machine, e):
			f.fault = e
		case e.Kind == mmu.EvResult:
			f.showResult = true
			f.refs = res.Refs
		}
	}
	f.actionFault = res.Fault
	f.reached = 0
	for _, l := range f.path.Levels {
		if lowest >= 0 && l.Level >= lowest {
			f.reached++
		}
	}
}

// lastBegin is the index of the last begin event (an access starts, or
// starts over after KVM fixed its tables), 0 when there is none.
func lastBegin(events []mmu.Event) int {
	for i := len(events) - 1; i >= 0; i-- {
		if events[i].Kind == mmu.EvBegin {
			return i
		}
	}
	return 0
}

// scanAction notes what the action did before this step: entries written
// (shown with a marker) and PDPTR loads (which show the PDPT in memory).
func (f *focus) scanAction(v *mmu.View) {
	for i := range v.Events {
		e := &v.Events[i]
		if e.Kind == mmu.EvRead && e.Func == "load_pdptrs" {
			f.loadPDPT, f.pdptBase = true, mmu.GPA(e.Table)
		}
		if e.Kind == mmu.EvWrite && e.Space == mmu.SpaceGPA && e != v.Event {
			f.written[mmu.GPA(e.Addr)] = true
		}
	}
}

// targetOf maps the current event to the thing it is about.
func (f *focus) targetOf(e *mmu.Event) target {
	if e == nil {
		return target{kind: tgtRegister, reg: mmu.RegCR3}
	}
	if f.shadow != nil {
		if t, ok := f.shadow.targetOf(f, e); ok {
			return t
		}
	}
	if f.tdp != nil && f.tdp.cur.ok {
		c := f.tdp.cur
		return target{kind: tgtHost, level: c.level, index: c.index, write: c.write, fault: c.fault}
	}
	switch {
	case e.Kind == mmu.EvFault && e.HasEntry && f.mode == mmu.PagingPAE && e.Level == 3 && !f.pdptesFromMemory():
		return target{kind: tgtPDPTR, level: 3, index: e.Index, fault: true}
	case e.Kind == mmu.EvFault && e.HasEntry:
		return target{kind: tgtEntry, level: e.Level, index: e.Index, table: f.tableAt(e.Level), fault: true}
	case e.Kind == mmu.EvFault:
		return target{kind: tgtFault, fault: true}
	case e.Kind == mmu.EvResult:
		return target{kind: tgtResult}
	case e.Kind == mmu.EvRole:
		return target{kind: tgtRole, write: true}
	case e.Space == mmu.SpaceReg:
		return target{kind: tgtRegister, reg: e.Reg, write: e.Kind == mmu.EvSet}
	case e.Space == mmu.SpacePDPTR:
		return target{kind: tgtPDPTR, level: 3, index: e.Index}
	case e.Kind == mmu.EvRead && e.Func == "load_pdptrs":
		return target{kind: tgtEntry, level: 3, index: e.Index, table: mmu.GPA(e.Table), loadPDP: true}
	case e.HasEntry && e.Space == mmu.SpaceGPA:
		return target{kind: tgtEntry, level: e.Level, index: e.Index, table: mmu.GPA(e.Table), write: e.Kind == mmu.EvWrite}
	case e.Kind == mmu.EvCheck && f.leafOf() != nil:
		l := f.leafOf()
		return target{kind: tgtEntry, level: l.Level, index: l.Index, table: l.Table}
	case e.Space == mmu.SpaceGPA:
		if t, ok := f.shownEntryAt(mmu.GPA(e.Addr)); ok {
			t.write = e.Kind == mmu.EvWrite
			return t
		}
		f.memWrite = e
		return target{kind: tgtMemory, write: e.Kind == mmu.EvWrite}
	case e.Kind == mmu.EvBegin:
		return target{kind: tgtRegister, reg: mmu.RegCR3}
	}
	return target{kind: tgtRegister, reg: mmu.RegCR3}
}

// tableAt is the GPA of the path's table at level.
func (f *focus) tableAt(level int) mmu.GPA {
	for _, l := range f.path.Levels {
		if l.Level == level {
			return l.Table
		}
	}
	return 0
}

func (f *focus) leafOf() *mmu.PathLevel {
	for i := range f.path.Levels {
		if f.path.Levels[i].Leaf {
			return &f.path.Levels[i]
		}
	}
	return nil
}

// shownEntryAt finds the entry at gpa in one of the tables the picture
// shows (a guest store to its own page tables).
func (f *focus) shownEntryAt(gpa mmu.GPA) (target, bool) {
	size := mmu.GPA(mmu.EntrySize(f.mode))
	for _, l := range f.path.Levels[:f.reached] {
		if l.FromReg {
			continue
		}
		n := mmu.GPA(mmu.TableEntries(f.mode, l.Level))
		if gpa >= l.Table && gpa < l.Table+n*size && (gpa-l.Table)%size == 0 {
			return target{kind: tgtEntry, level: l.Level, index: int((gpa - l.Table) / size), table: l.Table}, true
		}
	}
	return target{}, false
}
