package mmu

import (
	"bytes"
	"strings"
	"testing"
)

// mustNotPanic runs f and fails the test, naming what, if it panics.
func mustNotPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s panicked: %v", what, r)
		}
	}()
	f()
}

// TestBadActions: malformed actions are errors that say what is wrong,
// never panics, and leave the machine as it was.
func TestBadActions(t *testing.T) {
	gva := testGVA(Paging4)
	cases := []struct {
		name string
		a    Action
		want string // part of the error
	}{
		{"nil action", nil, "no action"},
		{"nil *Access", (*Access)(nil), "nil"},
		{"nil *SetReg", (*SetReg)(nil), "nil"},
		{"nil *GuestWrite", (*GuestWrite)(nil), "nil"},
		{"nil *WriteEntry", (*WriteEntry)(nil), "nil"},
		{"nil *PrintEntry", (*PrintEntry)(nil), "nil"},
		{"nil *PrintReg", (*PrintReg)(nil), "nil"},
		{"nil *PrintMem", (*PrintMem)(nil), "nil"},
		{"access on vCPU 1", &Access{VCPU: 1, GVA: gva}, "no vCPU 1"},
		{"access on vCPU -1", &Access{VCPU: -1, GVA: gva}, "no vCPU -1"},
		{"access kind 3", &Access{GVA: gva, Kind: 3}, "kind 3"},
		{"access kind -1", &Access{GVA: gva, Kind: -1}, "kind -1"},
		{"implicit user access", &Access{GVA: gva, User: true, Implicit: true}, "implicit"},
		{"implicit fetch", &Access{GVA: gva, Kind: AccessFetch, Implicit: true}, "implicit"},
		{"register 6", &SetReg{Reg: 6, Value: 1}, "no register 6"},
		{"register -1", &SetReg{Reg: -1, Value: 1}, "no register -1"},
		{"register operation 3", &SetReg{Reg: RegCR0, Op: 3, Value: CR0WP}, "operation 3"},
		{"set register on vCPU 2", &SetReg{VCPU: 2, Reg: RegCR0}, "no vCPU 2"},
		{"print register 9", &PrintReg{Reg: 9}, "no register 9"},
		{"guest store of 3 bytes", &GuestWrite{GPA: 0x1000, Size: 3}, "3"},
		{"unaligned guest store", &GuestWrite{GPA: 0x1001, Size: 8}, "aligned"},
		{"guest store outside memory", &GuestWrite{GPA: 1 << 45, Size: 8}, "memslot"},
		{"guest store from vCPU 5", &GuestWrite{VCPU: 5, GPA: 0x1000, Size: 8}, "no vCPU 5"},
		{"entry at level 0", &WriteEntry{GVA: gva, Level: 0}, "levels 1 to 4"},
		{"entry at level 5 of 4-level paging", &PrintEntry{GVA: gva, Level: 5}, "levels 1 to 4"},
		{"entry under a missing table", &PrintEntry{GVA: 0x1000, Level: 1}, "not present"},
		{"entry on vCPU 3", &WriteEntry{VCPU: 3, GVA: gva, Level: 1}, "no vCPU 3"},
		{"print 16 bytes", &PrintMem{GPA: 0x1000, Size: 16}, "16"},
		{"print across a page", &PrintMem{GPA: 0xffc, Size: 8}, "crosses"},
		{"print outside memory", &PrintMem{GPA: 1 << 63, Size: 8}, "memslot"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := scriptEnv(t, Paging4)
			before := machineState(e.m)
			mustNotPanic(t, c.name, func() {
				st, err := e.m.Do(c.a)
				if err == nil {
					t.Fatalf("no error: %s", ResultString(st.Result))
				}
				if !strings.Contains(err.Error(), c.want) {
					t.Errorf("error %q does not mention %q", err, c.want)
				}
				if len(st.Events) != 0 || st.Result.OK {
					t.Errorf("a refused action has events or a result: %+v", st)
				}
				var b bytes.Buffer
				if err := WriteJSON(&b, []Step{st}); err != nil {
					t.Error(err)
				}
				if err := WriteText(&b, []Step{st}); err != nil {
					t.Error(err)
				}
			})
			if machineState(e.m) != before {
				t.Error("a refused action changed the machine")
			}
		})
	}
}

