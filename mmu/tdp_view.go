package mmu

// Read-only views of the TDP MMU for pictures (render/): the format, each
// vCPU's root, the pages KVM allocated, the SPTEs on the path of a GPA.
// Nothing here emits events or changes the machine.

// TDPFormat describes the host tables of a VM on TDP.
type TDPFormat struct {
	Kind     TDPKind
	Name     string // "EPT" or "NPT"
	Levels   int    // the root level KVM uses (kvm_mmu_get_tdp_level)
	AD       bool   // the hardware sets accessed/dirty bits in them
	ExecOnly bool   // EPT execute-only entries are allowed
}

// TDPFormat returns the VM's TDP format; ok is false without EPT/NPT.
func (m *Machine) TDPFormat() (TDPFormat, bool) {
	if m.tdp == nil {
		return TDPFormat{}, false
	}
	c := m.tdp.cfg
	return TDPFormat{Kind: c.Kind, Name: c.Kind.String(), Levels: m.tdp.level, AD: c.AD, ExecOnly: c.ExecOnly}, true
}

// TDPRoot returns the HPA of vCPU id's current EPT/NPT root (root.hpa);
// ok is false without TDP or while the vCPU has no valid root.
func (m *Machine) TDPRoot(id int) (HPA, bool) {
	v, err := m.VCPU(id)
	if err != nil || m.tdp == nil || !v.RootMMU.RootValid {
		return 0, false
	}
	return v.RootMMU.Root, true
}

// EPTP returns what the hardware is pointed at for vCPU id: the EPT
// pointer (construct_eptp) or NPT's nCR3.
func (m *Machine) EPTP(id int) (uint64, bool) {
	v, err := m.VCPU(id)
	if err != nil || m.tdp == nil || !v.RootMMU.RootValid {
		return 0, false
	}
	return m.eptp(v), true
}

// ReadSPTE reads the 8-byte entry at hpa from host memory.
func (m *Machine) ReadSPTE(hpa HPA) (uint64, error) { return m.Mem.Read(hpa&^7, 8) }

// DecodeSPTE spells an SPTE at level in the VM's TDP format.
func (m *Machine) DecodeSPTE(spte uint64, level int) string {
	if m.tdp == nil {
		return DecodeFlags(PTE(spte), level, true)
	}
	return m.tdp.decode(spte, level)
}

// SPTEPresent reports whether the hardware sees spte as present: any of
// R, W, X for EPT, P for NPT.
func (m *Machine) SPTEPresent(spte uint64) bool {
	if m.tdp == nil {
		return spte&PTPresent != 0
	}
	return m.tdp.present(spte)
}

// IsMMIOSPTE reports whether spte is one of KVM's MMIO SPTEs (of the
// TDP MMU or the shadow MMU).
func (m *Machine) IsMMIOSPTE(spte uint64) bool {
	switch {
	case m.tdp != nil:
		return m.tdp.masks.isMMIOSPTE(spte)
	case m.shadow != nil:
		return m.shadow.masks.isMMIOSPTE(spte)
	}
	return false
}

// SPTEPointsTo returns the HPA a present SPTE at level points to, and
// whether it maps a page (leaf) rather than the next table.
func SPTEPointsTo(spte uint64, level int) (HPA, bool) {
	leaf := level == 1 || (level <= 3 && spte&PTPageSize != 0)
	addr := spte & eptAddrMask
	if leaf {
		addr &^= uint64(PageSize)<<(9*uint(level-1)) - 1
	}
	return HPA(addr), leaf
}

// TDPIndex is the index gpa selects in an EPT/NPT table at level.
func TDPIndex(gpa GPA, level int) int { return spteIndex(gpa, level) }

// TDPPage is one page of the TDP MMU's tables (a struct kvm_mmu_page).
type TDPPage struct {
	HPA       HPA      // the page of SPTEs (sp->spt)
	Level     int      // role.level
	GFN       GFN      // the first guest frame it maps (sp->gfn)
	Role      PageRole // the whole role
	Root      bool     // it is a root (no parent SPTE)
	RootCount int      // tdp_mmu_root_count, for a root
	Parent    HPA      // the SPTE that points to it (sp->ptep), if not a root
	Invalid   bool     // role.invalid: a zapped root still referenced
	// Mirror is role.is_mirror: a page of a TD's mirror root, whose S-EPT
	// page is ExternalSPT (external_spt; none for the root). GFNBits are
	// the bits its GFNs are indexed with: a TD's shared bit in the direct
	// root.
	Mirror      bool
	ExternalSPT HPA
	GFNBits     GFN
}

// TDPPages lists the TDP MMU's pages: roots first (newest first, as in
// tdp_mmu_roots), then by level from the top, by GFN and by address.
func (m *Machine) TDPPages() []TDPPage {
	if m.tdp == nil {
		return nil
	}
	var out []TDPPage
	for _, sp := range m.tdp.sortedPages() {
		out = append(out, TDPPage{HPA: sp.SPT, Level: sp.Role.Level(), GFN: sp.GFN, Role: sp.Role,
			Root: !sp.HasPtep, RootCount: sp.RootCount, Parent: sp.Ptep, Invalid: sp.Role.Invalid(),
			Mirror: sp.Role.IsMirror(), ExternalSPT: sp.ExternalSPT, GFNBits: m.kvmGFNRootMask(sp)})
	}
	return out
}

// TDPPathLevel is one level of the EPT/NPT tables on the path of a GPA.
type TDPPathLevel struct {
	Level   int
	Table   HPA    // the table
	Index   int    // the entry the GPA selects
	Entry   HPA    // that entry's address
	Value   uint64 // its value
	Present bool   // as the hardware sees it
	Leaf    bool   // it maps a page
}

// TDPPath follows vCPU id's EPT/NPT tables for gpa as the hardware would,
// without checks or side effects: root first, ending at a leaf or an entry
// that is not present. hpa is the translation when it ends in a leaf. In
// a TD, a private GPA goes through the S-EPT, as the processor's does.
func (m *Machine) TDPPath(id int, gpa GPA) (levels []TDPPathLevel, hpa HPA, ok bool) {
	root, has := m.TDPRoot(id)
	if m.isPrivateGPA(gpa) {
		root, has = m.tdx().septRoot, true
	}
	if !has {
		return nil, 0, false
	}
	return m.TDPPathFrom(root, m.tdp.level, gpa)
}
