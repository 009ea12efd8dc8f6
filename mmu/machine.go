package mmu

import "fmt"

// Config is what the VM's virtual CPU model reports through CPUID, plus the
// size of host memory.
type Config struct {
	MaxPhyAddr int    // physical address width in bits (CPUID 0x80000008)
	HostMemory uint64 // bytes of host physical memory
	PSE36      bool   // 4 MiB pages can reach above 4 GiB
	GBPages    bool   // 1 GiB pages (PDPE1GB)
	NX         bool   // EFER.NX can be set
	SMEP, SMAP bool   // CR4.SMEP and CR4.SMAP can be set
	PKU        bool   // CR4.PKE can be set
	LA57       bool   // 5-level paging
}

// DefaultConfig is a recent Intel CPU with 46 physical address bits and 1
// GiB of host memory.
func DefaultConfig() Config {
	return Config{MaxPhyAddr: 46, HostMemory: 1 << 30, PSE36: true, GBPages: true,
		NX: true, SMEP: true, SMAP: true, PKU: true, LA57: true}
}

// MMU is one struct kvm_mmu context of a vCPU (root_mmu, guest_mmu or
// nested_mmu): its callbacks, its CPU role and the tables derived from it
// (permissions, pkru_mask, guest reserved bits), its root role and roots.
type MMU struct {
	Name string
	// Callbacks are the context's function pointers, by kernel name
	// ("" for NULL).
	Callbacks   MMUCallbacks
	CPURole     CPURole
	permissions [16]uint8
	pkruMask    uint32
	guestRsvd   rsvdBitsCheck
	// rsvdMaxPhyAddr is the MAXPHYADDR guestRsvd was computed for: after
	// an unmarked CPUID update it lags the vCPU's.
	rsvdMaxPhyAddr int
	// staleMarked: kvm_mmu_after_set_cpuid marked the roles, and no init
	// has recomputed them yet.
	staleMarked bool

	// RootRole is the role of the roots KVM builds (root_role); Root is
	// root.hpa, valid when RootValid. With TDP they are the vCPU's EPT
	// or NPT root.
	RootRole  PageRole
	Root      HPA
	RootValid bool

	// Shadow paging (mmu.c): root.pgd, the guest CR3 the root shadows,
	// and the pages of the special roots, which are not shadow pages:
	// pae_root (four PDPTEs, allocated with the vCPU), pml4_root and
	// pml5_root (allocated on demand by mmu_alloc_special_roots). Zero
	// when absent.
	RootPGD  uint64
	PAERoot  HPA
	PML4Root HPA
	PML5Root HPA
	// PrevRoots is prev_roots, the cache of the last roots the vCPU left
	// on a CR3 switch (shadow paging only), most recently used first;
	// each entry keeps its page's root_count.
	PrevRoots [KVMMMUNumPrevRoots]RootInfo
}

// KVMMMUNumPrevRoots is KVM_MMU_NUM_PREV_ROOTS.
const KVMMMUNumPrevRoots = 3

// RootInfo is struct kvm_mmu_root_info: a cached root and the guest CR3
// (pgd) it shadows; HPA is meaningful only when Valid.
type RootInfo struct {
	PGD   uint64
	HPA   HPA
	Valid bool
}

// VCPU is one virtual CPU: its registers, its PDPTR registers and its MMU
// contexts (struct kvm_vcpu_arch).
type VCPU struct {
	ID      int
	Regs    Regs
	PDPTRs  [4]uint64 // loaded by load_pdptrs when a PAE guest writes CR3
	RootMMU MMU       // root_mmu: the MMU for the guest's own address space
	// GuestMMU is guest_mmu: L0's shadow of L1's EPT or NPT tables while
	// L2 runs (nested TDP); NestedMMU is nested_mmu: it only walks L2's own
	// page tables, translating each of their GPAs through guest_mmu.
	GuestMMU  MMU
	NestedMMU MMU
	// ArchMMUID and WalkMMUID say which context arch.mmu (faults, roots)
	// and arch.walk_mmu (walks of the running guest's tables) point at.
	ArchMMUID MMUID
	WalkMMUID MMUID
	// HasRun is set by the first entry into the guest (kvm_vcpu_has_run):
	// after it KVM refuses a CPUID that differs from the current one.
	HasRun bool
	// GuestMode is is_guest_mode: the vCPU runs L2 (nested virtualization).
	GuestMode bool
	// cr0WPStale: the guest changed CR0.WP without an exit (a guest-owned
	// bit with EPT), so root_mmu's cpu_role lags until
	// kvm_mmu_refresh_passthrough_bits.
	cr0WPStale bool
	// Nested is the vCPU's nested virtualization state (svm->nested,
	// vmx->nested): L1's and L2's registers, the root of L1's nested page
	// tables, the last exits. Kind is NestedNone without nesting.
	Nested NestedState
	// Roots counts this vCPU's root loads, frees and cache hits and misses
	// (shadow paging; the VM's totals are Machine.RootStats).
	Roots RootStats
	// CallbackWrites counts the callback assignments KVM made to the
	// three contexts so far: the cost seed 000 is about.
	CallbackWrites int
	// ReqFreeObsoleteRoots is a pending KVM_REQ_MMU_FREE_OBSOLETE_ROOTS,
	// handled the next time the vCPU enters the guest.
	ReqFreeObsoleteRoots bool
	// ReqMMUSync is a pending KVM_REQ_MMU_SYNC (shadow paging): sync the
	// unsync shadow pages under the root before the next entry.
	ReqMMUSync bool
	// ReqMMUReload is a pending KVM_REQ_MMU_RELOAD (the reload-all
	// variant, before seed 004): unload every root before the next entry.
	ReqMMUReload bool
}

