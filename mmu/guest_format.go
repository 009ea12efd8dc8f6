package mmu

import "fmt"

// guestFormat describes the layout of the guest's tables in one paging
// mode: the compile-time parameters paging_tmpl.h gets from PTTYPE.
type guestFormat struct {
	mode      PagingMode
	rootLevel int // top level; for PAE the PDPTEs (level 3) come from registers
	bits      int // index bits per level: 10 for 32-bit, 9 otherwise
	entrySize int // 4 or 8 bytes
	wide      bool
	prefix    string // paging32 or paging64, as FNAME expands
}

func formatFor(mode PagingMode) guestFormat {
	switch mode {
	case Paging32:
		return guestFormat{mode, 2, 10, 4, false, "paging32"}
	case PagingPAE:
		return guestFormat{mode, 3, 9, 8, true, "paging64"}
	case Paging4:
		return guestFormat{mode, 4, 9, 8, true, "paging64"}
	case Paging5:
		return guestFormat{mode, 5, 9, 8, true, "paging64"}
	}
	return guestFormat{mode: PagingOff}
}

// index returns the entry index that gva selects at level.
func (f guestFormat) index(gva GVA, level int) int {
	shift := PageShift + (level-1)*f.bits
	return int((uint64(gva) >> uint(shift)) & (1<<uint(f.bits) - 1))
}

// indexBits returns the GVA bit range [lo, hi] consumed at level.
func (f guestFormat) indexBits(level int) (lo, hi int) {
	lo = PageShift + (level-1)*f.bits
	hi = lo + f.bits - 1
	if f.mode == PagingPAE && level == 3 {
		hi = 31 // the PDPT index is only two bits
	}
	return lo, hi
}

// vaBits is the width of a GVA in the mode.
func (f guestFormat) vaBits() int {
	switch f.mode {
	case Paging4:
		return 48
	case Paging5:
		return 57
	}
	return 32
}

// GVAField is a run of GVA bits that one level consumes (Level 0 is the
// page offset).
type GVAField struct {
	Level  int
	Lo, Hi int
	Name   string
}

// GVAFields splits a GVA into the fields the walk consumes, highest first,
// ending with the offset inside a 4 KiB page.
func GVAFields(mode PagingMode) []GVAField {
	f := formatFor(mode)
	if f.mode == PagingOff {
		return []GVAField{{Level: 0, Lo: 0, Hi: 31, Name: "GPA"}}
	}
	var out []GVAField
	for l := f.rootLevel; l >= 1; l-- {
		lo, hi := f.indexBits(l)
		out = append(out, GVAField{Level: l, Lo: lo, Hi: hi, Name: TableName(mode, l)})
	}
	return append(out, GVAField{Level: 0, Lo: 0, Hi: PageShift - 1, Name: "offset"})
}

// EntryName is the SDM's name for an entry at level in mode (PML4E, PDE...).
func EntryName(mode PagingMode, level int) string {
	switch level {
	case 1:
		return "PTE"
	case 2:
		return "PDE"
	case 3:
		return "PDPTE"
	case 4:
		return "PML4E"
	case 5:
		return "PML5E"
	}
	return fmt.Sprintf("level-%d entry", level)
}

// TableName is the SDM's name for a table at level (PML4, PDPT, PD, PT).
func TableName(mode PagingMode, level int) string {
	switch level {
	case 1:
		return "PT"
	case 2:
		return "PD"
	case 3:
		return "PDPT"
	case 4:
		return "PML4"
	case 5:
		return "PML5"
	}
	return fmt.Sprintf("level-%d table", level)
}

// TableEntries is how many entries a guest table at level holds.
func TableEntries(mode PagingMode, level int) int {
	f := formatFor(mode)
	if f.mode == PagingPAE && level == 3 {
		return 4
	}
	if f.mode == PagingOff {
		return 0
	}
	return 1 << uint(f.bits)
}

// EntrySize is the size in bytes of a guest entry in mode.
func EntrySize(mode PagingMode) int {
	if mode == Paging32 {
		return 4
	}
	return 8
}

// LevelPageSize is the size of the page a leaf at level maps in mode.
func LevelPageSize(mode PagingMode, level int) uint64 {
	f := formatFor(mode)
	return uint64(1) << uint(PageShift+(level-1)*f.bits)
}

// isLastGPTE reports whether e ends the walk at level, as is_last_gpte: a
// PTE always does; above, PS does, but in 32-bit paging only with CR4.PSE.
func (f guestFormat) isLastGPTE(e PTE, level int, cr4PSE bool) bool {
	if level == 1 {
		return true
	}
	if f.mode == Paging32 && !cr4PSE {
		return false
	}
	return e.PageSize()
}

// tableAddr returns the GPA of the next table that a non-leaf e points to.
func (f guestFormat) tableAddr(e PTE) GPA {
	if !f.wide {
		return GPA(uint64(e) & 0xfffff000)
	}
	return GPA(uint64(e) & bits(12, 51))
}

// leafGPA computes the GPA a leaf at level maps gva to, including the
// PSE-36 address bits of a 4 MiB page when the CPU has them.
func (f guestFormat) leafGPA(e PTE, level int, gva GVA, pse36 bool) GPA {
	if !f.wide {
		if level == 2 {
			base := uint64(e) & 0xffc00000
			if pse36 {
				base |= ((uint64(e) & PT32PSE36Mask) >> PT32PSE36Shift) << 32
			}
			return GPA(base | uint64(gva)&bits(0, 21))
		}
		return GPA(uint64(e)&0xfffff000 | uint64(gva)&pageMask)
	}
	shift := PageShift + (level-1)*f.bits
	return GPA(uint64(e)&bits(shift, 51) | uint64(gva)&bits(0, shift-1))
}

// cr3Base returns the GPA of the root table (or of the PDPT for PAE).
func (f guestFormat) cr3Base(cr3 uint64, maxPhyAddr int) GPA {
	switch f.mode {
	case Paging32:
		return GPA(cr3 & 0xfffff000)
	case PagingPAE:
		return GPA(cr3 & 0xffffffe0)
	}
	return GPA(cr3 & bits(12, maxPhyAddr-1))
}
