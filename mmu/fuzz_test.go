package mmu

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// fuzzBytes hands out the fuzzer's bytes; past the end it returns zeros,
// and the generator reads zeros as "the ordinary, valid choice".
type fuzzBytes struct {
	b []byte
	i int
}

func (f *fuzzBytes) u8() byte {
	if f.i >= len(f.b) {
		return 0
	}
	f.i++
	return f.b[f.i-1]
}

func (f *fuzzBytes) u32() uint32 {
	return uint32(f.u8()) | uint32(f.u8())<<8 | uint32(f.u8())<<16 | uint32(f.u8())<<24
}

func (f *fuzzBytes) u64() uint64 { return uint64(f.u32()) | uint64(f.u32())<<32 }

// Fuzz machines are small so that each input is cheap: 8 MiB of guest RAM,
// tables in a 32-page pool at GPA 1 MiB.
const (
	fuzzRAMPages  = 8 << 20 >> PageShift
	fuzzPoolPages = 32
)

var fuzzModes = [...]PagingMode{Paging32, PagingPAE, Paging4, Paging5, PagingOff}

// fuzzForcedMode lets a fuzzing run concentrate on one paging mode:
// MMUVIZ_FUZZ_MODE=32|pae|4|5|off.
func fuzzForcedMode() (PagingMode, bool) {
	switch strings.ToLower(os.Getenv("MMUVIZ_FUZZ_MODE")) {
	case "32":
		return Paging32, true
	case "pae":
		return PagingPAE, true
	case "4":
		return Paging4, true
	case "5":
		return Paging5, true
	case "off":
		return PagingOff, true
	}
	return 0, false
}

// fuzzGen builds a random guest from the fuzzer's bytes.
type fuzzGen struct {
	fb     *fuzzBytes
	m      *Machine
	mode   PagingMode
	maxPhy int
	pse    bool  // CR4.PSE: in 32-bit paging, PS makes a 4 MiB page only with it
	pool   []GPA // table pages handed out so far (pool[0] is the root)
	// written remembers the entries the generator wrote, so that two
	// GVAs sharing an upper table follow the same entry.
	written map[GPA]uint64
}

func (g *fuzzGen) size() int { return EntrySize(g.mode) }

func (g *fuzzGen) newTable() GPA {
	if len(g.pool) >= fuzzPoolPages {
		return g.pool[len(g.pool)-1]
	}
	t := testPool + GPA(len(g.pool))*PageSize
	g.pool = append(g.pool, t)
	return t
}

// frame picks a data page for a leaf mapping size bytes: usually inside
// guest RAM, sometimes anywhere below MAXPHYADDR (MMIO), aligned to size.
func (g *fuzzGen) frame(size uint64) uint64 {
	r := g.fb.u8()
	var a uint64
	if r&7 == 7 {
		a = g.fb.u64() & bits(12, g.maxPhy-1)
	} else {
		a = uint64(g.fb.u32()) % (fuzzRAMPages << PageShift)
	}
	return a &^ (size - 1)
}

