package scenarios

import "mmuviz/mmu"

// Limits that keep a hostile file cheap to build.
const (
	maxVCPUs   = 64
	maxPages   = 4096    // pages= of one map command
	maxMapped  = 1 << 18 // leaf entries map may write in one file
	maxSlotID  = 1 << 15 // memslot IDs
	defaultMem = 1 << 20 // default table pool: GPA 1 MiB, 1 MiB long
)

func (b *builder) machineCmd(c *call) error {
	if err := b.onlyOnce(c); err != nil {
		return err
	}
	if err := b.beforeMachine(c); err != nil {
		return err
	}
	if a, ok := c.key("maxphyaddr"); ok {
		if a.Value.Num < 32 || a.Value.Num > 52 {
			return Errorf(a.Value.Pos, "machine: maxphyaddr is 32 to 52 bits, not %s", a.Value)
		}
		b.cfg.MaxPhyAddr = int(a.Value.Num)
	}
	if a, ok := c.key("host-memory"); ok {
		n := a.Value.Num
		if n < 1<<20 || n > 1<<b.cfg.MaxPhyAddr || n%mmu.PageSize != 0 {
			return Errorf(a.Value.Pos, "machine: host-memory must be a multiple of 4K between 1M and 2^maxphyaddr (%s), not %s",
				mmu.SizeString(1<<b.cfg.MaxPhyAddr), a.Value)
		}
		b.cfg.HostMemory = n
	}
	if a, ok := c.key("features"); ok {
		set, err := names(c, a, features)
		if err != nil {
			return err
		}
		for _, f := range features {
			_, listed := set[f]
			p := b.cfg.Feature(f)
			switch {
			case a.Op == "=":
				*p = listed
			case listed:
				*p = a.Op == "+="
			}
		}
	}
	return nil
}

func (b *builder) vcpus(c *call) error {
	if err := b.onlyOnce(c); err != nil {
		return err
	}
	if err := b.beforeMachine(c); err != nil {
		return err
	}
	a, _ := c.arg(0)
	if a.Value.Num < 1 || a.Value.Num > maxVCPUs {
		return Errorf(a.Value.Pos, "vcpus: a machine has 1 to %d vCPUs, not %s", maxVCPUs, a.Value)
	}
	b.nvcpus = int(a.Value.Num)
	return nil
}

func (b *builder) memslot(c *call) error {
	m, err := b.machine(c)
	if err != nil {
		return err
	}
	id, _ := c.arg(0)
	gpa, _ := c.key("gpa")
	size, _ := c.key("size")
	hpa, _ := c.key("hpa")
	if id.Value.Num >= maxSlotID {
		return Errorf(id.Value.Pos, "memslot: the ID is below %d, not %s", maxSlotID, id.Value)
	}
	for _, a := range []Arg{gpa, size, hpa} {
		if err := aligned(c, a, mmu.PageSize, a.Key); err != nil {
			return err
		}
	}
	n := size.Value.Num
	if n == 0 {
		return Errorf(size.Value.Pos, "memslot: size must be at least 4K")
	}
	if limit := uint64(1) << b.cfg.MaxPhyAddr; gpa.Value.Num >= limit || n > limit-gpa.Value.Num {
		return Errorf(size.Value.Pos, "memslot: the slot would end beyond GPA %s (maxphyaddr=%d)",
			mmu.Hex(limit), b.cfg.MaxPhyAddr)
	}
	if mem := b.cfg.HostMemory; hpa.Value.Num >= mem || n > mem-hpa.Value.Num {
		return Errorf(hpa.Value.Pos, "memslot: the slot would end beyond host memory (%s; see machine host-memory=)",
			sizeWord(mem))
	}
	hp, err := hostPage(c)
	if err != nil {
		return err
	}
	err = m.AddMemslot(mmu.Memslot{ID: int(id.Value.Num), BaseGFN: mmu.GPA(gpa.Value.Num).GFN(),
		NPages: n / mmu.PageSize, BasePFN: mmu.HPA(hpa.Value.Num).PFN(), HostPageSize: hp})
	if err != nil {
		return Errorf(c.Pos, "memslot: %v", err)
	}
	return nil
}

// pagingModes maps the words of the paging command to modes. Names start
// with a letter because the syntax reads 4level as a number.
var pagingModes = map[string]mmu.PagingMode{
	"off": mmu.PagingOff, "level2": mmu.Paging32, "pae": mmu.PagingPAE,
	"level4": mmu.Paging4, "level5": mmu.Paging5,
}

