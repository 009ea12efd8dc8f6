package render

import "mmuviz/mmu"

// The 2D view of a nested vCPU. While it runs L2 the processor's
// two-dimensional walk takes L2's page tables as the guest's and
// guest_mmu's root as the nested table: EPT02/NPT02, shadow pages KVM
// builds from L1's EPT12/NPT12 (not TDP MMU pages). Once a VM-exit has
// brought the vCPU back to L1, its walks go through root_mmu's EPT/NPT
// again. The host column and the grid follow whichever the step's walk
// used.

// hostContext decides whose host tables the step shows: those the
// attempt's references went through (an L2 access stays L2's after the
// exit that ended it), else those of the context arch.mmu points at.
func (t *tdpFocus) hostContext(m *mmu.Machine, vcpu int, attempt []mmu.Event) {
	t.nested = false
	decided := false
	for i := range attempt {
		if e := &attempt[i]; isRef(e) && e.HostLevel > 0 {
			t.nested, decided = e.MMU == "guest_mmu", true
			break
		}
	}
	if !decided && vcpu < len(m.VCPUs) {
		t.nested = m.VCPUs[vcpu].ArchMMUID == mmu.GuestMMUID
	}
	if !t.nested {
		t.root, t.rooted = m.TDPRoot(vcpu)
		return
	}
	var level int
	t.root, level, t.rooted = m.NestedHostRoot(vcpu)
	if level > 0 {
		t.levels = level
	} else if vcpu < len(m.VCPUs) {
		if l := m.VCPUs[vcpu].GuestMMU.RootRole.Level(); l > 0 {
			t.levels = l // configured, no root yet
		}
	}
}
