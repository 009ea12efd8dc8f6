package mmu

import (
	"fmt"
	"reflect"
	"strings"
)

// Source ties an action to the scenario line that asked for it.
type Source struct {
	Line int    // 1-based line in the scenario file, 0 if none
	Text string // the line as written
}

// Action is one scripted thing for the machine to do.
type Action interface {
	// Src returns where the action was written.
	Src() Source
}

// AccessKind is the kind of memory access a guest makes.
type AccessKind int

// The kinds of access.
const (
	AccessRead AccessKind = iota
	AccessWrite
	AccessFetch
)

func (k AccessKind) String() string {
	switch k {
	case AccessRead:
		return "read"
	case AccessWrite:
		return "write"
	case AccessFetch:
		return "fetch"
	}
	return "access"
}

// Access is a guest memory access at a virtual address: a read, write or
// instruction fetch, from user or supervisor mode. Implicit marks a
// supervisor access the CPU makes on its own (descriptor tables, TSS), which
// EFLAGS.AC cannot exempt from SMAP.
type Access struct {
	Source
	VCPU     int
	GVA      GVA
	Kind     AccessKind
	User     bool
	Implicit bool
	// HasValue makes a write store Value, Size bytes (1, 2, 4 or 8, within
	// one page), at the GVA once it translates; without it a write only
	// translates. Under shadow paging a store to a guest page table that
	// KVM write-protects is emulated by KVM.
	HasValue bool
	Value    uint64
	Size     int
}

// RegOp says how SetReg combines its value with the register.
type RegOp int

// The ways a register write combines with the old value.
const (
	RegAssign    RegOp = iota // register = Value
	RegSetBits                // register |= Value
	RegClearBits              // register &^= Value
)

// SetReg is a guest write to a control register or EFER (MOV to CR, WRMSR),
// handled by kvm_set_cr0/3/4 or set_efer; PKRU and RFLAGS are set directly.
// Op lets a script set or clear bits relative to the value at that moment.
type SetReg struct {
	Source
	VCPU  int
	Reg   Reg
	Op    RegOp
	Value uint64
}

// WriteEntry is a guest store to its own page-table entry at Level on the
// path of GVA (the entry is found when the action runs, like a guest kernel
// editing its tables through a linear map).
type WriteEntry struct {
	Source
	VCPU  int
	GVA   GVA
	Level int
	Value uint64
}

// GuestWrite is a guest store of Size bytes to guest physical memory, for
// example to one of its own page-table entries.
type GuestWrite struct {
	Source
	VCPU  int
	GPA   GPA
	Size  int
	Value uint64
}

// PrintEntry reads, without side effects, the guest entry at Level (1 for
// the PTE up to the root level) on the path of GVA, for a scenario's
// "print".
type PrintEntry struct {
	Source
	VCPU  int
	GVA   GVA
	Level int
}

// PrintReg reads a register for a scenario's "print".
type PrintReg struct {
	Source
	VCPU int
	Reg  Reg
}

// PrintMem reads Size bytes of guest physical memory.
type PrintMem struct {
	Source
	GPA  GPA
	Size int
}

// Src implements Action.
func (s Source) Src() Source { return s }

// Fault is an exception the guest receives.
type Fault struct {
	Vector    string // "#PF", "#GP"
	ErrorCode uint64
	Addr      GVA    // CR2 for #PF
	Level     int    // level where the walk stopped, 0 if none
	Reason    string // why, in one sentence
	// Exit is set when the fault is not the guest's but a VM exit of a
	// two-dimensional walk (EPT violation or misconfiguration, #NPF).
	Exit *TDPExit
}

// Result is the outcome of an action.
type Result struct {
	OK      bool
	GPA     GPA
	HasGPA  bool
	HPA     HPA
	HasHPA  bool
	Fault   *Fault
	Refs    int  // memory references the translation made
	HasRefs bool // the action translated an address
	// RefsTotal counts the references of every attempt when a guest
	// access on TDP exited to KVM and was retried (Refs counts the last,
	// successful attempt); HasRefsTotal is set only then.
	RefsTotal    int
	HasRefsTotal bool
	Value        uint64
	HasValue     bool
	Note         string
}

// Step is an action with its trace and result.
type Step struct {
	Action Action
	Events []Event
	Result Result
}

// Do performs one action and returns its trace. An error means the request
// itself is malformed (no such vCPU, an address the mode cannot express); a
// fault the guest would see is a Result, not an error.
func (m *Machine) Do(a Action) (Step, error) {
	m.events = nil
	m.refs = 0
	if a == nil {
		return Step{}, fmt.Errorf("no action to perform")
	}
	if isNilAction(a) {
		return Step{}, fmt.Errorf("no action to perform (the %T is nil)", a)
	}
	var res Result
	var err error
	switch a := a.(type) {
	case *Access:
		res, err = m.doAccess(a)
	case *SetReg:
		res, err = m.doSetReg(a)
	case *GuestWrite:
		res, err = m.doGuestWrite(a)
	case *WriteEntry:
		res, err = m.doWriteEntry(a)
	case *PrintEntry:
		res, err = m.doPrintEntry(a)
	case *PrintReg:
		res, err = m.doPrintReg(a)
	case *PrintMem:
		res, err = m.doPrintMem(a)
	case *RemoveMemslot:
		res, err = m.doRemoveMemslot(a)
	case *ZapGFNRange:
		res, err = m.doZapGFNRange(a)
	case *PreFault:
		res, err = m.doPreFault(a)
	case *PrintSPTE:
		res, err = m.doPrintSPTE(a)
	case *Invlpg:
		res, err = m.doInvlpg(a)
	case *CheckShadow:
		res, err = m.doCheckShadow(a)
	case actionRunner:
		res, err = a.do(m)
	default:
		err = fmt.Errorf("the engine does not know the action %T", a)
	}
	st := Step{Action: a, Events: m.events, Result: res}
	m.events = nil
	return st, err
}

