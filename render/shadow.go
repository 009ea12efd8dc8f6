package render

import (
	"mmuviz/mmu"
)

// The shadow view: without EPT/NPT the processor never walks the guest's
// tables; it walks KVM's shadow pages, which map GVA straight to HPA, and
// KVM keeps them in step with the guest's tables. shadowFocus gathers what
// the shadow column shows at one step, from the engine's read-only views
// (mmu/shadow_view.go) and the trace: the vCPU's root, the shadow page
// beside each guest table on the path (and the other pages of the same
// guest table: quadrants, other roles), the special roots, the processor's
// walk of the shadow tables and its #PF, and the page or entry the current
// event touches.

// spKind says what a box of the shadow column is.
type spKind uint8

const (
	spPage    spKind = iota // a shadow page (struct kvm_mmu_page)
	spSpecial               // pml5_root, pml4_root or pae_root: a plain page of the vCPU
	spGhost                 // a shadow page the current step frees
)

// spItem is one box of the shadow column.
type spItem struct {
	kind    spKind
	hpa     mmu.HPA
	level   int
	page    mmu.ShadowPage // spPage
	name    string         // spSpecial: "pml5_root", "pml4_root", "pae_root"
	primary bool           // the page of its level for the GVA: on the shadow path, or the one KVM would use
	onPath  bool           // the processor's walk goes through entry idx
	compact bool           // another page of the same guest table: title and role only
	idx     int            // the entry the GVA selects in it
	guestID string         // ID of the guest box it shadows, "" when none is shown
}

// shadowFocus is what the shadow column shows at one step.
type shadowFocus struct {
	info    mmu.ShadowInfo
	roots   mmu.ShadowRoots
	pages   []mmu.ShadowPage
	byHPA   map[mmu.HPA]int
	path    []mmu.ShadowPathLevel
	leaf    mmu.HPA // where the shadow path leads, when it ends in a leaf
	hasLeaf bool
	levels  int // levels of KVM's root
	access  bool
	res     mmu.Result
	refs    int  // the processor's memory references in this attempt so far
	done    bool // the processor's walk has reached its result
	// hwFault is the processor's #PF in the shadow tables in this attempt;
	// mended says KVM has changed its tables since.
	hwFault *mmu.Event
	mended  bool
	fresh   map[mmu.HPA]bool // pages allocated in this action
	check   *mmu.Event       // the invariant checker's result, at its step
	ghost   *mmu.Event       // the page the step frees
	cur     shadowTarget
	items   []*spItem
	// vcpuRoots are the roots boxes' vCPUs (none when they are not shown);
	// stats the VM's root counts.
	vcpuRoots []rootsVCPU
	stats     mmu.RootStats
}

// isShadowHWFault reports whether e is the processor's #PF in the shadow
// tables, which KVM intercepts: the guest never sees it. (A #GP has no
// level; the guest's own faults come from KVM's software walk.)
func isShadowHWFault(m *mmu.Machine, e *mmu.Event) bool {
	return e.Kind == mmu.EvFault && e.Func == "cpu" && e.Level > 0 && m.ShadowEnabled()
}

// shadowFocusAt gathers the shadow view of the step, or nil when the VM
// does not run on shadow paging.
func shadowFocusAt(f *focus, v *mmu.View, tl *mmu.Timeline) *shadowFocus {
	info, ok := v.Machine.ShadowInfo()
	if !ok {
		return nil
	}
	m := v.Machine
	s := &shadowFocus{info: info, byHPA: map[mmu.HPA]int{}, fresh: map[mmu.HPA]bool{}}
	s.roots, _ = m.ShadowRoots(f.vcpu)
	s.gatherRoots(m)
	s.pages = m.ShadowPages()
	for i, p := range s.pages {
		s.byHPA[p.HPA] = i
	}
	if f.hasGVA {
		s.path, s.leaf, s.hasLeaf = m.ShadowPath(f.vcpu, f.gva)
	}
	s.levels = s.roots.Level
	if !s.roots.Valid || s.levels == 0 {
		s.levels = max(mmu.RootLevel(f.mode), 3, info.RootLevel)
	}
	var all []mmu.Event
	done := 0
	if v.Action >= 0 {
		st := &tl.Steps[v.Action]
		all, done, s.res = st.Events, len(v.Events), st.Result
		_, s.access = st.Action.(*mmu.Access)
	}
	from, _, _ := attemptOf(all, done)
	s.scan(m, all[from:done])
	for i := range all[:done] {
		if e := &all[i]; e.Kind == mmu.EvAlloc {
			s.fresh[mmu.HPA(e.Addr)] = true
		}
	}
	if e := v.Event; e != nil && e.Func == "invariants" {
		s.check = e
	}
	if e := v.Event; e != nil && e.Kind == mmu.EvFree && e.Space == mmu.SpaceHPA {
		s.ghost = e
	}
	return s
}

