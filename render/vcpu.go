package render

import (
	"fmt"
	"strings"

	"mmuviz/mmu"
)

// The vCPU panel: for each vCPU a box "vcpu:N" with its three MMU
// contexts (root_mmu, guest_mmu, nested_mmu), which of them arch.mmu and
// arch.walk_mmu point at, each context's roles, callbacks and root, the
// MAXPHYADDR its reserved-bit masks were computed for (STALE in words when
// it lags the CPU model), and the vCPU's pending requests. It is shown
// for timelines about the contexts themselves (Timeline.ShowsMMUContexts):
// role changes, CPUID updates, nested transitions.

// vcpuPanelFuncs are the events that light a row of the vCPU panel: the
// context they name is the one reconfigured or marked.
var vcpuPanelFuncs = map[string]bool{
	"init_kvm_tdp_mmu": true, "init_kvm_softmmu": true, "init_kvm_nested_mmu": true,
	"shadow_mmu_init_context": true, "kvm_mmu_after_set_cpuid": true, "kvm_mmu_reset_context": true,
	"kvm_init_shadow_npt_mmu": true, "kvm_init_shadow_ept_mmu": true, "nested_svm_init_mmu_context": true,
	"nested_ept_init_mmu_context": true, "nested_svm_uninit_mmu_context": true, "nested_ept_uninit_mmu_context": true,
	"kvm_set_cpuid": true, "kvm_cpuid_check_equal": true, "enter_guest_mode": true,
	"leave_guest_mode": true, "nested_svm_vmrun": true, "enter_svm_guest_mode": true, "nested_svm_vmexit": true,
	"nested_vmx_run": true, "nested_vmx_enter_non_root_mode": true, "nested_vmx_vmexit": true,
	"vcpu_enter_guest": true, // a nested VM-entry done: the vCPU runs L2 on guest_mmu's root
}

// vcpuReflectFuncs decide that an exit of L2's goes to L1: the step is
// about the vCPU changing level, which a "now" row under its layers says.
var vcpuReflectFuncs = map[string]bool{"nested_svm_exit_handled": true, "nested_vmx_reflect_vmexit": true}

// reflectText says what fn decides about L2's exit.
func reflectText(v *mmu.VCPU, fn string) string {
	what := "VM exit"
	if c := v.Nested.HWExit.Code; c != "" {
		what = c
	}
	return fmt.Sprintf("%s: L2's %s goes to L1, which intercepts it", fn, what)
}

// layoutVCPUs places the vCPU panel to the right of extent, or, when the
// picture is the wide two-dimensional one (TDP), in a row below it, so
// that a narrow stage can still show it at a readable size.
func layoutVCPUs(f *focus, extent Rect) Panel {
	below := f.tdp != nil
	x, y := extent.Right()+colGap, extent.Y
	if extent.W <= 0 {
		x = 0
	}
	if below {
		x, y = extent.X, extent.Bottom()+blockGap
	}
	return layoutVCPUsAt(f, x, y, below)
}

// layoutVCPUsAt places the vCPU boxes from (x, y), side by side when
// across, else one under the other.
func layoutVCPUsAt(f *focus, x, y float64, across bool) Panel {
	p := Panel{ID: "vcpus", Title: "vCPU MMU contexts"}
	below := across
	for _, v := range f.machine.VCPUs {
		b := vcpuSpec(f, v).build()
		b.Rect = b.Rect.Offset(x, y)
		p.Boxes = append(p.Boxes, b)
		p.Rect = p.Rect.Union(b.Rect)
		if below {
			x = b.Rect.Right() + rowGap
		} else {
			y = b.Rect.Bottom() + rowGap
		}
	}
	return p
}

