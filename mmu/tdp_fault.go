package mmu

import "fmt"

// The TDP page-fault path of mmu.c: from kvm_mmu_page_fault, which an EPT
// violation or nested page fault reaches, to kvm_tdp_mmu_map.

// kvmMMUPageFault is kvm_mmu_page_fault for a TDP MMU: a reserved-bit
// fault is first tried as MMIO (handle_mmio_page_fault); otherwise, or if
// that says so, the fault goes to kvm_mmu_do_page_fault.
func (m *Machine) kvmMMUPageFault(v *VCPU, gpa GPA, ec uint64) retPF {
	if !m.Quiet {
		m.emit(Event{Kind: EvCheck, MMU: "root_mmu", Func: "kvm_mmu_page_fault", Space: SpaceGPA, Addr: uint64(gpa),
			Old: ec, New: ec, VCPU: v.ID,
			Text: fmt.Sprintf("kvm_mmu_page_fault(GPA %s, error code %s = %s).", gpa, hex(ec), DecodeNPFErrorCode(ec))})
	}
	r := retPFInvalid
	if ec&PFErrRsvd != 0 {
		r = m.handleMMIOPageFault(v, gpa)
	}
	if r == retPFInvalid {
		r = m.kvmMMUDoPageFault(v, gpa, ec, false)
	}
	return r
}

// kvmMMUDoPageFault is kvm_mmu_do_page_fault: describe the fault (struct
// kvm_page_fault, with the memslot of its GFN) and call the TDP handler
// (kvm_tdp_page_fault, which with the TDP MMU is kvm_tdp_mmu_page_fault).
func (m *Machine) kvmMMUDoPageFault(v *VCPU, gpa GPA, ec uint64, prefetch bool) retPF {
	// A TD's shared bit is stripped from the GFN: memslots know nothing of
	// it; fault.addr keeps it for tdp_mmu_get_root_for_fault.
	f := &kvmPageFault{addr: gpa, errorCode: ec, exec: ec&PFErrFetch != 0, write: ec&PFErrWrite != 0,
		present: ec&PFErrPresent != 0, rsvd: ec&PFErrRsvd != 0, prefetch: prefetch,
		private: ec&PFErrPrivateAccess != 0, gfn: gpa.GFN() &^ m.kvmGFNDirectBits(), maxLevel: 3, reqLevel: 1,
		goalLevel: 1}
	f.slot = m.gfnToMemslot(f.gfn)
	if !m.Quiet {
		slot := "no memslot covers it"
		if f.slot != nil {
			slot = fmt.Sprintf("memslot %d covers it", f.slot.ID)
		}
		kind := "read"
		switch {
		case f.write:
			kind = "write"
		case f.exec:
			kind = "fetch"
		}
		kind, note := m.tdxFaultKind(f, kind)
		m.emit(Event{Kind: EvCheck, MMU: "root_mmu", Func: "kvm_mmu_do_page_fault", Space: SpaceGPA, Addr: uint64(gpa),
			VCPU: v.ID, Text: fmt.Sprintf("kvm_mmu_do_page_fault: a %s fault on GFN %s (%s; max_level 1 GiB), handled "+
				"by kvm_tdp_page_fault → kvm_tdp_mmu_page_fault.%s", kind, f.gfn, slot, note)})
	}
	return m.kvmTDPMMUPageFault(v, f)
}

// kvmTDPMMUPageFault is kvm_tdp_mmu_page_fault: the lockless fast path,
// then the PFN behind the GFN, then, under mmu_lock for read,
// kvm_tdp_mmu_map.
func (m *Machine) kvmTDPMMUPageFault(v *VCPU, f *kvmPageFault) retPF {
	if r := m.fastPageFault(v, f); r != retPFInvalid {
		return r
	}
	if r := m.kvmMMUFaultinPFN(v, f); r != retPFContinue {
		return r
	}
	if root := m.rootOf(v); root == nil || root.Role.Invalid() {
		return retPFRetry // is_page_fault_stale
	}
	return m.kvmTDPMMUMap(v, f)
}

// pageFaultCanBeFast is page_fault_can_be_fast: a not-present fault
// without A/D bits (maybe access tracking), or a write to a present page.
func (m *Machine) pageFaultCanBeFast(f *kvmPageFault) bool {
	if f.rsvd {
		return false
	}
	if m.IsTD() && f.private != m.kvmMemIsPrivate(f.gfn) {
		return false // has_private_mem: let the slow path exit to userspace
	}
	if !f.present {
		return !m.tdp.kvmADEnabled()
	}
	return f.write
}

