package scenarios

import (
	"strings"

	"mmuviz/mmu"
)

// tablesOf returns the guest tables of the command's vCPU (vcpu=N, 0 by
// default).
func (b *builder) tablesOf(c *call) (*mmu.GuestTables, error) {
	if _, err := b.machine(c); err != nil {
		return nil, err
	}
	id, _, err := b.vcpuArg(c)
	if err != nil {
		return nil, err
	}
	if b.tables[id] == nil {
		return nil, Errorf(c.Pos, "%s: vCPU %d has no page tables yet: write `paging MODE` above", c.Name, id)
	}
	return b.tables[id], nil
}

// pageSizes lists the page sizes of a paging mode, smallest first.
func pageSizes(mode mmu.PagingMode) []uint64 {
	switch mode {
	case mmu.Paging32:
		return []uint64{4 << 10, 4 << 20}
	case mmu.PagingPAE:
		return []uint64{4 << 10, 2 << 20}
	}
	return []uint64{4 << 10, 2 << 20, 1 << 30}
}

// checkGVARange refuses GVAs [gva, gva+span) that the mode cannot express:
// beyond 32 bits without long mode, not canonical with it.
func checkGVARange(c *call, a Arg, mode mmu.PagingMode, span uint64) error {
	gva := a.Value.Num
	if span == 0 || gva > ^uint64(0)-(span-1) {
		return Errorf(a.Value.Pos, "%s: the range at GVA %s wraps around the address space", c.Name, a.Value)
	}
	last := gva + span - 1
	switch mode {
	case mmu.Paging4, mmu.Paging5:
		width := uint(48)
		if mode == mmu.Paging5 {
			width = 57
		}
		top, topLast := gva>>(width-1), last>>(width-1)
		if (top != 0 && top != ^uint64(0)>>(width-1)) || top != topLast {
			return Errorf(a.Value.Pos, "%s: GVA %s is not canonical in %s: bits 63:%d must all equal bit %d",
				c.Name, a.Value, mode, width-1, width-1)
		}
	default:
		if last > 0xffffffff {
			return Errorf(a.Value.Pos, "%s: GVA %s does not fit in the 32-bit address space of %s", c.Name, a.Value, mode)
		}
	}
	return nil
}

func (b *builder) mapCmd(c *call) error {
	g, err := b.tablesOf(c)
	if err != nil {
		return err
	}
	gva, _ := c.arg(0)
	gpa, _ := c.arg(1)
	size, pages, err := b.mapSize(c, g.Mode)
	if err != nil {
		return err
	}
	if it, ok := flagItem(c, "ps"); ok {
		return Errorf(it.Pos, "map: PS follows size= (a large page gets it), so flags= does not take ps")
	}
	if err := aligned(c, gva, size, "GVA"); err != nil {
		return err
	}
	if err := aligned(c, gpa, size, "GPA"); err != nil {
		return err
	}
	span := pages * size
	if err := checkGVARange(c, gva, g.Mode, span); err != nil {
		return err
	}
	limit := uint64(1) << b.cfg.MaxPhyAddr
	if g.Mode == mmu.Paging32 {
		limit = 1 << 32
		if size > mmu.PageSize {
			limit = 1 << 36 // PSE-36
		}
	}
	if gpa.Value.Num >= limit || span > limit-gpa.Value.Num {
		return Errorf(gpa.Value.Pos, "map: the mapping would end beyond GPA %s, more than %s entries can hold",
			mmu.Hex(limit), g.Mode)
	}
	level := 1
	if size > mmu.PageSize {
		level = 2
	}
	flags, err := pteBits(c, g.Mode, level, size > mmu.PageSize, mapFlagNames)
	if err != nil {
		return err
	}
	for i := uint64(0); i < pages; i++ {
		off := i * size
		if _, err := g.Map(mmu.GVA(gva.Value.Num+off), mmu.GPA(gpa.Value.Num+off), size, mmu.PTE(flags)); err != nil {
			return Errorf(c.Pos, "map: %v", err)
		}
	}
	return nil
}

// mapFlagNames are the flags of map: P is implied and PS follows size=.
var mapFlagNames = []string{"p", "w", "u", "pwt", "pcd", "a", "d", "g", "pat", "nx"}

