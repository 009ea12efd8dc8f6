package mmu

import (
	"encoding/binary"
	"fmt"
	"sort"
)

type page = [PageSize]byte

// PhysMem is simulated host physical memory, made of 4 KiB pages that spring
// into existence (zeroed) when first written. Clones share pages until one
// side writes (copy on write), which keeps timeline checkpoints cheap.
type PhysMem struct {
	size  uint64 // bytes of host memory; addresses at or above it do not exist
	pages map[PFN]*page
	owned map[PFN]bool // pages this copy may write in place
	// used marks host frames handed out by AllocPage, and reserved holds
	// the ranges backing memslots, so the allocator never gives one out
	// twice. Ranges keep a gigabyte memslot from costing a map entry per
	// frame in every clone.
	used      map[PFN]bool
	reserved  []pfnRange
	allocNext PFN
}

// pfnRange is the host frames [base, end).
type pfnRange struct{ base, end PFN }

// NewPhysMem returns size bytes of empty host memory whose page allocator
// starts looking for free frames at allocBase.
func NewPhysMem(size uint64, allocBase PFN) *PhysMem {
	return &PhysMem{
		size:      size &^ pageMask,
		pages:     map[PFN]*page{},
		owned:     map[PFN]bool{},
		used:      map[PFN]bool{},
		allocNext: allocBase,
	}
}

// Size returns the number of bytes of host memory.
func (m *PhysMem) Size() uint64 { return m.size }

// Clone returns a copy of m that shares its pages until either side writes.
func (m *PhysMem) Clone() *PhysMem {
	c := &PhysMem{
		size:      m.size,
		pages:     make(map[PFN]*page, len(m.pages)),
		owned:     map[PFN]bool{},
		used:      make(map[PFN]bool, len(m.used)),
		reserved:  append([]pfnRange(nil), m.reserved...),
		allocNext: m.allocNext,
	}
	for pfn, p := range m.pages {
		c.pages[pfn] = p
	}
	for pfn := range m.used {
		c.used[pfn] = true
	}
	// Both copies now share every page: neither may write in place.
	m.owned = map[PFN]bool{}
	return c
}

func (m *PhysMem) check(hpa HPA, size int) error {
	switch size {
	case 1, 2, 4, 8:
	default:
		return fmt.Errorf("memory access of %d bytes: only 1, 2, 4 or 8 are possible", size)
	}
	if uint64(hpa)+uint64(size) > m.size || uint64(hpa)+uint64(size) < uint64(hpa) {
		return fmt.Errorf("host physical address %s is beyond the %s of host memory", hpa, sizeString(m.size))
	}
	if uint64(hpa)&pageMask+uint64(size) > PageSize {
		return fmt.Errorf("memory access of %d bytes at %s crosses a page boundary", size, hpa)
	}
	return nil
}

// Read returns the little-endian value of size bytes at hpa.
func (m *PhysMem) Read(hpa HPA, size int) (uint64, error) {
	if err := m.check(hpa, size); err != nil {
		return 0, err
	}
	p := m.pages[hpa.PFN()]
	if p == nil {
		return 0, nil
	}
	off := uint64(hpa) & pageMask
	var buf [8]byte
	copy(buf[:size], p[off:off+uint64(size)])
	return binary.LittleEndian.Uint64(buf[:]), nil
}

// Write stores the low size bytes of v at hpa and returns what was there.
func (m *PhysMem) Write(hpa HPA, size int, v uint64) (uint64, error) {
	old, err := m.Read(hpa, size)
	if err != nil {
		return 0, err
	}
	pfn := hpa.PFN()
	p := m.pages[pfn]
	if p == nil {
		p = new(page)
		m.pages[pfn] = p
		m.owned[pfn] = true
	} else if !m.owned[pfn] {
		cp := *p
		p = &cp
		m.pages[pfn] = p
		m.owned[pfn] = true
	}
	var buf [8]byte
	binary.LittleEndian.PutUint64(buf[:], v)
	off := uint64(hpa) & pageMask
	copy(p[off:off+uint64(size)], buf[:size])
	return old, nil
}

// Reserve marks n frames from base as in use, so AllocPage skips them.
func (m *PhysMem) Reserve(base PFN, n uint64) error {
	if uint64(base)+n > m.size>>PageShift || uint64(base)+n < uint64(base) {
		return fmt.Errorf("host frames %s..%s are beyond the %s of host memory",
			base, PFN(uint64(base)+n-1), sizeString(m.size))
	}
	if n > 0 {
		m.reserved = append(m.reserved, pfnRange{base, base + PFN(n)})
	}
	return nil
}

// reservedEnd returns the end of the reserved range holding pfn, or 0.
func (m *PhysMem) reservedEnd(pfn PFN) PFN {
	for _, r := range m.reserved {
		if pfn >= r.base && pfn < r.end {
			return r.end
		}
	}
	return 0
}

// AllocPage hands out a zeroed host frame that nothing else uses, the
// lowest free one at or above the allocation base, so runs are repeatable.
func (m *PhysMem) AllocPage() (PFN, error) {
	limit := PFN(m.size >> PageShift)
	for pfn := m.allocNext; pfn < limit; pfn++ {
		if end := m.reservedEnd(pfn); end != 0 {
			pfn = end - 1 // skip the whole memslot
			continue
		}
		if m.used[pfn] {
			continue
		}
		m.used[pfn] = true
		delete(m.pages, pfn)
		m.allocNext = pfn + 1
		return pfn, nil
	}
	return 0, fmt.Errorf("out of host memory: no free frame between %s and %s", m.allocNext.HPA(), HPA(m.size))
}

// FillPage writes v into every 8-byte word of frame pfn, as KVM's page
// caches initialise a new page of SPTEs (init_value).
func (m *PhysMem) FillPage(pfn PFN, v uint64) {
	if uint64(pfn) >= m.size>>PageShift {
		return
	}
	p := new(page)
	if v != 0 {
		var buf [8]byte
		binary.LittleEndian.PutUint64(buf[:], v)
		for off := 0; off < PageSize; off += 8 {
			copy(p[off:off+8], buf[:])
		}
	}
	m.pages[pfn] = p
	m.owned[pfn] = true
}

// FreePage returns a frame from AllocPage to the allocator, zeroing it.
func (m *PhysMem) FreePage(pfn PFN) {
	delete(m.used, pfn)
	delete(m.pages, pfn)
	delete(m.owned, pfn)
	if pfn < m.allocNext {
		m.allocNext = pfn
	}
}

// Touched lists the frames that hold non-zero data, in ascending order.
func (m *PhysMem) Touched() []PFN {
	out := make([]PFN, 0, len(m.pages))
	for pfn := range m.pages {
		out = append(out, pfn)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// sizeString prints a byte count the way a lecturer writes it (64 MiB).
func sizeString(n uint64) string {
	units := []struct {
		shift uint
		name  string
	}{{40, "TiB"}, {30, "GiB"}, {20, "MiB"}, {10, "KiB"}}
	for _, u := range units {
		if n >= 1<<u.shift && n&(1<<u.shift-1) == 0 {
			return fmt.Sprintf("%d %s", n>>u.shift, u.name)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}

// SizeString prints a byte count the way a lecturer writes it (64 MiB, 4 KiB).
func SizeString(n uint64) string { return sizeString(n) }
