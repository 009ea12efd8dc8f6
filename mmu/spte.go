package mmu

// SPTEs: the entries of KVM's own tables, here the EPT or NPT tables the TDP
// MMU builds (spte.h, spte.c). Their format depends on the hardware, so
// KVM keeps the masks of the bits that mean "user", "accessed" and so on
// in variables that kvm_mmu_set_ept_masks (EPT) or
// kvm_mmu_reset_all_pte_masks (NPT) fill in; spteMasks holds them.

// Software bits of an SPTE that the hardware ignores.
const (
	// SPTEMMUPresent is SPTE_MMU_PRESENT_MASK (bit 11): KVM's own "this
	// SPTE maps memory" bit. MMIO SPTEs do not have it.
	SPTEMMUPresent = 1 << 11
	// SPTETDPADDisabled is SPTE_TDP_AD_DISABLED (bits 53:52 = 1): the
	// SPTE belongs to tables without A/D bits.
	SPTETDPADDisabled = uint64(1) << 52
	spteTDPADMask     = uint64(3) << 52
	// ShadowNonPresentValue is SHADOW_NONPRESENT_VALUE: a non-present SPTE
	// has bit 63 set (suppress #VE for EPT; NX, ignored, for NPT). New
	// tables are filled with it.
	ShadowNonPresentValue = uint64(1) << 63
	// FrozenSPTE is FROZEN_SPTE: a non-present value written while an
	// SPTE is being changed.
	FrozenSPTE = 0x5a0

	eptSPTEHostWritable     = uint64(1) << 57 // EPT_SPTE_HOST_WRITABLE
	eptSPTEMMUWritable      = uint64(1) << 58 // EPT_SPTE_MMU_WRITABLE
	defaultSPTEHostWritable = uint64(1) << 9  // DEFAULT_SPTE_HOST_WRITABLE
	defaultSPTEMMUWritable  = uint64(1) << 10 // DEFAULT_SPTE_MMU_WRITABLE

	// shadowAccTrackSavedShift is where an access-tracked SPTE keeps its R
	// and X bits (SHADOW_ACC_TRACK_SAVED_BITS_SHIFT).
	shadowAccTrackSavedShift = 54
	shadowAccTrackSavedMask  = uint64(EPTRead | EPTExec)

	// The MMIO generation lives in bits 10:3 and 62:52 of an MMIO SPTE.
	mmioGenLowShift  = 3
	mmioGenLowMask   = uint64(0xff) << 3
	mmioGenHighShift = 52 - 8
	mmioGenHighMask  = uint64(0x7ff) << 52
	mmioGenMask      = uint64(1)<<19 - 1
)

// spteMasks are the shadow_*_mask variables of spte.c for one format.
type spteMasks struct {
	ept          bool
	user         uint64 // shadow_user_mask: EPT R, NPT U
	accessed     uint64 // shadow_accessed_mask (0 without A/D)
	dirty        uint64 // shadow_dirty_mask
	nx, x        uint64 // shadow_nx_mask, shadow_x_mask
	present      uint64 // shadow_present_mask
	memtype      uint64 // what get_mt_mask gives RAM: WB with IPAT (EPT only)
	hostWritable uint64 // shadow_host_writable_mask
	mmuWritable  uint64 // shadow_mmu_writable_mask
	accTrack     uint64 // shadow_acc_track_mask
	mmioValue    uint64 // shadow_mmio_value (0: MMIO caching disabled)
	mmioMask     uint64 // shadow_mmio_mask
	mmioAccess   uint64 // shadow_mmio_access_mask
}

// kvmMMUSetEPTMasks is kvm_mmu_set_ept_masks: EPT read permission is KVM's
// "user" bit, and the MMIO SPTE is the misconfigured value W+X (110) so
// that an MMIO access causes an EPT misconfiguration.
func kvmMMUSetEPTMasks(ad, execOnly bool) spteMasks {
	m := spteMasks{ept: true, user: EPTRead, x: EPTExec,
		present:  EPTSuppressVE,
		memtype:  EPTMemWB<<EPTMTShift | EPTIPAT,
		accTrack: EPTRWX, hostWritable: eptSPTEHostWritable, mmuWritable: eptSPTEMMUWritable,
		mmioValue: EPTWrite | EPTExec, mmioMask: EPTRWX | EPTSuppressVE}
	if !execOnly {
		m.present |= EPTRead
	}
	if ad {
		m.accessed, m.dirty = EPTAccessed, EPTDirty
	}
	return m
}

// kvmMMUResetAllPTEMasks is kvm_mmu_reset_all_pte_masks, the x86 format NPT
// uses. The MMIO SPTE sets reserved bit 51, which exists only when
// MAXPHYADDR is below 52; otherwise MMIO caching is off.
func kvmMMUResetAllPTEMasks(maxPhyAddr int) spteMasks {
	m := spteMasks{user: PTUser, accessed: PTAccessed, dirty: PTDirty, nx: PTNX, present: PTPresent,
		hostWritable: defaultSPTEHostWritable, mmuWritable: defaultSPTEMMUWritable,
		mmioAccess: AccWrite | AccUser}
	if maxPhyAddr < 52 {
		m.mmioValue = uint64(1)<<51 | PTPresent
		m.mmioMask = m.mmioValue
	}
	return m
}

// isShadowPresentPTE is is_shadow_present_pte: KVM's own "maps memory" bit.
func isShadowPresentPTE(spte uint64) bool { return spte&SPTEMMUPresent != 0 }