// TestBadSetup: constructors refuse bad configurations with errors.
func TestBadSetup(t *testing.T) {
	cfg := func(f func(*Config)) Config {
		c := DefaultConfig()
		f(&c)
		return c
	}
	for _, c := range []struct {
		name   string
		cfg    Config
		nvcpus int
	}{
		{"MAXPHYADDR 31", cfg(func(c *Config) { c.MaxPhyAddr = 31 }), 1},
		{"MAXPHYADDR 53", cfg(func(c *Config) { c.MaxPhyAddr = 53 }), 1},
		{"MAXPHYADDR -1", cfg(func(c *Config) { c.MaxPhyAddr = -1 }), 1},
		{"no host memory", cfg(func(c *Config) { c.HostMemory = 0 }), 1},
		{"host memory beyond MAXPHYADDR", cfg(func(c *Config) { c.MaxPhyAddr = 32; c.HostMemory = 1 << 33 }), 1},
		{"no vCPU", DefaultConfig(), 0},
		{"65 vCPUs", DefaultConfig(), 65},
	} {
		mustNotPanic(t, c.name, func() {
			if _, err := NewMachine(c.cfg, c.nvcpus); err == nil {
				t.Errorf("%s: no error", c.name)
			}
		})
	}

	m, err := NewMachine(DefaultConfig(), 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.AddMemslot(Memslot{ID: 0, NPages: 256, BasePFN: 0x10000}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		s    Memslot
	}{
		{"no pages", Memslot{ID: 1, BaseGFN: 0x1000}},
		{"same ID", Memslot{ID: 0, BaseGFN: 0x1000, NPages: 1, BasePFN: 0x20000}},
		{"overlapping GFNs", Memslot{ID: 1, BaseGFN: 0xff, NPages: 2, BasePFN: 0x20000}},
		{"shared host frames", Memslot{ID: 1, BaseGFN: 0x1000, NPages: 2, BasePFN: 0x100ff}},
		{"host frames beyond memory", Memslot{ID: 1, BaseGFN: 0x1000, NPages: 2, BasePFN: 1 << 30}},
		{"wraps", Memslot{ID: 1, BaseGFN: ^GFN(0), NPages: 2, BasePFN: 0x20000}},
		{"beyond MAXPHYADDR", Memslot{ID: 1, BaseGFN: 1 << 34, NPages: 1, BasePFN: 0x20000}},
		{"host frames wrap", Memslot{ID: 1, BaseGFN: 0x1000, NPages: 2, BasePFN: ^PFN(0)}},
	} {
		mustNotPanic(t, c.name, func() {
			if err := m.AddMemslot(c.s); err == nil {
				t.Errorf("AddMemslot %s: no error", c.name)
			}
		})
	}
	// A configuration broken after construction gives errors, not panics.
	mustNotPanic(t, "MAXPHYADDR changed to 0", func() {
		c := m.Clone()
		c.Config.MaxPhyAddr = 0
		if err := c.AddMemslot(Memslot{ID: 5, BaseGFN: 0x5000, NPages: 1, BasePFN: 0x30000}); err == nil {
			t.Error("a memslot beyond a 0-bit MAXPHYADDR was accepted")
		}
	})
	if _, err := m.VCPU(2); err == nil {
		t.Error("VCPU(2) of 2")
	}
	if err := m.SetupRegs(7, Regs{}); err == nil {
		t.Error("SetupRegs on vCPU 7")
	}
	// A PAE CR3 whose PDPT is outside memory.
	r := defaultRegs(PagingPAE)
	r.CR3 = 0x4000000
	if err := m.SetupRegs(0, r); err == nil {
		t.Error("SetupRegs with the PDPT outside every memslot")
	}
	if _, err := m.LookupEntry(9, 0, 1); err == nil {
		t.Error("LookupEntry on vCPU 9")
	}
}

// TestBadGuestTables: the table builder refuses what no CPU could walk.
func TestBadGuestTables(t *testing.T) {
	e := newTestEnv(t, Paging4, DefaultConfig())
	for _, c := range []struct {
		name string
		f    func() error
	}{
		{"paging off", func() error { _, err := NewGuestTables(e.m, PagingOff, 0x200000, 1<<20); return err }},
		{"unknown mode", func() error { _, err := NewGuestTables(e.m, 7, 0x200000, 1<<20); return err }},
		{"unaligned pool", func() error { _, err := NewGuestTables(e.m, Paging4, 0x200010, 1<<20); return err }},
		{"pool outside memory", func() error { _, err := NewGuestTables(e.m, Paging4, 0x10000000, 1<<20); return err }},
		{"empty pool", func() error { _, err := NewGuestTables(e.m, Paging4, 0x200000, 0); return err }},
		{"non-canonical GVA", func() error { _, err := e.g.Map(0x0000800000000000, 0, PageSize, 0); return err }},
		{"3 KiB page", func() error { _, err := e.g.Map(0, 0, 3<<10, 0); return err }},
		{"512 GiB page", func() error { _, err := e.g.Map(0, 0, 1<<39, 0); return err }},
		{"unaligned 2 MiB", func() error { _, err := e.g.Map(0x1000, 0, 2<<20, 0); return err }},
		{"entry at level 0", func() error { _, err := e.g.SetEntry(0, 0, 0); return err }},
		{"entry at level 5", func() error { _, err := e.g.SetEntry(0, 5, 0); return err }},
		{"PAE 1 GiB page", func() error {
			p := newTestEnv(t, PagingPAE, DefaultConfig())
			_, err := p.g.Map(0, 0, 1<<30, 0)
			return err
		}},
		{"32-bit NX", func() error {
			p := newTestEnv(t, Paging32, DefaultConfig())
			_, err := p.g.Map(0, 0, PageSize, PTNX)
			return err
		}},
		{"32-bit 4 MiB page at 64 GiB", func() error {
			p := newTestEnv(t, Paging32, DefaultConfig())
			_, err := p.g.Map(0x400000, 1<<36, 4<<20, 0)
			return err
		}},
		{"32-bit GVA above 4 GiB", func() error {
			p := newTestEnv(t, Paging32, DefaultConfig())
			_, err := p.g.Map(1<<32, 0, PageSize, 0)
			return err
		}},
		{"mapping under a large page", func() error {
			if _, err := e.g.Map(0x40000000, 0, 1<<30, 0); err != nil {
				return nil
			}
			_, err := e.g.Map(0x40001000, 0, PageSize, 0)
			return err
		}},
	} {
		mustNotPanic(t, c.name, func() {
			if err := c.f(); err == nil {
				t.Errorf("%s: no error", c.name)
			}
		})
	}
}

// TestNoPanicOnOddValues feeds the exported helpers values outside their
// ranges.
func TestNoPanicOnOddValues(t *testing.T) {
	mustNotPanic(t, "helpers", func() {
		for _, mode := range []PagingMode{-1, PagingOff, 1, Paging32, PagingPAE, Paging4, Paging5, 6, 100} {
			_ = mode.String()
			_ = GVAFields(mode)
			_ = EntrySize(mode)
			for _, l := range []int{-100, -1, 0, 1, 5, 6, 64, 1000} {
				_ = LevelPageSize(mode, l)
				_ = TableEntries(mode, l)
				_ = EntryName(mode, l)
				_ = TableName(mode, l)
				_ = DecodeFlags(^PTE(0), l, true)
				_ = DecodeFlags(PTPresent, l, false)
			}
		}
		for _, v := range []uint64{0, ^uint64(0), 1 << 63, PFErrImplicit} {
			_ = DecodeErrorCode(v)
			for r := Reg(-1); r < 8; r++ {
				_ = r.String()
				_ = DecodeReg(r, v)
			}
			_ = PageRole(v).String()
			_ = SizeString(v)
			_ = Hex(v)
		}
		_, _ = ParseReg("")
		_, _ = ParseReg("CR4")
		for _, lohi := range [][2]int{{-5, -1}, {-1, 3}, {0, 63}, {63, 200}, {64, 70}, {10, 5}} {
			_ = bits(lohi[0], lohi[1])
		}
		mem := NewPhysMem(1<<20, 0)
		for _, size := range []int{-1, 0, 3, 8, 16} {
			_, _ = mem.Read(0, size)
			_, _ = mem.Write(0xff8, size, 1)
		}
		_, _ = mem.Read(^HPA(0)-3, 8)
		_, _ = mem.Write(1<<20, 8, 1)
		_ = mem.Reserve(^PFN(0), 2)
		_ = mem.Reserve(0, 0)
		mem.FreePage(12345)
		for i := 0; i < 300; i++ {
			_, _ = mem.AllocPage()
		}
	})
	// Timelines outside their range.
	tl := NewTimeline(scriptEnv(t, Paging4).m, testScript(Paging4, 5))
	mustNotPanic(t, "timeline", func() {
		for _, k := range []int{-5, -1, tl.Len(), 1 << 40} {
			if _, err := tl.Seek(k); err == nil {
				t.Errorf("Seek(%d) is not an error", k)
			}
			tl.Locate(k)
			tl.StepOf(k, k)
		}
	})
}

// FuzzActions throws arbitrary actions at a machine; nothing may panic and
// every refused action must leave the machine as it was.
func FuzzActions(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte("\x05\x01\x00\x00\x00\x80\x03\x00\x00\x00\x00\x00\x00\x00"))
	f.Add(bytes.Repeat([]byte{0xff}, 64))
	f.Fuzz(runFuzzActions)
}

