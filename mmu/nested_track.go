package mmu

import "fmt"

// L1 writing its own nested page table. guest_mmu shadows NPT12 (or EPT12)
// tables that live in L1 memory, which L1 itself reaches through root_mmu,
// a TDP MMU. account_shadowed therefore write-protects the frame in the
// TDP MMU too (kvm_mmu_slot_gfn_write_protect → kvm_tdp_mmu_write_protect_gfn),
// and L1's stores to such a frame exit to KVM: to an upper-level table (a
// write-tracked frame) KVM emulates the store and kvm_mmu_track_write
// zaps the NPT02 SPTEs it shadowed; to a leaf table make_spte's
// mmu_try_to_unsync_pages makes the shadow pages unsync and maps the frame
// writable, and NPT02 goes stale until the next nested VM-entry syncs it
// (nested_svm_transition_tlb_flush raises KVM_REQ_MMU_SYNC).

// kvmTDPMMUWriteProtectGFN is kvm_tdp_mmu_write_protect_gfn for every TDP
// root: the leaves that map gfn lose W and MMU-writable (so that the fast
// page-fault path cannot restore W). It reports a change.
func (m *Machine) kvmTDPMMUWriteProtectGFN(gfn GFN, why string) bool {
	changed := false
	for _, root := range m.tdp.roots {
		for it := m.tdpIterStart(root, 1, gfn); it.ok(gfn + 1); it.next() {
			spte := it.oldSPTE
			if !isShadowPresentPTE(spte) || !isLastSPTE(spte, it.level) {
				continue
			}
			n := spte &^ (PTWritable | m.tdp.masks.mmuWritable)
			if n == spte {
				continue
			}
			_, _ = m.Mem.Write(it.sptep, 8, n)
			it.oldSPTE, changed = n, true
			if !m.Quiet {
				m.emit(Event{Kind: EvWrite, MMU: "root_mmu", Func: "kvm_tdp_mmu_write_protect_gfn", Space: SpaceHPA,
					Addr: uint64(it.sptep), Level: it.level, Index: it.index(), HasEntry: true, Old: spte, New: n,
					Table: uint64(it.table()), HPA: it.sptep, HasHPA: true, Size: 8,
					Text: fmt.Sprintf("kvm_tdp_mmu_write_protect_gfn: L1's own %s for GFN %s loses W and MMU-writable "+
						"(%s → %s): %s, so L1's stores to it must exit to KVM.", m.tdp.entryWord(it.level), gfn,
						hex(spte), hex(n), why)})
			}
		}
	}
	return changed
}

// nestedGuestStore is a store by L1 to one of its guest-physical
// addresses (guest-write, or L1 editing an NPT12 entry) while KVM shadows
// L1's nested tables: a frame KVM keeps read-only is handled as described
// above; any other store is an ordinary store through L1's TDP tables.
func (m *Machine) nestedGuestStore(v *VCPU, gpa GPA, hpa HPA, size int, val uint64) (Result, error) {
	if v.GuestMode {
		return Result{}, fmt.Errorf("vCPU %d runs L2: a store by guest-physical address is modelled for L1", v.ID)
	}
	gfn := gpa.GFN()
	switch {
	case !m.shadow.gfnWriteProtected(gfn):
		return m.tdpGuestStore(v, gpa, size, val)
	case m.shadow.kvmGFNIsWriteTracked(gfn):
		m.emitL1ProtectedExit(v, gpa, true)
		res, err := m.nestedEmulatedStore(v, gpa, hpa, size, val)
		if err == nil {
			err = m.kvmMMUReloadArch(v)
		}
		return res, err
	}
	m.emitL1ProtectedExit(v, gpa, false)
	_ = m.mmuTryToUnsyncPages(v, gfn, false, false)
	return m.tdpGuestStore(v, gpa, size, val)
}

