package scenarios

import (
	"mmuviz/mmu"
)

// Nested EPT in the language. `nested vmx pool=GPA [levels=4|5]
// [ad=on|off]` gives a vCPU an L1 hypervisor on VMX: an empty EPT12 in L1
// memory, whose root and page-walk length (and bit 6 with ad=on) make the
// EPT pointer L1 puts in vmcs12. `space=ept12` on map and entry writes
// EPT12, whose "GVA" is an L2 GPA and whose "GPA" an L1 GPA, with EPT's
// flags (r, w, x, ipat, a, d, ve); in the script `entry ... space=ept12` is
// L1's store into that entry. L2's own tables (`paging MODE space=l2`) are
// placed where EPT12 maps their L2 GPAs.

func init() { nestedBuilders["vmx"] = (*builder).nestedVMX }

// ept12Flags are the flags of an EPT12 entry: EPT's, without ps, which
// size= gives a map and flags=ps an entry.
var ept12Flags = []string{"r", "w", "x", "ipat", "a", "d", "ve"}

// nestedVMX is `nested vmx`: L0 must run on EPT; EPT12's empty top table
// comes from pool.
func (b *builder) nestedVMX(c *call, id int) error {
	f, ok := b.m.TDPFormat()
	if !ok || f.Kind != mmu.TDPEPT {
		return Errorf(c.Pos, "nested: nested EPT needs L0 on EPT: write `tdp ept` above")
	}
	if a, ok := c.key("shadow"); ok {
		return Errorf(a.Pos, "nested: shadow= is for nested svm; EPT02 always has EPT12's depth, so VMX needs no "+
			"special or level-expanded roots")
	}
	pa, ok := c.key("pool")
	if !ok {
		return Errorf(c.end, "nested: missing pool= (the L1 GPA of EPT12's tables; usage: %s)", c.spec.usage)
	}
	levels := 4
	if a, ok := c.key("levels"); ok {
		if a.Value.Num != 4 && a.Value.Num != 5 {
			return Errorf(a.Value.Pos, "nested: EPT12 has 4 or 5 levels, not %s", a.Value)
		}
		levels = int(a.Value.Num)
	}
	ad := f.AD
	if a, ok := c.key("ad"); ok {
		ad = a.Value.Text == "on"
		if ad && !f.AD {
			return Errorf(a.Value.Pos, "nested: L0 runs EPT without A/D bits (tdp ept ad=off), so it cannot offer "+
				"them to L1")
		}
	}
	var ept *mmu.EPT12Tables
	if _, err := b.nestedTables(c, func(start mmu.GPA, size uint64) (*mmu.GuestTables, error) {
		t, err := mmu.NewEPT12Tables(b.m, levels, start, size)
		ept = t
		return nil, err
	}, &b.pools, pa); err != nil {
		return err
	}
	if err := b.m.SetupNested(id, mmu.NestedSetup{Kind: mmu.NestedVMX, NCR3: ept.EPTP(ad)}); err != nil {
		return Errorf(c.Pos, "nested: %v", err)
	}
	b.nested[id] = &nestedBuild{kind: mmu.NestedVMX, ept: ept, at: c.Pos, l2regs: mmu.Regs{CR0: mmu.CR0PE}}
	return nil
}

// newL2Tables makes L2's tables in a pool of L2 memory, placed through
// L1's nested table: NPT12 for SVM, EPT12 for VMX.
func (b *builder) newL2Tables(nb *nestedBuild, mode mmu.PagingMode, start mmu.GPA, size uint64) (*mmu.GuestTables, error) {
	if nb.ept == nil {
		return mmu.NewL2Tables(b.m, mode, start, size, nb.npt)
	}
	eptp := nb.ept.EPTP(false)
	return mmu.NewGuestTablesIn(b.m, mode, start, size, func(l2 mmu.GPA) (mmu.GPA, error) {
		return b.m.EPT12Translate(eptp, l2)
	})
}

// inEPT12 is map or entry on EPT12.
func (b *builder) inEPT12(c *call, a Arg, id int, nb *nestedBuild) error {
	switch {
	case nb.ept == nil:
		return Errorf(a.Value.Pos, "%s: space=ept12 is nested vmx's; this vCPU has nested svm (space=npt12)", c.Name)
	case c.Name == "paging" || c.Name == "regs":
		return Errorf(a.Value.Pos, "%s: EPT12 has no %s of its own: its depth is nested's levels=, its root "+
			"nested's pool", c.Name, c.Name)
	}
	if p, ok := c.key("pkey"); ok {
		return Errorf(p.Pos, "%s: EPT entries have no protection key", c.Name)
	}
	if c.Name == "map" {
		return b.ept12Map(c, nb.ept)
	}
	level, value, err := b.ept12EntryValue(c, nb.ept)
	if err != nil {
		return err
	}
	l2, _ := c.arg(0)
	if b.inScript {
		b.add(&mmu.WriteEPT12Entry{Source: source(c), VCPU: id, L2GPA: mmu.GPA(l2.Value.Num), Level: level,
			Value: value}, l2.Value.Pos)
		return nil
	}
	if _, err := nb.ept.SetEntry(mmu.GPA(l2.Value.Num), level, value); err != nil {
		return Errorf(l2.Value.Pos, "entry: %v", err)
	}
	return nil
}