// isNilAction reports a nil action, including a nil pointer of a known
// action type, which the engine refuses instead of dereferencing.
func isNilAction(a Action) bool {
	switch a := a.(type) {
	case nil:
		return true
	case *Access:
		return a == nil
	case *SetReg:
		return a == nil
	case *GuestWrite:
		return a == nil
	case *WriteEntry:
		return a == nil
	case *PrintEntry:
		return a == nil
	case *PrintReg:
		return a == nil
	case *PrintMem:
		return a == nil
	case *RemoveMemslot:
		return a == nil
	case *ZapGFNRange:
		return a == nil
	case *PreFault:
		return a == nil
	case *PrintSPTE:
		return a == nil
	case *Invlpg:
		return a == nil
	case *CheckShadow:
		return a == nil
	}
	v := reflect.ValueOf(a)
	return v.Kind() == reflect.Pointer && v.IsNil()
}

// actionRunner is an action that performs itself; actions added by later
// parts of the engine (CPUID, nested entry and exit, TDX) implement it
// instead of growing the switch in Do.
type actionRunner interface {
	Action
	do(m *Machine) (Result, error)
}

// actionSource is a.Src(), or no source for a nil action.
func actionSource(a Action) Source {
	if isNilAction(a) {
		return Source{}
	}
	return a.Src()
}

// checkReg refuses a register number outside the named registers.
func checkReg(r Reg) error {
	if r < 0 || int(r) >= len(regNames) {
		return fmt.Errorf("no register %d: the registers are %s", int(r), strings.Join(regNames[:], ", "))
	}
	return nil
}

func (m *Machine) doGuestWrite(a *GuestWrite) (Result, error) {
	v, err := m.VCPU(a.VCPU)
	if err != nil {
		return Result{}, err
	}
	if a.Size != 1 && a.Size != 2 && a.Size != 4 && a.Size != 8 {
		return Result{}, fmt.Errorf("a guest store is 1, 2, 4 or 8 bytes, not %d", a.Size)
	}
	if a.GPA&GPA(a.Size-1) != 0 {
		return Result{}, fmt.Errorf("a %d-byte store at GPA %s is not aligned", a.Size, a.GPA)
	}
	hpa, ok := m.GPAToHPA(a.GPA)
	if !ok {
		return Result{}, fmt.Errorf("GPA %s is not in any memslot", a.GPA)
	}
	if m.shadow != nil {
		return m.shadowGuestWrite(v, a.GPA, hpa, a.Size, a.Value)
	}
	if m.tdp != nil {
		return m.tdpGuestStore(v, a.GPA, a.Size, a.Value)
	}
	return m.storeAt(v, a.GPA, hpa, a.Size, a.Value)
}

func (m *Machine) doPrintReg(a *PrintReg) (Result, error) {
	v, err := m.VCPU(a.VCPU)
	if err != nil {
		return Result{}, err
	}
	if err := checkReg(a.Reg); err != nil {
		return Result{}, err
	}
	val := v.Regs.Get(a.Reg)
	text := fmt.Sprintf("%s = %s", a.Reg, hex(val))
	if _, named := RegBits[a.Reg]; named {
		text += " (" + DecodeReg(a.Reg, val) + ")"
	}
	if !m.Quiet {
		m.emit(Event{Kind: EvRead, MMU: "vcpu", Func: "kvm_read_cr", Space: SpaceReg, Reg: a.Reg,
			Old: val, New: val, VCPU: a.VCPU, Text: text + "."})
	}
	return Result{OK: true, HasValue: true, Value: val}, nil
}

func (m *Machine) doPrintMem(a *PrintMem) (Result, error) {
	if a.Size != 1 && a.Size != 2 && a.Size != 4 && a.Size != 8 {
		return Result{}, fmt.Errorf("print reads 1, 2, 4 or 8 bytes, not %d", a.Size)
	}
	val, err := m.ReadGuest(a.GPA, a.Size)
	if err != nil {
		return Result{}, err
	}
	hpa, _ := m.GPAToHPA(a.GPA)
	if !m.Quiet {
		m.emit(Event{Kind: EvRead, MMU: "guest", Func: "kvm_read_guest", Space: SpaceGPA, Addr: uint64(a.GPA),
			Old: val, New: val, HPA: hpa, HasHPA: true, Size: a.Size,
			Text: fmt.Sprintf("GPA %s (HPA %s) holds %s.", a.GPA, hpa, hex(val))})
	}
	return Result{OK: true, HasValue: true, Value: val, HasGPA: true, GPA: a.GPA, HasHPA: true, HPA: hpa}, nil
}

func (m *Machine) doWriteEntry(a *WriteEntry) (Result, error) {
	ref, err := m.LookupEntry(a.VCPU, a.GVA, a.Level)
	if err != nil {
		return Result{}, err
	}
	mode := PagingMode(m.VCPUs[a.VCPU].WalkMMU().CPURole.Base.Level())
	if mode == Paging32 && a.Value>>32 != 0 {
		return Result{}, fmt.Errorf("a 32-bit entry cannot hold %s", hex(a.Value))
	}
	return m.doGuestWrite(&GuestWrite{Source: a.Source, VCPU: a.VCPU, GPA: ref.GPA, Size: EntrySize(mode), Value: a.Value})
}