// emitL1ProtectedExit narrates why L1's store to a shadowed NPT12 frame
// exits and what make_spte decides.
func (m *Machine) emitL1ProtectedExit(v *VCPU, gpa GPA, tracked bool) {
	if m.Quiet {
		return
	}
	decision := "the frame holds only leaf NPT12 tables, which are not write-tracked: make_spte's " +
		"mmu_try_to_unsync_pages marks their NPT02 shadow pages unsync and the SPTE is made writable (RET_PF_FIXED). " +
		"L1 retries and its store lands without KVM seeing it: NPT02 may now be stale, like a TLB, until the " +
		"KVM_REQ_MMU_SYNC of the next nested VM-entry resyncs those pages"
	if tracked {
		decision = "the frame holds an upper-level NPT12 table, which is write-tracked: mmu_try_to_unsync_pages " +
			"refuses, the SPTE stays read-only and kvm_mmu_page_fault gets RET_PF_WRITE_PROTECTED; " +
			"kvm_mmu_write_protect_fault finds a write to L1's data, not a walk of L1's own tables, so KVM emulates it"
	}
	m.emit(Event{Kind: EvExit, MMU: "root_mmu", Func: "kvm_mmu_page_fault", Space: SpaceGPA, Addr: uint64(gpa),
		VCPU: v.ID, Text: nestedText(v, fmt.Sprintf("L1 stores to GPA %s, which holds a table of its NPT12 that KVM "+
			"shadows in NPT02: KVM write-protected L1's own %s entry for GFN %s when it began shadowing it, so the "+
			"store exits (#NPF, a write to a present page) and kvm_mmu_page_fault runs with arch.mmu = root_mmu: %s.",
			gpa, m.tdp.cfg.Kind, gpa.GFN(), decision))})
}

// nestedEmulatedStore is the emulation of L1's store to a write-tracked
// frame: emulator_write_phys writes it, then kvm_page_track_write →
// kvm_mmu_track_write zaps the NPT02 SPTEs that shadowed the old entry.
func (m *Machine) nestedEmulatedStore(v *VCPU, gpa GPA, hpa HPA, size int, val uint64) (Result, error) {
	old, err := m.Mem.Write(hpa, size, val)
	if err != nil {
		return Result{}, err
	}
	if !m.Quiet {
		m.emit(Event{Kind: EvWrite, MMU: "root_mmu", Func: "emulator_write_phys", Space: SpaceGPA, Addr: uint64(gpa),
			Old: old, New: val, VCPU: v.ID, HPA: hpa, HasHPA: true, Size: size,
			Text: fmt.Sprintf("x86_emulate_instruction → emulator_write_phys: KVM performs L1's %d-byte store to GPA %s "+
				"(%s → %s), then calls kvm_page_track_write.", size, gpa, hex(old), hex(val))})
	}
	m.kvmMMUTrackWrite(v, gpa, size)
	return Result{OK: true, HasGPA: true, GPA: gpa, HasHPA: true, HPA: hpa,
		Note: nestedText(v, "KVM emulated L1's write to a write-protected NPT12 table")}, nil
}

// nestedL1WriteExit handles, before the TDP MMU does, an exit of L1's
// data write to a frame the shadow MMU keeps read-only (handled), as
// kvm_tdp_mmu_page_fault's make_spte would: a write-tracked frame is
// emulated (emulate), a leaf table's shadow pages go unsync and the TDP
// fault path maps the frame writable.
func (m *Machine) nestedL1WriteExit(v *VCPU, x *TDPExit) (handled, emulate bool) {
	if m.shadow == nil || v.GuestMode || !x.Final || !tdpExitIsWrite(x) {
		return false, false
	}
	gfn := x.GPA.GFN()
	if !m.shadow.gfnWriteProtected(gfn) {
		return false, false
	}
	tracked := m.shadow.kvmGFNIsWriteTracked(gfn)
	m.emitL1ProtectedExit(v, x.GPA, tracked)
	if tracked {
		return true, true
	}
	_ = m.mmuTryToUnsyncPages(v, gfn, false, false)
	return false, false
}

// tdpExitIsWrite says whether the access that exited was a write.
func tdpExitIsWrite(x *TDPExit) bool {
	if x.Reason == ExitNPF {
		return x.ErrorCode&PFErrWrite != 0
	}
	return x.Qualification&EPTViolationAccWrite != 0
}

