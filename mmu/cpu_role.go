package mmu

import (
	"fmt"
	"strings"
)

// PageRole is union kvm_mmu_page_role: one 32-bit word describing how a page
// of KVM's tables was built. Two shadow pages are interchangeable only if
// their roles are equal word for word.
type PageRole uint32

// Bit layout of PageRole, from bit 0 as in arch/x86/include/asm/kvm_host.h.
const (
	roleLevelShift    = 0 // 4 bits
	roleHas4ByteGPTE  = 1 << 4
	roleQuadrantShift = 5 // 2 bits
	roleDirect        = 1 << 7
	roleAccessShift   = 8 // 3 bits
	roleInvalid       = 1 << 11
	roleEferNX        = 1 << 12
	roleCR0WP         = 1 << 13
	roleSMEPAndNotWP  = 1 << 14
	roleSMAPAndNotWP  = 1 << 15
	roleADDisabled    = 1 << 16
	roleGuestMode     = 1 << 17
	rolePassthrough   = 1 << 18
	roleIsMirror      = 1 << 19
	roleSMMShift      = 24 // 8 bits
	roleLevelMask     = 0xf
	roleQuadrantMask  = 0x3
	roleAccessMask    = 0x7
	roleSMMMask       = 0xff
)

// Level is the level of the page (1 holds 4 KiB mappings); 0 in a CPU role
// means paging is off.
func (r PageRole) Level() int { return int(r>>roleLevelShift) & roleLevelMask }

// Has4ByteGPTE reports a guest using 32-bit, non-PAE entries.
func (r PageRole) Has4ByteGPTE() bool { return r&roleHas4ByteGPTE != 0 }

// Quadrant is which part of a 32-bit guest table a PAE shadow page covers.
func (r PageRole) Quadrant() int { return int(r>>roleQuadrantShift) & roleQuadrantMask }

// Direct reports a page that maps a linear range of frames, with no guest
// table behind it.
func (r PageRole) Direct() bool { return r&roleDirect != 0 }

// Access is the AND of the upper levels' ACC_* rights.
func (r PageRole) Access() int { return int(r>>roleAccessShift) & roleAccessMask }

// Invalid reports a zapped root that a vCPU still holds.
func (r PageRole) Invalid() bool { return r&roleInvalid != 0 }

// EferNX reports EFER.NX of the guest the page was built for.
func (r PageRole) EferNX() bool { return r&roleEferNX != 0 }

// CR0WP reports CR0.WP of the guest the page was built for.
func (r PageRole) CR0WP() bool { return r&roleCR0WP != 0 }

// SMEPAndNotWP reports CR4.SMEP && !CR0.WP.
func (r PageRole) SMEPAndNotWP() bool { return r&roleSMEPAndNotWP != 0 }

// SMAPAndNotWP reports CR4.SMAP && !CR0.WP.
func (r PageRole) SMAPAndNotWP() bool { return r&roleSMAPAndNotWP != 0 }

// ADDisabled reports a page whose SPTEs do not use hardware A/D bits.
func (r PageRole) ADDisabled() bool { return r&roleADDisabled != 0 }

// GuestMode reports a page built for an L2 guest.
func (r PageRole) GuestMode() bool { return r&roleGuestMode != 0 }

// Passthrough reports a shadow page with no guest table behind it that only
// links to the next level (role.passthrough).
func (r PageRole) Passthrough() bool { return r&rolePassthrough != 0 }

// IsMirror reports a TDX mirror page.
func (r PageRole) IsMirror() bool { return r&roleIsMirror != 0 }

// SMM is the address-space id (1 in system management mode).
func (r PageRole) SMM() int { return int(r>>roleSMMShift) & roleSMMMask }

func setField(r PageRole, shift, mask int, v int) PageRole {
	r &^= PageRole(mask << shift)
	return r | PageRole((v&mask)<<shift)
}

func setFlag(r PageRole, bit PageRole, on bool) PageRole {
	if on {
		return r | bit
	}
	return r &^ bit
}

// WithLevel returns r with its level replaced.
func (r PageRole) WithLevel(l int) PageRole { return setField(r, roleLevelShift, roleLevelMask, l) }

// WithQuadrant returns r with its quadrant replaced.
func (r PageRole) WithQuadrant(q int) PageRole {
	return setField(r, roleQuadrantShift, roleQuadrantMask, q)
}

// WithAccess returns r with its access bits replaced.
func (r PageRole) WithAccess(a int) PageRole { return setField(r, roleAccessShift, roleAccessMask, a) }

// WithDirect returns r with direct set or cleared.
func (r PageRole) WithDirect(on bool) PageRole { return setFlag(r, roleDirect, on) }

// WithPassthrough returns r with passthrough set or cleared.
func (r PageRole) WithPassthrough(on bool) PageRole { return setFlag(r, rolePassthrough, on) }

// WithInvalid returns r with invalid set or cleared.
func (r PageRole) WithInvalid(on bool) PageRole { return setFlag(r, roleInvalid, on) }

// WithGuestMode returns r with guest_mode set or cleared.
func (r PageRole) WithGuestMode(on bool) PageRole { return setFlag(r, roleGuestMode, on) }

