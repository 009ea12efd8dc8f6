package lessons

import (
	"fmt"
	"strings"

	"mmuviz/mmu"
)

// quizMode is one paging mode a quiz can use: its name in QuizOptions and
// its word in the scenario language.
type quizMode struct {
	name, word string
	mode       mmu.PagingMode
}

// quizModes are the paging modes of quizzes, in the order "any" draws them.
var quizModes = []quizMode{
	{"32bit", "level2", mmu.Paging32},
	{"pae", "pae", mmu.PagingPAE},
	{"4level", "level4", mmu.Paging4},
	{"5level", "level5", mmu.Paging5},
}

// Where the generated guest keeps things (all inside memslot 0, GPA 0-64M):
// the builder's table pool at 1M, hand-written tables at 2M, 4 KiB data
// pages at 4M-16M, large pages at 16M-64M; 1 GiB pages map GPA 1G, which
// memslot 1 backs.
const (
	quizHandTable = 0x200000
	quiz4KBase    = 0x400000
	quiz4KFrames  = 3072
	quizLargeBase = 16 << 20
	quizLargeSpan = 48 << 20
	quizGBPage    = 1 << 30
)

// genItem is an entry the generator wrote: a leaf mapping size bytes at
// gva, or (leaf false) a hand-written table entry covering them.
type genItem struct {
	level    int
	gva      uint64
	size     uint64
	leaf     bool
	w, u, nx bool // the leaf's own flags, to aim some accesses at what they allow
}

// quizAccess is one generated question before the engine answers it.
type quizAccess struct {
	gva  uint64
	kind mmu.AccessKind
	user bool
	ask  string // the question kind
	pick uint64 // random bits choosing the entry of a next-entry question
}

// quizGen builds a random guest as scenario text.
type quizGen struct {
	r        *quizRand
	mode     quizMode
	fields   []mmu.GVAField // index fields, root first
	maxPhy   int
	pke      bool
	pools    [6][]int // the indices mappings share, per level
	items    []genItem
	gpas     map[uint64]bool
	setup    []string  // entry and map lines, in order
	leaves   []genItem // mapped pages
	specials []genItem // odd leaves: reserved bits, not present with bits
	gbPage   bool
}

// root is the top level of the mode (3 for PAE).
func (g *quizGen) root() int { return mmu.RootLevel(g.mode.mode) }

// field returns the GVA bits that index the table at level.
func (g *quizGen) field(level int) mmu.GVAField {
	for _, f := range g.fields {
		if f.Level == level {
			return f
		}
	}
	return mmu.GVAField{}
}

// entries is how many entries a table at level has.
func (g *quizGen) entries(level int) int {
	f := g.field(level)
	return 1 << uint(f.Hi-f.Lo+1)
}

// gvaOf puts the indices together into a canonical GVA.
func (g *quizGen) gvaOf(idx [6]int) uint64 {
	var v uint64
	for l := g.root(); l >= 1; l-- {
		v |= uint64(idx[l]) << uint(g.field(l).Lo)
	}
	if m := g.mode.mode; m == mmu.Paging4 || m == mmu.Paging5 {
		width := uint(g.fields[0].Hi + 1)
		if v>>(width-1)&1 == 1 {
			v |= ^uint64(0) << width
		}
	}
	return v
}

// newQuizGen draws the paging mode (unless the options fix it), the
// registers' size and the index pools.
func newQuizGen(seed uint64, mode string) *quizGen {
	g := &quizGen{r: newQuizRand(seed, streamMachine), gpas: map[uint64]bool{}}
	g.mode = quizModes[g.r.intn(len(quizModes))]
	for _, m := range quizModes {
		if m.name == mode {
			g.mode = m
		}
	}
	for _, f := range mmu.GVAFields(g.mode.mode) {
		if f.Level > 0 {
			g.fields = append(g.fields, f)
		}
	}
	g.maxPhy = []int{36, 40, 46, 46}[g.r.intn(4)]
	for l := g.root(); l >= 2; l-- {
		n := 1 + g.r.intn(2)
		if l == 2 {
			n = 2 + g.r.intn(2)
		}
		for len(g.pools[l]) < n && len(g.pools[l]) < g.entries(l) {
			i := g.r.intn(g.entries(l))
			if !containsInt(g.pools[l], i) {
				g.pools[l] = append(g.pools[l], i)
			}
		}
	}
	return g
}

