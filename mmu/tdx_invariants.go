package mmu

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// CheckTDXInvariants checks, between actions, what keeps a TD's two
// views of its private memory one: KVM's mirror root and the TDX
// module's S-EPT agree entry by entry (a table for a table, linked
// through external_spt; a 4 KiB page for a page, the same guest_memfd
// page), except for the pages KVM_TDX_INIT_MEM_REGION premapped;
// nr_premapped counts those; every S-EPT page is reached once; the
// direct root maps only shared GPAs of shared memory and the mirror only
// private memory. It returns nil for a VM that is no live TD.
func (m *Machine) CheckTDXInvariants() error {
	x := m.tdx()
	if x == nil || x.destroyed {
		return nil
	}
	c := &tdxCheck{m: m, x: x, seen: map[PFN]bool{x.septRoot.PFN(): true}}
	roots := map[HPA]bool{}
	for _, v := range m.VCPUs {
		hpa, ok := x.mirrorRoot[v.ID]
		if !ok {
			continue
		}
		root := m.tdp.pages[hpa.PFN()]
		switch {
		case root == nil:
			c.bad("vCPU %d: mirror_root_hpa %s is no TDP MMU page", v.ID, hpa)
		case !root.Role.IsMirror() || root.Role.Invalid():
			c.bad("vCPU %d: mirror root %s has role %s", v.ID, hpa, root.Role)
		default:
			roots[hpa] = true
		}
	}
	if len(roots) > 1 {
		c.bad("%d mirror roots for one S-EPT", len(roots))
	}
	for hpa := range roots {
		c.compare(hpa, x.septRoot, m.tdp.level, 0)
	}
	if len(c.premapped) != len(x.premapped) || x.nrPremapped != len(x.premapped) {
		c.bad("nr_premapped is %d, %d GFNs are premapped, %d premapped leaves are in the mirror",
			x.nrPremapped, len(x.premapped), len(c.premapped))
	}
	for pfn := range x.sept {
		if !c.seen[pfn] {
			c.bad("S-EPT page %s is reached from no mirror page", pfn.HPA())
		}
	}
	c.checkDirect()
	return c.err()
}

// tdxCheck gathers the problems one check finds.
type tdxCheck struct {
	m         *Machine
	x         *tdxState
	seen      map[PFN]bool
	premapped []GFN
	problems  []string
}

func (c *tdxCheck) bad(f string, a ...any) {
	if len(c.problems) < 20 {
		c.problems = append(c.problems, fmt.Sprintf(f, a...))
	}
}

func (c *tdxCheck) err() error {
	if len(c.problems) == 0 {
		return nil
	}
	return errors.New("TDX invariants broken: " + strings.Join(c.problems, "; "))
}

// compare walks a mirror table and its S-EPT table together.
func (c *tdxCheck) compare(mirror, sept HPA, level int, base GFN) {
	for i := 0; i < 512; i++ {
		ms, _ := c.m.Mem.Read(mirror+HPA(8*i), 8)
		se, _ := c.m.Mem.Read(sept+HPA(8*i), 8)
		gfn := base + GFN(uint64(i)*pagesPerHPage(level))
		at := fmt.Sprintf("level %d index %d (GFN %s)", level, i, gfn)
		switch {
		case ms == FrozenSPTE:
			c.bad("%s: the mirror SPTE is still frozen", at)
		case !isShadowPresentPTE(ms):
			if se != 0 {
				c.bad("%s: the mirror SPTE is not present but the S-EPT entry is %s", at, hex(se))
			}
		case !isLastSPTE(ms, level):
			c.compareTable(ms, se, level, gfn, at)
		default:
			c.compareLeaf(ms, se, level, gfn, at)
		}
	}
}

