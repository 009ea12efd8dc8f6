package scenarios

import (
	"mmuviz/mmu"
)

// Nested virtualization in the language. `nested svm` gives a vCPU an L1
// hypervisor's nested set-up: an empty NPT12 in L1 memory (its root is
// vmcb12's nested_cr3). `space=l2` on paging, regs, map and entry builds
// L2's registers and tables (in L2 memory, placed through NPT12);
// `space=npt12` on map and entry writes NPT12 itself, whose "GVA" is an L2
// GPA and whose "GPA" an L1 GPA. The script enters and leaves L2 with
// `nested-entry` and `nested-exit`; reads, writes and fetches run in L2
// while it runs.

// nestedBuild is a vCPU's nested set-up while the file is built.
type nestedBuild struct {
	kind   mmu.NestedKind
	npt    *mmu.GuestTables // L1's NPT12, in L1 memory
	ept    *mmu.EPT12Tables // L1's EPT12, in L1 memory (nested vmx)
	l2     *mmu.GuestTables // L2's own tables, in L2 memory
	l2regs mmu.Regs         // L2's registers (vmcb12's save area)
	l1regs mmu.Regs         // L1's registers while the script has L2 running
	pools  []pool           // L2 table pools, in L2 memory
	at     Pos              // the nested command
	inL2   bool             // the script has entered L2 and not left it
}

// spaceKey is the space= key of paging, regs, map and entry.
var spaceKey = param{what: "space", kinds: kIdent, words: []string{"l1", "l2", "npt12", "ept12"}}

// nestedBuilders are the vendors' `nested` commands, by kind.
var nestedBuilders = map[string]func(b *builder, c *call, id int) error{
	"svm": (*builder).nestedSVM,
}

// nestedSpecs are the rows of the nested commands.
func nestedSpecs() []*cmdSpec {
	return []*cmdSpec{
		{name: "nested", phase: setupPhase,
			usage: "nested svm|vmx [vcpu=N] pool=GPA [pool-size=SIZE] [shadow=merged|level-expanded] [levels=4|5] [ad=on|off]",
			pos:   []param{{what: "kind of nesting", kinds: kIdent, required: true, words: []string{"svm", "vmx"}}},
			keys: []param{vcpuKey, {what: "pool", kinds: kNum}, {what: "pool-size", kinds: kNum},
				{what: "shadow", kinds: kIdent, words: []string{"merged", "level-expanded"}, follows: true},
				{what: "levels", kinds: kNum}, {what: "ad", kinds: kIdent, words: onOffWords}},
			build: (*builder).nestedCmd},
		{name: "nested-entry", phase: scriptPhase, usage: "nested-entry [vcpu=N]",
			keys: []param{vcpuKey}, build: (*builder).nestedEntry},
		{name: "nested-exit", phase: scriptPhase, usage: "nested-exit [reason=hypercall|hlt|cpuid] [vcpu=N]",
			keys:  []param{vcpuKey, {what: "reason", kinds: kIdent, words: mmu.NestedExitReasons}},
			build: (*builder).nestedExit},
		{name: "gva-to-gpa", phase: scriptPhase, usage: "gva-to-gpa GVA [read|write] [user|supervisor] [vcpu=N]",
			pos:  []param{{what: "GVA", kinds: kNum, required: true}},
			more: &param{what: "option", kinds: kIdent, words: []string{"read", "write", "user", "supervisor"}},
			keys: []param{vcpuKey}, build: (*builder).gvaToGPA},
	}
}

// nestedOf returns the command's vCPU and its nested set-up.
func (b *builder) nestedOf(c *call) (int, *nestedBuild, error) {
	id, _, err := b.vcpuArg(c)
	if err != nil {
		return 0, nil, err
	}
	if id >= len(b.nested) || b.nested[id] == nil {
		return 0, nil, Errorf(c.Pos, "%s: vCPU %d has no nested set-up: write `nested svm pool=GPA` above", c.Name, id)
	}
	return id, b.nested[id], nil
}

