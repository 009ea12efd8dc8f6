package mmu

import (
	"bytes"
	"strings"
	"testing"
)

// newLongModeMachine builds a 4- or 5-level guest with 64 MiB of RAM at GPA
// 0 backed by host memory at 256 MiB, and its tables in the pool at 1 MiB.
func newLongModeMachine(t testing.TB, mode PagingMode) (*Machine, *GuestTables) {
	t.Helper()
	m, err := NewMachine(DefaultConfig(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.AddMemslot(Memslot{ID: 0, BaseGFN: 0, NPages: 64 << 20 >> PageShift, BasePFN: 0x10000}); err != nil {
		t.Fatal(err)
	}
	g, err := NewGuestTables(m, mode, 0x100000, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	r := Regs{CR0: CR0PE | CR0PG | CR0WP, CR4: CR4PAE | CR4PSE, EFER: EFERLME | EFERLMA | EFERNX, CR3: g.CR3()}
	if mode == Paging5 {
		r.CR4 |= CR4LA57
	}
	if err := m.SetupRegs(0, r); err != nil {
		t.Fatal(err)
	}
	return m, g
}

func TestSmoke4LevelWalk(t *testing.T) {
	m, g := newLongModeMachine(t, Paging4)
	if _, err := g.Map(0x400000, 0x200000, PageSize, PTWritable|PTUser); err != nil {
		t.Fatal(err)
	}
	st, err := m.Do(&Access{GVA: 0x400123, Kind: AccessWrite, User: true})
	if err != nil {
		t.Fatal(err)
	}
	r := st.Result
	if !r.OK || r.GPA != 0x200123 || r.HPA != 0x10200123 || r.Refs != 4 {
		t.Fatalf("result %+v", r)
	}
	var buf bytes.Buffer
	if err := WriteText(&buf, []Step{st}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "update_accessed_dirty_bits") {
		t.Errorf("no A/D update in\n%s", buf.String())
	}
	t.Log(buf.String())
}
