package mmu

import (
	"fmt"
	"testing"
)

// newPAEEnv is a PAE guest with testGVA mapped, registers loaded.
func newPAEEnv(t *testing.T) (*testEnv, GVA) {
	e := newTestEnv(t, PagingPAE, DefaultConfig())
	gva := testGVA(PagingPAE)
	e.mapPage(gva, testGPA, PageSize, PTWritable|PTUser)
	e.load()
	return e, gva
}

// pdpteGPA is the address of the PDPTE that gva uses.
func pdpteGPA(e *testEnv, gva GVA) GPA {
	return GPA(e.m.VCPUs[0].Regs.CR3&0xffffffe0) + GPA(8*(uint64(gva)>>30&3))
}

// TestPAEPDPTEReservedBits: load_pdptrs refuses a present PDPTE with a
// reserved bit, so the CR3 write is a #GP and nothing changes; a
// non-present PDPTE may hold anything.
func TestPAEPDPTEReservedBits(t *testing.T) {
	cases := []struct {
		name string
		set  uint64
		ok   bool
	}{
		{"bit 1 (R/W)", 1 << 1, false},
		{"bit 2 (U/S)", 1 << 2, false},
		{"bit 5 (A)", 1 << 5, false},
		{"bit 6", 1 << 6, false},
		{"bit 7 (PS)", 1 << 7, false},
		{"bit 8", 1 << 8, false},
		{"bit 63 (NX)", 1 << 63, false},
		{"bit 46 = MAXPHYADDR", 1 << 46, false},
		{"bit 52", 1 << 52, false},
		{"bit 45 (an address bit)", 1 << 45, true},
		{"PWT and PCD", PTPWT | PTPCD, true},
		{"bits 11:9 (ignored)", 0xe00, true},
	}
	for _, c := range cases {
		for _, present := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s present=%v", c.name, present), func(t *testing.T) {
				e, gva := newPAEEnv(t)
				v := e.m.VCPUs[0]
				a := pdpteGPA(e, gva)
				old, _ := e.m.ReadGuest(a, 8)
				nv := old | c.set
				if !present {
					nv &^= PTPresent
				}
				if err := e.m.WriteGuest(a, 8, nv); err != nil {
					t.Fatal(err)
				}
				regs, pdptrs := v.Regs, v.PDPTRs
				mem := snapshot(e.m)
				st := e.do(&SetReg{Reg: RegCR3, Value: regs.CR3})
				wantOK := c.ok || !present
				if st.Result.OK != wantOK {
					t.Fatalf("CR3 write: %s, want ok=%v", ResultString(st.Result), wantOK)
				}
				if !wantOK {
					if st.Result.Fault == nil || st.Result.Fault.Vector != "#GP" {
						t.Fatalf("want #GP, got %s", ResultString(st.Result))
					}
					if v.Regs != regs || v.PDPTRs != pdptrs {
						t.Errorf("a refused CR3 write changed state: regs %+v pdptrs %x", v.Regs, v.PDPTRs)
					}
				} else if v.PDPTRs[uint64(gva)>>30&3] != nv {
					t.Errorf("PDPTR = %#x, want %#x", v.PDPTRs[uint64(gva)>>30&3], nv)
				}
				if d := mem.diff(snapshot(e.m)); len(d) > 0 {
					t.Errorf("load_pdptrs wrote memory: %v", d)
				}
				// SetupRegs refuses the same PDPTEs with an error.
				err := e.m.SetupRegs(0, regs)
				if (err == nil) != wantOK {
					t.Errorf("SetupRegs: %v, want ok=%v", err, wantOK)
				}
			})
		}
	}
}

// TestPAEPDPTRsReloadedBy lists the register writes that reload the PDPTRs
// of a PAE guest (and so can #GP on a bad PDPTE) and those that do not.
func TestPAEPDPTRsReloadedBy(t *testing.T) {
	cases := []struct {
		name   string
		write  SetReg
		reload bool
	}{
		{"CR3 write of the same value", SetReg{Reg: RegCR3}, true},
		{"CR4.PGE", SetReg{Reg: RegCR4, Op: RegSetBits, Value: CR4PGE}, true},
		{"CR4.PSE", SetReg{Reg: RegCR4, Op: RegClearBits, Value: CR4PSE}, true},
		{"CR4.SMEP", SetReg{Reg: RegCR4, Op: RegSetBits, Value: CR4SMEP}, true},
		{"CR4.SMAP", SetReg{Reg: RegCR4, Op: RegSetBits, Value: CR4SMAP}, false},
		{"CR0.WP", SetReg{Reg: RegCR0, Op: RegClearBits, Value: CR0WP}, false},
		{"EFER.NX", SetReg{Reg: RegEFER, Op: RegClearBits, Value: EFERNX}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, gva := newPAEEnv(t)
			v := e.m.VCPUs[0]
			if c.write.Reg == RegCR3 {
				c.write.Value = v.Regs.CR3
			}
			// Make the PDPTE in memory invalid: a reload must #GP.
			a := pdpteGPA(e, gva)
			old, _ := e.m.ReadGuest(a, 8)
			if err := e.m.WriteGuest(a, 8, old|PTWritable); err != nil {
				t.Fatal(err)
			}
			st := e.do(&c.write)
			if gp := st.Result.Fault != nil && st.Result.Fault.Vector == "#GP"; gp != c.reload {
				t.Errorf("%s: %s; want a reload (#GP) = %v", c.name, ResultString(st.Result), c.reload)
			}
		})
	}
}

