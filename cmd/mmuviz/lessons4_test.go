package main

import (
	"strings"
	"testing"

	"mmuviz/mmu"
	"mmuviz/render"
	"mmuviz/scenarios"
)

// contextLessons are the lessons whose scenarios show the vCPU panel.
var contextLessons = []variantLesson{
	{
		lesson: "roles", scenario: "role-reconfig", variant: "valid", steps: 179,
		pins: map[int]pin{
			1:   {"kvm_set_cpuid", "the CPU model changes from MAXPHYADDR 46"},
			2:   {"kvm_mmu_after_set_cpuid", "(vCPU 0): CPUID feeds the reserved-bit masks, which no register write will recompute, so KVM clears cpu_role.ext.valid and sets root_role.invalid in root_mmu, guest_mmu and nested_mmu"},
			3:   {"kvm_mmu_reset_context", "kvm_mmu_unload frees the roots of root_mmu and guest_mmu, then kvm_init_mmu computes the roles again"},
			4:   {"init_kvm_softmmu", "the role changed, so root_mmu is reconfigured for no paging"},
			5:   {"kvm_mmu_after_set_cpuid", "(vCPU 1)"},
			7:   {"init_kvm_softmmu", "reconfigured for 4-level paging, cpu_role base{level=4 access=uwx efer_nx cr0_wp} ext{cr4_pse efer_lma}, root_role level=4 access=uwx efer_nx cr0_wp; reset_guest_paging_metadata rebuilds its permission tables and reserved-bit masks; 6 callbacks assigned (page_fault=paging64_page_fault"},
			8:   {"cpu", "vCPU 1 runs the guest: a read as supervisor of GVA 0x401000 with 4-level paging under shadow paging"},
			22:  {"walk_addr_generic", "the PTE at GPA 0x203008 (HPA 0x10203008) is 0x20000201067 (P W U A D), with reserved bits set"},
			23:  {"walk_addr_generic", "the PTE sets reserved bits 0x20000000000. Error code 0x9 = P RSVD; CR2 = 0x401000. Nothing is written."},
			24:  {"kvm_inject_emulated_page_fault", "KVM injects #PF (error code 0x9, CR2 = 0x401000)"},
			25:  {"kvm_set_cr4", "cr4 ← 0x30 (PSE PAE)."},
			26:  {"kvm_post_set_cr4", "a bit of KVM_MMU_CR4_ROLE_BITS (PSE, PAE, LA57, SMEP, SMAP, PKE) changed"},
			27:  {"kvm_mmu_reset_context", "kvm_mmu_unload frees the roots"},
			28:  {"shadow_mmu_init_context", "cpu_role and root_role are unchanged (cpu_role base{level=0 direct access=uwx} ext{}), so reconfiguration is skipped"},
			29:  {"kvm_mmu_alloc_shadow_page", "takes a new level-2 shadow page at HPA 0x103000, all SPTEs SHADOW_NONPRESENT_VALUE; it is direct: it maps the 1 GiB from GPA 0x0 linearly"},
			42:  {"kvm_set_cr3", "cr3 ← 0x100000."},
			44:  {"set_efer", "efer ← 0x900 (LME NX)."},
			46:  {"kvm_mmu_reset_context", "kvm_mmu_unload frees the roots"},
			56:  {"shadow_mmu_init_context", "cpu_role and root_role are unchanged (cpu_role base{level=0 direct access=uwx} ext{}), so reconfiguration is skipped"},
			57:  {"kvm_mmu_find_shadow_page", "holds the level-2 shadow page at HPA 0x103000 (GFN 0x0, direct) with the same role (level=2 direct access=uwx efer_nx): KVM reuses it"},
			70:  {"kvm_set_cr0", "cr0 ← 0x80010001 (PE WP PG)."},
			72:  {"kvm_post_set_cr0", "CR0.PG or CR0.WP changed (KVM_MMU_CR0_ROLE_BITS)"},
			83:  {"init_kvm_softmmu", "the role changed, so root_mmu is reconfigured for 4-level paging, cpu_role base{level=4 access=uwx efer_nx cr0_wp} ext{cr4_pse efer_lma}"},
			84:  {"kvm_mmu_alloc_shadow_page", "has GFN 0x100 and role level=4 access=uwx efer_nx cr0_wp, so KVM takes a new level-4 shadow page at HPA 0x107000"},
			89:  {"cpu", "vCPU 0 runs the guest: a read as user of GVA 0x400000 with 4-level paging under shadow paging"},
			120: {"cpu", "GVA 0x400000 → HPA 0x10200000 through a 4 KiB shadow page (GPA 0x200000 as KVM shadowed it); 4 memory references (5 in all over 2 attempts)"},
			121: {"kvm_set_cr4", "cr4 ← 0xb0 (PSE PAE PGE)."},
			122: {"kvm_post_set_cr4", "CR4.PGE is not a role bit (the shadow MMU ignores global pages), so the MMU is not reconfigured; the guest's TLB is flushed (KVM_REQ_TLB_FLUSH_GUEST)"},
			123: {"kvm_set_cr0", "cr0 ← 0x80000001 (PE PG)."},
			124: {"kvm_post_set_cr0", "CR0.PG or CR0.WP changed"},
			126: {"kvm_mmu_free_roots", "vCPU 0 lets go of its root at HPA 0x107000"},
			128: {"init_kvm_softmmu", "cpu_role base{level=4 access=uwx efer_nx} ext{cr4_pse efer_lma}, root_role level=4 access=uwx efer_nx;"},
			129: {"kvm_mmu_alloc_shadow_page", "no valid page in bucket 3208 has GFN 0x100 and role level=4 access=uwx efer_nx, so KVM takes a new level-4 shadow page at HPA 0x10b000"},
			134: {"cpu", "vCPU 0 runs the guest: a read as user of GVA 0x400000"},
			161: {"cpu", "4 memory references (5 in all over 2 attempts)"},
			162: {"kvm_set_cr0", "cr0 ← 0x80010001 (PE WP PG)."},
			164: {"kvm_mmu_reset_context", "kvm_mmu_unload frees the roots"},
			167: {"init_kvm_softmmu", "cpu_role base{level=4 access=uwx efer_nx cr0_wp} ext{cr4_pse efer_lma}, root_role level=4 access=uwx efer_nx cr0_wp;"},
			168: {"kvm_mmu_find_shadow_page", "holds the level-4 shadow page at HPA 0x107000 (GFN 0x100) with the same role (level=4 access=uwx efer_nx cr0_wp): KVM reuses it"},
			172: {"cpu", "vCPU 0 runs the guest: a read as user of GVA 0x400000"},
			178: {"kvm_cpuid_check_equal", "KVM_SET_CPUID2 on vCPU 0 fails with -EBUSY: the vCPU has already run (kvm_vcpu_has_run)"},
		},
		claims: map[string]map[int]pin{
			"valid": {
				9:   {"kvm_mmu_alloc_shadow_page", "takes a new level-4 shadow page at HPA 0x102000"},
				18:  {"paging64_page_fault", "paging64_page_fault"},
				40:  {"mmu_alloc_direct_roots", "pae_root[3] = 0x106001 points to the level-2 shadow page at HPA 0x106000"},
				45:  {"set_efer", "EFER.LME or EFER.NX changed (KVM_MMU_EFER_ROLE_BITS)"},
				47:  {"kvm_mmu_free_roots", "kvm_mmu_unload, so vCPU 0 lets go of its root"},
				55:  {"kvm_mmu_free_roots", "pae_root[3] = INVALID_PAE_ROOT"},
				60:  {"kvm_mmu_find_shadow_page", "HPA 0x104000 (GFN 0x40000, direct) with the same role"},
				63:  {"kvm_mmu_find_shadow_page", "HPA 0x105000 (GFN 0x80000, direct) with the same role"},
				66:  {"kvm_mmu_find_shadow_page", "HPA 0x106000 (GFN 0xc0000, direct) with the same role"},
				71:  {"kvm_set_cr0", "long mode is now active, so EFER.LMA follows"},
				74:  {"kvm_mmu_free_roots", "vCPU 0 lets go of its root at HPA 0x100000"},
				82:  {"kvm_mmu_free_roots", "pae_root[3] = INVALID_PAE_ROOT"},
				104: {"kvm_mmu_alloc_shadow_page", "new level-3 shadow page at HPA 0x108000"},
				107: {"kvm_mmu_alloc_shadow_page", "new level-2 shadow page at HPA 0x109000"},
				110: {"kvm_mmu_alloc_shadow_page", "new level-1 shadow page at HPA 0x10a000"},
				112: {"link_shadow_page", "to the level-1 shadow page at HPA 0x10a000"},
				127: {"mmu_free_root_page", "HPA 0x107000 (GFN 0x100) 1 → 0; it stays in mmu_page_hash"},
				145: {"kvm_mmu_alloc_shadow_page", "new level-3 shadow page at HPA 0x10c000"},
				153: {"link_shadow_page", "to the level-1 shadow page at HPA 0x10e000"},
				155: {"rmap_add", "the level-1 rmap of GFN 0x200 (pte_list_add; 2 SPTEs now"},
				165: {"kvm_mmu_free_roots", "vCPU 0 lets go of its root at HPA 0x10b000"},
				166: {"mmu_free_root_page", "HPA 0x10b000 (GFN 0x100) 1 → 0"},
				177: {"cpu", "GVA 0x400000 → HPA 0x10200000 through a 4 KiB shadow page (GPA 0x200000 as KVM shadowed it); 4 memory references."},
			},
			"level0": {
				2:  {"kvm_mmu_after_set_cpuid", "(vCPU 0): CPUID feeds the reserved-bit masks, which no register write will recompute, so KVM sets cpu_role.base.level and root_role.level to 0"},
				4:  {"init_kvm_softmmu", "the role changed, so root_mmu is reconfigured for no paging"},
				5:  {"kvm_mmu_after_set_cpuid", "(vCPU 1): CPUID feeds the reserved-bit masks, which no register write will recompute, so KVM sets cpu_role.base.level and root_role.level to 0"},
				7:  {"init_kvm_softmmu", "the role changed, so root_mmu is reconfigured for 4-level paging"},
				23: {"walk_addr_generic", "Error code 0x9 = P RSVD"},
			},
			"cpuid-stale": {
				2:  {"kvm_mmu_after_set_cpuid", "so KVM sets cpu_role.ext.cpuid_stale (the reviewer's proposal) in root_mmu, guest_mmu and nested_mmu"},
				4:  {"init_kvm_softmmu", "the role changed, so root_mmu is reconfigured for no paging"},
				7:  {"init_kvm_softmmu", "the role changed, so root_mmu is reconfigured for 4-level paging"},
				23: {"walk_addr_generic", "Error code 0x9 = P RSVD"},
			},
			"none": {
				2:   {"kvm_mmu_after_set_cpuid", "so KVM marks nothing (a counterfactual: no marker at all)"},
				4:   {"shadow_mmu_init_context", "cpu_role and root_role are unchanged (cpu_role base{level=0 direct access=uwx} ext{}), so reconfiguration is skipped"},
				7:   {"shadow_mmu_init_context", "cpu_role and root_role are unchanged (cpu_role base{level=4 access=uwx efer_nx cr0_wp} ext{cr4_pse efer_lma}), so reconfiguration is skipped"},
				22:  {"walk_addr_generic", "is 0x20000201067 (P W U A D): it maps a 4 KiB page at GPA 0x20000201000"},
				27:  {"kvm_handle_noslot_fault", "no memslot covers GFN 0x20000201, so the access is MMIO"},
				37:  {"mark_mmio_spte", "no memslot covers GPA 0x20000201000, so the SPTE becomes an MMIO SPTE"},
				38:  {"x86_emulate_instruction", "GPA 0x20000201000 is MMIO, so the access goes to the device model"},
				97:  {"init_kvm_softmmu", "the role changed, so root_mmu is reconfigured for 4-level paging"},
				192: {"kvm_cpuid_check_equal", "fails with -EBUSY"},
			},
		},
	},
	{
		lesson: "tdx", scenario: "tdx-private-shared", steps: 298,
		pins: map[int]pin{
			1:   {"tdx_vcpu_init_mem_region", "KVM_TDX_INIT_MEM_REGION(GPA 0x100000-0x104fff) on vCPU 0. For each page, kvm_gmem_populate takes the private page from guest_memfd and"},
			2:   {"tdx_gmem_post_populate", "GFN 0x100 gets guest_memfd's page HPA 0x40100000; its initial contents are userspace's source page at HPA 0x10100000."},
			3:   {"kvm_mmu_do_page_fault", "PFERR_PRIVATE_ACCESS: tdp_mmu_get_root_for_fault will pick the mirror root."},
			4:   {"kvm_mmu_faultin_pfn_private", "kvm_gmem_get_pfn gives guest_memfd's page for GFN 0x100: HPA 0x40100000 (private memory, encrypted with the TD's key, never mapped for the host);"},
			5:   {"kvm_mmu_hugepage_adjust", "goal level 1, a 4 KiB mapping: private memory, which TDX maps with 4 KiB pages only (tdx_gmem_private_max_mapping_level)."},
			6:   {"tdp_mmu_alloc_sp", "a page at HPA 0x103000 for a level-3 table (GPA 0x0 up, role level=3 direct access=uwx efer_nx cr0_wp is_mirror)."},
			7:   {"kvm_mmu_alloc_external_spt", "the new page is a mirror page (role.is_mirror), so it gets an external_spt too: HPA 0x104000, the S-EPT PDPT it stands for. KVM will hand it to the"},
			8:   {"set_external_spte_present", "mirror SPTE at HPA 0x102000 0x8000000000000000 → 0x5a0."},
			9:   {"tdx_sept_link_private_spt", "TDH.MEM.SEPT.ADD(GPA 0x0, S-EPT level 3, page HPA 0x104000): the TDX module takes the page KVM gave it, clears it, and links it as the S-EPT PDPT for"},
			10:  {"tdp_mmu_link_sp", "make_nonleaf_spte points the mirror EPT PML4E for GPA 0x0 at the new table (every right, so that the leaf alone decides): SPTE at HPA 0x102000"},
			21:  {"set_external_spte_present", "FROZEN_SPTE) while the TDX module changes the S-EPT, so that no other vCPU installs anything there meanwhile: mirror SPTE at HPA 0x107800"},
			22:  {"tdx_sept_set_private_spte", "the TD is not finalized yet, so no SEAMCALL maps GFN 0x100 now: tdx_mem_page_record_premap_cnt counts it as premapped (nr_premapped 0 → 1);"},
			23:  {"tdp_mmu_map_handle_target_level", "make_spte: the mirror EPT PTE maps GPA 0x100000 to HPA 0x40100000, a 4 KiB page (R W X WB IPAT D); tdp_mmu_set_spte_atomic writes it: SPTE at HPA"},
			24:  {"tdx_gmem_post_populate", "TDH.MEM.PAGE.ADD(GPA 0x100000, page HPA 0x40100000, source HPA 0x10100000): the TDX module copies the source page, userspace's initial image, into"},
			25:  {"tdx_gmem_post_populate", "KVM_TDX_MEASURE_MEMORY_REGION: sixteen TDH.MR.EXTEND calls fold the page, 256 bytes at a time, into the TD's measurement (MRTD); nr_premapped is back"},
			26:  {"tdx_gmem_post_populate", "GFN 0x101 gets guest_memfd's page HPA 0x40101000; its initial contents are userspace's source page at HPA 0x10101000."},
			74:  {"tdx_td_finalize", "KVM_TDX_FINALIZE_VM: TDH.MR.FINALIZE seals the TD's measurement, and the TD becomes TD_STATE_RUNNABLE (pre_fault_allowed). From now on a private page"},
			75:  {"cpu", "vCPU 0 runs the TD: the guest calls TDG.MEM.PAGE.ACCEPT(GPA 0x200000, 4 KiB) to accept a private page; the TDX module walks the S-EPT for it."},
			78:  {"cpu", "The TDX module walks the S-EPT for GPA 0x200000: index 1 of the S-EPT PD at HPA 0x106000 is 0x0 (free): not present."},
			79:  {"cpu", "EPT violation on GPA 0x200000 (the final GPA): the S-EPT PDE is not present: KVM has not mapped the page yet. The processor leaves the guest with a"},
			80:  {"tdx_handle_ept_violation", "The GPA is private: it lacks the shared bit, so the fault goes to the mirror root; KVM ignores the exit qualification and treats it as a write"},
			81:  {"__vmx_handle_ept_violation", "error code 0x2000000000002 = W; vt_is_tdx_private_gpa adds PFERR_PRIVATE_ACCESS."},
			83:  {"kvm_mmu_do_page_fault", "PFERR_PRIVATE_ACCESS: tdp_mmu_get_root_for_fault will pick the mirror root."},
			88:  {"tdp_mmu_alloc_sp", "The mirror EPT PDE at HPA 0x105008 is not present, so tdp_mmu_alloc_sp takes a struct kvm_mmu_page and a page at HPA 0x109000 for a level-1 table"},
			91:  {"tdx_sept_link_private_spt", "TDH.MEM.SEPT.ADD(GPA 0x200000, S-EPT level 1, page HPA 0x10a000): the TDX module takes the page KVM gave it, clears it, and links it as the S-EPT PT"},
			93:  {"set_external_spte_present", "the mirror SPTE is frozen (FROZEN_SPTE) while the TDX module changes the S-EPT, so that no other vCPU installs anything there meanwhile: mirror SPTE"},
			94:  {"tdx_sept_set_private_spte", "the TD is runnable, so tdx_mem_page_aug issues TDH.MEM.PAGE.AUG(GPA 0x200000, 4 KiB, page HPA 0x40200000)"},
			95:  {"tdp_mmu_map_handle_target_level", "make_spte: the mirror EPT PTE maps GPA 0x200000 to HPA 0x40200000, a 4 KiB page (R W X WB IPAT A D); tdp_mmu_set_spte_atomic writes it: SPTE at HPA"},
			96:  {"cpu", "TD entry again (attempt 2): the guest's TDCALL runs again from the start."},
			101: {"cpu", "TDG.MEM.PAGE.ACCEPT: the TDX module clears the page at HPA 0x40200000 with the TD's key and maps it: the S-EPT PTE at HPA 0x10a000 goes from PENDING"},
			102: {"cpu", "vCPU 0 runs the guest: a write as supervisor of GVA 0x400000 with 4-level paging on 4-level EPT. The processor walks the guest's tables from CR3 ="},
			132: {"cpu", "GVA 0x400000 → GPA 0x200000 → HPA 0x40200000, a 4 KiB guest page; 24 memory references."},
			134: {"cpu", "vCPU 0 runs the guest: a read as supervisor of GVA 0x600000 with 4-level paging on 4-level EPT. The processor walks the guest's tables from CR3 ="},
			154: {"cpu", "GPA 0x104000 (HPA 0x40104000) is 0x800000300003 (P W): it maps a 4 KiB page at GPA 0x800000300000."},
			156: {"cpu", "The processor translates GPA 0x800000300000 (the final GPA) through EPT: GPA bits 47:39 = 256 index the EPT PML4 at HPA 0x100000; its entry at HPA"},
			157: {"cpu", "EPT violation on GPA 0x800000300000 (the final GPA): the EPT PML4E is not present. The processor leaves the guest with a VM exit; no guest fault is"},
			158: {"tdx_handle_ept_violation", "The GPA is shared: it has the shared bit, so the direct root maps it, and KVM keeps the exit qualification."},
			159: {"__vmx_handle_ept_violation", "error code 0x4 = U; no PFERR_PRIVATE_ACCESS: a shared fault."},
			161: {"kvm_mmu_do_page_fault", "The shared bit of GPA 0x800000300000 is stripped from the GFN: memslots know nothing of it; the fault goes to the direct root."},
			162: {"kvm_mmu_prepare_memory_fault_exit", "the memory attributes say GFN 0x300 is private. kvm_mmu_prepare_memory_fault_exit fills KVM_EXIT_MEMORY_FAULT"},
			163: {"cpu", "vCPU 0 runs the TD: the guest calls TDG.VP.VMCALL<MapGPA>(GPA 0x800000300000, 4 KiB) to make the range shared (the shared bit of the GPA says which)."},
			164: {"tdx_map_gpa", "TD exit (TDVMCALL): tdx_map_gpa checks GPA 0x800000300000-0x800000300fff and exits to userspace with KVM_EXIT_HYPERCALL (KVM_HC_MAP_GPA_RANGE):"},
			165: {"kvm_arch_pre_set_memory_attributes", "Userspace calls KVM_SET_MEMORY_ATTRIBUTES on GFN 0x300-0x300 (private → shared). Before the attributes change, kvm_arch_pre_set_memory_attributes"},
			168: {"cpu", "vCPU 0 runs the guest: a read as supervisor of GVA 0x600000 with 4-level paging on 4-level EPT. The processor walks the guest's tables from CR3 ="},
			192: {"tdx_handle_ept_violation", "The GPA is shared: it has the shared bit, so the direct root maps it, and KVM keeps the exit qualification."},
			196: {"kvm_mmu_faultin_pfn", "memslot 0 maps GFN 0x300 to host frame 0x10300 (HPA 0x10300000); the host backs the memslot with 4 KiB pages."},
			198: {"tdp_mmu_alloc_sp", "The EPT PML4E at HPA 0x100800 is not present, so tdp_mmu_alloc_sp takes a struct kvm_mmu_page and a page at HPA 0x10b000 for a level-3 table (GPA 0x0"},
			204: {"tdp_mmu_map_handle_target_level", "make_spte: the EPT PTE maps GPA 0x800000300000 to HPA 0x10300000, a 4 KiB page (R W X WB IPAT A D); tdp_mmu_set_spte_atomic writes it: SPTE at HPA"},
			205: {"cpu", "VM entry: KVM resumes the guest, which executes the same instruction again. Attempt 2: the processor walks again from CR3, with nothing remembered"},
			233: {"cpu", "GVA 0x600000 → GPA 0x800000300000 → HPA 0x10300000, a 4 KiB guest page; 24 memory references (45 in all over 2 attempts)."},
			234: {"invariants", "The mirror root and the S-EPT agree entry by entry (5 mirror pages, 5 S-EPT pages, 0 premapped): every mirror table has its external_spt linked at"},
			235: {"cpu", "vCPU 0 runs the TD: the guest calls TDG.VP.VMCALL<MapGPA>(GPA 0x800000200000, 4 KiB) to make the range shared (the shared bit of the GPA says which)."},
			237: {"kvm_arch_pre_set_memory_attributes", "Userspace calls KVM_SET_MEMORY_ATTRIBUTES on GFN 0x200-0x200 (private → shared). Before the attributes change, kvm_arch_pre_set_memory_attributes"},
			238: {"kvm_tdp_mmu_unmap_gfn_range", "the mirror EPT PTE for GPA 0x200000 (0x8600000040200b77, R W X WB IPAT A D) is zapped to SHADOW_NONPRESENT_VALUE: a leaf in the range."},
			239: {"tdx_sept_remove_private_spte", "the remove_external_spte hook for GFN 0x200 (private page HPA 0x40200000): block, track, remove."},
			240: {"tdx_sept_zap_private_spte", "TDH.MEM.RANGE.BLOCK(GPA 0x200000, 4 KiB): the TDX module marks the S-EPT PTE at HPA 0x10a000 BLOCKED (R W X cleared), so no vCPU can make a new"},
			241: {"tdx_track", "TDH.MEM.TRACK advances the TD epoch (0 → 1); kvm_make_all_cpus_request(KVM_REQ_OUTSIDE_GUEST_MODE) makes every vCPU leave the guest, and the TDX"},
			242: {"tdx_sept_drop_private_spte", "TDH.MEM.PAGE.REMOVE(GPA 0x200000): the TDX module clears the blocked S-EPT PTE at HPA 0x10a000; TDH.PHYMEM.PAGE.WBINVD flushes the page's cache lines"},
			245: {"invariants", "The mirror root and the S-EPT agree entry by entry (5 mirror pages, 5 S-EPT pages, 0 premapped): every mirror table has its external_spt linked at"},
			246: {"kvm_unmap_gfn_range", "The VMM exits. Closing the guest_memfd files unmaps every private page (kvm_unmap_gfn_range with KVM_FILTER_PRIVATE) while the TD still has its key:"},
			272: {"tdx_mmu_release_hkid", "TDH.PHYMEM.CACHE.WB writes back every cache line of the TD's key and TDH.MNG.KEY.FREEID frees the key (HKID). Only now may the S-EPT's own pages be"},
			273: {"kvm_mmu_uninit_tdp_mmu", "every root, the mirror one included, is invalidated and zapped (kvm_tdp_mmu_zap_invalidated_roots); each mirror table cut off gives its S-EPT page"},
			276: {"tdp_mmu_zap_root", "the mirror EPT PDE for GPA 0x0 (0x8000000000107907, R W X A) is zapped to SHADOW_NONPRESENT_VALUE: the 2 MiB pass of the root zap; it points to a"},
			289: {"tdp_mmu_zap_root", "the EPT PTE for GPA 0x800000300000 (0x8600000010300b77, R W X WB IPAT A D) is zapped to SHADOW_NONPRESENT_VALUE: the 4 KiB pass of the root zap."},
			297: {"tdx_vm_destroy", "tdx_reclaim_td_control_pages reclaims the TD's control pages, the S-EPT root at HPA 0x101000 among them (TDH.PHYMEM.PAGE.RECLAIM). Nothing of the TD"},
		},
		claims: map[string]map[int]pin{
			"": {
				11:  {"tdp_mmu_alloc_sp", "The mirror EPT PDPTE at HPA 0x103000 is not present, so tdp_mmu_alloc_sp takes a struct kvm_mmu_page and a page at HPA 0x105000 for a level-2 table"},
				20:  {"tdp_mmu_link_sp", "make_nonleaf_spte points the mirror EPT PDE for GPA 0x0 at the new table (every right, so that the leaf alone decides): SPTE at HPA 0x105000"},
				30:  {"kvm_tdp_mmu_map", "the mirror EPT PML4E at HPA 0x102000 (index 0, GPA 0x0 up) is 0x8000000000103907 (R W X A): present and not a leaf: step down into it."},
				32:  {"kvm_tdp_mmu_map", "the mirror EPT PDE at HPA 0x105000 (index 0, GPA 0x0 up) is 0x8000000000107907 (R W X A): present and not a leaf: step down into it."},
				89:  {"kvm_mmu_alloc_external_spt", "the new page is a mirror page (role.is_mirror), so it gets an external_spt too: HPA 0x10a000, the S-EPT PT it stands for. KVM will hand it to the TDX"},
				100: {"cpu", "The TDX module walks the S-EPT for GPA 0x200000: index 0 of the S-EPT PT at HPA 0x10a000 is 0x10000040200030 (PENDING): the leaf for the page."},
				166: {"kvm_flush_remote_tlbs_range", "0 private leaf SPTE(s) unmapped; kvm_flush_remote_tlbs_range makes every vCPU drop the stale translations."},
				191: {"cpu", "EPT violation on GPA 0x800000300000 (the final GPA): the EPT PML4E is not present. The processor leaves the guest with a VM exit; no guest fault is"},
				203: {"tdp_mmu_link_sp", "make_nonleaf_spte points the EPT PDE for GPA 0x800000200000 at the new table (every right, so that the leaf alone decides): SPTE at HPA 0x10c008"},
				227: {"cpu", "The processor translates GPA 0x800000300000 (the final GPA) through EPT: GPA bits 47:39 = 256 index the EPT PML4 at HPA 0x100000; its entry at HPA"},
				230: {"cpu", "GPA bits 20:12 = 256 index the EPT PT at HPA 0x10d000; its entry at HPA 0x10d800 is 0x8600000010300b77 (R W X WB IPAT A D): it maps a 4 KiB page at"},
				247: {"kvm_tdp_mmu_unmap_gfn_range", "the mirror EPT PTE for GPA 0x100000 (0x8600000040100a77, R W X WB IPAT D) is zapped to SHADOW_NONPRESENT_VALUE: a leaf in the range."},
				270: {"tdx_track", "TDH.MEM.TRACK advances the TD epoch (5 → 6); kvm_make_all_cpus_request(KVM_REQ_OUTSIDE_GUEST_MODE) makes every vCPU leave the guest, and the TDX"},
				271: {"tdx_sept_drop_private_spte", "TDH.MEM.PAGE.REMOVE(GPA 0x104000): the TDX module clears the blocked S-EPT PTE at HPA 0x108820; TDH.PHYMEM.PAGE.WBINVD flushes the page's cache lines"},
				277: {"tdx_sept_free_private_spt", "the free_external_spt hook: the TD's key is gone, so tdx_reclaim_page gets the S-EPT PT at HPA 0x108000 back with TDH.PHYMEM.PAGE.RECLAIM and clears"},
				278: {"handle_removed_pt", "the level-1 EPT table at HPA 0x107000 (GPA 0x0 up) is no longer reachable; call_rcu frees it after a grace period (tdp_mmu_free_sp)."},
				283: {"tdx_sept_free_private_spt", "the free_external_spt hook: the TD's key is gone, so tdx_reclaim_page gets the S-EPT PD at HPA 0x106000 back with TDH.PHYMEM.PAGE.RECLAIM and clears"},
				286: {"tdx_sept_free_private_spt", "the free_external_spt hook: the TD's key is gone, so tdx_reclaim_page gets the S-EPT PDPT at HPA 0x104000 back with TDH.PHYMEM.PAGE.RECLAIM and"},
				94:  {"tdx_sept_set_private_spte", "as PENDING (not present to the processor)"},
			},
		},
	},
	{
		lesson: "nested", scenario: "nested-ept", variant: "upstream", steps: 846,
		pins: map[int]pin{
			1:   {"nested_vmx_run", "L1 executes VMLAUNCH, which exits to L0: KVM emulates it (nested_vmx_run). L1's VMCS, vmcs12, holds L2's guest state (CR0 0x80010001, CR3 0x100000,"},
			3:   {"enter_guest_mode", "the vCPU is in guest mode (HF_GUEST_MASK): every role KVM computes from now on has guest_mode=1, so no page built for L2 can ever be mistaken for one"},
			5:   {"nested_ept_init_mmu_context", "vcpu->arch.mmu = &guest_mmu (was root_mmu): faults and roots are guest_mmu's now."},
			6:   {"kvm_init_shadow_ept_mmu", "EPTP12 0x20005e gives a 4-level EPT with A/D bits on, execonly=true; kvm_calc_shadow_ept_root_page_role makes cpu_role base{level=4 access=uwx"},
			7:   {"nested_ept_init_mmu_context", "guest_mmu's get_guest_pgd=nested_ept_get_eptp, get_pdptr=kvm_pdptr_read, inject_page_fault=nested_ept_inject_page_fault: assigned on every VM-entry"},
			8:   {"nested_ept_init_mmu_context", "vcpu->arch.walk_mmu = &nested_mmu (was root_mmu): software walks of L2's page tables use it, and it translates every L2 GPA they meet through"},
			10:  {"nested_vmx_load_cr3", "CR3 = 0x100000, L2's. With nested EPT, L2's CR3 is an L2 GPA that only the processor's walk and nested_mmu use, so kvm_mmu_new_pgd is not called for"},
			11:  {"init_kvm_nested_mmu", "the role changed, so nested_mmu is reconfigured for 4-level paging, cpu_role base{level=4 access=uwx efer_nx cr0_wp guest_mode} ext{cr4_pse"},
			12:  {"kvm_mmu_alloc_shadow_page", "no valid page in bucket 2320 has GFN 0x200 and role level=4 access=uwx guest_mode, so KVM takes a new level-4 shadow page at HPA 0x104000, all SPTEs"},
			14:  {"kvm_tdp_mmu_write_protect_gfn", "L1's own EPT PTE for GFN 0x200 loses W and MMU-writable (0x8600000010200a77 → 0x8200000010200a75): GFN 0x200 holds a guest page table that KVM"},
			18:  {"vmx_load_mmu_pgd", "vmcs02's EPT pointer is guest_mmu's root at HPA 0x104000, the 4-level shadow of L1's EPTP 0x20005e (EPT02): the processor walks EPT02, never L1's own"},
			19:  {"vcpu_enter_guest", "VM-entry 1: the vCPU runs L2 on guest_mmu's root at HPA 0x104000."},
			20:  {"cpu", "vCPU 0 runs the guest: a read as user of GVA 0x400123 with 4-level paging on 4-level EPT. The processor walks the guest's tables from CR3 = 0x100000"},
			22:  {"cpu", "EPT violation on GPA 0x100000 (the guest's level-4 table): the EPT PML4E is not present. The processor leaves the guest with a VM exit; no guest"},
			23:  {"nested_vmx_l0_wants_exit", "keeps every EXIT_REASON_EPT_VIOLATION for L0: the walk missed in EPT02, KVM's shadow, and only L0 can tell whether L1's EPT12 has the mapping."},
			25:  {"kvm_mmu_page_fault", "calls guest_mmu's page_fault callback, ept_page_fault."},
			26:  {"ept_page_fault", "KVM walks L1's nested table (EPTP 0x20005e, in L1 memory, read through the memslots) in software to learn what L1 allows at L2 GPA 0x100000; EPT has"},
			30:  {"walk_addr_generic", "it maps a 4 KiB page at L1 GPA 0x900000."},
			36:  {"kvm_mmu_alloc_shadow_page", "takes a new level-3 shadow page at HPA 0x105000, all SPTEs SHADOW_NONPRESENT_VALUE; it shadows the guest's PDPT at GPA 0x201000. It goes to the head"},
			51:  {"mmu_set_spte", "make_spte maps GFN 0x900 (a 4 KiB page) to host frame 0x10900 with RWX; SPTE at HPA 0x107800 0x8000000000000000 → 0x8600000010900b77 (R W X WB IPAT A"},
			53:  {"cpu", "Attempt 2: the processor walks again from CR3, with nothing remembered from the failed attempt."},
			182: {"protect_clean_gpte", "The EPT12 leaf is writable but not dirty (D clear), so the walk grants no write (protect_clean_gpte): an EPT02 entry made from it is read-only, and"},
			219: {"cpu", "GVA 0x400123 → GPA 0x180123 → HPA 0x10980123, a 4 KiB guest page; 24 memory references (91 in all over 6 attempts)."},
			220: {"cpu", "vCPU 0 runs the guest: a read as user of GVA 0x400456 with 4-level paging on 4-level EPT. The processor walks the guest's tables from CR3 = 0x100000"},
			246: {"cpu", "GVA 0x400456 → GPA 0x180456 → HPA 0x10980456, a 4 KiB guest page; 24 memory references."},
			247: {"cpu", "vCPU 0 runs the guest: a write as user of GVA 0x401000 with 4-level paging on 4-level EPT. The processor walks the guest's tables from CR3 = 0x100000"},
			273: {"cpu", "EPT violation on GPA 0x1f0000 (the final GPA): the EPT PTE is not present. The processor leaves the guest with a VM exit; no guest fault is raised."},
			283: {"kvm_inject_emulated_page_fault", "so the fault goes to guest_mmu's inject_page_fault, nested_ept_inject_page_fault. A present, non-reserved fault would first resync guest_mmu's SPTE"},
			285: {"nested_ept_inject_page_fault", "the EPT12 PTE is not present (R, W and X clear)), so the exit is L1's: the exit is EXIT_REASON_EPT_VIOLATION; its qualification is the walk's 0x2"},
			286: {"nested_vmx_vmexit", "exit qualification 0x182, guest-physical address 0x1f0000, and L2's registers (CR3 0x100000) (sync_vmcs02_to_vmcs12, prepare_vmcs12)."},
			287: {"leave_guest_mode", "the vCPU leaves guest mode: roles have guest_mode=0 again."},
			289: {"nested_ept_uninit_mmu_context", "vcpu->arch.mmu = vcpu->arch.walk_mmu = &root_mmu: L1's own MMU again. guest_mmu keeps its root (HPA 0x104000) and prev_roots for the next VM-entry."},
			290: {"kvm_mmu_new_pgd", "L1's EPT01 root, is kept. It stayed root_mmu's current root all the while L2 ran; nothing moved into prev_roots."},
			293: {"kvm_mmu_page_fault", "L1 stores to GPA 0x203f80, which holds a table of its EPT12 that KVM shadows in EPT02: KVM write-protected L1's own EPT entry for GFN 0x203 when it"},
			294: {"kvm_unsync_page", "the level-1 shadow page at HPA 0x107000 (GFN 0x203) becomes unsync: L1 may now edit that EPT12 table without a trap, and EPT02's SPTEs may go stale"},
			313: {"tdp_mmu_map_handle_target_level", "the EPT PTE maps GPA 0x203000 to HPA 0x10203000, a 4 KiB page (R W X WB IPAT A D); tdp_mmu_set_spte_atomic writes it: SPTE at HPA 0x103018"},
			320: {"nested_vmx_run", "L1 executes VMRESUME, which exits to L0: KVM emulates it (nested_vmx_run). L1's VMCS, vmcs12, holds L2's guest state (CR0 0x80010001, CR3 0x100000,"},
			325: {"kvm_init_shadow_ept_mmu", "the EPT role is unchanged (base{level=4 access=uwx guest_mode} ext{execonly}), so guest_mmu keeps its permission table, reserved-bit masks and"},
			326: {"fast_pgd_switch", "the current root already shadows EPTP 0x20005e with the current role (is_root_usable): KVM keeps it (KVM_REQ_LOAD_MMU_PGD)."},
			327: {"nested_ept_init_mmu_context", "assigned on every VM-entry in 6.16 (seed 000 would set the first two once, at vCPU creation, and drop get_pdptr)."},
			331: {"init_kvm_nested_mmu", "cpu_role is unchanged (cpu_role base{level=4 access=uwx efer_nx cr0_wp guest_mode} ext{cr4_pse efer_lma}), so reconfiguration is skipped: nested_mmu"},
			333: {"cpu", "a write as user of GVA 0x401000 with 4-level paging on 4-level EPT. The processor walks the guest's tables from CR3 = 0x100000 itself, and translates"},
			402: {"cpu", "GVA 0x401000 → GPA 0x1f0000 → HPA 0x10a00000, a 4 KiB guest page; 24 memory references (48 in all over 2 attempts)."},
			404: {"cpu", "a write as user of GVA 0x402000 with 4-level paging on 4-level EPT. The processor walks the guest's tables from CR3 = 0x100000 itself, and translates"},
			442: {"nested_ept_inject_page_fault", "allow R-- (R, W, X ANDed over the levels), not write), so the exit is L1's: the exit is EXIT_REASON_EPT_VIOLATION; its qualification is the walk's"},
			501: {"nested_ept_inject_page_fault", "allow RW- (R, W, X ANDed over the levels), not fetch), so the exit is L1's: the exit is EXIT_REASON_EPT_VIOLATION; its qualification is the walk's"},
			559: {"nested_ept_inject_page_fault", "memory type 7 is reserved), so the exit is L1's: a reserved bit or a bad memory type in EPT12: the exit is EXIT_REASON_EPT_MISCONFIG, with no"},
			616: {"nested_ept_inject_page_fault", "the EPT12 PDE is not present (R, W and X clear)), so the exit is L1's: the exit is EXIT_REASON_EPT_VIOLATION; its qualification is the walk's 0x1"},
			637: {"kvm_mmu_gva_to_gpa_read", "walk_mmu (nested_mmu) walks the guest's tables in software with its gva_to_gpa, paging64_gva_to_gpa."},
			638: {"translate_nested_gpa", "L2 GPA 0x100000 is not an address KVM can read; guest_mmu's gva_to_gpa (ept_gva_to_gpa) translates it through L1's nested table, as a user access"},
			674: {"kvm_mmu_gva_to_gpa_read", "GVA 0x400123 → GPA 0x180123 → HPA 0x10980123 in software; 24 memory references (the inner walks of L1's nested table included)."},
			675: {"nested_vmx_reflect_vmexit", "L2 causes a VM exit (EXIT_REASON_HLT) to L0. L1 asked to intercept it, so KVM does not handle it itself: it reflects it to L1."},
			679: {"nested_ept_uninit_mmu_context", "vcpu->arch.mmu = vcpu->arch.walk_mmu = &root_mmu: L1's own MMU again. guest_mmu keeps its root (HPA 0x104000) and prev_roots for the next VM-entry."},
			683: {"cpu", "vCPU 0 runs the guest: a read as supervisor of GVA 0x400000 with 4-level paging on 4-level EPT. The processor walks the guest's tables from CR3 ="},
		},
		claims: map[string]map[int]pin{
			"upstream": {
				32:  {"update_accessed_dirty_bits", "A is set in the EPT12 PML4E at L1 GPA 0x200000 (0x201007 → 0x201107), as the processor would."},
				35:  {"update_accessed_dirty_bits", "A and D are set in the EPT12 PTE at L1 GPA 0x203800 (0x900037 → 0x900337), as the processor would."},
				38:  {"kvm_tdp_mmu_write_protect_gfn", "L1's own EPT PTE for GFN 0x201 loses W and MMU-writable (0x8600000010201a77 → 0x8200000010201a75): GFN 0x201 holds a guest page table that KVM"},
				41:  {"kvm_mmu_alloc_shadow_page", "takes a new level-2 shadow page at HPA 0x106000, all SPTEs SHADOW_NONPRESENT_VALUE; it shadows the guest's PD at GPA 0x202000. It goes to the head of"},
				43:  {"kvm_tdp_mmu_write_protect_gfn", "L1's own EPT PTE for GFN 0x202 loses W and MMU-writable (0x8600000010202a77 → 0x8200000010202a75): GFN 0x202 holds a guest page table that KVM"},
				46:  {"kvm_mmu_alloc_shadow_page", "takes a new level-1 shadow page at HPA 0x107000, all SPTEs SHADOW_NONPRESENT_VALUE; it shadows the guest's PT at GPA 0x203000. It goes to the head of"},
				48:  {"kvm_tdp_mmu_write_protect_gfn", "L1's own EPT PTE for GFN 0x203 loses W and MMU-writable (0x8600000010203a77 → 0x8200000010203a75): GFN 0x203 holds a guest page table that KVM"},
				187: {"mmu_set_spte", "with R-X; SPTE at HPA 0x107c00 0x8000000000000000 → 0x8200000010980975 (R X WB IPAT A)."},
				291: {"init_kvm_tdp_mmu", "cpu_role and root_role are unchanged (cpu_role base{level=4 access=uwx efer_nx cr0_wp} ext{cr4_pse efer_lma}), so reconfiguration is skipped:"},
				295: {"mark_unsync", "bit 0 of the unsync_child_bitmap of the level-2 shadow page at HPA 0x106000 (GFN 0x202) is set (unsync_children 0 → 1), so a sync from the root will"},
				297: {"mark_unsync", "bit 0 of the unsync_child_bitmap of the level-4 shadow page at HPA 0x104000 (GFN 0x200) is set (unsync_children 0 → 1), so a sync from the root will"},
				319: {"guest store", "The guest stores 0xa00037 to GPA 0x203f80 (8 bytes; was 0x0). The EPT translation allowed it, so KVM does not notice."},
				359: {"cpu", "EPT violation on GPA 0x1f0000 (the final GPA): the EPT PTE is not present. The processor leaves the guest with a VM exit; no guest fault is raised."},
				373: {"mmu_set_spte", "make_spte maps GFN 0xa00 (a 4 KiB page) to host frame 0x10a00 with RWX; SPTE at HPA 0x107f80 0x8000000000000000 → 0x8600000010a00b77 (R W X WB IPAT A"},
				443: {"nested_vmx_vmexit", "exit qualification 0x18a, guest-physical address 0x1f8000, and L2's registers (CR3 0x100000) (sync_vmcs02_to_vmcs12, prepare_vmcs12)."},
				502: {"nested_vmx_vmexit", "exit qualification 0x19c, guest-physical address 0x1fa000, and L2's registers (CR3 0x100000) (sync_vmcs02_to_vmcs12, prepare_vmcs12)."},
				560: {"nested_vmx_vmexit", "vmcs12 receives exit reason EXIT_REASON_EPT_MISCONFIG and exit qualification 0x0, guest-physical address 0x1fc000, and L2's registers (CR3 0x100000)"},
				617: {"nested_vmx_vmexit", "exit qualification 0x181, guest-physical address 0x300000, and L2's registers (CR3 0x100000) (sync_vmcs02_to_vmcs12, prepare_vmcs12)."},
				645: {"translate_nested_gpa", "L2 GPA 0x101000 is not an address KVM can read; guest_mmu's gva_to_gpa (ept_gva_to_gpa) translates it through L1's nested table, as a user access"},
				652: {"translate_nested_gpa", "L2 GPA 0x102000 is not an address KVM can read; guest_mmu's gva_to_gpa (ept_gva_to_gpa) translates it through L1's nested table, as a user access"},
				659: {"translate_nested_gpa", "L2 GPA 0x103000 is not an address KVM can read; guest_mmu's gva_to_gpa (ept_gva_to_gpa) translates it through L1's nested table, as a user access"},
				667: {"translate_nested_gpa", "L2 GPA 0x180123 is not an address KVM can read; guest_mmu's gva_to_gpa (ept_gva_to_gpa) translates it through L1's nested table, as a user access"},
				844: {"cpu", "24 memory references (92 in all over 6 attempts)."},
				845: {"invariants", "4 shadow page(s) (1 at level 4, 1 at level 3, 1 at level 2, 1 at level 1): 1 held as roots, 0 passthrough, 0 direct, 1 unsync, 0 invalid."},
			},
			"constants-once": {
				7:   {"nested_ept_init_mmu_context", "vcpu->arch.walk_mmu = &nested_mmu (was root_mmu): software walks of L2's page tables use it, and it translates every L2 GPA they meet through"},
				10:  {"init_kvm_nested_mmu", "1 callbacks assigned (gva_to_gpa=paging64_gva_to_gpa); the constant ones were set once by kvm_init_mmu_constants."},
				839: {"invariants", "The shadow MMU's invariants hold: every present SPTE of a synced page grants no more than the guest's tables and the memslots allow and maps what"},
			},
		},
	},
}