// entry makes one paging-structure entry for level. Zero bytes give a
// present, writable, user entry pointing to a fresh table (or, at the
// bottom, to a page in RAM). Each source of reserved bits is kept rare
// enough that walks often get to the bottom.
func (g *fuzzGen) entry(level int) uint64 {
	r1, r2, r3 := g.fb.u8(), g.fb.u8(), g.fb.u8()
	var e uint64
	if r1&7 != 7 {
		e |= PTPresent
	}
	if r1&0x08 == 0 {
		e |= PTWritable
	}
	if r1&0x10 == 0 {
		e |= PTUser
	}
	if r1&0x20 != 0 {
		e |= PTAccessed
	}
	if r1&0x40 != 0 {
		e |= PTDirty
	}
	// PS: a large page at levels 2 and 3, a reserved bit at 4 and 5 (rarer
	// there, so that walks get past them).
	if r1&0x80 != 0 && level > 1 && (level <= 3 || r3&0x03 == 0x03 && r2&0x40 != 0) {
		e |= PTPageSize
	}
	e |= uint64(r2&0x06) << 2 // PWT, PCD
	wide := g.mode != Paging32
	if wide {
		if r2&0x11 == 0x11 {
			e |= PTNX
		}
		if r2&0x08 != 0 {
			e |= uint64(r3>>4) << PTPKeyShift
		}
	}
	if g.isLeaf(PTE(e), level) {
		sz := uint64(PageSize)
		if level > 1 {
			sz = LevelPageSize(g.mode, level)
		}
		a := g.frame(sz)
		if g.mode == Paging32 && level == 2 {
			// 4 MiB page: address bits 31:22, and PSE-36 bits 35:32 in
			// PDE bits 16:13.
			e |= a & 0xffc00000
			e |= ((a >> 32) & 0xf) << PT32PSE36Shift
		} else {
			e |= a
		}
		if level > 1 && r2&0x20 != 0 {
			e |= PTLargePAT
		}
	} else {
		t := g.newTable()
		if r3&0x0c == 0x0c {
			// Reuse a table: two levels share a page, or the walk loops
			// back to the root (a recursive mapping).
			t = g.pool[int(g.fb.u8())%len(g.pool)]
		}
		e |= uint64(t)
	}
	if r2&0xc0 == 0xc0 {
		// One random bit flipped: often reserved, sometimes an address
		// bit, sometimes harmless.
		e ^= uint64(1) << (g.fb.u8() & 63)
	}
	if !wide {
		e &= 0xffffffff
	}
	return e
}

// isLeaf says whether the generator treats e at level as mapping a page.
func (g *fuzzGen) isLeaf(e PTE, level int) bool {
	if level == 1 {
		return true
	}
	if !e.PageSize() || level > 3 || (g.mode == PagingPAE && level == 3) {
		return false
	}
	return g.mode != Paging32 || g.pse
}

// buildPath writes entries for gva from the root down, reusing entries the
// generator already wrote.
func (g *fuzzGen) buildPath(gva GVA) {
	f := formatFor(g.mode)
	table := g.pool[0]
	for level := f.rootLevel; level >= 1; level-- {
		idx := f.index(gva, level)
		if g.mode == PagingPAE && level == 3 {
			idx = int(uint64(gva)>>30) & 3
			table = g.pdpt()
		}
		addr := table + GPA(idx*g.size())
		e, seen := g.written[addr]
		if !seen {
			if g.mode == PagingPAE && level == 3 {
				e = g.pdpte()
			} else {
				e = g.entry(level)
			}
			g.written[addr] = e
			if err := g.m.WriteGuest(addr, g.size(), e); err != nil {
				panic(err)
			}
		}
		pte := PTE(e)
		if !pte.Present() {
			return
		}
		if g.isLeaf(pte, level) {
			return
		}
		next := GPA(e & 0xfffff000)
		if f.wide {
			next = GPA(e & bits(12, 51))
		}
		if next < testPool || next >= testPool+fuzzPoolPages*PageSize {
			return
		}
		table = next
	}
}

// pdpt is where in the root page a PAE guest's PDPT sits (CR3 bits 11:5).
func (g *fuzzGen) pdpt() GPA { return g.pool[0] + GPA(g.m.VCPUs[0].Regs.CR3&0xfe0) }

// pdpte makes a PAE PDPTE: usually valid, sometimes with a reserved bit.
func (g *fuzzGen) pdpte() uint64 {
	r := g.fb.u8()
	var e uint64
	if r&7 != 7 {
		e |= PTPresent
	}
	e |= uint64(r & 0x18) // PWT, PCD
	e |= uint64(g.newTable())
	if r&0x80 != 0 {
		e ^= uint64(1) << (g.fb.u8() & 63)
	}
	return e
}

// fuzzGVA picks an address the mode can express: 32 bits outside long mode,
// canonical in long mode except now and then.
func fuzzGVA(fb *fuzzBytes, mode PagingMode) GVA {
	v := fb.u64()
	switch mode {
	case Paging4, Paging5:
		width := 48
		if mode == Paging5 {
			width = 57
		}
		if fb.u8()&15 == 15 {
			return GVA(v) // usually non-canonical
		}
		v &= bits(0, width-1)
		if v&(1<<uint(width-1)) != 0 {
			v |= bits(width, 63)
		}
		return GVA(v)
	}
	return GVA(v & 0xffffffff)
}

