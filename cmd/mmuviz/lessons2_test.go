package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"mmuviz/lessons"
	"mmuviz/scenarios"
)

// pin is what a lesson expects at one step of its scenario's timeline: the
// kernel function of the step's event and a piece of its narration (the
// numbers the lesson cites).
type pin struct{ fn, text string }

// pinnedLesson ties a lesson to the exact trace it was written for.
type pinnedLesson struct {
	lesson, scenario string
	steps            int         // the timeline's length
	pins             map[int]pin // by step: every step marker and jump link
}

// pinnedLessons are the lessons on EPT and the guest paging modes. Every
// step marker <!-- step N --> and every jump link (#step=N) of each lesson
// is pinned, so that a change of the engine or of a scenario that moves
// the steps fails here, naming the lesson, the marker and what moved,
// instead of silently putting the prose beside the wrong picture. When a
// lesson gains a marker, pin it here too.
var pinnedLessons = []pinnedLesson{
	{
		lesson: "walk-2d-ept", scenario: "ept-4on4", steps: 170,
		pins: map[int]pin{
			1:   {"cpu", "read as user of GVA 0x400123"},
			2:   {"cpu", "The processor translates GPA 0x100000 (the guest's PML4)"},
			3:   {"cpu", "its entry at HPA 0x101000 is 0x8000000000102907"},
			5:   {"cpu", "its entry at HPA 0x103800 is 0x8600000010100a77"},
			6:   {"cpu", "sets A in the EPT PTE it used (0x8600000010100a77 → 0x8600000010100b77)"},
			7:   {"cpu", "the PML4E at GPA 0x100000 (HPA 0x10100000) is 0x101007"},
			8:   {"cpu", "The processor translates GPA 0x101000 (the guest's PDPT)"},
			14:  {"cpu", "The processor translates GPA 0x102010 (the guest's PD)"},
			20:  {"cpu", "The processor translates GPA 0x103000 (the guest's PT)"},
			26:  {"cpu", "a read as user is allowed"},
			27:  {"cpu", "The processor translates GPA 0x200123 (the final GPA)"},
			30:  {"cpu", "its entry at HPA 0x104000 is 0x10200837"},
			31:  {"cpu", "sets A in the EPT PTE it used (0x10200837 → 0x10200937)"},
			32:  {"cpu", "sets A in the guest's PML4E at GPA 0x100000 (0x101007 → 0x101027)"},
			36:  {"cpu", "GVA 0x400123 → GPA 0x200123 → HPA 0x10200123, a 4 KiB guest page; 24 memory references"},
			37:  {"cpu", "read as user of GVA 0x400123"},
			63:  {"cpu", "GVA 0x400123 → GPA 0x200123 → HPA 0x10200123, a 4 KiB guest page; 24 memory references"},
			64:  {"cpu", "write as user of GVA 0x400123"},
			90:  {"cpu", "sets D in the EPT PTE it used (0x10200937 → 0x10200b37)"},
			91:  {"cpu", "sets D in the guest's PTE at GPA 0x103000 (0x200027 → 0x200067)"},
			92:  {"cpu", "GVA 0x400123 → GPA 0x200123 → HPA 0x10200123, a 4 KiB guest page; 24 memory references"},
			93:  {"cpu", "read as supervisor of GVA 0x600abc"},
			108: {"cpu", "is 0x800083 (P W PS): it maps a 2 MiB page at GPA 0x800000"},
			110: {"cpu", "The processor translates GPA 0x800abc (the final GPA)"},
			116: {"cpu", "GVA 0x600abc → GPA 0x800abc → HPA 0x10800abc, a 2 MiB guest page; 19 memory references"},
			117: {"cpu", "read as user of GVA 0x40000123"},
			141: {"cpu", "The processor translates GPA 0x40000123 (the final GPA)"},
			143: {"cpu", "is 0x8600000080000af7 (R W X WB IPAT PS D): it maps a 2 MiB page at HPA 0x80000000"},
			148: {"cpu", "GVA 0x40000123 → GPA 0x40000123 → HPA 0x80000123, a 4 KiB guest page; 23 memory references"},
			149: {"cpu", "read as user of GVA 0x800000"},
			164: {"cpu", "the PDE at GPA 0x102020 (HPA 0x10102020) is 0x0"},
			165: {"cpu", "Error code 0x4 = U"},
			166: {"kvm_tdp_mmu_get_walk", "EPT PML4E[0] for GPA 0x200000 at HPA 0x100000 = 0x8000000000101907"},
		},
	},
	{
		lesson: "ept-fault-populate", scenario: "ept-fault-populate", steps: 824,
		pins: map[int]pin{
			1:   {"cpu", "read as user of GVA 0x400123"},
			2:   {"cpu", "The processor translates GPA 0x100000 (the guest's PML4)"},
			3:   {"cpu", "EPT violation on GPA 0x100000 (the guest's level-4 table): the EPT PML4E is not present"},
			4:   {"handle_ept_violation", "exit qualification 0x83: access read+write; EPT allowed ---; GVA valid; guest paging-structure access"},
			5:   {"__vmx_handle_ept_violation", "error code 0x6 = W U"},
			6:   {"kvm_mmu_page_fault", "error code 0x6 = W U"},
			8:   {"kvm_mmu_faultin_pfn", "memslot 0 maps GFN 0x100 to host frame 0x10100"},
			9:   {"kvm_mmu_hugepage_adjust", "goal level 1, a 4 KiB mapping"},
			10:  {"tdp_mmu_alloc_sp", "tdp_mmu_alloc_sp takes a struct kvm_mmu_page and a page at HPA 0x101000 for a level-3 table"},
			11:  {"tdp_mmu_link_sp", "SPTE at HPA 0x100000 0x8000000000000000 → 0x8000000000101907"},
			12:  {"tdp_mmu_alloc_sp", "tdp_mmu_alloc_sp takes a struct kvm_mmu_page and a page at HPA 0x102000 for a level-2 table"},
			14:  {"tdp_mmu_alloc_sp", "tdp_mmu_alloc_sp takes a struct kvm_mmu_page and a page at HPA 0x103000 for a level-1 table"},
			16:  {"tdp_mmu_map_handle_target_level", "SPTE at HPA 0x103800 0x8000000000000000 → 0x8600000010100b77"},
			17:  {"cpu", "Attempt 2"},
			18:  {"cpu", "The processor translates GPA 0x100000 (the guest's PML4)"},
			26:  {"cpu", "its entry at HPA 0x103808 is 0x8000000000000000"},
			27:  {"cpu", "EPT violation on GPA 0x101000 (the guest's level-3 table): the EPT PTE is not present"},
			34:  {"kvm_tdp_mmu_map", "the EPT PML4E at HPA 0x100000 (index 0, GPA 0x0 up) is 0x8000000000101907"},
			37:  {"tdp_mmu_map_handle_target_level", "SPTE at HPA 0x103808 0x8000000000000000 → 0x8600000010101b77"},
			38:  {"cpu", "Attempt 3"},
			64:  {"cpu", "Attempt 4"},
			95:  {"cpu", "Attempt 5"},
			120: {"cpu", "EPT violation on GPA 0x200123 (the final GPA): the EPT PDE is not present"},
			121: {"handle_ept_violation", "exit qualification 0x181: access read; EPT allowed ---; GVA valid; final translation"},
			129: {"tdp_mmu_alloc_sp", "tdp_mmu_alloc_sp takes a struct kvm_mmu_page and a page at HPA 0x104000 for a level-1 table"},
			131: {"tdp_mmu_map_handle_target_level", "SPTE at HPA 0x104000 0x8000000000000000 → 0x8600000010200b77"},
			132: {"cpu", "Attempt 6"},
			162: {"cpu", "GVA 0x400123 → GPA 0x200123 → HPA 0x10200123, a 4 KiB guest page; 24 memory references (90 in all over 6 attempts)"},
			163: {"cpu", "read as user of GVA 0x400123"},
			189: {"cpu", "GVA 0x400123 → GPA 0x200123 → HPA 0x10200123, a 4 KiB guest page; 24 memory references"},
			190: {"cpu", "write as user of GVA 0x401008"},
			216: {"cpu", "EPT violation on GPA 0x201008 (the final GPA): the EPT PTE is not present"},
			217: {"handle_ept_violation", "exit qualification 0x182: access write; EPT allowed ---; GVA valid; final translation"},
			223: {"kvm_tdp_mmu_map", "the EPT PML4E at HPA 0x100000 (index 0, GPA 0x0 up) is 0x8000000000101907"},
			253: {"cpu", "sets A and D in the guest's PTE at GPA 0x103008 (0x201007 → 0x201067)"},
			254: {"cpu", "GVA 0x401008 → GPA 0x201008 → HPA 0x10201008, a 4 KiB guest page; 24 memory references (48 in all over 2 attempts)"},
			255: {"cpu", "read as user of GVA 0x40000123"},
			336: {"cpu", "EPT violation on GPA 0x40000123 (the final GPA): the EPT PDPTE is not present"},
			341: {"kvm_mmu_faultin_pfn", "memslot 1 maps GFN 0x40000 to host frame 0x80000"},
			342: {"kvm_mmu_hugepage_adjust", "goal level 2, a 2 MiB mapping"},
			344: {"tdp_mmu_alloc_sp", "tdp_mmu_alloc_sp takes a struct kvm_mmu_page and a page at HPA 0x105000 for a level-2 table"},
			346: {"tdp_mmu_map_handle_target_level", "SPTE at HPA 0x105000 0x8000000000000000 → 0x8600000080000bf7"},
			375: {"cpu", "GVA 0x40000123 → GPA 0x40000123 → HPA 0x80000123, a 4 KiB guest page; 23 memory references (78 in all over 4 attempts)"},
			376: {"cpu", "write as supervisor of GVA 0x500000"},
			400: {"cpu", "EPT violation on GPA 0xfee00000 (the final GPA): the EPT PDPTE is not present"},
			404: {"kvm_mmu_do_page_fault", "a write fault on GFN 0xfee00 (no memslot covers it"},
			405: {"kvm_handle_noslot_fault", "no memslot covers GFN 0xfee00, so the access is MMIO"},
			408: {"tdp_mmu_alloc_sp", "tdp_mmu_alloc_sp takes a struct kvm_mmu_page and a page at HPA 0x106000 for a level-2 table"},
			412: {"tdp_mmu_map_handle_target_level", "SPTE at HPA 0x107000 0x8000000000000000 → 0xfee00026"},
			413: {"x86_emulate_instruction", "The GPA 0xfee00000 is known from the exit"},
			414: {"cpu", "write as supervisor of GVA 0x500000"},
			440: {"cpu", "EPT misconfiguration on GPA 0xfee00000"},
			441: {"handle_ept_misconfig", "handle_ept_misconfig runs for GPA 0xfee00000"},
			443: {"handle_mmio_page_fault", "an MMIO SPTE for GFN 0xfee00 of the current memslot generation (4)"},
			445: {"kvm_zap_gfn_range", "kvm_zap_gfn_range(GFN 0x200, 0x201)"},
			446: {"tdp_mmu_zap_leafs", "the EPT PTE for GPA 0x200000 (0x8600000010200b77, R W X WB IPAT A D) is zapped"},
			447: {"kvm_flush_remote_tlbs_range", "1 leaf SPTEs zapped"},
			448: {"cpu", "read as user of GVA 0x400123"},
			474: {"cpu", "EPT violation on GPA 0x200123 (the final GPA): the EPT PTE is not present"},
			484: {"tdp_mmu_map_handle_target_level", "SPTE at HPA 0x104000 0x8000000000000000 → 0x8600000010200b77"},
			511: {"cpu", "GVA 0x400123 → GPA 0x200123 → HPA 0x10200123, a 4 KiB guest page; 24 memory references (48 in all over 2 attempts)"},
			512: {"kvm_set_memory_region", "Userspace deletes memslot 1"},
			513: {"kvm_memslot_flush_zap_all", "KVM_X86_QUIRK_SLOT_ZAP_ALL is on"},
			514: {"kvm_mmu_zap_all_fast", "marks 1 root(s) invalid"},
			515: {"tdp_mmu_zap_root", "the EPT PTE for GPA 0x100000 (0x8600000010100b77, R W X WB IPAT A D) is zapped to SHADOW_NONPRESENT_VALUE: the 4 KiB pass"},
			523: {"tdp_mmu_zap_root", "the EPT PDE for GPA 0x0 (0x8000000000103907, R W X A) is zapped to SHADOW_NONPRESENT_VALUE: the 2 MiB pass"},
			527: {"tdp_mmu_zap_root", "the EPT PDE for GPA 0x40000000 (0x8600000080000bf7, R W X WB IPAT PS A D) is zapped to SHADOW_NONPRESENT_VALUE: the 2 MiB pass"},
			530: {"tdp_mmu_zap_root", "the EPT PDPTE for GPA 0x0 (0x8000000000102907, R W X A) is zapped to SHADOW_NONPRESENT_VALUE: the 1 GiB pass"},
			538: {"kvm_tdp_mmu_put_root", "loses a reference (2 → 1)"},
			539: {"kvm_set_memory_region", "The memslot generation is 8"},
			540: {"cpu", "read as user of GVA 0x400123"},
			541: {"kvm_tdp_mmu_put_root", "the last reference to the invalid root at HPA 0x100000 is gone"},
			542: {"kvm_tdp_mmu_alloc_root", "a new level-4 EPT root is allocated at HPA 0x100000"},
			543: {"vmx_load_mmu_pgd", "EPTP = 0x10005e"},
			544: {"cpu", "The processor translates GPA 0x100000 (the guest's PML4)"},
			700: {"cpu", "GVA 0x400123 → GPA 0x200123 → HPA 0x10200123, a 4 KiB guest page; 24 memory references (90 in all over 6 attempts)"},
			701: {"cpu", "read as user of GVA 0x40000123"},
			782: {"cpu", "EPT violation on GPA 0x40000123 (the final GPA): the EPT PDPTE is not present"},
			786: {"kvm_mmu_do_page_fault", "a read fault on GFN 0x40000 (no memslot covers it"},
			787: {"kvm_handle_noslot_fault", "no memslot covers GFN 0x40000, so the access is MMIO"},
			790: {"tdp_mmu_alloc_sp", "tdp_mmu_alloc_sp takes a struct kvm_mmu_page and a page at HPA 0x105000 for a level-2 table"},
			794: {"tdp_mmu_map_handle_target_level", "SPTE at HPA 0x106000 0x8000000000000000 → 0x40000046"},
			795: {"x86_emulate_instruction", "The GPA 0x40000123 is known from the exit"},
			796: {"cpu", "stores 8 bytes at GPA 0x103008"},
			800: {"cpu", "its entry at HPA 0x103818 is 0x8600000010103b77 (R W X WB IPAT A D)"},
			801: {"guest store", "The guest stores 0x202007 to GPA 0x103008"},
			807: {"cpu", "EPT violation on GPA 0x300000 (the final GPA): the EPT PTE is not present"},
			817: {"tdp_mmu_map_handle_target_level", "the EPT PTE maps GPA 0x300000 to HPA 0x10300000"},
			823: {"guest store", "The guest stores 0x1234 to GPA 0x300000"},
		},
	},
	{
		lesson: "guest-modes", scenario: "lesson-guest-modes", steps: 149,
		pins: map[int]pin{
			1:   {"paging64_gva_to_gpa", "read as user of GVA 0x400123"},
			2:   {"get_pdptr", "select PDPTR0, which load_pdptrs loaded from GPA 0x110000: 0x111001"},
			3:   {"walk_addr_generic", "the PDE at GPA 0x111010 (HPA 0x10111010) is 0x112007"},
			6:   {"update_accessed_dirty_bits", "A is set in the PDE at GPA 0x111010 (0x112007 → 0x112027)"},
			8:   {"paging64_gva_to_gpa", "GVA 0x400123 → GPA 0x200123 → HPA 0x10200123, a 4 KiB page; 2 memory references"},
			9:   {"paging64_gva_to_gpa", "instruction fetch as user of GVA 0x401000"},
			12:  {"walk_addr_generic", "the PTE at GPA 0x112008 (HPA 0x10112008) is 0x8000000000201005"},
			13:  {"walk_addr_generic", "Error code 0x15 = P U I/D"},
			14:  {"load_pdptrs", "PDPTE 0 at GPA 0x110000 = 0x111001"},
			18:  {"kvm_set_cr4", "cr4 ← 0x20 (PAE)"},
			20:  {"paging64_gva_to_gpa", "read as supervisor of GVA 0x7fffff"},
			22:  {"walk_addr_generic", "the PDE at GPA 0x111018 (HPA 0x10111018) is 0x800083"},
			25:  {"paging64_gva_to_gpa", "GVA 0x7fffff → GPA 0x9fffff → HPA 0x109fffff, a 2 MiB page; 1 memory reference"},
			26:  {"paging64_gva_to_gpa", "read as user of GVA 0x40000123"},
			27:  {"get_pdptr", "select PDPTR1, which load_pdptrs loaded from GPA 0x110008: 0x113001"},
			33:  {"paging64_gva_to_gpa", "GVA 0x40000123 → GPA 0x1000123 → HPA 0x11000123, a 4 KiB page; 2 memory references"},
			34:  {"guest store", "The guest stores 0x0 to GPA 0x110008"},
			35:  {"paging64_gva_to_gpa", "read as user of GVA 0x40000123"},
			36:  {"get_pdptr", "select PDPTR1, which load_pdptrs loaded from GPA 0x110008: 0x113001"},
			40:  {"paging64_gva_to_gpa", "GVA 0x40000123 → GPA 0x1000123 → HPA 0x11000123, a 4 KiB page; 2 memory references"},
			41:  {"load_pdptrs", "PDPTE 0 at GPA 0x110000 = 0x111001"},
			42:  {"load_pdptrs", "PDPTE 1 at GPA 0x110008 = 0x0"},
			46:  {"paging64_gva_to_gpa", "read as user of GVA 0x40000123"},
			47:  {"get_pdptr", "select PDPTR1, which load_pdptrs loaded from GPA 0x110008: 0x0"},
			48:  {"walk_addr_generic", "Error code 0x4 = U"},
			49:  {"kvm_set_cr4", "cr4 ← 0x0 (none)"},
			51:  {"kvm_set_cr3", "kvm_set_cr3: cr3 ← 0x100000."},
			52:  {"paging32_gva_to_gpa", "read as user of GVA 0x400123"},
			53:  {"walk_addr_generic", "the PDE at GPA 0x100004 (HPA 0x10100004) is 0x101007"},
			54:  {"walk_addr_generic", "the PTE at GPA 0x101000 (HPA 0x10101000) is 0x200007"},
			58:  {"paging32_gva_to_gpa", "GVA 0x400123 → GPA 0x200123 → HPA 0x10200123, a 4 KiB page; 2 memory references"},
			59:  {"paging32_gva_to_gpa", "instruction fetch as user of GVA 0x401000"},
			61:  {"walk_addr_generic", "the PTE at GPA 0x101004 (HPA 0x10101004) is 0x201005"},
			62:  {"permission_fault", "an instruction fetch as user is allowed"},
			65:  {"paging32_gva_to_gpa", "read as supervisor of GVA 0x9abcde"},
			66:  {"walk_addr_generic", "is 0xc00083 (P W PS): PS is ignored without CR4.PSE, so the next table is at GPA 0xc00000"},
			67:  {"walk_addr_generic", "the PTE at GPA 0xc006ac (HPA 0x10c006ac) is 0x0"},
			68:  {"walk_addr_generic", "Error code 0x0 = none (not present, supervisor read)"},
			69:  {"kvm_set_cr4", "cr4 ← 0x10 (PSE)"},
			71:  {"paging32_gva_to_gpa", "read as supervisor of GVA 0x9abcde"},
			72:  {"walk_addr_generic", "is 0xc00083 (P W PS): it maps a 4 MiB page at GPA 0xc00000"},
			75:  {"paging32_gva_to_gpa", "GVA 0x9abcde → GPA 0xdabcde → HPA 0x10dabcde, a 4 MiB page; 1 memory reference"},
			76:  {"paging32_gva_to_gpa", "read as supervisor of GVA 0xc0012345"},
			77:  {"walk_addr_generic", "is 0x2083 (P W PS): it maps a 4 MiB page at GPA 0x100000000"},
			80:  {"paging32_gva_to_gpa", "GVA 0xc0012345 → GPA 0x100012345 → HPA 0x20012345, a 4 MiB page; 1 memory reference"},
			81:  {"kvm_set_cr0", "cr0 ← 0x10001 (PE WP)"},
			83:  {"kvm_set_cr4", "cr4 ← 0x30 (PSE PAE)"},
			84:  {"shadow_mmu_init_context", "cpu_role and root_role are unchanged (cpu_role base{level=0 direct"},
			85:  {"kvm_set_cr3", "kvm_set_cr3: cr3 ← 0x120000."},
			86:  {"set_efer", "efer ← 0x900 (LME NX)"},
			88:  {"kvm_set_cr0", "cr0 ← 0x80010001 (PE WP PG)"},
			89:  {"kvm_set_cr0", "long mode is now active, so EFER.LMA follows (EFER = 0xd00)"},
			90:  {"init_kvm_softmmu", "4-level paging, cpu_role base{level=4"},
			91:  {"paging64_gva_to_gpa", "read as user of GVA 0x400123"},
			101: {"paging64_gva_to_gpa", "GVA 0x400123 → GPA 0x200123 → HPA 0x10200123, a 4 KiB page; 4 memory references"},
			102: {"paging64_gva_to_gpa", "read as supervisor of GVA 0x40001234"},
			104: {"walk_addr_generic", "the PDPTE at GPA 0x121008 (HPA 0x10121008) is 0x40000083"},
			107: {"paging64_gva_to_gpa", "GVA 0x40001234 → GPA 0x40001234 → HPA 0x80001234, a 1 GiB page; 2 memory references"},
			108: {"paging64_gva_to_gpa", "read as user of GVA 0x800000000000"},
			109: {"kvm_inject_gp", "not canonical"},
			110: {"kvm_set_cr0", "cr0 ← 0x10001 (PE WP)"},
			111: {"kvm_set_cr0", "long mode is now inactive, so EFER.LMA follows (EFER = 0x900)"},
			113: {"kvm_set_cr4", "cr4 ← 0x1030 (PSE PAE LA57)"},
			115: {"kvm_set_cr3", "kvm_set_cr3: cr3 ← 0x130000."},
			116: {"kvm_set_cr0", "cr0 ← 0x80010001 (PE WP PG)"},
			117: {"kvm_set_cr0", "long mode is now active, so EFER.LMA follows (EFER = 0xd00)"},
			118: {"init_kvm_softmmu", "5-level paging, cpu_role base{level=5"},
			119: {"paging64_gva_to_gpa", "read as user of GVA 0x400123"},
			120: {"walk_addr_generic", "the PML5E at GPA 0x130000 (HPA 0x10130000) is 0x131007"},
			131: {"paging64_gva_to_gpa", "GVA 0x400123 → GPA 0x200123 → HPA 0x10200123, a 4 KiB page; 5 memory references"},
			132: {"paging64_gva_to_gpa", "read as user of GVA 0x800000000000"},
			134: {"walk_addr_generic", "the PML4E at GPA 0x131800 (HPA 0x10131800) is 0x0"},
			135: {"walk_addr_generic", "Error code 0x4 = U"},
			136: {"paging64_gva_to_gpa", "read as user of GVA 0x1000000400123"},
			137: {"walk_addr_generic", "the PML5E at GPA 0x130008 (HPA 0x10130008) is 0x135007"},
			148: {"paging64_gva_to_gpa", "GVA 0x1000000400123 → GPA 0x200123 → HPA 0x10200123, a 4 KiB page; 5 memory references"},
		},
	},
}

