package mmu

import (
	"fmt"
	"strings"
)

// How a vCPU's three MMU contexts are set up and reconfigured (mmu.c:
// kvm_mmu_create, kvm_init_mmu, init_kvm_tdp_mmu, init_kvm_softmmu,
// init_kvm_nested_mmu, kvm_mmu_reset_context). Two design choices from
// the seed threads are options: where the constant callbacks are set
// (seed 000) and how a CPUID update marks the roles stale (seed 003).

// MMUID names one of a vCPU's three struct kvm_mmu contexts.
type MMUID int

// The three contexts of struct kvm_vcpu_arch.
const (
	RootMMUID   MMUID = iota // root_mmu
	GuestMMUID               // guest_mmu
	NestedMMUID              // nested_mmu
)

// String is the context's field name in struct kvm_vcpu_arch.
func (id MMUID) String() string {
	switch id {
	case GuestMMUID:
		return "guest_mmu"
	case NestedMMUID:
		return "nested_mmu"
	}
	return "root_mmu"
}

// MMUCallbacks are the function pointers of a struct kvm_mmu, by the name
// of the kernel function each points at ("" for NULL).
type MMUCallbacks struct {
	GetGuestPGD     string // get_guest_pgd: the root of the tables walked (CR3, EPTP, nCR3)
	GetPDPTR        string // get_pdptr: a PAE PDPTE
	InjectPageFault string // inject_page_fault: deliver a fault found by a walk
	PageFault       string // page_fault: fix a fault in KVM's own tables
	GVAToGPA        string // gva_to_gpa: a software walk of the guest's tables
	SyncSPTE        string // sync_spte: resync one SPTE of an unsync page
}

// fields lists the callbacks with their struct kvm_mmu field names.
func (c *MMUCallbacks) fields() []struct {
	name string
	val  *string
} {
	return []struct {
		name string
		val  *string
	}{{"get_guest_pgd", &c.GetGuestPGD}, {"get_pdptr", &c.GetPDPTR}, {"inject_page_fault", &c.InjectPageFault},
		{"page_fault", &c.PageFault}, {"gva_to_gpa", &c.GVAToGPA}, {"sync_spte", &c.SyncSPTE}}
}

// String lists the callbacks as field=function, NULL for an unset one.
func (c MMUCallbacks) String() string {
	var out []string
	for _, f := range c.fields() {
		v := *f.val
		if v == "" {
			v = "NULL"
		}
		out = append(out, f.name+"="+v)
	}
	return strings.Join(out, " ")
}

// CallbackStyle is where the callbacks that never change are set.
type CallbackStyle int

const (
	// CallbacksUpstream is Linux 6.16: every init function sets all the
	// callbacks of its context each time the role changes.
	CallbacksUpstream CallbackStyle = iota
	// CallbacksConstantsOnce is the patch of seed 000: the constant
	// callbacks are set once when the vCPU is created
	// (kvm_init_mmu_constants); reconfiguration sets only the
	// mode-dependent ones.
	CallbacksConstantsOnce
)

// RoleMarker is how kvm_mmu_after_set_cpuid makes the next kvm_init_mmu
// recompute roles that CPUID state feeds into (seed 003).
type RoleMarker int

const (
	// MarkerValid is Linux 6.16: cpu_role.ext.valid is cleared and
	// root_role.invalid set in all three contexts.
	MarkerValid RoleMarker = iota
	// MarkerLevel0 is the patch as posted in seed 003: the valid bit is
	// gone and a role level of 0 marks the role as not computed.
	MarkerLevel0
	// MarkerCPUIDStale is the reviewer's proposal in seed 003: the bit is
	// renamed cpuid_stale with the opposite sense, set by a CPUID update.
	MarkerCPUIDStale
	// MarkerNone marks nothing: a counterfactual that shows why a marker
	// is needed (the roles compare equal and the stale masks stay).
	MarkerNone
)

// MMUOptions are the design choices of a VM's MMU that scenarios compare.
type MMUOptions struct {
	Callbacks CallbackStyle
	Marker    RoleMarker
}

// kvmMMUCreate is kvm_mmu_create: it names the three contexts and points
// arch.mmu and walk_mmu at root_mmu. With the constants-once design it
// also sets the constant callbacks (kvm_init_mmu_constants).
func (m *Machine) kvmMMUCreate(v *VCPU) {
	v.RootMMU.Name, v.GuestMMU.Name, v.NestedMMU.Name = "root_mmu", "guest_mmu", "nested_mmu"
	v.ArchMMUID, v.WalkMMUID = RootMMUID, RootMMUID
	if m.Opts.Callbacks == CallbacksConstantsOnce {
		m.kvmInitMMUConstants(v)
	}
}