// panelClaim is a row of the vCPU panel a lesson describes: at step, under
// variant, the box of the vCPU has a row whose name is row and whose value
// contains text.
type panelClaim struct {
	variant        string
	step           int
	box, row, text string
}

// rolesPanelClaims are what the lesson roles tells the reader to look for
// in the panel "vCPU MMU contexts".
var rolesPanelClaims = []panelClaim{
	{"valid", 1, "vcpu:0", "  masks", "STALE: reserved bits for MAXPHYADDR 46, CPUID says 39"},
	{"valid", 1, "vcpu:1", "  masks", "STALE: reserved bits for MAXPHYADDR 46, CPUID says 39"},
	{"valid", 2, "vcpu:0", "  root_role", "invalid"},
	{"valid", 2, "vcpu:0", "  masks", "marked stale by kvm_mmu_after_set_cpuid"},
	{"valid", 4, "vcpu:0", "  masks", "reserved bits for MAXPHYADDR 39"},
	{"level0", 2, "vcpu:0", "  cpu_role", "base{level=0 direct access=uwx}"},
	{"level0", 2, "vcpu:0", "  root_role", "level=0 direct"},
	{"level0", 5, "vcpu:1", "root_mmu", "no paging"},
	{"level0", 5, "vcpu:1", "  masks", "marked stale"},
	{"cpuid-stale", 2, "vcpu:0", "guest_mmu", "unused · no paging"},
	{"cpuid-stale", 2, "vcpu:0", "nested_mmu", "unused · no paging"},
	{"none", 4, "vcpu:0", "  masks", "STALE: reserved bits for MAXPHYADDR 46, CPUID says 39"},
	{"none", 97, "vcpu:0", "  masks", "reserved bits for MAXPHYADDR 39"},
	{"none", 192, "vcpu:1", "  masks", "STALE: reserved bits for MAXPHYADDR 46, CPUID says 39"},
}