// vcpuSpec is one vCPU's box.
func vcpuSpec(f *focus, v *mmu.VCPU) *boxSpec {
	level := "L1"
	if v.GuestMode {
		level = "L2 (guest mode)"
	}
	sp := &boxSpec{id: fmt.Sprintf("vcpu:%d", v.ID), kind: BoxRegisters,
		title:    fmt.Sprintf("vCPU %d: running %s", v.ID, level),
		titleInk: PaperInk, titleBG: RegTitle, fill: RegFill, border: RegTitle, borderW: 1.5}
	add := func(name, val string, ink Color) int {
		sp.rows = append(sp.rows, rowSpec{index: -1, count: 1, cells: []cell{{name, MonoBold, Ink, false},
			{val, Prose, ink, false}}})
		return len(sp.rows) - 1
	}
	lit := -1
	ev := f.event
	if layers := nestedLayers(v); layers != "" {
		add("layers", layers, Ink)
		if ev != nil && ev.VCPU == v.ID && vcpuReflectFuncs[ev.Func] {
			lit = add("now", reflectText(v, ev.Func), Ink)
		}
	}
	add("arch.mmu", v.ArchMMUID.String(), Ink)
	add("walk_mmu", v.WalkMMUID.String(), Ink)
	for _, id := range []mmu.MMUID{mmu.RootMMUID, mmu.GuestMMUID, mmu.NestedMMUID} {
		c := v.MMUByID(id)
		head := add(c.Name, contextState(v, id, c), Ink)
		if ev != nil && ev.VCPU == v.ID && ev.MMU == c.Name && vcpuPanelFuncs[ev.Func] {
			lit = head
		}
		if !c.CPURole.Ext.Valid && c.CPURole == (mmu.CPURole{}) {
			continue // never configured: nothing more to say
		}
		add("  cpu_role", c.CPURole.String(), MutedInk)
		if id != mmu.NestedMMUID {
			add("  root_role", c.RootRole.String(), MutedInk)
			add("  root", rootSlot(f.machine, c.RootValid, c.RootPGD, c.Root), MutedInk)
			for i, p := range c.PrevRoots {
				if p.Valid {
					add(fmt.Sprintf("  prev[%d]", i), rootSlot(f.machine, true, p.PGD, p.HPA), MutedInk)
				}
			}
		}
		for i := 0; i < 3; i++ {
			name := ""
			if i == 0 {
				name = "  callbacks"
			}
			add(name, callbacksText(c.Callbacks, i), MutedInk)
		}
		masks, ink := fmt.Sprintf("reserved bits for MAXPHYADDR %d", c.MasksMaxPhyAddr()), MutedInk
		if c.MasksMaxPhyAddr() != 0 && c.MasksMaxPhyAddr() != f.machine.Config.MaxPhyAddr {
			masks, ink = fmt.Sprintf("STALE: reserved bits for MAXPHYADDR %d, CPUID says %d",
				c.MasksMaxPhyAddr(), f.machine.Config.MaxPhyAddr), FaultInk
		}
		if c.Marked() {
			masks, ink = "marked stale by kvm_mmu_after_set_cpuid: recomputed at the next init", FaultInk
		}
		add("  masks", masks, ink)
	}
	add("requests", requestsText(v), Ink)
	add("callback writes", fmt.Sprintf("%d so far (%s)", v.CallbackWrites, callbackStyle(f.machine.Opts.Callbacks)),
		MutedInk)
	for i := range sp.rows {
		f.markTarget(&sp.rows[i], i == lit)
	}
	return sp
}

// contextState says what points at a context and whether it is in use.
func contextState(v *mmu.VCPU, id mmu.MMUID, c *mmu.MMU) string {
	var who []string
	if v.ArchMMUID == id {
		who = append(who, "arch.mmu")
	}
	if v.WalkMMUID == id {
		who = append(who, "walk_mmu")
	}
	s := "unused"
	if c.RootValid {
		// root_mmu while L2 runs: L1's root stays loaded for the exit.
		s = "not current, keeps its root"
	}
	if len(who) > 0 {
		s = "← " + strings.Join(who, ", ")
	}
	if c.CPURole.Ext.Valid || c.CPURole != (mmu.CPURole{}) {
		s += fmt.Sprintf(" · %s", mmu.PagingMode(c.CPURole.Base.Level()))
	}
	return s
}

// nestedLayers draws L0/L1/L2 as a stack with the running level marked,
// when the vCPU has a nested set-up.
func nestedLayers(v *mmu.VCPU) string {
	if v.Nested.Kind == mmu.NestedNone {
		return ""
	}
	l1, l2 := "L1 guest hypervisor", "L2 nested guest"
	if v.GuestMode {
		l2 = "[" + l2 + ": running]"
	} else {
		l1 = "[" + l1 + ": running]"
	}
	return fmt.Sprintf("%s · on %s · on L0 KVM (%s, %d entries, %d exits)", l2, l1, v.Nested.Kind,
		v.Nested.Entries, v.Nested.Exits)
}

// rootSlot is one root slot: pgd → HPA and the page's reference count.
func rootSlot(m *mmu.Machine, valid bool, pgd uint64, hpa mmu.HPA) string {
	if !valid {
		return "none (INVALID_PAGE)"
	}
	s := RootSlotText(true, pgd, hpa)
	if n, ok := m.RootCount(hpa); ok {
		return s + fmt.Sprintf(", root_count %d", n)
	}
	return s + ", a special root (no kvm_mmu_page)"
}

// callbacksText is a third of the callbacks, as field=function.
func callbacksText(cb mmu.MMUCallbacks, third int) string {
	name := func(s string) string {
		if s == "" {
			return "NULL"
		}
		return s
	}
	switch third {
	case 0:
		return fmt.Sprintf("get_guest_pgd=%s get_pdptr=%s", name(cb.GetGuestPGD), name(cb.GetPDPTR))
	case 1:
		return fmt.Sprintf("inject_page_fault=%s page_fault=%s", name(cb.InjectPageFault), name(cb.PageFault))
	}
	return fmt.Sprintf("gva_to_gpa=%s sync_spte=%s", name(cb.GVAToGPA), name(cb.SyncSPTE))
}

// requestsText lists the vCPU's pending requests.
func requestsText(v *mmu.VCPU) string {
	var r []string
	if v.ReqFreeObsoleteRoots {
		r = append(r, "KVM_REQ_MMU_FREE_OBSOLETE_ROOTS")
	}
	if v.ReqMMUSync {
		r = append(r, "KVM_REQ_MMU_SYNC")
	}
	if v.ReqMMUReload {
		r = append(r, "KVM_REQ_MMU_RELOAD")
	}
	if len(r) == 0 {
		return "none pending"
	}
	return strings.Join(r, ", ")
}

// callbackStyle names the options' callback design.
func callbackStyle(s mmu.CallbackStyle) string {
	if s == mmu.CallbacksConstantsOnce {
		return "constants set once, seed 000"
	}
	return "all set at each reconfiguration, 6.16"
}
