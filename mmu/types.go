package mmu

import "strconv"

// Page geometry shared by every paging mode.
const (
	PageShift = 12
	PageSize  = 1 << PageShift
	pageMask  = PageSize - 1
)

// GVA is a guest virtual address: what guest software puts in a pointer.
type GVA uint64

// GPA is a guest physical address: what the guest believes is RAM.
type GPA uint64

// HPA is a host physical address: where a byte really lives.
type HPA uint64

// GFN is a guest page frame number, a GPA shifted right by PageShift.
type GFN uint64

// PFN is a host page frame number, an HPA shifted right by PageShift.
type PFN uint64

// GFN returns the guest frame that contains a.
func (a GPA) GFN() GFN { return GFN(a >> PageShift) }

// Offset returns a's offset inside its 4 KiB page.
func (a GPA) Offset() uint64 { return uint64(a) & pageMask }

// GPA returns the first address of frame f.
func (f GFN) GPA() GPA { return GPA(f << PageShift) }

// PFN returns the host frame that contains a.
func (a HPA) PFN() PFN { return PFN(a >> PageShift) }

// HPA returns the first address of frame p.
func (p PFN) HPA() HPA { return HPA(p << PageShift) }

func (a GVA) String() string { return hex(uint64(a)) }
func (a GPA) String() string { return hex(uint64(a)) }
func (a HPA) String() string { return hex(uint64(a)) }
func (f GFN) String() string { return hex(uint64(f)) }
func (p PFN) String() string { return hex(uint64(p)) }

// hex formats v the way the trace prints every address and value: 0x and
// lower-case digits (what %#x gives, without fmt's cost).
func hex(v uint64) string { return "0x" + strconv.FormatUint(v, 16) }

// Hex formats v as the trace does: lower-case hexadecimal with a 0x prefix.
func Hex(v uint64) string { return hex(v) }

// bits returns a mask with bits lo..hi (inclusive) set, like the kernel's
// rsvd_bits(); an empty range gives 0.
func bits(lo, hi int) uint64 {
	if lo < 0 {
		lo = 0
	}
	if hi < lo || lo > 63 {
		return 0
	}
	if hi > 63 {
		hi = 63
	}
	return (^uint64(0) >> (63 - hi)) &^ ((uint64(1) << lo) - 1)
}