// TestRolesLessonPanel checks that the vCPU panel shows what the lesson
// roles says it shows, under each variant it names.
func TestRolesLessonPanel(t *testing.T) {
	for _, c := range rolesPanelClaims {
		b, ok := layoutStep(t, timelineOf(t, "role-reconfig", c.variant), c.step).Box(c.box)
		if !ok {
			t.Errorf("%s step %d: no box %s", c.variant, c.step, c.box)
			continue
		}
		if got := panelRow(b, c.row); !strings.Contains(got, c.text) {
			t.Errorf("%s step %d, %s row %q is %q; the lesson says it shows %q", c.variant, c.step, c.box, c.row, got, c.text)
		}
	}
}

// timelineOf is the timeline of the built-in scenario name under variant.
func timelineOf(t *testing.T, name, variant string) *mmu.Timeline {
	t.Helper()
	s, err := scenarios.LoadBuiltinVariant(name, variant)
	if err != nil {
		t.Fatal(err)
	}
	return s.Timeline()
}

// layoutStep lays out step of tl on a 1600×1000 stage.
func layoutStep(t *testing.T, tl *mmu.Timeline, step int) *render.Scene {
	t.Helper()
	v, err := tl.Seek(step)
	if err != nil {
		t.Fatal(err)
	}
	return render.Layout(v, tl, render.Size{W: 1600, H: 1000})
}

