package mmu

import "sort"

// Read-only views of a TD for pictures: its configuration and state, the
// S-EPT's pages and how each mirrors a page of KVM's mirror root. Nothing
// here emits events or changes the machine.

// TDXInfo describes a TD.
type TDXInfo struct {
	GPAW        int
	SharedBit   GPA    // the shared bit as an address (1 << (GPAW-1))
	State       string // TD_STATE_INITIALIZED or TD_STATE_RUNNABLE
	Runnable    bool
	HKID        bool // the TD still has its private key
	NrPremapped int
	Epoch       uint64 // the TD epoch TDH.MEM.TRACK advances
	Dead        bool   // KVM killed it (kvm_vm_dead)
	Destroyed   bool
	SEPTRoot    HPA // the S-EPT root, a page of the TDX module
}

// TDX returns the TD's description; ok is false when the VM is no TD.
func (m *Machine) TDX() (TDXInfo, bool) {
	x := m.tdx()
	if x == nil {
		return TDXInfo{}, false
	}
	return TDXInfo{GPAW: x.cfg.GPAW, SharedBit: x.directBits.GPA(), State: x.state.String(),
		Runnable: x.state == tdStateRunnable, HKID: x.hkid, NrPremapped: x.nrPremapped, Epoch: x.epoch,
		Dead: x.dead, Destroyed: x.destroyed, SEPTRoot: x.septRoot}, true
}

// TDXMirrorRoot returns vCPU id's mirror_root_hpa; ok is false when it
// has none.
func (m *Machine) TDXMirrorRoot(id int) (HPA, bool) {
	x := m.tdx()
	if x == nil {
		return 0, false
	}
	hpa, ok := x.mirrorRoot[id]
	return hpa, ok
}

// SEPTPage is one page of a TD's S-EPT.
type SEPTPage struct {
	HPA    HPA
	Level  int
	GFN    GFN  // the first GFN it maps
	Root   bool // the S-EPT root (a TDCS page)
	Mirror HPA  // the mirror page whose external_spt it is; 0 for the root or none
}

// SEPTPages lists the S-EPT's pages: the root first, then by level from
// the top, by GFN and by address.
func (m *Machine) SEPTPages() []SEPTPage {
	x := m.tdx()
	if x == nil {
		return nil
	}
	owner := map[HPA]HPA{}
	for _, sp := range m.tdp.pages {
		if sp.ExternalSPT != 0 {
			owner[sp.ExternalSPT] = sp.SPT
		}
	}
	var out []SEPTPage
	for pfn, p := range x.sept {
		hpa := pfn.HPA()
		out = append(out, SEPTPage{HPA: hpa, Level: p.level, GFN: p.gfn, Root: hpa == x.septRoot, Mirror: owner[hpa]})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		switch {
		case a.Root != b.Root:
			return a.Root
		case a.Level != b.Level:
			return a.Level > b.Level
		case a.GFN != b.GFN:
			return a.GFN < b.GFN
		}
		return a.HPA < b.HPA
	})
	return out
}

// SEPTPresent reports whether the processor sees an S-EPT entry as
// present: R, W or X set (a PENDING or BLOCKED page is not).
func SEPTPresent(e uint64) bool { return e&EPTRWX != 0 }

// IsPrivateGPA reports whether gpa is private in a TD: it lacks the
// shared bit.
func (m *Machine) IsPrivateGPA(gpa GPA) bool { return m.isPrivateGPA(gpa) }
