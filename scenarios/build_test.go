package scenarios

import (
	"reflect"
	"strings"
	"testing"

	"mmuviz/mmu"
)

// ram is the memslot most tests need: 64 MiB of guest RAM at host 256 MiB.
const ram = "memslot 0 gpa=0 size=64M hpa=256M\n"

// entryOf reads the guest entry at level for gva on vCPU 0.
func entryOf(t *testing.T, s *Scenario, gva uint64, level int) uint64 {
	t.Helper()
	ref, err := s.Machine.LookupEntry(0, mmu.GVA(gva), level)
	if err != nil {
		t.Fatalf("LookupEntry(%#x, %d): %v", gva, level, err)
	}
	return uint64(ref.Value)
}

func regsOf(s *Scenario, id int) mmu.Regs { return s.Machine.VCPUs[id].Regs }

// buildCases exercise every command; check looks at the built scenario.
var buildCases = []struct {
	name, src string
	check     func(t *testing.T, s *Scenario)
}{
	{"title and name", "# comment\n\ntitle \"Hello \\\"walk\\\"\"  # trailing\n", func(t *testing.T, s *Scenario) {
		if s.Title != `Hello "walk"` || s.Name != "t" || len(s.Script) != 0 {
			t.Errorf("title %q name %q script %d", s.Title, s.Name, len(s.Script))
		}
	}},
	{"machine", "machine maxphyaddr=40 host-memory=2G features-=la57,pku\n", func(t *testing.T, s *Scenario) {
		c := s.Machine.Config
		want := mmu.DefaultConfig()
		want.MaxPhyAddr, want.HostMemory, want.LA57, want.PKU = 40, 2<<30, false, false
		if c != want {
			t.Errorf("config %+v, want %+v", c, want)
		}
	}},
	{"machine features=", "machine features=nx,smep\n", func(t *testing.T, s *Scenario) {
		c := s.Machine.Config
		if !c.NX || !c.SMEP || c.SMAP || c.PKU || c.LA57 || c.GBPages || c.PSE36 {
			t.Errorf("config %+v", c)
		}
	}},
	{"machine features+=", "machine features+=nx\n", func(t *testing.T, s *Scenario) {
		if s.Machine.Config != mmu.DefaultConfig() {
			t.Errorf("config %+v", s.Machine.Config)
		}
	}},
	{"vcpus", "vcpus 3\n", func(t *testing.T, s *Scenario) {
		if len(s.Machine.VCPUs) != 3 {
			t.Errorf("%d vCPUs", len(s.Machine.VCPUs))
		}
	}},
	{"memslot", "memslot 7 gpa=1M size=2M hpa=0x300000\n", func(t *testing.T, s *Scenario) {
		want := []mmu.Memslot{{ID: 7, BaseGFN: 0x100, NPages: 512, BasePFN: 0x300}}
		if !reflect.DeepEqual(s.Machine.Slots, want) {
			t.Errorf("slots %+v", s.Machine.Slots)
		}
	}},
	{"paging level2", ram + "paging level2\n", func(t *testing.T, s *Scenario) {
		r := regsOf(s, 0)
		if r.Mode() != mmu.Paging32 || r.CR3 != 0x100000 || r.CR4 != mmu.CR4PSE || r.EFER != 0 ||
			r.CR0 != mmu.CR0PE|mmu.CR0PG|mmu.CR0WP {
			t.Errorf("regs %+v", r)
		}
	}},
	{"paging pae", ram + "paging pae\n", func(t *testing.T, s *Scenario) {
		r := regsOf(s, 0)
		if r.Mode() != mmu.PagingPAE || r.CR4 != mmu.CR4PSE|mmu.CR4PAE || r.EFER != mmu.EFERNX {
			t.Errorf("regs %+v", r)
		}
	}},
	{"paging level4", ram + "paging level4\n", func(t *testing.T, s *Scenario) {
		r := regsOf(s, 0)
		if r.Mode() != mmu.Paging4 || r.EFER != mmu.EFERLME|mmu.EFERLMA|mmu.EFERNX || r.CR3 != 0x100000 {
			t.Errorf("regs %+v", r)
		}
	}},
	{"paging level5 without nx", "machine features-=nx\n" + ram + "paging level5\n", func(t *testing.T, s *Scenario) {
		r := regsOf(s, 0)
		if r.Mode() != mmu.Paging5 || r.CR4&mmu.CR4LA57 == 0 || r.EFER != mmu.EFERLME|mmu.EFERLMA {
			t.Errorf("regs %+v", r)
		}
	}},
	{"paging per vCPU", "vcpus 2\n" + ram + "paging level4\npaging pae vcpu=1 pool=4M pool-size=64K\npaging off vcpu=0\n",
		func(t *testing.T, s *Scenario) {
			r0, r1 := regsOf(s, 0), regsOf(s, 1)
			if r0.Mode() != mmu.PagingOff || r0.CR0 != mmu.CR0PE|mmu.CR0WP || r0.EFER != mmu.EFERNX {
				t.Errorf("vCPU 0 regs %+v", r0)
			}
			if r1.Mode() != mmu.PagingPAE || r1.CR3 != 4<<20 {
				t.Errorf("vCPU 1 regs %+v", r1)
			}
		}},
	{"regs", "vcpus 2\n" + ram + "paging level4\nregs cr4+=smep,smap cr0-=wp pkru=0xc rflags+=ac\nregs vcpu=1 efer=0x800 cr3=0x5000\n",
		func(t *testing.T, s *Scenario) {
			r0, r1 := regsOf(s, 0), regsOf(s, 1)
			if r0.CR4 != mmu.CR4PSE|mmu.CR4PAE|mmu.CR4SMEP|mmu.CR4SMAP || r0.CR0 != mmu.CR0PE|mmu.CR0PG ||
				r0.PKRU != 0xc || r0.RFLAGS != mmu.RFLAGSAC {
				t.Errorf("vCPU 0 regs %+v", r0)
			}
			if r1.EFER != mmu.EFERNX || r1.CR3 != 0x5000 || r1.PKRU != 0xc {
				t.Errorf("vCPU 1 regs %+v", r1)
			}
		}},
	{"map", ram + "paging level4\nmap 0x400000 0x200000 flags=w,u,a,d,g,pwt,pcd,nx,pat pkey=3\n",
		func(t *testing.T, s *Scenario) {
			want := uint64(0x200000|0x1ff) | mmu.PTNX | 3<<mmu.PTPKeyShift
			if e := entryOf(t, s, 0x400000, 1); e != want {
				t.Errorf("PTE %#x, want %#x", e, want)
			}
			if e := entryOf(t, s, 0x400000, 2); e != 0x103007 {
				t.Errorf("PDE %#x: upper entries get P W U", e)
			}
		}},
	{"map pages and large", ram + "paging level4\nmap 0x1000 0x5000 pages=3 flags=p\nmap 0x40000000 0x40000000 size=1G flags=pat\nmap 0x200000 0x200000 size=2M\n",
		func(t *testing.T, s *Scenario) {
			for i := uint64(0); i < 3; i++ {
				if e := entryOf(t, s, 0x1000+i<<12, 1); e != 0x5001+i<<12 {
					t.Errorf("PTE %d = %#x", i, e)
				}
			}
			if e := entryOf(t, s, 0x40000000, 3); e != 0x40001081 {
				t.Errorf("1 GiB PDPTE %#x", e)
			}
			if e := entryOf(t, s, 0x200000, 2); e != 0x200081 {
				t.Errorf("2 MiB PDE %#x", e)
			}
		}},
	{"map pse-36", ram + "paging level2\nmap 0xc0000000 0x100000000 size=4M flags=w\n", func(t *testing.T, s *Scenario) {
		if e := entryOf(t, s, 0xc0000000, 2); e != 0x2083 {
			t.Errorf("PDE %#x", e)
		}
	}},
	{"entry", ram + "paging level4\nentry 0x400000 level=4 addr=0x300000 flags=p,w\nentry 0x400000 level=1 value=0x8000000000200067\nentry 0x600000 level=2 addr=0x800000 flags=p,ps,pat pkey=15\n",
		func(t *testing.T, s *Scenario) {
			if e := entryOf(t, s, 0x400000, 4); e != 0x300003 {
				t.Errorf("PML4E %#x", e)
			}
			if e := entryOf(t, s, 0x400000, 3); e != 0x101007 {
				t.Errorf("PDPTE %#x: the pool continues below an explicit table", e)
			}
			if e := entryOf(t, s, 0x400000, 1); e != 0x8000000000200067 {
				t.Errorf("PTE %#x", e)
			}
			if e := entryOf(t, s, 0x600000, 2); e != 0x801081|15<<mmu.PTPKeyShift {
				t.Errorf("PDE %#x", e)
			}
		}},
	{"entry 32-bit pse-36", ram + "paging level2\nentry 0xc0000000 level=2 addr=0x100400000 flags=p,ps\n",
		func(t *testing.T, s *Scenario) {
			if e := entryOf(t, s, 0xc0000000, 2); e != 0x402081 {
				t.Errorf("PDE %#x", e)
			}
		}},
	{"script", "vcpus 2\n" + ram + "paging level4\nmap 0x400000 0x200000\nscript\n" +
		"read 0x400000\nwrite 0x400000 user vcpu=1\nfetch 0x400000 supervisor\nread 0x400000 implicit\n" +
		"set vcpu=1 cr0-=wp cr3=0x2000 efer=nx,lme\nentry 0x400000 level=1 addr=0x300000 flags=p,w\n" +
		"guest-write 0x1000 0xab size=1\nprint entry 0x400000 level=1 vcpu=1\nprint gpa 0x1000 size=2\nprint pkru\n",
		func(t *testing.T, s *Scenario) {
			src := func(line int, text string) mmu.Source { return mmu.Source{Line: line, Text: text} }
			want := []mmu.Action{
				&mmu.Access{Source: src(6, "read 0x400000"), GVA: 0x400000},
				&mmu.Access{Source: src(7, "write 0x400000 user vcpu=1"), VCPU: 1, GVA: 0x400000, Kind: mmu.AccessWrite, User: true},
				&mmu.Access{Source: src(8, "fetch 0x400000 supervisor"), GVA: 0x400000, Kind: mmu.AccessFetch},
				&mmu.Access{Source: src(9, "read 0x400000 implicit"), GVA: 0x400000, Implicit: true},
				&mmu.SetReg{Source: src(10, "set vcpu=1 cr0-=wp cr3=0x2000 efer=nx,lme"), VCPU: 1, Reg: mmu.RegCR0, Op: mmu.RegClearBits, Value: mmu.CR0WP},
				&mmu.SetReg{Source: src(10, "set vcpu=1 cr0-=wp cr3=0x2000 efer=nx,lme"), VCPU: 1, Reg: mmu.RegCR3, Value: 0x2000},
				&mmu.SetReg{Source: src(10, "set vcpu=1 cr0-=wp cr3=0x2000 efer=nx,lme"), VCPU: 1, Reg: mmu.RegEFER, Value: mmu.EFERNX | mmu.EFERLME},
				&mmu.WriteEntry{Source: src(11, "entry 0x400000 level=1 addr=0x300000 flags=p,w"), GVA: 0x400000, Level: 1, Value: 0x300003},
				&mmu.GuestWrite{Source: src(12, "guest-write 0x1000 0xab size=1"), GPA: 0x1000, Size: 1, Value: 0xab},
				&mmu.PrintEntry{Source: src(13, "print entry 0x400000 level=1 vcpu=1"), VCPU: 1, GVA: 0x400000, Level: 1},
				&mmu.PrintMem{Source: src(14, "print gpa 0x1000 size=2"), GPA: 0x1000, Size: 2},
				&mmu.PrintReg{Source: src(15, "print pkru"), Reg: mmu.RegPKRU},
			}
			if !reflect.DeepEqual(s.Script, want) {
				for i := range s.Script {
					t.Logf("%d: %#v", i, s.Script[i])
				}
				t.Errorf("script differs")
			}
			at := []int{6, 7, 7, 6, 12, 20, 31, 7, 13, 13, 11, 7}
			for i, p := range s.At {
				if p.Line != s.Script[i].Src().Line || p.Col != at[i] {
					t.Errorf("action %d reported at %v, want column %d", i, p, at[i])
				}
			}
		}},
}