// entryFlagNames are the flags of entry.
var entryFlagNames = nameList(pteFlags)

// mapSize returns the size= and pages= of map, checked against the mode.
func (b *builder) mapSize(c *call, mode mmu.PagingMode) (uint64, uint64, error) {
	size, pages := uint64(mmu.PageSize), uint64(1)
	if a, ok := c.key("size"); ok {
		size = a.Value.Num
		var names []string
		found := false
		for _, s := range pageSizes(mode) {
			names = append(names, sizeWord(s))
			found = found || s == size
		}
		if !found {
			return 0, 0, Errorf(a.Value.Pos, "map: %s has pages of %s, not %s", mode, strings.Join(names, ", "), a.Value)
		}
		if size == 1<<30 && !b.cfg.GBPages {
			return 0, 0, Errorf(a.Value.Pos, "map: the machine has no 1 GiB pages (machine features-=gbpages)")
		}
	}
	if a, ok := c.key("pages"); ok {
		if pages = a.Value.Num; pages < 1 || pages > maxPages {
			return 0, 0, Errorf(a.Value.Pos, "map: pages is 1 to %d, not %s", maxPages, a.Value)
		}
		if b.mapped+pages > maxMapped {
			return 0, 0, Errorf(a.Value.Pos, "map: a file may map at most %d pages in all", maxMapped)
		}
	}
	b.mapped += pages
	return size, pages, nil
}

// pteBits turns flags= and pkey= into the bits of an entry at level in
// mode; large says the entry maps a large page (where PAT is bit 12).
func pteBits(c *call, mode mmu.PagingMode, level int, large bool, allowed []string) (uint64, error) {
	var v uint64
	if a, ok := c.key("flags"); ok {
		set, err := names(c, a, allowed)
		if err != nil {
			return 0, err
		}
		for _, n := range pteFlags {
			it, on := set[n.name]
			switch {
			case !on:
				continue
			case n.name == "nx" && mode == mmu.Paging32:
				return 0, Errorf(it.Pos, "%s: 32-bit entries have no NX bit", c.Name)
			case n.name == "ps" && level == 1:
				return 0, Errorf(it.Pos, "%s: a level-1 entry has no PS bit (bit 7 is PAT there: write pat)", c.Name)
			case n.name == "pat" && level == 1:
				v |= mmu.PTPageSize
			case n.name == "pat" && !large:
				return 0, Errorf(it.Pos, "%s: above level 1, only a large page (ps) has a PAT bit", c.Name)
			case n.name == "pat":
				v |= mmu.PTLargePAT
			default:
				v |= n.mask
			}
		}
	}
	if a, ok := c.key("pkey"); ok {
		if mode == mmu.Paging32 {
			return 0, Errorf(a.Pos, "%s: 32-bit entries have no protection key", c.Name)
		}
		if a.Value.Num > 15 {
			return 0, Errorf(a.Value.Pos, "%s: a protection key is 0 to 15, not %s", c.Name, a.Value)
		}
		v |= a.Value.Num << mmu.PTPKeyShift
	}
	return v, nil
}

// sizeWord writes a page size as a scenario does: 4K, 2M, 1G.
func sizeWord(n uint64) string {
	return strings.NewReplacer(" KiB", "K", " MiB", "M", " GiB", "G").Replace(mmu.SizeString(n))
}

// flagItem returns the item of flags= that names name.
func flagItem(c *call, name string) (Value, bool) {
	a, ok := c.key("flags")
	if !ok {
		return Value{}, false
	}
	items := []Value{a.Value}
	if a.Value.Kind == ListValue {
		items = a.Value.Items
	}
	for _, it := range items {
		if strings.EqualFold(it.Text, name) {
			return it, true
		}
	}
	return Value{}, false
}

// hasFlag reports whether flags= lists name.
func hasFlag(c *call, name string) bool {
	_, ok := flagItem(c, name)
	return ok
}

