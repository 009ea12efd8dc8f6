package mmu

import "fmt"

// Memslot maps a range of guest frames onto host frames, as struct
// kvm_memory_slot does (base_gfn, npages, and the host memory behind them).
type Memslot struct {
	ID      int
	BaseGFN GFN
	NPages  uint64
	BasePFN PFN
	// HostPageSize is the size of the pages the host maps the slot's
	// memory with (4 KiB, 2 MiB from THP or hugetlbfs, 1 GiB from
	// hugetlbfs); 0 means 4 KiB. It bounds the TDP MMU's huge pages
	// (host_pfn_mapping_level).
	HostPageSize uint64
}

// hostLevel is the level of the host's mapping of the slot's memory: 1
// for 4 KiB pages, 2 for 2 MiB, 3 for 1 GiB.
func (s *Memslot) hostLevel() int {
	switch s.HostPageSize {
	case 1 << 30:
		return 3
	case 2 << 20:
		return 2
	}
	return 1
}

// Contains reports whether gfn falls inside the slot.
func (s *Memslot) Contains(gfn GFN) bool {
	return gfn >= s.BaseGFN && uint64(gfn-s.BaseGFN) < s.NPages
}

// PFN returns the host frame behind gfn, which must be in the slot; it is
// the model's __gfn_to_pfn_memslot.
func (s *Memslot) PFN(gfn GFN) PFN { return s.BasePFN + PFN(gfn-s.BaseGFN) }

// LastGFN returns the highest guest frame of the slot.
func (s *Memslot) LastGFN() GFN { return s.BaseGFN + GFN(s.NPages) - 1 }

// gfnToMemslot finds the slot holding gfn, as __gfn_to_memslot does.
func (m *Machine) gfnToMemslot(gfn GFN) *Memslot {
	for i := range m.Slots {
		if m.Slots[i].Contains(gfn) {
			return &m.Slots[i]
		}
	}
	return nil
}

// AddMemslot installs a slot after checking that it overlaps no other slot in
// either address space and that its host frames exist.
func (m *Machine) AddMemslot(s Memslot) error {
	if s.NPages == 0 {
		return fmt.Errorf("memslot %d has no pages", s.ID)
	}
	switch hp := s.HostPageSize; hp {
	case 0, PageSize:
	case 2 << 20, 1 << 30:
		if uint64(s.BasePFN.HPA())%hp != 0 || (s.NPages<<PageShift)%hp != 0 {
			return fmt.Errorf("memslot %d: host pages of %s need the host address and the size aligned to %s",
				s.ID, sizeString(hp), sizeString(hp))
		}
	default:
		return fmt.Errorf("memslot %d: host pages are 4 KiB, 2 MiB or 1 GiB, not %s", s.ID, sizeString(hp))
	}
	if uint64(s.BaseGFN)+s.NPages < uint64(s.BaseGFN) {
		return fmt.Errorf("memslot %d wraps around the guest physical address space", s.ID)
	}
	if uint64(s.LastGFN()) >= uint64(1)<<uint(m.Config.MaxPhyAddr-PageShift) {
		return fmt.Errorf("memslot %d ends at GPA %s, beyond MAXPHYADDR (%d bits)",
			s.ID, (s.LastGFN() + 1).GPA(), m.Config.MaxPhyAddr)
	}
	for i := range m.Slots {
		o := &m.Slots[i]
		if o.ID == s.ID {
			return fmt.Errorf("memslot %d is declared twice", s.ID)
		}
		if s.BaseGFN <= o.LastGFN() && o.BaseGFN <= s.LastGFN() {
			return fmt.Errorf("memslot %d (GPA %s-%s) overlaps memslot %d (GPA %s-%s)",
				s.ID, s.BaseGFN.GPA(), (s.LastGFN()+1).GPA()-1, o.ID, o.BaseGFN.GPA(), (o.LastGFN()+1).GPA()-1)
		}
		oEnd, sEnd := o.BasePFN+PFN(o.NPages), s.BasePFN+PFN(s.NPages)
		if s.BasePFN < oEnd && o.BasePFN < sEnd {
			return fmt.Errorf("memslot %d shares host memory with memslot %d", s.ID, o.ID)
		}
	}
	if err := m.Mem.Reserve(s.BasePFN, s.NPages); err != nil {
		return fmt.Errorf("memslot %d: %v", s.ID, err)
	}
	// Keep slots ordered by GFN so lookups and printing are deterministic.
	at := len(m.Slots)
	for i := range m.Slots {
		if s.BaseGFN < m.Slots[i].BaseGFN {
			at = i
			break
		}
	}
	m.Slots = append(m.Slots, Memslot{})
	copy(m.Slots[at+1:], m.Slots[at:])
	m.Slots[at] = s
	// Each swap of the memslot arrays advances the generation by one per
	// address space (two on x86: normal and SMM).
	m.slotsGen += 2
	return nil
}

// memslotByID finds a slot by its ID.
func (m *Machine) memslotByID(id int) *Memslot {
	for i := range m.Slots {
		if m.Slots[i].ID == id {
			return &m.Slots[i]
		}
	}
	return nil
}

// deleteMemslot removes a slot from the memslots. Its host memory stays
// reserved: it belongs to userspace, which may map it again.
func (m *Machine) deleteMemslot(id int) {
	for i := range m.Slots {
		if m.Slots[i].ID == id {
			m.Slots = append(m.Slots[:i], m.Slots[i+1:]...)
			// Deletion swaps twice: once to mark the slot invalid,
			// once to drop it.
			m.slotsGen += 4
			return
		}
	}
}

// GPAToHPA translates through the memslots alone; ok is false when no slot
// covers gpa (in KVM terms the address is MMIO).
func (m *Machine) GPAToHPA(gpa GPA) (HPA, bool) {
	if hpa, ok, td := m.tdxGPAToHPA(gpa); td {
		return hpa, ok
	}
	s := m.gfnToMemslot(gpa.GFN())
	if s == nil {
		return 0, false
	}
	return s.PFN(gpa.GFN()).HPA() + HPA(gpa.Offset()), true
}

// ReadGuest reads size bytes of guest physical memory through the memslots,
// as kvm_read_guest does.
func (m *Machine) ReadGuest(gpa GPA, size int) (uint64, error) {
	hpa, ok := m.GPAToHPA(gpa)
	if !ok {
		return 0, fmt.Errorf("GPA %s is not covered by any memslot", gpa)
	}
	return m.Mem.Read(hpa, size)
}

// WriteGuest writes guest physical memory through the memslots without
// tracing; scenario setup uses it to build the guest's initial tables.
func (m *Machine) WriteGuest(gpa GPA, size int, v uint64) error {
	hpa, ok := m.GPAToHPA(gpa)
	if !ok {
		return fmt.Errorf("GPA %s is not covered by any memslot", gpa)
	}
	_, err := m.Mem.Write(hpa, size, v)
	return err
}
