package scenarios

import "mmuviz/mmu"

// The commands of shadow paging: shadow in the setup; invlpg and check in
// the script (and write's value= and size=, which let a guest store into
// its own page tables).

func (b *builder) shadowCmd(c *call) error {
	if err := b.onlyOnce(c); err != nil {
		return err
	}
	if p, ok := b.once["tdp"]; ok {
		return Errorf(c.Pos, "shadow: the machine runs on EPT/NPT (line %d); shadow paging is what KVM does without them",
			p.Line)
	}
	m, err := b.machine(c)
	if err != nil {
		return err
	}
	cfg := mmu.ShadowConfig{Variant: mmu.ShadowMerged}
	if keyIs(c, "variant", "level-expanded") {
		cfg.Variant = mmu.ShadowLevelExpanded
	}
	switch {
	case keyIs(c, "obsolete-roots", "posted"):
		cfg.ObsoleteRoots = mmu.ObsoleteRootsPosted
	case keyIs(c, "obsolete-roots", "reload-all"):
		cfg.ObsoleteRoots = mmu.ObsoleteRootsReloadAll
	}
	if a, ok := c.key("root-level"); ok {
		if a.Value.Num != 4 && a.Value.Num != 5 {
			return Errorf(a.Value.Pos, "shadow: root-level is 4 or 5, not %s", a.Value)
		}
		cfg.RootLevel = int(a.Value.Num)
	}
	if cfg.Variant == mmu.ShadowLevelExpanded && cfg.RootLevel == 0 {
		a, _ := c.key("variant")
		return Errorf(a.Value.Pos, "shadow: the level-expanded proposal only changes guests with fewer levels than "+
			"KVM's root: add root-level=4 or root-level=5")
	}
	if err := m.EnableShadow(cfg); err != nil {
		return Errorf(c.Pos, "shadow: %v", err)
	}
	// KVM offers protection keys only with EPT/NPT.
	b.cfg.PKU = false
	return nil
}

func (b *builder) invlpgCmd(c *call) error {
	id, _, err := b.vcpuArg(c)
	if err != nil {
		return err
	}
	gva, _ := c.arg(0)
	b.add(&mmu.Invlpg{Source: source(c), VCPU: id, GVA: mmu.GVA(gva.Value.Num)}, gva.Value.Pos)
	return nil
}

func (b *builder) checkCmd(c *call) error {
	if b.m == nil || (!b.m.ShadowEnabled() && b.nested == nil) {
		return Errorf(c.Pos, "check: the invariants checked are the shadow MMU's: write `shadow` above")
	}
	b.add(&mmu.CheckShadow{Source: source(c)}, c.Pos)
	return nil
}

// storeArgs reads write's value= and size= (8 by default).
func storeArgs(c *call, a *mmu.Access) error {
	v, hasValue := c.key("value")
	s, hasSize := c.key("size")
	if !hasValue {
		if hasSize {
			return Errorf(s.Pos, "%s: size= is the size of the value= stored; give value= too", c.Name)
		}
		return nil
	}
	a.HasValue, a.Value, a.Size = true, v.Value.Num, 8
	if hasSize {
		switch s.Value.Num {
		case 1, 2, 4, 8:
			a.Size = int(s.Value.Num)
		default:
			return Errorf(s.Value.Pos, "%s: size is 1, 2, 4 or 8 bytes, not %s", c.Name, s.Value)
		}
	}
	if a.Size < 8 && a.Value>>(8*a.Size) != 0 {
		return Errorf(v.Value.Pos, "%s: %s does not fit in a %d-byte store", c.Name, v.Value, a.Size)
	}
	if uint64(a.GVA)&(mmu.PageSize-1)+uint64(a.Size) > mmu.PageSize {
		return Errorf(v.Value.Pos, "%s: a %d-byte store at GVA %s would cross a page boundary", c.Name, a.Size,
			mmu.Hex(uint64(a.GVA)))
	}
	return nil
}