// ept12Map is `map L2GPA L1GPA space=ept12 [size=] [pages=] [flags=]`:
// leaves with the given rights (r,w,x without flags=) and write-back
// memory, as an L1 hypervisor maps its guest's RAM.
func (b *builder) ept12Map(c *call, ept *mmu.EPT12Tables) error {
	l2, _ := c.arg(0)
	l1, _ := c.arg(1)
	size, pages, err := b.mapSize(c, mmu.Paging4)
	if err != nil {
		return err
	}
	flags := uint64(mmu.EPTRWX)
	if fa, ok := c.key("flags"); ok {
		if flags, err = ept12Bits(c, fa); err != nil {
			return err
		}
	}
	flags |= mmu.EPTMemWB << mmu.EPTMTShift
	if err := aligned(c, l2, size, "L2 GPA"); err != nil {
		return err
	}
	if err := aligned(c, l1, size, "L1 GPA"); err != nil {
		return err
	}
	limit := uint64(1) << b.cfg.MaxPhyAddr
	span := pages * size
	if l1.Value.Num >= limit || span > limit-l1.Value.Num {
		return Errorf(l1.Value.Pos, "map: the mapping would end beyond L1 GPA %s (maxphyaddr=%d)", mmu.Hex(limit),
			b.cfg.MaxPhyAddr)
	}
	if top := uint64(1) << uint(12+9*ept.Levels); l2.Value.Num >= top || span > top-l2.Value.Num {
		return Errorf(l2.Value.Pos, "map: the mapping would end beyond L2 GPA %s, what a %d-level EPT translates",
			mmu.Hex(top), ept.Levels)
	}
	for i := uint64(0); i < pages; i++ {
		off := i * size
		if _, err := ept.Map(mmu.GPA(l2.Value.Num+off), mmu.GPA(l1.Value.Num+off), size, flags); err != nil {
			return Errorf(c.Pos, "map: %v", err)
		}
	}
	return nil
}

// ept12Bits turns flags= into EPT bits.
func ept12Bits(c *call, fa Arg) (uint64, error) {
	set, err := names(c, fa, ept12Flags)
	if err != nil {
		return 0, err
	}
	var v uint64
	for _, n := range eptFlags {
		if _, on := set[n.name]; on {
			v |= n.mask
		}
	}
	return v, nil
}

// ept12EntryValue builds the entry of `entry L2GPA level=N ... space=ept12`
// from value= or from addr= and flags= (ps allowed at levels 2 and 3); a
// leaf gets write-back memory.
func (b *builder) ept12EntryValue(c *call, ept *mmu.EPT12Tables) (int, uint64, error) {
	la, _ := c.key("level")
	if la.Value.Num < 1 || la.Value.Num > uint64(ept.Levels) {
		return 0, 0, Errorf(la.Value.Pos, "entry: a %d-level EPT12 has levels 1 to %d, not %s", ept.Levels,
			ept.Levels, la.Value)
	}
	level := int(la.Value.Num)
	if va, ok := c.key("value"); ok {
		for _, k := range []string{"addr", "flags"} {
			if a, ok := c.key(k); ok {
				return 0, 0, Errorf(a.Pos, "entry: value= is the whole entry, so %s= cannot be added", k)
			}
		}
		return level, va.Value.Num, nil
	}
	aa, ok := c.key("addr")
	if !ok {
		return 0, 0, Errorf(c.end, "entry: missing value= or addr= (usage: %s)", c.spec.usage)
	}
	var v uint64
	large := false
	if fa, ok := c.key("flags"); ok {
		set, err := names(c, fa, append([]string{"ps"}, ept12Flags...))
		if err != nil {
			return 0, 0, err
		}
		if it, on := set["ps"]; on {
			if level == 1 || level > 3 {
				return 0, 0, Errorf(it.Pos, "entry: only EPT levels 2 and 3 map large pages (ps)")
			}
			large = true
		}
		for _, n := range eptFlags {
			if _, on := set[n.name]; on {
				v |= n.mask
			}
		}
	}
	align := uint64(mmu.PageSize)
	if large {
		align <<= 9 * uint(level-1)
	}
	if err := aligned(c, aa, align, "addr"); err != nil {
		return 0, 0, err
	}
	if aa.Value.Num >= 1<<52 {
		return 0, 0, Errorf(aa.Value.Pos, "entry: addr %s does not fit in an EPT entry (below 2^52); use value=", aa.Value)
	}
	if level == 1 || large {
		v |= mmu.EPTMemWB << mmu.EPTMTShift
	}
	return level, v | aa.Value.Num, nil
}
