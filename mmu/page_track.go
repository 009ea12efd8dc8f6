package mmu

import "fmt"

// Write protection of the guest tables KVM shadows (page_track.c and
// mmu.c): account_shadowed makes a shadowed guest table read-only, and
// kvm_mmu_track_write handles the guest's writes to it once KVM has
// emulated them.

// accountShadowed is account_shadowed: count the page as indirect; an
// upper-level page write-tracks its guest frame (__kvm_write_track_add_gfn,
// which also forbids huge pages over it and write-protects every SPTE that
// maps it); a level-1 page forbids huge pages over its frame and
// write-protects the SPTEs that map it, but is not write-tracked: it may
// become unsync instead.
func (m *Machine) accountShadowed(v *VCPU, sp *KVMMMUPage) {
	s := m.shadow
	s.indirectShadowPages++
	gfn := sp.GFN
	if m.gfnToMemslot(gfn) == nil {
		return // no memslot: nothing to track (KVM never gets here with one)
	}
	m.kvmMMUGFNDisallowLpage(gfn, 1)
	tracked := sp.Role.Level() > 1
	if tracked {
		s.writeTrack[gfn]++
	}
	if !m.Quiet {
		text := fmt.Sprintf("account_shadowed: GFN %s is a level-%d guest table that KVM now shadows, so huge "+
			"pages may no longer map it (kvm_mmu_gfn_disallow_lpage) and every SPTE that maps it must be read-only. "+
			"It is a leaf table, so it is not write-tracked: it may later become unsync instead.", gfn, sp.Role.Level())
		if tracked {
			text = fmt.Sprintf("account_shadowed: GFN %s is an upper-level guest table that KVM now shadows: "+
				"__kvm_write_track_add_gfn adds it to gfn_write_track (count %d), forbids huge pages over it, and "+
				"write-protects every SPTE that maps it, so every guest write to it will trap.", gfn, s.writeTrack[gfn])
		}
		fn := "account_shadowed"
		if tracked {
			fn = "__kvm_write_track_add_gfn"
		}
		m.emit(Event{Kind: EvSet, MMU: spMMUName(sp), Func: fn, Space: SpaceGPA, Addr: uint64(gfn.GPA()),
			Level: sp.Role.Level(), VCPU: vcpuID(v), Text: text})
	}
	if m.kvmMMUSlotGFNWriteProtect(gfn, 1, fmt.Sprintf("GFN %s holds a guest page table that KVM shadows", gfn)) {
		m.kvmFlushRemoteTLBs("account_shadowed", "SPTEs mapping a shadowed guest table were made read-only")
	}
}

// unaccountShadowed is unaccount_shadowed, undoing accountShadowed when a
// page is zapped.
func (m *Machine) unaccountShadowed(sp *KVMMMUPage) {
	s := m.shadow
	s.indirectShadowPages--
	gfn := sp.GFN
	if m.gfnToMemslot(gfn) == nil {
		return
	}
	m.kvmMMUGFNDisallowLpage(gfn, -1)
	if sp.Role.Level() > 1 {
		if s.writeTrack[gfn]--; s.writeTrack[gfn] <= 0 {
			delete(s.writeTrack, gfn)
		}
	}
}

// kvmMMUGFNDisallowLpage is kvm_mmu_gfn_disallow_lpage (delta +1) and
// kvm_mmu_gfn_allow_lpage (-1): the lpage_info counts of the 2 MiB and
// 1 GiB pages around gfn.
func (m *Machine) kvmMMUGFNDisallowLpage(gfn GFN, delta int) {
	s := m.shadow
	for level := 2; level <= 3; level++ {
		k := lpageKey{level: level, index: gfn >> (9 * uint(level-1))}
		if s.lpage[k] += delta; s.lpage[k] <= 0 {
			delete(s.lpage, k)
		}
	}
}

// kvmGFNIsWriteTracked is kvm_gfn_is_write_tracked.
func (s *shadowState) kvmGFNIsWriteTracked(gfn GFN) bool { return s.writeTrack[gfn] > 0 }

// validSPsWithGPTEs lists the valid pages that shadow guest entries at gfn,
// in hash-bucket order (for_each_gfn_valid_sp_with_gptes).
func (s *shadowState) validSPsWithGPTEs(gfn GFN) []*KVMMMUPage {
	var out []*KVMMMUPage
	for _, sp := range s.hash[kvmPageTableHashfn(gfn)] {
		if sp.GFN == gfn && !s.isObsoleteSP(sp) && spHasGPTEs(sp.Role) {
			out = append(out, sp)
		}
	}
	return out
}

// gfnWriteProtected says whether every mapping of gfn is read-only
// because KVM shadows a guest table there: it is write-tracked, or a
// synced leaf page shadows it.
func (s *shadowState) gfnWriteProtected(gfn GFN) bool {
	if s.kvmGFNIsWriteTracked(gfn) {
		return true
	}
	for _, sp := range s.validSPsWithGPTEs(gfn) {
		if !sp.Unsync {
			return true
		}
	}
	return false
}

