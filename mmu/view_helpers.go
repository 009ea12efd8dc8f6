package mmu

import "encoding/binary"

// Read-only views of a machine for pictures (render/): the guest's tables as
// the walker would follow them, without events, side effects or checks
// beyond what is needed to find the next table. Written for render; the
// walker itself stays the authority on what a walk does.

// PathLevel is one level of the guest's tables on the path of a GVA.
type PathLevel struct {
	Level    int
	Table    GPA  // GPA of the table (for PAE level 3: of the PDPT in memory)
	TableHPA HPA  // host address of the table
	Mapped   bool // a memslot backs the table
	FromReg  bool // PAE level 3: the entry comes from the PDPTR registers
	Index    int  // the entry selected by the GVA
	EntryGPA GPA  // GPA of that entry
	Entry    PTE  // its value (for FromReg, the register's value)
	Present  bool
	Leaf     bool // the entry maps a page (ends the walk)
}

// GuestPath is the whole path of a GVA through the guest's tables of a vCPU.
type GuestPath struct {
	Mode   PagingMode
	CR3    uint64
	Levels []PathLevel // root first; ends at a leaf, a non-present entry or an unmapped table
	// Set when the path ends in a present leaf.
	HasGPA   bool
	GPA      GPA
	PageSize uint64
	HPA      HPA
	HasHPA   bool
}

// GuestMode returns the paging mode the walk MMU of vCPU id uses.
func (m *Machine) GuestMode(id int) PagingMode {
	v, err := m.VCPU(id)
	if err != nil {
		return PagingOff
	}
	return PagingMode(v.WalkMMU().CPURole.Base.Level())
}

// PathOf follows the guest's tables of vCPU id for gva the way the walker
// does, without checks: each level's table, index and entry, until a leaf,
// a non-present entry or a table outside every memslot.
func (m *Machine) PathOf(id int, gva GVA) GuestPath {
	v, err := m.VCPU(id)
	if err != nil {
		return GuestPath{}
	}
	return m.pathWith(pathSpace{regs: v.Regs, pdptrs: v.PDPTRs, mode: m.GuestMode(id),
		pse: v.WalkMMU().CPURole.Ext.CR4PSE, toHPA: m.guestMemOf(v)}, gva)
}

// pathSpace is what a picture's walk needs of a guest: its registers and
// PDPTRs, paging mode, CR4.PSE, and how its GPAs reach host memory.
type pathSpace struct {
	regs   Regs
	pdptrs [4]uint64
	mode   PagingMode
	pse    bool
	toHPA  func(GPA) (HPA, bool)
}

// pathWith is PathOf for the guest g describes.
func (m *Machine) pathWith(g pathSpace, gva GVA) GuestPath {
	mode := g.mode
	p := GuestPath{Mode: mode, CR3: g.regs.CR3}
	f := formatFor(mode)
	if mode == PagingOff {
		p.HasGPA, p.GPA, p.PageSize = true, GPA(gva), PageSize
		p.HPA, p.HasHPA = g.toHPA(p.GPA)
		return p
	}
	table := f.cr3Base(g.regs.CR3, m.Config.MaxPhyAddr)
	for level := f.rootLevel; level >= 1; level-- {
		pl := PathLevel{Level: level, Table: table, Index: f.index(gva, level)}
		pl.TableHPA, pl.Mapped = g.toHPA(table)
		if mode == PagingPAE && level == 3 {
			pl.Index = int(uint64(gva)>>30) & 3
			pl.FromReg, pl.Mapped = true, true
			pl.Entry = PTE(g.pdptrs[pl.Index])
		} else if pl.Mapped {
			raw, _ := m.Mem.Read(pl.TableHPA+HPA(pl.Index*f.entrySize), f.entrySize)
			pl.Entry = PTE(raw)
		}
		pl.EntryGPA = table + GPA(pl.Index*f.entrySize)
		pl.Present = pl.Mapped && pl.Entry.Present()
		pl.Leaf = pl.Present && !pl.FromReg && f.isLastGPTE(pl.Entry, level, g.pse)
		p.Levels = append(p.Levels, pl)
		if !pl.Present {
			return p
		}
		if pl.Leaf {
			p.HasGPA = true
			p.GPA = f.leafGPA(pl.Entry, level, gva, m.Config.PSE36)
			p.PageSize = LevelPageSize(mode, level)
			p.HPA, p.HasHPA = g.toHPA(p.GPA)
			return p
		}
		table = f.tableAddr(pl.Entry)
	}
	return p
}

