package mmu

import (
	"fmt"
	"strings"
)

// Bits of an EPT paging-structure entry (VMX_EPT_* in asm/vmx.h). An entry
// is present when any of R, W and X is set.
const (
	EPTRead       = 1 << 0          // VMX_EPT_READABLE_MASK
	EPTWrite      = 1 << 1          // VMX_EPT_WRITABLE_MASK
	EPTExec       = 1 << 2          // VMX_EPT_EXECUTABLE_MASK
	EPTRWX        = 7               // VMX_EPT_RWX_MASK
	EPTMTShift    = 3               // VMX_EPT_MT_EPTE_SHIFT: memory type in bits 5:3 of a leaf
	EPTMTMask     = 7 << EPTMTShift // VMX_EPT_MT_MASK
	EPTIPAT       = 1 << 6          // VMX_EPT_IPAT_BIT: ignore the guest's PAT
	EPTPageSize   = 1 << 7          // bit 7: the entry maps a 2 MiB or 1 GiB page
	EPTAccessed   = 1 << 8          // VMX_EPT_ACCESS_BIT (with EPTP.AD)
	EPTDirty      = 1 << 9          // VMX_EPT_DIRTY_BIT (leaf, with EPTP.AD)
	EPTSuppressVE = 1 << 63         // VMX_EPT_SUPPRESS_VE_BIT

	// EPT memory types (bits 5:3 of a leaf, bits 2:0 of the EPTP).
	EPTMemUC = 0
	EPTMemWB = 6
)

// Bits of the EPT pointer (VMX_EPTP_* in asm/vmx.h).
const (
	EPTPMemWB    = 6      // VMX_EPTP_MT_WB
	EPTPPWLShift = 3      // page-walk length minus one in bits 5:3
	EPTPAD       = 1 << 6 // VMX_EPTP_AD_ENABLE_BIT
)

// Exit qualification of an EPT violation (EPT_VIOLATION_* in asm/vmx.h).
const (
	EPTViolationAccRead       = 1 << 0 // the access was a data read
	EPTViolationAccWrite      = 1 << 1 // a data write (or, with EPT A/D, a guest paging-structure access)
	EPTViolationAccInstr      = 1 << 2 // an instruction fetch
	EPTViolationProtRead      = 1 << 3 // AND of R over the EPT entries used
	EPTViolationProtWrite     = 1 << 4 // AND of W
	EPTViolationProtExec      = 1 << 5 // AND of X
	EPTViolationGVAIsValid    = 1 << 7 // the guest linear address field is valid
	EPTViolationGVATranslated = 1 << 8 // the final translation, not a paging-structure access
)

// NPT error-code bits beyond the x86 #PF ones (PFERR_GUEST_* in
// kvm_host.h): set in EXITINFO1 of a nested page fault.
const (
	PFErrGuestFinal = uint64(1) << 32 // PFERR_GUEST_FINAL_MASK: the final GPA translation
	PFErrGuestPage  = uint64(1) << 33 // PFERR_GUEST_PAGE_MASK: a guest page-table access
)

// eptAddrMask keeps bits 51:12 of an EPT or NPT entry.
const eptAddrMask = uint64(0x000ffffffffff000)

// eptMemTypeName names an EPT memory type.
func eptMemTypeName(mt int) string {
	switch mt {
	case 0:
		return "UC"
	case 1:
		return "WC"
	case 4:
		return "WT"
	case 5:
		return "WP"
	case 6:
		return "WB"
	}
	return fmt.Sprintf("MT%d", mt)
}

// DecodeEPTFlags spells out an EPT entry at level as the pictures show it:
// "R W X WB IPAT PS A D" (memory type, IPAT and PS only where the entry
// maps a page), or "not present" when R, W and X are all clear.
func DecodeEPTFlags(spte uint64, level int) string {
	if spte&EPTRWX == 0 {
		if spte&EPTSuppressVE != 0 && spte&^EPTSuppressVE == 0 {
			return "not present (suppress #VE)"
		}
		return "not present"
	}
	var out []string
	add := func(on bool, s string) {
		if on {
			out = append(out, s)
		}
	}
	add(spte&EPTRead != 0, "R")
	add(spte&EPTWrite != 0, "W")
	add(spte&EPTExec != 0, "X")
	leaf := level == 1 || (level > 1 && spte&EPTPageSize != 0)
	if leaf {
		out = append(out, eptMemTypeName(int(spte&EPTMTMask)>>EPTMTShift))
		add(spte&EPTIPAT != 0, "IPAT")
		add(level > 1, "PS")
	} else if spte&(EPTMTMask|EPTIPAT) != 0 {
		out = append(out, fmt.Sprintf("bits5:3=%d", int(spte&EPTMTMask)>>EPTMTShift))
	}
	add(spte&EPTAccessed != 0, "A")
	add(leaf && spte&EPTDirty != 0, "D")
	return strings.Join(out, " ")
}

