package mmu

import (
	"bytes"
	"testing"
)

// tdpScript exercises everything a TDP timeline must restore: faults that
// allocate tables, huge pages, MMIO, a zap, a prefault, a memslot removal
// (which frees the tables and later the root) and prints.
func tdpScript() []Action {
	acc := func(gva GVA, k AccessKind) Action { return &Access{GVA: gva, Kind: k, User: true} }
	return []Action{
		acc(0x400123, AccessRead),
		acc(0x400123, AccessWrite),
		acc(0x7fe123, AccessRead),
		acc(0x40000123, AccessRead),
		acc(0x80000123, AccessWrite),
		&ZapGFNRange{GPA: 0x200000, Size: 2 << 20},
		acc(0x400123, AccessRead),
		&PrintSPTE{GPA: 0x200000},
		&PreFault{GPA: 0x1000000, Size: 16 << 10},
		&RemoveMemslot{ID: 1},
		acc(0x400123, AccessRead),
		acc(0x40000123, AccessWrite),
		&RemoveMemslot{ID: 2, SlotZapOnly: true},
		acc(0x80000123, AccessRead),
		acc(0xc0123456, AccessFetch),
	}
}

// TestTDPTimelineSeek: Seek(k) for every step of a TDP script equals
// running the script step by step: at the end of each action, the machine
// after it; in the middle, the machine as an independent replay observed
// it at that event (so a clone taken mid-action must not share state that
// the rest of the action changes).
func TestTDPTimelineSeek(t *testing.T) {
	// Mid-action states are compared at every fifth event, which is
	// enough to catch shared state and keeps the test fast.
	checkTimelineSeek(t, func() *Machine { return hugeEnv(t).m }, tdpScript(), 5, nil)
}

// TestTDPBadActions: malformed TDP actions are errors, never panics, and
// leave the machine as it was.
func TestTDPBadActions(t *testing.T) {
	cases := []struct {
		name string
		a    Action
		tdp  bool
		want string
	}{
		{"nil *RemoveMemslot", (*RemoveMemslot)(nil), true, "nil"},
		{"nil *ZapGFNRange", (*ZapGFNRange)(nil), true, "nil"},
		{"nil *PreFault", (*PreFault)(nil), true, "nil"},
		{"nil *PrintSPTE", (*PrintSPTE)(nil), true, "nil"},
		{"no such memslot", &RemoveMemslot{ID: 7}, true, "no memslot 7"},
		{"zap without TDP", &ZapGFNRange{GPA: 0, Size: PageSize}, false, "needs EPT or NPT"},
		{"zap of nothing", &ZapGFNRange{GPA: 0, Size: 0}, true, "page-aligned"},
		{"unaligned zap", &ZapGFNRange{GPA: 0x10, Size: PageSize}, true, "page-aligned"},
		{"prefault without TDP", &PreFault{GPA: 0, Size: PageSize}, false, "needs EPT or NPT"},
		{"prefault of MMIO", &PreFault{GPA: 0xfee00000, Size: PageSize}, true, "ENOENT"},
		{"prefault wrapping", &PreFault{GPA: 0xfffffffffffff000, Size: 2 * PageSize}, true, "page-aligned"},
		{"prefault on vCPU 3", &PreFault{VCPU: 3, GPA: 0, Size: PageSize}, true, "no vCPU 3"},
		{"print spte without TDP", &PrintSPTE{GPA: 0}, false, "needs EPT or NPT"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newTestEnv(t, Paging4, DefaultConfig())
			e.load()
			if c.tdp {
				if err := e.m.EnableTDP(ept4); err != nil {
					t.Fatal(err)
				}
			}
			before := machineState(e.m)
			mustNotPanic(t, c.name, func() {
				st, err := e.m.Do(c.a)
				if err == nil || !bytesContains(err.Error(), c.want) {
					t.Fatalf("error %v, want %q (%s)", err, c.want, ResultString(st.Result))
				}
			})
			if c.want != "ENOENT" && machineState(e.m) != before {
				t.Error("a refused action changed the machine")
			}
		})
	}
	m, _ := NewMachine(DefaultConfig(), 1)
	for _, f := range []func() error{
		func() error { return m.SetTDPEntry(0, 0, 1, 0) },
		func() error { return m.Prefault(0, 0, PageSize) },
	} {
		if err := f(); err == nil {
			t.Error("a TDP setup call on a machine without TDP succeeded")
		}
	}
	if err := m.EnableTDP(ept4); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		gpa   GPA
		level int
	}{{0, 0}, {0, 5}, {1 << 50, 1}} {
		if err := m.SetTDPEntry(0, c.gpa, c.level, 0); err == nil {
			t.Errorf("SetTDPEntry(%s, %d) succeeded", c.gpa, c.level)
		}
	}
}

func bytesContains(s, sub string) bool { return bytes.Contains([]byte(s), []byte(sub)) }