// panelRow is the value of the first row of b named name, "" if none.
func panelRow(b *render.Box, name string) string {
	for _, r := range b.Rows {
		if len(r.Texts) >= 2 && r.Texts[len(r.Texts)-2].S == name {
			return r.Texts[len(r.Texts)-1].S
		}
	}
	return ""
}

// tdxPanelClaim is what the lesson tdx says a box (or, with box "", the
// panel's free text) of the TD panel shows at a step.
type tdxPanelClaim struct {
	step      int
	box, text string
}

// tdxPanelClaims are the panel details the lesson tdx points at.
var tdxPanelClaims = []tdxPanelClaim{
	{9, "mirror:0x103000", "(not linked yet)"},
	{9, "sept:0x101000", "0x104007"},
	{22, "", "nr_premapped 1"},
	{94, "sept:0x10a000", "PENDING"},
	{234, "shared:0x100000", "256 | 0x800000000010b907"},
	{240, "sept:0x10a000", "BLOCKED"},
	{241, "", "TD epoch 1"},
}

// TestTDXLessonPanel checks the TD panel against the lesson tdx, and that
// it links all 5 mirror pages to their S-EPT pages at the check (step 234).
func TestTDXLessonPanel(t *testing.T) {
	tl := timelineOf(t, "tdx-private-shared", "")
	panel := func(step int) *render.Panel {
		sc := layoutStep(t, tl, step)
		for i := range sc.Panels {
			if sc.Panels[i].ID == "tdx" {
				return &sc.Panels[i]
			}
		}
		t.Fatalf("step %d has no TD panel", step)
		return nil
	}
	for _, c := range tdxPanelClaims {
		p := panel(c.step)
		var got []string
		for _, tx := range p.Texts {
			if c.box == "" {
				got = append(got, tx.S)
			}
		}
		for i := range p.Boxes {
			if p.Boxes[i].ID == c.box {
				got = append(got, boxText(&p.Boxes[i]))
			}
		}
		if all := strings.Join(got, "\n"); !strings.Contains(all, c.text) {
			t.Errorf("step %d, %q of the TD panel is %q; the lesson says it shows %q", c.step, c.box, all, c.text)
		}
	}
	links := 0
	for _, e := range panel(234).Edges {
		if strings.HasPrefix(e.ID, "tdx-mirror:") && e.Dashed {
			links++
		}
	}
	if links != 5 {
		t.Errorf("step 234: %d dashed mirror → S-EPT links; the lesson says 5", links)
	}
}