// entryArgs reads what an entry command names: its address (the first
// argument, which must fit mode's address space) and, from entryValue,
// the level and raw value it writes.
func (b *builder) entryArgs(c *call, mode mmu.PagingMode) (Arg, int, uint64, error) {
	gva, _ := c.arg(0)
	if err := checkGVARange(c, gva, mode, 1); err != nil {
		return gva, 0, 0, err
	}
	level, value, err := b.entryValue(c, mode)
	return gva, level, value, err
}

// entryValue returns the level and raw value an entry command writes, from
// value= or from addr= with flags= and pkey=.
func (b *builder) entryValue(c *call, mode mmu.PagingMode) (int, uint64, error) {
	la, _ := c.key("level")
	if la.Value.Num < 1 || la.Value.Num > uint64(mode) {
		return 0, 0, Errorf(la.Value.Pos, "entry: %s has levels 1 to %d, not %s", mode, int(mode), la.Value)
	}
	level := int(la.Value.Num)
	va, hasValue := c.key("value")
	aa, hasAddr := c.key("addr")
	if hasValue {
		for _, k := range []string{"addr", "flags", "pkey"} {
			if a, ok := c.key(k); ok {
				return 0, 0, Errorf(a.Pos, "entry: value= is the whole entry, so %s= cannot be added", k)
			}
		}
		if mode == mmu.Paging32 && va.Value.Num>>32 != 0 {
			return 0, 0, Errorf(va.Value.Pos, "entry: a 32-bit entry cannot hold %s", va.Value)
		}
		return level, va.Value.Num, nil
	}
	if !hasAddr {
		return 0, 0, Errorf(c.end, "entry: missing value= or addr= (usage: %s)", c.spec.usage)
	}
	large := level > 1 && hasFlag(c, "ps")
	flags, err := pteBits(c, mode, level, large, entryFlagNames)
	if err != nil {
		return 0, 0, err
	}
	addr, err := entryAddr(c, aa, mode, level, large)
	return level, addr | flags, err
}

// entryAddr checks addr= and encodes it as an entry of mode holds it.
func entryAddr(c *call, a Arg, mode mmu.PagingMode, level int, large bool) (uint64, error) {
	align := uint64(mmu.PageSize)
	if size := mmu.LevelPageSize(mode, level); large && contains64(pageSizes(mode), size) {
		align = size
	}
	if err := aligned(c, a, align, "addr"); err != nil {
		return 0, err
	}
	addr, limit := a.Value.Num, uint64(1)<<52
	if mode == mmu.Paging32 {
		limit = 1 << 32
		if large {
			limit = 1 << 36 // PSE-36 keeps bits 35:32 in bits 16:13
		}
	}
	if addr >= limit {
		return 0, Errorf(a.Value.Pos, "entry: addr %s does not fit in an entry of %s (below %s); use value= for raw bits",
			a.Value, mode, mmu.Hex(limit))
	}
	if mode == mmu.Paging32 && large {
		addr = addr&0xffc00000 | (addr>>32&0xf)<<mmu.PT32PSE36Shift
	}
	return addr, nil
}

func contains64(list []uint64, v uint64) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// entry writes an entry: at setup directly into the tables (creating those
// above it), in the script as a traced guest store (WriteEntry).
func (b *builder) entry(c *call) error {
	if b.inScript {
		return b.entryScript(c)
	}
	g, err := b.tablesOf(c)
	if err != nil {
		return err
	}
	gva, level, value, err := b.entryArgs(c, g.Mode)
	if err != nil {
		return err
	}
	if _, err := g.SetEntry(mmu.GVA(gva.Value.Num), level, mmu.PTE(value)); err != nil {
		return Errorf(c.Pos, "entry: %v", err)
	}
	return nil
}

func (b *builder) entryScript(c *call) error {
	id, _, err := b.vcpuArg(c)
	if err != nil {
		return err
	}
	mode := b.regs[id].Mode()
	if mode == mmu.PagingOff {
		return Errorf(c.Pos, "entry: vCPU %d has paging off, so it has no page tables", id)
	}
	gva, level, value, err := b.entryArgs(c, mode)
	if err != nil {
		return err
	}
	b.add(&mmu.WriteEntry{Source: source(c), VCPU: id, GVA: mmu.GVA(gva.Value.Num), Level: level, Value: value},
		gva.Value.Pos)
	return nil
}
