package scenarios

import "mmuviz/mmu"

// The commands of a TDX trust domain: tdx in the setup (KVM_TDX_INIT_VM);
// tdx-init-mem, tdx-finalize, tdx-accept, tdx-map-gpa, tdx-check and
// tdx-destroy in the script. A TD's guest reaches shared memory through
// GPAs with the shared bit, which map GVAs to like any other GPA.

// init adds the TD commands to the table of build_spec.go, whose own init
// runs first (files initialise in name order).
func init() { specs = append(specs, tdxSpecs()...) }

// tdxSpecs are the rows of the TD commands.
func tdxSpecs() []*cmdSpec {
	gpa := []param{{what: "GPA", kinds: kNum, required: true}}
	return []*cmdSpec{
		{name: "tdx", phase: setupPhase,
			usage: "tdx gpaw=48|52 private-hpa=ADDR [sept-ve-disable=on|off]",
			keys: []param{{what: "gpaw", kinds: kNum, required: true}, {what: "private-hpa", kinds: kNum, required: true},
				{what: "sept-ve-disable", kinds: kIdent, words: onOffWords}},
			build: (*builder).tdxCmd},
		{name: "tdx-init-mem", phase: scriptPhase, usage: "tdx-init-mem GPA size=SIZE [measure=on|off] [vcpu=N]",
			pos: gpa, keys: []param{{what: "size", kinds: kNum, required: true},
				{what: "measure", kinds: kIdent, words: onOffWords}, vcpuKey},
			build: (*builder).tdxInitMem},
		{name: "tdx-finalize", phase: scriptPhase, usage: "tdx-finalize", build: (*builder).tdxFinalize},
		{name: "tdx-accept", phase: scriptPhase, usage: "tdx-accept GPA [vcpu=N]", pos: gpa,
			keys: []param{vcpuKey}, build: (*builder).tdxAccept},
		{name: "tdx-map-gpa", phase: scriptPhase, usage: "tdx-map-gpa GPA [size=SIZE] [vcpu=N]", pos: gpa,
			keys: []param{{what: "size", kinds: kNum}, vcpuKey}, build: (*builder).tdxMapGPA},
		{name: "tdx-check", phase: scriptPhase, usage: "tdx-check", build: (*builder).tdxCheck},
		{name: "tdx-destroy", phase: scriptPhase, usage: "tdx-destroy", build: (*builder).tdxDestroy},
	}
}

func (b *builder) tdxCmd(c *call) error {
	if err := b.onlyOnce(c); err != nil {
		return err
	}
	if b.m == nil || !b.m.TDPEnabled() {
		return Errorf(c.Pos, "tdx: a TD runs on EPT: write `tdp ept` above")
	}
	if f, _ := b.m.TDPFormat(); f.Kind != mmu.TDPEPT {
		return Errorf(c.Pos, "tdx: a TD runs on EPT, not %s", f.Name)
	}
	ga, _ := c.key("gpaw")
	if ga.Value.Num != 48 && ga.Value.Num != 52 {
		return Errorf(ga.Value.Pos, "tdx: a TD's GPAW is 48 (shared bit 47, 4-level EPT) or 52 (shared bit 51, "+
			"5-level EPT), not %s", ga.Value)
	}
	if int(ga.Value.Num) != b.cfg.MaxPhyAddr {
		return Errorf(ga.Value.Pos, "tdx: KVM reports a TD's GPAW as its MAXPHYADDR: gpaw=%d needs machine "+
			"maxphyaddr=%d (it is %d)", ga.Value.Num, ga.Value.Num, b.cfg.MaxPhyAddr)
	}
	pa, _ := c.key("private-hpa")
	if err := aligned(c, pa, mmu.PageSize, "private-hpa"); err != nil {
		return err
	}
	cfg := mmu.TDXConfig{GPAW: int(ga.Value.Num), PrivateBase: mmu.HPA(pa.Value.Num),
		SEPTVEDisable: onOff(c, "sept-ve-disable", true)}
	if err := b.m.EnableTDX(cfg); err != nil {
		return Errorf(pa.Value.Pos, "tdx: %v", err)
	}
	return nil
}

// needTD refuses a TD command on a machine that is no TD.
func (b *builder) needTD(c *call) error {
	if b.m == nil || !b.m.IsTD() {
		return Errorf(c.Pos, "%s: the machine is no TD: write `tdx gpaw=... private-hpa=...` above", c.Name)
	}
	return nil
}

// tdxTarget is what a TD command on a range of guest memory names: the
// GPA (at pos, where the action is placed), size= (4K by default) and
// vcpu=.
type tdxTarget struct {
	gpa  mmu.GPA
	size uint64
	vcpu int
	pos  Pos
}

// tdxRange reads a TD command's GPA, size= and vcpu=.
func (b *builder) tdxRange(c *call) (tdxTarget, error) {
	if err := b.needTD(c); err != nil {
		return tdxTarget{}, err
	}
	a, _ := c.arg(0)
	gpa, size, err := b.gpaRange(c, a, mmu.PageSize)
	if err != nil {
		return tdxTarget{}, err
	}
	id, _, err := b.vcpuArg(c)
	if err != nil {
		return tdxTarget{}, err
	}
	return tdxTarget{gpa: gpa, size: size, vcpu: id, pos: a.Value.Pos}, nil
}

// tdxWhole adds a TD command that takes no operand, a, at c.
func (b *builder) tdxWhole(c *call, a mmu.Action) error {
	if err := b.needTD(c); err != nil {
		return err
	}
	b.add(a, c.Pos)
	return nil
}

func (b *builder) tdxInitMem(c *call) error {
	r, err := b.tdxRange(c)
	if err != nil {
		return err
	}
	b.add(&mmu.TDXInitMemRegion{Source: source(c), VCPU: r.vcpu, GPA: r.gpa, Size: r.size,
		Measure: onOff(c, "measure", false)}, r.pos)
	return nil
}

func (b *builder) tdxFinalize(c *call) error {
	return b.tdxWhole(c, &mmu.TDXFinalize{Source: source(c)})
}

func (b *builder) tdxAccept(c *call) error {
	r, err := b.tdxRange(c)
	if err != nil {
		return err
	}
	b.add(&mmu.TDXAccept{Source: source(c), VCPU: r.vcpu, GPA: r.gpa}, r.pos)
	return nil
}

func (b *builder) tdxMapGPA(c *call) error {
	r, err := b.tdxRange(c)
	if err != nil {
		return err
	}
	b.add(&mmu.TDXMapGPA{Source: source(c), VCPU: r.vcpu, GPA: r.gpa, Size: r.size}, r.pos)
	return nil
}

func (b *builder) tdxCheck(c *call) error {
	return b.tdxWhole(c, &mmu.TDXCheck{Source: source(c)})
}

func (b *builder) tdxDestroy(c *call) error {
	return b.tdxWhole(c, &mmu.TDXDestroy{Source: source(c)})
}
