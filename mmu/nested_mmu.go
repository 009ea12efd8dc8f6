package mmu

import "fmt"

// The three contexts seen from the shadow MMU. Under shadow paging the
// shadow MMU serves root_mmu; under EPT/NPT it serves guest_mmu, which
// shadows an L1 hypervisor's nested page tables (EPT12 or NPT12) while L2
// runs. The shadow code works on vcpu->arch.mmu, as mmu.c does, and asks
// the context for its root (get_guest_pgd) and PDPTEs (get_pdptr).

// shadowMMUs lists the contexts of v that hold shadow roots: root_mmu
// under shadow paging, guest_mmu under EPT/NPT (nested TDP).
func (m *Machine) shadowMMUs(v *VCPU) []*MMU {
	switch {
	case m.shadow == nil:
		return nil
	case m.tdp != nil:
		return []*MMU{&v.GuestMMU}
	}
	return []*MMU{&v.RootMMU}
}

// holdsRoots says whether a context has a current or a cached root.
func holdsRoots(mmu *MMU) bool {
	if mmu.RootValid {
		return true
	}
	for _, r := range mmu.PrevRoots {
		if r.Valid {
			return true
		}
	}
	return false
}

// kvmMMUGetGuestPGD is kvm_mmu_get_guest_pgd (mmu->get_guest_pgd): the
// root of the tables a context walks and shadows. root_mmu and nested_mmu
// use the running guest's CR3 (get_guest_cr3); guest_mmu the root of L1's
// nested tables (nested_svm_get_tdp_cr3: vmcb12's nested_cr3; for VMX
// nested_ept_get_eptp).
func (m *Machine) kvmMMUGetGuestPGD(v *VCPU, mmu *MMU) uint64 {
	if mmu == &v.GuestMMU {
		return v.Nested.NestedPGD
	}
	return v.Regs.CR3
}

// kvmPDPTRRead is mmu->get_pdptr: PDPTE i of a PAE-format table. The
// running guest's come from the PDPTR registers load_pdptrs filled
// (kvm_pdptr_read); guest_mmu's are read from L1 memory at the nested
// root each time (nested_svm_get_tdp_pdptr: NPT has no PDPTR registers),
// 0 if that read fails.
func (m *Machine) kvmPDPTRRead(v *VCPU, mmu *MMU, i int) uint64 {
	if mmu != &v.GuestMMU {
		return v.PDPTRs[i&3]
	}
	root := GPA(v.Nested.NestedPGD)
	gpa := root + GPA(8*(i&3))
	if gpa.GFN() != root.GFN() {
		return 0 // kvm_vcpu_read_guest_page stays within the page
	}
	val, err := m.ReadGuest(gpa, 8)
	if err != nil {
		return 0
	}
	return val
}

// pgdName names a context's root pointer for narration: CR3, or L1's
// nCR3 (SVM) or EPTP (VMX) for guest_mmu.
func pgdName(v *VCPU, mmu *MMU) string {
	if mmu != &v.GuestMMU {
		return "CR3"
	}
	if v.Nested.Kind == NestedVMX {
		return "EPTP"
	}
	return "nCR3"
}

// rootOwner names whose root kvm_mmu_free_roots drops.
func rootOwner(v *VCPU, mmu *MMU) string {
	if mmu == &v.RootMMU {
		return "its root"
	}
	return mmu.Name + "'s root"
}

// mmuWho names a context in a sentence.
func mmuWho(mmu *MMU) string { return mmu.Name }

// mmuWhoPrefix is "guest_mmu " for guest_mmu and "" for root_mmu, so that
// messages about root_mmu read as before nesting existed.
func mmuWhoPrefix(mmu *MMU) string {
	if mmu.Name == "root_mmu" || mmu.Name == "" {
		return ""
	}
	return mmu.Name + " "
}