func runFuzzActions(t *testing.T, data []byte) {
	{
		fb := &fuzzBytes{b: data}
		mode := pagingModes[int(fb.u8())%len(pagingModes)]
		e := scriptEnv(t, mode)
		e.m.Quiet = fb.u8()&1 == 1
		for i := 0; i < 8 && fb.i < len(fb.b); i++ {
			k := fb.u8()
			vcpu := int(int8(fb.u8())) % 3
			var a Action
			switch k % 7 {
			case 0:
				a = &Access{VCPU: vcpu, GVA: GVA(fb.u64()), Kind: AccessKind(int8(fb.u8()) % 4), User: k&8 != 0, Implicit: k&16 != 0}
			case 1:
				a = &SetReg{VCPU: vcpu, Reg: Reg(int8(fb.u8()) % 8), Op: RegOp(int8(fb.u8()) % 4), Value: fb.u64()}
			case 2:
				a = &GuestWrite{VCPU: vcpu, GPA: GPA(fb.u64() >> (fb.u8() & 63)), Size: int(int8(fb.u8())) % 10, Value: fb.u64()}
			case 3:
				a = &WriteEntry{VCPU: vcpu, GVA: GVA(fb.u64()), Level: int(int8(fb.u8())) % 7, Value: fb.u64()}
			case 4:
				a = &PrintEntry{VCPU: vcpu, GVA: GVA(fb.u64()), Level: int(int8(fb.u8())) % 7}
			case 5:
				a = &PrintReg{VCPU: vcpu, Reg: Reg(int8(fb.u8()) % 8)}
			default:
				a = &PrintMem{GPA: GPA(fb.u64() >> (fb.u8() & 63)), Size: int(int8(fb.u8())) % 10}
			}
			before := machineState(e.m)
			st, err := e.m.Do(a)
			if err != nil && machineState(e.m) != before {
				t.Fatalf("%T %+v: refused (%v) but changed the machine", a, a, err)
			}
			var b bytes.Buffer
			if err := WriteJSON(&b, []Step{st}); err != nil {
				t.Fatal(err)
			}
		}
	}
}