// WalkMMU returns the MMU that walks the running guest's tables
// (arch.walk_mmu): root_mmu, or nested_mmu while L2 runs on nested TDP.
func (v *VCPU) WalkMMU() *MMU { return v.MMUByID(v.WalkMMUID) }

// ArchMMU returns the MMU that handles faults and owns the loaded root
// (arch.mmu): root_mmu, or guest_mmu while L2 runs on nested TDP.
func (v *VCPU) ArchMMU() *MMU { return v.MMUByID(v.ArchMMUID) }

// MMUByID returns one of the vCPU's three contexts.
func (v *VCPU) MMUByID(id MMUID) *MMU {
	switch id {
	case GuestMMUID:
		return &v.GuestMMU
	case NestedMMUID:
		return &v.NestedMMU
	}
	return &v.RootMMU
}

// Machine is a VM (struct kvm) with its memory, memslots and vCPUs.
type Machine struct {
	Config Config
	Mem    *PhysMem
	Slots  []Memslot
	VCPUs  []*VCPU
	// Quiet turns the trace off: actions return no events, which makes
	// bulk runs (fuzzing, benchmarks) fast. Timelines need it off.
	Quiet bool
	// Opts are the MMU design choices a scenario can switch between
	// (seeds 000 and 003).
	Opts MMUOptions

	events  []Event
	refs    int
	observe func(m *Machine, event int)

	tdp      *tdpState    // the TDP MMU, nil without EPT/NPT
	shadow   *shadowState // the shadow MMU, nil unless shadow paging is on
	slotsGen uint64       // the memslots generation (kvm_memslots.generation)
}

// NewMachine builds a VM with no memslots and nvcpus vCPUs, paging off.
func NewMachine(cfg Config, nvcpus int) (*Machine, error) {
	if cfg.MaxPhyAddr < 32 || cfg.MaxPhyAddr > 52 {
		return nil, fmt.Errorf("MAXPHYADDR must be between 32 and 52 bits, not %d", cfg.MaxPhyAddr)
	}
	if cfg.HostMemory < 1<<20 || cfg.HostMemory > 1<<cfg.MaxPhyAddr {
		return nil, fmt.Errorf("host memory of %s must be at least 1 MiB and fit in %d address bits",
			sizeString(cfg.HostMemory), cfg.MaxPhyAddr)
	}
	if nvcpus < 1 || nvcpus > 64 {
		return nil, fmt.Errorf("a VM has 1 to 64 vCPUs, not %d", nvcpus)
	}
	// Host tables are allocated from 1 MiB up, below is left to firmware.
	m := &Machine{Config: cfg, Mem: NewPhysMem(cfg.HostMemory, 0x100)}
	for i := 0; i < nvcpus; i++ {
		v := &VCPU{ID: i}
		m.kvmMMUCreate(v)
		m.VCPUs = append(m.VCPUs, v)
		m.initMMU(v)
	}
	return m, nil
}

// Clone returns an independent copy of the machine; memory pages are shared
// until written.
func (m *Machine) Clone() *Machine {
	c := &Machine{Config: m.Config, Mem: m.Mem.Clone(), Quiet: m.Quiet, Opts: m.Opts, slotsGen: m.slotsGen}
	c.Slots = append([]Memslot(nil), m.Slots...)
	c.tdp = m.tdp.clone()
	c.shadow = m.shadow.clone()
	for _, v := range m.VCPUs {
		cv := *v
		c.VCPUs = append(c.VCPUs, &cv)
	}
	return c
}

// VCPU returns vCPU id or an error naming the valid range.
func (m *Machine) VCPU(id int) (*VCPU, error) {
	if id < 0 || id >= len(m.VCPUs) {
		return nil, fmt.Errorf("no vCPU %d: this VM has vCPUs 0 to %d", id, len(m.VCPUs)-1)
	}
	return m.VCPUs[id], nil
}

// initMMU is kvm_init_mmu run quietly, for set-up: it reports whether
// the context it configures changed.
func (m *Machine) initMMU(v *VCPU) bool {
	defer m.quietly()()
	return m.kvmInitMMU(v)
}

// quietly turns the trace off until the function it returns is called,
// which restores the trace and the events recorded so far: set-up work
// that runs KVM code without showing it.
func (m *Machine) quietly() (restore func()) {
	saved, quiet := m.events, m.Quiet
	m.Quiet = true
	return func() { m.events, m.Quiet = saved, quiet }
}

// SetupRegs sets a vCPU's registers directly, with no checks and no trace,
// as a scenario's initial state; PDPTRs are loaded for a PAE guest. It
// returns an error if the PDPTEs are invalid.
func (m *Machine) SetupRegs(id int, r Regs) error {
	v, err := m.VCPU(id)
	if err != nil {
		return err
	}
	v.Regs = r
	m.initMMU(v)
	if r.Mode() == PagingPAE {
		restore := m.quietly()
		ok, why := m.loadPDPTRs(v, r.CR3)
		restore()
		if !ok {
			return fmt.Errorf("CR3 %s: %s", hex(r.CR3), why)
		}
	}
	if m.shadow != nil {
		return m.shadowSetupVCPU(v)
	}
	return nil
}