// fastPageFault is fast_page_fault for the TDP MMU: fix, without mmu_lock,
// a leaf that only lacks what access tracking took away (or a write
// permission it may have), or see that the fault is already fixed.
func (m *Machine) fastPageFault(v *VCPU, f *kvmPageFault) retPF {
	if !m.pageFaultCanBeFast(f) {
		return retPFInvalid
	}
	root := m.rootOf(v)
	if root == nil {
		return retPFInvalid
	}
	var last *tdpIter
	for it := m.tdpIterStart(root, 1, f.gfn); it.ok(f.gfn + 1); it.next() {
		cp := *it
		last = &cp
	}
	if last == nil || !isShadowPresentPTE(last.oldSPTE) || !isLastSPTE(last.oldSPTE, last.level) {
		return retPFInvalid
	}
	s := &m.tdp.masks
	spte := last.oldSPTE
	if s.isAccessAllowed(spte, f.write, f.exec) {
		m.emitIterRead(v, last, "fast_page_fault", "it already allows the access: RET_PF_SPURIOUS, the guest retries")
		return retPFSpurious
	}
	n := spte
	if !m.tdp.kvmADEnabled() && s.isAccessTrackSPTE(spte) {
		n = restoreAccTrackSPTE(n)
	}
	if f.write && spte&s.mmuWritable != 0 {
		n |= PTWritable
	}
	if n == spte || !s.isAccessAllowed(n, f.write, f.exec) {
		return retPFInvalid
	}
	_, _ = m.Mem.Write(last.sptep, 8, n)
	if !m.Quiet {
		m.emit(Event{Kind: EvWrite, MMU: "root_mmu", Func: "fast_page_fault", Space: SpaceHPA, Addr: uint64(last.sptep),
			Level: last.level, Index: last.index(), HasEntry: true, Old: spte, New: n, VCPU: v.ID,
			Table: uint64(last.table()), HPA: last.sptep, HasHPA: true, Size: 8,
			Text: fmt.Sprintf("fast_page_fault: the %s for GPA %s was access-tracked or write-protected; without taking "+
				"mmu_lock KVM restores its rights (fast_pf_fix_direct_spte): %s → %s (%s).", m.tdp.entryWord(last.level),
				last.gfn.GPA(), hex(spte), hex(n), m.tdp.decode(n, last.level))})
	}
	return retPFFixed
}

// kvmMMUFaultinPFN is kvm_mmu_faultin_pfn: find the host frame behind the
// GFN (__kvm_mmu_faultin_pfn), or, with no memslot, prepare an MMIO
// mapping (kvm_handle_noslot_fault).
func (m *Machine) kvmMMUFaultinPFN(v *VCPU, f *kvmPageFault) retPF {
	if r, done := m.tdxFaultinPFN(v, f); done {
		return r
	}
	if f.slot == nil {
		return m.kvmHandleNoslotFault(v, f)
	}
	f.pfn = f.slot.PFN(f.gfn)
	if !m.Quiet {
		m.emit(Event{Kind: EvCheck, MMU: "root_mmu", Func: "kvm_mmu_faultin_pfn", Space: SpaceHPA, Addr: uint64(f.pfn.HPA()),
			VCPU: v.ID, Text: fmt.Sprintf("kvm_mmu_faultin_pfn: memslot %d maps GFN %s to host frame %s (HPA %s); "+
				"the host backs the memslot with %s pages.", f.slot.ID, f.gfn, f.pfn, f.pfn.HPA(), sizeString(PageSize<<(9*uint(f.slot.hostLevel()-1))))})
	}
	return retPFContinue
}

// kvmHandleNoslotFault is kvm_handle_noslot_fault: a GPA outside every
// memslot is MMIO. KVM maps it with an MMIO SPTE so that the next access
// goes straight to emulation, unless MMIO caching is off.
func (m *Machine) kvmHandleNoslotFault(v *VCPU, f *kvmPageFault) retPF {
	f.noslot = true
	caching := m.tdp.masks.mmioValue != 0
	if !m.Quiet {
		text := fmt.Sprintf("kvm_handle_noslot_fault: no memslot covers GFN %s, so the access is MMIO (vcpu_cache_mmio_info "+
			"remembers the GFN); ", f.gfn)
		if caching {
			text += "KVM will install an MMIO SPTE and emulate the instruction."
		} else {
			text += "MMIO caching is off (MAXPHYADDR leaves no reserved bit for an NPT MMIO SPTE), so KVM emulates at once."
		}
		m.emit(Event{Kind: EvCheck, MMU: "root_mmu", Func: "kvm_handle_noslot_fault", Space: SpaceGPA,
			Addr: uint64(f.addr), VCPU: v.ID, Text: text})
	}
	if !caching || f.gfn >= m.tdpMMUMaxGFNExclusive() {
		return retPFEmulate
	}
	return retPFContinue
}