// runFuzzWalk is the body of FuzzWalk: build a guest from data, make one to
// four accesses, and check each against the reference translator.
func runFuzzWalk(t *testing.T, data []byte) {
	fb := &fuzzBytes{b: data}
	b0 := fb.u8()
	mode := fuzzModes[int(b0)%len(fuzzModes)]
	if forced, ok := fuzzForcedMode(); ok {
		mode = forced
	}
	cfg := DefaultConfig()
	b1 := fb.u8()
	cfg.MaxPhyAddr = [...]int{46, 36, 40, 52}[b1&3]
	cfg.PSE36 = b1&0x04 == 0
	cfg.GBPages = b1&0x08 == 0
	m, err := NewMachine(cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	m.Quiet = b1&0x10 != 0
	if err := m.AddMemslot(Memslot{ID: 0, NPages: fuzzRAMPages, BasePFN: testRAMPFN}); err != nil {
		t.Fatal(err)
	}

	// Registers, as the scenario's initial state.
	b2, b3 := fb.u8(), fb.u8()
	r := defaultRegs(mode)
	r.CR0 ^= uint64(b2&0x01) * CR0WP
	r.CR4 ^= uint64(b2&0x02>>1) * CR4PSE
	if b2&0x04 != 0 && b3&0x02 != 0 {
		r.EFER &^= EFERNX
	}
	r.CR4 |= uint64(b2&0x08>>3) * CR4SMEP
	r.CR4 |= uint64(b2&0x10>>4) * CR4SMAP
	r.CR4 |= uint64(b2&0x20>>5) * CR4PKE
	r.RFLAGS |= uint64(b2&0x40>>6) * RFLAGSAC
	if b2&0x80 != 0 && mode != Paging4 && mode != Paging5 {
		r.CR4 |= CR4LA57 // ignored outside long mode
	}
	r.PKRU = uint64(fb.u32())
	if b3&0x01 != 0 {
		r.PKRU = 0
	}
	g := &fuzzGen{fb: fb, m: m, mode: mode, maxPhy: cfg.MaxPhyAddr, pse: r.CR4&CR4PSE != 0,
		written: map[GPA]uint64{}}
	if mode != PagingOff {
		g.newTable()
		r.CR3 = uint64(g.pool[0]) | uint64(b3&0x18) // PWT, PCD
		if mode == PagingPAE {
			r.CR3 |= uint64(fb.u8()&0x7f) << 5 // the PDPT anywhere in the page, 32-byte aligned
		}
	}
	// buildPath reads CR3 for the PAE PDPT's place.
	m.VCPUs[0].Regs.CR3 = r.CR3

	naccess := 1 + int(b3>>5)%4
	type plan struct {
		acc Access
		// before the access: toggle CR0.WP through a guest write (the
		// MMU is recomputed), flip RFLAGS.AC, rewrite a PDPTE in memory.
		toggleWP, flipAC, editPDPTE bool
		pdpteVal                    uint64
	}
	var plans []plan
	var gvas []GVA
	for i := 0; i < naccess; i++ {
		k := fb.u8()
		var gva GVA
		if i > 0 && k&0x80 != 0 {
			gva = gvas[int(k>>5&3)%len(gvas)] ^ GVA(fb.u8())<<3 // same page, another offset
		} else {
			gva = fuzzGVA(fb, mode)
		}
		gvas = append(gvas, gva)
		p := plan{acc: Access{GVA: gva, Kind: AccessKind(int(k&3) % 3), User: k&0x04 != 0}}
		if !p.acc.User && p.acc.Kind != AccessFetch && k&0x08 != 0 {
			p.acc.Implicit = true
		}
		if i > 0 {
			p.toggleWP = k&0x10 != 0
			p.flipAC = k&0x20 != 0
			if mode == PagingPAE && k&0x40 != 0 {
				p.editPDPTE = true
				p.pdpteVal = uint64(testPool) + uint64(fb.u8()%fuzzPoolPages)*PageSize | uint64(fb.u8()&1)
			}
		}
		plans = append(plans, p)
		if gp, err := checkGVA(mode, gva); mode != PagingOff && gp == nil && err == nil {
			g.buildPath(gva)
		}
	}

	ref := &refCPU{cr0: r.CR0, cr3: r.CR3, cr4: r.CR4, efer: r.EFER, rflags: r.RFLAGS, pkru: r.PKRU,
		maxPhy: cfg.MaxPhyAddr, pse36: cfg.PSE36, gbpages: cfg.GBPages}
	read := guestReader(m)
	refOK := true
	if refMode(ref) == 3 {
		refOK = refLoadPDPTEs(ref, read)
	}
	err = m.SetupRegs(0, r)
	if (err == nil) != refOK {
		t.Fatalf("loading PDPTEs: engine error %v, reference ok=%v", err, refOK)
	}
	if err != nil {
		return
	}
	if refMode(ref) == 3 && m.VCPUs[0].PDPTRs != ref.pdptr {
		t.Fatalf("PDPTRs %x, reference %x", m.VCPUs[0].PDPTRs, ref.pdptr)
	}

	for i, p := range plans {
		if p.toggleWP {
			op := RegSetBits
			if ref.cr0&CR0WP != 0 {
				op = RegClearBits
			}
			st, err := m.Do(&SetReg{Reg: RegCR0, Op: op, Value: CR0WP})
			if err != nil || !st.Result.OK {
				t.Fatalf("toggling CR0.WP: %v %+v", err, st.Result)
			}
			ref.cr0 ^= CR0WP
		}
		if p.flipAC {
			m.VCPUs[0].Regs.RFLAGS ^= RFLAGSAC
			ref.rflags ^= RFLAGSAC
		}
		if p.editPDPTE {
			// The PDPTE registers keep the old value until CR3 is written.
			if err := m.WriteGuest(GPA(ref.cr3&0xffffffe0)+GPA(8*(uint64(p.acc.GVA)>>30&3)), 8, p.pdpteVal); err != nil {
				t.Fatal(err)
			}
		}
		checkFuzzAccess(t, m, ref, p.acc, fmt.Sprintf("access %d", i))
	}
}

// checkFuzzAccess runs one access on the engine and the reference and
// compares everything they say.
func checkFuzzAccess(t *testing.T, m *Machine, ref *refCPU, acc Access, what string) {
	t.Helper()
	mode := m.VCPUs[0].Regs.Mode()
	ra := refAccess{gva: uint64(acc.GVA), write: acc.Kind == AccessWrite, fetch: acc.Kind == AccessFetch,
		user: acc.User, implicit: acc.Implicit}
	before := snapshot(m)
	want := refTranslate(ref, ra, guestReader(m))
	st, err := m.Do(&acc)
	desc := fmt.Sprintf("%s: %s, %s of GVA %s (user=%v implicit=%v), regs %+v", what, mode, acc.Kind, acc.GVA,
		acc.User, acc.Implicit, m.VCPUs[0].Regs)
	if err != nil {
		t.Fatalf("%s: error %v", desc, err)
	}
	got := st.Result
	if checkFuzzAccessHook != nil {
		checkFuzzAccessHook(mode, got)
	}
	after := snapshot(m)
	switch {
	case want.gp:
		if got.Fault == nil || got.Fault.Vector != "#GP" {
			t.Fatalf("%s: want #GP, got %s", desc, ResultString(got))
		}
	case want.fault:
		if got.Fault == nil || got.Fault.Vector != "#PF" || got.Fault.ErrorCode != want.ec ||
			got.Fault.Level != want.level || got.Fault.Addr != acc.GVA {
			t.Fatalf("%s: want #PF error code %s (%s) at level %d, got %s (level %v)", desc, hex(want.ec),
				DecodeErrorCode(want.ec), want.level, ResultString(got), faultLevel(got))
		}
	default:
		if !got.OK || got.Fault != nil || got.GPA != GPA(want.gpa) {
			t.Fatalf("%s: want GPA %s, got %s", desc, hex(want.gpa), ResultString(got))
		}
		if got.Refs != want.reads {
			t.Fatalf("%s: %d memory references, reference made %d", desc, got.Refs, want.reads)
		}
		hpa, mapped := m.GPAToHPA(got.GPA)
		if got.HasHPA != mapped || (mapped && got.HPA != hpa) {
			t.Fatalf("%s: HPA %s (has %v), memslots say %s (%v)", desc, got.HPA, got.HasHPA, hpa, mapped)
		}
	}
	// Memory: exactly the reference's A/D writes, nothing on a fault.
	expect := memSnapshot{}
	for k, v := range before {
		expect[k] = v
	}
	for gpa, v := range want.writes {
		hpa, ok := m.GPAToHPA(GPA(gpa))
		if !ok {
			t.Fatalf("%s: reference wrote outside memory at GPA %s", desc, hex(gpa))
		}
		word := hpa &^ 7
		old := expect[word]
		if want.size == 4 {
			sh := uint(hpa&4) * 8
			v = old&^(0xffffffff<<sh) | v<<sh
		}
		if v == 0 {
			delete(expect, word)
		} else {
			expect[word] = v
		}
	}
	if d := expect.diff(after); len(d) > 0 {
		t.Fatalf("%s: memory differs from the reference (%s):\n%s", desc, ResultString(got), strings.Join(d, "\n"))
	}
	if !m.Quiet {
		checkTraceShape(t, st, desc)
	}
}

// checkFuzzAccessHook, when set, sees every result (for tallies).
var checkFuzzAccessHook func(mode PagingMode, r Result)

func faultLevel(r Result) int {
	if r.Fault == nil {
		return -1
	}
	return r.Fault.Level
}

// checkTraceShape checks what every access's trace looks like: it begins
// with a begin event and ends with a result or a fault, each event has a
// kernel function and a sentence, and the writes it reports are A/D bits.
func checkTraceShape(t *testing.T, st Step, desc string) {
	t.Helper()
	ev := st.Events
	if len(ev) < 2 || ev[0].Kind != EvBegin {
		t.Fatalf("%s: trace does not begin with a begin event: %+v", desc, ev)
	}
	last := ev[len(ev)-1]
	if st.Result.Fault != nil && last.Kind != EvFault || st.Result.OK && last.Kind != EvResult {
		t.Fatalf("%s: trace ends with %s for %s", desc, last.Kind, ResultString(st.Result))
	}
	for _, e := range ev {
		if e.Func == "" || e.Text == "" || !strings.HasSuffix(e.Text, ".") {
			t.Fatalf("%s: event without function or sentence: %+v", desc, e)
		}
		if e.Kind == EvWrite && (e.New&^e.Old)&^(PTAccessed|PTDirty) != 0 {
			t.Fatalf("%s: a walk wrote more than A/D: %+v", desc, e)
		}
	}
}

// fuzzSeeds cover each mode: a plain walk, a faulting one and random ones.
func fuzzSeeds() [][]byte {
	var seeds [][]byte
	for mi := range fuzzModes {
		seeds = append(seeds,
			[]byte{byte(mi)}, // all zeros: a valid user read, 4 KiB pages
			[]byte{byte(mi), 0x00, 0x3f, 0x60, 0x44, 0x33, 0x22, 0x11, 0x05, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x10},
		)
		// Random-looking seeds, from a fixed linear congruential sequence.
		x := uint32(mi*7919 + 1)
		for k := 0; k < 6; k++ {
			b := []byte{byte(mi)}
			for n := 0; n < 96; n++ {
				x = x*1664525 + 1013904223
				b = append(b, byte(x>>24))
			}
			seeds = append(seeds, b)
		}
	}
	return seeds
}

// FuzzWalk builds random guests (tables with random flags, reserved bits,
// large pages, keys; random CR0/CR4/EFER/RFLAGS/PKRU and MAXPHYADDR) and
// random accesses, and checks that the walker and the reference translator
// agree on the outcome, the GPA, the error code and the A/D writes.
func FuzzWalk(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(runFuzzWalk)
}