func (b *builder) paging(c *call) error {
	m, err := b.machine(c)
	if err != nil {
		return err
	}
	ids, err := b.vcpuList(c)
	if err != nil {
		return err
	}
	word, _ := c.arg(0)
	mode := pagingModes[word.Value.Text]
	if mode == mmu.Paging5 && !b.cfg.LA57 {
		return Errorf(word.Value.Pos, "paging: 5-level paging needs the la57 feature, which machine turned off")
	}
	var g *mmu.GuestTables
	if mode != mmu.PagingOff {
		if g, err = b.newTables(c, m, mode); err != nil {
			return err
		}
	} else if a, ok := c.key("pool"); ok {
		return Errorf(a.Pos, "paging: with paging off there are no page tables, so no pool")
	}
	for _, id := range ids {
		r := pagingRegs(b.regs[id], mode, b.cfg)
		if g != nil {
			r.CR3 = g.CR3()
		}
		b.regs[id], b.tables[id], b.regsAt[id] = r, g, c.Pos
	}
	return nil
}

// newTables makes guest tables from the pool the command names.
func (b *builder) newTables(c *call, m *mmu.Machine, mode mmu.PagingMode) (*mmu.GuestTables, error) {
	start, size := uint64(defaultMem), uint64(defaultMem)
	at := c.Pos
	if a, ok := c.key("pool"); ok {
		if err := aligned(c, a, mmu.PageSize, "pool"); err != nil {
			return nil, err
		}
		start, at = a.Value.Num, a.Value.Pos
	}
	if a, ok := c.key("pool-size"); ok {
		if err := aligned(c, a, mmu.PageSize, "pool-size"); err != nil {
			return nil, err
		}
		if size = a.Value.Num; size == 0 {
			return nil, Errorf(a.Value.Pos, "paging: pool-size must be at least 4K")
		}
	}
	if limit := uint64(1) << b.cfg.MaxPhyAddr; start >= limit || size > limit-start {
		return nil, Errorf(at, "paging: the table pool would end beyond GPA %s (maxphyaddr=%d)",
			mmu.Hex(limit), b.cfg.MaxPhyAddr)
	}
	end := mmu.GPA(start + size)
	for _, p := range b.pools {
		if mmu.GPA(start) < p.end && p.start < end {
			return nil, Errorf(at, "paging: the table pool %s-%s overlaps the pool of line %d; give another pool=",
				mmu.GPA(start), end-1, p.line)
		}
	}
	g, err := mmu.NewGuestTables(m, mode, mmu.GPA(start), size)
	if err != nil {
		return nil, Errorf(at, "paging: %v (give the pool a memslot, or pool= inside one)", err)
	}
	b.pools = append(b.pools, pool{mmu.GPA(start), end, c.Pos.Line})
	return g, nil
}

// pagingRegs sets the control-register bits a paging mode needs and
// clears those of other modes, keeping the rest (SMEP, PKE...).
func pagingRegs(r mmu.Regs, mode mmu.PagingMode, cfg mmu.Config) mmu.Regs {
	const modeCR4 = mmu.CR4PSE | mmu.CR4PAE | mmu.CR4LA57
	r.CR0 |= mmu.CR0PE
	r.EFER &^= mmu.EFERLME | mmu.EFERLMA
	switch mode {
	case mmu.PagingOff:
		r.CR0 &^= mmu.CR0PG
		return r
	case mmu.Paging32:
		r.CR4 = r.CR4&^modeCR4 | mmu.CR4PSE
	case mmu.PagingPAE:
		r.CR4 = r.CR4&^modeCR4 | mmu.CR4PSE | mmu.CR4PAE
	case mmu.Paging4:
		r.CR4 = r.CR4&^modeCR4 | mmu.CR4PSE | mmu.CR4PAE
		r.EFER |= mmu.EFERLME | mmu.EFERLMA
	case mmu.Paging5:
		r.CR4 |= modeCR4
		r.EFER |= mmu.EFERLME | mmu.EFERLMA
	}
	r.CR0 |= mmu.CR0PG | mmu.CR0WP
	if mode != mmu.Paging32 && cfg.NX {
		r.EFER |= mmu.EFERNX
	}
	return r
}

func (b *builder) regsCmd(c *call) error {
	if _, err := b.machine(c); err != nil {
		return err
	}
	ids, err := b.vcpuList(c)
	if err != nil {
		return err
	}
	n := 0
	for _, a := range c.Args {
		if a.Key == "" || a.Key == "vcpu" {
			continue
		}
		n++
		r, op, v, err := regArg(c, a)
		if err != nil {
			return err
		}
		if f := missingFeature(b.cfg, r, v); f != "" && op != mmu.RegClearBits {
			if p, ok := b.once["shadow"]; ok && f == "pku" {
				return Errorf(a.Value.Pos, "regs: KVM offers protection keys only with EPT/NPT, not with shadow paging "+
					"(line %d)", p.Line)
			}
			return Errorf(a.Value.Pos, "regs: the machine has no %s (machine features-=%s)", f, f)
		}
		for _, id := range ids {
			b.regs[id].Set(r, apply(b.regs[id].Get(r), op, v))
			if r == mmu.RegCR3 {
				b.regsAt[id] = a.Pos
			}
		}
	}
	if n == 0 {
		return Errorf(c.end, "regs: expected a register, such as cr4+=smep (usage: %s)", c.spec.usage)
	}
	return nil
}