// kvmInitMMUConstants is the seed-000 kvm_init_mmu_constants: the
// callbacks of root_mmu and nested_mmu that no paging mode changes, and
// with TDP the vendor's constant guest_mmu callbacks.
func (m *Machine) kvmInitMMUConstants(v *VCPU) {
	v.RootMMU.Callbacks.GetGuestPGD = "get_guest_cr3"
	v.RootMMU.Callbacks.GetPDPTR = "kvm_pdptr_read"
	v.RootMMU.Callbacks.InjectPageFault = "kvm_inject_page_fault"
	v.CallbackWrites += 3
	if m.tdp == nil {
		return
	}
	v.RootMMU.Callbacks.PageFault = "kvm_tdp_page_fault"
	v.RootMMU.Callbacks.SyncSPTE = ""
	v.NestedMMU.Callbacks.GetGuestPGD = "get_guest_cr3"
	v.NestedMMU.Callbacks.GetPDPTR = "kvm_pdptr_read"
	v.NestedMMU.Callbacks.InjectPageFault = "kvm_inject_page_fault"
	v.CallbackWrites += 5
	g := &v.GuestMMU.Callbacks
	if m.tdp.cfg.Kind == TDPNPT {
		// nested_svm_init_mmu_constants
		g.GetGuestPGD, g.GetPDPTR, g.InjectPageFault = "nested_svm_get_tdp_cr3", "nested_svm_get_tdp_pdptr",
			"nested_svm_inject_npf_exit"
		v.CallbackWrites += 3
		return
	}
	// kvm_init_shadow_ept_mmu_constants, and the VMX hooks
	g.PageFault, g.GVAToGPA, g.SyncSPTE = "ept_page_fault", "ept_gva_to_gpa", "ept_sync_spte"
	g.GetGuestPGD, g.InjectPageFault = "nested_ept_get_eptp", "nested_ept_inject_page_fault"
	v.CallbackWrites += 5
}

// reinitMMUs re-creates every vCPU's contexts after the VM's paging
// changed from native to TDP or shadow (as if kvm_intel had been loaded
// with that choice): the roles are recomputed from scratch.
func (m *Machine) reinitMMUs() {
	for _, v := range m.VCPUs {
		v.CallbackWrites = 0
		v.RootMMU.Callbacks, v.GuestMMU.Callbacks, v.NestedMMU.Callbacks = MMUCallbacks{}, MMUCallbacks{}, MMUCallbacks{}
		m.kvmMMUCreate(v)
		v.WalkMMU().CPURole.Ext.Valid = false
		m.initMMU(v)
	}
}

// gvaToGPAName is the gva_to_gpa callback for a paging mode.
func gvaToGPAName(mode PagingMode) string {
	switch mode {
	case PagingOff:
		return "nonpaging_gva_to_gpa"
	case Paging32:
		return "paging32_gva_to_gpa"
	}
	return "paging64_gva_to_gpa"
}

// softmmuCallbacks are what nonpaging/paging32/paging64_init_context set.
func softmmuCallbacks(mode PagingMode) (pf, gva, sync string) {
	switch mode {
	case PagingOff:
		return "nonpaging_page_fault", "nonpaging_gva_to_gpa", ""
	case Paging32:
		return "paging32_page_fault", "paging32_gva_to_gpa", "paging32_sync_spte"
	}
	return "paging64_page_fault", "paging64_gva_to_gpa", "paging64_sync_spte"
}

// SetOptions chooses the VM's MMU design options before its script runs;
// every vCPU's contexts are created again under them.
func (m *Machine) SetOptions(o MMUOptions) error {
	if o.Callbacks != CallbacksUpstream && o.Callbacks != CallbacksConstantsOnce {
		return fmt.Errorf("no callback style %d", int(o.Callbacks))
	}
	if o.Marker < MarkerValid || o.Marker > MarkerNone {
		return fmt.Errorf("no role marker %d", int(o.Marker))
	}
	m.Opts = o
	m.reinitMMUs()
	return nil
}

// MasksMaxPhyAddr is the MAXPHYADDR the context's reserved-bit masks were
// last computed for; it lags the CPU model after an unmarked CPUID update.
func (mmu *MMU) MasksMaxPhyAddr() int { return mmu.rsvdMaxPhyAddr }

// Marked says kvm_mmu_after_set_cpuid marked the context's roles and no
// kvm_init_mmu has recomputed them yet.
func (mmu *MMU) Marked() bool { return mmu.staleMarked }

// RootCount is the reference count of the root page at hpa: root_count of
// a shadow page, the TDP MMU's reference count of a TDP root. ok is false
// when no kvm_mmu_page is there (a special root such as pae_root).
func (m *Machine) RootCount(hpa HPA) (n int, ok bool) {
	if m.shadow != nil {
		if sp := m.shadow.spAt(hpa); sp != nil {
			return sp.RootCount, true
		}
	}
	if m.tdp != nil {
		if sp := m.tdp.pages[hpa.PFN()]; sp != nil {
			return sp.RootCount, true
		}
	}
	return 0, false
}