// TestPAEPDPTRCaching: the walk uses the PDPTE registers, so a PDPTE edited
// in memory is not seen until CR3 is written again.
func TestPAEPDPTRCaching(t *testing.T) {
	e, gva := newPAEEnv(t)
	a := pdpteGPA(e, gva)
	old, _ := e.m.ReadGuest(a, 8)
	pteGPA := e.path(gva)[1] // the PTE under the loaded PDPTR

	// A second PD at a fresh pool page maps gva to another GPA.
	pd2 := testPool + 0x80000
	pt2 := pd2 + PageSize
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(e.m.WriteGuest(pd2+GPA(8*formatFor(PagingPAE).index(gva, 2)), 8, uint64(pt2)|PTPresent|PTWritable|PTUser))
	must(e.m.WriteGuest(pt2+GPA(8*formatFor(PagingPAE).index(gva, 1)), 8, 0x777000|PTPresent|PTWritable|PTUser))

	read := func() Result { return e.do(&Access{GVA: gva + 0x10, User: true}).Result }
	if r := read(); !r.OK || r.GPA != testGPA+0x10 {
		t.Fatalf("before: %s", ResultString(r))
	}
	// The guest points the PDPTE at the new PD, in memory only.
	must(e.m.WriteGuest(a, 8, uint64(pd2)|PTPresent))
	if r := read(); !r.OK || r.GPA != testGPA+0x10 {
		t.Fatalf("after editing the PDPTE in memory the walk must still use the old PDPTR: %s", ResultString(r))
	}
	// print and WriteEntry find the PTE the walk uses, under the PDPTR.
	for _, act := range []Action{&PrintEntry{GVA: gva, Level: 1}, &WriteEntry{GVA: gva, Level: 1, Value: uint64(testGPA) | 0x67}} {
		st, err := e.m.Do(act)
		if err != nil || st.Result.GPA != pteGPA {
			t.Fatalf("%T under a stale PDPTE in memory: %v, %s; want the PTE at GPA %s", act, err,
				ResultString(st.Result), pteGPA)
		}
	}
	if st := e.do(&PrintEntry{GVA: gva, Level: 3}); st.Result.Value != uint64(pd2)|PTPresent {
		t.Fatalf("level 3 is the PDPTE in memory: %s", ResultString(st.Result))
	}
	// Clearing P in memory is not seen either.
	must(e.m.WriteGuest(a, 8, 0))
	if r := read(); !r.OK {
		t.Fatalf("a cleared PDPTE in memory must not fault before the CR3 write: %s", ResultString(r))
	}
	must(e.m.WriteGuest(a, 8, uint64(pd2)|PTPresent))
	cr3 := e.m.VCPUs[0].Regs.CR3
	if st := e.do(&SetReg{Reg: RegCR3, Value: cr3}); !st.Result.OK {
		t.Fatalf("CR3 write: %s", ResultString(st.Result))
	}
	if r := read(); !r.OK || r.GPA != 0x777010 {
		t.Fatalf("after the CR3 write the walk must use the new PDPTE: %s", ResultString(r))
	}
	// A non-present PDPTE loaded by a CR3 write faults at level 3.
	must(e.m.WriteGuest(a, 8, 0))
	e.do(&SetReg{Reg: RegCR3, Value: cr3})
	r := read()
	if r.Fault == nil || r.Fault.ErrorCode != ecU || r.Fault.Level != 3 || r.Refs != 0 {
		t.Fatalf("non-present PDPTR: %s (want #PF U at level 3, no memory reference)", ResultString(r))
	}
	_ = old
}