func TestBuildCommands(t *testing.T) {
	for _, tc := range buildCases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Load("dir/t.mmu", []byte(tc.src))
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, s)
		})
	}
}

// TestRunLocatesEngineErrors checks that an engine error in the script
// names the line and the argument, and keeps the steps before it.
func TestRunLocatesEngineErrors(t *testing.T) {
	src := ram + "paging level4\nmap 0x400000 0x200000\nscript\nread 0x400000\nprint entry 0x800000 level=1\nread 0x400000\n"
	s, err := Load("t.mmu", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	steps, err := s.Run()
	want := "t.mmu:6:13: print: the PDE for GVA 0x800000 (at GPA 0x102020) is not present, so there is no level-1 entry"
	if err == nil || err.Error() != want || len(steps) != 1 {
		t.Fatalf("Run: %d steps, error %v; want 1 step and %s", len(steps), err, want)
	}
	tl := s.Timeline()
	if tl.Err == nil || tl.ErrStep != 1 || len(tl.Steps) != 1 {
		t.Fatalf("timeline: err %v at %d, %d steps", tl.Err, tl.ErrStep, len(tl.Steps))
	}
	if got := s.ActionError(tl.ErrStep, tl.Err).Error(); got != want {
		t.Errorf("ActionError: %s", got)
	}
}

func TestBuildNil(t *testing.T) {
	if _, err := Build(nil); err == nil {
		t.Error("Build(nil) succeeded")
	}
}

func TestCommandNames(t *testing.T) {
	// Helpers add commands as the engine grows: the list must stay sorted
	// and unique and keep the core commands of every scenario.
	checkNameList(t, "CommandNames", CommandNames(), "check cpuid entry fetch guest-write invlpg kvm machine map memslot "+
		"memslot-remove paging prefault print read regs script set shadow tdp tdp-entry title variant variants vcpus write zap")
}

// checkNameList fails t unless names, the list what gives, is sorted and
// unique and holds every name of want (separated by spaces).
func checkNameList(t *testing.T, what string, names []string, want string) {
	t.Helper()
	for i := 1; i < len(names); i++ {
		if names[i-1] >= names[i] {
			t.Errorf("%s not sorted and unique at %q, %q", what, names[i-1], names[i])
		}
	}
	got := " " + strings.Join(names, " ") + " "
	for _, w := range strings.Fields(want) {
		if !strings.Contains(got, " "+w+" ") {
			t.Errorf("%s lacks %s: %s", what, w, got)
		}
	}
}

func TestBuiltinRegistry(t *testing.T) {
	// Built-ins are added with the engine: the list is sorted and keeps
	// these (each must also have goldens, see TestGolden).
	checkNameList(t, "Builtin()", Builtin(), "ept-4on4 ept-4on5 ept-5on5 ept-fault-populate ept-pae-on-4 lesson-guest-modes "+
		"native-32bit native-4level native-5level native-pae nested-ept nested-npt-32bit-l1 nested-npt-4level-l1 nested-npt-pae-l1 npt-4on4 role-reconfig roots-cr3-switch roots-zap-obsolete "+
		"shadow-2level-on-5level shadow-32bit shadow-4level shadow-pae shadow-pte-write shadow-unsync shadow-zap "+
		"tdx-private-shared")
	for _, name := range []string{"", "../build.go", "native-4level/x", "nope", "NATIVE-4LEVEL"} {
		if _, err := LoadBuiltin(name); err == nil || !strings.HasPrefix(err.Error(), "no built-in scenario") {
			t.Errorf("LoadBuiltin(%q): %v", name, err)
		}
	}
	s, err := LoadBuiltin("native-4level.mmu")
	if err != nil || s.Name != "native-4level" || s.File.Name != "scenarios/native-4level.mmu" {
		t.Errorf("LoadBuiltin: %v, %+v", err, s)
	}
}

// TestMapBudget checks that a file cannot make the builder write an
// unbounded number of entries.
func TestMapBudget(t *testing.T) {
	src := ram + "paging level4\n" + strings.Repeat("map 0 0 pages=4096\n", 65)
	_, err := Load("t.mmu", []byte(src))
	want := "t.mmu:67:15: map: a file may map at most 262144 pages in all"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}