// isLargePTE is is_large_pte.
func isLargePTE(spte uint64) bool { return spte&PTPageSize != 0 }

// isLastSPTE is is_last_spte: a level-1 SPTE or a huge page.
func isLastSPTE(spte uint64, level int) bool { return level == 1 || isLargePTE(spte) }

// spteToPFN is spte_to_pfn.
func spteToPFN(spte uint64) PFN { return PFN((spte & eptAddrMask) >> PageShift) }

// isMMIOSPTE is is_mmio_spte.
func (s *spteMasks) isMMIOSPTE(spte uint64) bool {
	return s.mmioValue != 0 && spte&s.mmioMask == s.mmioValue
}

// spteADEnabled is spte_ad_enabled.
func spteADEnabled(spte uint64) bool { return spte&spteTDPADMask != SPTETDPADDisabled }

// isAccessTrackSPTE is is_access_track_spte: A/D disabled and RWX cleared
// to catch the next access.
func (s *spteMasks) isAccessTrackSPTE(spte uint64) bool {
	return !spteADEnabled(spte) && spte&s.accTrack == 0
}

// isExecutablePTE is is_executable_pte.
func (s *spteMasks) isExecutablePTE(spte uint64) bool {
	return spte&(s.x|s.nx) == s.x
}

// makeSPTE is make_spte for the TDP MMU: a leaf mapping pfn with all rights
// (ACC_ALL), accessed unless prefetched, dirty when writable, with the
// write-back memory type for EPT. There are no guest tables to
// write-protect under TDP, so mmu_try_to_unsync_pages never refuses.
func (s *spteMasks) makeSPTE(level int, pfn PFN, prefetch, adDisabled bool) uint64 {
	spte := uint64(SPTEMMUPresent)
	if adDisabled {
		spte |= SPTETDPADDisabled
	}
	spte |= s.present
	if !prefetch && !adDisabled {
		spte |= s.accessed
	}
	spte |= s.x // ACC_EXEC (the NX huge page mitigation is off)
	spte |= s.user
	if level > 1 {
		spte |= PTPageSize
	}
	spte |= s.memtype
	spte |= s.hostWritable
	spte |= uint64(pfn) << PageShift
	spte |= PTWritable | s.mmuWritable
	if !adDisabled {
		spte |= s.dirty
	}
	if prefetch {
		spte = s.markSPTEForAccessTrack(spte)
	}
	return spte
}

// markSPTEForAccessTrack is mark_spte_for_access_track: with A/D bits it
// clears A; without, it saves R and X in high bits and clears RWX, so the
// next access faults and fast_page_fault restores them.
func (s *spteMasks) markSPTEForAccessTrack(spte uint64) uint64 {
	if spteADEnabled(spte) {
		return spte &^ s.accessed
	}
	if s.isAccessTrackSPTE(spte) {
		return spte
	}
	spte |= (spte & shadowAccTrackSavedMask) << shadowAccTrackSavedShift
	return spte &^ s.accTrack
}

// restoreAccTrackSPTE is restore_acc_track_spte.
func restoreAccTrackSPTE(spte uint64) uint64 {
	saved := (spte >> shadowAccTrackSavedShift) & shadowAccTrackSavedMask
	spte &^= shadowAccTrackSavedMask << shadowAccTrackSavedShift
	return spte | saved
}

// makeNonleafSPTE is make_nonleaf_spte: a pointer to the child table with
// every right, so that only the leaf decides.
func (s *spteMasks) makeNonleafSPTE(child HPA, adDisabled bool) uint64 {
	spte := uint64(SPTEMMUPresent) | uint64(child) | s.present | PTWritable | s.user | s.x
	if adDisabled {
		return spte | SPTETDPADDisabled
	}
	return spte | s.accessed
}

// makeMMIOSPTE is make_mmio_spte: the MMIO marker, the GPA and the memslot
// generation (bits 10:3 and 62:52), so that a later access goes straight
// to emulation unless the memslots changed since.
func (s *spteMasks) makeMMIOSPTE(gfn GFN, gen uint64, access int) uint64 {
	gen &= mmioGenMask
	spte := (gen<<mmioGenLowShift)&mmioGenLowMask | (gen<<mmioGenHighShift)&mmioGenHighMask
	spte |= s.mmioValue | uint64(access)&s.mmioAccess
	return spte | uint64(gfn.GPA())
}

// mmioSPTEGeneration is get_mmio_spte_generation.
func mmioSPTEGeneration(spte uint64) uint64 {
	return (spte&mmioGenLowMask)>>mmioGenLowShift | (spte&mmioGenHighMask)>>mmioGenHighShift
}

// mmioSPTEGFN is get_mmio_spte_gfn: the GPA bits below MAXPHYADDR (no L1TF
// mitigation is modelled, so nothing is relocated).
func mmioSPTEGFN(spte uint64, maxPhyAddr int) GFN {
	return GFN((spte & bits(PageShift, maxPhyAddr-1)) >> PageShift)
}

// isAccessAllowed is is_access_allowed: what fast_page_fault checks.
func (s *spteMasks) isAccessAllowed(spte uint64, write, exec bool) bool {
	switch {
	case exec:
		return s.isExecutablePTE(spte)
	case write:
		return spte&PTWritable != 0
	}
	return spte&s.user != 0
}