func (b *builder) nestedCmd(c *call) error {
	if _, err := b.machine(c); err != nil {
		return err
	}
	id, _, err := b.vcpuArg(c)
	if err != nil {
		return err
	}
	if b.nested == nil {
		b.nested = make([]*nestedBuild, b.nvcpus)
	}
	if nb := b.nested[id]; nb != nil {
		return Errorf(c.Pos, "nested: vCPU %d already has a nested set-up (line %d)", id, nb.at.Line)
	}
	word, _ := c.arg(0)
	build, ok := nestedBuilders[word.Value.Text]
	if !ok {
		return Errorf(word.Value.Pos, "nested: nested %s is not modelled yet", word.Value.Text)
	}
	return build(b, c, id)
}

// nestedSVM is `nested svm`: L0 must run on NPT and L1 have its paging
// mode, which is NPT12's format; NPT12's empty root comes from pool.
func (b *builder) nestedSVM(c *call, id int) error {
	if _, ok := b.once["tdp"]; !ok {
		return Errorf(c.Pos, "nested: nested NPT needs L0 on NPT: write `tdp npt` above")
	}
	for _, k := range []string{"levels", "ad"} {
		if a, ok := c.key(k); ok {
			return Errorf(a.Pos, "nested: %s= is for nested vmx (EPT12); NPT12 takes L1's own paging format", k)
		}
	}
	pa, ok := c.key("pool")
	if !ok {
		return Errorf(c.end, "nested: missing pool= (the L1 GPA of NPT12's tables; usage: %s)", c.spec.usage)
	}
	npt, err := b.nestedTables(c, func(start mmu.GPA, size uint64) (*mmu.GuestTables, error) {
		return mmu.NewNPT12Tables(b.m, b.regs[id], start, size)
	}, &b.pools, pa)
	if err != nil {
		return err
	}
	variant := mmu.ShadowMerged
	if keyIs(c, "shadow", "level-expanded") {
		variant = mmu.ShadowLevelExpanded
	}
	if err := b.m.SetupNested(id, mmu.NestedSetup{Kind: mmu.NestedSVM, NCR3: npt.CR3(), Shadow: variant}); err != nil {
		return Errorf(c.Pos, "nested: %v", err)
	}
	b.nested[id] = &nestedBuild{kind: mmu.NestedSVM, npt: npt, at: c.Pos, l2regs: mmu.Regs{CR0: mmu.CR0PE}}
	return nil
}

// nestedTables checks pool= and pool-size= (1M by default) against the
// pools already handed out and makes tables there with mk.
func (b *builder) nestedTables(c *call, mk func(mmu.GPA, uint64) (*mmu.GuestTables, error), pools *[]pool,
	pa Arg) (*mmu.GuestTables, error) {
	if err := aligned(c, pa, mmu.PageSize, "pool"); err != nil {
		return nil, err
	}
	start, size := pa.Value.Num, uint64(defaultMem)
	if a, ok := c.key("pool-size"); ok {
		if err := aligned(c, a, mmu.PageSize, "pool-size"); err != nil {
			return nil, err
		}
		if size = a.Value.Num; size == 0 {
			return nil, Errorf(a.Value.Pos, "%s: pool-size must be at least 4K", c.Name)
		}
	}
	if limit := uint64(1) << b.cfg.MaxPhyAddr; start >= limit || size > limit-start {
		return nil, Errorf(pa.Value.Pos, "%s: the table pool would end beyond GPA %s (maxphyaddr=%d)", c.Name,
			mmu.Hex(limit), b.cfg.MaxPhyAddr)
	}
	end := mmu.GPA(start + size)
	for _, p := range *pools {
		if mmu.GPA(start) < p.end && p.start < end {
			return nil, Errorf(pa.Value.Pos, "%s: the table pool %s-%s overlaps the pool of line %d; give another pool=",
				c.Name, mmu.GPA(start), end-1, p.line)
		}
	}
	g, err := mk(mmu.GPA(start), size)
	if err != nil {
		return nil, Errorf(pa.Value.Pos, "%s: %v", c.Name, err)
	}
	*pools = append(*pools, pool{mmu.GPA(start), end, c.Pos.Line})
	return g, nil
}