// detectWriteMisaligned is detect_write_misaligned: a write that crosses a
// guest entry, or is smaller than 4 bytes (except one byte at the start
// of an entry, as clear_bit does), is not a plain PTE update.
func detectWriteMisaligned(sp *KVMMMUPage, gpa GPA, bytes int) bool {
	offset := uint64(gpa) & pageMask
	pteSize := uint64(8)
	if sp.Role.Has4ByteGPTE() {
		pteSize = 4
	}
	if offset&(pteSize-1) == 0 && bytes == 1 {
		return false
	}
	misaligned := (offset ^ (offset + uint64(bytes) - 1)) &^ (pteSize - 1)
	return misaligned != 0 || bytes < 4
}

// detectWriteFlooding is detect_write_flooding: count an emulated write to
// an upper-level page; the third one since KVM last used the page says the
// guest no longer uses it as a page table. Leaf pages may go unsync, so
// they are never flooded.
func detectWriteFlooding(sp *KVMMMUPage) bool {
	if sp.Role.Level() == 1 {
		return false
	}
	sp.WriteFloodingCount++
	return sp.WriteFloodingCount >= 3
}

// getWrittenSPTEs is get_written_sptes: the SPTEs of sp that a write at
// gpa touches. A 32-bit guest's entry is half an SPTE's size, so the
// offset doubles; a 32-bit PDE maps 4 MiB, which two 2 MiB SPTEs shadow.
// A write to the other part of the guest table than sp's quadrant touches
// nothing of sp.
func getWrittenSPTEs(sp *KVMMMUPage, gpa GPA) (first HPA, n int, ok bool) {
	off := uint64(gpa) & pageMask
	n = 1
	if sp.Role.Has4ByteGPTE() {
		off <<= 1
		if sp.Role.Level() == 2 {
			off &^= 7
			off <<= 1
			n = 2
		}
		quadrant := int(off >> PageShift)
		off &= pageMask
		if quadrant != sp.Role.Quadrant() {
			return 0, 0, false
		}
	}
	return sp.SPT + HPA(off&^7), n, true
}

// mmuPTEWriteFetchGPTE is mmu_pte_write_fetch_gpte: a 4-byte write by a
// PAE or 64-bit guest is one half of an 8-byte entry, so KVM looks at the
// whole entry.
func mmuPTEWriteFetchGPTE(v *VCPU, gpa GPA, bytes int) (GPA, int) {
	if v.Regs.CR4&CR4PAE != 0 && bytes == 4 {
		return gpa &^ 7, 8
	}
	return gpa, bytes
}

// kvmMMUTrackWrite is kvm_mmu_track_write, called through
// kvm_page_track_write after KVM emulated a guest write of bytes at gpa:
// every valid page with guest entries at that frame either goes entirely
// (a misaligned or flooding write) or loses the SPTEs the write touched,
// which the next fault rebuilds from the new guest entry.
func (m *Machine) kvmMMUTrackWrite(v *VCPU, gpa GPA, bytes int) {
	s := m.shadow
	if s.indirectShadowPages == 0 {
		return
	}
	gpa, bytes = mmuPTEWriteFetchGPTE(v, gpa, bytes)
	gfn := gpa.GFN()
	var invalid []*KVMMMUPage
	flush := false
	sps := s.validSPsWithGPTEs(gfn)
	if !m.Quiet {
		m.emit(Event{Kind: EvCheck, MMU: "root_mmu", Func: "kvm_mmu_track_write", Space: SpaceGPA, Addr: uint64(gpa),
			VCPU: v.ID, Size: bytes, Text: fmt.Sprintf("kvm_mmu_track_write: the guest wrote %d bytes at GPA %s; %d "+
				"valid shadow page(s) shadow guest entries at GFN %s.", bytes, gpa, len(sps), gfn)})
	}
	for _, sp := range sps {
		if detectWriteMisaligned(sp, gpa, bytes) {
			m.emitShadowNote(v, sp, "detect_write_misaligned", fmt.Sprintf("a %d-byte write at offset %s does not "+
				"update whole guest entries, so the guest is probably no longer using the page as a page table: "+
				"%s is zapped", bytes, hex(uint64(gpa)&pageMask), spName(sp)))
			m.kvmMMUPrepareZapPage(sp, &invalid)
			continue
		}
		if detectWriteFlooding(sp) {
			m.emitShadowNote(v, sp, "detect_write_flooding", fmt.Sprintf("write_flooding_count reaches %d: the guest "+
				"keeps writing the table without using it, so %s is zapped", sp.WriteFloodingCount, spName(sp)))
			m.kvmMMUPrepareZapPage(sp, &invalid)
			continue
		}
		if sp.Role.Level() > 1 {
			m.emitShadowNote(v, sp, "detect_write_flooding", fmt.Sprintf("write_flooding_count of %s is now %d; the "+
				"third write before KVM uses the page again zaps it", spName(sp), sp.WriteFloodingCount))
		}
		first, n, ok := getWrittenSPTEs(sp, gpa)
		if !ok {
			continue
		}
		for i := 0; i < n; i++ {
			sptep := first + HPA(8*i)
			if isShadowPresentPTE(m.readSPTE(sptep)) {
				flush = true
			}
			m.mmuPageZapPTE(sp, sptep, nil, "kvm_mmu_track_write", "the guest rewrote the entry it shadows; the next "+
				"fault rebuilds it from the new value")
		}
	}
	m.kvmMMURemoteFlushOrZap(invalid, flush, "kvm_mmu_track_write")
}
