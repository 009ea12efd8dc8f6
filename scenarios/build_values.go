package scenarios

import (
	"strings"

	"mmuviz/mmu"
)

// named is a name a scenario may use for some bits.
type named struct {
	name string
	mask uint64
}

// nameList returns the names of a table, for messages.
func nameList(t []named) []string {
	out := make([]string, len(t))
	for i, n := range t {
		out[i] = n.name
	}
	return out
}

// pteFlags are the entry bits map and entry accept by name. "pat" is
// handled apart: it is bit 7 in a 4 KiB PTE and bit 12 in a large page.
var pteFlags = []named{
	{"p", mmu.PTPresent}, {"w", mmu.PTWritable}, {"u", mmu.PTUser}, {"pwt", mmu.PTPWT},
	{"pcd", mmu.PTPCD}, {"a", mmu.PTAccessed}, {"d", mmu.PTDirty}, {"ps", mmu.PTPageSize},
	{"g", mmu.PTGlobal}, {"pat", 0}, {"nx", mmu.PTNX},
}

// features are the CPU features machine can turn off (all are on by
// default); mmu.Config.Feature gives the field behind each.
var features = mmu.FeatureNames

// names returns the names a value holds (one name or a list), each checked
// against allowed and given once; the map gives each name's value for
// positions.
func names(c *call, a Arg, allowed []string) (map[string]Value, error) {
	items := []Value{a.Value}
	if a.Value.Kind == ListValue {
		items = a.Value.Items
	}
	out := map[string]Value{}
	for _, it := range items {
		n := strings.ToLower(it.Text)
		if it.Kind != IdentValue || !contains(allowed, n) {
			return nil, Errorf(it.Pos, "%s: unknown name %s for %s; expected one of %s%s", c.Name, it.String(),
				a.Key, strings.Join(allowed, ", "), suggest(it.Text, allowed))
		}
		if _, dup := out[n]; dup {
			return nil, Errorf(it.Pos, "%s: %s is listed twice", c.Name, n)
		}
		out[n] = it
	}
	return out, nil
}

// vcpuArg returns the vcpu=N of a command, checked against the machine,
// and whether it was given.
func (b *builder) vcpuArg(c *call) (int, bool, error) {
	a, ok := c.key("vcpu")
	if !ok {
		return 0, false, nil
	}
	if a.Value.Num >= uint64(b.nvcpus) {
		return 0, true, Errorf(a.Value.Pos, "%s: no vCPU %d: this machine has vCPUs 0 to %d (see vcpus)",
			c.Name, a.Value.Num, b.nvcpus-1)
	}
	return int(a.Value.Num), true, nil
}

// vcpuList is the vCPUs a setup command applies to: the one named by
// vcpu=N, or all of them.
func (b *builder) vcpuList(c *call) ([]int, error) {
	id, given, err := b.vcpuArg(c)
	if err != nil {
		return nil, err
	}
	if given {
		return []int{id}, nil
	}
	all := make([]int, b.nvcpus)
	for i := range all {
		all[i] = i
	}
	return all, nil
}

// aligned refuses a value of a that is not a multiple of align.
func aligned(c *call, a Arg, align uint64, what string) error {
	if a.Value.Num%align != 0 {
		return Errorf(a.Value.Pos, "%s: %s %s is not aligned to %s", c.Name, what, a.Value,
			mmu.SizeString(align))
	}
	return nil
}

// regArg returns the register, operation and value of a REG=VALUE,
// REG+=BITS or REG-=BITS argument.
func regArg(c *call, a Arg) (mmu.Reg, mmu.RegOp, uint64, error) {
	r, _ := mmu.ParseReg(a.Key)
	op := mmu.RegAssign
	switch a.Op {
	case "+=":
		op = mmu.RegSetBits
	case "-=":
		op = mmu.RegClearBits
	}
	if a.Value.Kind == NumberValue {
		v := a.Value.Num
		if r == mmu.RegPKRU && v>>32 != 0 {
			return r, op, 0, Errorf(a.Value.Pos, "%s: PKRU is a 32-bit register, %s does not fit", c.Name, a.Value)
		}
		return r, op, v, nil
	}
	var table []named
	for _, rb := range mmu.RegBits[r] {
		table = append(table, named{rb.Name, rb.Mask})
	}
	set, err := names(c, a, nameList(table))
	if err != nil {
		return r, op, 0, err
	}
	var v uint64
	for _, n := range table {
		if _, ok := set[n.name]; ok {
			v |= n.mask
		}
	}
	return r, op, v, nil
}

// apply combines a register's old value with a RegOp, as the engine does.
func apply(old uint64, op mmu.RegOp, v uint64) uint64 {
	switch op {
	case mmu.RegSetBits:
		return old | v
	case mmu.RegClearBits:
		return old &^ v
	}
	return v
}

// missingFeature names a feature the machine lacks that a register value
// needs, or "".
func missingFeature(cfg mmu.Config, r mmu.Reg, v uint64) string {
	type need struct {
		reg  mmu.Reg
		bit  uint64
		has  bool
		name string
	}
	for _, n := range []need{
		{mmu.RegCR4, mmu.CR4SMEP, cfg.SMEP, "smep"}, {mmu.RegCR4, mmu.CR4SMAP, cfg.SMAP, "smap"},
		{mmu.RegCR4, mmu.CR4PKE, cfg.PKU, "pku"}, {mmu.RegCR4, mmu.CR4LA57, cfg.LA57, "la57"},
		{mmu.RegEFER, mmu.EFERNX, cfg.NX, "nx"},
	} {
		if r == n.reg && v&n.bit != 0 && !n.has {
			return n.name
		}
	}
	return ""
}
