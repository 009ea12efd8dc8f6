package mmu

import "fmt"

// ept_sync_spte (paging_tmpl.h's FNAME(sync_spte) with PTTYPE_EPT): resync
// one SPTE of an unsync EPT02 leaf page from the EPT12 entry it shadows.

// eptSyncSPTE re-reads the EPT12 entry that SPTE i of sp shadows. An entry
// with R, W and X clear, without A when EPTP12 enables A/D bits, or
// misconfigured drops the SPTE (FNAME(prefetch_invalid_gpte)); so does one
// that maps another frame, or whose rights come to nothing when EPT has no
// separate present bit (execute-only support). Otherwise the SPTE is
// remade with the entry's rights (make_spte, synchronizing). It returns 1
// when a flush is needed, 0 when nothing changed, -1 on failure.
func (m *Machine) eptSyncSPTE(v *VCPU, sp *KVMMMUPage, i int) int {
	const fn = "ept_sync_spte"
	mmu := &v.GuestMMU
	sptep := sp.SPT + HPA(8*i)
	gpa := sp.GFN.GPA() + GPA(8*i)
	gpte, err := m.ReadGuest(gpa, 8)
	if err != nil {
		return -1
	}
	haveAD := !mmu.CPURole.Base.ADDisabled()
	rsvd := gpte&mmu.guestRsvd.mask[(gpte>>7)&1][0] != 0 || isBadMTXWR(badMTXWRFor(mmu.CPURole.Ext.ExecOnly), gpte)
	why := ""
	switch {
	case gpte&EPTRWX == 0:
		why = "not present (R, W and X clear)"
	case haveAD && gpte&EPTAccessed == 0:
		why = "not accessed, and EPTP12 enables A/D bits"
	case rsvd:
		why = "misconfigured"
	}
	if why != "" {
		m.dropSPTE(sptep, fn, fmt.Sprintf("L1's EPT12 PTE at L1 GPA %s is now %s: %s (prefetch_invalid_gpte)", gpa,
			hex(gpte), why))
		return 1
	}
	gfn := GFN((gpte & eptAddrMask) >> PageShift)
	access := sp.Role.Access() & eptGPTEAccess(gpte)
	if haveAD && gpte&EPTDirty == 0 {
		access &^= AccWrite // FNAME(protect_clean_gpte)
	}
	old := m.readSPTE(sptep)
	if m.shadow.masks.isMMIOSPTE(old) {
		return m.syncMMIOSPTE(v, sptep, gfn, access, fn)
	}
	noPresentBit := m.shadow.masks.present&EPTRead == 0
	if (access == 0 && noPresentBit) || gfn != m.shadow.kvmMMUPageGetGFN(sp, i) {
		m.dropSPTE(sptep, fn, fmt.Sprintf("L1's EPT12 PTE at L1 GPA %s (%s) now grants nothing or maps another frame "+
			"than GFN %s", gpa, hex(gpte), m.shadow.kvmMMUPageGetGFN(sp, i)))
		return 1
	}
	return m.remakeSyncedSPTE(v, sp, i, gfn, access, old, fn, func() string {
		return fmt.Sprintf("L1's EPT12 PTE at L1 GPA %s is %s, so the EPT02 SPTE is remade with its rights (make_spte)",
			gpa, hex(gpte))
	})
}