// nestedEmulateL1Write completes L1's write access that KVM emulates
// because it hits a write-tracked NPT12 frame: the store (the access's
// value, or the bytes already there when the script gives none) goes
// through emulator_write_phys and kvm_mmu_track_write.
func (m *Machine) nestedEmulateL1Write(v *VCPU, a *Access, w *GuestWalker, total, try int) (Result, error) {
	gpa := w.Fault.Exit.GPA
	size, val := a.Size, a.Value
	if !a.HasValue {
		size = 8
		gpa &^= 7
	}
	hpa, ok := m.GPAToHPA(gpa)
	if !ok {
		return Result{}, fmt.Errorf("GPA %s is not in any memslot", gpa)
	}
	if !a.HasValue {
		val, _ = m.Mem.Read(hpa, size)
	}
	res, err := m.nestedEmulatedStore(v, gpa, hpa, size, val)
	if err != nil {
		return res, err
	}
	res.HasRefs, res.Refs = true, w.Refs
	setRefsTotal(&res, total, try)
	return res, m.kvmMMUReloadArch(v)
}

// WriteNPT12Entry is L1 storing a new value into the entry at Level of its
// NPT12 on the path of the L2 GPA L2GPA, found when the action runs (L1
// editing its nested page table through a mapping of it). The store is an
// L1 store by GPA to the entry's address.
type WriteNPT12Entry struct {
	Source
	VCPU  int
	L2GPA GPA
	Level int
	Value uint64
}

func (a *WriteNPT12Entry) do(m *Machine) (Result, error) {
	v, err := m.VCPU(a.VCPU)
	if err != nil {
		return Result{}, err
	}
	if v.Nested.Kind != NestedSVM {
		return Result{}, fmt.Errorf("vCPU %d has no nested NPT set-up", v.ID)
	}
	gpa, size, err := m.npt12EntryAddr(v, a.L2GPA, a.Level)
	if err != nil {
		return Result{}, err
	}
	if size == 4 && a.Value>>32 != 0 {
		return Result{}, fmt.Errorf("a 32-bit NPT12 entry cannot hold %s", hex(a.Value))
	}
	return m.doGuestWrite(&GuestWrite{Source: a.Source, VCPU: a.VCPU, GPA: gpa, Size: size, Value: a.Value})
}

// npt12EntryAddr finds the L1 GPA of the NPT12 entry at level on l2's
// path, and its size, without side effects.
func (m *Machine) npt12EntryAddr(v *VCPU, l2 GPA, level int) (GPA, int, error) {
	mode := NPTFormat(v.l1Regs())
	f := formatFor(mode)
	if level < 1 || level > f.rootLevel {
		return 0, 0, fmt.Errorf("NPT12 in %s has levels 1 to %d, not %d", mode, f.rootLevel, level)
	}
	table := f.cr3Base(v.Nested.NCR3, m.Config.MaxPhyAddr)
	for l := f.rootLevel; ; l-- {
		idx := f.index(GVA(l2), l)
		if mode == PagingPAE && l == 3 {
			idx = int(uint64(l2)>>30) & 3
		}
		gpa := table + GPA(idx*f.entrySize)
		if l == level {
			return gpa, f.entrySize, nil
		}
		raw, err := m.ReadGuest(gpa, f.entrySize)
		if err != nil {
			return 0, 0, fmt.Errorf("reading NPT12's %s: %v", EntryName(mode, l), err)
		}
		e := PTE(raw)
		switch {
		case !e.Present():
			return 0, 0, fmt.Errorf("NPT12's %s for L2 GPA %s (at L1 GPA %s) is not present, so there is no level-%d "+
				"entry", EntryName(mode, l), l2, gpa, level)
		case l > 1 && !(mode == PagingPAE && l == 3) && f.isLastGPTE(e, l, true):
			return 0, 0, fmt.Errorf("NPT12's %s for L2 GPA %s maps a large page, so there is no level-%d entry",
				EntryName(mode, l), l2, level)
		}
		table = f.tableAddr(e)
	}
}
