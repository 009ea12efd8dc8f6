package render

import (
	"fmt"
	"strings"

	"mmuviz/mmu"
)

// The boxes of the shadow view: shadow pages and special roots (a status
// line with the role, then the SPTEs on the path with a neighbour, empty
// runs folded), the vCPU's root_mmu, the processor's #PF, the end of its
// walk, the invariant checker, and the status line the guest's tables get.

// statusW is how wide a status line may grow before it wraps.
const statusW = 330.0

// spteAddrMask is the address an SPTE points to: bits 51:12.
const spteAddrMask = 0x000ffffffffff000

// spteNeighbours is how many present SPTEs besides the path a shadow page
// lists; guestNeighbours the same for the guest's tables in this view.
const (
	spteNeighbours  = 1
	guestNeighbours = 1
)

// statusRows turns the parts of a status line into span rows that wrap
// between parts.
func statusRows(level int, parts []string, ink Color) []rowSpec {
	var lines []string
	cur := ""
	for _, p := range parts {
		try := p
		if cur != "" {
			try = cur + " · " + p
		}
		if cur != "" && TextWidth(try, Prose, rowFont) > statusW {
			lines, cur = append(lines, cur), p
			continue
		}
		cur = try
	}
	lines = append(lines, cur)
	rows := make([]rowSpec, len(lines))
	for i, l := range lines {
		rows[i] = rowSpec{level: level, index: -1, span: &cell{s: l, font: Prose, color: ink}}
	}
	return rows
}

// accString spells ACC_* bits: "uwx", dashes for missing rights.
func accString(a int) string {
	b := []byte("---")
	for i, bit := range []int{mmu.AccUser, mmu.AccWrite, mmu.AccExec} {
		if a&bit != 0 {
			b[i] = "uwx"[i]
		}
	}
	return string(b)
}

// pageStatus is the role of a shadow page in a few words: what it maps,
// quadrant, access, sync state, roots, and what makes it special.
func pageStatus(p mmu.ShadowPage) []string {
	var parts []string
	switch {
	case p.Direct:
		parts = append(parts, "direct from gfn "+p.GFN.String()+" (no guest table)")
	case p.Passthrough && p.GLevel != 0:
		parts = append(parts, fmt.Sprintf("glevel %d: passes through, gfn %s", p.GLevel, p.GFN))
	case p.Passthrough:
		parts = append(parts, "passthrough: no guest table, gfn "+p.GFN.String())
	default:
		parts = append(parts, "shadows gfn "+p.GFN.String())
	}
	if p.Role.Has4ByteGPTE() && !p.Passthrough && !p.Direct && p.Level <= 2 {
		parts = append(parts, fmt.Sprintf("quadrant %d", p.Quadrant))
	}
	parts = append(parts, "acc "+accString(p.Role.Access()))
	switch {
	case p.Unsync:
		parts = append(parts, "UNSYNC")
	case p.Level == 1 && p.HasGPTEs:
		parts = append(parts, "sync")
	}
	if p.UnsyncChildren > 0 {
		parts = append(parts, fmt.Sprintf("unsync below: %d", p.UnsyncChildren))
	}
	if p.RootCount > 0 {
		parts = append(parts, fmt.Sprintf("root ×%d", p.RootCount))
	}
	if !p.Role.CR0WP() {
		parts = append(parts, "cr0_wp=0")
	}
	switch {
	case p.Invalid:
		parts = append(parts, "ZAPPED (invalid)")
	case p.Obsolete:
		parts = append(parts, "obsolete")
	}
	if p.WriteFlooding > 0 {
		parts = append(parts, fmt.Sprintf("flooding %d", p.WriteFlooding))
	}
	return parts
}