// nestedSpace runs paging, regs, map and entry with space=l2 or
// space=npt12 on the nested tables and registers (handled); space=l1 or
// no space= leaves the command to its own builder, except an entry edit
// in the script while L2 runs.
func (b *builder) nestedSpace(c *call) (bool, error) {
	a, ok := c.key("space")
	if ok {
		c = withoutKey(c, "space")
	}
	if ok && a.Value.Text == "l1" {
		return true, c.spec.build(b, c)
	}
	if !ok {
		if c.Name == "entry" && b.inScript {
			if id, _, err := b.vcpuArg(c); err == nil && id < len(b.nested) && b.nested[id] != nil && b.nested[id].inL2 {
				return true, Errorf(c.Pos, "entry: vCPU %d runs L2 here; L2 edits its own tables with write GVA "+
					"value=V, which the processor translates", id)
			}
		}
		return false, nil
	}
	id, nb, err := b.nestedOf(c)
	if err != nil {
		return true, err
	}
	switch {
	case a.Value.Text == "ept12":
		return true, b.inEPT12(c, a, id, nb)
	case a.Value.Text == "npt12" && nb.npt == nil:
		return true, Errorf(a.Value.Pos, "%s: space=npt12 is nested svm's; this vCPU has nested vmx (space=ept12)", c.Name)
	case a.Value.Text == "npt12":
		return true, b.inNPT12(c, a, id, nb)
	}
	return true, b.inL2(c, id, nb)
}

// withoutKey is c without its key= argument, for a builder that reads
// every key (regs).
func withoutKey(c *call, key string) *call {
	cp := *c
	cp.Args = nil
	for _, a := range c.Args {
		if a.Key != key {
			cp.Args = append(cp.Args, a)
		}
	}
	return &cp
}

// inNPT12 is map or entry on NPT12.
func (b *builder) inNPT12(c *call, a Arg, id int, nb *nestedBuild) error {
	switch {
	case c.Name == "paging" || c.Name == "regs":
		return Errorf(a.Value.Pos, "%s: NPT12 has no %s of its own: it takes L1's paging format, and its root is "+
			"nested's pool", c.Name, c.Name)
	case c.Name == "entry" && b.inScript:
		return b.npt12EntryScript(c, id, nb)
	}
	return b.withTables(id, nb.npt, func() error {
		if c.Name == "map" {
			return b.mapCmd(c)
		}
		return b.entry(c)
	})
}

// inL2 is paging, regs, map or entry in L2's space.
func (b *builder) inL2(c *call, id int, nb *nestedBuild) error {
	switch {
	case b.inScript:
		return Errorf(c.Pos, "%s: in the script, L2 edits its own tables with write GVA value=V", c.Name)
	case c.Name == "paging":
		return b.l2Paging(c, nb)
	case c.Name == "regs":
		saved, savedAt := b.regs[id], b.regsAt[id]
		b.regs[id] = nb.l2regs
		err := b.regsCmd(c)
		nb.l2regs, b.regs[id], b.regsAt[id] = b.regs[id], saved, savedAt
		return err
	case nb.l2 == nil:
		return Errorf(c.Pos, "%s: L2 has no page tables yet: write `paging MODE space=l2` above", c.Name)
	}
	return b.withTables(id, nb.l2, func() error {
		if c.Name == "map" {
			return b.mapCmd(c)
		}
		return b.entry(c)
	})
}

// withTables runs f with vCPU id's tables replaced by g.
func (b *builder) withTables(id int, g *mmu.GuestTables, f func() error) error {
	saved := b.tables[id]
	b.tables[id] = g
	defer func() { b.tables[id] = saved }()
	return f()
}

