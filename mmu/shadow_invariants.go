package mmu

import (
	"fmt"
	"sort"
	"strings"
)

// The shadow MMU's invariants, checkable after any step: the structures
// agree with each other (hash, lists, parent links, rmaps, root counts,
// write tracking), and every translation the processor can make through
// a synced shadow page is one the guest's tables and the memslots allow.

// maxInvariantReports bounds the list CheckShadowInvariants returns.
const maxInvariantReports = 20

// invChecker collects broken invariants.
type invChecker struct {
	m   *Machine
	s   *shadowState
	bad []string
	// protected are the frames KVM must map read-only, sorted, with the
	// reason for each.
	protected []GFN
	why       map[GFN]string
}

func (c *invChecker) failf(format string, a ...any) {
	if len(c.bad) < maxInvariantReports {
		c.bad = append(c.bad, fmt.Sprintf(format, a...))
	}
}

// CheckShadowInvariants checks the shadow MMU and returns what is broken,
// nil when everything holds (and always without shadow paging). It reads
// the machine without changing it.
func (m *Machine) CheckShadowInvariants() []string {
	if m.shadow == nil {
		return nil
	}
	c := &invChecker{m: m, s: m.shadow, why: map[GFN]string{}}
	pages := c.s.sortedPages()
	c.collectProtected(pages)
	for _, sp := range pages {
		c.checkPage(sp)
	}
	c.checkRmaps()
	c.checkRootCounts(pages)
	c.checkPrevRoots()
	c.checkAccounting(pages)
	for _, v := range m.VCPUs {
		c.checkSpecialRoots(v)
		c.checkTranslations(v)
	}
	return c.bad
}

// checkPage checks one page: where it is listed, its SPTEs, its parents.
func (c *invChecker) checkPage(sp *KVMMMUPage) {
	s := c.s
	if n := countSP(s.hash[kvmPageTableHashfn(sp.GFN)], sp); n != 1 {
		c.failf("%s is %d times in its hash bucket", spName(sp), n)
	}
	if inActive := countSP(s.active, sp) == 1; inActive == sp.Role.Invalid() {
		c.failf("%s: invalid=%v but in active_mmu_pages=%v", spName(sp), sp.Role.Invalid(), inActive)
	}
	if sp.Unsync && (sp.Role.Level() != 1 || !spHasGPTEs(sp.Role)) {
		c.failf("%s is unsync but is not a leaf page with guest entries", spName(sp))
	}
	bitsSet := 0
	for _, w := range sp.unsyncChildBitmap {
		bitsSet += popcount(w)
	}
	if bitsSet != sp.UnsyncChildren {
		c.failf("%s: unsync_children %d but %d bits set", spName(sp), sp.UnsyncChildren, bitsSet)
	}
	for i := 0; i < 512; i++ {
		c.checkSPTE(sp, i)
	}
	c.checkParents(sp)
}

func countSP(list []*KVMMMUPage, sp *KVMMMUPage) int {
	n := 0
	for _, x := range list {
		if x == sp {
			n++
		}
	}
	return n
}

func popcount(w uint64) int {
	n := 0
	for ; w != 0; w &= w - 1 {
		n++
	}
	return n
}

// checkSPTE checks one SPTE: a table link is in its child's parent_ptes, a
// leaf is in its rmap, maps its frame's host page, and is writable only
// where no shadowed guest table lies.
func (c *invChecker) checkSPTE(sp *KVMMMUPage, i int) {
	sptep := sp.SPT + HPA(8*i)
	spte := c.m.readSPTE(sptep)
	level := sp.Role.Level()
	if !isShadowPresentPTE(spte) {
		return
	}
	if !isLastSPTE(spte, level) {
		child := c.s.spAt(HPA(spte & eptAddrMask))
		switch {
		case child == nil:
			c.failf("SPTE %s points to HPA %s, which is not a shadow page", sptep, HPA(spte&eptAddrMask))
		case child.Role.Level() != level-1:
			c.failf("SPTE %s (level %d) points to %s", sptep, level, spName(child))
		case countHPA(child.ParentPTEs, sptep) != 1:
			c.failf("SPTE %s points to %s but is not once in its parent_ptes", sptep, spName(child))
		}
		return
	}
	gfn := c.s.kvmMMUPageGetGFN(sp, i)
	if countHPA(c.s.rmap[rmapKeyFor(gfn, level)], sptep) != 1 {
		c.failf("leaf SPTE %s (GFN %s, level %d) is not once in its rmap", sptep, gfn, level)
	}
	slot := c.m.gfnToMemslot(gfn)
	if slot == nil {
		c.failf("leaf SPTE %s maps GFN %s, which no memslot covers", sptep, gfn)
	} else if want := slot.PFN(gfnRoundForLevel(gfn, level)); spteToPFN(spte)&^PFN(pagesPerHPage(level)-1) != want {
		c.failf("leaf SPTE %s maps host frame %s, but GFN %s is at %s", sptep, spteToPFN(spte), gfn, want)
	}
	if spte&PTWritable != 0 {
		c.checkWritable(sptep, gfnRoundForLevel(gfn, level), GFN(pagesPerHPage(level)))
	}
}

