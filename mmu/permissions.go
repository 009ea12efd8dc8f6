package mmu

// Page-fault error code bits (PFERR_* in kvm_host.h). The low five bits are
// what the CPU pushes for a #PF; the walker also uses them to describe the
// access it is checking.
const (
	PFErrPresent  = 1 << 0          // P: the fault was a protection violation, not a missing entry
	PFErrWrite    = 1 << 1          // W: the access was a write
	PFErrUser     = 1 << 2          // U: the access came from user mode (CPL 3)
	PFErrRsvd     = 1 << 3          // RSVD: a reserved bit was set in an entry
	PFErrFetch    = 1 << 4          // I/D: the access was an instruction fetch
	PFErrPK       = 1 << 5          // PK: a protection key forbade the access
	PFErrSGX      = 1 << 15         // SGX: an EPCM violation (never raised here)
	PFErrImplicit = uint64(1) << 48 // KVM-internal: an implicit supervisor access (descriptor tables)
)

// DecodeErrorCode spells a page-fault error code bit by bit, naming what
// each set bit means: "P W U" and so on.
func DecodeErrorCode(ec uint64) string {
	names := []struct {
		bit  uint64
		name string
	}{
		{PFErrPresent, "P"}, {PFErrWrite, "W"}, {PFErrUser, "U"}, {PFErrRsvd, "RSVD"},
		{PFErrFetch, "I/D"}, {PFErrPK, "PK"}, {PFErrSGX, "SGX"},
	}
	out := ""
	for _, n := range names {
		if ec&n.bit != 0 {
			if out != "" {
				out += " "
			}
			out += n.name
		}
	}
	if out == "" {
		return "none (not present, supervisor read)"
	}
	return out
}

// byteMask is the kernel's BYTE_MASK: a bit for each of the eight ACC_*
// combinations that include acc.
func byteMask(acc int) uint8 {
	var m uint8
	for a := 0; a < 8; a++ {
		if a&acc != 0 {
			m |= 1 << a
		}
	}
	return m
}

// updatePermissionBitmask fills mmu.permissions the way
// update_permission_bitmask does. Entry i describes the access whose error
// code is i<<1 (W, U, RSVD, FETCH); bit a of it is set when an access with
// rights a (ACC_*) faults. The RSVD slot is reused to mean "SMAP does not
// apply to this access" (EFLAGS.AC set on an explicit access).
func updatePermissionBitmask(role CPURole) [16]uint8 {
	return permissionBitmask(role.Base.CR0WP(), role.Base.EferNX(), role.Ext.CR4SMEP, role.Ext.CR4SMAP)
}

// permissionBitmask is the body of update_permission_bitmask for the
// CR0.WP, EFER.NX, CR4.SMEP and CR4.SMAP it is given (EPT's are fixed:
// updatePermissionBitmaskEPT).
func permissionBitmask(wp, nx, smep, smap bool) [16]uint8 {
	var perms [16]uint8
	x, w, u := byteMask(AccExec), byteMask(AccWrite), byteMask(AccUser)
	for i := range perms {
		pfec := uint64(i) << 1
		var wf, uf, ff, smepf, smapf uint8
		if pfec&PFErrWrite != 0 {
			wf = ^w
		}
		if pfec&PFErrUser != 0 {
			uf = ^u
		}
		if pfec&PFErrFetch != 0 {
			ff = ^x
		}
		// Supervisor accesses to user pages: what SMEP and SMAP forbid.
		var kf uint8
		if pfec&PFErrUser == 0 {
			kf = u
		}
		if !nx {
			ff = 0
		}
		if !wp && pfec&PFErrUser == 0 {
			wf = 0
		}
		if smep && pfec&PFErrFetch != 0 {
			smepf = kf
		}
		if smap && pfec&(PFErrRsvd|PFErrFetch) == 0 {
			smapf = kf
		}
		perms[i] = wf | uf | ff | smepf | smapf
	}
	return perms
}

// updatePKRUBitmask computes pkru_mask as update_pkru_bitmask does: for each
// error-code slot, two bits saying whether PKRU.AD and PKRU.WD apply. Keys
// apply only with CR4.PKE in long mode, only to user pages, never to
// fetches; WD stops supervisor writes only when CR0.WP is set.
func updatePKRUBitmask(role CPURole) uint32 {
	if !role.Ext.CR4PKE {
		return 0
	}
	wp := role.Base.CR0WP()
	var mask uint32
	for i := 0; i < 16; i++ {
		pfec := uint64(i) << 1
		fetch := pfec&PFErrFetch != 0
		user := pfec&PFErrUser != 0
		write := pfec&PFErrWrite != 0
		pteUser := pfec&PFErrRsvd != 0 // the RSVD slot stands for "user page"
		checkKey := !fetch && pteUser
		checkWrite := checkKey && write && (user || wp)
		var kb uint32
		if checkKey {
			kb |= 1
		}
		if checkWrite {
			kb |= 2
		}
		mask |= kb << pfec
	}
	return mask
}