// jumpLink finds the jump links of a lesson's source.
var jumpLink = regexp.MustCompile(`\(#step=(\d+)\)`)

// TestPinnedLessons checks each pinned lesson: it is built in, names its
// scenario, resolves against the timeline, and every marker and jump link
// sits on the event the prose talks about.
func TestPinnedLessons(t *testing.T) {
	builtin := lessons.Builtin()
	for _, pl := range pinnedLessons {
		t.Run(pl.lesson, func(t *testing.T) {
			if !slices.Contains(builtin, pl.lesson) {
				t.Fatalf("lesson %s is not among the built-in lessons %v", pl.lesson, builtin)
			}
			l, err := lessons.LoadBuiltin(pl.lesson)
			if err != nil {
				t.Fatal(err)
			}
			if l.Scenario != pl.scenario {
				t.Fatalf("lesson %s follows scenario %q; its pins were written for %q", pl.lesson, l.Scenario, pl.scenario)
			}
			s, err := scenarios.LoadBuiltin(pl.scenario)
			if err != nil {
				t.Fatalf("lesson %s: %v", pl.lesson, err)
			}
			tl := s.Timeline()
			if tl.Err != nil {
				t.Fatalf("lesson %s: scenario %s: %v", pl.lesson, pl.scenario, s.ActionError(tl.ErrStep, tl.Err))
			}
			if tl.Len() != pl.steps {
				t.Errorf("lesson %s was written for %d steps of scenario %s, which now has %d: check every marker",
					pl.lesson, pl.steps, pl.scenario, tl.Len())
			}
			if err := l.Resolve(tl.Len()); err != nil {
				t.Fatalf("lesson %s: %v", pl.lesson, err)
			}

			// What each pinned step is in the lesson: a marker (with its
			// line) or a jump link.
			where := map[int]string{}
			for _, sec := range l.Sections {
				if sec.From == 0 {
					continue
				}
				where[sec.From] = "marker <!-- step " + strconv.Itoa(sec.From) + " --> (line " + strconv.Itoa(sec.Line) + ")"
				if _, ok := pl.pins[sec.From]; !ok {
					t.Errorf("lesson %s: %s is not pinned; add it to pinnedLessons", pl.lesson, where[sec.From])
				}
			}
			src, err := os.ReadFile(filepath.Join("..", "..", "lessons", "content", pl.lesson+".md"))
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range jumpLink.FindAllStringSubmatch(string(src), -1) {
				n, _ := strconv.Atoi(m[1])
				if _, ok := where[n]; !ok {
					where[n] = "jump link (#step=" + m[1] + ")"
				}
				if _, ok := pl.pins[n]; !ok {
					t.Errorf("lesson %s: %s is not pinned; add it to pinnedLessons", pl.lesson, where[n])
				}
			}

			steps := make([]int, 0, len(pl.pins))
			for step := range pl.pins {
				steps = append(steps, step)
			}
			slices.Sort(steps)
			for _, step := range steps {
				want := pl.pins[step]
				at, ok := where[step]
				if !ok {
					t.Errorf("lesson %s: step %d is pinned but is neither a marker nor a jump link of the lesson", pl.lesson, step)
					continue
				}
				v, err := tl.Seek(step)
				if err != nil {
					t.Errorf("lesson %s, %s: %v", pl.lesson, at, err)
					continue
				}
				if v.Event.Func != want.fn || !strings.Contains(v.Event.Text, want.text) {
					t.Errorf("lesson %s, %s: step %d is now [%s] %q;\nthe lesson was written for [%s] ...%q...",
						pl.lesson, at, step, v.Event.Func, v.Event.Text, want.fn, want.text)
				}
			}
		})
	}
}
