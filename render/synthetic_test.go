package render_test

import (
	"testing"

	"mmuviz/mmu"
	"mmuviz/render"
)

// machine4 is a 4-level guest with RAM at GPA 0 and its tables at 1 MiB.
func machine4(t *testing.T, vcpus int) (*mmu.Machine, *mmu.GuestTables) {
	t.Helper()
	m, err := mmu.NewMachine(mmu.DefaultConfig(), vcpus)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.AddMemslot(mmu.Memslot{ID: 0, NPages: 64 << 20 >> mmu.PageShift, BasePFN: 0x10000}); err != nil {
		t.Fatal(err)
	}
	g, err := mmu.NewGuestTables(m, mmu.Paging4, 0x100000, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	r := mmu.Regs{CR0: mmu.CR0PE | mmu.CR0PG | mmu.CR0WP, CR4: mmu.CR4PAE, EFER: mmu.EFERLME | mmu.EFERLMA | mmu.EFERNX, CR3: g.CR3()}
	for i := 0; i < vcpus; i++ {
		if err := m.SetupRegs(i, r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := g.Map(0x400000, 0x200000, mmu.PageSize, mmu.PTWritable|mmu.PTUser); err != nil {
		t.Fatal(err)
	}
	return m, g
}

// checkAll lays out every step of tl and checks it as the built-ins are.
func checkAll(t *testing.T, name string, tl *mmu.Timeline) {
	t.Helper()
	if tl.Err != nil {
		t.Fatalf("%s: %v", name, tl.Err)
	}
	for step := 0; step < tl.Len(); step++ {
		v, err := tl.Seek(step)
		if err != nil {
			t.Fatal(err)
		}
		sc := render.Layout(v, tl, render.Size{W: 870, H: 800})
		for _, p := range checkScene(sc, v) {
			t.Errorf("%s step %d: %s\n%s", name, step, p, dump(sc))
		}
	}
}

func TestLayoutPagingOff(t *testing.T) {
	m, err := mmu.NewMachine(mmu.DefaultConfig(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.AddMemslot(mmu.Memslot{ID: 0, NPages: 256, BasePFN: 0x10000}); err != nil {
		t.Fatal(err)
	}
	tl := mmu.NewTimeline(m, []mmu.Action{&mmu.Access{GVA: 0x1234}})
	checkAll(t, "paging off", tl)
	v, _ := tl.Seek(tl.Len() - 1)
	sc := render.Layout(v, tl, render.Size{W: 870, H: 800})
	if b, ok := sc.Box("result"); !ok || b.Title[0].S != "paging off: GPA = GVA" {
		t.Errorf("no paging-off result box:\n%s", dump(sc))
	}
}

func TestLayoutWithoutAddress(t *testing.T) {
	m, _ := machine4(t, 1)
	tl := mmu.NewTimeline(m, []mmu.Action{&mmu.SetReg{Reg: mmu.RegCR0, Op: mmu.RegClearBits, Value: mmu.CR0WP}})
	checkAll(t, "no address", tl)
	v, _ := tl.Seek(1)
	sc := render.Layout(v, tl, render.Size{W: 870, H: 800})
	if b, ok := sc.Box(sc.Highlight.Box); !ok || b.Kind != render.BoxRegisters {
		t.Errorf("a CR0 write does not highlight a register:\n%s", dump(sc))
	}
	if _, ok := sc.Box("gpt:0x100000"); !ok {
		t.Errorf("the root table is missing:\n%s", dump(sc))
	}
}

func TestLayoutStores(t *testing.T) {
	m, _ := machine4(t, 2)
	tl := mmu.NewTimeline(m, []mmu.Action{
		&mmu.Access{VCPU: 1, GVA: 0x400010, Kind: mmu.AccessWrite, User: true},
		&mmu.GuestWrite{GPA: 0x300000, Size: 8, Value: 42},                 // plain memory
		&mmu.GuestWrite{GPA: 0x103000 + 8, Size: 8, Value: 0x201007},       // a PTE on the shown path
		&mmu.PrintMem{GPA: 0x300000, Size: 8},                              // reading it back
		&mmu.PrintReg{Reg: mmu.RegCR4},                                     // a register
		&mmu.Access{GVA: 0x7f0000000000, Kind: mmu.AccessFetch},            // not present at the PML4
		&mmu.Access{GVA: 0x800000000000, Kind: mmu.AccessRead, User: true}, // #GP: not canonical
		&mmu.PrintEntry{GVA: 0x400000, Level: 1},                           // print
	})
	checkAll(t, "stores", tl)
	v, _ := tl.Seek(tl.StepOf(1, 0))
	sc := render.Layout(v, tl, render.Size{W: 870, H: 800})
	if sc.Highlight.Box != "mem" {
		t.Errorf("a store to plain memory highlights %q", sc.Highlight.Box)
	}
	v, _ = tl.Seek(tl.StepOf(2, 0))
	sc = render.Layout(v, tl, render.Size{W: 870, H: 800})
	if b, _ := sc.Box(sc.Highlight.Box); b == nil || b.Rows[sc.Highlight.Row].Index != 1 || b.Level != 1 {
		t.Errorf("a store to a PTE does not highlight PTE 1:\n%s", dump(sc))
	}
	if b, _ := sc.Box("regs:1"); b != nil {
		t.Error("a store by vCPU 0 shows vCPU 1's registers")
	}
}