// spMMUName is the context a shadow page belongs to, for the trace: pages
// built for L2 (role.guest_mode) are guest_mmu's under nested TDP.
func spMMUName(sp *KVMMMUPage) string {
	if sp != nil && sp.Role.GuestMode() {
		return "guest_mmu"
	}
	return "root_mmu"
}

// spteMMUName is spMMUName for the page holding an SPTE.
func (m *Machine) spteMMUName(sptep HPA) string {
	if m.shadow == nil {
		return "root_mmu"
	}
	return spMMUName(m.shadow.spAt(sptep))
}

// emitLoadNestedPGD narrates kvm_mmu_load_pgd for guest_mmu: the hardware
// walks the shadow of L1's nested tables as L2's nested page table.
func (m *Machine) emitLoadNestedPGD(v *VCPU, mmu *MMU) {
	if m.Quiet {
		return
	}
	fn, reg := "svm_load_mmu_pgd", "vmcb02's nCR3"
	what := "NPT02"
	if v.Nested.Kind == NestedVMX {
		fn, reg, what = "vmx_load_mmu_pgd", "vmcs02's EPT pointer", "EPT02"
	}
	m.emit(Event{Kind: EvSet, MMU: mmu.Name, Func: fn, Space: SpaceHPA, Addr: uint64(mmu.Root), VCPU: v.ID,
		Text: fmt.Sprintf("kvm_mmu_load_pgd → %s: while L2 runs, %s is guest_mmu's root at HPA %s, the %d-level "+
			"shadow of L1's %s %s (%s): the processor walks %s, never L1's own table. root_mmu keeps its root "+
			"(HPA %s) loaded for when L1 runs again.", fn, reg, mmu.Root, mmu.RootRole.Level(), pgdName(v, mmu),
			hex(mmu.RootPGD), what, what, v.RootMMU.Root)})
}

// addrWord names the address a walk translates: a GVA, or for guest_mmu's
// walk of L1's nested table an L2 GPA.
func (c *walkContext) addrWord() string {
	if c.mmu == &c.v.GuestMMU {
		return "L2 GPA"
	}
	return "GVA"
}

// pdptrFn is the get_pdptr callback a PAE-format walk reads a PDPTE with.
func (c *walkContext) pdptrFn() string {
	if c.mmu == &c.v.GuestMMU && c.mmu.Callbacks.GetPDPTR != "" {
		return c.mmu.Callbacks.GetPDPTR
	}
	return "get_pdptr"
}

// pdptrText narrates the PDPTE a PAE-format walk starts from.
func (c *walkContext) pdptrText(i int, table GPA, e PTE) string {
	flags := DecodeFlags(e&(PTPresent|PTPWT|PTPCD), 3, false)
	if c.mmu == &c.v.GuestMMU {
		return fmt.Sprintf("PAE-format NPT12: L2 GPA bits 31:30 = %d select PDPTE %d, which %s reads from L1 memory "+
			"at GPA %s each time (NPT has no PDPTR registers): %s (%s).", i, i, c.pdptrFn(), table+GPA(8*i),
			hex(uint64(e)), flags)
	}
	return fmt.Sprintf("PAE: GVA bits 31:30 = %d select PDPTR%d, which load_pdptrs loaded from GPA %s: %s (%s). "+
		"No memory reference.", i, i, table+GPA(8*i), hex(uint64(e)), flags)
}

// failText narrates the fault a walk ends with.
func (c *walkContext) failText(errcode uint64, why, after string) string {
	if c.mmu == &c.v.GuestMMU {
		return fmt.Sprintf("L1's nested table refuses the %s of L2 GPA %s: %s. Error code %s = %s.", c.what(),
			GPA(c.w.GVA), why, hex(errcode), DecodeErrorCode(errcode))
	}
	return fmt.Sprintf("Page fault on the %s of GVA %s: %s. Error code %s = %s; CR2 = %s. %s", c.what(), c.w.GVA,
		why, hex(errcode), DecodeErrorCode(errcode), c.w.GVA, after)
}