// compactRole is the role of another page of a guest table, for its
// title: what tells it from the page on the path.
func compactRole(p mmu.ShadowPage) string {
	var parts []string
	if p.Role.Has4ByteGPTE() {
		parts = append(parts, fmt.Sprintf("q%d", p.Quadrant))
	}
	if !p.Role.CR0WP() {
		parts = append(parts, "cr0_wp=0")
	}
	switch {
	case p.Invalid:
		parts = append(parts, "zapped")
	case p.Unsync:
		parts = append(parts, "unsync")
	}
	if p.RootCount > 0 {
		parts = append(parts, fmt.Sprintf("root ×%d", p.RootCount))
	}
	if len(parts) == 0 {
		parts = append(parts, "acc "+accString(p.Role.Access()))
	}
	return strings.Join(parts, " ")
}

// itemStatus is the status line of any box of the shadow column.
func (s *shadowFocus) itemStatus(it *spItem) []string {
	switch it.kind {
	case spGhost:
		return []string{"FREED: gone from the hash and active_mmu_pages"}
	case spSpecial:
		if it.name == "pae_root" && s.roots.Level == 3 {
			return []string{"special root: no kvm_mmu_page", "PDPTEs go to registers"}
		}
		return []string{"special root: no kvm_mmu_page, no role"}
	}
	return pageStatus(it.page)
}

// greyed reports whether a box shows a page on its way out.
func (it *spItem) greyed() bool {
	return it.kind == spGhost || (it.kind == spPage && (it.page.Invalid || it.page.Obsolete))
}

// itemSpec is a box of the shadow column.
func (s *shadowFocus) itemSpec(f *focus, it *spItem) *boxSpec {
	var title string
	switch it.kind {
	case spSpecial:
		title = fmt.Sprintf("%s @ HPA %s", it.name, it.hpa)
	default:
		title = fmt.Sprintf("L%d shadow page @ HPA %s", it.level, it.hpa)
	}
	if s.fresh[it.hpa] && it.kind != spGhost {
		title += " (new)"
	}
	sp := newTableSpec("spt:"+hexVal(uint64(it.hpa)), BoxTable, it.level, title)
	sp.titleBG = HostTint
	ink := Ink
	if it.greyed() {
		sp.fill, sp.titleBG, sp.border, sp.dashed, ink = ZapPaper, ZapPaper, MutedInk, true, MutedInk
	}
	if it.compact {
		sp.title += " · " + compactRole(it.page)
		return sp
	}
	cur := s.cur.box == sbTable && s.cur.table == it.hpa
	status := statusRows(it.level, s.itemStatus(it), ink)
	f.markTarget(&status[0], cur && s.cur.row < 0)
	sp.rows = append(sp.rows, status...)
	if it.kind == spGhost {
		return sp
	}
	s.spteRows(f, it, sp, cur)
	return sp
}

// spteRows lists the entries of a shadow table: the one the GVA selects,
// the one the step is about, a present neighbour, the rest folded.
func (s *shadowFocus) spteRows(f *focus, it *spItem, sp *boxSpec, cur bool) {
	entries, present := hostTable(f.machine, it.hpa)
	var must []int
	if it.idx >= 0 {
		must = append(must, it.idx)
	}
	if cur && s.cur.row >= 0 {
		must = append(must, s.cur.row)
	}
	n := spteNeighbours
	if it.kind == spSpecial {
		n = 0
	}
	if it.actsAsPAERoot() {
		must = append(must, 0, 1, 2, 3)
	}
	for _, p := range pickEntriesN(present, must, n) {
		row := s.spteRow(f, it, entries, p)
		f.markTarget(&row, cur && !p.folded && p.index == s.cur.row)
		if row.style == RowFaulted {
			row.faultAt = true
		}
		sp.rows = append(sp.rows, row)
		if !p.folded && it.onPath && p.index == it.idx && s.isLeaf(entries[p.index], it.level) {
			if st := s.stale(f); st != "" {
				sp.rows = append(sp.rows, rowSpec{level: it.level, index: -1,
					span: &cell{s: st, font: Prose, color: FaultInk}})
			}
		}
	}
}