// scan follows the attempt so far: the processor's references, its #PF,
// KVM mending its tables, the result.
func (s *shadowFocus) scan(m *mmu.Machine, events []mmu.Event) {
	for i := range events {
		e := &events[i]
		switch {
		case e.Kind == mmu.EvRead && e.Func == "cpu" && e.Space == mmu.SpaceHPA:
			if !s.fromReg(mmu.HPA(e.Table), e.Level) {
				s.refs++
			}
		case isShadowHWFault(m, e):
			s.hwFault = e
		case e.Kind == mmu.EvResult && e.Func == "cpu":
			s.done = true
		case s.hwFault != nil && e.Space == mmu.SpaceHPA && e.Kind != mmu.EvRead && e.Kind != mmu.EvCheck:
			s.mended = true
		}
	}
}

// fromReg reports whether the processor takes the entry at level of table
// from a register: the PDPTEs of a PAE root, loaded at VM entry.
func (s *shadowFocus) fromReg(table mmu.HPA, level int) bool {
	return level == 3 && s.roots.Level == 3 && table == s.roots.PAERoot
}

// specialName names a special root of the vCPU at hpa, "" if it is none.
func (s *shadowFocus) specialName(hpa mmu.HPA) (string, int) {
	r := s.roots
	switch {
	case hpa == 0:
	case hpa == r.PML5Root:
		return "pml5_root", 5
	case hpa == r.PML4Root:
		return "pml4_root", 4
	case hpa == r.PAERoot:
		return "pae_root", 3
	}
	return "", 0
}

// page returns the shadow page at hpa.
func (s *shadowFocus) page(hpa mmu.HPA) (mmu.ShadowPage, bool) {
	if i, ok := s.byHPA[hpa]; ok {
		return s.pages[i], true
	}
	return mmu.ShadowPage{}, false
}

// itemFor is the box of the table at hpa: a shadow page or a special root.
func (s *shadowFocus) itemFor(hpa mmu.HPA) *spItem {
	if p, ok := s.page(hpa); ok {
		return &spItem{kind: spPage, hpa: hpa, level: p.Level, page: p, idx: -1}
	}
	if name, level := s.specialName(hpa); name != "" {
		return &spItem{kind: spSpecial, hpa: hpa, level: level, name: name, idx: -1}
	}
	return nil
}

// pathAt is the shadow path's level, if the path reaches it.
func (s *shadowFocus) pathAt(level int) *mmu.ShadowPathLevel {
	for i := range s.path {
		if s.path[i].Level == level {
			return &s.path[i]
		}
	}
	return nil
}

// onPath reports whether entry index of the table at hpa is the one the
// shadow path of the GVA takes at level.
func (s *shadowFocus) onPath(hpa mmu.HPA, level, index int) bool {
	pl := s.pathAt(level)
	return pl != nil && pl.Table == hpa && pl.Index == index
}

// guestAt is the guest table at level on the path of the GVA (its PDPTE
// registers for a PAE guest's level 3), nil when the guest has none.
func guestAt(f *focus, level int) *mmu.PathLevel {
	for i := range f.path.Levels {
		if f.path.Levels[i].Level == level {
			return &f.path.Levels[i]
		}
	}
	return nil
}

// guestBoxID is the ID of the guest's box for a path level.
func guestBoxID(f *focus, gl *mmu.PathLevel) string {
	if gl.FromReg {
		return pdptrID(f)
	}
	return "gpt:" + hexVal(uint64(gl.Table))
}

// buildItems chooses the boxes of the shadow column, level by level from
// the top: the page of each level for the GVA, the other pages of the
// same guest table, and the page the step is about if it is none of them.
func (s *shadowFocus) buildItems(f *focus) {
	shown := map[mmu.HPA]bool{}
	add := func(it *spItem) {
		if it != nil && !shown[it.hpa] {
			shown[it.hpa] = true
			s.items = append(s.items, it)
		}
	}
	for level := 5; level >= 1; level-- {
		gl := guestAt(f, level)
		add(s.primaryAt(f, level, gl))
		for _, it := range s.siblingsAt(f, level, gl, shown) {
			add(it)
		}
		if it := s.targetItem(); it != nil && it.level == level {
			s.linkGuest(f, it, gl)
			add(it)
		}
	}
}

// primaryAt is the page of level for the GVA: the one the shadow path
// goes through, else, when the path stops above, the page of the guest
// table there that KVM would link.
func (s *shadowFocus) primaryAt(f *focus, level int, gl *mmu.PathLevel) *spItem {
	var it *spItem
	if pl := s.pathAt(level); pl != nil {
		if it = s.itemFor(pl.Table); it == nil {
			return nil
		}
		it.idx, it.onPath = pl.Index, true
	} else if gl != nil && !gl.FromReg && f.hasGVA {
		p, ok := s.standIn(f, level, gl)
		if !ok {
			return nil
		}
		it = &spItem{kind: spPage, hpa: p.HPA, level: level, page: p, idx: mmu.TDPIndex(mmu.GPA(f.gva), level)}
	} else {
		return nil
	}
	it.primary = true
	s.linkGuest(f, it, gl)
	return it
}

