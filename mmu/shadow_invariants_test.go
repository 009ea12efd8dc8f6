package mmu

import (
	"strings"
	"testing"
)

// TestShadowInvariantsCatch: the checker is not vacuous: each kind of
// corruption of a correct state is reported.
func TestShadowInvariantsCatch(t *testing.T) {
	e := shadowEnv(t, Paging4, ShadowConfig{})
	e.mapPage(0x400000, 0x200000, PageSize, PTWritable|PTUser)
	e.mapPage(0x401000, 0x201000, PageSize, 0)
	pd := e.entryGPA(0x400000, 2) &^ pageMask
	e.mapPage(0x600000, pd, PageSize, PTWritable)
	e.load()
	e.doCheck(write(0x400000, true))
	e.doCheck(read(0x401000, false))
	e.doCheck(read(0x600000, false))
	base := e.m
	leafOf := func(m *Machine, gva GVA) HPA {
		levels, _, _ := m.ShadowPath(0, gva)
		return levels[len(levels)-1].Entry
	}
	for _, tc := range []struct {
		name    string
		corrupt func(m *Machine)
		want    string
	}{
		{"a write-tracked frame mapped writable", func(m *Machine) {
			p := leafOf(m, 0x600000)
			m.writeSPTE(p, m.readSPTE(p)|PTWritable)
		}, "write-tracked"},
		{"a leaf pointing elsewhere", func(m *Machine) {
			p := leafOf(m, 0x400000)
			m.writeSPTE(p, m.readSPTE(p)+PageSize)
		}, "maps host frame"},
		{"more rights than the guest", func(m *Machine) {
			p := leafOf(m, 0x401000)
			m.writeSPTE(p, m.readSPTE(p)|PTUser)
		}, "grants"},
		{"writable but not dirty", func(m *Machine) {
			p := leafOf(m, 0x400000)
			pte := e.entryGPA(0x400000, 1)
			v, _ := m.ReadGuest(pte, 8)
			_ = m.WriteGuest(pte, 8, v&^PTDirty)
			_ = p
		}, "not dirty"},
		{"a missing rmap entry", func(m *Machine) {
			p := leafOf(m, 0x400000)
			m.rmapRemove(p)
		}, "rmap"},
		{"a wrong root_count", func(m *Machine) {
			m.shadow.spAt(m.VCPUs[0].RootMMU.Root).RootCount++
		}, "root_count"},
		{"a lost parent link", func(m *Machine) {
			for _, sp := range m.shadow.pages {
				if sp.Role.Level() == 1 {
					sp.ParentPTEs = nil
				}
			}
		}, "parent_ptes"},
		{"a wrong write-track count", func(m *Machine) {
			m.shadow.writeTrack[0x7777]++
		}, "gfn_write_track"},
		{"an unsync bitmap out of step", func(m *Machine) {
			m.shadow.spAt(m.VCPUs[0].RootMMU.Root).UnsyncChildren = 3
		}, "unsync_children"},
		{"a page missing from its hash bucket", func(m *Machine) {
			root := m.shadow.spAt(m.VCPUs[0].RootMMU.Root)
			b := kvmPageTableHashfn(root.GFN)
			m.shadow.hash[b] = removeSP(m.shadow.hash[b], root)
		}, "hash bucket"},
	} {
		m := base.Clone()
		tc.corrupt(m)
		bad := m.CheckShadowInvariants()
		if !strings.Contains(strings.Join(bad, "\n"), tc.want) {
			t.Errorf("%s: got %q, want a report about %q", tc.name, bad, tc.want)
		}
		mustCheck(t, base, "the original after "+tc.name)
	}
	if got := (&Machine{}).CheckShadowInvariants(); got != nil {
		t.Errorf("no shadow MMU: %v", got)
	}
}