// actsAsPAERoot reports whether the box is pae_root, or the level-3 page
// of the level-expanded proposal that takes its place: four entries, one
// per GiB of a 32-bit or PAE guest.
func (it *spItem) actsAsPAERoot() bool {
	if it.kind == spSpecial {
		return it.name == "pae_root"
	}
	g := it.page.GLevel
	return it.kind == spPage && it.level == 3 && it.page.Passthrough && (g == 2 || g == 3)
}

// isLeaf reports whether a present SPTE at level maps a page.
func (s *shadowFocus) isLeaf(e uint64, level int) bool {
	return e&mmu.PTPresent != 0 && (level == 1 || (level <= 3 && e&mmu.PTPageSize != 0 && !s.fromRegLevel(level)))
}

// fromRegLevel reports whether level is a PAE root's (PDPTEs have no PS).
func (s *shadowFocus) fromRegLevel(level int) bool { return level == 3 && s.roots.Level == 3 }

// spteRow is one line of a shadow table.
func (s *shadowFocus) spteRow(f *focus, it *spItem, entries []uint64, p entryPick) rowSpec {
	if p.folded {
		text := fmt.Sprintf("… %d not present", p.count)
		if p.present > 0 {
			text = foldText(p, p.present)
		}
		return rowSpec{style: RowCollapsed, level: it.level, index: p.index, count: p.count,
			span: &cell{s: text, font: Mono, color: MutedInk}}
	}
	e := entries[p.index]
	flags := hostFlags(f.machine, e, it.level)
	switch {
	case f.machine.IsMMIOSPTE(e):
		flags = "MMIO SPTE (reserved bit)"
	case it.actsAsPAERoot() && e&mmu.PTPresent != 0:
		if q, ok := s.page(mmu.HPA(e & spteAddrMask)); ok && q.Role.Has4ByteGPTE() && q.Level == 2 {
			flags += fmt.Sprintf(" → quadrant %d", q.Quadrant)
		}
	}
	row := rowSpec{style: RowNormal, level: it.level, index: p.index, count: 1,
		cells: []cell{{fmt.Sprint(p.index), Mono, Ink, true}, {hexVal(e), Mono, Ink, false},
			{flags, Mono, MutedInk, false}}}
	if it.onPath && p.index == it.idx {
		row.onPath, row.style, row.marker, row.fill = true, RowPath, "→", LevelTint(it.level)
		if f := s.hwFault; f != nil && !s.mended && f.Level == it.level {
			row.marker, row.fill, row.faultAt = "×", FaultPaper, true
		}
	}
	return row
}

// guestStatus is the status line of a guest table in the shadow view:
// write-tracked, write-protected, unsync, or not shadowed.
func (s *shadowFocus) guestStatus(f *focus, gpa mmu.GPA, level int) rowSpec {
	gfn := gpa.GFN()
	var text string
	n, tracked := f.machine.WriteTracked(gfn)
	synced, unsync := 0, 0
	for _, p := range s.pages {
		if p.GFN == gfn && p.HasGPTEs && !p.Invalid {
			if p.Unsync {
				unsync++
			} else {
				synced++
			}
		}
	}
	switch {
	case tracked:
		text = fmt.Sprintf("WP write-tracked ×%d: a guest write traps", n)
	case synced > 0:
		text = "WP read-only in the shadow tables: a write traps"
	case unsync > 0:
		text = "UNSYNC: the guest writes it freely, no trap"
	default:
		text = "not shadowed: no valid shadow page of it"
	}
	row := rowSpec{level: level, index: -1, span: &cell{s: text, font: Prose, color: Ink}}
	f.markTarget(&row, s.cur.box == sbGuest && s.cur.gpa == gpa)
	return row
}

