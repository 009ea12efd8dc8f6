package mmu

import (
	"fmt"
	"strings"
)

// guest_mmu as the shadow of L1's EPT (mmu.c: kvm_calc_shadow_ept_root_page_role,
// kvm_init_shadow_ept_mmu). While L2 runs, guest_mmu's cpu_role describes
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
				levelPageName(max(caps.LargePageLevel, 1)), strings.Join(set, ", "))})
	}
	return true
}
