package mmu

// EventKind says what an event records.
type EventKind string

// The kinds of events an action emits.
const (
	EvBegin  EventKind = "begin"  // an action starts; names what is asked
	EvRead   EventKind = "read"   // an entry or register was read
	EvWrite  EventKind = "write"  // memory or an entry was written
	EvCheck  EventKind = "check"  // a permission or validity check passed
	EvFault  EventKind = "fault"  // a fault was raised
	EvResult EventKind = "result" // the action's outcome
	EvSet    EventKind = "set"    // a register or piece of MMU state changed
	EvRole   EventKind = "role"   // a role was computed
	EvExit   EventKind = "exit"   // the vCPU left the guest (VM exit) to KVM
	EvAlloc  EventKind = "alloc"  // a page of KVM's tables was allocated
	EvFree   EventKind = "free"   // a page of KVM's tables was freed
	EvZap    EventKind = "zap"    // KVM's mappings were removed
)

// Space names the address space an event's address belongs to.
type Space string

// The address spaces of the trace.
const (
	SpaceNone  Space = ""
	SpaceGVA   Space = "gva"
	SpaceGPA   Space = "gpa"
	SpaceHPA   Space = "hpa"
	SpacePDPTR Space = "pdptr" // the PDPTR registers of a PAE guest; Addr is the index
	SpaceReg   Space = "reg"   // a register; Reg names it
)

// Event is one step of the trace: what happened, who did it (the kernel
// function and the MMU context), where, and one narrated sentence.
type Event struct {
	Kind  EventKind
	MMU   string // "root_mmu", "guest_mmu", "nested_mmu", ...
	Func  string // the kernel function that performs the step
	Space Space
	Addr  uint64 // address in Space (for an entry: the entry's own address)
	Level int    // paging level of the entry, 0 when none
	Index int    // index of the entry in its table
	Old   uint64 // value before (for reads: the value read)
	New   uint64 // value after (for reads: the value read)
	Text  string // one narrated sentence

	// Fields for pictures and tests; not part of the JSON contract.
	VCPU     int
	HPA      HPA    // host address of the entry, when it is in memory
	HasHPA   bool   // HPA is meaningful
	Table    uint64 // address (in Space) of the table holding the entry
	Size     int    // bytes read or written
	Reg      Reg    // register of a SpaceReg event
	GVA      GVA    // the address being translated, for walk events
	HasEntry bool   // Level and Index are meaningful

	// Position in a two-dimensional walk, when TwoD is set: the guest level
	// whose table is being reached (1..5, 0 for the final GPA), the host
	// (EPT/NPT) level of the entry read (1..5, 0 for the read of the guest
	// entry itself), and the memory reference's number in walk order
	// (1-based). The browser draws the 2D grid from these.
	TwoD       bool
	GuestLevel int
	HostLevel  int
	Ref        int
}

// emit appends e to the current action's trace and lets an observer (the
// timeline) look at the machine right after it.
func (m *Machine) emit(e Event) {
	m.events = append(m.events, e)
	if m.observe != nil {
		m.observe(m, len(m.events)-1)
	}
}
