package mmu

import "fmt"

// paging_tmpl.h compiled with PTTYPE == PTTYPE_EPT: KVM's software walk of
// L1's EPT tables (EPT12) for an L2 guest-physical address. The tables live
// in L1's guest-physical memory and are read through the memslots, never
// through EPT01. The format differs from x86 paging: an entry is present
// when any of R, W, X is set; there is no U bit, so KVM files R under
// ACC_USER; A and D (bits 8 and 9) exist only when EPTP12 enables them; a
// reserved bit or a bad memory type/XWR combination is an EPT
// misconfiguration rather than a page fault.

// Bits of the EPTP beyond those in ept.go.
const (
	eptpPWLMask  = 7 << EPTPPWLShift // VMX_EPTP_PWL_MASK: page-walk length minus one
	eptpPWL4     = 3 << EPTPPWLShift // VMX_EPTP_PWL_4
	eptpPWL5     = 4 << EPTPPWLShift // VMX_EPTP_PWL_5
	eptpMTMask   = 7                 // VMX_EPTP_MT_MASK
	eptpMemUC    = 0                 // VMX_EPTP_MT_UC
	eptpRsvdLow  = uint64(0xf80)     // bits 11:7 must be zero
	eptViolRWXSh = 3                 // EPT_VIOLATION_RWX_SHIFT
)

// eptpPageWalkLevel is vmx_eptp_page_walk_level: 5 for a page-walk length
// of 5, else 4 (the EPTP was checked at VM entry).
func eptpPageWalkLevel(eptp uint64) int {
	if eptp&eptpPWLMask == eptpPWL5 {
		return 5
	}
	return 4
}

// eptpRoot is the guest-physical address of the top EPT table an EPTP
// names (gpte_to_gfn of the EPTP: bits 51:12).
func eptpRoot(eptp uint64) GPA { return GPA(eptp & eptAddrMask) }

// EPTCaps are the EPT capabilities L0 advertises to L1 in the VMX
// capability MSRs (nested.msrs.ept_caps): what EPT12 may use.
type EPTCaps struct {
	ExecOnly       bool // VMX_EPT_EXECUTE_ONLY_BIT: XWR=100 is allowed
	LargePageLevel int  // ept_caps_to_lpage_level: 1 (4 KiB only), 2 (2 MiB) or 3 (1 GiB)
	AD             bool // VMX_EPT_AD_BIT: EPTP bit 6 may enable A/D bits
	FiveLevel      bool // VMX_EPT_PAGE_WALK_5_BIT
}

// DefaultEPTCaps is what KVM offers L1 on a recent Intel host: execute-only
// pages, 2 MiB and 1 GiB pages, A/D bits and 5-level EPT.
func DefaultEPTCaps() EPTCaps {
	return EPTCaps{ExecOnly: true, LargePageLevel: 3, AD: true, FiveLevel: true}
}

// nestedVMXCheckEPTP is nested_vmx_check_eptp: the checks of EPTP12 at
// VM entry. It says why the EPTP is invalid, or "".
func nestedVMXCheckEPTP(eptp uint64, caps EPTCaps, maxPhyAddr int) string {
	switch mt := eptp & eptpMTMask; mt {
	case eptpMemUC, EPTPMemWB:
	default:
		return fmt.Sprintf("EPTP memory type %d is neither UC (0) nor WB (6)", mt)
	}
	switch eptp & eptpPWLMask {
	case eptpPWL4:
	case eptpPWL5:
		if !caps.FiveLevel {
			return "a page-walk length of 5, which L0 does not offer"
		}
	default:
		return fmt.Sprintf("page-walk length %d (bits 5:3 + 1) is neither 4 nor 5", (eptp&eptpPWLMask)>>EPTPPWLShift+1)
	}
	if eptp&eptpRsvdLow != 0 {
		return fmt.Sprintf("reserved bits 11:7 are set (%s)", hex(eptp&eptpRsvdLow))
	}
	if r := eptp & bits(maxPhyAddr, 63); r != 0 {
		return fmt.Sprintf("bits %s lie above MAXPHYADDR (%d)", hex(r), maxPhyAddr)
	}
	if eptp&EPTPAD != 0 && !caps.AD {
		return "bit 6 enables A/D bits, which L0 does not offer"
	}
	return ""
}

