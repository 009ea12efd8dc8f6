package mmu

import "fmt"

// A side-effect-free walk of EPT12 (no A/D bits, no events) for set-up and
// for the invariant checker, and the invariants of EPT02: every leaf the
// processor can reach from guest_mmu's root through synced pages maps an
// L2 GPA to the host page that EPT12 and the memslots give, with no more
// of R, W, X than EPT12 grants, writable only if EPT12's leaf is dirty when
// EPTP12 enables A/D bits, and no larger than EPT12's page.

// ept12Xlat is one L2 GPA translated through EPT12 without side effects.
type ept12Xlat struct {
	ok     bool
	why    string
	l1     GPA
	hpa    HPA
	mapped bool   // a memslot covers l1
	rights uint64 // R/W/X ANDed over the entries
	dirty  bool   // the leaf's D bit
	size   uint64 // the leaf's page size
}

// ept12Lookup walks the EPT12 that eptp names for l2, checking reserved
// bits and memory types as L1's EPT capabilities define them.
func (m *Machine) ept12Lookup(eptp uint64, caps EPTCaps, l2 GPA) ept12Xlat {
	rsvd := resetRsvdsBitsMaskEPT(m.Config.MaxPhyAddr, caps.LargePageLevel)
	bad := badMTXWRFor(caps.ExecOnly)
	table := eptpRoot(eptp)
	x := ept12Xlat{rights: EPTRWX}
	for level := eptpPageWalkLevel(eptp); level >= 1; level-- {
		e, err := m.ReadGuest(table+GPA(8*spteIndex(l2, level)), 8)
		switch {
		case err != nil:
			return ept12Xlat{why: fmt.Sprintf("the EPT12 table at L1 GPA %s is outside every memslot", table)}
		case e&EPTRWX == 0:
			return ept12Xlat{why: fmt.Sprintf("the EPT12 %s is not present", eptEntryName(level))}
		case e&rsvd.mask[(e>>7)&1][level-1] != 0 || isBadMTXWR(bad, e):
			return ept12Xlat{why: fmt.Sprintf("the EPT12 %s is misconfigured", eptEntryName(level))}
		}
		x.rights &= e & EPTRWX
		if level == 1 || e&EPTPageSize != 0 {
			shift := PageShift + 9*(level-1)
			x.ok, x.dirty, x.size = true, e&EPTDirty != 0, uint64(1)<<shift
			x.l1 = GPA(e&bits(shift, 51) | uint64(l2)&bits(0, shift-1))
			x.hpa, x.mapped = m.GPAToHPA(x.l1)
			return x
		}
		table = GPA(e & eptAddrMask)
	}
	return ept12Xlat{why: "no leaf"}
}

// EPT12Translate translates l2 through the EPT12 that eptp names, with the
// capabilities this VM's L0 offers, without side effects: the L1 GPA, or
// why EPT12 does not map it to memory a memslot covers.
func (m *Machine) EPT12Translate(eptp uint64, l2 GPA) (GPA, error) {
	if m.tdp == nil || m.tdp.cfg.Kind != TDPEPT {
		return 0, fmt.Errorf("EPT12 needs L0 on EPT (tdp ept)")
	}
	x := m.ept12Lookup(eptp, m.nestedEPTCaps(), l2)
	switch {
	case !x.ok:
		return 0, fmt.Errorf("L2 GPA %s: %s", l2, x.why)
	case !x.mapped:
		return 0, fmt.Errorf("L2 GPA %s is L1 GPA %s, which no memslot covers", l2, x.l1)
	}
	return x.l1, nil
}

// checkEPT02Leaf checks one EPT02 leaf for L2 GPA l2.
func (c *invChecker) checkEPT02Leaf(v *VCPU, sptep HPA, level int, l2 GPA, e uint64) {
	mmu := &v.GuestMMU
	x := c.m.ept12Lookup(mmu.RootPGD, c.m.nestedEPTCaps(), l2)
	if !c.checkNestedLeafTarget(v, sptep, level, l2, e, x.nested(), "EPT02", "EPT12") {
		return
	}
	rights := restoreAccTrackSPTE(e) & EPTRWX
	switch {
	case rights&^x.rights != 0:
		c.failf("vCPU %d: EPT02 SPTE %s grants %s at L2 GPA %s, but EPT12 grants only %s", v.ID, sptep,
			eptRightsString(rights), l2, eptRightsString(x.rights))
	case rights&EPTWrite != 0 && !mmu.RootRole.ADDisabled() && !x.dirty:
		c.failf("vCPU %d: EPT02 SPTE %s is writable at L2 GPA %s, but EPT12's entry is not dirty", v.ID, sptep, l2)
	}
}

// ept12NestedXlat is ept12Lookup in the shape the shared nested code uses
// (nestedLookup): EPT's R counted as ACC_USER, as KVM does.
func (m *Machine) ept12NestedXlat(eptp uint64, l2 GPA) nestedXlat {
	return m.ept12Lookup(eptp, m.nestedEPTCaps(), l2).nested()
}

// nested is x in the shape the shared nested code uses.
func (x ept12Xlat) nested() nestedXlat {
	return nestedXlat{ok: x.ok, why: x.why, l1: x.l1, hpa: x.hpa, mapped: x.mapped, access: eptGPTEAccess(x.rights),
		dirty: x.dirty, size: x.size}
}