func containsInt(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// indices picks a path for a leaf at level leaf: the shared pools above it,
// a fresh index at a large leaf (so that it does not land on a table), any
// index at a PTE. Levels at and above fixedFrom (when > 0) come from fixed.
func (g *quizGen) indices(leaf int, fixed [6]int, fixedFrom int) [6]int {
	var idx [6]int
	for l := g.root(); l >= leaf; l-- {
		switch {
		case fixedFrom > 0 && l >= fixedFrom:
			idx[l] = fixed[l]
		case l > leaf:
			idx[l] = g.pools[l][g.r.intn(len(g.pools[l]))]
		default:
			idx[l] = g.r.intn(g.entries(l))
			for try := 0; try < 8 && l > 1 && containsInt(g.pools[l], idx[l]); try++ {
				idx[l] = g.r.intn(g.entries(l))
			}
		}
	}
	return idx
}

// conflicts reports whether two items cannot both be written: they overlap,
// and neither is a table entry above the other.
func conflicts(a, b genItem) bool {
	if a.gva > b.gva+(b.size-1) || b.gva > a.gva+(a.size-1) {
		return false
	}
	return !(!a.leaf && b.level < a.level) && !(!b.leaf && a.level < b.level)
}

// add records an item unless it conflicts with one already written.
func (g *quizGen) add(it genItem) bool {
	for _, o := range g.items {
		if conflicts(it, o) {
			return false
		}
	}
	g.items = append(g.items, it)
	return true
}

// leafAt finds a free place for a leaf at level, trying a few paths.
func (g *quizGen) leafAt(level int, fixed [6]int, fixedFrom int) (genItem, bool) {
	for try := 0; try < 16; try++ {
		it := genItem{level: level, gva: g.gvaOf(g.indices(level, fixed, fixedFrom)),
			size: mmu.LevelPageSize(g.mode.mode, level), leaf: true}
		if g.add(it) {
			return it, true
		}
	}
	return genItem{}, false
}

// dataGPA picks the guest frame of a page of size bytes, avoiding frames
// already mapped when it can.
func (g *quizGen) dataGPA(size uint64) uint64 {
	var gpa uint64
	for try := 0; try < 8; try++ {
		switch {
		case size == quizGBPage:
			gpa = quizGBPage
		case size > mmu.PageSize:
			gpa = quizLargeBase + g.r.below(quizLargeSpan/size)*size
		default:
			gpa = quiz4KBase + uint64(g.r.intn(quiz4KFrames))*mmu.PageSize
		}
		if !g.gpas[gpa] {
			break
		}
	}
	g.gpas[gpa] = true
	return gpa
}

// pageLevel draws the level of a mapping's leaf: mostly 4 KiB pages, some
// large ones, at most one 1 GiB page.
func (g *quizGen) pageLevel() int {
	x := g.r.intn(100)
	wide := g.mode.mode == mmu.Paging4 || g.mode.mode == mmu.Paging5
	switch {
	case x < 70:
		return 1
	case x < 90 || !wide || g.gbPage:
		return 2
	}
	return 3
}

// flagsFor draws a mapping's flags= and pkey=, noting them in it.
func (g *quizGen) flagsFor(it *genItem) string {
	var flags []string
	if it.w = g.r.chance(60); it.w {
		flags = append(flags, "w")
	}
	user := g.r.chance(60)
	if it.u = user; user {
		flags = append(flags, "u")
	}
	if it.nx = g.mode.mode != mmu.Paging32 && g.r.chance(25); it.nx {
		flags = append(flags, "nx")
	}
	s := ""
	if len(flags) > 0 {
		s = " flags=" + strings.Join(flags, ",")
	}
	if g.pke && user && g.r.chance(40) {
		s += fmt.Sprintf(" pkey=%d", 1+g.r.intn(3))
	}
	return s
}

// mapping writes one `map` line, under fixed levels when fixedFrom > 0.
func (g *quizGen) mapping(level int, fixed [6]int, fixedFrom int) {
	it, ok := g.leafAt(level, fixed, fixedFrom)
	if !ok {
		return
	}
	line := fmt.Sprintf("map %s %s", mmu.Hex(it.gva), mmu.Hex(g.dataGPA(it.size)))
	if it.size > mmu.PageSize {
		line += " size=" + map[uint64]string{2 << 20: "2M", 4 << 20: "4M", 1 << 30: "1G"}[it.size]
		g.gbPage = g.gbPage || it.size == quizGBPage
	}
	g.setup = append(g.setup, line+g.flagsFor(&it))
	g.leaves = append(g.leaves, it)
}

// restricted writes a hand-made table entry that takes a right away from
// everything below it (U, W, or execution), and maps a page under it.
func (g *quizGen) restricted() {
	var levels []int
	for l := 2; l <= g.root(); l++ {
		if !(g.mode.mode == mmu.PagingPAE && l == 3) { // PDPTEs have no W, U or NX
			levels = append(levels, l)
		}
	}
	level := levels[g.r.intn(len(levels))]
	var fixed [6]int
	for l := g.root(); l >= level; l-- {
		fixed[l] = g.pools[l][g.r.intn(len(g.pools[l]))]
	}
	it := genItem{level: level, gva: g.gvaOf(fixed), size: mmu.LevelPageSize(g.mode.mode, level)}
	if !g.add(it) {
		return
	}
	flags := []string{"p,w", "p,u", "p,w,u,nx"}[g.r.intn(2+btoi(g.mode.mode != mmu.Paging32))]
	g.setup = append(g.setup, fmt.Sprintf("entry %s level=%d addr=%s flags=%s", mmu.Hex(it.gva), level,
		mmu.Hex(quizHandTable), flags))
	g.mapping(1, fixed, level)
}

// odd writes a leaf the walk refuses: one with a reserved bit set, or one
// with rights but no P.
func (g *quizGen) odd(reserved bool) {
	level, value := 1, uint64(0)
	switch {
	case reserved && g.mode.mode == mmu.Paging32:
		// A 4 MiB PDE with bit 21 set: reserved whatever MAXPHYADDR is.
		level = 2
		value = quizLargeBase + g.r.below(quizLargeSpan>>22)<<22 | 1<<21 | mmu.PTPageSize | 7
	case reserved:
		value = quiz4KBase + uint64(g.r.intn(quiz4KFrames))<<12 | 1<<uint(g.maxPhy) | 7
	default:
		value = quiz4KBase + uint64(g.r.intn(quiz4KFrames))<<12 | mmu.PTWritable | mmu.PTUser
	}
	it, ok := g.leafAt(level, [6]int{}, 0)
	if !ok {
		return
	}
	g.setup = append(g.setup, fmt.Sprintf("entry %s level=%d value=%s", mmu.Hex(it.gva), level, mmu.Hex(value)))
	g.specials = append(g.specials, it)
}

// regsLine draws the registers beyond what `paging` sets.
func (g *quizGen) regsLine() string {
	var parts, cr4 []string
	if g.r.chance(20) {
		parts = append(parts, "cr0-=wp")
	}
	smap := g.r.chance(50)
	if g.r.chance(50) {
		cr4 = append(cr4, "smep")
	}
	if smap {
		cr4 = append(cr4, "smap")
	}
	g.pke = (g.mode.mode == mmu.Paging4 || g.mode.mode == mmu.Paging5) && g.r.chance(50)
	if g.pke {
		cr4 = append(cr4, "pke")
	}
	if len(cr4) > 0 {
		parts = append(parts, "cr4+="+strings.Join(cr4, ","))
	}
	if g.mode.mode != mmu.Paging32 && g.r.chance(10) {
		parts = append(parts, "efer-=nx") // bit 63 of an entry becomes reserved
	}
	if g.pke {
		var pkru uint64
		for key := 1; key <= 3; key++ {
			pkru |= uint64([]int{0, 0, 1, 2, 2}[g.r.intn(5)]) << uint(2*key)
		}
		parts = append(parts, "pkru="+mmu.Hex(pkru))
	}
	if smap && g.r.chance(25) {
		parts = append(parts, "rflags+=ac")
	}
	if len(parts) == 0 {
		return ""
	}
	return "regs " + strings.Join(parts, " ")
}

// build draws the whole guest: registers, then hand-made entries, then
// mappings, then the odd leaves.
func (g *quizGen) build() (regs string) {
	regs = g.regsLine()
	if g.r.chance(40) {
		g.restricted()
	}
	for n := 4 + g.r.intn(4); n > 0; n-- {
		g.mapping(g.pageLevel(), [6]int{}, 0)
	}
	if g.r.chance(35) {
		g.odd(true)
	}
	if g.r.chance(30) {
		g.odd(false)
	}
	return regs
}

// access draws one access: mostly to mapped pages, some to the odd leaves,
// to unmapped neighbours in a table that exists, or to unmapped regions.
func (g *quizGen) access(r *quizRand) quizAccess {
	var gva uint64
	x := r.intn(100)
	switch {
	case len(g.specials) > 0 && x >= 65 && x < 78:
		it := g.specials[r.intn(len(g.specials))]
		gva = it.gva + r.below(it.size)
	case len(g.leaves) > 0 && x < 78:
		it := g.leaves[r.intn(len(g.leaves))]
		gva = it.gva + r.below(it.size)
		if r.chance(60) {
			return fitting(r, gva, it)
		}
	case len(g.leaves) > 0 && x < 90:
		it := g.leaves[r.intn(len(g.leaves))]
		f := g.field(it.level)
		mask := uint64(1)<<uint(f.Hi+1) - 1
		gva = it.gva&^mask | uint64(r.intn(g.entries(it.level)))<<uint(f.Lo) | r.below(1<<uint(f.Lo))
	default:
		var idx [6]int
		for l := g.root(); l >= 1; l-- {
			idx[l] = r.intn(g.entries(l))
		}
		idx[g.root()] = g.pools[g.root()][r.intn(len(g.pools[g.root()]))]
		gva = g.gvaOf(idx) + r.below(mmu.PageSize)
	}
	a := quizAccess{gva: gva, kind: mmu.AccessRead, user: r.chance(50)}
	switch x := r.intn(100); {
	case x >= 80:
		a.kind = mmu.AccessFetch
	case x >= 45:
		a.kind = mmu.AccessWrite
	}
	return a
}

// fitting draws an access that the leaf's own bits allow (a user access
// to a user page, a write to a writable one, a fetch from an executable
// one); the levels above, SMAP, SMEP and PKRU may still refuse it.
func fitting(r *quizRand, gva uint64, it genItem) quizAccess {
	a := quizAccess{gva: gva, kind: mmu.AccessRead, user: it.u && r.chance(75)}
	switch x := r.intn(100); {
	case x >= 80 && !it.nx:
		a.kind = mmu.AccessFetch
	case x >= 50 && (it.w || !a.user && r.chance(30)):
		a.kind = mmu.AccessWrite
	}
	return a
}

// text assembles the scenario file.
func (g *quizGen) text(command, regs string, accesses []quizAccess) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Generated by `%s`: the same seed and options give\n", command)
	b.WriteString("# the same machine and questions everywhere. Add -c for the answers.\n")
	fmt.Fprintf(&b, "title %q\n", "Exercise: "+g.mode.mode.String())
	fmt.Fprintf(&b, "machine maxphyaddr=%d host-memory=4G\n", g.maxPhy)
	b.WriteString("memslot 0 gpa=0 size=64M hpa=256M\n")
	if g.gbPage {
		b.WriteString("memslot 1 gpa=1G size=1G hpa=2G\n")
	}
	fmt.Fprintf(&b, "paging %s\n", g.mode.word)
	if regs != "" {
		b.WriteString(regs + "\n")
	}
	for _, l := range g.setup {
		b.WriteString(l + "\n")
	}
	b.WriteString("\nscript\n")
	for _, a := range accesses {
		who := "supervisor"
		if a.user {
			who = "user"
		}
		fmt.Fprintf(&b, "%s %s %s\n", a.kind, mmu.Hex(a.gva), who)
	}
	return b.String()
}
