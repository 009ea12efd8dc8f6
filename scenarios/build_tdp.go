package scenarios

import (
	"strings"

	"mmuviz/mmu"
)

// The commands of two-dimensional paging: tdp (EPT or NPT), prefault and
// tdp-entry in the setup; memslot-remove, zap, prefault and print spte in
// the script.

// onOff reads a key=on|off argument, with def when it is absent.
func onOff(c *call, key string, def bool) bool {
	if a, ok := c.key(key); ok {
		return a.Value.Text == "on"
	}
	return def
}

func (b *builder) tdpCmd(c *call) error {
	if err := b.onlyOnce(c); err != nil {
		return err
	}
	if p, ok := b.once["shadow"]; ok {
		return Errorf(c.Pos, "tdp: the machine runs on shadow paging (line %d); EPT/NPT replace it", p.Line)
	}
	m, err := b.machine(c)
	if err != nil {
		return err
	}
	word, _ := c.arg(0)
	cfg := mmu.TDPConfig{Kind: mmu.TDPEPT, Levels: 4, AD: onOff(c, "ad", true),
		ExecOnly: onOff(c, "exec-only", true), GVAValidFix: onOff(c, "gva-fix", false)}
	if word.Value.Text == "npt" {
		cfg.Kind = mmu.TDPNPT
		for _, k := range []string{"ad", "exec-only", "gva-fix"} {
			if a, ok := c.key(k); ok {
				return Errorf(a.Pos, "tdp: %s= is for EPT only (NPT always keeps A/D bits, has no execute-only "+
					"entries, and npf_interception needs no GVA fix)", k)
			}
		}
		cfg.ExecOnly = false
	}
	if a, ok := c.key("levels"); ok {
		if a.Value.Num != 4 && a.Value.Num != 5 {
			return Errorf(a.Value.Pos, "tdp: EPT and NPT have 4 or 5 levels, not %s", a.Value)
		}
		cfg.Levels = int(a.Value.Num)
		if cfg.Kind == mmu.TDPEPT && cfg.Levels == 5 && b.cfg.MaxPhyAddr <= 48 {
			return Errorf(a.Value.Pos, "tdp: KVM builds 5-level EPT only when the guest's MAXPHYADDR is above 48 bits "+
				"(kvm_mmu_get_tdp_level); with maxphyaddr=%d it would use 4 levels: write levels=4, or machine "+
				"maxphyaddr=52", b.cfg.MaxPhyAddr)
		}
	}
	if err := m.EnableTDP(cfg); err != nil {
		return Errorf(c.Pos, "tdp: %v (see machine maxphyaddr=)", err)
	}
	return nil
}

// needTDP refuses a command on a machine without tdp.
func (b *builder) needTDP(c *call) error {
	if b.m == nil || !b.m.TDPEnabled() {
		return Errorf(c.Pos, "%s: the machine has no EPT or NPT: write `tdp ept` or `tdp npt` above", c.Name)
	}
	return nil
}

// gpaRange reads a page-aligned GPA argument and a size= (default dflt),
// checked against MAXPHYADDR.
func (b *builder) gpaRange(c *call, a Arg, dflt uint64) (mmu.GPA, uint64, error) {
	if err := aligned(c, a, mmu.PageSize, "GPA"); err != nil {
		return 0, 0, err
	}
	size, at := dflt, a.Value.Pos
	if s, ok := c.key("size"); ok {
		if err := aligned(c, s, mmu.PageSize, "size"); err != nil {
			return 0, 0, err
		}
		if size, at = s.Value.Num, s.Value.Pos; size == 0 {
			return 0, 0, Errorf(at, "%s: size must be at least 4K", c.Name)
		}
	}
	if limit := uint64(1) << b.cfg.MaxPhyAddr; a.Value.Num >= limit || size > limit-a.Value.Num {
		return 0, 0, Errorf(at, "%s: the range would end beyond GPA %s (maxphyaddr=%d)", c.Name, mmu.Hex(limit),
			b.cfg.MaxPhyAddr)
	}
	return mmu.GPA(a.Value.Num), size, nil
}

func (b *builder) prefault(c *call) error {
	if err := b.needTDP(c); err != nil {
		return err
	}
	id, _, err := b.vcpuArg(c)
	if err != nil {
		return err
	}
	a, _ := c.arg(0)
	gpa, size, err := b.gpaRange(c, a, mmu.PageSize)
	if err != nil {
		return err
	}
	if b.inScript {
		b.add(&mmu.PreFault{Source: source(c), VCPU: id, GPA: gpa, Size: size}, a.Value.Pos)
		return nil
	}
	if err := b.m.Prefault(id, gpa, size); err != nil {
		return Errorf(a.Value.Pos, "prefault: %v", err)
	}
	return nil
}

// eptFlags and nptFlags are the entry bits tdp-entry accepts by name.
var eptFlags = []named{
	{"r", mmu.EPTRead}, {"w", mmu.EPTWrite}, {"x", mmu.EPTExec}, {"ipat", mmu.EPTIPAT},
	{"ps", mmu.EPTPageSize}, {"a", mmu.EPTAccessed}, {"d", mmu.EPTDirty}, {"ve", mmu.EPTSuppressVE},
}

var nptFlags = []named{
	{"p", mmu.PTPresent}, {"w", mmu.PTWritable}, {"u", mmu.PTUser}, {"a", mmu.PTAccessed},
	{"d", mmu.PTDirty}, {"ps", mmu.PTPageSize}, {"nx", mmu.PTNX},
}