// kvmMMUHugepageAdjust is kvm_mmu_hugepage_adjust: map with the largest
// page the memslot and the host allow (req_level), aligning the PFN.
func (m *Machine) kvmMMUHugepageAdjust(v *VCPU, f *kvmPageFault) {
	why := ""
	switch {
	case f.noslot:
		why = "an MMIO GFN is mapped with a 4 KiB SPTE"
	case f.private:
		why = "private memory, which TDX maps with 4 KiB pages only (tdx_gmem_private_max_mapping_level)"
	default:
		f.reqLevel, why = m.kvmMMUMaxMappingLevel(f.slot, f.gfn, f.maxLevel)
		f.reqLevel, why = m.tdxMixedCap(f, f.reqLevel, why)
		if f.reqLevel > 1 {
			f.goalLevel = f.reqLevel
			f.pfn &^= PFN(pagesPerHPage(f.goalLevel) - 1)
		}
	}
	if !m.Quiet {
		m.emit(Event{Kind: EvCheck, MMU: "root_mmu", Func: "kvm_mmu_hugepage_adjust", Space: SpaceGPA,
			Addr: uint64(f.gfn.GPA()), Level: f.goalLevel, VCPU: v.ID,
			Text: fmt.Sprintf("kvm_mmu_hugepage_adjust: goal level %d, a %s mapping: %s.", f.goalLevel,
				levelPageName(f.goalLevel), why)})
	}
}

// kvmMMUMaxMappingLevel is __kvm_mmu_max_mapping_level: the largest level
// whose huge page around gfn lies wholly in the slot with the GFN and the
// host address aligned alike (lpage_info's disallow_lpage), capped by the
// host's own mapping (host_pfn_mapping_level). It says why.
func (m *Machine) kvmMMUMaxMappingLevel(slot *Memslot, gfn GFN, maxLevel int) (int, string) {
	level := min(maxLevel, 3)
	var why string
	for ; level > 1; level-- {
		if why = lpageDisallowed(slot, gfn, level); why == "" {
			break
		}
	}
	if level == 1 {
		return 1, why
	}
	host := slot.hostLevel()
	if host < level {
		return host, fmt.Sprintf("the memslot allows %s, but the host maps it with %s pages (host_pfn_mapping_level)",
			levelPageName(level), levelPageName(host))
	}
	return level, fmt.Sprintf("the %s page lies in memslot %d, aligned alike in GPA and host address, and the host maps it "+
		"with %s pages", levelPageName(level), slot.ID, levelPageName(host))
}

// lpageDisallowed says why lpage_info disallows a huge page at level
// around gfn (its disallow_lpage), or "": the huge page must lie wholly in
// the slot, and the slot's GPA and host address must be aligned alike.
func lpageDisallowed(slot *Memslot, gfn GFN, level int) string {
	mask := GFN(pagesPerHPage(level) - 1)
	base := gfn &^ mask
	switch {
	case (slot.BaseGFN^GFN(slot.BasePFN))&mask != 0:
		return fmt.Sprintf("the memslot's GPA and host address are not aligned alike to %s", levelPageName(level))
	case base < slot.BaseGFN || uint64(base-slot.BaseGFN)+pagesPerHPage(level) > slot.NPages:
		return fmt.Sprintf("the %s page around it is not wholly inside memslot %d", levelPageName(level), slot.ID)
	}
	return ""
}