func countHPA(list []HPA, h HPA) int {
	n := 0
	for _, x := range list {
		if x == h {
			n++
		}
	}
	return n
}

// collectProtected lists the frames KVM must keep read-only:
// write-tracked ones, and those a synced valid leaf page shadows.
func (c *invChecker) collectProtected(pages []*KVMMMUPage) {
	for gfn := range c.s.writeTrack {
		c.why[gfn] = "write-tracked"
	}
	for _, sp := range pages {
		if !c.s.isObsoleteSP(sp) && spHasGPTEs(sp.Role) && !sp.Unsync {
			if _, ok := c.why[sp.GFN]; !ok {
				c.why[sp.GFN] = "shadowed by the synced " + spName(sp)
			}
		}
	}
	for gfn := range c.why {
		c.protected = append(c.protected, gfn)
	}
	sort.Slice(c.protected, func(i, j int) bool { return c.protected[i] < c.protected[j] })
}

// checkWritable fails when a writable SPTE maps a frame that KVM must keep
// read-only.
func (c *invChecker) checkWritable(sptep HPA, first, n GFN) {
	i := sort.Search(len(c.protected), func(i int) bool { return c.protected[i] >= first })
	for ; i < len(c.protected) && c.protected[i] < first+n; i++ {
		gfn := c.protected[i]
		c.failf("SPTE %s is writable but maps GFN %s, which is %s", sptep, gfn, c.why[gfn])
	}
}

// checkParents checks parent_ptes and that an unsync page is marked in
// every parent's unsync_child_bitmap.
func (c *invChecker) checkParents(sp *KVMMMUPage) {
	needMark := sp.Unsync || sp.UnsyncChildren > 0
	for _, p := range sp.ParentPTEs {
		parent := c.s.spAt(p)
		spte := c.m.readSPTE(p)
		switch {
		case parent == nil:
			c.failf("%s has parent SPTE %s outside any shadow page", spName(sp), p)
		case !isShadowPresentPTE(spte) || HPA(spte&eptAddrMask) != sp.SPT || isLastSPTE(spte, parent.Role.Level()):
			c.failf("%s has parent SPTE %s = %s, which does not point to it", spName(sp), p, hex(spte))
		case needMark && parent.unsyncChildBitmap[spteIndexOf(p)/64]&(1<<(spteIndexOf(p)%64)) == 0:
			c.failf("%s is or has unsync children, but bit %d of its parent %s is clear", spName(sp),
				spteIndexOf(p), spName(parent))
		}
	}
}

// checkRmaps checks that every rmap entry is a present leaf of its level
// and frame.
func (c *invChecker) checkRmaps() {
	keys := make([]rmapKey, 0, len(c.s.rmap))
	for k := range c.s.rmap {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].level != keys[j].level {
			return keys[i].level < keys[j].level
		}
		return keys[i].gfn < keys[j].gfn
	})
	for _, k := range keys {
		for _, sptep := range c.s.rmap[k] {
			sp := c.s.spAt(sptep)
			spte := c.m.readSPTE(sptep)
			switch {
			case sp == nil || sp.Role.Level() != k.level:
				c.failf("rmap of GFN %s level %d holds SPTE %s of another level", k.gfn, k.level, sptep)
			case !isShadowPresentPTE(spte) || !isLastSPTE(spte, k.level):
				c.failf("rmap of GFN %s level %d holds SPTE %s = %s, not a present leaf", k.gfn, k.level, sptep, hex(spte))
			case rmapKeyFor(c.s.kvmMMUPageGetGFN(sp, spteIndexOf(sptep)), k.level) != k:
				c.failf("rmap of GFN %s holds SPTE %s, which maps another frame", k.gfn, sptep)
			}
		}
	}
}