func (b *builder) tdpEntry(c *call) error {
	if err := b.needTDP(c); err != nil {
		return err
	}
	id, _, err := b.vcpuArg(c)
	if err != nil {
		return err
	}
	f, _ := b.m.TDPFormat()
	a, _ := c.arg(0)
	if err := aligned(c, a, mmu.PageSize, "GPA"); err != nil {
		return err
	}
	la, _ := c.key("level")
	if la.Value.Num < 1 || la.Value.Num > uint64(f.Levels) {
		return Errorf(la.Value.Pos, "tdp-entry: the %d-level %s has levels 1 to %d, not %s", f.Levels, f.Name,
			f.Levels, la.Value)
	}
	level := int(la.Value.Num)
	value, err := b.tdpEntryValue(c, f, level)
	if err != nil {
		return err
	}
	if err := b.m.SetTDPEntry(id, mmu.GPA(a.Value.Num), level, value); err != nil {
		return Errorf(a.Value.Pos, "tdp-entry: %v", err)
	}
	return nil
}

// tdpEntryValue builds the entry of tdp-entry from value= or from addr=,
// flags= and memtype=. An entry given by addr= that is present is marked
// as KVM's own (SPTE_MMU_PRESENT, bit 11), as KVM marks the SPTEs it makes.
func (b *builder) tdpEntryValue(c *call, f mmu.TDPFormat, level int) (uint64, error) {
	if va, ok := c.key("value"); ok {
		for _, k := range []string{"addr", "flags", "memtype"} {
			if a, ok := c.key(k); ok {
				return 0, Errorf(a.Pos, "tdp-entry: value= is the whole entry, so %s= cannot be added", k)
			}
		}
		return va.Value.Num, nil
	}
	aa, ok := c.key("addr")
	if !ok {
		return 0, Errorf(c.end, "tdp-entry: missing value= or addr= (usage: %s)", c.spec.usage)
	}
	table := eptFlags
	if f.Kind == mmu.TDPNPT {
		table = nptFlags
	}
	var v uint64
	if fa, ok := c.key("flags"); ok {
		set, err := names(c, fa, nameList(table))
		if err != nil {
			return 0, err
		}
		for _, n := range table {
			if it, on := set[n.name]; on {
				if n.name == "ps" && (level == 1 || level > 3) {
					return 0, Errorf(it.Pos, "tdp-entry: only levels 2 and 3 map huge pages (ps)")
				}
				v |= n.mask
			}
		}
	}
	if ma, ok := c.key("memtype"); ok {
		if f.Kind == mmu.TDPNPT || ma.Value.Num > 7 {
			return 0, Errorf(ma.Value.Pos, "tdp-entry: memtype is an EPT field of 0 to 7, not %s", ma.Value)
		}
		v |= ma.Value.Num << mmu.EPTMTShift
	}
	align := uint64(mmu.PageSize)
	if level > 1 && v&mmu.EPTPageSize != 0 {
		align <<= 9 * uint(level-1)
	}
	if err := aligned(c, aa, align, "addr"); err != nil {
		return 0, err
	}
	if aa.Value.Num >= 1<<52 {
		return 0, Errorf(aa.Value.Pos, "tdp-entry: addr %s does not fit in an entry (below 2^52); use value=", aa.Value)
	}
	v |= aa.Value.Num
	if present := v&7 != 0; (f.Kind == mmu.TDPEPT && present) || (f.Kind == mmu.TDPNPT && v&mmu.PTPresent != 0) {
		v |= mmu.SPTEMMUPresent
	}
	return v, nil
}

func (b *builder) memslotRemove(c *call) error {
	a, _ := c.arg(0)
	b.add(&mmu.RemoveMemslot{Source: source(c), ID: int(a.Value.Num), SlotZapOnly: keyIs(c, "zap", "slot")},
		a.Value.Pos)
	return nil
}

// keyIs reports whether key= is the word w.
func keyIs(c *call, key, w string) bool {
	a, ok := c.key(key)
	return ok && strings.EqualFold(a.Value.Text, w)
}

func (b *builder) zapCmd(c *call) error {
	if b.m == nil || !b.m.ShadowEnabled() {
		if err := b.needTDP(c); err != nil {
			return Errorf(c.Pos, "zap: the machine has neither EPT/NPT nor shadow paging: write `tdp ept`, `tdp npt` "+
				"or `shadow` above")
		}
	}
	a, _ := c.key("gpa")
	gpa, size, err := b.gpaRange(c, a, mmu.PageSize)
	if err != nil {
		return err
	}
	b.add(&mmu.ZapGFNRange{Source: source(c), GPA: gpa, Size: size}, a.Value.Pos)
	return nil
}

func (b *builder) printSPTE(c *call) error {
	if err := b.needTDP(c); err != nil {
		return err
	}
	id, _, err := b.vcpuArg(c)
	if err != nil {
		return err
	}
	a, _ := c.arg(1)
	if a.Value.Num >= 1<<b.cfg.MaxPhyAddr {
		return Errorf(a.Value.Pos, "print: GPA %s is beyond maxphyaddr (%d bits)", a.Value, b.cfg.MaxPhyAddr)
	}
	b.add(&mmu.PrintSPTE{Source: source(c), VCPU: id, GPA: mmu.GPA(a.Value.Num)}, a.Value.Pos)
	return nil
}

// hostPage reads memslot's host-page= (4K, 2M or 1G).
func hostPage(c *call) (uint64, error) {
	a, ok := c.key("host-page")
	if !ok {
		return 0, nil
	}
	switch a.Value.Num {
	case 4 << 10, 2 << 20, 1 << 30:
		return a.Value.Num, nil
	}
	return 0, Errorf(a.Value.Pos, "memslot: host-page is 4K, 2M or 1G, not %s", a.Value)
}