// resetRsvdsBitsMaskEPT is __reset_rsvds_bits_mask_ept for L1's EPT
// tables: reserved bits per level and bit 7, where bits above L1's
// MAXPHYADDR, bits 7:3 of PML5Es and PML4Es, bits 6:3 of non-leaf PDPTEs
// and PDEs, and the bits inside a large page's frame are reserved; bit 7
// itself is reserved at levels with no large page on offer.
func resetRsvdsBitsMaskEPT(maxPhyAddr int, largePageLevel int) rsvdBitsCheck {
	var c rsvdBitsCheck
	high := bits(maxPhyAddr, 51)
	var large1G, large2M uint64
	if largePageLevel < 3 {
		large1G = bits(7, 7)
	}
	if largePageLevel < 2 {
		large2M = bits(7, 7)
	}
	c.mask[0][4] = high | bits(3, 7)
	c.mask[0][3] = high | bits(3, 7)
	c.mask[0][2] = high | bits(3, 6) | large1G
	c.mask[0][1] = high | bits(3, 6) | large2M
	c.mask[0][0] = high
	c.mask[1][4] = c.mask[0][4]
	c.mask[1][3] = c.mask[0][3]
	c.mask[1][2] = high | bits(12, 29) | large1G
	c.mask[1][1] = high | bits(12, 20) | large2M
	c.mask[1][0] = c.mask[0][0]
	return c
}

// eptBadMTXWR is the bad_mt_xwr table of __reset_rsvds_bits_mask_ept: bit
// n is set when an entry whose bits 5:0 equal n is misconfigured (memory
// types 2, 3 and 7; XWR 010 and 110; 100 unless execute-only is offered).
func eptBadMTXWR(execOnly bool) uint64 {
	var t uint64
	for n := uint64(0); n < 64; n++ {
		xwr, mt := n&7, n>>3
		bad := mt == 2 || mt == 3 || mt == 7 || xwr == 2 || xwr == 6 || (xwr == 4 && !execOnly)
		if bad {
			t |= 1 << n
		}
	}
	return t
}

// isBadMTXWR is __is_bad_mt_xwr.
func isBadMTXWR(table, e uint64) bool { return table>>(e&0x3f)&1 != 0 }

// eptBadMTXWRTables are bad_mt_xwr without and with execute-only support,
// computed once: the walker consults them at every level.
var eptBadMTXWRTables = [2]uint64{eptBadMTXWR(false), eptBadMTXWR(true)}

// badMTXWRFor is the bad_mt_xwr table for execOnly.
func badMTXWRFor(execOnly bool) uint64 {
	if execOnly {
		return eptBadMTXWRTables[1]
	}
	return eptBadMTXWRTables[0]
}

// updatePermissionBitmaskEPT is update_permission_bitmask(mmu, true): with
// EPT only the three plain rules apply (a write needs W, a read needs R,
// which KVM keeps as ACC_USER, a fetch needs X); CR0.WP, SMEP, SMAP and
// EFER.NX play no part: the kernel takes CR0.WP and EFER.NX as set and
// SMEP and SMAP as clear.
func updatePermissionBitmaskEPT() [16]uint8 {
	return permissionBitmask(true, true, false, false)
}

// eptGPTEAccess is FNAME(gpte_access) for EPT: W gives ACC_WRITE, X
// ACC_EXEC, and R ACC_USER (EPT has no user bit, so KVM reuses it).
func eptGPTEAccess(e uint64) int {
	var acc int
	if e&EPTWrite != 0 {
		acc |= AccWrite
	}
	if e&EPTExec != 0 {
		acc |= AccExec
	}
	if e&EPTRead != 0 {
		acc |= AccUser
	}
	return acc
}

// eptWalkQualification is the exit qualification the EPT walker's error
// label builds for an EPT violation: bits 2:0 from the access (write,
// read as PFERR_USER, fetch), bits 5:3 from the raw R/W/X bits ANDed over
// the entries read so far. Bits 8:7 are added by
// nested_ept_inject_page_fault from the exit KVM is handling.
func eptWalkQualification(access, raw uint64) uint64 {
	var q uint64
	if access&PFErrWrite != 0 {
		q |= EPTViolationAccWrite
	}
	if access&PFErrUser != 0 {
		q |= EPTViolationAccRead
	}
	if access&PFErrFetch != 0 {
		q |= EPTViolationAccInstr
	}
	return q | (raw&EPTRWX)<<eptViolRWXSh
}

// eptWalk carries one software walk of EPT12.
type eptWalk struct {
	m      *Machine
	v      *VCPU
	mmu    *MMU
	w      *GuestWalker
	gva    GVA    // L2's linear address behind the walk, for the trace (0 if none)
	raw    uint64 // pte_access: the entries' raw bits ANDed so far
	haveAD bool   // PT_HAVE_ACCESSED_DIRTY: EPTP12 enables A/D bits
}