// l2Paging is `paging MODE space=l2`: L2's mode bits and, with paging,
// its empty root from a pool of L2 memory (1M by default) that NPT12 maps.
func (b *builder) l2Paging(c *call, nb *nestedBuild) error {
	word, _ := c.arg(0)
	mode := pagingModes[word.Value.Text]
	if mode == mmu.Paging5 && !b.cfg.LA57 {
		return Errorf(word.Value.Pos, "paging: 5-level paging needs the la57 feature, which machine turned off")
	}
	nb.l2regs = pagingRegs(nb.l2regs, mode, b.cfg)
	if mode == mmu.PagingOff {
		return nil
	}
	pa, ok := c.key("pool")
	if !ok {
		pa = Arg{Key: "pool", Value: Value{Kind: NumberValue, Num: defaultMem, Pos: c.Pos}, Pos: c.Pos}
	}
	g, err := b.nestedTables(c, func(start mmu.GPA, size uint64) (*mmu.GuestTables, error) {
		return b.newL2Tables(nb, mode, start, size)
	}, &nb.pools, pa)
	if err != nil {
		return err
	}
	nb.l2, nb.l2regs.CR3 = g, g.CR3()
	return nil
}

// npt12EntryScript is `entry L2GPA level=N ... space=npt12` in the script:
// L1 stores into its NPT12 entry, found when the action runs.
func (b *builder) npt12EntryScript(c *call, id int, nb *nestedBuild) error {
	l1 := b.regs[id]
	if nb.inL2 {
		l1 = nb.l1regs
	}
	mode := mmu.NPTFormat(l1)
	gva, level, value, err := b.entryArgs(c, mode)
	if err != nil {
		return err
	}
	b.add(&mmu.WriteNPT12Entry{Source: source(c), VCPU: id, L2GPA: mmu.GPA(gva.Value.Num), Level: level, Value: value},
		gva.Value.Pos)
	return nil
}

// finishNested checks each nested set-up against L1's final registers and
// hands L2's registers to the machine.
func (b *builder) finishNested() error {
	for id, nb := range b.nested {
		if nb == nil {
			continue
		}
		if mode := mmu.NPTFormat(b.regs[id]); nb.kind == mmu.NestedSVM && mode != nb.npt.Mode {
			return Errorf(nb.at, "nested: L1's registers now give NPT12 the %s format, but it was built in %s: set "+
				"L1's paging before nested", mode, nb.npt.Mode)
		}
		if err := b.m.SetupNestedL2Regs(id, nb.l2regs); err != nil {
			return Errorf(nb.at, "nested: %v", err)
		}
	}
	return nil
}

func (b *builder) nestedEntry(c *call) error {
	id, nb, err := b.nestedOf(c)
	if err != nil {
		return err
	}
	if !nb.inL2 {
		nb.l1regs, b.regs[id], nb.inL2 = b.regs[id], nb.l2regs, true
	}
	b.add(&mmu.NestedEntry{Source: source(c), VCPU: id}, c.Pos)
	return nil
}

func (b *builder) nestedExit(c *call) error {
	id, nb, err := b.nestedOf(c)
	if err != nil {
		return err
	}
	if nb.inL2 {
		nb.l2regs, b.regs[id], nb.inL2 = b.regs[id], nb.l1regs, false
	}
	reason := ""
	if a, ok := c.key("reason"); ok {
		reason = a.Value.Text
	}
	b.add(&mmu.NestedExit{Source: source(c), VCPU: id, Reason: reason}, c.Pos)
	return nil
}

func (b *builder) gvaToGPA(c *call) error {
	id, _, err := b.vcpuArg(c)
	if err != nil {
		return err
	}
	gva, _ := c.arg(0)
	a := &mmu.NestedGVAToGPA{Source: source(c), VCPU: id, GVA: mmu.GVA(gva.Value.Num)}
	for _, x := range c.args[1:] {
		switch x.Value.Text {
		case "write":
			a.Write = true
		case "user":
			a.User = true
		}
	}
	b.add(a, gva.Value.Pos)
	return nil
}
