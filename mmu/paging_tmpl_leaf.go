package mmu

import (
	"fmt"
	"strings"
)

// fail ends the walk with a #PF as the error label of walk_addr_generic
// does: the error code gets the access's W and U bits, and I/D when NX or
// SMEP makes fetches checkable. It returns false so callers can return it.
func (c *walkContext) fail(errcode uint64, level int, why string) bool {
	acc := c.w.Access
	errcode |= acc & (PFErrWrite | PFErrUser)
	if acc&PFErrFetch != 0 && (c.mmu.CPURole.Base.EferNX() || c.mmu.CPURole.Ext.CR4SMEP) {
		errcode |= PFErrFetch
	}
	f := &Fault{Vector: "#PF", ErrorCode: errcode, Addr: c.w.GVA, Level: level, Reason: why}
	c.w.Fault = f
	if !c.m.Quiet {
		after := "Nothing is written."
		if c.hw != nil {
			after = fmt.Sprintf("Nothing is written, and there is no VM exit: with %s, KVM does not intercept page "+
				"faults, so the processor delivers the #PF to the guest itself.", c.m.tdp.cfg.Kind)
		}
		c.m.emit(Event{Kind: EvFault, MMU: c.mmu.Name, Func: c.fn("walk_addr_generic"), Space: SpaceGVA,
			Addr: uint64(c.w.GVA), Level: level, Index: c.indexAt(level), HasEntry: level > 0,
			Old: errcode, New: errcode, VCPU: c.v.ID, GVA: c.w.GVA,
			Text: c.failText(errcode, why, after)})
	}
	return false
}

func (c *walkContext) indexAt(level int) int {
	if level < 1 {
		return 0
	}
	if c.f.mode == PagingPAE && level == 3 {
		return int(uint64(c.w.GVA)>>30) & 3
	}
	return c.f.index(c.w.GVA, level)
}

// checkPermissions applies permission_fault to the rights the walk gathered.
func (c *walkContext) checkPermissions() bool {
	w := c.w
	errcode := c.mmu.permissionFault(w.PTEAccess, w.PKey, w.Access, c.v.Regs.RFLAGS, c.v.Regs.PKRU)
	if errcode != 0 {
		rights := "the walk grants " + rightsString(w.PTEAccess, c.f.wide)
		return c.fail(errcode, w.Level, rights+"; "+c.whyDenied(errcode))
	}
	leaf := w.PTEs[w.Level-1]
	if !c.m.Quiet {
		c.m.emit(Event{Kind: EvCheck, MMU: c.mmu.Name, Func: c.fn("permission_fault"), Space: SpaceGVA,
			Addr: uint64(w.GVA), Level: w.Level, Index: c.indexAt(w.Level), HasEntry: true,
			Old: uint64(leaf), New: uint64(leaf), VCPU: c.v.ID, GVA: w.GVA,
			Text: fmt.Sprintf("The walk grants %s (%s over the levels); %s is allowed%s.",
				rightsString(w.PTEAccess, c.f.wide), combineRule(c.f.wide), withArticle(c.what()), c.whyAllowed())})
	}
	return true
}

// whyAllowed explains an allowed access that the page's bits alone seem to
// forbid: a supervisor write to a read-only page with CR0.WP=0, or a
// supervisor data access to a user page that EFLAGS.AC exempts from SMAP.
func (c *walkContext) whyAllowed() string {
	acc, pte := c.w.Access, c.w.PTEAccess
	super := acc&PFErrUser == 0
	switch {
	case super && acc&PFErrWrite != 0 && pte&AccWrite == 0:
		return ", because with CR0.WP=0 supervisor writes ignore R/W"
	case super && acc&PFErrFetch == 0 && pte&AccUser != 0 && c.mmu.CPURole.Ext.CR4SMAP:
		return ", because EFLAGS.AC=1 lifts SMAP for an explicit access"
	}
	return ""
}

// combineRule says how the levels' rights combine: the 32-bit format has
// no NX bit to OR.
func combineRule(wide bool) string {
	if wide {
		return "W and U ANDed, NX ORed"
	}
	return "W and U ANDed"
}

// withArticle puts "a" or "an" before a noun phrase.
func withArticle(s string) string {
	if s != "" && strings.ContainsRune("aeiou", rune(s[0])) {
		return "an " + s
	}
	return "a " + s
}

// refsString says "1 memory reference", "4 memory references".
func refsString(n int) string {
	if n == 1 {
		return "1 memory reference"
	}
	return fmt.Sprintf("%d memory references", n)
}

// rightsString spells ACC_* rights for narration.
func rightsString(acc int, wide bool) string {
	s := "read"
	if acc&AccWrite != 0 {
		s += "/write"
	}
	if acc&AccUser != 0 {
		s += ", user and supervisor"
	} else {
		s += ", supervisor only"
	}
	if acc&AccExec == 0 && wide {
		s += ", no execute"
	}
	return s
}

