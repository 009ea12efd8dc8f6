package main

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"mmuviz/lessons"
	"mmuviz/mmu"
	"mmuviz/scenarios"
)

// variantLesson ties a lesson to the trace of the variant its front matter
// names ("" for a scenario without variants). pins holds the event at
// every step marker and jump link, as pinnedLessons does; claims holds the
// events at other steps whose numbers the prose cites, by variant ("" is
// the default), so that what a lesson says about another variant, which
// the student reaches through the Variant select, is checked too.
type variantLesson struct {
	lesson, scenario, variant string
	steps                     int                    // the timeline's length under variant
	pins                      map[int]pin            // every marker and jump link
	claims                    map[string]map[int]pin // by variant, then step
}

// variantLessons are the lessons on shadow paging and on roots.
var variantLessons = []variantLesson{
	{
		lesson: "shadow-4level", scenario: "shadow-4level", steps: 297,
		pins: map[int]pin{
			1:   {"cpu", "vCPU 0 runs the guest: a read as user of GVA 0x400123 with 4-level paging under shadow paging"},
			2:   {"kvm_mmu_alloc_shadow_page", "no valid page in bucket 3208 has GFN 0x100 and role level=4 access=uwx efer_nx cr0_wp, so KVM takes a new level-4 shadow page at HPA 0x101000,"},
			3:   {"__kvm_write_track_add_gfn", "GFN 0x100 is an upper-level guest table that KVM now shadows: __kvm_write_track_add_gfn adds it to gfn_write_track (count 1)"},
			6:   {"kvm_mmu_load_pgd", "KVM's root at HPA 0x101000 (vmx_load_mmu_pgd), not the guest's CR3 0x100000"},
			8:   {"cpu", "#PF in the shadow tables: the level-4 SPTE is not present (error code 0x4 = U)"},
			11:  {"paging64_page_fault", "kvm_mmu_do_page_fault → paging64_page_fault (FNAME(page_fault)): KVM walks the guest's own tables in software"},
			17:  {"update_accessed_dirty_bits", "The walk succeeded, so A is set in the PML4E at GPA 0x100000 (0x101007 → 0x101027)."},
			21:  {"kvm_mmu_alloc_shadow_page", "no valid page in bucket 676 has GFN 0x101 and role level=3 access=uwx efer_nx cr0_wp, so KVM takes a new level-3 shadow page at HPA 0x102000,"},
			23:  {"link_shadow_page", "points the SPTE at HPA 0x101000 to the level-3 shadow page at HPA 0x102000 (GFN 0x101) (0x8000000000000000 → 0x102827:"},
			27:  {"kvm_mmu_alloc_shadow_page", "no valid page in bucket 3805 has GFN 0x103 and role level=1 access=uwx efer_nx cr0_wp, so KVM takes a new level-1 shadow page at HPA 0x104000,"},
			30:  {"mmu_set_spte", "maps GFN 0x200 (a 4 KiB page) to host frame 0x10200 with read, user and supervisor; SPTE at HPA 0x104000 0x8000000000000000 → 0x10200a25 (P U A)"},
			37:  {"cpu", "GVA 0x400123 → HPA 0x10200123 through a 4 KiB shadow page (GPA 0x200123 as KVM shadowed it); 4 memory references (5 in all over 2 attempts)"},
			38:  {"cpu", "vCPU 0 runs the guest: a read as user of GVA 0x400123 with 4-level paging under shadow paging"},
			43:  {"cpu", "GVA 0x400123 → HPA 0x10200123 through a 4 KiB shadow page (GPA 0x200123 as KVM shadowed it); 4 memory references"},
			44:  {"cpu", "vCPU 0 runs the guest: a write as user of GVA 0x401008 with 4-level paging under shadow paging"},
			62:  {"mmu_set_spte", "maps GFN 0x201 (a 4 KiB page) to host frame 0x10201 with read/write, user and supervisor; SPTE at HPA 0x104008 0x8000000000000000 → 0x10201e67 (P W U A D)"},
			70:  {"cpu", "vCPU 0 runs the guest: a read as user of GVA 0x402000 with 4-level paging under shadow paging"},
			88:  {"mmu_set_spte", "maps GFN 0x202 (a 4 KiB page) to host frame 0x10202 with read, user and supervisor; SPTE at HPA 0x104010 0x8000000000000000 → 0x10202a25 (P U A)"},
			101: {"cpu", "which does not allow a write as user (the processor runs them with CR0.WP=1) (error code 0x7 = P W U)"},
			110: {"kvm_inject_emulated_page_fault", "KVM injects #PF (error code 0x7, CR2 = 0x402000)"},
			111: {"kvm_handle_page_fault", "The guest stores to GPA 0x103010, which holds a guest page table that KVM shadows: every SPTE mapping GFN 0x103 is"},
			112: {"emulator_write_phys", "KVM performs the 8-byte store (0x202025 → 0x202007), then calls kvm_page_track_write."},
			114: {"kvm_mmu_track_write", "the SPTE at HPA 0x104010 (0x10202a25, P U A) becomes SHADOW_NONPRESENT_VALUE"},
			116: {"cpu", "vCPU 0 runs the guest: a write as user of GVA 0x402000 with 4-level paging under shadow paging"},
			134: {"mmu_set_spte", "maps GFN 0x202 (a 4 KiB page) to host frame 0x10202 with read/write, user and supervisor; SPTE at HPA 0x104010 0x8000000000000000 → 0x10202e67 (P W U A D)"},
			141: {"cpu", "GVA 0x402000 → HPA 0x10202000 through a 4 KiB shadow page (GPA 0x202000 as KVM shadowed it); 4 memory references (8 in all over 2 attempts)"},
			142: {"cpu", "vCPU 0 runs the guest: a write as supervisor of GVA 0x600008 with 4-level paging under shadow paging"},
			153: {"walk_addr_generic", "the PTE at GPA 0x104000 (HPA 0x10104000) is 0x103003"},
			159: {"kvm_mmu_alloc_shadow_page", "no valid page in bucket 1274 has GFN 0x104 and role level=1 access=uwx efer_nx cr0_wp, so KVM takes a new level-1 shadow page at HPA 0x105000,"},
			162: {"kvm_unsync_page", "so the level-1 shadow page at HPA 0x104000 (GFN 0x103) becomes unsync"},
			174: {"guest store", "The store completes: 8 bytes of 0x203067 at GPA 0x103008 (HPA 0x10103008; was 0x201067)."},
			179: {"cpu", "its entry at HPA 0x104008 is 0x10201e67 (P W U A D: it maps a 4 KiB page at HPA 0x10201000)"},
			181: {"kvm_mmu_invlpg", "VM exit (INVLPG 0x401000)"},
			182: {"paging64_sync_spte", "the SPTE at HPA 0x104008 (0x10201e67, P W U A D) becomes SHADOW_NONPRESENT_VALUE: the guest's PTE at GPA 0x103008 now maps GFN 0x203, not 0x201"},
			202: {"mmu_set_spte", "maps GFN 0x203 (a 4 KiB page) to host frame 0x10203 with read/write, user and supervisor; SPTE at HPA 0x104008 0x8000000000000000 → 0x10203e67 (P W U A D)"},
			209: {"cpu", "GVA 0x401000 → HPA 0x10203000 through a 4 KiB shadow page (GPA 0x203000 as KVM shadowed it); 4 memory references (8 in all over 2 attempts)"},
			210: {"cpu", "vCPU 0 runs the guest: a write as supervisor of GVA 0x600010 with 4-level paging under shadow paging"},
			216: {"guest store", "The store completes: 8 bytes of 0x0 at GPA 0x103010 (HPA 0x10103010; was 0x202067)."},
			222: {"cpu", "GVA 0x402000 → HPA 0x10202000 through a 4 KiB shadow page (GPA 0x202000 as KVM shadowed it); 4 memory references"},
			223: {"kvm_set_cr3", "cr3 ← 0x100000."},
			226: {"spte_write_protect", "the SPTE at HPA 0x105000 loses W and MMU-writable (0x10103e63 → 0x10103a61): GFN 0x103 is a guest page table being"},
			229: {"paging64_sync_spte", "the SPTE at HPA 0x104010 (0x10202e67, P W U A D) becomes SHADOW_NONPRESENT_VALUE: the guest's PTE at GPA 0x103010 is now 0x0: not present"},
			232: {"cpu", "vCPU 0 runs the guest: a read as user of GVA 0x402000 with 4-level paging under shadow paging"},
			247: {"cpu", "vCPU 0 runs the guest: a write as supervisor of GVA 0x601010 with 4-level paging under shadow paging"},
			265: {"mmu_set_spte", "but read-only: GFN 0x102 holds a guest page table that KVM shadows and cannot unsync (mmu_try_to_unsync_pages refused); SPTE at HPA 0x105008 0x8000000000000000 → 0x10102a21 (P A)"},
			267: {"kvm_mmu_write_protect_fault", "RET_PF_WRITE_PROTECTED: the write goes to a guest page table that KVM keeps read-only, so KVM emulates the instruction"},
			271: {"kvm_mmu_track_write", "the SPTE at HPA 0x103010 (0x104827, P W U A) becomes SHADOW_NONPRESENT_VALUE"},
			288: {"kvm_mmu_find_shadow_page", "bucket 3805 of mmu_page_hash (hash_64 of GFN 0x103) holds the level-1 shadow page at HPA 0x104000 (GFN 0x103) with the"},
			295: {"cpu", "GVA 0x400123 → HPA 0x10200123 through a 4 KiB shadow page (GPA 0x200123 as KVM shadowed it); 4 memory references (7 in all over 2 attempts)"},
			296: {"invariants", "5 shadow page(s) (1 at level 4, 1 at level 3, 1 at level 2, 2 at level 1): 1 held as roots, 0 passthrough, 0 direct, 0 unsync, 0 invalid"},
		},
		claims: map[string]map[int]pin{"": {
			246: {"kvm_inject_emulated_page_fault", "KVM injects #PF (error code 0x4, CR2 = 0x402000)"},
			277: {"cpu", "#PF in the shadow tables: the level-2 SPTE is not present (error code 0x4 = U)"},
			16:  {"permission_fault", "a read as user is allowed"},
			28:  {"account_shadowed", "It is a leaf table, so it is not write-tracked"},
			58:  {"update_accessed_dirty_bits", "A and D are set in the PTE at GPA 0x103008 (0x201007 → 0x201067)"},
			109: {"walk_addr_generic", "the walk grants read, user and supervisor; a write to a read-only page"},
			121: {"cpu", "the level-1 SPTE is not present (error code 0x6 = W U)"},
			145: {"cpu", "its entry at HPA 0x103018 is 0x8000000000000000 (not present)"},
			163: {"mark_unsync", "bit 2 of the unsync_child_bitmap of the level-2 shadow page"},
			165: {"mark_unsync", "bit 0 of the unsync_child_bitmap of the level-4 shadow page"},
			166: {"mmu_set_spte", "SPTE at HPA 0x105000 0x8000000000000000 → 0x10103e63 (P W A D)"},
			180: {"cpu", "The path went through an unsync shadow page"},
			184: {"kvm_mmu_invalidate_addr", "the page stays unsync"},
			224: {"kvm_invalidate_pcid", "KVM_REQ_MMU_SYNC"},
			225: {"kvm_mmu_sync_roots", "mmu_sync_children follows unsync_child_bitmap down"},
			228: {"kvm_unlink_unsync_page", "the level-1 shadow page at HPA 0x104000 (GFN 0x103) is write-protected again"},
			231: {"mmu_sync_children", "1 unsync page(s) below the level-4 shadow page at HPA 0x101000"},
			244: {"walk_addr_generic", "the PTE at GPA 0x103010 (HPA 0x10103010) is 0x0: not present"},
			268: {"emulator_write_phys", "(0x103027 → 0x103027)"},
			270: {"detect_write_flooding", "write_flooding_count of the level-2 shadow page at HPA 0x103000 (GFN 0x102) is now 1"},
			289: {"link_shadow_page", "points the SPTE at HPA 0x103010 to the level-1 shadow page at HPA 0x104000 (GFN 0x103)"},
		}},
	},
	{
		lesson: "shadow-32bit", scenario: "shadow-32bit", steps: 206,
		pins: map[int]pin{
			1:   {"cpu", "vCPU 0 runs the guest: a read as user of GVA 0x400123 with 32-bit 2-level paging under shadow paging"},
			2:   {"kvm_mmu_alloc_shadow_page", "no valid page in bucket 3208 has GFN 0x100 and role level=2 has_4_byte_gpte access=uwx efer_nx cr0_wp, so KVM takes a new level-2 shadow page at HPA 0x101000,"},
			5:   {"mmu_alloc_shadow_roots", "pae_root[0] = 0x101001 points to the level-2 shadow page at HPA 0x101000 (GFN 0x100)"},
			6:   {"kvm_mmu_alloc_shadow_page", "no valid page in bucket 3208 has GFN 0x100 and role level=2 has_4_byte_gpte quadrant=1 access=uwx efer_nx cr0_wp, so KVM takes a new level-2 shadow page at HPA 0x102000,"},
			17:  {"mmu_alloc_shadow_roots", "pae_root[3] = 0x104001 points to the level-2 shadow page at HPA 0x104000 (GFN 0x100, quadrant 3)"},
			19:  {"kvm_mmu_load_pgd", "KVM's root at HPA 0x100000 (vmx_load_mmu_pgd), not the guest's CR3 0x100000; the processor walks 3 shadow levels"},
			20:  {"cpu", "select PDPTE 0, which the processor loaded from pae_root at HPA 0x100000 at VM entry; its entry at HPA 0x100000 is 0x101001 (P: the next table is the level-2 shadow page at HPA 0x101000 (GFN 0x100)). No memory reference"},
			21:  {"cpu", "GVA bits 29:21 = 2 index the level-2 shadow page at HPA 0x101000 (GFN 0x100); its entry at HPA 0x101010 is 0x8000000000000000 (not present)"},
			25:  {"paging32_page_fault", "kvm_mmu_do_page_fault → paging32_page_fault (FNAME(page_fault)): KVM walks the guest's own tables in software"},
			31:  {"kvm_mmu_alloc_shadow_page", "no valid page in bucket 676 has GFN 0x101 and role level=1 has_4_byte_gpte access=uwx efer_nx cr0_wp, so KVM takes a new level-1 shadow page at HPA 0x105000,"},
			33:  {"link_shadow_page", "points the SPTE at HPA 0x101010 to the level-1 shadow page at HPA 0x105000 (GFN 0x101) (0x8000000000000000 → 0x105827:"},
			34:  {"mmu_set_spte", "maps GFN 0x200 (a 4 KiB page) to host frame 0x10200 with read, user and supervisor; SPTE at HPA 0x105000 0x8000000000000000 → 0x10200a25 (P U A)"},
			40:  {"cpu", "GVA 0x400123 → HPA 0x10200123 through a 4 KiB shadow page (GPA 0x200123 as KVM shadowed it); 2 memory references (3 in all over 2 attempts)"},
			41:  {"cpu", "vCPU 0 runs the guest: a read as user of GVA 0x600123 with 32-bit 2-level paging under shadow paging"},
			43:  {"cpu", "GVA bits 29:21 = 3 index the level-2 shadow page at HPA 0x101000 (GFN 0x100); its entry at HPA 0x101018 is 0x8000000000000000 (not present)"},
			49:  {"walk_addr_generic", "the PTE at GPA 0x101800 (HPA 0x10101800) is 0x300007"},
			52:  {"kvm_mmu_alloc_shadow_page", "no valid page in bucket 676 has GFN 0x101 and role level=1 has_4_byte_gpte quadrant=1 access=uwx efer_nx cr0_wp, so KVM takes a new level-1 shadow page at HPA 0x106000,"},
			54:  {"link_shadow_page", "points the SPTE at HPA 0x101018 to the level-1 shadow page at HPA 0x106000 (GFN 0x101, quadrant 1) (0x8000000000000000 → 0x106827:"},
			61:  {"cpu", "GVA 0x600123 → HPA 0x10300123 through a 4 KiB shadow page (GPA 0x300123 as KVM shadowed it); 2 memory references (3 in all over 2 attempts)"},
			62:  {"cpu", "vCPU 0 runs the guest: a write as supervisor of GVA 0xc0001000 with 32-bit 2-level paging under shadow paging"},
			69:  {"walk_addr_generic", "the PDE at GPA 0x100c00 (HPA 0x10100c00) is 0x102007 (P W U)"},
			76:  {"link_shadow_page", "points the SPTE at HPA 0x104000 to the level-1 shadow page at HPA 0x107000 (GFN 0x102) (0x8000000000000000 → 0x107827:"},
			77:  {"mmu_set_spte", "maps GFN 0x400 (a 4 KiB page) to host frame 0x10400 with read/write, supervisor only; SPTE at HPA 0x107008 0x8000000000000000 → 0x10400e63 (P W A D)"},
			83:  {"cpu", "GVA 0xc0001000 → HPA 0x10400000 through a 4 KiB shadow page (GPA 0x400000 as KVM shadowed it); 2 memory references (3 in all over 2 attempts)"},
			84:  {"cpu", "vCPU 0 runs the guest: a read as user of GVA 0x800000 with 32-bit 2-level paging under shadow paging"},
			91:  {"walk_addr_generic", "the PDE at GPA 0x100008 (HPA 0x10100008) is 0x4000087 (P W U PS)"},
			94:  {"kvm_mmu_hugepage_adjust", "the guest maps a 4 MiB page; KVM maps it with 2 MiB SPTEs: the 2 MiB page lies in memslot 1 and the host maps it alike."},
			95:  {"mmu_set_spte", "maps GFN 0x4000 (a 2 MiB page) to host frame 0x20000 with read, user and supervisor; SPTE at HPA 0x101020 0x8000000000000000 → 0x20000aa5 (P U A PS)"},
			100: {"cpu", "GVA 0x800000 → HPA 0x20000000 through a 2 MiB shadow page (GPA 0x4000000 as KVM shadowed it); 1 memory reference (2 in all over 2 attempts)"},
			101: {"cpu", "vCPU 0 runs the guest: a read as user of GVA 0xa00000 with 32-bit 2-level paging under shadow paging"},
			111: {"mmu_set_spte", "maps GFN 0x4200 (a 2 MiB page) to host frame 0x20200 with read, user and supervisor; SPTE at HPA 0x101028 0x8000000000000000 → 0x20200aa5 (P U A PS)"},
			116: {"cpu", "GVA 0xa00000 → HPA 0x20200000 through a 2 MiB shadow page (GPA 0x4200000 as KVM shadowed it); 1 memory reference (2 in all over 2 attempts)"},
			117: {"cpu", "vCPU 0 runs the guest: a read as supervisor of GVA 0x1000000 with 32-bit 2-level paging under shadow paging"},
			127: {"kvm_mmu_hugepage_adjust", "the guest maps a 4 MiB page; KVM maps it with 4 KiB SPTEs: the host maps the memslot with 4 KiB pages"},
			128: {"kvm_mmu_alloc_shadow_page", "no valid page in bucket 2182 has GFN 0x1000 and role level=1 has_4_byte_gpte direct access=--x efer_nx cr0_wp, so KVM takes a new level-1 shadow page at HPA 0x108000,"},
			130: {"mmu_set_spte", "maps GFN 0x1000 (a 4 KiB page) to host frame 0x11000 with read, supervisor only; SPTE at HPA 0x108000 0x8000000000000000 → 0x11000a21 (P A)"},
			136: {"cpu", "GVA 0x1000000 → HPA 0x11000000 through a 4 KiB shadow page (GPA 0x1000000 as KVM shadowed it); 2 memory references (3 in all over 2 attempts)"},
			137: {"kvm_handle_page_fault", "The guest stores to GPA 0x100008"},
			139: {"kvm_mmu_track_write", "the guest wrote 4 bytes at GPA 0x100008; 4 valid shadow page(s) shadow guest entries at GFN 0x100."},
			144: {"kvm_mmu_track_write", "the SPTE at HPA 0x101020 (0x20000aa5, P U A PS) becomes SHADOW_NONPRESENT_VALUE"},
			147: {"cpu", "vCPU 0 runs the guest: a read as user of GVA 0x800000 with 32-bit 2-level paging under shadow paging"},
			158: {"mmu_set_spte", "maps GFN 0x4000 (a 2 MiB page) to host frame 0x20000 with read, user and supervisor; SPTE at HPA 0x101020 0x8000000000000000 → 0x20000aa5 (P U A PS)"},
			174: {"mmu_set_spte", "maps GFN 0x4200 (a 2 MiB page) to host frame 0x20200 with read, user and supervisor; SPTE at HPA 0x101028 0x8000000000000000 → 0x20200aa5 (P U A PS)"},
			180: {"kvm_handle_page_fault", "The guest stores to GPA 0x101000"},
			182: {"kvm_mmu_track_write", "the guest wrote 4 bytes at GPA 0x101000; 2 valid shadow page(s) shadow guest entries at GFN 0x101."},
			183: {"kvm_mmu_track_write", "the SPTE at HPA 0x105000 (0x10200a25, P U A) becomes SHADOW_NONPRESENT_VALUE"},
			185: {"cpu", "vCPU 0 runs the guest: a read as user of GVA 0x400123 with 32-bit 2-level paging under shadow paging"},
			198: {"mmu_set_spte", "maps GFN 0x202 (a 4 KiB page) to host frame 0x10202 with read, user and supervisor; SPTE at HPA 0x105000 0x8000000000000000 → 0x10202a25 (P U A)"},
			204: {"cpu", "GVA 0x400123 → HPA 0x10202123 through a 4 KiB shadow page (GPA 0x202123 as KVM shadowed it); 2 memory references (4 in all over 2 attempts)"},
			205: {"invariants", "8 shadow page(s) (4 at level 2, 4 at level 1): 4 held as roots, 0 passthrough, 1 direct, 0 unsync, 0 invalid"},
		},
		claims: map[string]map[int]pin{"": {
			3:   {"__kvm_write_track_add_gfn", "gfn_write_track (count 1)"},
			7:   {"__kvm_write_track_add_gfn", "gfn_write_track (count 2)"},
			26:  {"walk_addr_generic", "the PDE at GPA 0x100004 (HPA 0x10100004) is 0x101007"},
			138: {"emulator_write_phys", "the 4-byte store (0x40000a7 → 0x4000085)"},
			140: {"detect_write_flooding", "quadrant 3) is now 1"},
			143: {"detect_write_flooding", "at HPA 0x101000 (GFN 0x100) is now 1"},
			145: {"kvm_mmu_track_write", "the SPTE at HPA 0x101028 (0x20200aa5, P U A PS) becomes SHADOW_NONPRESENT_VALUE"},
			163: {"cpu", "1 memory reference (2 in all over 2 attempts)"},
			179: {"cpu", "1 memory reference (2 in all over 2 attempts)"},
			181: {"emulator_write_phys", "the 4-byte store (0x200027 → 0x202007)"},
		}},
	},
	{
		lesson: "two-level-on-five-level", scenario: "shadow-2level-on-5level", variant: "merged", steps: 187,
		pins: map[int]pin{
			1:   {"cpu", "vCPU 0 runs the guest: a read as user of GVA 0x400123 with 32-bit 2-level paging under shadow paging"},
			2:   {"mmu_alloc_special_roots", "the guest's tables have 2 levels but KVM's root has 5, so KVM takes a zeroed page for pml4_root at HPA 0x101000"},
			3:   {"mmu_alloc_special_roots", "the guest's tables have 2 levels but KVM's root has 5, so KVM takes a zeroed page for pml5_root at HPA 0x102000"},
			4:   {"mmu_alloc_shadow_roots", "pml4_root[0] = 0x100027: pae_root at HPA 0x100000"},
			5:   {"mmu_alloc_shadow_roots", "pml5_root[0] = 0x101027: pml4_root at HPA 0x101000"},
			6:   {"kvm_mmu_alloc_shadow_page", "no valid page in bucket 3208 has GFN 0x100 and role level=2 has_4_byte_gpte access=uwx efer_nx cr0_wp, so KVM takes a new level-2 shadow page at HPA 0x103000,"},
			9:   {"mmu_alloc_shadow_roots", "pae_root[0] = 0x103027 points to the level-2 shadow page at HPA 0x103000 (GFN 0x100)"},
			21:  {"mmu_alloc_shadow_roots", "pae_root[3] = 0x106027 points to the level-2 shadow page at HPA 0x106000 (GFN 0x100, quadrant 3)"},
			23:  {"kvm_mmu_load_pgd", "while the guest runs, the processor's CR3 is KVM's root at HPA 0x102000 (vmx_load_mmu_pgd), not the guest's CR3"},
			24:  {"cpu", "index pml5_root at HPA 0x102000; its entry at HPA 0x102000 is 0x101027"},
			27:  {"cpu", "its entry at HPA 0x103010 is 0x8000000000000000 (not present)"},
			31:  {"paging32_page_fault", "kvm_mmu_do_page_fault → paging32_page_fault (FNAME(page_fault)): KVM walks the guest's own tables in software"},
			37:  {"kvm_mmu_alloc_shadow_page", "no valid page in bucket 676 has GFN 0x101 and role level=1 has_4_byte_gpte access=uwx efer_nx cr0_wp, so KVM takes a new level-1 shadow page at HPA 0x107000,"},
			48:  {"cpu", "GVA 0x400123 → HPA 0x10200123 through a 4 KiB shadow page (GPA 0x200123 as KVM shadowed it); 5 memory references (9 in all over 2 attempts)"},
			49:  {"cpu", "vCPU 0 runs the guest: a read as supervisor of GVA 0xc0000123 with 32-bit 2-level paging under shadow paging"},
			63:  {"kvm_mmu_alloc_shadow_page", "no valid page in bucket 2241 has GFN 0x102 and role level=1 has_4_byte_gpte access=uwx efer_nx cr0_wp, so KVM takes a new level-1 shadow page at HPA 0x108000,"},
			75:  {"invariants", "6 shadow page(s) (4 at level 2, 2 at level 1): 4 held as roots, 0 passthrough, 0 direct, 0 unsync, 0 invalid; vCPU 0 also has pml5_root, pml4_root, pae_root (not shadow pages)"},
			76:  {"kvm_set_cr3", "cr3 ← 0x200000."},
			77:  {"kvm_mmu_free_roots", "kvm_mmu_free_roots(KVM_MMU_ROOT_CURRENT): fast_pgd_switch: the current root has no shadow page behind it (pae_root, special or dummy roots cannot be cached), so vCPU 0 lets go of its root at HPA 0x102000"},
			78:  {"mmu_free_root_page", "root_count of the level-2 shadow page at HPA 0x103000 (GFN 0x100) 1 → 0; it stays in mmu_page_hash with its SPTEs, to"},
			79:  {"kvm_mmu_free_roots", "pae_root[0] = INVALID_PAE_ROOT (was 0x103027)."},
			87:  {"kvm_mmu_alloc_shadow_page", "no valid page in bucket 2320 has GFN 0x200 and role level=2 has_4_byte_gpte access=uwx efer_nx cr0_wp, so KVM takes a new level-2 shadow page at HPA 0x109000,"},
			102: {"mmu_alloc_shadow_roots", "pae_root[3] = 0x10c027 points to the level-2 shadow page at HPA 0x10c000 (GFN 0x200, quadrant 3)"},
			104: {"kvm_mmu_load_pgd", "while the guest runs, the processor's CR3 is KVM's root at HPA 0x102000 (vmx_load_mmu_pgd), not the guest's CR3"},
			105: {"cpu", "vCPU 0 runs the guest: a read as user of GVA 0x400123 with 32-bit 2-level paging under shadow paging"},
			130: {"cpu", "GVA 0x400123 → HPA 0x10400123 through a 4 KiB shadow page (GPA 0x400123 as KVM shadowed it); 5 memory references (9 in all over 2 attempts)"},
			131: {"cpu", "vCPU 0 runs the guest: a read as supervisor of GVA 0xc0000123 with 32-bit 2-level paging under shadow paging"},
			144: {"kvm_mmu_find_shadow_page", "holds the level-1 shadow page at HPA 0x108000 (GFN 0x102) with the same role"},
			153: {"invariants", "11 shadow page(s) (8 at level 2, 3 at level 1): 4 held as roots, 0 passthrough, 0 direct, 0 unsync, 0 invalid; vCPU 0 also has pml5_root, pml4_root, pae_root (not shadow pages)"},
			154: {"kvm_set_cr3", "cr3 ← 0x100000."},
			155: {"kvm_mmu_free_roots", "kvm_mmu_free_roots(KVM_MMU_ROOT_CURRENT): fast_pgd_switch: the current root has no shadow page behind it (pae_root, special or dummy roots cannot be cached), so vCPU 0 lets go of its root at HPA 0x102000"},
			165: {"kvm_mmu_find_shadow_page", "holds the level-2 shadow page at HPA 0x103000 (GFN 0x100) with the same role"},
		},
		claims: map[string]map[int]pin{
			"merged": {
				145: {"link_shadow_page", "points the SPTE at HPA 0x10c000 to the level-1 shadow page at HPA 0x108000 (GFN 0x102)"},
				176: {"mmu_alloc_shadow_roots", "pae_root[3] = 0x106027"},
				185: {"cpu", "5 memory references."},
				186: {"invariants", "11 shadow page(s) (8 at level 2, 3 at level 1): 4 held as roots, 0 passthrough, 0 direct, 0 unsync, 0 invalid; vCPU 0 also has pml5_root, pml4_root, pae_root (not shadow pages)"},
			},
			"level-expanded": {
				2:   {"kvm_mmu_alloc_shadow_page", "role level=5 has_4_byte_gpte access=uwx efer_nx cr0_wp glevel=2, so KVM takes a new level-5 shadow page at HPA 0x101000"},
				3:   {"mmu_alloc_root", "the level-5 shadow page at HPA 0x101000 (GFN 0x100, passthrough) is a root of vCPU 0"},
				79:  {"invariants", "9 shadow page(s) (1 at level 5, 1 at level 4, 1 at level 3, 4 at level 2, 2 at level 1): 1 held as roots, 3 passthrough"},
				81:  {"cached_root_find_and_keep_current", "no cached root shadows CR3 0x200000. The root of CR3 0x100000 is kept in prev_roots ([0] CR3 0x100000 → HPA 0x101000"},
				157: {"invariants", "17 shadow page(s) (2 at level 5, 2 at level 4, 2 at level 3, 8 at level 2, 3 at level 1): 2 held as roots, 6 passthrough"},
				159: {"cached_root_find_and_keep_current", "prev_roots[0] shadows CR3 0x100000 with the current role (is_root_usable): it becomes the current root at HPA 0x101000"},
				160: {"kvm_mmu_new_pgd", "a cached root was found, so nothing is rebuilt"},
				169: {"cpu", "5 memory references."},
				170: {"invariants", "17 shadow page(s)"},
			},
		},
	},
	{
		lesson: "roots-obsolete", scenario: "roots-zap-obsolete", variant: "posted", steps: 212,
		pins: map[int]pin{
			1:   {"guest store", "The guest stores 0x101027 to GPA 0x180000 (8 bytes; was 0x0): no guest table that KVM shadows is there, so KVM does not"},
			3:   {"kvm_set_cr3", "cr3 ← 0x181000."},
			10:  {"cpu", "vCPU 0 runs the guest: a read as user of GVA 0x400000 with 4-level paging under shadow paging"},
			42:  {"cached_root_find_and_keep_current", "no cached root shadows CR3 0x180000. The root of CR3 0x181000 is kept in prev_roots ([0] CR3 0x181000 → HPA 0x102000, [1] empty, [2] empty)"},
			71:  {"cached_root_find_and_keep_current", "The root of CR3 0x180000 is kept in prev_roots ([0] CR3 0x180000 → HPA 0x106000, [1] CR3 0x181000 → HPA 0x102000, [2] empty)"},
			100: {"kvm_set_cr3", "cr3 ← 0x180000."},
			126: {"cached_root_find_and_keep_current", "The root of CR3 0x100000 is kept in prev_roots ([0] CR3 0x100000 → HPA 0x107000, [1] CR3 0x180000 → HPA 0x106000, [2] empty)"},
			138: {"invariants", "6 shadow page(s) (3 at level 4, 1 at level 3, 1 at level 2, 1 at level 1): 3 held as roots"},
			139: {"kvm_handle_page_fault", "The guest stores to GPA 0x181008, which holds a guest page table that KVM shadows: every SPTE mapping GFN 0x181 is"},
			142: {"detect_write_misaligned", "a 2-byte write at offset 0x8 does not update whole guest entries, so the guest is probably no longer using the page as"},
			145: {"kvm_mmu_prepare_zap_page", "is a root held 2 time(s), so it cannot be freed yet: role.invalid=1, and every vCPU gets KVM_REQ_MMU_FREE_OBSOLETE_ROOTS"},
			146: {"kvm_mmu_free_obsolete_roots", "on vCPU 0: the current root is not obsolete; the loop over its 2 cached root(s) tests mmu->root.hpa, the CURRENT root, for every prev_roots[i] (the bug of the posted patch). Roots freed: 0; kept: 3; valid roots freed needlessly: 0; obsolete roots left behind in prev_roots: 1"},
			147: {"cpu", "vCPU 1 runs the guest: a read as user of GVA 0x400000 with 4-level paging under shadow paging"},
			148: {"kvm_mmu_free_obsolete_roots", "on vCPU 1: the current root is obsolete; the loop over its 2 cached root(s) tests mmu->root.hpa, the CURRENT root, for every prev_roots[i] (the bug of the posted patch). Roots freed: 3; kept: 0; valid roots freed needlessly: 2; obsolete roots left behind in prev_roots: 0"},
			149: {"kvm_mmu_free_roots", "vCPU 1 lets go of the cached root of CR3 0x100000 at HPA 0x107000; prev_roots[0] becomes empty"},
			151: {"kvm_mmu_free_roots", "vCPU 1 lets go of the cached root of CR3 0x180000 at HPA 0x106000; prev_roots[1] becomes empty"},
			153: {"kvm_mmu_free_roots", "so vCPU 1 lets go of its root at HPA 0x102000"},
			155: {"kvm_mmu_alloc_shadow_page", "no valid page in bucket 233 has GFN 0x181 and role level=4 access=uwx efer_nx cr0_wp, so KVM takes a new level-4 shadow page at HPA 0x108000,"},
			161: {"cpu", "#PF in the shadow tables: the level-4 SPTE is not present (error code 0x4 = U)"},
			179: {"cpu", "GVA 0x400000 → HPA 0x10200000 through a 4 KiB shadow page (GPA 0x200000 as KVM shadowed it); 4 memory references (5 in all over 2 attempts)"},
			186: {"invariants", "vCPU 0 keeps an obsolete root in prev_roots[1] (CR3 0x181000, HPA 0x102000) with no request pending to free it: the zapped page stays allocated (the bug of seed 004 as posted, fixed by cf4a8693d97a). 7 shadow page(s) (4 at level 4, 1 at level 3, 1 at level 2, 1 at level 1): 4 held as roots, 0 passthrough, 0 direct, 0 unsync, 1 invalid"},
			188: {"cached_root_find_and_keep_current", "prev_roots[0] shadows CR3 0x180000 with the current role (is_root_usable): it becomes the current root at HPA 0x106000, and the root of CR3 0x100000 moves into prev_roots, most recent first: [0] CR3 0x100000 → HPA 0x107000, [1] CR3 0x181000 → HPA 0x102000"},
			199: {"cached_root_find_and_keep_current", "no cached root shadows CR3 0x180000. The root of CR3 0x181000 is kept in prev_roots ([0] CR3 0x181000 → HPA 0x108000"},
			211: {"invariants", "vCPU 0 keeps an obsolete root in prev_roots[1] (CR3 0x181000, HPA 0x102000) with no request pending to free it: the zapped page stays allocated (the bug of seed 004 as posted, fixed by cf4a8693d97a). 7 shadow page(s) (4 at level 4, 1 at level 3, 1 at level 2, 1 at level 1): 4 held as roots, 0 passthrough, 0 direct, 0 unsync, 1 invalid"},
		},
		claims: map[string]map[int]pin{
			"posted": {
				5:   {"kvm_mmu_alloc_shadow_page", "takes a new level-4 shadow page at HPA 0x102000"},
				7:   {"mmu_alloc_root", "root_count 0 → 1"},
				60:  {"kvm_mmu_find_shadow_page", "holds the level-3 shadow page at HPA 0x103000 (GFN 0x101)"},
				73:  {"kvm_mmu_alloc_shadow_page", "takes a new level-4 shadow page at HPA 0x107000"},
				103: {"mmu_alloc_root", "is a root of vCPU 1: root_count 1 → 2"},
				129: {"mmu_alloc_root", "(GFN 0x181) is a root of vCPU 1: root_count 1 → 2"},
				140: {"emulator_write_phys", "the 2-byte store"},
				154: {"mmu_free_root_page", "root_count of the level-4 shadow page at HPA 0x102000 (GFN 0x181) 2 → 1; another holder remains"},
				170: {"kvm_mmu_find_shadow_page", "holds the level-3 shadow page at HPA 0x103000 (GFN 0x101)"},
				189: {"kvm_mmu_new_pgd", "a cached root was found, so nothing is rebuilt"},
				201: {"kvm_mmu_find_shadow_page", "holds the level-4 shadow page at HPA 0x106000 (GFN 0x180)"},
				202: {"mmu_alloc_root", "root_count 1 → 2"},
			},
			"fixed": {
				146: {"kvm_mmu_free_obsolete_roots", "on vCPU 0: the current root is not obsolete; the loop over its 2 cached root(s) tests each prev_roots[i].hpa (cf4a8693d97a). Roots freed: 1; kept: 2; valid roots freed needlessly: 0; obsolete roots left behind in prev_roots: 0"},
				147: {"kvm_mmu_free_roots", "kvm_mmu_free_roots(KVM_MMU_ROOT_PREVIOUS(1))"},
				150: {"kvm_mmu_free_obsolete_roots", "on vCPU 1: the current root is obsolete; the loop over its 2 cached root(s) tests each prev_roots[i].hpa (cf4a8693d97a). Roots freed: 1; kept: 2; valid roots freed needlessly: 0; obsolete roots left behind in prev_roots: 0"},
				152: {"mmu_free_root_page", "1 → 0; it was already zapped (invalid), so now it is freed"},
				156: {"kvm_mmu_free_shadow_page", "the level-4 shadow page at HPA 0x102000 (GFN 0x181) leaves its hash bucket and its page is freed"},
				157: {"kvm_mmu_alloc_shadow_page", "takes a new level-4 shadow page at HPA 0x102000"},
				188: {"invariants", "6 shadow page(s) (3 at level 4, 1 at level 3, 1 at level 2, 1 at level 1): 3 held as roots, 0 passthrough, 0 direct, 0 unsync, 0 invalid"},
				190: {"cached_root_find_and_keep_current", "prev_roots[0] shadows CR3 0x180000"},
				201: {"cached_root_find_and_keep_current", "prev_roots[1] shadows CR3 0x180000"},
			},
			"reload-all": {
				145: {"kvm_mmu_prepare_zap_page", "every vCPU gets KVM_REQ_MMU_RELOAD"},
				146: {"kvm_mmu_unload", "vCPU 0 cannot tell which root was zapped, so kvm_mmu_unload frees all 3 of its roots"},
				153: {"kvm_mmu_find_shadow_page", "holds the level-4 shadow page at HPA 0x107000 (GFN 0x100)"},
				158: {"kvm_mmu_unload", "vCPU 1 cannot tell which root was zapped, so kvm_mmu_unload frees all 3 of its roots"},
				169: {"kvm_mmu_alloc_shadow_page", "no valid page in bucket 233 has GFN 0x181"},
				200: {"invariants", "6 shadow page(s) (3 at level 4, 1 at level 3, 1 at level 2, 1 at level 1): 2 held as roots, 0 passthrough, 0 direct, 0 unsync, 0 invalid"},
				202: {"cached_root_find_and_keep_current", "no cached root shadows CR3 0x180000"},
				215: {"cached_root_find_and_keep_current", "no cached root shadows CR3 0x180000"},
			},
		},
	},
}

