package mmu

import "testing"

// TestGuestTable checks the page-at-a-time table read against ReadGuest.
func TestGuestTable(t *testing.T) {
	m, g := newLongModeMachine(t, Paging4)
	if _, err := g.Map(0x400000, 0x200000, PageSize, PTWritable|PTUser); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Map(0x401000, 0x201000, PageSize, PTUser); err != nil {
		t.Fatal(err)
	}
	for _, table := range []GPA{0x100000, 0x103000, 0x103ff0, 0x3000000, 0x7fff000} {
		got := m.GuestTable(Paging4, table, 512)
		for i, v := range got {
			want, _ := m.ReadGuest(table+GPA(8*i), 8)
			if v != want {
				t.Fatalf("table %s entry %d: %#x, ReadGuest %#x", table, i, v, want)
			}
		}
	}
	if e := m.GuestTable(Paging32, 0x103000, 2); e[0] != 0x200007 || e[1] != 0 {
		t.Errorf("4-byte entries read as %#x", e)
	}
	p := m.PathOf(0, 0x401abc)
	if len(p.Levels) != 4 || !p.HasGPA || p.GPA != 0x201abc || p.PageSize != PageSize || !p.Levels[3].Leaf {
		t.Errorf("path %+v", p)
	}
	if p := m.PathOf(0, 0x800000); p.HasGPA || len(p.Levels) != 3 || p.Levels[2].Present {
		t.Errorf("path of an unmapped address %+v", p)
	}
}
