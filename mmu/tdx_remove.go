package mmu

import "fmt"

// Taking private memory away from a TD: when KVM zaps a leaf of the
// mirror root (a conversion to shared, a memslot going away), the
// remove_external_spte hook removes the page from the S-EPT in three
// SEAMCALLs: TDH.MEM.RANGE.BLOCK stops new translations, TDH.MEM.TRACK
// advances the TD epoch so that every vCPU flushes what it cached, and
// TDH.MEM.PAGE.REMOVE takes the page out. S-EPT tables themselves are
// only given back when the TD is torn down (free_external_spt).

// removeExternalSPTE is remove_external_spte: only a leaf has a page to
// remove; tables go through free_external_spt.
func (m *Machine) removeExternalSPTE(gfn GFN, old uint64, level int) {
	if !isShadowPresentPTE(old) || !isLastSPTE(old, level) {
		return
	}
	if err := m.tdxSeptRemovePrivateSPTE(gfn, level, spteToPFN(old)); err != nil && !m.Quiet {
		m.emit(Event{Kind: EvFault, MMU: "root_mmu", Func: "remove_external_spte", Space: SpaceGPA,
			Addr: uint64(gfn.GPA()), Text: fmt.Sprintf("remove_external_spte: KVM_BUG_ON: the TDX module could not "+
				"remove GFN %s (%v); the VM is marked bugged.", gfn, err)})
	}
}

// tdxSeptRemovePrivateSPTE is tdx_sept_remove_private_spte, the
// remove_external_spte hook.
func (m *Machine) tdxSeptRemovePrivateSPTE(gfn GFN, level int, pfn PFN) error {
	x := m.tdx()
	if !x.hkid {
		return fmt.Errorf("the TD has no private key any more")
	}
	if !m.Quiet {
		m.emit(Event{Kind: EvCheck, MMU: "root_mmu", Func: "tdx_sept_remove_private_spte", Space: SpaceGPA,
			Addr: uint64(gfn.GPA()), Level: level,
			Text: fmt.Sprintf("tdx_sept_remove_private_spte: the remove_external_spte hook for GFN %s (private page "+
				"HPA %s): block, track, remove.", gfn, pfn.HPA())})
	}
	blocked, err := m.tdxSeptZapPrivateSPTE(gfn, level)
	if err != nil || !blocked {
		return err
	}
	m.tdxTrack()
	return m.tdxSeptDropPrivateSPTE(gfn, level, pfn)
}