// permissionFault decides whether an access with error-code bits access
// (W, U, FETCH and PFErrImplicit) may use a page with rights pteAccess and
// protection key pkey. It returns 0 when allowed, otherwise the error-code
// bits the fault adds (P, and PK for a key violation), as permission_fault.
func (mmu *MMU) permissionFault(pteAccess, pkey int, access uint64, rflags, pkru uint64) uint64 {
	pfec := access & (PFErrWrite | PFErrUser | PFErrFetch)
	// SMAP is overridden by EFLAGS.AC, but never for implicit accesses.
	notSMAP := rflags&RFLAGSAC != 0 && access&PFErrImplicit == 0
	index := pfec
	if notSMAP {
		index |= PFErrRsvd
	}
	fault := (mmu.permissions[index>>1]>>uint(pteAccess))&1 != 0
	errcode := uint64(PFErrPresent)
	if mmu.pkruMask != 0 {
		pkruBits := uint32(pkru>>(uint(pkey)*2)) & 3
		offset := pfec &^ 1
		if pteAccess&AccUser != 0 {
			offset |= PFErrRsvd
		}
		pkruBits &= mmu.pkruMask >> offset
		if pkruBits != 0 {
			errcode |= PFErrPK
			fault = true
		}
	}
	if !fault {
		return 0
	}
	return errcode
}

// rsvdBitsCheck is struct rsvd_bits_validate: reserved-bit masks per level,
// the first index chosen by bit 7 of the entry (PS), the second the level.
type rsvdBitsCheck struct {
	mask [2][5]uint64
}

// isRsvdBitsSet reports whether e has a bit that must be zero at level, as
// is_rsvd_bits_set does for x86 (not EPT) formats.
func (c *rsvdBitsCheck) isRsvdBitsSet(e PTE, level int) bool {
	if level < 1 || level > 5 {
		return false
	}
	return uint64(e)&c.mask[(e>>7)&1][level-1] != 0
}

// resetGuestRsvdsBitsMask computes the reserved bits of the guest's tables
// for its paging mode, as __reset_rsvds_bits_mask does for an Intel CPU
// (AMD additionally reserves bit 8 of non-leaf entries; not modelled).
func resetGuestRsvdsBitsMask(role CPURole, maxPhyAddr int, pse36, gbpages bool) rsvdBitsCheck {
	var c rsvdBitsCheck
	var exb uint64
	if !role.Base.EferNX() {
		exb = bits(63, 63)
	}
	var gbRsvd uint64
	if !gbpages {
		gbRsvd = bits(7, 7)
	}
	high := bits(maxPhyAddr, 51)
	switch role.Base.Level() {
	case int(Paging32):
		// 4 KiB entries have no reserved bits; a 4 MiB PDE reserves the
		// bits between its address and the PSE-36 field.
		if role.Ext.CR4PSE {
			if pse36 {
				c.mask[1][1] = bits(17, 21)
			} else {
				c.mask[1][1] = bits(13, 21)
			}
		}
	case int(PagingPAE):
		c.mask[0][2] = bits(63, 63) | bits(5, 8) | bits(1, 2)
		c.mask[0][1] = exb | bits(maxPhyAddr, 62)
		c.mask[0][0] = exb | bits(maxPhyAddr, 62)
		c.mask[1][1] = exb | bits(maxPhyAddr, 62) | bits(13, 20)
		c.mask[1][0] = c.mask[0][0]
		c.mask[1][2] = c.mask[0][2]
	case int(Paging5), int(Paging4):
		c.mask[0][4] = exb | bits(7, 7) | high
		c.mask[1][4] = c.mask[0][4]
		c.mask[0][3] = exb | bits(7, 7) | high
		c.mask[0][2] = exb | gbRsvd | high
		c.mask[0][1] = exb | high
		c.mask[0][0] = exb | high
		c.mask[1][3] = c.mask[0][3]
		c.mask[1][2] = exb | gbRsvd | high | bits(13, 29)
		c.mask[1][1] = exb | high | bits(13, 20)
		c.mask[1][0] = c.mask[0][0]
	}
	return c
}

// pdptrRsvdBits are the bits a present PAE PDPTE must not set, checked when
// load_pdptrs loads them into the PDPTR registers.
func pdptrRsvdBits(maxPhyAddr int) uint64 {
	return bits(maxPhyAddr, 63) | bits(5, 8) | bits(1, 2)
}
