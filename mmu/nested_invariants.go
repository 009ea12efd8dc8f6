package mmu

// The invariants of guest_mmu's shadow pages under nested TDP: every leaf
// the processor can reach from guest_mmu's root through synced pages maps
// an L2 GPA to the host page that L1's nested table and the memslots
// give, with no more rights than L1's table grants, and writable only if
// L1's entry is dirty. The special roots are walked like any table.

// checkNestedTranslations enumerates the leaves reachable from v's
// guest_mmu root.
func (c *invChecker) checkNestedTranslations(v *VCPU) {
	mmu := &v.GuestMMU
	if !mmu.RootValid || isDummyRoot(mmu) {
		return
	}
	w := &leafWalk{present: ptPresent, large: PTPageSize}
	check := c.checkNestedLeaf // NPT02 against NPT12
	switch v.Nested.Kind {
	case NestedSVM:
	case NestedVMX:
		// EPT02's shadow-present leaves against EPT12 (nested_ept_check.go).
		w.present, w.large, check = isShadowPresentPTE, EPTPageSize, c.checkEPT02Leaf
	default:
		return
	}
	// Leaves below an unsync page may lag L1's table until the next sync.
	w.visit = func(sptep HPA, level int, l2, e uint64, unsync bool) {
		if !unsync {
			check(v, sptep, level, GPA(l2), e)
		}
	}
	c.walkLeaves(w, mmu.Root, mmu.RootRole.Level(), 0, false)
}

// checkNestedLeaf checks one leaf of NPT02 for L2 GPA l2 against NPT12.
func (c *invChecker) checkNestedLeaf(v *VCPU, sptep HPA, level int, l2 GPA, e uint64) {
	mmu := &v.GuestMMU
	x := c.m.npt12Walk(PagingMode(mmu.CPURole.Base.Level()), mmu.CPURole.Ext.CR4PSE, mmu.RootPGD, l2, &mmu.guestRsvd)
	if !c.checkNestedLeafTarget(v, sptep, level, l2, e, x, "NPT02", "NPT12") {
		return
	}
	acc := gpteAccess(PTE(e), true)
	if extra := acc &^ x.access; extra != 0 {
		c.failf("vCPU %d: NPT02 SPTE %s grants %s at L2 GPA %s, but NPT12 grants only %s", v.ID, sptep,
			rightsString(acc, true), l2, rightsString(x.access, true))
	}
	if acc&AccWrite != 0 && !x.dirty {
		c.failf("vCPU %d: NPT02 SPTE %s is writable at L2 GPA %s, but NPT12's entry is not dirty", v.ID, sptep, l2)
	}
}

// checkNestedLeafTarget checks where a leaf of guest_mmu (shadow names its
// tables, "NPT02" or "EPT02") for L2 GPA l2 points against x, L1's nested
// table's translation (nested names it, "NPT12" or "EPT12"): an MMIO SPTE
// stands for the L1 GPA x gives, which no memslot covers; any other leaf
// is no larger than x's page and maps x's host page. It reports whether
// the leaf's rights are left to check.
func (c *invChecker) checkNestedLeafTarget(v *VCPU, sptep HPA, level int, l2 GPA, e uint64, x nestedXlat,
	shadow, nested string) bool {
	if c.s.masks.isMMIOSPTE(e) {
		if !x.ok || x.mapped || mmioSPTEGFN(e, c.m.Config.MaxPhyAddr) != x.l1.GFN() {
			c.failf("vCPU %d: %s MMIO SPTE %s for L2 GPA %s, but %s gives L1 GPA %s (memslot: %v)", v.ID, shadow, sptep,
				l2, nested, x.l1, x.mapped)
		}
		return false
	}
	size := pagesPerHPage(level) << PageShift
	hpa := HPA(e & eptAddrMask &^ (size - 1))
	switch {
	case !x.ok:
		c.failf("vCPU %d: %s SPTE %s maps L2 GPA %s, but %s", v.ID, shadow, sptep, l2, x.why)
	case !x.mapped:
		c.failf("vCPU %d: %s SPTE %s maps L2 GPA %s, but %s maps it to MMIO L1 GPA %s", v.ID, shadow, sptep, l2, nested,
			x.l1)
	case x.size < size:
		c.failf("vCPU %d: %s SPTE %s maps a %s page at L2 GPA %s, larger than %s's %s page", v.ID, shadow, sptep,
			sizeString(size), l2, nested, sizeString(x.size))
	case hpa != x.hpa&^HPA(size-1):
		c.failf("vCPU %d: %s SPTE %s maps L2 GPA %s to HPA %s, but %s and the memslots give HPA %s", v.ID, shadow,
			sptep, l2, hpa, nested, x.hpa)
	default:
		return true
	}
	return false
}