// compareTable checks a non-leaf pair and recurses into the tables.
func (c *tdxCheck) compareTable(ms, se uint64, level int, gfn GFN, at string) {
	child := c.m.tdp.pages[spteToPFN(ms)]
	switch {
	case child == nil || !child.Role.IsMirror():
		c.bad("%s: the mirror SPTE %s points to no mirror page", at, hex(ms))
		return
	case child.Role.Level() != level-1 || child.GFN != gfn:
		c.bad("%s: the mirror child maps level %d from GFN %s", at, child.Role.Level(), child.GFN)
	case child.ExternalSPT == 0:
		c.bad("%s: the mirror child %s has no external_spt", at, child.SPT)
		return
	}
	ext := child.ExternalSPT
	sp := c.x.sept[ext.PFN()]
	switch {
	case se != uint64(ext)|septNonLeafBits:
		c.bad("%s: the mirror links %s (external_spt %s) but the S-EPT entry is %s", at, child.SPT, ext, hex(se))
		return
	case sp == nil || sp.level != level-1 || sp.gfn != gfn:
		c.bad("%s: S-EPT page %s is not registered as the level-%d table from GFN %s", at, ext, level-1, gfn)
		return
	case c.seen[ext.PFN()]:
		c.bad("%s: S-EPT page %s is linked twice", at, ext)
		return
	}
	c.seen[ext.PFN()] = true
	c.compare(child.SPT, ext, level-1, gfn)
}

// compareLeaf checks a leaf pair: 4 KiB, private memory, the same
// guest_memfd page, mapped or PENDING in the S-EPT, or only premapped.
func (c *tdxCheck) compareLeaf(ms, se uint64, level int, gfn GFN, at string) {
	if level != 1 {
		c.bad("%s: a level-%d private mapping; TDX maps 4 KiB pages only", at, level)
		return
	}
	if !c.m.kvmMemIsPrivate(gfn) {
		c.bad("%s: the mirror maps memory whose attribute is shared", at)
	}
	pfn := spteToPFN(ms)
	if want, _, ok := c.m.gmemPFN(gfn); !ok || want != pfn {
		c.bad("%s: the mirror maps HPA %s, not guest_memfd's page", at, pfn.HPA())
	}
	if c.x.premapped[gfn] {
		c.premapped = append(c.premapped, gfn)
		if se != 0 {
			c.bad("%s: premapped, but the S-EPT already has %s", at, hex(se))
		}
		return
	}
	switch {
	case spteToPFN(se) != pfn:
		c.bad("%s: the mirror maps HPA %s, the S-EPT %s", at, pfn.HPA(), hex(se))
	case se&SEPTBlocked != 0:
		c.bad("%s: the S-EPT leaf is still BLOCKED", at)
	case se&SEPTPending == 0 && se&EPTRWX != EPTRWX:
		c.bad("%s: the S-EPT leaf %s is neither mapped nor PENDING", at, hex(se))
	}
}

// checkDirect checks the TD's direct roots: entries only in the shared
// half of the root, leaves only for memory whose attribute is shared.
func (c *tdxCheck) checkDirect() {
	for _, r := range c.m.tdp.roots {
		if r.Role.IsMirror() || r.Role.Invalid() {
			continue
		}
		half := spteIndex(c.x.directBits.GPA(), r.Role.Level())
		for i := 0; i < 512; i++ {
			if e, _ := c.m.Mem.Read(r.SPT+HPA(8*i), 8); isShadowPresentPTE(e) && i&half == 0 {
				c.bad("direct root %s has entry %d in the private half", r.SPT, i)
			}
		}
		var bad []GFN
		for it := c.m.tdpIterStart(r, 1, 0); it.ok(c.x.directBits); it.next() {
			if isShadowPresentPTE(it.oldSPTE) && isLastSPTE(it.oldSPTE, it.level) && c.m.kvmMemIsPrivate(it.gfn) {
				bad = append(bad, it.gfn)
			}
		}
		sort.Slice(bad, func(i, j int) bool { return bad[i] < bad[j] })
		for _, g := range bad {
			c.bad("direct root %s maps GFN %s, whose attribute is private", r.SPT, g)
		}
	}
}