// tdxSeptZapPrivateSPTE is tdx_sept_zap_private_spte: TDH.MEM.RANGE.BLOCK.
// A page premapped before the TD was finalized has no S-EPT leaf yet: the
// block fails with TDX_EPT_ENTRY_STATE_INCORRECT and KVM only uncounts it
// (tdx_is_sept_zap_err_due_to_premap). It reports whether it blocked.
func (m *Machine) tdxSeptZapPrivateSPTE(gfn GFN, level int) (bool, error) {
	x := m.tdx()
	ep, err := m.septLookup(gfn.GPA(), level)
	e := uint64(0)
	if err == nil {
		e, _ = m.Mem.Read(ep, 8)
	}
	if (err != nil || e == 0) && x.state != tdStateRunnable && x.premapped[gfn] {
		delete(x.premapped, gfn)
		x.nrPremapped--
		if !m.Quiet {
			m.emit(Event{Kind: EvSet, MMU: "root_mmu", Func: "tdx_sept_zap_private_spte", Space: SpaceGPA,
				Addr: uint64(gfn.GPA()), Old: uint64(x.nrPremapped + 1), New: uint64(x.nrPremapped),
				Text: fmt.Sprintf("tdx_sept_zap_private_spte: TDH.MEM.RANGE.BLOCK finds no S-EPT leaf for GFN %s: "+
					"the page was only premapped, so KVM just uncounts it (nr_premapped %d → %d).",
					gfn, x.nrPremapped+1, x.nrPremapped)})
		}
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if e&septStateMask&SEPTBlocked != 0 || e&eptAddrMask == 0 {
		return false, errSEPTEntryState
	}
	x.blockedAt[ep] = x.epoch
	m.septWrite(nil, ep, level, e&^EPTRWX|SEPTBlocked, EvWrite, "tdx_sept_zap_private_spte", fmt.Sprintf(
		"tdx_sept_zap_private_spte: TDH.MEM.RANGE.BLOCK(GPA %s, 4 KiB): the TDX module marks the S-EPT PTE at HPA %s "+
			"BLOCKED (R W X cleared), so no vCPU can make a new translation of the page; TLBs may still hold old "+
			"ones (TD epoch %d).", gfn.GPA(), ep, x.epoch))
	return true, nil
}

// tdxTrack is tdx_track: TDH.MEM.TRACK advances the TD epoch, and KVM
// kicks every vCPU out of the guest (KVM_REQ_OUTSIDE_GUEST_MODE), so
// that each flushes its TLB at its next TD entry. A TD that has not run
// has nothing cached: no SEAMCALL.
func (m *Machine) tdxTrack() {
	x := m.tdx()
	if x.state != tdStateRunnable {
		return
	}
	x.epoch++
	if !m.Quiet {
		m.emit(Event{Kind: EvSet, MMU: "tdx_module", Func: "tdx_track", Old: x.epoch - 1, New: x.epoch,
			Text: fmt.Sprintf("tdx_track: TDH.MEM.TRACK advances the TD epoch (%d → %d); kvm_make_all_cpus_request("+
				"KVM_REQ_OUTSIDE_GUEST_MODE) makes every vCPU leave the guest, and the TDX module flushes the TD's "+
				"translations when each enters again.", x.epoch-1, x.epoch)})
	}
}

// tdxSeptDropPrivateSPTE is tdx_sept_drop_private_spte:
// TDH.MEM.PAGE.REMOVE takes the blocked page out of the S-EPT (the TDX
// module refuses while translations from before the block may live),
// TDH.PHYMEM.PAGE.WBINVD writes its cache lines back, and tdx_clear_page
// clears it before guest_memfd gets it back.
func (m *Machine) tdxSeptDropPrivateSPTE(gfn GFN, level int, pfn PFN) error {
	x := m.tdx()
	if level != 1 {
		return fmt.Errorf("KVM_BUG_ON: level %d", level)
	}
	ep, err := m.septLookup(gfn.GPA(), level)
	if err != nil {
		return err
	}
	e, _ := m.Mem.Read(ep, 8)
	at, blocked := x.blockedAt[ep]
	switch {
	case e&SEPTBlocked == 0 || !blocked:
		return errSEPTEntryState
	case x.state == tdStateRunnable && x.epoch <= at:
		return errSEPTNotTracked
	}
	delete(x.blockedAt, ep)
	m.septWrite(nil, ep, level, 0, EvZap, "tdx_sept_drop_private_spte", fmt.Sprintf(
		"tdx_sept_drop_private_spte: TDH.MEM.PAGE.REMOVE(GPA %s): the TDX module clears the blocked S-EPT PTE at "+
			"HPA %s; TDH.PHYMEM.PAGE.WBINVD flushes the page's cache lines under the TD's key, and tdx_clear_page "+
			"zeroes HPA %s for guest_memfd.", gfn.GPA(), ep, pfn.HPA()))
	zeroPage(m.Mem, pfn.HPA())
	return nil
}

// freeExternalSPT is the free_external_spt call of handle_removed_pt: the
// mirror page's S-EPT page goes back to the host. tdx_sept_free_private_spt
// does it only once the TD's key is gone (teardown); while the TD lives
// the hook fails and the page is leaked rather than touched.
func (m *Machine) freeExternalSPT(sp *KVMMMUPage) {
	x := m.tdx()
	page := sp.ExternalSPT
	if page == 0 {
		return
	}
	if x.hkid {
		sp.ExternalSPT = 0
		if !m.Quiet {
			m.emit(Event{Kind: EvFault, MMU: "root_mmu", Func: "tdx_sept_free_private_spt", Space: SpaceHPA,
				Addr: uint64(page), Level: sp.Role.Level(), Table: uint64(page),
				Text: fmt.Sprintf("tdx_sept_free_private_spt: KVM_BUG_ON: the TD still has its key, and KVM never "+
					"frees S-EPT tables of a live TD; the page at HPA %s is leaked (external_spt = NULL).", page)})
		}
		return
	}
	delete(x.sept, page.PFN())
	m.Mem.FreePage(page.PFN())
	sp.ExternalSPT = 0
	if !m.Quiet {
		m.emit(Event{Kind: EvFree, MMU: "tdx_module", Func: "tdx_sept_free_private_spt", Space: SpaceHPA,
			Addr: uint64(page), Level: sp.Role.Level(), Table: uint64(page),
			Text: fmt.Sprintf("tdx_sept_free_private_spt: the free_external_spt hook: the TD's key is gone, so "+
				"tdx_reclaim_page gets the S-EPT %s at HPA %s back with TDH.PHYMEM.PAGE.RECLAIM and clears it.",
				TableName(Paging4, sp.Role.Level()), page)})
	}
}