// rootSpec is the vCPU's root_mmu: the root the processor walks from, the
// guest CR3 it shadows, how many pages KVM has, the walk's references.
func (s *shadowFocus) rootSpec(f *focus) *boxSpec {
	sp := &boxSpec{id: fmt.Sprintf("sroot:%d", f.vcpu), kind: BoxRegisters, title: fmt.Sprintf("vCPU %d root_mmu (KVM)", f.vcpu),
		titleInk: PaperInk, titleBG: RegTitle, fill: RegFill, border: RegTitle, borderW: 1.5, dashed: true}
	r := s.roots
	root, pgd := "none", "–"
	if r.Valid {
		root, pgd = hexVal(uint64(r.Root)), hexVal(r.PGD)
	}
	add := func(name, val, note string) {
		sp.rows = append(sp.rows, rowSpec{index: -1, count: 1, cells: []cell{{name, MonoBold, Ink, false},
			{val, Mono, Ink, false}, {note, Prose, MutedInk, false}}})
	}
	add("root", root, s.rootNote())
	add("pgd", pgd, "the guest CR3 it shadows")
	guest := fmt.Sprintf("shadow levels; the guest's tables have %d", mmu.RootLevel(f.mode))
	if f.mode == mmu.PagingOff {
		guest = "shadow levels; the guest has paging off"
	}
	add("levels", fmt.Sprint(s.levels), guest)
	add("pages", fmt.Sprint(s.info.Pages), s.pagesNote())
	val, note := s.walkNote()
	add("walk", val, note)
	sp.rows[0].onPath = true
	for i := range sp.rows {
		f.markTarget(&sp.rows[i], s.cur.box == sbRoot && s.cur.row == i)
	}
	return sp
}

// rootNote says what the root is.
func (s *shadowFocus) rootNote() string {
	r := s.roots
	switch {
	case !r.Valid:
		return "none: the next VM entry loads one"
	case r.Dummy:
		return "dummy root: CR3 is in no memslot"
	case r.RootIsPage:
		if p, ok := s.page(r.Root); ok && p.Passthrough {
			return fmt.Sprintf("L%d shadow page, passthrough", p.Level)
		}
		return fmt.Sprintf("L%d shadow page", r.Level)
	}
	name, _ := s.specialName(r.Root)
	if name == "" {
		name = "a page of the vCPU"
	}
	return name + " (special root)"
}

// pagesNote counts what the shadow MMU holds besides its pages.
func (s *shadowFocus) pagesNote() string {
	special := 0
	for _, h := range []mmu.HPA{s.roots.PML5Root, s.roots.PML4Root} {
		if h != 0 {
			special++
		}
	}
	pae := s.roots.Valid && s.roots.Root == s.roots.PAERoot
	for _, e := range s.roots.PAEEntries {
		pae = pae || e&mmu.PTPresent != 0
	}
	if pae {
		special++
	}
	pass := 0
	for _, p := range s.pages {
		if p.Passthrough {
			pass++
		}
	}
	note := "shadow pages"
	if pass > 0 {
		note += fmt.Sprintf(", %d pass through", pass)
	}
	switch special {
	case 0:
	case 1:
		note += " + 1 special root"
	default:
		note += fmt.Sprintf(" + %d special roots", special)
	}
	return note
}

// walkNote is the counter of the processor's walk of the shadow tables.
func (s *shadowFocus) walkNote() (string, string) {
	refs := fmt.Sprintf("%d refs", s.refs)
	switch {
	case !s.access:
		return "–", "no guest access at this step"
	case s.done && s.res.HasRefsTotal:
		return refs, fmt.Sprintf("by the processor; %d in all with retries", s.res.RefsTotal)
	case s.done:
		return refs, "by the processor, in the shadow tables"
	case s.hwFault != nil:
		return refs, fmt.Sprintf("#PF at level %d: KVM takes over", s.hwFault.Level)
	}
	return refs, fmt.Sprintf("so far, of %d shadow levels", s.levels)
}

