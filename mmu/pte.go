package mmu

import "strings"

// Bits of an x86 paging-structure entry, in the 32-bit, PAE and 64-bit
// formats alike (the low twelve bits are shared by all three).
const (
	PTPresent  = 1 << 0  // P: the entry maps something
	PTWritable = 1 << 1  // R/W: writes allowed
	PTUser     = 1 << 2  // U/S: user-mode accesses allowed
	PTPWT      = 1 << 3  // page-level write-through
	PTPCD      = 1 << 4  // page-level cache disable
	PTAccessed = 1 << 5  // A: set by the walker when the entry is used
	PTDirty    = 1 << 6  // D: set on the leaf by a write
	PTPageSize = 1 << 7  // PS: the entry maps a large page (PAT in a 4 KiB PTE)
	PTGlobal   = 1 << 8  // G: survives CR3 writes in the TLB
	PTLargePAT = 1 << 12 // PAT bit of a 2 MiB, 4 MiB or 1 GiB page
	PTNX       = 1 << 63 // XD/NX: no instruction fetch (64-bit formats, EFER.NX=1)

	// PTPKeyShift is the first of the four protection-key bits 62:59.
	PTPKeyShift = 59
	// PTPKeyMask selects the protection key of a 64-bit leaf entry.
	PTPKeyMask = uint64(0xf) << PTPKeyShift

	// PT32PSE36Shift is where a 4 MiB PDE keeps physical address bits 35:32
	// (bits 16:13) when the CPU has PSE-36.
	PT32PSE36Shift = 13
	PT32PSE36Mask  = uint64(0xf) << PT32PSE36Shift
)

// Access rights as KVM accumulates them during a walk (ACC_* in mmu.h):
// one bit each for execute, write and user.
const (
	AccExec  = 1 << 0
	AccWrite = 1 << 1
	AccUser  = 1 << 2
	AccAll   = AccExec | AccWrite | AccUser
)

// PTE is one guest paging-structure entry, widened to 64 bits; for the
// 32-bit format only the low half is meaningful.
type PTE uint64

// Present reports the P bit.
func (e PTE) Present() bool { return e&PTPresent != 0 }

// Writable reports the R/W bit.
func (e PTE) Writable() bool { return e&PTWritable != 0 }

// User reports the U/S bit.
func (e PTE) User() bool { return e&PTUser != 0 }

// Accessed reports the A bit.
func (e PTE) Accessed() bool { return e&PTAccessed != 0 }

// Dirty reports the D bit.
func (e PTE) Dirty() bool { return e&PTDirty != 0 }

// PageSize reports bit 7 (PS above level 1, PAT at level 1).
func (e PTE) PageSize() bool { return e&PTPageSize != 0 }

// NX reports bit 63.
func (e PTE) NX() bool { return uint64(e)&PTNX != 0 }

// PKey returns the protection key in bits 62:59.
func (e PTE) PKey() int { return int((uint64(e) & PTPKeyMask) >> PTPKeyShift) }

// DecodeFlags spells out the interesting bits of an x86 entry, as the
// pictures and the trace show them: "P W U A D PS NX pkey=3". level is the
// entry's level (1 = PTE), wide tells whether the format has bits 63:32.
func DecodeFlags(e PTE, level int, wide bool) string {
	if !e.Present() {
		return "not present"
	}
	var b strings.Builder
	add := func(s string) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s)
	}
	add("P")
	if e.Writable() {
		add("W")
	}
	if e.User() {
		add("U")
	}
	if e&PTPWT != 0 {
		add("PWT")
	}
	if e&PTPCD != 0 {
		add("PCD")
	}
	if e.Accessed() {
		add("A")
	}
	if e.Dirty() {
		add("D")
	}
	if e.PageSize() {
		if level > 1 {
			add("PS")
		} else {
			add("PAT")
		}
	}
	if e&PTGlobal != 0 {
		add("G")
	}
	if wide {
		if e.NX() {
			add("NX")
		}
		if k := e.PKey(); k != 0 {
			add("pkey=" + itoa(k))
		}
	}
	return b.String()
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	var buf [20]byte
	i := len(buf)
	for n > 0 {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		buf[i] = '-'
	}
	return string(buf[i:])
}
