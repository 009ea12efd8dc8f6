package render

import (
	"fmt"

	"mmuviz/mmu"
)

// The 2D view of a nested vCPU. While it runs L2 the processor's
// two-dimensional walk takes L2's page tables as the guest's and
// guest_mmu's root as the nested table: EPT02/NPT02, shadow pages KVM
// builds from L1's EPT12/NPT12 (not TDP MMU pages). Once a VM-exit has
// brought the vCPU back to L1, its walks go through root_mmu's EPT/NPT
// again. The grid follows the context of the attempt's references; the
// host column follows the step: the context whose host tables the event
// touches (KVM write-protecting L1's EPT01 in the middle of an L2 fault,
// say), else the attempt's, else the one arch.mmu points at.

// hostCtx is one context's host tables: guest_mmu's (nested) or
// root_mmu's, its root and how many levels it has.
type hostCtx struct {
	nested bool
	root   mmu.HPA
	rooted bool
	levels int
}

// hostContextOf decides the context of an event on the host tables (when
// e is one), else of the attempt's references, else of arch.mmu.
func hostContextOf(m *mmu.Machine, vcpu int, attempt []mmu.Event, e *mmu.Event) hostCtx {
	c := hostCtx{}
	decided := false
	if e != nil && e.Space == mmu.SpaceHPA && (e.MMU == "guest_mmu" || e.MMU == "root_mmu") {
		c.nested, decided = e.MMU == "guest_mmu", true
	}
	for i := range attempt {
		if a := &attempt[i]; !decided && isRef(a) && a.HostLevel > 0 {
			c.nested, decided = a.MMU == "guest_mmu", true
		}
	}
	if !decided && vcpu < len(m.VCPUs) {
		c.nested = m.VCPUs[vcpu].ArchMMUID == mmu.GuestMMUID
	}
	format, _ := m.TDPFormat()
	c.levels = format.Levels
	if !c.nested {
		c.root, c.rooted = m.TDPRoot(vcpu)
		return c
	}
	var level int
	c.root, level, c.rooted = m.NestedHostRoot(vcpu)
	switch {
	case level > 0:
		c.levels = level
	case vcpu < len(m.VCPUs) && m.VCPUs[vcpu].GuestMMU.RootRole.Level() > 0:
		c.levels = m.VCPUs[vcpu].GuestMMU.RootRole.Level() // configured, no root yet
	}
	return c
}

// specialRoot is one of guest_mmu's special roots: pae_root, pml4_root,
// pml5_root, pages KVM puts above a shadow of fewer levels than the
// host's NPT (a 32-bit or PAE L1's NPT12); no kvm_mmu_page, no role.
type specialRoot struct {
	name  string
	level int
}

// specialRoots lists vCPU vcpu's guest_mmu special roots by address.
func specialRoots(m *mmu.Machine, vcpu int) map[mmu.HPA]specialRoot {
	if vcpu >= len(m.VCPUs) {
		return nil
	}
	g := &m.VCPUs[vcpu].GuestMMU
	out := map[mmu.HPA]specialRoot{}
	for _, r := range []struct {
		hpa mmu.HPA
		specialRoot
	}{{g.PAERoot, specialRoot{"pae_root", 3}}, {g.PML4Root, specialRoot{"pml4_root", 4}},
		{g.PML5Root, specialRoot{"pml5_root", 5}}} {
		if r.hpa != 0 {
			out[r.hpa] = r.specialRoot
		}
	}
	return out
}

// shadowKind says what kind of guest_mmu page a table of EPT02/NPT02 is
// when it shadows no table of L1's one for one: a special root, a
// passthrough page (role.passthrough: L1's table has fewer levels), a
// level-expanded page with its glevel (seed 001's design).
func (t *tdpFocus) shadowKind(m *mmu.Machine, hpa mmu.HPA) string {
	if !t.nested {
		return ""
	}
	if r, ok := t.special[hpa]; ok {
		return r.name
	}
	sp, ok := m.ShadowPageAt(hpa)
	switch {
	case !ok:
		return ""
	case sp.GLevel > 0 && sp.GLevel < sp.Level:
		return fmt.Sprintf("glevel %d, passthrough", sp.GLevel)
	case sp.Passthrough:
		return "passthrough"
	}
	return ""
}