// TestPAEPDPTAlignment: CR3 bits 11:5 place the PDPT inside its page.
func TestPAEPDPTAlignment(t *testing.T) {
	e := newTestEnv(t, PagingPAE, DefaultConfig())
	gva := testGVA(PagingPAE)
	e.mapPage(gva, testGPA, PageSize, PTWritable|PTUser)
	// Copy the four PDPTEs to offset 0x7e0 of the root page.
	for i := 0; i < 4; i++ {
		v, _ := e.m.ReadGuest(e.g.Root+GPA(8*i), 8)
		if err := e.m.WriteGuest(e.g.Root+0x7e0+GPA(8*i), 8, v); err != nil {
			t.Fatal(err)
		}
		if err := e.m.WriteGuest(e.g.Root+GPA(8*i), 8, 0); err != nil {
			t.Fatal(err)
		}
	}
	e.regs.CR3 = uint64(e.g.Root) | 0x7e0 | 0x18 // PWT and PCD too
	e.load()
	st := e.do(&Access{GVA: gva, User: true})
	if !st.Result.OK || st.Result.GPA != testGPA {
		t.Fatalf("%s", ResultString(st.Result))
	}
}

// TestADBits: the first walk sets A on every entry it uses (not on PAE
// PDPTEs), a repeated walk writes nothing, a write sets D on the leaf only.
func TestADBits(t *testing.T) {
	for _, mode := range pagingModes {
		t.Run(modeShort(mode), func(t *testing.T) {
			e := newTestEnv(t, mode, DefaultConfig())
			gva := testGVA(mode)
			e.mapPage(gva, testGPA, PageSize, PTWritable|PTUser)
			e.load()
			path := e.path(gva)
			top := formatFor(mode).rootLevel
			check := func(what string, wantD bool) {
				t.Helper()
				for l := top; l >= 1; l-- {
					v, _ := e.m.ReadGuest(path[l], EntrySize(mode))
					pte := PTE(v)
					if mode == PagingPAE && l == 3 {
						if pte.Accessed() || pte.Dirty() {
							t.Errorf("%s: the walk touched the PDPTE in memory: %#x", what, v)
						}
						continue
					}
					if !pte.Accessed() {
						t.Errorf("%s: no A in the %s (%#x)", what, EntryName(mode, l), v)
					}
					if pte.Dirty() != (wantD && l == 1) {
						t.Errorf("%s: D = %v in the %s (%#x)", what, pte.Dirty(), EntryName(mode, l), v)
					}
				}
			}
			writes := func(st Step) int {
				n := 0
				for _, ev := range st.Events {
					if ev.Kind == EvWrite {
						n++
					}
				}
				return n
			}
			levels := top
			if mode == PagingPAE {
				levels = 2
			}
			st := e.do(&Access{GVA: gva, User: true})
			if n := writes(st); n != levels {
				t.Errorf("first read: %d A/D writes, want %d", n, levels)
			}
			check("after a read", false)
			mem := snapshot(e.m)
			st = e.do(&Access{GVA: gva + 8, Kind: AccessFetch, User: true})
			if n := writes(st); n != 0 || len(mem.diff(snapshot(e.m))) != 0 {
				t.Errorf("second walk wrote %d entries", n)
			}
			st = e.do(&Access{GVA: gva + 16, Kind: AccessWrite, User: true})
			if n := writes(st); n != 1 {
				t.Errorf("first write: %d A/D writes, want 1 (D on the PTE)", n)
			}
			check("after a write", true)
			mem = snapshot(e.m)
			e.do(&Access{GVA: gva + 24, Kind: AccessWrite, User: true})
			if d := mem.diff(snapshot(e.m)); len(d) != 0 {
				t.Errorf("second write changed memory: %v", d)
			}
		})
	}
}

