package mmu

import "fmt"

// GuestTables builds a guest's page tables in guest memory the way a guest
// kernel would, without tracing: scenarios use it to set up the initial
// state. New tables come from a pool of guest frames, lowest first.
type GuestTables struct {
	m    *Machine
	Mode PagingMode
	Root GPA // what CR3 points to (the PDPT for PAE)
	// UpperFlags are the flags of the non-leaf entries it creates; by
	// default P, W and U, so that the leaf alone decides the rights.
	UpperFlags PTE
	next, end  GPA
	// space, when set, maps the tables' guest-physical addresses to
	// memslot GPAs: an L2's tables live in L2 GPAs, which L1's nested
	// tables map to L1 GPAs (NewGuestTablesIn).
	space func(GPA) (GPA, error)
}

// NewGuestTablesIn is NewGuestTables for tables that live in another
// guest-physical space, such as an L2's: space maps each of their GPAs to
// the GPA the memslots hold it at (L1's), or says why it cannot.
func NewGuestTablesIn(m *Machine, mode PagingMode, pool GPA, size uint64, space func(GPA) (GPA, error)) (*GuestTables, error) {
	if space == nil {
		return nil, fmt.Errorf("no address space for the tables")
	}
	g := &GuestTables{m: m, Mode: mode, space: space}
	if err := g.init(pool, size); err != nil {
		return nil, err
	}
	return g, nil
}

// read and write reach a table entry through the memslots, after the
// tables' own space.
func (g *GuestTables) read(gpa GPA, size int) (uint64, error) {
	if g.space != nil {
		l1, err := g.space(gpa)
		if err != nil {
			return 0, err
		}
		gpa = l1
	}
	return g.m.ReadGuest(gpa, size)
}

func (g *GuestTables) write(gpa GPA, size int, v uint64) error {
	if g.space != nil {
		l1, err := g.space(gpa)
		if err != nil {
			return err
		}
		gpa = l1
	}
	return g.m.WriteGuest(gpa, size, v)
}

// NewGuestTables allocates an empty root table from the pool [pool,
// pool+size) of guest memory, which must be covered by memslots.
func NewGuestTables(m *Machine, mode PagingMode, pool GPA, size uint64) (*GuestTables, error) {
	g := &GuestTables{m: m, Mode: mode}
	if err := g.init(pool, size); err != nil {
		return nil, err
	}
	return g, nil
}

// init checks the pool and allocates the root table from it.
func (g *GuestTables) init(pool GPA, size uint64) error {
	if g.Mode == PagingOff {
		return fmt.Errorf("paging is off: a guest without paging has no page tables")
	}
	if formatFor(g.Mode).rootLevel == 0 {
		return fmt.Errorf("%s is not a paging mode", g.Mode)
	}
	if pool&pageMask != 0 {
		return fmt.Errorf("the table pool at GPA %s is not page aligned", pool)
	}
	g.UpperFlags = PTPresent | PTWritable | PTUser
	g.next, g.end = pool, pool+GPA(size)
	root, err := g.allocTable()
	if err != nil {
		return err
	}
	g.Root = root
	return nil
}

// CR3 is the value that points the CPU at these tables.
func (g *GuestTables) CR3() uint64 { return uint64(g.Root) }

func (g *GuestTables) allocTable() (GPA, error) {
	if g.next >= g.end || g.next < g.end-GPA(uint64(g.end-g.next)) {
		return 0, fmt.Errorf("the guest table pool is full (it ends at GPA %s)", g.end)
	}
	gpa := g.next
	for off := GPA(0); off < PageSize; off += 8 {
		if err := g.write(gpa+off, 8, 0); err != nil {
			return 0, fmt.Errorf("table pool: %v", err)
		}
	}
	g.next += PageSize
	return gpa, nil
}

