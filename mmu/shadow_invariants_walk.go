package mmu

// The translation invariant: every leaf the processor can reach from a
// vCPU's root, through synced shadow pages only, maps its GVA to the host
// page the guest's tables and the memslots give, with no more rights than
// the guest's tables grant (apart from KVM's CR0.WP=0 rule), writable only
// if the guest's entry is dirty.

// guestXlat is a side-effect-free translation through the guest's tables.
type guestXlat struct {
	ok     bool
	why    string
	gpa    GPA
	hpa    HPA
	mapped bool
	access int
	dirty  bool
	size   uint64
}

// guestTranslation translates gva through vCPU v's own tables and the
// memslots without touching anything (no A/D bits, no events), with the
// rights the walk grants before KVM's protect_clean_gpte.
func (m *Machine) guestTranslation(v *VCPU, gva GVA) guestXlat {
	p := m.PathOf(v.ID, gva)
	mmu := v.WalkMMU()
	wide := p.Mode != Paging32
	x := guestXlat{access: AccAll}
	for _, l := range p.Levels {
		switch {
		case !l.Mapped:
			return guestXlat{why: "a guest table is outside every memslot"}
		case !l.Present:
			return guestXlat{why: "the guest's level-" + itoa(l.Level) + " entry is not present"}
		case !l.FromReg && mmu.guestRsvd.isRsvdBitsSet(l.Entry, l.Level):
			return guestXlat{why: "the guest's level-" + itoa(l.Level) + " entry sets reserved bits"}
		case l.FromReg:
			continue
		}
		x.access &= gpteAccess(l.Entry, wide)
		if l.Leaf {
			x.dirty = l.Entry.Dirty()
		}
	}
	if !p.HasGPA {
		return guestXlat{why: "the guest's walk does not end in a page"}
	}
	x.ok, x.gpa, x.hpa, x.mapped, x.size = true, p.GPA, p.HPA, p.HasHPA, p.PageSize
	if p.Mode == PagingOff {
		x.dirty, x.size = true, 1<<30 // no guest entry: any page size, nothing to keep clean
		x.gpa &^= pageMask
		x.hpa &^= pageMask
	}
	return x
}

// checkTranslations enumerates the leaves reachable from v's roots: under
// shadow paging root_mmu's, checked against the guest's tables; under
// nested TDP guest_mmu's, checked against L1's nested tables
// (checkNestedTranslations).
func (c *invChecker) checkTranslations(v *VCPU) {
	if c.m.tdp != nil {
		c.checkNestedTranslations(v)
		return
	}
	mmu := &v.RootMMU
	if !mmu.RootValid || isDummyRoot(mmu) {
		return
	}
	level := mmu.RootRole.Level()
	w := &leafWalk{present: ptPresent, large: PTPageSize,
		visit: func(sptep HPA, l int, gva, e uint64, unsync bool) {
			c.checkLeaf(v, sptep, l, signExtend(gva, level), e, unsync)
		}}
	if level != 3 {
		c.walkLeaves(w, mmu.Root, level, 0, false)
		return
	}
	for i := 0; i < 4; i++ {
		if e := c.m.readSPTE(mmu.Root + HPA(8*i)); e&PTPresent != 0 {
			c.walkLeaves(w, HPA(e&eptAddrMask), 2, uint64(i)<<30, false)
		}
	}
}

// leafWalk is how walkLeaves reads one kind of shadow tables (shadow
// paging's, NPT02, EPT02) and what it does at each leaf.
type leafWalk struct {
	present func(spte uint64) bool // the entry is there (an MMIO SPTE always is)
	large   uint64                 // the bit of a large-page leaf
	// visit gets a leaf or MMIO SPTE: where it is, its level, the address it
	// maps (not sign-extended), its value, and whether an unsync shadow page
	// lies on its path.
	visit func(sptep HPA, level int, addr, spte uint64, unsync bool)
}