// TestRegisterWrites covers the checks of kvm_set_cr0/cr3/cr4 and set_efer
// that the engine models: a refused write is a #GP and changes nothing.
func TestRegisterWrites(t *testing.T) {
	cases := []struct {
		name  string
		mode  PagingMode
		cfg   func(*Config)
		write SetReg
		gp    bool
	}{
		{"CR0.PG without PE", PagingOff, nil, SetReg{Reg: RegCR0, Value: CR0PG}, true},
		{"CR4.PAE cleared in long mode", Paging4, nil, SetReg{Reg: RegCR4, Op: RegClearBits, Value: CR4PAE}, true},
		{"CR4.LA57 set in long mode", Paging4, nil, SetReg{Reg: RegCR4, Op: RegSetBits, Value: CR4LA57}, true},
		{"CR4.LA57 cleared in long mode", Paging5, nil, SetReg{Reg: RegCR4, Op: RegClearBits, Value: CR4LA57}, true},
		{"CR4.SMEP without the feature", Paging4, func(c *Config) { c.SMEP = false },
			SetReg{Reg: RegCR4, Op: RegSetBits, Value: CR4SMEP}, true},
		{"CR4.SMAP without the feature", Paging4, func(c *Config) { c.SMAP = false },
			SetReg{Reg: RegCR4, Op: RegSetBits, Value: CR4SMAP}, true},
		{"CR4.PKE without the feature", Paging4, func(c *Config) { c.PKU = false },
			SetReg{Reg: RegCR4, Op: RegSetBits, Value: CR4PKE}, true},
		{"EFER.NX without the feature", Paging32, func(c *Config) { c.NX = false },
			SetReg{Reg: RegEFER, Op: RegSetBits, Value: EFERNX}, true},
		{"EFER.LME while paging", Paging32, nil, SetReg{Reg: RegEFER, Op: RegSetBits, Value: EFERLME}, true},
		{"CR3 above MAXPHYADDR in long mode", Paging4, nil, SetReg{Reg: RegCR3, Value: 1 << 46}, true},
		{"CR3 above MAXPHYADDR in PAE mode", PagingPAE, nil, SetReg{Reg: RegCR3, Value: 1<<46 | uint64(testPool)}, true},
		{"CR3 above MAXPHYADDR with paging off", PagingOff, nil, SetReg{Reg: RegCR3, Value: 1 << 50}, true},
		{"CR4.SMEP", Paging4, nil, SetReg{Reg: RegCR4, Op: RegSetBits, Value: CR4SMEP}, false},
		{"CR0.WP cleared", Paging5, nil, SetReg{Reg: RegCR0, Op: RegClearBits, Value: CR0WP}, false},
		{"PKRU", Paging4, nil, SetReg{Reg: RegPKRU, Value: 0xffffffff}, false},
		{"RFLAGS.AC", Paging4, nil, SetReg{Reg: RegRFLAGS, Op: RegSetBits, Value: RFLAGSAC}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if c.cfg != nil {
				c.cfg(&cfg)
			}
			e := newTestEnv(t, c.mode, cfg)
			if c.mode != PagingOff {
				e.mapPage(testGVA(c.mode), testGPA, PageSize, PTWritable|PTUser)
			}
			if !cfg.NX {
				e.regs.EFER &^= EFERNX
			}
			e.load()
			v := e.m.VCPUs[0]
			before := v.Regs
			role := v.RootMMU.CPURole
			st := e.do(&c.write)
			gp := st.Result.Fault != nil && st.Result.Fault.Vector == "#GP"
			if gp != c.gp {
				t.Fatalf("%s, want #GP = %v", ResultString(st.Result), c.gp)
			}
			if gp && (v.Regs != before || v.RootMMU.CPURole != role) {
				t.Errorf("a refused write changed the vCPU: %+v", v.Regs)
			}
			if !gp && v.RootMMU.CPURole != calcCPURole(&v.Regs, false) {
				t.Errorf("the role was not recomputed: %s", v.RootMMU.CPURole)
			}
		})
	}
}

// TestEnterLongMode: with EFER.LME and CR4.PAE, setting CR0.PG activates
// long mode (EFER.LMA), and clearing it leaves long mode.
func TestEnterLongMode(t *testing.T) {
	e := newTestEnv(t, Paging4, DefaultConfig())
	e.mapPage(testGVA(Paging4), testGPA, PageSize, PTWritable|PTUser)
	e.regs.CR0 &^= CR0PG
	e.regs.EFER &^= EFERLMA
	e.load()
	v := e.m.VCPUs[0]
	if v.Regs.Mode() != PagingOff {
		t.Fatalf("mode %s", v.Regs.Mode())
	}
	st := e.do(&SetReg{Reg: RegCR0, Op: RegSetBits, Value: CR0PG})
	if !st.Result.OK || v.Regs.EFER&EFERLMA == 0 || v.RootMMU.CPURole.Base.Level() != 4 {
		t.Fatalf("entering long mode: %s, EFER %#x, role %s", ResultString(st.Result), v.Regs.EFER, v.RootMMU.CPURole)
	}
	if r := e.do(&Access{GVA: testGVA(Paging4), User: true}).Result; !r.OK || r.GPA != testGPA {
		t.Fatalf("walk in long mode: %s", ResultString(r))
	}
	e.do(&SetReg{Reg: RegCR0, Op: RegClearBits, Value: CR0PG})
	if v.Regs.EFER&EFERLMA != 0 || v.RootMMU.CPURole.Base.Level() != 0 {
		t.Fatalf("leaving long mode: EFER %#x role %s", v.Regs.EFER, v.RootMMU.CPURole)
	}
	// Entering long mode without CR4.PAE is refused.
	e.do(&SetReg{Reg: RegCR4, Op: RegClearBits, Value: CR4PAE})
	st = e.do(&SetReg{Reg: RegCR0, Op: RegSetBits, Value: CR0PG})
	if st.Result.Fault == nil || st.Result.Fault.Vector != "#GP" {
		t.Fatalf("long mode without PAE: %s", ResultString(st.Result))
	}
}
