package main

import (
	"strings"
	"testing"

	"mmuviz/render"
	"mmuviz/scenarios"
)

// The pins of the lessons on MMU contexts: roles and the CPUID marker,
// TDX, nested paging. They join variantLessons, so TestVariantLessons
// checks them and TestEveryLessonPinned counts them, with the helpers of
// lessons3_test.go.

func init() {
	variantLessons = append(variantLessons, contextLessons...)
}

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
		s, err := scenarios.LoadBuiltinVariant("role-reconfig", c.variant)
		if err != nil {
			t.Fatal(err)
		}
		tl := s.Timeline()
		v, err := tl.Seek(c.step)
		if err != nil {
			t.Fatal(err)
		}
		sc := render.Layout(v, tl, render.Size{W: 1600, H: 1000})
		b, ok := sc.Box(c.box)
		if !ok {
			t.Errorf("%s step %d: no box %s", c.variant, c.step, c.box)
			continue
		}
		if got := panelRow(b, c.row); !strings.Contains(got, c.text) {
			t.Errorf("%s step %d, %s row %q is %q; the lesson says it shows %q", c.variant, c.step, c.box, c.row, got, c.text)
		}
	}
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