// standIn finds the page KVM would use for the guest table gl: valid, of
// the quadrant the GVA needs, of the root's role where that is known.
func (s *shadowFocus) standIn(f *focus, level int, gl *mmu.PathLevel) (mmu.ShadowPage, bool) {
	var best mmu.ShadowPage
	found := false
	for _, p := range s.pages {
		if p.Level != level || p.GFN != gl.Table.GFN() || !p.HasGPTEs || p.Obsolete {
			continue
		}
		if p.Role.Has4ByteGPTE() && p.Quadrant != quadrantFor(f.gva, level) {
			continue
		}
		if !found || (s.rootCompatible(p) && !s.rootCompatible(best)) {
			best, found = p, true
		}
	}
	return best, found
}

// quadrantFor is the quadrant of a 32-bit guest's table that gva needs in
// a PAE shadow page of level: GVA bits 31:30 for the page directory, bit
// 21 for a page table.
func quadrantFor(gva mmu.GVA, level int) int {
	if level == 2 {
		return int(uint64(gva)>>30) & 3
	}
	return int(uint64(gva)>>21) & 1
}

// rootCompatible reports whether p has the role bits of the root's pages
// (CR0.WP and the SMEP/SMAP rule), so a stand-in is the one KVM would use.
func (s *shadowFocus) rootCompatible(p mmu.ShadowPage) bool {
	for _, q := range s.pages {
		if q.HPA == s.roots.Root || (len(s.path) > 0 && q.HPA == s.path[len(s.path)-1].Table) {
			return q.Role.CR0WP() == p.Role.CR0WP() && q.Role.SMEPAndNotWP() == p.Role.SMEPAndNotWP()
		}
	}
	return p.Role.CR0WP()
}

// siblingsAt lists the other pages of the guest table at level: the other
// quadrants of a 32-bit guest's table, pages of another role.
func (s *shadowFocus) siblingsAt(f *focus, level int, gl *mmu.PathLevel, shown map[mmu.HPA]bool) []*spItem {
	const maxSiblings = 4
	if gl == nil || gl.FromReg {
		return nil
	}
	var out []*spItem
	for _, p := range s.pages {
		if len(out) == maxSiblings {
			break
		}
		if p.Level != level || p.GFN != gl.Table.GFN() || !p.HasGPTEs || shown[p.HPA] {
			continue
		}
		it := &spItem{kind: spPage, hpa: p.HPA, level: level, page: p, idx: -1, compact: true}
		if s.cur.box == sbTable && s.cur.table == p.HPA {
			it.compact = false
		}
		s.linkGuest(f, it, gl)
		out = append(out, it)
	}
	return out
}

// targetItem is the box of the table the step is about, when it is a
// shadow page, a special root or a page being freed.
func (s *shadowFocus) targetItem() *spItem {
	if s.cur.box != sbTable {
		return nil
	}
	if s.cur.ghost && s.ghost != nil {
		return &spItem{kind: spGhost, hpa: s.cur.table, level: max(s.ghost.Level, 1), idx: -1}
	}
	return s.itemFor(s.cur.table)
}

// linkGuest ties a shadow page to the guest box it shadows when that box
// is shown: a page with guest entries of the table's frame, or pae_root
// beside a PAE guest's PDPTE registers.
func (s *shadowFocus) linkGuest(f *focus, it *spItem, gl *mmu.PathLevel) {
	if gl == nil {
		return
	}
	switch it.kind {
	case spPage:
		if it.page.HasGPTEs && it.page.GFN == gl.Table.GFN() && !gl.FromReg {
			it.guestID = guestBoxID(f, gl)
		}
	case spSpecial:
		if it.name == "pae_root" && gl.FromReg {
			it.guestID = guestBoxID(f, gl)
		}
	}
}

// gpaOfHPA maps a host address back to the guest-physical address a
// memslot gives it, if one does.
func gpaOfHPA(m *mmu.Machine, hpa mmu.HPA) (mmu.GPA, bool) {
	pfn := hpa.PFN()
	for _, sl := range m.Slots {
		if pfn >= sl.BasePFN && uint64(pfn-sl.BasePFN) < sl.NPages {
			return (sl.BaseGFN + mmu.GFN(pfn-sl.BasePFN)).GPA() | mmu.GPA(uint64(hpa)&0xfff), true
		}
	}
	return 0, false
}

// stale says how the shadow leaf of the GVA disagrees with the guest's
// tables ("" when it does not): it maps another frame than the guest's
// entry, or the guest's entry is gone. KVM allows it for an unsync page
// until the guest flushes its TLB.
func (s *shadowFocus) stale(f *focus) string {
	if !s.hasLeaf || !f.hasGVA {
		return ""
	}
	got, ok := gpaOfHPA(f.machine, s.leaf)
	switch {
	case !ok:
		return ""
	case !f.path.HasGPA:
		return "stale: the guest's entry is not present any more"
	case got&^0xfff != f.path.GPA&^0xfff:
		return "stale: maps GPA " + (got &^ 0xfff).String() + ", the guest's entry " + (f.path.GPA &^ 0xfff).String()
	}
	return ""
}
