package render

import (
	"fmt"
	"strings"

	"mmuviz/mmu"
)

// The root cache of the shadow view: for each vCPU a box "sroots:N" with
// its current root and prev_roots[0..2] in MRU order (pgd → HPA of the
// root shadow page; "—" for an empty slot; "OBSOLETE" or "invalid" in
// words for a zapped root still held), the slot the current event
// touches highlighted (a hit making a cached root current, the entry kept
// on a miss, a cached root freed), LEAKED after an obsolete root that no
// pending request will free (ObsoleteRootsHeld), and, in the last box, the VM's counts
// from RootStats. The boxes follow the root_mmu box in the shadow column;
// they are shown once the cache matters: several vCPUs, a cached root, or
// a CR3 switch or root freed so far.

// Rows of a roots box.
const (
	rootsRowCur   = 0 // the current root
	rootsRowPrev0 = 1 // prev_roots[0]; [i] is row 1+i
)

// rootsVCPU is one vCPU's roots as the box shows them.
type rootsVCPU struct {
	id    int
	roots mmu.ShadowRoots
	stats mmu.RootStats // this vCPU's share of the counts
	// leaked marks the obsolete roots no pending request will free
	// (ObsoleteRootsHeld): index 0 the current root, 1+i prev_roots[i].
	leaked [1 + mmu.KVMMMUNumPrevRoots]bool
}

// gatherRoots fills s.vcpuRoots and s.stats, and decides whether the boxes
// are shown.
func (s *shadowFocus) gatherRoots(m *mmu.Machine) {
	s.stats, _ = m.RootStats()
	show := len(m.VCPUs) > 1 || s.stats.CacheHits+s.stats.CacheMisses+s.stats.Evicted+s.stats.Freed > 0
	for _, v := range m.VCPUs {
		r, ok := m.ShadowRoots(v.ID)
		if !ok {
			continue
		}
		for _, p := range r.Prev {
			show = show || p.Valid
		}
		st, _ := m.VCPURootStats(v.ID)
		s.vcpuRoots = append(s.vcpuRoots, rootsVCPU{id: v.ID, roots: r, stats: st})
	}
	for _, o := range m.ObsoleteRootsHeld() {
		for i := range s.vcpuRoots {
			if s.vcpuRoots[i].id == o.VCPU && o.Prev+1 < len(s.vcpuRoots[i].leaked) {
				s.vcpuRoots[i].leaked[o.Prev+1] = true
			}
		}
	}
	if !show {
		s.vcpuRoots = nil
	}
}

// rootsTarget maps the root cache's events to a slot of a roots box.
func (s *shadowFocus) rootsTarget(e *mmu.Event) (shadowTarget, bool) {
	if len(s.vcpuRoots) == 0 || e.MMU != "root_mmu" {
		return shadowTarget{}, false
	}
	t := shadowTarget{box: sbRoots, vcpu: e.VCPU}
	switch e.Func {
	case "cached_root_find_and_keep_current", "cached_root_find_without_current":
		if strings.Contains(e.Text, "no cached root") {
			t.row, t.write = rootsRowPrev0, true // the old current kept; the LRU out
		} else {
			t.row = rootsRowCur // a hit: the cached root is current now
		}
		return t, true
	case "kvm_mmu_free_roots":
		var i int
		if _, err := fmt.Sscanf(e.Text, "kvm_mmu_free_roots(KVM_MMU_ROOT_PREVIOUS(%d))", &i); err == nil &&
			i >= 0 && i < mmu.KVMMMUNumPrevRoots {
			t.row, t.write = rootsRowPrev0+i, true
			return t, true
		}
	}
	return shadowTarget{}, false
}

// rootsSpecs are the roots boxes, one per vCPU.
func (s *shadowFocus) rootsSpecs(f *focus) []*boxSpec {
	var out []*boxSpec
	for n, vr := range s.vcpuRoots {
		title := fmt.Sprintf("vCPU %d roots: current + prev_roots (MRU first)", vr.id)
		sp := &boxSpec{id: fmt.Sprintf("sroots:%d", vr.id), kind: BoxRegisters, title: title,
			titleInk: PaperInk, titleBG: RegTitle, fill: RegFill, border: RegTitle, borderW: 1.5, dashed: true}
		add := func(name, val, note string, noteInk Color) {
			sp.rows = append(sp.rows, rowSpec{index: -1, count: 1, cells: []cell{{name, MonoBold, Ink, false},
				{val, Mono, Ink, false}, {note, Prose, noteInk, false}}})
		}
		r := vr.roots
		if r.Valid {
			note, ink := s.rootState(r.Root)
			if !r.RootIsPage {
				note = "not a shadow page: never cached"
				if name, _ := s.specialName(r.Root); name != "" && vr.id == f.vcpu {
					note = name + ": not cached, freed on a switch"
				}
			}
			if vr.leaked[0] {
				note += " · LEAKED"
			}
			add("current", RootSlotText(true, r.PGD, r.Root), note, ink)
		} else {
			add("current", RootSlotText(false, 0, 0), "none: loaded at the next entry", MutedInk)
		}
		for i, p := range r.Prev {
			name := fmt.Sprintf("prev[%d]", i)
			if !p.Valid {
				add(name, RootSlotText(false, 0, 0), "empty", MutedInk)
				continue
			}
			note, ink := s.rootState(p.Root)
			if p.Obsolete && !strings.HasPrefix(note, "OBSOLETE") {
				note, ink = "OBSOLETE: "+note, FaultInk
			}
			if vr.leaked[1+i] {
				note += " · LEAKED"
			}
			add(name, RootSlotText(true, p.PGD, p.Root), note, ink)
		}
		counts := func(who string, st mmu.RootStats) {
			text := fmt.Sprintf("%s: loads %d · hits %d · misses %d · evictions %d · freed %d",
				who, st.Loads, st.CacheHits, st.CacheMisses, st.Evicted, st.Freed)
			sp.rows = append(sp.rows, rowSpec{index: -1, span: &cell{s: text, font: Prose, color: Ink}})
		}
		if len(s.vcpuRoots) > 1 {
			counts(fmt.Sprintf("vCPU %d", vr.id), vr.stats)
		}
		if n == len(s.vcpuRoots)-1 {
			counts("all vCPUs", s.stats)
		}
		for i := range sp.rows {
			f.markTarget(&sp.rows[i], s.cur.box == sbRoots && s.cur.vcpu == vr.id && s.cur.row == i)
		}
		out = append(out, sp)
	}
	return out
}

// RootSlotText is how a roots box writes a slot: "pgd 0x… → 0x…", or "—"
// when the slot is empty.
func RootSlotText(valid bool, pgd uint64, hpa mmu.HPA) string {
	if !valid {
		return "—"
	}
	return fmt.Sprintf("pgd %s → %s", hexVal(pgd), hexVal(uint64(hpa)))
}

// rootState says what the root page at hpa is: its root_count, or
// OBSOLETE / invalid when it was zapped.
func (s *shadowFocus) rootState(hpa mmu.HPA) (string, Color) {
	p, ok := s.page(hpa)
	if !ok {
		if name, _ := s.specialName(hpa); name != "" {
			return name, MutedInk
		}
		return "OBSOLETE: no shadow page behind it", FaultInk
	}
	switch {
	case p.Invalid:
		return fmt.Sprintf("OBSOLETE: invalid (zapped), root_count %d", p.RootCount), FaultInk
	case p.Obsolete:
		return fmt.Sprintf("OBSOLETE (old gen), root_count %d", p.RootCount), FaultInk
	}
	return fmt.Sprintf("L%d, root_count %d", p.Level, p.RootCount), MutedInk
}
