package mmu

import "fmt"

// Leaf SPTEs of the shadow MMU (spte.c's make_spte, mmu.c's mmu_set_spte):
// the x86 format the processor walks, with the rights KVM computed from
// the guest's entries.

// makeShadowSPTE is make_spte for a shadow page: present and KVM's own
// (bit 11), accessed unless prefetched, NX unless the access allows
// execution, U and PS as needed, host-writable, the frame, and W (with
// MMU-writable and D) when the access allows writes and the frame may be
// mapped writable: mmu_try_to_unsync_pages refuses for a shadowed guest
// table, and then the SPTE is write-protected (wrprot).
func (m *Machine) makeShadowSPTE(v *VCPU, sp *KVMMMUPage, gfn GFN, pfn PFN, access int, old uint64,
	prefetch, synchronizing bool) (uint64, bool) {
	s := &m.shadow.masks
	level := sp.Role.Level()
	spte := uint64(SPTEMMUPresent) | s.present
	// A page built for an EPT12 without A/D bits (EPT02 under an EPTP12
	// with bit 6 clear) has none either: SPTE_TDP_AD_DISABLED.
	adDisabled := sp.Role.ADDisabled()
	if adDisabled {
		spte |= SPTETDPADDisabled
	}
	if (!prefetch || synchronizing) && !adDisabled {
		spte |= s.accessed
	}
	if access&AccExec != 0 {
		spte |= s.x
	} else {
		spte |= s.nx
	}
	if access&AccUser != 0 {
		spte |= s.user
	}
	if level > 1 {
		spte |= PTPageSize
	}
	spte |= s.memtype // get_mt_mask: EPT's write-back with IPAT for RAM
	spte |= s.hostWritable | uint64(pfn)<<PageShift
	wrprot := false
	if access&AccWrite != 0 {
		spte |= PTWritable | s.mmuWritable
		oldWritableLeaf := isShadowPresentPTE(old) && isLastSPTE(old, level) && old&PTWritable != 0
		if !oldWritableLeaf && m.mmuTryToUnsyncPages(v, gfn, synchronizing, prefetch) != nil {
			wrprot = true
			spte &^= PTWritable | s.mmuWritable
		} else if !adDisabled {
			spte |= s.dirty
		}
	}
	return spte, wrprot
}

// mmuSetSPTE is mmu_set_spte: install the leaf for gfn in the SPTE at
// sptep. No memslot: an MMIO SPTE and RET_PF_EMULATE. A table link in the
// way is unlinked, another frame's leaf dropped. Then make_spte; an
// unchanged SPTE is RET_PF_SPURIOUS; a write fault that make_spte had to
// write-protect is RET_PF_WRITE_PROTECTED. A new leaf joins its rmap.
func (m *Machine) mmuSetSPTE(v *VCPU, f *shadowFault, sptep HPA, access int, gfn GFN) retPF {
	s := m.shadow
	sp := s.spAt(sptep)
	if sp == nil {
		return retPFError
	}
	level := sp.Role.Level()
	if f.noslot {
		spte := s.masks.makeMMIOSPTE(gfn, m.slotsGen, access)
		old := m.writeSPTE(sptep, spte)
		m.emitSPTEWrite(v, sptep, old, spte, "mark_mmio_spte", fmt.Sprintf("no memslot covers GPA %s, so the SPTE "+
			"becomes an MMIO SPTE (reserved bit 51 set, so that the next access faults with RSVD and goes straight "+
			"to emulation; memslot generation %d)", gfn.GPA(), m.slotsGen&mmioGenMask))
		return retPFEmulate
	}
	old := m.readSPTE(sptep)
	wasRmapped := false
	if isShadowPresentPTE(old) {
		switch {
		case level > 1 && !isLargePTE(old):
			if child := s.spAt(HPA(old & eptAddrMask)); child != nil {
				m.dropParentPTE(child, sptep, "mmu_set_spte", "a huge page replaces the table")
			}
			old = m.readSPTE(sptep)
		case spteToPFN(old) != f.pfn:
			m.dropSPTE(sptep, "mmu_set_spte", "the SPTE mapped another frame")
			old = m.readSPTE(sptep)
		default:
			wasRmapped = true
		}
	}
	spte, wrprot := m.makeShadowSPTE(v, sp, gfn, f.pfn, access, old, false, false)
	ret := retPFFixed
	if spte == old {
		ret = retPFSpurious
	} else {
		m.writeSPTE(sptep, spte)
		m.emitSPTEWrite(v, sptep, old, spte, "mmu_set_spte", m.leafWhy(sp, gfn, f.pfn, access, wrprot))
	}
	if wrprot && f.write {
		ret = retPFWriteProtected
	}
	if !wasRmapped {
		m.rmapAdd(sptep, gfn, access)
	} else {
		kvmMMUPageSetTranslation(sp, spteIndexOf(sptep), gfn, access)
	}
	return ret
}

// leafWhy narrates the leaf make_spte built.
func (m *Machine) leafWhy(sp *KVMMMUPage, gfn GFN, pfn PFN, access int, wrprot bool) string {
	size := levelPageName(sp.Role.Level())
	s := fmt.Sprintf("make_spte maps GFN %s (a %s page) to host frame %s with %s", gfn, size, pfn,
		m.shadow.masks.rights(access))
	if wrprot {
		s += fmt.Sprintf(", but read-only: GFN %s holds a guest page table that KVM shadows and cannot unsync "+
			"(mmu_try_to_unsync_pages refused)", gfn)
	}
	return s
}
