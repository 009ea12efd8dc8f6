package scenarios

import "mmuviz/mmu"

// accessKinds maps read, write and fetch to the engine's access kinds.
var accessKinds = map[string]mmu.AccessKind{
	"read": mmu.AccessRead, "write": mmu.AccessWrite, "fetch": mmu.AccessFetch,
}

// access is read, write or fetch of a GVA: a supervisor access unless the
// line says user (or implicit, a supervisor access the CPU makes itself).
func (b *builder) access(c *call) error {
	id, _, err := b.vcpuArg(c)
	if err != nil {
		return err
	}
	gva, _ := c.arg(0)
	a := &mmu.Access{Source: source(c), VCPU: id, GVA: mmu.GVA(gva.Value.Num), Kind: accessKinds[c.Name]}
	if who, ok := c.arg(1); ok {
		a.User = who.Value.Text == "user"
		a.Implicit = who.Value.Text == "implicit"
	}
	if err := storeArgs(c, a); err != nil {
		return err
	}
	b.add(a, gva.Value.Pos)
	return nil
}

// set writes registers as the guest would (MOV to CR, WRMSR): one action
// per register, in the order written.
func (b *builder) set(c *call) error {
	id, _, err := b.vcpuArg(c)
	if err != nil {
		return err
	}
	n := 0
	for _, a := range c.Args {
		if a.Key == "" || a.Key == "vcpu" {
			continue
		}
		r, op, v, err := regArg(c, a)
		if err != nil {
			return err
		}
		b.add(&mmu.SetReg{Source: source(c), VCPU: id, Reg: r, Op: op, Value: v}, a.Pos)
		b.regs[id] = predictRegWrite(b.regs[id], r, op, v)
		n++
	}
	if n == 0 {
		return Errorf(c.end, "set: expected a register, such as cr0-=wp (usage: %s)", c.spec.usage)
	}
	return nil
}

// predictRegWrite follows a script's register write so that later script
// commands (entry, print entry) are checked and encoded for the paging mode
// the vCPU will be in when they run: EFER.LMA follows CR0.PG as the CPU
// sets it. A write the engine refuses at run time (#GP) is still assumed
// to succeed here; the engine then reports any mismatch when it runs.
func predictRegWrite(old mmu.Regs, r mmu.Reg, op mmu.RegOp, v uint64) mmu.Regs {
	next := old
	next.Set(r, apply(old.Get(r), op, v))
	if r == mmu.RegEFER {
		next.EFER = next.EFER&^mmu.EFERLMA | old.EFER&mmu.EFERLMA
	}
	if r == mmu.RegCR0 {
		switch {
		case next.CR0&mmu.CR0PG == 0:
			next.EFER &^= mmu.EFERLMA
		case old.CR0&mmu.CR0PG == 0 && next.EFER&mmu.EFERLME != 0 && next.CR4&mmu.CR4PAE != 0:
			next.EFER |= mmu.EFERLMA
		}
	}
	return next
}

// storeSize returns size= (8 by default), which must be 1, 2, 4 or 8 and
// divide the address.
func (b *builder) storeSize(c *call, addr Arg) (int, error) {
	size := uint64(8)
	if a, ok := c.key("size"); ok {
		if size = a.Value.Num; size != 1 && size != 2 && size != 4 && size != 8 {
			return 0, Errorf(a.Value.Pos, "%s: size is 1, 2, 4 or 8 bytes, not %s", c.Name, a.Value)
		}
	}
	if err := aligned(c, addr, size, "GPA"); err != nil {
		return 0, err
	}
	if addr.Value.Num >= 1<<b.cfg.MaxPhyAddr {
		return 0, Errorf(addr.Value.Pos, "%s: GPA %s is beyond maxphyaddr (%d bits)", c.Name, addr.Value,
			b.cfg.MaxPhyAddr)
	}
	return int(size), nil
}

func (b *builder) guestWrite(c *call) error {
	id, _, err := b.vcpuArg(c)
	if err != nil {
		return err
	}
	gpa, _ := c.arg(0)
	val, _ := c.arg(1)
	size, err := b.storeSize(c, gpa)
	if err != nil {
		return err
	}
	if size < 8 && val.Value.Num>>(8*size) != 0 {
		return Errorf(val.Value.Pos, "guest-write: %s does not fit in a %d-byte store", val.Value, size)
	}
	b.add(&mmu.GuestWrite{Source: source(c), VCPU: id, GPA: mmu.GPA(gpa.Value.Num), Size: size,
		Value: val.Value.Num}, gpa.Value.Pos)
	return nil
}

func (b *builder) printEntry(c *call) error {
	id, _, err := b.vcpuArg(c)
	if err != nil {
		return err
	}
	gva, _ := c.arg(1)
	la, _ := c.key("level")
	mode := b.regs[id].Mode()
	if mode == mmu.PagingOff {
		return Errorf(c.Pos, "print: vCPU %d has paging off, so it has no page tables", id)
	}
	if la.Value.Num < 1 || la.Value.Num > uint64(mode) {
		return Errorf(la.Value.Pos, "print: %s has levels 1 to %d, not %s", mode, int(mode), la.Value)
	}
	b.add(&mmu.PrintEntry{Source: source(c), VCPU: id, GVA: mmu.GVA(gva.Value.Num), Level: int(la.Value.Num)},
		gva.Value.Pos)
	return nil
}

func (b *builder) printGPA(c *call) error {
	gpa, _ := c.arg(1)
	size, err := b.storeSize(c, gpa)
	if err != nil {
		return err
	}
	b.add(&mmu.PrintMem{Source: source(c), GPA: mmu.GPA(gpa.Value.Num), Size: size}, gpa.Value.Pos)
	return nil
}

func (b *builder) printReg(c *call) error {
	id, _, err := b.vcpuArg(c)
	if err != nil {
		return err
	}
	word, _ := c.arg(0)
	r, _ := mmu.ParseReg(word.Value.Text)
	b.add(&mmu.PrintReg{Source: source(c), VCPU: id, Reg: r}, word.Value.Pos)
	return nil
}