// checkRootCounts checks root_count against the vCPUs holding each page:
// as root.hpa, or through pae_root.
func (c *invChecker) checkRootCounts(pages []*KVMMMUPage) {
	held := map[*KVMMMUPage]int{}
	for _, v := range c.m.VCPUs {
		for _, sp := range c.m.rootHolds(v) {
			held[sp]++
		}
	}
	for _, sp := range pages {
		if sp.RootCount != held[sp] {
			c.failf("%s has root_count %d but %d holder(s)", spName(sp), sp.RootCount, held[sp])
		}
	}
}

// checkPrevRoots checks the cached roots: each is a shadow page still
// allocated, and none is obsolete once the vCPU has no request pending
// that would free it (the posted patch of seed 004 leaves such roots).
func (c *invChecker) checkPrevRoots() {
	for _, v := range c.m.VCPUs {
		for _, mmu := range c.m.shadowMMUs(v) {
			for i, r := range mmu.PrevRoots {
				if r.Valid && c.s.spAt(r.HPA) == nil {
					c.failf("vCPU %d %s prev_roots[%d] (%s %s) points at HPA %s, which is not a shadow page (freed)",
						v.ID, mmuWho(mmu), i, pgdName(v, mmu), hex(r.PGD), r.HPA)
				}
			}
		}
	}
	for _, o := range c.m.ObsoleteRootsHeld() {
		where := "its current root"
		if o.Prev >= 0 {
			where = fmt.Sprintf("prev_roots[%d]", o.Prev)
		}
		if o.MMU != "root_mmu" {
			where = o.MMU + "'s " + strings.TrimPrefix(where, "its ")
		}
		c.failf("vCPU %d keeps an obsolete root in %s (CR3 %s, HPA %s) with no request pending to free it: "+
			"the zapped page stays allocated (the bug of seed 004 as posted, fixed by cf4a8693d97a)",
			o.VCPU, where, hex(o.PGD), o.Root)
	}
}

// rootHolds lists the pages a vCPU holds as roots, in each context with
// shadow roots: the current root (or the pages under pae_root) and the
// cached ones in prev_roots.
func (m *Machine) rootHolds(v *VCPU) []*KVMMMUPage {
	var out []*KVMMMUPage
	for _, mmu := range m.shadowMMUs(v) {
		for _, r := range mmu.PrevRoots {
			if sp := m.shadow.spAt(r.HPA); r.Valid && sp != nil {
				out = append(out, sp)
			}
		}
		out = append(out, m.currentRootHolds(mmu)...)
	}
	return out
}

// currentRootHolds lists the pages a context holds through its current
// root.
func (m *Machine) currentRootHolds(mmu *MMU) []*KVMMMUPage {
	if !mmu.RootValid || isDummyRoot(mmu) {
		return nil
	}
	if sp := m.shadow.spAt(mmu.Root); sp != nil {
		return []*KVMMMUPage{sp}
	}
	var out []*KVMMMUPage
	for i := 0; i < 4; i++ {
		if e := m.readSPTE(mmu.PAERoot + HPA(8*i)); e&PTPresent != 0 {
			if sp := m.shadow.spAt(HPA(e & eptAddrMask)); sp != nil {
				out = append(out, sp)
			}
		}
	}
	return out
}

