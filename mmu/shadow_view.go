package mmu

// Read-only views of the shadow MMU for pictures (render/): the pages KVM
// built, each vCPU's roots (special ones included), the shadow path of a
// GVA, write tracking and reverse maps. Nothing here emits events or
// changes the machine.

// ShadowInfo describes a VM's shadow paging.
type ShadowInfo struct {
	Variant   ShadowVariant
	RootLevel int // the forced root level, 0 if KVM chooses
	ValidGen  uint64
	Pages     int // shadow pages allocated
	Indirect  int // indirect_shadow_pages
}

// ShadowInfo returns the VM's shadow configuration; ok is false without
// shadow paging.
func (m *Machine) ShadowInfo() (ShadowInfo, bool) {
	if !m.shadowPaging() {
		return ShadowInfo{}, false
	}
	s := m.shadow
	return ShadowInfo{Variant: s.cfg.Variant, RootLevel: s.cfg.RootLevel, ValidGen: s.validGen,
		Pages: len(s.pages), Indirect: s.indirectShadowPages}, true
}

// ShadowPage is one shadow page (struct kvm_mmu_page) as pictures show it.
type ShadowPage struct {
	HPA      HPA      // its page of SPTEs (sp->spt)
	GFN      GFN      // the guest frame it shadows (or maps from, if direct)
	Role     PageRole // the whole role
	Level    int
	Quadrant int
	// GLevel is the proposal's glevel (level-expanded variant only).
	GLevel         int
	Direct         bool // maps a linear range (a guest huge page split)
	Passthrough    bool // has no guest table behind it
	HasGPTEs       bool // shadows guest entries (sp_has_gptes)
	Invalid        bool // zapped, still held as a root
	Obsolete       bool // invalid or of an old mmu_valid_gen
	Unsync         bool
	UnsyncChildren int
	RootCount      int
	Parents        []HPA // parent_ptes
	WriteFlooding  int   // write_flooding_count
	// GuestTable is the GPA of the guest entries it shadows: its frame,
	// plus 2 KiB for the second half of a 32-bit page table (quadrant 1).
	GuestTable GPA
}

func shadowPageView(s *shadowState, sp *KVMMMUPage) ShadowPage {
	p := ShadowPage{HPA: sp.SPT, GFN: sp.GFN, Role: sp.Role, Level: sp.Role.Level(), Quadrant: sp.Role.Quadrant(),
		GLevel: sp.Role.GLevel(), Direct: sp.Role.Direct(), Passthrough: isPassthroughSP(sp.Role) && !sp.Role.Direct(),
		HasGPTEs: spHasGPTEs(sp.Role), Invalid: sp.Role.Invalid(), Obsolete: s.isObsoleteSP(sp), Unsync: sp.Unsync,
		UnsyncChildren: sp.UnsyncChildren, RootCount: sp.RootCount, Parents: append([]HPA(nil), sp.ParentPTEs...),
		WriteFlooding: sp.WriteFloodingCount, GuestTable: sp.GFN.GPA()}
	if sp.Role.Level() == 1 && sp.Role.Has4ByteGPTE() && !sp.Role.Direct() {
		p.GuestTable = getLevel1SPGPA(sp)
	}
	return p
}

// ShadowPages lists the shadow pages by level from the top, then GFN,
// role and address.
func (m *Machine) ShadowPages() []ShadowPage {
	if m.shadow == nil {
		return nil
	}
	var out []ShadowPage
	for _, sp := range m.shadow.sortedPages() {
		out = append(out, shadowPageView(m.shadow, sp))
	}
	return out
}

// ShadowPageAt returns the shadow page whose SPTEs are at hpa's page.
func (m *Machine) ShadowPageAt(hpa HPA) (ShadowPage, bool) {
	if m.shadow == nil {
		return ShadowPage{}, false
	}
	sp := m.shadow.spAt(hpa)
	if sp == nil {
		return ShadowPage{}, false
	}
	return shadowPageView(m.shadow, sp), true
}

// ShadowRoots is what a vCPU's MMU holds: the root the processor walks
// from, and the special roots (zero when absent), which are not shadow
// pages.
type ShadowRoots struct {
	Valid    bool
	Root     HPA    // root.hpa
	PGD      uint64 // root.pgd: the guest CR3 it shadows
	Dummy    bool   // CR3 is outside every memslot
	Level    int    // levels the processor walks from Root
	PAERoot  HPA
	PML4Root HPA
	PML5Root HPA
	// PAEEntries are pae_root's four entries; they are the PDPTEs when the
	// root is pae_root itself.
	PAEEntries [4]uint64
	// RootIsPage says Root is a shadow page (it could be cached as a
	// previous root); otherwise it is pae_root or a special root.
	RootIsPage bool
	// Prev is prev_roots, most recently used first: the roots kept from
	// earlier CR3 switches, each holding a root_count.
	Prev [KVMMMUNumPrevRoots]ShadowPrevRoot
}