// whyDenied names the rule behind a permission fault, in the order the SDM
// lists them, by re-deriving it from the role and the access.
func (c *walkContext) whyDenied(errcode uint64) string {
	acc, pte := c.w.Access, c.w.PTEAccess
	role := c.mmu.CPURole
	user := acc&PFErrUser != 0
	switch {
	case errcode&PFErrPK != 0:
		return fmt.Sprintf("protection key %d forbids it (PKRU = %s)", c.w.PKey, hex(c.v.Regs.PKRU))
	case user && pte&AccUser == 0:
		return "a user access to a supervisor page"
	case acc&PFErrWrite != 0 && pte&AccWrite == 0 && (user || role.Base.CR0WP()):
		if user {
			return "a write to a read-only page"
		}
		return "a supervisor write to a read-only page with CR0.WP=1"
	case acc&PFErrFetch != 0 && pte&AccExec == 0 && role.Base.EferNX():
		return "an instruction fetch from a no-execute page"
	case acc&PFErrFetch != 0 && !user && pte&AccUser != 0 && role.Ext.CR4SMEP:
		return "SMEP: a supervisor instruction fetch from a user page"
	case !user && pte&AccUser != 0 && role.Ext.CR4SMAP:
		if acc&PFErrImplicit != 0 {
			return "SMAP: an implicit supervisor access to a user page (EFLAGS.AC cannot exempt it)"
		}
		return "SMAP: a supervisor data access to a user page with EFLAGS.AC=0"
	}
	return "the access is not permitted"
}

// finalTranslation turns the walk's GPA into a host address through the
// translator, as the final kvm_translate_gpa of walk_addr_generic.
func (c *walkContext) finalTranslation() bool {
	w := c.w
	if w.Level > 0 {
		w.GPA = c.f.leafGPA(w.PTEs[w.Level-1], w.Level, w.GVA, c.m.Config.PSE36)
	}
	hpa, mapped, fault := c.tr.TranslateGPA(c.m, w.GPA, w.Access, 0)
	if fault != nil {
		w.Fault = fault
		return false
	}
	w.HPA, w.Mapped = hpa, mapped
	if w.Access&PFErrWrite == 0 && w.Level > 0 {
		// protect_clean_gpte: a clean page is mapped read-only so that the
		// first write faults and KVM can set D.
		if !w.PTEs[w.Level-1].Dirty() {
			w.PTEAccess &^= AccWrite
		}
	}
	return true
}

// updateAccessedDirtyBits sets A on every entry the walk used and D on the
// leaf of a write, after the walk succeeded (update_accessed_dirty_bits).
func (c *walkContext) updateAccessedDirtyBits() {
	w := c.w
	for level := w.MaxLevel; level >= w.Level && level >= 1; level-- {
		if w.FromReg[level-1] || (c.f.mode == PagingPAE && level == 3) {
			continue // PDPTEs have no A bit to set
		}
		e := w.PTEs[level-1]
		n := e | PTAccessed
		if level == w.Level && w.Access&PFErrWrite != 0 {
			n |= PTDirty
		}
		if n == e {
			continue
		}
		if c.hw != nil {
			if f := c.hw.checkGuestWrite(c.m, w.PTEGPA[level-1], level); f != nil {
				w.Fault = f
				return
			}
		}
		old, err := c.m.Mem.Write(w.PTEHPA[level-1], c.f.entrySize, uint64(n))
		if err != nil {
			continue // the entry was just read from this address
		}
		w.PTEs[level-1] = n
		what := "A"
		if n&^e&PTDirty != 0 {
			what = "A and D"
			if e.Accessed() {
				what = "D"
			}
		}
		if !c.m.Quiet {
			text := fmt.Sprintf("The walk succeeded, so %s set in the %s at GPA %s (%s → %s).",
				what+map[bool]string{true: " are", false: " is"}[what == "A and D"], EntryName(c.f.mode, level),
				w.PTEGPA[level-1], hex(uint64(e)), hex(uint64(n)))
			if c.hw != nil {
				text = fmt.Sprintf("The walk succeeded, so the processor sets %s in the guest's %s at GPA %s (%s → %s).",
					what, EntryName(c.f.mode, level), w.PTEGPA[level-1], hex(uint64(e)), hex(uint64(n)))
			}
			c.m.emit(Event{Kind: EvWrite, MMU: c.mmu.Name, Func: c.fn("update_accessed_dirty_bits"), Space: SpaceGPA,
				Addr: uint64(w.PTEGPA[level-1]), Level: level, Index: c.indexAt(level), HasEntry: true,
				Old: old, New: uint64(n), HPA: w.PTEHPA[level-1], HasHPA: true, Table: uint64(w.TableGFN[level-1].GPA()),
				Size: c.f.entrySize, VCPU: c.v.ID, GVA: w.GVA, TwoD: c.hw != nil, GuestLevel: level, Text: text})
		}
	}
}