// entryAddr returns the GPA of the entry at level for gva, creating the
// tables above it as needed.
func (g *GuestTables) entryAddr(gva GVA, level int) (GPA, error) {
	f := formatFor(g.Mode)
	if level < 1 || level > f.rootLevel {
		return 0, fmt.Errorf("%s has levels 1 to %d, not %d", g.Mode, f.rootLevel, level)
	}
	if gp, err := checkGVA(g.Mode, gva); err != nil {
		return 0, err
	} else if gp != nil {
		return 0, fmt.Errorf("%s, so no table can map it", gp.Reason)
	}
	table := g.Root
	for l := f.rootLevel; ; l-- {
		idx := f.index(gva, l)
		if g.Mode == PagingPAE && l == 3 {
			idx = int(uint64(gva)>>30) & 3
		}
		addr := table + GPA(idx*f.entrySize)
		if l == level {
			return addr, nil
		}
		raw, err := g.read(addr, f.entrySize)
		if err != nil {
			return 0, err
		}
		e := PTE(raw)
		if e.Present() && l > 1 && f.isLastGPTE(e, l, true) && !(g.Mode == PagingPAE && l == 3) {
			return 0, fmt.Errorf("GVA %s is already mapped by a large page at level %d", gva, l)
		}
		if !e.Present() {
			next, err := g.allocTable()
			if err != nil {
				return 0, err
			}
			flags := g.UpperFlags
			if g.Mode == PagingPAE && l == 3 {
				flags = PTPresent // PDPTEs have no R/W or U/S bits
			}
			e = PTE(uint64(next)) | flags
			if err := g.write(addr, f.entrySize, uint64(e)); err != nil {
				return 0, err
			}
		}
		table = f.tableAddr(e)
	}
}

// SetEntry writes value into the entry at level on gva's path, creating
// missing tables above it.
func (g *GuestTables) SetEntry(gva GVA, level int, value PTE) (GPA, error) {
	addr, err := g.entryAddr(gva, level)
	if err != nil {
		return 0, err
	}
	return addr, g.write(addr, EntrySize(g.Mode), uint64(value))
}

// Map maps size bytes at gva to gpa with one leaf entry carrying flags (P
// is added; PS is added for a large page). size must be a page size the
// mode has: 4 KiB; 4 MiB in 32-bit paging; 2 MiB in PAE and long mode; 1
// GiB in long mode.
func (g *GuestTables) Map(gva GVA, gpa GPA, size uint64, flags PTE) (GPA, error) {
	level := 0
	for l := 1; l <= formatFor(g.Mode).rootLevel; l++ {
		if LevelPageSize(g.Mode, l) == size {
			level = l
		}
	}
	if level == 0 || (g.Mode == PagingPAE && level == 3) || (g.Mode == Paging32 && level > 2) || level > 3 {
		return 0, fmt.Errorf("%s has no %s pages", g.Mode, sizeString(size))
	}
	if uint64(gva)%size != 0 || uint64(gpa)%size != 0 {
		return 0, fmt.Errorf("a %s page needs GVA and GPA aligned to %s (GVA %s, GPA %s)",
			sizeString(size), sizeString(size), gva, gpa)
	}
	e := PTE(uint64(gpa)) | flags | PTPresent
	if level > 1 {
		e |= PTPageSize
		if g.Mode == Paging32 && uint64(gpa) >= 1<<36 {
			return 0, fmt.Errorf("a 4 MiB page reaches only 36 bits of physical address (PSE-36), not GPA %s", gpa)
		}
		if g.Mode == Paging32 && uint64(gpa) > 0xffffffff {
			// PSE-36: physical address bits 35:32 go into PDE bits 16:13.
			e = PTE(uint64(gpa)&0xffc00000) | PTE(((uint64(gpa)>>32)&0xf)<<PT32PSE36Shift) | flags | PTPresent | PTPageSize
		}
	}
	if g.Mode == Paging32 && uint64(e)>>32 != 0 {
		return 0, fmt.Errorf("32-bit entries cannot hold GPA %s or bits above 31", gpa)
	}
	return g.SetEntry(gva, level, e)
}
