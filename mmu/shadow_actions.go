package mmu

import (
	"fmt"
	"strings"
)

// Actions that matter to shadow paging: the guest's INVLPG, and a check of
// the shadow MMU's invariants recorded in the trace.

// Invlpg is the guest executing INVLPG for a GVA: it flushes the TLB entry;
// under shadow paging KVM intercepts it and resyncs the unsync SPTEs on
// the GVA's path (kvm_mmu_invlpg).
type Invlpg struct {
	Source
	VCPU int
	GVA  GVA
}

// CheckShadow runs CheckShadowInvariants and records the result.
type CheckShadow struct {
	Source
}

func (m *Machine) doInvlpg(a *Invlpg) (Result, error) {
	v, err := m.VCPU(a.VCPU)
	if err != nil {
		return Result{}, err
	}
	mode := PagingMode(v.WalkMMU().CPURole.Base.Level())
	if mode != Paging4 && mode != Paging5 && uint64(a.GVA) > 0xffffffff {
		return Result{}, fmt.Errorf("GVA %s does not fit in the 32-bit address space of %s", a.GVA, mode)
	}
	if !m.shadowPaging() {
		if !m.Quiet {
			why := "the model has no TLB, so there is nothing to flush"
			if m.tdp != nil {
				why = fmt.Sprintf("with %s KVM does not intercept INVLPG; the processor flushes its own TLB, which "+
					"the model does not have", m.tdp.cfg.Kind)
			}
			m.emit(Event{Kind: EvCheck, MMU: "root_mmu", Func: "cpu", Space: SpaceGVA, Addr: uint64(a.GVA), VCPU: v.ID,
				GVA: a.GVA, Text: fmt.Sprintf("INVLPG %s: %s.", a.GVA, why)})
		}
		return Result{OK: true}, nil
	}
	m.kvmMMUInvlpg(v, a.GVA)
	return Result{OK: true}, m.shadowResume(v)
}

// kvmMMUInvlpg is kvm_mmu_invlpg → kvm_mmu_invalidate_addr(walk_mmu, gva,
// KVM_MMU_ROOTS_ALL): a non-canonical address is a no-op; otherwise the
// hardware TLB entry goes and the unsync SPTEs on the path are resynced
// in every root (the model has only the current one).
func (m *Machine) kvmMMUInvlpg(v *VCPU, gva GVA) {
	mode := PagingMode(v.WalkMMU().CPURole.Base.Level())
	if gp, _ := checkGVA(mode, gva); gp != nil {
		if !m.Quiet {
			m.emit(Event{Kind: EvCheck, MMU: "root_mmu", Func: "kvm_mmu_invalidate_addr", Space: SpaceGVA,
				Addr: uint64(gva), VCPU: v.ID, GVA: gva,
				Text: "kvm_mmu_invalidate_addr: INVLPG of a non-canonical address is a no-op (SDM)."})
		}
		return
	}
	if !m.Quiet {
		m.emit(Event{Kind: EvExit, MMU: "root_mmu", Func: "kvm_mmu_invlpg", Space: SpaceGVA, Addr: uint64(gva),
			VCPU: v.ID, GVA: gva, Text: fmt.Sprintf("VM exit (INVLPG %s): under shadow paging KVM intercepts INVLPG "+
				"(handle_invlpg → kvm_mmu_invlpg): the guest's TLB flush is KVM's cue to resync the shadow SPTE for "+
				"that address. kvm_mmu_invalidate_addr flushes the hardware TLB entry and walks every root.", gva)})
	}
	m.kvmMMUInvalidateAddr(v, v.WalkMMU(), gva)
}

// kvmMMUInvalidateAddr is __kvm_mmu_invalidate_addr for mmu's current
// root: walk the shadow tables for gva; in an unsync page, resync the SPTE
// on the path (kvm_sync_spte, zapping it if it cannot be synced); stop
// where no unsync child lies below.
func (m *Machine) kvmMMUInvalidateAddr(v *VCPU, mmu *MMU, gva GVA) {
	if !mmu.RootValid || isDummyRoot(mmu) {
		return
	}
	m.kvmMMUInvalidateRoot(v, mmu.Root, gva)
}

// kvmMMUInvalidateRoot is the per-root part of __kvm_mmu_invalidate_addr,
// for the current root or a prev_roots entry (nested_ept_invalidate_addr).
func (m *Machine) kvmMMUInvalidateRoot(v *VCPU, root HPA, gva GVA) {
	synced := 0
	for it := m.shadowWalkInit(v, root, gva); it.ok(); it.next(m) {
		sp := m.shadow.spAt(it.sptep)
		if sp == nil {
			break
		}
		if sp.Unsync {
			synced++
			r := m.kvmSyncSPTE(v, sp, it.index)
			if r < 0 {
				m.mmuPageZapPTE(sp, it.sptep, nil, "kvm_mmu_invalidate_addr", "the SPTE could not be synced")
			}
			if r != 0 {
				m.kvmFlushRemoteTLBs("kvm_mmu_invalidate_addr", "a resynced SPTE changed")
			}
		}
		if sp.UnsyncChildren == 0 {
			break
		}
	}
	if !m.Quiet {
		text := fmt.Sprintf("kvm_mmu_invalidate_addr: no unsync shadow page lies on the path of GVA %s: nothing to "+
			"resync.", gva)
		if synced > 0 {
			text = fmt.Sprintf("kvm_mmu_invalidate_addr: the SPTE for GVA %s in the unsync page is resynced; the page "+
				"stays unsync (only a CR3 write or a fault through it syncs it all).", gva)
		}
		m.emit(Event{Kind: EvCheck, MMU: "root_mmu", Func: "kvm_mmu_invalidate_addr", Space: SpaceGVA,
			Addr: uint64(gva), VCPU: v.ID, GVA: gva, Text: text})
	}
}

func (m *Machine) doCheckShadow(a *CheckShadow) (Result, error) {
	if m.shadow == nil {
		return Result{}, fmt.Errorf("check needs shadow paging: the VM has no shadow MMU")
	}
	bad := m.CheckShadowInvariants()
	census := m.ShadowCensus()
	if !m.Quiet {
		text := "The shadow MMU's invariants hold: every present SPTE of a synced page grants no more than the " +
			"guest's tables and the memslots allow and maps what they map; write-protected frames are mapped " +
			"read-only; parent links, rmaps and root counts are consistent. " + census + "."
		if len(bad) > 0 {
			text = fmt.Sprintf("%d invariant(s) broken: %s. %s.", len(bad), strings.Join(bad, "; "), census)
		}
		m.emit(Event{Kind: EvCheck, MMU: "root_mmu", Func: "invariants", Old: uint64(len(bad)), New: uint64(len(bad)),
			Text: text})
	}
	res := Result{OK: len(bad) == 0, Note: census}
	if len(bad) > 0 {
		res.Note = fmt.Sprintf("%d invariant(s) broken; %s", len(bad), census)
	}
	return res, nil
}