// resultSpec is where the processor's walk of the shadow tables ends.
func (s *shadowFocus) resultSpec(f *focus) *boxSpec {
	level := 1
	if len(s.path) > 0 {
		level = s.path[len(s.path)-1].Level
	}
	size := uint64(mmu.PageSize) << (9 * uint(level-1))
	title := fmt.Sprintf("%s page @ HPA %s", mmu.SizeString(size), mmu.HPA(uint64(s.leaf)&^(size-1)))
	sp := &boxSpec{id: "sresult", kind: BoxResult, title: title, titleInk: Ink, titleBG: ResultPaper,
		strip: ResultInk, fill: BoxFill, border: ResultInk, borderW: 2}
	add := func(name, val, note string) {
		sp.rows = append(sp.rows, rowSpec{index: -1, count: 1, cells: []cell{{name, MonoBold, Ink, false},
			{val, Mono, Ink, false}, {note, Prose, MutedInk, false}}})
	}
	add("HPA", s.leaf.String(), "GVA → HPA in one walk of KVM's tables")
	if gpa, ok := gpaOfHPA(f.machine, s.leaf); ok {
		note := "the GPA KVM shadowed there"
		if st := s.stale(f); st != "" {
			note = "STALE: the guest's tables say " + (f.path.GPA &^ 0xfff).String()
			if !f.path.HasGPA {
				note = "STALE: the guest's tables map nothing"
			}
		}
		add("GPA", gpa.String(), note)
	}
	if s.done {
		add("refs", fmt.Sprint(s.refs), "memory references, no guest table read")
	}
	sp.rows[0].onPath = true
	f.markTarget(&sp.rows[0], s.cur.box == sbResult)
	return sp
}

// faultSpec is the processor's #PF in the shadow tables, which exits to
// KVM: the guest does not see it.
func (s *shadowFocus) faultSpec(f *focus) *boxSpec {
	e := s.hwFault
	sp := &boxSpec{id: "sfault", kind: BoxFault, title: "× #PF in the shadow tables: VM exit", titleInk: PaperInk,
		titleBG: FaultInk, fill: FaultPaper, border: FaultInk, borderW: 2.5}
	add := func(name, val, note string) {
		sp.rows = append(sp.rows, rowSpec{index: -1, count: 1, cells: []cell{{name, MonoBold, FaultInk, false},
			{val, Mono, Ink, false}, {note, Prose, Ink, false}}})
	}
	add("error", hexVal(e.Old), mmu.DecodeErrorCode(e.Old))
	add("CR2", mmu.GVA(e.Addr).String(), "the guest's own address")
	add("exit", "kvm_handle_page_fault", "KVM intercepts every #PF")
	add("KVM", "kvm_mmu_page_fault", "the guest never sees this one")
	for i := range sp.rows {
		f.markTarget(&sp.rows[i], s.cur.box == sbFault && s.cur.row == i)
	}
	return sp
}

// checkSpec is the invariant checker's verdict, with the census of the
// pages it checked (the narration has the rest).
func (s *shadowFocus) checkSpec(f *focus) *boxSpec {
	broken := s.check.Old
	sp := &boxSpec{id: "scheck", kind: BoxResult, title: "invariant checker (check)", titleInk: Ink,
		titleBG: ResultPaper, strip: ResultInk, fill: BoxFill, border: ResultInk, borderW: 2}
	verdict := "the invariants hold"
	if broken > 0 {
		sp.kind, sp.titleBG, sp.strip, sp.border = BoxFault, FaultPaper, FaultInk, FaultInk
		verdict = fmt.Sprintf("%d invariant(s) broken", broken)
	}
	census := s.res.Note
	if i := strings.Index(census, " ("); i >= 0 {
		census = census[:i]
	}
	if i := strings.LastIndex(census, "; "); i >= 0 {
		census = census[i+2:]
	}
	sp.rows = append(sp.rows, rowSpec{index: -1, span: &cell{s: verdict + " · " + census, font: Prose, color: Ink}})
	f.markTarget(&sp.rows[0], s.cur.box == sbCheck)
	return sp
}