// eptWalkAddrGeneric is FNAME(walk_addr_generic) for PTTYPE_EPT: walk
// EPT12 from eptp (what get_guest_pgd, nested_ept_get_eptp, returns) for
// the L2 GPA addr with the PFERR_* bits access. The walker's GPA is the L1
// GPA; on failure its Fault carries the EPT violation or misconfiguration
// (Exit.Qualification holds bits 5:0) with the L2 GPA as Exit.GPA.
func (m *Machine) eptWalkAddrGeneric(v *VCPU, mmu *MMU, eptp uint64, addr GPA, access uint64, gva GVA) *GuestWalker {
	level := mmu.CPURole.Base.Level()
	w := &GuestWalker{Mode: PagingMode(level), GVA: GVA(addr), Access: access, walkMMU: mmu, MaxLevel: level}
	c := &eptWalk{m: m, v: v, mmu: mmu, w: w, gva: gva, raw: ^uint64(0), haveAD: !mmu.CPURole.Base.ADDisabled()}
	refs0 := m.refs
	defer func() { w.Refs = m.refs - refs0 }()
	if level != 4 && level != 5 {
		c.fail(0, level, fmt.Sprintf("%s has no EPT role (level %d)", mmu.Name, level))
		return w
	}
	if !c.walkLevels(eptpRoot(eptp), level) || !c.checkPermissions() {
		return w
	}
	c.finish()
	return w
}

// walkLevels reads one EPT12 entry per level until a leaf: level 1, or
// bit 7 at level 2 or 3 (at 4 and 5 it is reserved, which stops the walk
// first).
func (c *eptWalk) walkLevels(table GPA, level int) bool {
	w := c.w
	for ; level >= 1; level-- {
		ptAccess := c.raw
		idx := spteIndex(GPA(w.GVA), level)
		gpa := table + GPA(8*idx)
		w.Level = level
		w.TableGFN[level-1], w.PTEGPA[level-1] = table.GFN(), gpa
		hpa, ok := c.m.GPAToHPA(gpa)
		if !ok {
			return c.fail(0, level, fmt.Sprintf("the EPT12 %s at L1 GPA %s is outside every memslot",
				eptTableName(level), table))
		}
		e, err := c.m.Mem.Read(hpa, 8)
		if err != nil {
			return c.fail(0, level, err.Error())
		}
		c.m.refs++
		c.raw = ptAccess & e
		c.emitRead(e, level, idx, table, gpa, hpa)
		if e&EPTRWX == 0 {
			return c.fail(0, level, fmt.Sprintf("the EPT12 %s is not present (R, W and X clear)", eptEntryName(level)))
		}
		if why := c.misconfig(e, level); why != "" {
			return c.fail(PFErrRsvd|PFErrPresent, level, fmt.Sprintf("the EPT12 %s: %s", eptEntryName(level), why))
		}
		w.PTEs[level-1], w.PTEHPA[level-1] = PTE(e), hpa
		w.PTAccess[level-1] = eptGPTEAccess(ptAccess)
		if level == 1 || e&EPTPageSize != 0 {
			break
		}
		table = GPA(e & eptAddrMask)
	}
	w.PTEAccess = eptGPTEAccess(c.raw)
	return true
}

// misconfig is FNAME(is_rsvd_bits_set) for EPT: the reserved bits of the
// level, then the memory type and XWR table. It says why, or "".
func (c *eptWalk) misconfig(e uint64, level int) string {
	if r := e & c.mmu.guestRsvd.mask[(e>>7)&1][level-1]; r != 0 {
		return fmt.Sprintf("reserved bits %s are set", hex(r))
	}
	if isBadMTXWR(badMTXWRFor(c.mmu.CPURole.Ext.ExecOnly), e) {
		return eptBadXWRMemtype(e, c.mmu.CPURole.Ext.ExecOnly)
	}
	return ""
}

// checkPermissions is permission_fault with the EPT permission table.
func (c *eptWalk) checkPermissions() bool {
	w := c.w
	if ec := c.mmu.permissionFault(w.PTEAccess, 0, w.Access, 0, 0); ec != 0 {
		return c.fail(ec, w.Level, fmt.Sprintf("the EPT12 entries allow %s (R, W, X ANDed over the levels), not %s",
			eptRightsString(c.raw), eptAccessString(w.Access)))
	}
	if !c.m.Quiet {
		leaf := uint64(w.PTEs[w.Level-1])
		c.m.emit(Event{Kind: EvCheck, MMU: c.mmu.Name, Func: "permission_fault", Space: SpaceGPA, Addr: uint64(w.GVA),
			Level: w.Level, Index: spteIndex(GPA(w.GVA), w.Level), HasEntry: true, Old: leaf, New: leaf,
			VCPU: c.v.ID, GVA: c.gva,
			Text: fmt.Sprintf("The EPT12 entries allow %s (R, W, X ANDed over the levels); %s is allowed.",
				eptRightsString(c.raw), withArticle(eptAccessString(w.Access)))})
	}
	return true
}