// ShadowPrevRoot is one prev_roots entry.
type ShadowPrevRoot struct {
	Valid bool
	PGD   uint64 // the guest CR3 it shadows
	Root  HPA
	// Obsolete says the page was zapped or is of an old generation: a
	// vCPU should free it (the posted patch of seed 004 may leave it).
	Obsolete bool
}

// ShadowRoots returns vCPU id's roots; ok is false without shadow paging.
func (m *Machine) ShadowRoots(id int) (ShadowRoots, bool) {
	v, err := m.VCPU(id)
	if err != nil || !m.shadowPaging() {
		return ShadowRoots{}, false
	}
	mmu := &v.RootMMU
	r := ShadowRoots{Valid: mmu.RootValid, Root: mmu.Root, PGD: mmu.RootPGD, Dummy: isDummyRoot(mmu),
		Level: m.hwRootLevel(v), PAERoot: mmu.PAERoot, PML4Root: mmu.PML4Root, PML5Root: mmu.PML5Root,
		RootIsPage: mmu.RootValid && m.shadow.spAt(mmu.Root) != nil}
	for i, p := range mmu.PrevRoots {
		if p.Valid {
			r.Prev[i] = ShadowPrevRoot{Valid: true, PGD: p.PGD, Root: p.HPA, Obsolete: m.isObsoleteRoot(p)}
		}
	}
	for i := range r.PAEEntries {
		if mmu.PAERoot != 0 {
			r.PAEEntries[i] = m.readSPTE(mmu.PAERoot + HPA(8*i))
		}
	}
	return r, true
}

// ShadowPathLevel is one level of the shadow tables on the path of a GVA.
type ShadowPathLevel struct {
	Level   int
	Table   HPA // the table (a shadow page, or a special root)
	Index   int
	Entry   HPA // the SPTE's address
	Value   uint64
	Present bool
	Leaf    bool
	FromReg bool // a PAE root's PDPTE, which the processor holds in a register
}

// ShadowPath follows vCPU id's shadow tables for gva as the processor
// would, without checks or side effects. hpa is the translation when the
// path ends in a leaf.
func (m *Machine) ShadowPath(id int, gva GVA) (levels []ShadowPathLevel, hpa HPA, ok bool) {
	v, err := m.VCPU(id)
	if err != nil || !m.shadowPaging() || !v.RootMMU.RootValid {
		return nil, 0, false
	}
	table, level := v.RootMMU.Root, m.hwRootLevel(v)
	for ; level >= 1; level-- {
		pl := ShadowPathLevel{Level: level, Table: table, Index: spteIndex(GPA(gva), level)}
		if level == 3 && m.hwRootLevel(v) == 3 {
			pl.Index, pl.FromReg = int(uint64(gva)>>30)&3, true
		}
		pl.Entry = table + HPA(8*pl.Index)
		pl.Value = m.readSPTE(pl.Entry)
		pl.Present = pl.Value&PTPresent != 0 && !m.shadow.masks.isMMIOSPTE(pl.Value)
		pl.Leaf = pl.Present && (level == 1 || (!pl.FromReg && pl.Value&PTPageSize != 0))
		levels = append(levels, pl)
		if !pl.Present {
			return levels, 0, false
		}
		if pl.Leaf {
			size := uint64(PageSize) << (9 * uint(level-1))
			return levels, HPA(pl.Value&eptAddrMask&^(size-1) | uint64(gva)&(size-1)), true
		}
		table = HPA(pl.Value & eptAddrMask)
	}
	return levels, 0, false
}

// WriteTracked reports whether gfn is write-tracked (gfn_write_track), and
// how many upper-level shadow pages keep it so.
func (m *Machine) WriteTracked(gfn GFN) (int, bool) {
	if m.shadow == nil {
		return 0, false
	}
	n := m.shadow.writeTrack[gfn]
	return n, n > 0
}

// Rmap lists the leaf SPTEs that map gfn's page at level (1 to 3), in the
// order KVM added them.
func (m *Machine) Rmap(gfn GFN, level int) []HPA {
	if m.shadow == nil {
		return nil
	}
	return append([]HPA(nil), m.shadow.rmap[rmapKeyFor(gfn, level)]...)
}
