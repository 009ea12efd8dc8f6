package mmu

import "strings"

// Narration of the EPT12 walk (paging_tmpl_ept.go).

// eptTableName names an EPT table at level ("EPT PD").
func eptTableName(level int) string { return "EPT " + TableName(Paging4, level) }

// eptEntryName names an EPT entry at level ("PDE").
func eptEntryName(level int) string { return EntryName(Paging4, level) }

// eptRightsString spells the R, W, X bits of an entry or of an AND of
// entries as "R-X", "---".
func eptRightsString(raw uint64) string {
	return spellBits(raw, "RWX", EPTRead, EPTWrite, EPTExec)
}

// eptAccessString names an access to an L2 GPA by its PFERR_* bits as
// __vmx_handle_ept_violation builds them: PFERR_USER is a read.
func eptAccessString(access uint64) string {
	var what []string
	if access&PFErrUser != 0 {
		what = append(what, "read")
	}
	if access&PFErrWrite != 0 {
		what = append(what, "write")
	}
	if access&PFErrFetch != 0 {
		what = append(what, "fetch")
	}
	if len(what) == 0 {
		return "access"
	}
	return strings.Join(what, "+")
}

// emitRead records the walker reading one EPT12 entry from L1's memory.
func (c *eptWalk) emitRead(e uint64, level, idx int, table, gpa GPA, hpa HPA) {
	if c.m.Quiet {
		return
	}
	var b strings.Builder
	b.Grow(240)
	lo := PageShift + 9*(level-1)
	if level == c.w.MaxLevel {
		b.WriteString("KVM walks L1's EPT12 in software for L2 GPA " + GPA(c.w.GVA).String() +
			", reading L1's memory through the memslots: ")
	}
	b.WriteString("L2 GPA bits " + itoa(lo+8) + ":" + itoa(lo) + " = " + itoa(idx) + " index the " + eptTableName(level) +
		" at L1 GPA " + table.String() + "; its entry at L1 GPA " + gpa.String() + " (HPA " + hpa.String() + ") is " +
		hex(e) + " (" + DecodeEPTFlags(e, level) + ")")
	switch {
	case e&EPTRWX == 0:
		b.WriteString(".")
	case c.misconfig(e, level) != "":
		b.WriteString(": misconfigured.")
	case level == 1 || e&EPTPageSize != 0:
		b.WriteString(": it maps a " + levelPageName(level) + " page at L1 GPA " +
			GPA(e&eptAddrMask&^(uint64(PageSize)<<(9*uint(level-1))-1)).String() + ".")
	default:
		b.WriteString(": the next EPT12 table is at L1 GPA " + GPA(e&eptAddrMask).String() + ".")
	}
	c.m.emit(Event{Kind: EvRead, MMU: c.mmu.Name, Func: "walk_addr_generic", Space: SpaceGPA, Addr: uint64(gpa),
		Level: level, Index: idx, HasEntry: true, Old: e, New: e, HPA: hpa, HasHPA: true, Table: uint64(table),
		Size: 8, VCPU: c.v.ID, GVA: c.gva, Text: b.String()})
}

// emitCleanRead narrates protect_clean_gpte: a read through a clean leaf
// leaves the page read-only in EPT02 so that L2's first write comes back
// to KVM, which then sets D in EPT12.
func (c *eptWalk) emitCleanRead(leaf uint64) {
	if c.m.Quiet {
		return
	}
	w := c.w
	c.m.emit(Event{Kind: EvCheck, MMU: c.mmu.Name, Func: "protect_clean_gpte", Space: SpaceGPA, Addr: uint64(w.GVA),
		Level: w.Level, Index: spteIndex(GPA(w.GVA), w.Level), HasEntry: true, Old: leaf, New: leaf, VCPU: c.v.ID,
		GVA: c.gva,
		Text: "The EPT12 leaf is writable but not dirty (D clear), so the walk grants no write (protect_clean_gpte): " +
			"an EPT02 entry made from it is read-only, and L2's first write comes back to KVM, which then sets D in " +
			"EPT12 as the processor would."})
}

// decode spells an SPTE in the format these masks describe: EPT bits for
// EPT (EPT02 under nested EPT), x86 bits otherwise.
func (s *spteMasks) decode(spte uint64, level int) string {
	if s.ept {
		return DecodeEPTFlags(spte, level)
	}
	return DecodeFlags(PTE(spte), level, true)
}

// nonleafRights names the rights make_nonleaf_spte grants, in the format.
func (s *spteMasks) nonleafRights() string {
	if s.ept {
		return "R W X"
	}
	return "P W U A"
}

// rights spells ACC_* rights for an SPTE of this format: EPT's R/W/X (KVM
// files R under ACC_USER), or the x86 sentence.
func (s *spteMasks) rights(acc int) string {
	if !s.ept {
		return rightsString(acc, true)
	}
	var raw uint64
	if acc&AccUser != 0 {
		raw |= EPTRead
	}
	if acc&AccWrite != 0 {
		raw |= EPTWrite
	}
	if acc&AccExec != 0 {
		raw |= EPTExec
	}
	return eptRightsString(raw)
}