// DecodeNPTFlags spells out an NPT (x86 long-mode format) entry at level:
// "P W U A D PS NX", or "not present".
func DecodeNPTFlags(spte uint64, level int) string {
	return DecodeFlags(PTE(spte), level, true)
}

// eptXWRName is the three-bit XWR value as the SDM writes it ("110").
func eptXWRName(e uint64) string {
	return fmt.Sprintf("%d%d%d", e>>2&1, e>>1&1, e&1)
}

// eptRsvdMask is the reserved-bit mask of a present EPT entry at level, as
// __reset_rsvds_bits_mask_ept computes it (with 2 MiB and 1 GiB pages
// supported): the index is bit 7 of the entry, then the level.
func eptRsvdMask(maxPhyAddr int, e uint64, level int) uint64 {
	high := bits(maxPhyAddr, 51)
	large := e&EPTPageSize != 0
	switch {
	case level >= 4:
		return high | bits(3, 7)
	case level == 1:
		return high
	case large && level == 3:
		return high | bits(12, 29)
	case large && level == 2:
		return high | bits(12, 20)
	}
	return high | bits(3, 6)
}

// eptBadXWRMemtype reports the combinations of bits 5:0 that are
// misconfigured whatever the level (bad_mt_xwr): memory types 2, 3 and 7
// and XWR values 010 and 110, and 100 without execute-only support. The
// memory-type bits of a non-leaf entry are reserved bits anyway.
func eptBadXWRMemtype(e uint64, execOnly bool) string {
	switch e & EPTRWX {
	case EPTWrite, EPTWrite | EPTExec:
		return fmt.Sprintf("XWR=%s: writable without readable", eptXWRName(e))
	case EPTExec:
		if !execOnly {
			return "XWR=100: execute-only, which this CPU does not support"
		}
	}
	switch mt := int(e&EPTMTMask) >> EPTMTShift; mt {
	case 2, 3, 7:
		return fmt.Sprintf("memory type %d is reserved", mt)
	}
	return ""
}

// eptMisconfig says why a present EPT entry is misconfigured, or "".
func eptMisconfig(e uint64, level, maxPhyAddr int, execOnly bool) string {
	if why := eptBadXWRMemtype(e, execOnly); why != "" {
		return why
	}
	if r := e & eptRsvdMask(maxPhyAddr, e, level); r != 0 {
		return fmt.Sprintf("reserved bits %s are set", hex(r))
	}
	return ""
}

// nptRsvdMask is the reserved-bit mask of a present NPT entry at level:
// the host's long-mode format as __reset_rsvds_bits_mask gives it for an
// AMD CPU with NX and 1 GiB pages (bit 8 is reserved in PML4Es and PML5Es,
// bit 7 too; large pages reserve the bits below their address).
func nptRsvdMask(maxPhyAddr int, e uint64, level int) uint64 {
	high := bits(maxPhyAddr, 51)
	large := e&PTPageSize != 0
	switch {
	case level >= 4:
		return high | bits(7, 8)
	case large && level == 3:
		return high | bits(13, 29)
	case large && level == 2:
		return high | bits(13, 20)
	}
	return high
}

// constructEPTP is construct_eptp: the root's address, write-back memory
// type for the walk, the page-walk length and the A/D enable bit.
func constructEPTP(root HPA, levels int, ad bool) uint64 {
	eptp := uint64(root) | EPTPMemWB | uint64(levels-1)<<EPTPPWLShift
	if ad {
		eptp |= EPTPAD
	}
	return eptp
}

// DecodeEPTQualification spells an EPT violation's exit qualification bit
// by bit: "read, write; entries allowed R-X; GVA valid; final translation".
func DecodeEPTQualification(q uint64) string {
	var acc []string
	if q&EPTViolationAccRead != 0 {
		acc = append(acc, "read")
	}
	if q&EPTViolationAccWrite != 0 {
		acc = append(acc, "write")
	}
	if q&EPTViolationAccInstr != 0 {
		acc = append(acc, "fetch")
	}
	rwx := spellBits(q, "RWX", EPTViolationProtRead, EPTViolationProtWrite, EPTViolationProtExec)
	s := "access " + strings.Join(acc, "+") + "; EPT allowed " + rwx
	if q&EPTViolationGVAIsValid != 0 {
		s += "; GVA valid"
		if q&EPTViolationGVATranslated != 0 {
			s += "; final translation"
		} else {
			s += "; guest paging-structure access"
		}
	}
	return s
}

// DecodeNPFErrorCode spells a nested page fault's EXITINFO1 ("P W U
// GUEST_FINAL").
func DecodeNPFErrorCode(ec uint64) string {
	s := DecodeErrorCode(ec & 0xffffffff)
	if ec&0xffffffff == 0 {
		s = ""
	}
	if ec&PFErrGuestFinal != 0 {
		s = strings.TrimSpace(s + " GUEST_FINAL")
	}
	if ec&PFErrGuestPage != 0 {
		s = strings.TrimSpace(s + " GUEST_PAGE")
	}
	if s == "" {
		return "none"
	}
	return s
}
