// Package mmu is the mmuviz engine: a model of the x86 MMU as the Linux KVM
// hypervisor sees it, written so that a student can read it next to
// arch/x86/kvm/mmu/ in the kernel.
//
// Every page table lives in simulated physical memory (PhysMem): the guest's
// tables in guest-physical memory that memslots map onto host pages, KVM's own
// tables directly in host pages. Walks read their entries from that memory, so
// the number of memory references they report is honest.
//
// Files are split the way the kernel splits its sources: paging_tmpl.go holds
// the guest walker (walk_addr_generic), permissions.go the permission and
// reserved-bit tables that mmu.c computes, cpu_role.go the roles, x86.go the
// control-register writes that x86.c handles.
//
// Two-dimensional paging (EPT, NPT): ept.go holds the EPT/NPT entry formats
// (asm/vmx.h), spte.go KVM's SPTEs (spte.c), tdp.go the TDP MMU's pages and
// roots, tdp_iter.go its iterator, tdp_mmu.go kvm_tdp_mmu_map and
// handle_changed_spte, tdp_zap.go the zaps, tdp_fault.go the page-fault path
// of mmu.c, vmx.go and svm.go the VM exits, tdp_walk.go the processor's own
// EPT/NPT walk plugged into walk_addr_generic, tdp_access.go a guest access
// with its exits and retries, tdp_view.go what pictures read.
//
// Shadow paging (no EPT/NPT): shadow.go holds the VM's shadow MMU and the
// root role, shadow_role.go the page roles, mmu_shadow.go the hash of
// shadow pages (kvm_mmu_get_shadow_page), page_track.go write protection
// and kvm_mmu_track_write, rmap.go the reverse maps, shadow_zap.go the
// zaps, shadow_fault.go and shadow_fetch.go FNAME(page_fault) and
// FNAME(fetch), shadow_spte.go make_spte and mmu_set_spte, shadow_sync.go
// unsync and sync, shadow_roots.go and shadow_direct.go the roots
// (pae_root, special, passthrough and direct), shadow_cr.go what CR
// writes do to them, shadow_access.go the processor's walk of the shadow
// tables, shadow_invariants*.go the invariant checker and shadow_view.go
// what pictures read.
//
// The engine is deterministic and never panics on bad input: every action
// returns its events (the trace) and a Result, and malformed requests are
// errors.
package mmu