// TestVariantLessons checks each lesson of variantLessons: it is built in,
// runs the scenario and variant it was written for, every marker and jump
// link sits on the event the prose explains, the steps it cites in any
// variant hold what it says, and it opens under every variant of its
// scenario (the page's Variant select reopens a lesson that way).
func TestVariantLessons(t *testing.T) {
	for _, vl := range variantLessons {
		t.Run(vl.lesson, func(t *testing.T) {
			h, err := lessons.BuiltinHandout(vl.lesson)
			if err != nil {
				t.Fatal(err)
			}
			l := h.Lesson
			if l.Scenario != vl.scenario || l.Variant != vl.variant {
				t.Fatalf("lesson %s follows scenario %q variant %q; its pins were written for %q variant %q",
					vl.lesson, l.Scenario, l.Variant, vl.scenario, vl.variant)
			}
			if vl.variant != "" && h.Scenario.Variant != vl.variant {
				t.Fatalf("lesson %s runs variant %q, not its front matter's %q", vl.lesson, h.Scenario.Variant, vl.variant)
			}
			if h.Timeline.Len() != vl.steps {
				t.Errorf("lesson %s was written for %d steps of %s, which now has %d: check every marker",
					vl.lesson, vl.steps, vl.scenario, h.Timeline.Len())
			}
			checkPinned(t, vl.lesson, l, h.Timeline, vl.pins)
			for variant, claims := range vl.claims {
				checkClaims(t, vl, variant, claims)
			}
			for _, v := range h.Scenario.Variants {
				s, err := scenarios.LoadBuiltinVariant(vl.scenario, v.Name)
				if err != nil {
					t.Fatal(err)
				}
				fresh, err := lessons.LoadBuiltin(vl.lesson)
				if err != nil {
					t.Fatal(err)
				}
				if err := fresh.Resolve(s.Timeline().Len()); err != nil {
					t.Errorf("lesson %s cannot be opened under variant %s: %v", vl.lesson, v.Name, err)
				}
			}
		})
	}
}

