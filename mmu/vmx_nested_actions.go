package mmu

import "fmt"

// WriteEPT12Entry is L1 storing Value into the EPT12 entry at Level on
// the path of the L2 GPA L2GPA (the tables above must exist). The entry is
// found when the action runs, from vmcs12's EPT pointer, and the store is
// an ordinary L1 store by GPA: if KVM shadows that EPT12 table, L1's own
// EPT01 maps it read-only and the store exits to KVM.
type WriteEPT12Entry struct {
	Source
	VCPU  int
	L2GPA GPA
	Level int
	Value uint64
}

func (a *WriteEPT12Entry) do(m *Machine) (Result, error) {
	v, err := m.VCPU(a.VCPU)
	if err != nil {
		return Result{}, err
	}
	switch {
	case v.Nested.Kind != NestedVMX:
		return Result{}, fmt.Errorf("vCPU %d has no nested EPT set-up", v.ID)
	case v.GuestMode:
		return Result{}, fmt.Errorf("vCPU %d runs L2: L1 edits EPT12 while it runs itself", v.ID)
	}
	gpa, err := m.ept12EntryAddr(nestedEPTGetEPTP(v), a.L2GPA, a.Level)
	if err != nil {
		return Result{}, err
	}
	return m.doGuestWrite(&GuestWrite{Source: a.Source, VCPU: a.VCPU, GPA: gpa, Size: 8, Value: a.Value})
}

// ept12EntryAddr finds the L1 GPA of the EPT12 entry at level on l2's
// path, without side effects.
func (m *Machine) ept12EntryAddr(eptp uint64, l2 GPA, level int) (GPA, error) {
	top := eptpPageWalkLevel(eptp)
	if level < 1 || level > top {
		return 0, fmt.Errorf("a %d-level EPT12 has levels 1 to %d, not %d", top, top, level)
	}
	if uint64(l2) >= uint64(1)<<uint(PageShift+9*top) {
		return 0, fmt.Errorf("L2 GPA %s is beyond what a %d-level EPT translates", l2, top)
	}
	table := eptpRoot(eptp)
	for l := top; ; l-- {
		gpa := table + GPA(8*spteIndex(l2, l))
		if l == level {
			return gpa, nil
		}
		e, err := m.ReadGuest(gpa, 8)
		switch {
		case err != nil:
			return 0, fmt.Errorf("reading EPT12's %s: %v", eptEntryName(l), err)
		case e&EPTRWX == 0:
			return 0, fmt.Errorf("EPT12's %s for L2 GPA %s is not present, so there is no level-%d table to write",
				eptEntryName(l), l2, l-1)
		case e&EPTPageSize != 0 && l <= 3:
			return 0, fmt.Errorf("EPT12's %s for L2 GPA %s maps a %s page: there is no level-%d table below it",
				eptEntryName(l), l2, levelPageName(l), l-1)
		}
		table = GPA(e & eptAddrMask)
	}
}