// GuestTable reads the n entries of the guest table at gpa in mode's entry
// size, through the memslots; entries outside every memslot read as 0. It
// looks each 4 KiB page up once rather than every entry, which makes a
// picture of five 512-entry tables several times cheaper.
func (m *Machine) GuestTable(mode PagingMode, gpa GPA, n int) []uint64 {
	return m.guestTable(m.GPAToHPA, mode, gpa, n)
}

// GuestTableOf is GuestTable in the guest-physical space vCPU id runs in:
// L2's while it runs a nested guest, its GPAs translated through L1's
// nested tables without side effects.
func (m *Machine) GuestTableOf(id int, mode PagingMode, gpa GPA, n int) []uint64 {
	v, err := m.VCPU(id)
	if err != nil {
		return make([]uint64, n)
	}
	return m.guestTable(m.guestMemOf(v), mode, gpa, n)
}

// guestMemOf is how the guest vCPU v runs sees memory: L1 GPAs through
// the memslots, or, while v runs L2, L2 GPAs through L1's nested tables
// (nestedLookup) and then the memslots.
func (m *Machine) guestMemOf(v *VCPU) func(GPA) (HPA, bool) {
	if !v.GuestMode || v.Nested.Kind == NestedNone {
		return m.GPAToHPA
	}
	return m.l2Mem(v)
}

func (m *Machine) guestTable(toHPA func(GPA) (HPA, bool), mode PagingMode, gpa GPA, n int) []uint64 {
	size := EntrySize(mode)
	out := make([]uint64, n)
	frame := ^GFN(0)
	var pg *page
	for i := range out {
		a := gpa + GPA(i*size)
		if a.GFN() != frame {
			frame, pg = a.GFN(), nil
			if hpa, ok := toHPA(frame.GPA()); ok {
				pg = m.Mem.pages[hpa.PFN()] // nil: never written, all zero
			}
		}
		if pg == nil {
			continue
		}
		off := a.Offset()
		if size == 8 {
			out[i] = binary.LittleEndian.Uint64(pg[off : off+8])
		} else {
			out[i] = uint64(binary.LittleEndian.Uint32(pg[off : off+4]))
		}
	}
	return out
}

// TableAddrOf returns the GPA of the next table a non-leaf entry e points
// to in mode (for PAE level 3, what a PDPTE points to).
func TableAddrOf(mode PagingMode, e PTE) GPA { return formatFor(mode).tableAddr(e) }

// EntryIsLeaf reports whether entry e at level ends a walk in mode (a PTE,
// or an entry with PS; in 32-bit paging PS counts only with CR4.PSE).
func EntryIsLeaf(mode PagingMode, e PTE, level int, cr4PSE bool) bool {
	if mode == PagingPAE && level == 3 {
		return false
	}
	return formatFor(mode).isLastGPTE(e, level, cr4PSE)
}

// GVAIndex is the index that gva selects in a table at level in mode.
func GVAIndex(mode PagingMode, gva GVA, level int) int {
	if mode == PagingPAE && level == 3 {
		return int(uint64(gva)>>30) & 3
	}
	return formatFor(mode).index(gva, level)
}

// RootLevel is the level of the top table in mode (3 for PAE: the PDPTRs).
func RootLevel(mode PagingMode) int { return formatFor(mode).rootLevel }
