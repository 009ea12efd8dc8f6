package mmu

// tdpIter is struct tdp_iter: a pre-order walk over the SPTEs of one root
// that cover a range of guest frames, stepping down into child tables
// until minLevel, then sideways, then back up (tdp_iter.c).
type tdpIter struct {
	m         *Machine
	rootLevel int
	minLevel  int
	nextGFN   GFN // next_last_level_gfn: where the walk goes on
	gfn       GFN // the first frame the current SPTE maps
	gfnBits   GFN // gfn_bits: ORed into every GFN to index (a TD's shared bit)
	level     int // the level of the current SPTE
	ptPath    [5]HPA
	sptep     HPA    // the current SPTE's address
	oldSPTE   uint64 // its value when the iterator reached it
	valid     bool
}

// pagesPerHPage is KVM_PAGES_PER_HPAGE: frames covered by an SPTE at level.
func pagesPerHPage(level int) uint64 { return uint64(1) << (9 * uint(level-1)) }

// gfnRoundForLevel is gfn_round_for_level.
func gfnRoundForLevel(gfn GFN, level int) GFN { return gfn &^ GFN(pagesPerHPage(level)-1) }

// spteIndex is SPTE_INDEX: the index of gpa's entry in a table at level.
func spteIndex(gpa GPA, level int) int {
	return int(uint64(gpa)>>(PageShift+9*uint(level-1))) & 511
}

// tdpIterStart is for_each_tdp_pte_min_level's tdp_iter_start: begin at
// the root's SPTE for start, indexing with the root's GFN bits
// (kvm_gfn_root_mask). start and the GFNs the iterator reports are
// without those bits.
func (m *Machine) tdpIterStart(root *KVMMMUPage, minLevel int, start GFN) *tdpIter {
	bits := m.kvmGFNRootMask(root)
	return m.tdpIterStartBits(root, minLevel, start&^bits, bits)
}

// tdpIterStartBits is tdp_iter_start with explicit gfn_bits; 0 walks the
// whole root (for_each_tdp_pte_min_level_all).
func (m *Machine) tdpIterStartBits(root *KVMMMUPage, minLevel int, start, bits GFN) *tdpIter {
	it := &tdpIter{m: m, rootLevel: root.Role.Level(), minLevel: minLevel, nextGFN: start, gfnBits: bits}
	if it.rootLevel < 1 || it.rootLevel > 5 {
		return it
	}
	it.level = it.rootLevel
	it.ptPath[it.level-1] = root.SPT
	it.refresh()
	it.valid = true
	return it
}

// refresh is tdp_iter_refresh_sptep: point at the SPTE for nextGFN at the
// current level and read it.
func (it *tdpIter) refresh() {
	it.gfn = gfnRoundForLevel(it.nextGFN, it.level)
	it.sptep = it.ptPath[it.level-1] + HPA(8*spteIndex((it.nextGFN|it.gfnBits).GPA(), it.level))
	it.oldSPTE = it.read(it.sptep)
}

// read is kvm_tdp_mmu_read_spte.
func (it *tdpIter) read(hpa HPA) uint64 {
	v, err := it.m.Mem.Read(hpa, 8)
	if err != nil {
		return 0
	}
	return v
}

// childPT is spte_to_child_pt: the table a present non-leaf SPTE points
// to, if it is one of the TDP MMU's pages.
func (it *tdpIter) childPT(spte uint64, level int) (HPA, bool) {
	if !isShadowPresentPTE(spte) || isLastSPTE(spte, level) {
		return 0, false
	}
	child := HPA(spte & eptAddrMask)
	if it.m.tdp.pages[child.PFN()] == nil {
		return 0, false
	}
	return child, true
}

// next is tdp_iter_next.
func (it *tdpIter) next() {
	if it.stepDown() {
		return
	}
	for {
		if it.stepSide() {
			return
		}
		if !it.stepUp() {
			break
		}
	}
	it.valid = false
}

func (it *tdpIter) stepDown() bool {
	if it.level == it.minLevel {
		return false
	}
	// Re-read: the caller may have changed the SPTE (a zap or a link).
	it.oldSPTE = it.read(it.sptep)
	child, ok := it.childPT(it.oldSPTE, it.level)
	if !ok {
		return false
	}
	it.level--
	it.ptPath[it.level-1] = child
	it.refresh()
	return true
}

func (it *tdpIter) stepSide() bool {
	if spteIndex((it.gfn|it.gfnBits).GPA(), it.level) == 511 {
		return false
	}
	it.gfn += GFN(pagesPerHPage(it.level))
	it.nextGFN = it.gfn
	it.sptep += 8
	it.oldSPTE = it.read(it.sptep)
	return true
}

func (it *tdpIter) stepUp() bool {
	if it.level == it.rootLevel {
		return false
	}
	it.level++
	it.gfn = gfnRoundForLevel(it.gfn, it.level)
	it.sptep = it.ptPath[it.level-1] + HPA(8*spteIndex((it.gfn|it.gfnBits).GPA(), it.level))
	return true
}

// ok is the loop condition of for_each_tdp_pte: still valid and below end.
func (it *tdpIter) ok(end GFN) bool { return it.valid && it.gfn < end }

// table is the HPA of the table holding the current SPTE.
func (it *tdpIter) table() HPA { return it.ptPath[it.level-1] }

// index is the current SPTE's index in its table.
func (it *tdpIter) index() int { return int(it.sptep-it.table()) / 8 }