// checkAccounting checks gfn_write_track, lpage_info and
// indirect_shadow_pages against the pages that are accounted.
func (c *invChecker) checkAccounting(pages []*KVMMMUPage) {
	track, lpage, indirect := map[GFN]int{}, map[lpageKey]int{}, 0
	for _, sp := range pages {
		if sp.Role.Invalid() || !spHasGPTEs(sp.Role) {
			continue
		}
		indirect++
		if c.m.gfnToMemslot(sp.GFN) == nil {
			continue
		}
		if sp.Role.Level() > 1 {
			track[sp.GFN]++
		}
		for level := 2; level <= 3; level++ {
			lpage[lpageKey{level, sp.GFN >> (9 * uint(level-1))}]++
		}
	}
	if indirect != c.s.indirectShadowPages {
		c.failf("indirect_shadow_pages is %d but %d pages shadow guest entries", c.s.indirectShadowPages, indirect)
	}
	if !sameCounts(track, c.s.writeTrack) {
		c.failf("gfn_write_track does not match the upper-level pages")
	}
	if !sameCounts(lpage, c.s.lpage) {
		c.failf("disallow_lpage does not match the shadowed frames")
	}
}

func sameCounts[K comparable](a, b map[K]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, n := range a {
		if b[k] != n {
			return false
		}
	}
	return true
}

// checkSpecialRoots checks that the special roots link pml5_root →
// pml4_root → pae_root through entry 0 alone.
func (c *invChecker) checkSpecialRoots(v *VCPU) {
	for _, mmu := range c.m.shadowMMUs(v) {
		for _, l := range []struct{ table, next HPA }{{mmu.PML5Root, mmu.PML4Root}, {mmu.PML4Root, mmu.PAERoot}} {
			if l.table == 0 {
				continue
			}
			for i := 0; i < 512; i++ {
				e := c.m.readSPTE(l.table + HPA(8*i))
				if (i == 0 && e != 0 && HPA(e&eptAddrMask) != l.next) || (i > 0 && e != 0) {
					c.failf("vCPU %d: %sspecial root %s entry %d is %s", v.ID, mmuWhoPrefix(mmu), l.table, i, hex(e))
				}
			}
		}
	}
}

// ShadowCensus describes the shadow MMU in one sentence: how many shadow
// pages of each level and kind exist, and which special root pages.
func (m *Machine) ShadowCensus() string {
	if m.shadow == nil {
		return "no shadow MMU"
	}
	var byLevel [6]int
	var roots, unsync, direct, pass, invalid int
	for _, sp := range m.shadow.sortedPages() {
		byLevel[sp.Role.Level()%6]++
		switch {
		case sp.Role.Invalid():
			invalid++
		case sp.Role.Direct():
			direct++
		case isPassthroughSP(sp.Role):
			pass++
		}
		if sp.RootCount > 0 {
			roots++
		}
		if sp.Unsync {
			unsync++
		}
	}
	var levels []string
	for l := 5; l >= 1; l-- {
		if byLevel[l] > 0 {
			levels = append(levels, fmt.Sprintf("%d at level %d", byLevel[l], l))
		}
	}
	s := fmt.Sprintf("%d shadow page(s)", len(m.shadow.pages))
	if len(levels) > 0 {
		s += " (" + strings.Join(levels, ", ") + ")"
	}
	s += fmt.Sprintf(": %d held as roots, %d passthrough, %d direct, %d unsync, %d invalid", roots, pass, direct, unsync, invalid)
	v := m.VCPUs[0]
	for _, mmu := range m.shadowMMUs(v) {
		if special := m.specialRootsInUse(mmu); len(special) > 0 {
			s += "; vCPU 0" + map[bool]string{true: "", false: "'s " + mmu.Name}[mmu == &v.RootMMU] + " also has " +
				strings.Join(special, ", ") + " (not shadow pages)"
		}
	}
	return s
}

// specialRootsInUse names a context's special roots that exist, and
// pae_root when one of its entries is in use.
func (m *Machine) specialRootsInUse(mmu *MMU) []string {
	paeInUse := false
	for i := 0; i < 4 && mmu.PAERoot != 0; i++ {
		paeInUse = paeInUse || m.readSPTE(mmu.PAERoot+HPA(8*i))&PTPresent != 0
	}
	var special []string
	for _, r := range []struct {
		inUse bool
		name  string
	}{{mmu.PML5Root != 0, "pml5_root"}, {mmu.PML4Root != 0, "pml4_root"}, {paeInUse, "pae_root"}} {
		if r.inUse {
			special = append(special, r.name)
		}
	}
	return special
}
