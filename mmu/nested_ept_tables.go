package mmu

import "fmt"

// EPT12Tables builds L1's EPT tables (EPT12) in L1's guest-physical
// memory the way an L1 hypervisor would, without tracing: scenarios and
// tests use it for the initial state. Tables come from a pool of L1 guest
// frames, lowest first.
type EPT12Tables struct {
	m      *Machine
	Levels int // 4 or 5: the page-walk length EPTP12 will name
	Root   GPA // L1 GPA of the top table
	// UpperFlags are the bits of the non-leaf entries it creates; by
	// default R, W and X, so that the leaf alone decides the rights.
	UpperFlags uint64
	next, end  GPA
}

// NewEPT12Tables allocates an empty top table from the pool [pool,
// pool+size) of L1 memory, which must be covered by memslots.
func NewEPT12Tables(m *Machine, levels int, pool GPA, size uint64) (*EPT12Tables, error) {
	if levels != 4 && levels != 5 {
		return nil, fmt.Errorf("EPT has 4 or 5 levels, not %d", levels)
	}
	if pool&pageMask != 0 {
		return nil, fmt.Errorf("the EPT12 table pool at L1 GPA %s is not page aligned", pool)
	}
	t := &EPT12Tables{m: m, Levels: levels, UpperFlags: EPTRWX, next: pool, end: pool + GPA(size)}
	root, err := t.allocTable()
	if err != nil {
		return nil, err
	}
	t.Root = root
	return t, nil
}

// EPTP is the EPT pointer L1 writes into vmcs12 for these tables:
// write-back walks, the page-walk length, and bit 6 when ad is set.
func (t *EPT12Tables) EPTP(ad bool) uint64 {
	return constructEPTP(HPA(t.Root), t.Levels, ad)
}

func (t *EPT12Tables) allocTable() (GPA, error) {
	if t.next+PageSize > t.end || t.next+PageSize < t.next {
		return 0, fmt.Errorf("the EPT12 table pool is full (it ends at L1 GPA %s)", t.end)
	}
	gpa := t.next
	for off := GPA(0); off < PageSize; off += 8 {
		if err := t.m.WriteGuest(gpa+off, 8, 0); err != nil {
			return 0, fmt.Errorf("EPT12 table pool: %v", err)
		}
	}
	t.next += PageSize
	return gpa, nil
}

// EntryAddr returns the L1 GPA of the EPT12 entry at level for the L2 GPA
// l2, creating the tables above it as needed.
func (t *EPT12Tables) EntryAddr(l2 GPA, level int) (GPA, error) {
	if level < 1 || level > t.Levels {
		return 0, fmt.Errorf("a %d-level EPT has levels 1 to %d, not %d", t.Levels, t.Levels, level)
	}
	if uint64(l2) >= uint64(1)<<uint(PageShift+9*t.Levels) {
		return 0, fmt.Errorf("L2 GPA %s is beyond what a %d-level EPT translates", l2, t.Levels)
	}
	table := t.Root
	for l := t.Levels; ; l-- {
		addr := table + GPA(8*spteIndex(l2, l))
		if l == level {
			return addr, nil
		}
		e, err := t.m.ReadGuest(addr, 8)
		if err != nil {
			return 0, err
		}
		if e&EPTRWX != 0 && l <= 3 && e&EPTPageSize != 0 {
			return 0, fmt.Errorf("L2 GPA %s is already mapped by a large page at level %d", l2, l)
		}
		if e&EPTRWX == 0 {
			next, err := t.allocTable()
			if err != nil {
				return 0, err
			}
			e = uint64(next) | t.UpperFlags
			if err := t.m.WriteGuest(addr, 8, e); err != nil {
				return 0, err
			}
		}
		table = GPA(e & eptAddrMask)
	}
}

// SetEntry writes value into the EPT12 entry at level on l2's path,
// creating missing tables above it, and returns the entry's L1 GPA.
func (t *EPT12Tables) SetEntry(l2 GPA, level int, value uint64) (GPA, error) {
	addr, err := t.EntryAddr(l2, level)
	if err != nil {
		return 0, err
	}
	return addr, t.m.WriteGuest(addr, 8, value)
}

// Map maps size bytes (4 KiB, 2 MiB or 1 GiB) of L2 GPA space at l2 to the
// L1 GPA l1 with one leaf carrying flags (R/W/X, memory type, IPAT, A/D);
// bit 7 is added for a large page.
func (t *EPT12Tables) Map(l2, l1 GPA, size uint64, flags uint64) (GPA, error) {
	level := 0
	switch size {
	case PageSize:
		level = 1
	case 2 << 20:
		level = 2
	case 1 << 30:
		level = 3
	default:
		return 0, fmt.Errorf("EPT maps 4 KiB, 2 MiB or 1 GiB pages, not %s", sizeString(size))
	}
	if uint64(l2)%size != 0 || uint64(l1)%size != 0 {
		return 0, fmt.Errorf("a %s EPT page needs L2 and L1 GPAs aligned to %s (%s, %s)",
			sizeString(size), sizeString(size), l2, l1)
	}
	e := uint64(l1) | flags
	if level > 1 {
		e |= EPTPageSize
	}
	return t.SetEntry(l2, level, e)
}
