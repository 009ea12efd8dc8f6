package mmu

import "fmt"

// guest_mmu as the shadow of L1's EPT (mmu.c: kvm_calc_shadow_ept_root_page_role,
// kvm_init_shadow_ept_mmu; paging_tmpl.h: ept_gva_to_gpa; x86.c:
// translate_nested_gpa). While L2 runs, guest_mmu's cpu_role describes
// EPT12 rather than any CR0/CR4/EFER: EPT does not read them.

// kvmCalcShadowEPTRootPageRole is kvm_calc_shadow_ept_root_page_role: the
// level from EPTP12's page-walk length, 8-byte entries, indirect,
// guest_mode, ad_disabled unless EPTP12 enables A/D, all access; the
// extended role holds only execonly (and valid). The root role is the
// same base role.
func kvmCalcShadowEPTRootPageRole(ad, execOnly bool, level int) CPURole {
	var r CPURole
	r.Base = r.Base.WithLevel(level).WithGuestMode(true).WithAccess(AccAll)
	r.Base = setFlag(r.Base, roleADDisabled, !ad)
	r.Ext.ExecOnly = execOnly
	r.Ext.Valid = true
	return r
}

// initShadowEPTContext is the block of kvm_init_shadow_ept_mmu that runs
// when the role changed: the roles, the three mode callbacks, the EPT
// permission table, no PKRU, and the EPT reserved-bit masks for L1's
// MAXPHYADDR and the large pages L0 offers. It reports whether anything
// changed (the early return when the role is the same).
func (m *Machine) initShadowEPTContext(v *VCPU, caps EPTCaps, eptp uint64) bool {
	mmu := &v.GuestMMU
	role := kvmCalcShadowEPTRootPageRole(eptp&EPTPAD != 0, caps.ExecOnly, eptpPageWalkLevel(eptp))
	if mmu.CPURole == role {
		if !m.Quiet {
			m.emit(Event{Kind: EvCheck, MMU: mmu.Name, Func: "kvm_init_shadow_ept_mmu", VCPU: v.ID,
				Text: fmt.Sprintf("kvm_init_shadow_ept_mmu: the EPT role is unchanged (%s), so guest_mmu keeps its "+
					"permission table, reserved-bit masks and callbacks.", role)})
		}
		return false
	}
	mmu.CPURole, mmu.RootRole = role, role.Base
	mmu.permissions = updatePermissionBitmaskEPT()
	mmu.pkruMask = 0
	mmu.guestRsvd = resetRsvdsBitsMaskEPT(m.Config.MaxPhyAddr, caps.LargePageLevel)
	mmu.rsvdMaxPhyAddr = m.Config.MaxPhyAddr
	mmu.staleMarked = false
	// In both callback designs these three are assigned here on a role
	// change (the seed-000 patch keeps the lines and adds the constants).
	set := m.setCallbacks(v, mmu, map[string]string{"page_fault": "ept_page_fault", "gva_to_gpa": "ept_gva_to_gpa",
		"sync_spte": "ept_sync_spte"}, nil)
	if !m.Quiet {
		ad := "A/D bits off (ad_disabled)"
		if !role.Base.ADDisabled() {
			ad = "A/D bits on"
		}
		m.emit(Event{Kind: EvRole, MMU: mmu.Name, Func: "kvm_init_shadow_ept_mmu", VCPU: v.ID,
			Text: fmt.Sprintf("kvm_init_shadow_ept_mmu: EPTP12 %s gives a %d-level EPT with %s, execonly=%t; "+
				"kvm_calc_shadow_ept_root_page_role makes cpu_role %s and root_role the same base role. "+
				"update_permission_bitmask(ept) keeps only the R/W/X rules, pkru_mask = 0, and "+
				"reset_rsvds_bits_mask_ept reserves bits %d-51 and bit 7 above the %s pages L0 offers; %s.",
				hex(eptp), role.Base.Level(), ad, caps.ExecOnly, role, m.Config.MaxPhyAddr,
				levelPageName(max(caps.LargePageLevel, 1)), joinComma(set))})
	}
	return true
}

// eptGVAToGPA is ept_gva_to_gpa: walk EPT12 for the L2 GPA addr and return
// the L1 GPA (page frame plus addr's offset), or the fault.
func (m *Machine) eptGVAToGPA(v *VCPU, eptp uint64, addr GPA, access uint64, gva GVA) (GPA, *GuestWalker) {
	w := m.eptWalkAddrGeneric(v, &v.GuestMMU, eptp, addr, access, gva)
	if w.Fault != nil {
		return 0, w
	}
	return GPA(uint64(w.GPA)&^pageMask | uint64(addr)&pageMask), w
}

// nestedGPATranslator is kvm_translate_gpa for nested_mmu: every GPA of an
// L2 walk (a table, or the final address) is an L2 GPA that
// translate_nested_gpa sends through guest_mmu's gva_to_gpa, i.e. a
// software walk of EPT12, as a user access; the L1 GPA it gives is read
// through the memslots.
type nestedGPATranslator struct {
	v    *VCPU
	eptp uint64
	gva  GVA
	// Walks are the EPT12 walks made, one per translated GPA.
	Walks []*GuestWalker
}

// TranslateGPA implements Translator. For a table the walker translates
// the table's page (gfn_to_gpa(table_gfn)), not the entry, so a fault
// names the page; the entry's offset is added back to the host address.
func (t *nestedGPATranslator) TranslateGPA(m *Machine, gpa GPA, access uint64, level int) (HPA, bool, *Fault) {
	access |= PFErrUser
	off := GPA(0)
	if level > 0 {
		gpa, off = gpa&^pageMask, gpa&pageMask
	}
	if !m.Quiet {
		what := "the final GPA"
		if level > 0 {
			what = "the page of L2's " + TableName(Paging4, level)
		}
		m.emit(Event{Kind: EvCheck, MMU: "nested_mmu", Func: "translate_nested_gpa", Space: SpaceGPA, Addr: uint64(gpa),
			Old: access, New: access, VCPU: t.v.ID, GVA: t.gva,
			Text: fmt.Sprintf("translate_nested_gpa: %s, %s, is an L2 GPA; guest_mmu's gva_to_gpa (ept_gva_to_gpa) "+
				"translates it through EPT12 as a %s (NPT walks are always user walks, which for EPT means a read).",
				what, gpa, eptAccessString(access))})
	}
	l1, w := m.eptGVAToGPA(t.v, t.eptp, gpa, access, t.gva)
	t.Walks = append(t.Walks, w)
	if w.Fault != nil {
		return 0, false, w.Fault
	}
	hpa, ok := m.GPAToHPA(l1 + off)
	return hpa, ok, nil
}