// boxText is a box's title and rows, cells joined by " | ", rows by "\n".
func boxText(b *render.Box) string {
	var lines []string
	for _, tx := range b.Title {
		lines = append(lines, tx.S)
	}
	for _, r := range b.Rows {
		var cells []string
		for _, tx := range r.Texts {
			cells = append(cells, tx.S)
		}
		lines = append(lines, strings.Join(cells, " | "))
	}
	return strings.Join(lines, "\n")
}

// nestedPanelClaims are the vCPU panel rows the lesson nested cites: the
// two pointers around the first VM-entry and the callback counter of
// each variant (the table at the end of the lesson).
var nestedPanelClaims = []struct {
	variant   string
	step      int
	row, text string
}{
	{"upstream", 1, "arch.mmu", "root_mmu"},
	{"upstream", 5, "arch.mmu", "guest_mmu"},
	{"upstream", 5, "walk_mmu", "root_mmu"},
	{"upstream", 8, "walk_mmu", "nested_mmu"},
	{"upstream", 1, "callback writes", "12 so far"},
	{"upstream", 19, "callback writes", "22 so far"},
	{"upstream", 332, "callback writes", "25 so far"},
	{"upstream", 289, "arch.mmu", "root_mmu"},
	{"upstream", 289, "walk_mmu", "root_mmu"},
	{"upstream", 845, "callback writes", "37 so far"},
	{"constants-once", 1, "callback writes", "15 so far"},
	{"constants-once", 18, "callback writes", "19 so far"},
	{"constants-once", 839, "callback writes", "19 so far"},
	{"constants-once", 839, "  callbacks", "get_pdptr=NULL"},
}

// TestNestedLessonPanel checks the vCPU panel against the lesson nested.
func TestNestedLessonPanel(t *testing.T) {
	for _, c := range nestedPanelClaims {
		b, ok := layoutStep(t, timelineOf(t, "nested-ept", c.variant), c.step).Box("vcpu:0")
		if !ok {
			t.Fatalf("%s step %d: no vCPU panel", c.variant, c.step)
		}
		if !panelRows(b, c.row, c.text) {
			t.Errorf("%s step %d: no row %q of vcpu:0 contains %q:\n%s", c.variant, c.step, c.row, c.text, boxText(b))
		}
	}
}

// panelRows reports whether a row of b named name has a value containing
// text (a context's callbacks take two rows, so every such row is tried).
func panelRows(b *render.Box, name, text string) bool {
	for _, r := range b.Rows {
		n := len(r.Texts)
		if n >= 2 && r.Texts[n-2].S == name && strings.Contains(r.Texts[n-1].S, text) {
			return true
		}
	}
	return false
}