// handleMMIOPageFault is handle_mmio_page_fault: a reserved-bit fault on
// an MMIO SPTE of the current memslot generation is emulated; a stale one
// goes through the normal fault path; reserved bits in an SPTE KVM made
// itself are a KVM bug (-EINVAL).
func (m *Machine) handleMMIOPageFault(v *VCPU, gpa GPA) retPF {
	root := m.rootOf(v)
	if root == nil {
		return retPFRetry
	}
	var leaf uint64
	gfn := gpa.GFN() &^ m.kvmGFNDirectBits()
	for it := m.tdpIterStart(root, 1, gfn); it.ok(gfn + 1); it.next() {
		leaf = it.oldSPTE
		if !isShadowPresentPTE(leaf) {
			break
		}
		if why := m.tdpRsvd(leaf, it.level, false); why != "" {
			m.emitMMIO(v, gpa, fmt.Sprintf("get_mmio_spte: the %s at HPA %s is shadow-present but %s: a KVM bug (WARN); "+
				"kvm_mmu_page_fault returns -EINVAL and KVM_RUN fails", m.tdp.entryWord(it.level), it.sptep, why))
			return retPFError
		}
	}
	s := &m.tdp.masks
	if !s.isMMIOSPTE(leaf) {
		m.emitMMIO(v, gpa, fmt.Sprintf("the SPTE for GPA %s (%s) is not an MMIO SPTE: RET_PF_RETRY, the guest is resumed "+
			"and will fault the same way again", gpa, hex(leaf)))
		return retPFRetry
	}
	gen := mmioSPTEGeneration(leaf)
	if gen != m.slotsGen&mmioGenMask {
		m.emitMMIO(v, gpa, fmt.Sprintf("an MMIO SPTE, but of memslot generation %d, not %d: the memslots changed, so the "+
			"fault takes the normal path (RET_PF_INVALID)", gen, m.slotsGen&mmioGenMask))
		return retPFInvalid
	}
	m.emitMMIO(v, gpa, fmt.Sprintf("an MMIO SPTE for GFN %s of the current memslot generation (%d): RET_PF_EMULATE",
		mmioSPTEGFN(leaf, m.Config.MaxPhyAddr), gen))
	return retPFEmulate
}

func (m *Machine) emitMMIO(v *VCPU, gpa GPA, text string) {
	if !m.Quiet {
		m.emit(Event{Kind: EvCheck, MMU: "root_mmu", Func: "handle_mmio_page_fault", Space: SpaceGPA,
			Addr: uint64(gpa), VCPU: v.ID, Text: "handle_mmio_page_fault: " + text + "."})
	}
}

// tdpRsvd says why a present TDP entry is misconfigured (EPT) or has
// reserved bits (NPT), or "". execOnly is what the check allows for EPT
// (the hardware's capability; KVM's own check, shadow_zero_check, never
// allows it).
func (m *Machine) tdpRsvd(e uint64, level int, execOnly bool) string {
	if m.tdp.cfg.Kind == TDPEPT {
		return eptMisconfig(e, level, m.Config.MaxPhyAddr, execOnly)
	}
	if r := e & nptRsvdMask(m.Config.MaxPhyAddr, e, level); r != 0 {
		return fmt.Sprintf("reserved bits %s are set", hex(r))
	}
	return ""
}

// kvmTDPMapPage is kvm_tdp_map_page, the core of KVM_PRE_FAULT_MEMORY: a
// prefetch fault (a read, marked GUEST_FINAL) retried until it is fixed.
// It returns the level mapped, or an error (MMIO has no memory to map).
func (m *Machine) kvmTDPMapPage(v *VCPU, gpa GPA) (int, error) {
	ec, gpa := m.tdxPrefaultCode(gpa)
	for try := 0; try < 4; try++ {
		slot := m.gfnToMemslot(gpa.GFN() &^ m.kvmGFNDirectBits())
		r := m.kvmMMUDoPageFault(v, gpa, ec, true)
		switch r {
		case retPFFixed, retPFSpurious:
			level := 1
			if slot != nil && ec&PFErrPrivateAccess == 0 {
				level, _ = m.kvmMMUMaxMappingLevel(slot, gpa.GFN(), 3)
			}
			return level, nil
		case retPFEmulate:
			return 0, fmt.Errorf("GPA %s is not in any memslot: KVM_PRE_FAULT_MEMORY fails with ENOENT", gpa)
		case retPFMemoryFault, retPFTDXMMIO:
			return 0, fmt.Errorf("KVM cannot map GPA %s for the TD: KVM_PRE_FAULT_MEMORY fails with EFAULT (%s)", gpa, r)
		case retPFRetry:
			continue
		}
		return 0, fmt.Errorf("KVM could not map GPA %s (%s)", gpa, r)
	}
	return 0, fmt.Errorf("KVM could not map GPA %s: the fault kept asking for a retry", gpa)
}