// finish computes the L1 GPA, narrows a clean page to read-only for a read
// (protect_clean_gpte) and sets A/D bits the walk needs.
func (c *eptWalk) finish() {
	w := c.w
	leaf := uint64(w.PTEs[w.Level-1])
	shift := PageShift + 9*(w.Level-1)
	w.GPA = GPA(leaf&bits(shift, 51) | uint64(w.GVA)&bits(0, shift-1))
	w.HPA, w.Mapped = c.m.GPAToHPA(w.GPA)
	accessedDirty := uint64(0)
	if c.haveAD {
		accessedDirty = c.raw & EPTAccessed
	}
	if w.Access&PFErrWrite == 0 {
		if c.haveAD && leaf&EPTDirty == 0 && w.PTEAccess&AccWrite != 0 {
			w.PTEAccess &^= AccWrite
			c.emitCleanRead(leaf)
		}
	} else {
		accessedDirty &= leaf >> 1
	}
	if accessedDirty == 0 && c.haveAD {
		c.updateAccessedDirtyBits()
	}
}

// updateAccessedDirtyBits is FNAME(update_accessed_dirty_bits) for EPT: A
// on every entry used, D on the leaf of a write, written into L1's memory.
func (c *eptWalk) updateAccessedDirtyBits() {
	w := c.w
	for level := w.MaxLevel; level >= w.Level; level-- {
		e := uint64(w.PTEs[level-1])
		n := e | EPTAccessed
		if level == w.Level && w.Access&PFErrWrite != 0 {
			n |= EPTDirty
		}
		if n == e {
			continue
		}
		if _, err := c.m.Mem.Write(w.PTEHPA[level-1], 8, n); err != nil {
			continue
		}
		w.PTEs[level-1] = PTE(n)
		if c.m.Quiet {
			continue
		}
		what := "A is"
		switch {
		case n&^e == EPTDirty:
			what = "D is"
		case n&^e == EPTAccessed|EPTDirty:
			what = "A and D are"
		}
		c.m.emit(Event{Kind: EvWrite, MMU: c.mmu.Name, Func: "update_accessed_dirty_bits", Space: SpaceGPA,
			Addr: uint64(w.PTEGPA[level-1]), Level: level, Index: spteIndex(GPA(w.GVA), level), HasEntry: true,
			Old: e, New: n, HPA: w.PTEHPA[level-1], HasHPA: true, Table: uint64(w.TableGFN[level-1].GPA()), Size: 8,
			VCPU: c.v.ID, GVA: c.gva,
			Text: fmt.Sprintf("EPTP12 enables A/D bits and the walk succeeded, so %s set in the EPT12 %s at L1 GPA %s "+
				"(%s → %s), as the processor would.", what, eptEntryName(level), w.PTEGPA[level-1], hex(e), hex(n))})
	}
}

// fail is the walker's error label: the error code gets the access's W
// and U bits (no FETCH: the EPT role has neither EFER.NX nor SMEP), and an
// EPT violation gets its qualification. RSVD means a misconfiguration.
func (c *eptWalk) fail(errcode uint64, level int, why string) bool {
	w := c.w
	errcode |= w.Access & (PFErrWrite | PFErrUser)
	x := &TDPExit{Reason: ExitEPTViolation, GPA: GPA(w.GVA), GVA: c.gva, HostLevel: level, Why: why}
	if errcode&PFErrRsvd != 0 {
		x.Reason = ExitEPTMisconfig
	} else {
		x.Qualification = eptWalkQualification(w.Access, c.raw)
	}
	w.Fault = &Fault{Vector: x.Reason, ErrorCode: errcode, Addr: w.GVA, Level: level, Reason: why, Exit: x}
	if !c.m.Quiet {
		text := fmt.Sprintf("The EPT12 walk for L2 GPA %s fails: %s. For L1 this is an %s", GPA(w.GVA), why, x.Reason)
		if x.Reason == ExitEPTViolation {
			text += fmt.Sprintf(" with exit qualification bits 5:0 = %s (%s)", hex(x.Qualification),
				DecodeEPTQualification(x.Qualification))
		}
		c.m.emit(Event{Kind: EvFault, MMU: c.mmu.Name, Func: "walk_addr_generic", Space: SpaceGPA, Addr: uint64(w.GVA),
			Level: level, Index: spteIndex(GPA(w.GVA), max(level, 1)), HasEntry: level > 0, Old: errcode, New: errcode,
			VCPU: c.v.ID, GVA: c.gva, Text: text + "; nothing is written."})
	}
	return false
}