// walkLeaves visits the leaves below one table of level level that maps
// from base; a table held by an unsync shadow page makes every leaf below
// it unsync.
func (c *invChecker) walkLeaves(w *leafWalk, table HPA, level int, base uint64, unsync bool) {
	if sp := c.s.spAt(table); sp != nil && sp.Unsync {
		unsync = true
	}
	for i := 0; i < 512; i++ {
		sptep := table + HPA(8*i)
		e := c.m.readSPTE(sptep)
		mmio := c.s.masks.isMMIOSPTE(e)
		if !w.present(e) && !mmio {
			continue
		}
		addr := base | uint64(i)<<(PageShift+9*uint(level-1))
		if level == 1 || e&w.large != 0 || mmio {
			w.visit(sptep, level, addr, e, unsync)
			continue
		}
		c.walkLeaves(w, HPA(e&eptAddrMask), level-1, addr, unsync)
	}
}

// ptPresent is the present test of x86-format SPTEs (shadow paging, NPT02).
func ptPresent(spte uint64) bool { return spte&PTPresent != 0 }

// signExtend makes gva canonical for a walk of rootLevel levels (PAE's 3
// levels cover 32 bits and need none).
func signExtend(gva uint64, rootLevel int) GVA {
	if rootLevel < 4 {
		return GVA(gva)
	}
	top := uint(PageShift + 9*rootLevel - 1)
	if gva>>top&1 != 0 {
		gva |= ^uint64(0) << top
	}
	return GVA(gva)
}

// checkLeaf checks one leaf the processor can reach at gva.
func (c *invChecker) checkLeaf(v *VCPU, sptep HPA, level int, gva GVA, e uint64, unsync bool) {
	if unsync {
		return // an unsync page may be stale until the guest flushes, like a TLB
	}
	mode := PagingMode(v.WalkMMU().CPURole.Base.Level())
	if gp, err := checkGVA(mode, gva); gp != nil || err != nil {
		if mode == Paging4 || mode == Paging5 {
			return // only an index the guest cannot generate leads here
		}
		c.failf("vCPU %d: SPTE %s maps GVA %s, beyond what %s can address", v.ID, sptep, gva, mode)
		return
	}
	g := c.m.guestTranslation(v, gva)
	if c.s.masks.isMMIOSPTE(e) {
		if !g.ok || g.mapped || mmioSPTEGFN(e, c.m.Config.MaxPhyAddr) != g.gpa.GFN() {
			c.failf("vCPU %d: MMIO SPTE %s for GVA %s, but the guest maps it to GPA %s (memslot: %v)", v.ID, sptep,
				gva, g.gpa, g.mapped)
		}
		return
	}
	size := pagesPerHPage(level) << PageShift
	switch {
	case !g.ok:
		c.failf("vCPU %d: SPTE %s maps GVA %s, but %s", v.ID, sptep, gva, g.why)
		return
	case !g.mapped:
		c.failf("vCPU %d: SPTE %s maps GVA %s, but the guest maps it to MMIO GPA %s", v.ID, sptep, gva, g.gpa)
		return
	case g.size < size:
		c.failf("vCPU %d: SPTE %s maps a %s page at GVA %s, larger than the guest's %s page", v.ID, sptep,
			sizeString(size), gva, sizeString(g.size))
		return
	case HPA(e&eptAddrMask&^(size-1)) != g.hpa:
		c.failf("vCPU %d: SPTE %s maps GVA %s to HPA %s, but the guest and memslots give HPA %s", v.ID, sptep, gva,
			HPA(e&eptAddrMask&^(size-1)), g.hpa)
		return
	}
	c.checkRights(v, sptep, gva, e, g)
}

// checkRights compares the SPTE's rights with the guest's.
func (c *invChecker) checkRights(v *VCPU, sptep HPA, gva GVA, e uint64, g guestXlat) {
	acc := gpteAccess(PTE(e), true)
	role := v.WalkMMU().CPURole
	extra := acc &^ g.access
	wpRule := extra&AccWrite != 0 && !role.Base.CR0WP() && acc&AccUser == 0 && extra&^AccWrite == 0 &&
		!(role.Ext.CR4SMEP && acc&AccExec != 0)
	if extra != 0 && !wpRule {
		c.failf("vCPU %d: SPTE %s grants %s at GVA %s, but the guest grants only %s", v.ID, sptep,
			rightsString(acc, true), gva, rightsString(g.access, true))
	}
	if acc&AccWrite != 0 && !g.dirty {
		c.failf("vCPU %d: SPTE %s is writable at GVA %s, but the guest's entry is not dirty", v.ID, sptep, gva)
	}
}