// String lists the fields that are set, with the kernel's field names.
func (r PageRole) String() string {
	parts := []string{fmt.Sprintf("level=%d", r.Level())}
	flag := func(on bool, name string) {
		if on {
			parts = append(parts, name)
		}
	}
	flag(r.Has4ByteGPTE(), "has_4_byte_gpte")
	if r.Quadrant() != 0 {
		parts = append(parts, fmt.Sprintf("quadrant=%d", r.Quadrant()))
	}
	flag(r.Direct(), "direct")
	parts = append(parts, "access="+accessString(r.Access()))
	flag(r.Invalid(), "invalid")
	flag(r.EferNX(), "efer_nx")
	flag(r.CR0WP(), "cr0_wp")
	flag(r.SMEPAndNotWP(), "smep_andnot_wp")
	flag(r.SMAPAndNotWP(), "smap_andnot_wp")
	flag(r.ADDisabled(), "ad_disabled")
	flag(r.GuestMode(), "guest_mode")
	flag(r.Passthrough(), "passthrough")
	flag(r.IsMirror(), "is_mirror")
	if r.SMM() != 0 {
		parts = append(parts, fmt.Sprintf("smm=%d", r.SMM()))
	}
	return strings.Join(parts, " ")
}

// accessString spells ACC_* bits as "uwx" with dashes for missing rights.
func accessString(a int) string {
	return spellBits(uint64(a), "uwx", AccUser, AccWrite, AccExec)
}

// spellBits spells v with letter i of letters where v has bits[i] and a
// dash where it has not ("u-x", "R-X").
func spellBits(v uint64, letters string, bits ...uint64) string {
	b := []byte(letters)
	for i, bit := range bits {
		if v&bit == 0 {
			b[i] = '-'
		}
	}
	return string(b)
}

// ExtendedRole is union kvm_mmu_extended_role: CPU state that changes how
// the guest's tables are walked but never how KVM's own pages look.
type ExtendedRole struct {
	Valid, ExecOnly, CR4PSE, CR4PKE, CR4SMAP, CR4SMEP, CR4LA57, EferLMA bool
	// CPUIDStale is the bit proposed in seed 003 in place of Valid, set
	// by a CPUID update until the next kvm_init_mmu.
	CPUIDStale bool
}

// CPURole is union kvm_cpu_role: the guest's paging mode as KVM records it,
// used by software walks of the guest's tables.
type CPURole struct {
	Base PageRole
	Ext  ExtendedRole
}

// String prints the role compactly for the trace.
func (c CPURole) String() string {
	var ext []string
	flag := func(on bool, name string) {
		if on {
			ext = append(ext, name)
		}
	}
	flag(c.Ext.CR4PSE, "cr4_pse")
	flag(c.Ext.CR4PKE, "cr4_pke")
	flag(c.Ext.CR4SMAP, "cr4_smap")
	flag(c.Ext.CR4SMEP, "cr4_smep")
	flag(c.Ext.CR4LA57, "cr4_la57")
	flag(c.Ext.EferLMA, "efer_lma")
	flag(c.Ext.ExecOnly, "execonly")
	flag(c.Ext.CPUIDStale, "cpuid_stale")
	return "base{" + c.Base.String() + "} ext{" + strings.Join(ext, " ") + "}"
}

// calcCPURole derives the CPU role from the registers the way
// kvm_calc_cpu_role does: paging off gives a direct role of level 0;
// otherwise the level follows LMA, LA57 and PAE, and PKE and LA57 count only
// in long mode.
func calcCPURole(r *Regs, guestMode bool) CPURole {
	var c CPURole
	c.Base = c.Base.WithAccess(AccAll)
	c.Base = setFlag(c.Base, roleGuestMode, guestMode)
	c.Ext.Valid = true
	if r.CR0&CR0PG == 0 {
		c.Base = c.Base.WithDirect(true)
		return c
	}
	wp := r.CR0&CR0WP != 0
	lma := r.EFER&EFERLMA != 0
	c.Base = setFlag(c.Base, roleEferNX, r.EFER&EFERNX != 0)
	c.Base = setFlag(c.Base, roleCR0WP, wp)
	c.Base = setFlag(c.Base, roleSMEPAndNotWP, r.CR4&CR4SMEP != 0 && !wp)
	c.Base = setFlag(c.Base, roleSMAPAndNotWP, r.CR4&CR4SMAP != 0 && !wp)
	c.Base = setFlag(c.Base, roleHas4ByteGPTE, r.CR4&CR4PAE == 0)
	c.Base = c.Base.WithLevel(int(r.Mode()))
	c.Ext.CR4SMEP = r.CR4&CR4SMEP != 0
	c.Ext.CR4SMAP = r.CR4&CR4SMAP != 0
	c.Ext.CR4PSE = r.CR4&CR4PSE != 0
	c.Ext.CR4PKE = lma && r.CR4&CR4PKE != 0
	c.Ext.CR4LA57 = lma && r.CR4&CR4LA57 != 0
	c.Ext.EferLMA = lma
	return c
}