// checkPinned checks that every marker and jump link of lesson l is pinned
// and that each pinned step of tl is the event the prose was written for.
func checkPinned(t *testing.T, name string, l *lessons.Lesson, tl *mmu.Timeline, pins map[int]pin) {
	t.Helper()
	where := map[int]string{}
	for _, sec := range l.Sections {
		if sec.From > 0 {
			where[sec.From] = "marker <!-- step " + strconv.Itoa(sec.From) + " --> (line " + strconv.Itoa(sec.Line) + ")"
		}
	}
	src, err := os.ReadFile(filepath.Join("..", "..", "lessons", "content", name+".md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range jumpLink.FindAllStringSubmatch(string(src), -1) {
		n, _ := strconv.Atoi(m[1])
		if _, ok := where[n]; !ok {
			where[n] = "jump link (#step=" + m[1] + ")"
		}
	}
	for _, step := range slices.Sorted(maps.Keys(where)) {
		if _, ok := pins[step]; !ok {
			t.Errorf("lesson %s: %s is not pinned", name, where[step])
		}
	}
	for _, step := range slices.Sorted(maps.Keys(pins)) {
		at, ok := where[step]
		if !ok {
			t.Errorf("lesson %s: step %d is pinned but is neither a marker nor a jump link", name, step)
			continue
		}
		expectEvent(t, tl, step, pins[step], "lesson "+name+", "+at)
	}
}

// checkClaims checks the steps a lesson cites under one variant of its
// scenario.
func checkClaims(t *testing.T, vl variantLesson, variant string, claims map[int]pin) {
	t.Helper()
	s, err := scenarios.LoadBuiltinVariant(vl.scenario, variant)
	if err != nil {
		t.Fatalf("lesson %s: %v", vl.lesson, err)
	}
	tl := s.Timeline()
	if tl.Err != nil {
		t.Fatalf("lesson %s: %v", vl.lesson, s.ActionError(tl.ErrStep, tl.Err))
	}
	for _, step := range slices.Sorted(maps.Keys(claims)) {
		expectEvent(t, tl, step, claims[step], "lesson "+vl.lesson+", variant "+strconv.Quote(variant)+", cited step "+strconv.Itoa(step))
	}
}

// expectEvent checks the kernel function and narration of one step.
func expectEvent(t *testing.T, tl *mmu.Timeline, step int, want pin, at string) {
	t.Helper()
	v, err := tl.Seek(step)
	if err != nil {
		t.Errorf("%s: %v", at, err)
		return
	}
	if v.Event.Func != want.fn || !strings.Contains(v.Event.Text, want.text) {
		t.Errorf("%s: step %d is now [%s] %q;\nthe lesson was written for [%s] ...%q...", at, step, v.Event.Func, v.Event.Text, want.fn, want.text)
	}
}

// TestEveryLessonPinned: a new built-in lesson must be pinned to its trace
// (walk-4level is pinned by TestWalk4LevelAnchors).
func TestEveryLessonPinned(t *testing.T) {
	pinned := map[string]bool{"walk-4level": true}
	for _, pl := range pinnedLessons {
		pinned[pl.lesson] = true
	}
	for _, vl := range variantLessons {
		if pinned[vl.lesson] {
			t.Errorf("lesson %s is pinned twice", vl.lesson)
		}
		pinned[vl.lesson] = true
	}
	for _, name := range lessons.Builtin() {
		if !pinned[name] {
			t.Errorf("built-in lesson %s is not pinned: add it to variantLessons", name)
		}
		delete(pinned, name)
	}
	for name := range pinned {
		t.Errorf("lesson %s is pinned but not built in", name)
	}
}