// gpaWord names the addresses the host column translates: L2 GPAs for
// guest_mmu's tables, L1 GPAs for root_mmu's in a nested run.
func (t *tdpFocus) gpaWord() string {
	switch {
	case t.nested:
		return "L2 GPA"
	case t.nestedRun:
		return "L1 GPA"
	}
	return "GPA"
}

// guestWord names whose tables the grid's rows are: L2's when its
// attempt went through EPT02/NPT02, L1's otherwise in a nested run.
func (t *tdpFocus) guestWord() string {
	switch {
	case t.gridL2:
		return "L2's"
	case t.nestedRun:
		return "L1's"
	}
	return "the guest's"
}

// gridNames are the grid's words for the guest and the host tables.
func (t *tdpFocus) gridNames() (guest, host string) {
	switch {
	case t.gridL2:
		return "L2", t.format.Name + "02"
	case t.nestedRun:
		return "L1", t.format.Name + "01"
	}
	return "guest", t.format.Name
}

// forgetAttempt drops what the attempt's walk told about the host column
// when the step is about the other context's tables: its row, GPA, the
// host levels it read and its violation belong to the attempt's tables.
func (t *tdpFocus) forgetAttempt() {
	t.row, t.gpa, t.hasGPA, t.seen, t.all = -1, 0, false, [6]bool{}, false
	t.walkFault, t.exit, t.mended = nil, nil, false
	if t.cur.fault || t.cur.violation {
		t.cur = hostTarget{}
	}
}

// tableGPA is the GPA the table the step is about maps from, with the
// step's entry added: a TDP MMU page's GFN, or for guest_mmu's shadow
// pages the L2 GPA under which its tree reaches it.
func (t *tdpFocus) tableGPA(m *mmu.Machine) (mmu.GPA, bool) {
	if !t.cur.ok || t.cur.table == 0 {
		return 0, false
	}
	level, gpa, found := 0, mmu.GPA(0), false
	if t.nested {
		if t.rooted && t.cur.table != t.root {
			gpa, level, found = findHostTable(m, t.root, t.levels, t.cur.table)
		}
	} else {
		for _, p := range m.TDPPages() {
			if p.HPA == t.cur.table && !p.Root {
				gpa, level, found = (p.GFN | p.GFNBits).GPA(), p.Level, true
			}
		}
	}
	if found && t.cur.index >= 0 {
		gpa += mmu.GPA(uint64(t.cur.index) << (12 + 9*uint(level-1)))
	}
	return gpa, found
}

// findHostTable looks for the table at target in the host tables under
// root (levels levels), following present non-leaf entries: the first GPA
// whose path reaches it, and its level. guest_mmu's pages hold no L2 GPA
// of their own (sp->gfn is L1's), so the tree is the only way to place one.
func findHostTable(m *mmu.Machine, root mmu.HPA, levels int, target mmu.HPA) (mmu.GPA, int, bool) {
	var visit func(table mmu.HPA, level int, base mmu.GPA) (mmu.GPA, int, bool)
	visit = func(table mmu.HPA, level int, base mmu.GPA) (mmu.GPA, int, bool) {
		if level <= 1 {
			return 0, 0, false
		}
		for i, e := range m.HostTable(table) {
			if !m.SPTEPresent(e) {
				continue
			}
			next, leaf := mmu.SPTEPointsTo(e, level)
			if leaf {
				continue
			}
			gpa := base + mmu.GPA(uint64(i)<<(12+9*uint(level-1)))
			if next == target {
				return gpa, level - 1, true
			}
			if g, l, ok := visit(next, level-1, gpa); ok {
				return g, l, true
			}
		}
		return 0, 0, false
	}
	return visit(root, levels, 0)
}
