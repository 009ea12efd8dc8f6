package mmu

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// TestShadowInvariantsCatch: the checker is not vacuous: each kind of
// corruption of a correct state is reported.
func TestShadowInvariantsCatch(t *testing.T) {
	e := shadowEnv(t, Paging4, ShadowConfig{})
	e.mapPage(0x400000, 0x200000, PageSize, PTWritable|PTUser)
	e.mapPage(0x401000, 0x201000, PageSize, 0)
	pd := e.entryGPA(0x400000, 2) &^ pageMask
	e.mapPage(0x600000, pd, PageSize, PTWritable)
	e.load()
	e.doCheck(write(0x400000, true))
	e.doCheck(read(0x401000, false))
	e.doCheck(read(0x600000, false))
	base := e.m
	leafOf := func(m *Machine, gva GVA) HPA {
		levels, _, _ := m.ShadowPath(0, gva)
		return levels[len(levels)-1].Entry
	}
	for _, tc := range []struct {
		name    string
		corrupt func(m *Machine)
		want    string
	}{
		{"a write-tracked frame mapped writable", func(m *Machine) {
			p := leafOf(m, 0x600000)
			m.writeSPTE(p, m.readSPTE(p)|PTWritable)
		}, "write-tracked"},
		{"a leaf pointing elsewhere", func(m *Machine) {
			p := leafOf(m, 0x400000)
			m.writeSPTE(p, m.readSPTE(p)+PageSize)
		}, "maps host frame"},
		{"more rights than the guest", func(m *Machine) {
			p := leafOf(m, 0x401000)
			m.writeSPTE(p, m.readSPTE(p)|PTUser)
		}, "grants"},
		{"writable but not dirty", func(m *Machine) {
			p := leafOf(m, 0x400000)
			pte := e.entryGPA(0x400000, 1)
			v, _ := m.ReadGuest(pte, 8)
			_ = m.WriteGuest(pte, 8, v&^PTDirty)
			_ = p
		}, "not dirty"},
		{"a missing rmap entry", func(m *Machine) {
			p := leafOf(m, 0x400000)
			m.rmapRemove(p)
		}, "rmap"},
		{"a wrong root_count", func(m *Machine) {
			m.shadow.spAt(m.VCPUs[0].RootMMU.Root).RootCount++
		}, "root_count"},
		{"a lost parent link", func(m *Machine) {
			for _, sp := range m.shadow.pages {
				if sp.Role.Level() == 1 {
					sp.ParentPTEs = nil
				}
			}
		}, "parent_ptes"},
		{"a wrong write-track count", func(m *Machine) {
			m.shadow.writeTrack[0x7777]++
		}, "gfn_write_track"},
		{"an unsync bitmap out of step", func(m *Machine) {
			m.shadow.spAt(m.VCPUs[0].RootMMU.Root).UnsyncChildren = 3
		}, "unsync_children"},
		{"a page missing from its hash bucket", func(m *Machine) {
			root := m.shadow.spAt(m.VCPUs[0].RootMMU.Root)
			b := kvmPageTableHashfn(root.GFN)
			m.shadow.hash[b] = removeSP(m.shadow.hash[b], root)
		}, "hash bucket"},
	} {
		m := base.Clone()
		tc.corrupt(m)
		bad := m.CheckShadowInvariants()
		if !strings.Contains(strings.Join(bad, "\n"), tc.want) {
			t.Errorf("%s: got %q, want a report about %q", tc.name, bad, tc.want)
		}
		mustCheck(t, base, "the original after "+tc.name)
	}
	if got := (&Machine{}).CheckShadowInvariants(); got != nil {
		t.Errorf("no shadow MMU: %v", got)
	}
}

// TestShadowBadActions: malformed actions around shadow paging are
// errors, never panics, and leave the machine as it was.
func TestShadowBadActions(t *testing.T) {
	for _, c := range []struct {
		name   string
		a      Action
		shadow bool
		want   string
	}{
		{"nil *Invlpg", (*Invlpg)(nil), true, "nil"},
		{"nil *CheckShadow", (*CheckShadow)(nil), true, "nil"},
		{"invlpg on vCPU 2", &Invlpg{VCPU: 2, GVA: 0x1000}, true, "no vCPU 2"},
		{"check without shadow", &CheckShadow{}, false, "needs shadow paging"},
		{"a read with a value", &Access{GVA: 0x1000, Kind: AccessRead, HasValue: true, Size: 8}, true, "only a write"},
		{"a 3-byte store", &Access{GVA: 0x1000, Kind: AccessWrite, HasValue: true, Size: 3}, true, "1, 2, 4 or 8"},
		{"a store across pages", &Access{GVA: 0x1ffe, Kind: AccessWrite, HasValue: true, Size: 4}, true, "crosses"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newTestEnv(t, Paging4, DefaultConfig())
			if c.shadow {
				if err := e.m.EnableShadow(ShadowConfig{}); err != nil {
					t.Fatal(err)
				}
			}
			e.load()
			before := machineState(e.m)
			mustNotPanic(t, c.name, func() {
				st, err := e.m.Do(c.a)
				if err == nil || !bytesContains(err.Error(), c.want) {
					t.Fatalf("error %v, want %q (%s)", err, c.want, ResultString(st.Result))
				}
			})
			if machineState(e.m) != before {
				t.Error("a refused action changed the machine")
			}
		})
	}
	// A guest whose CR3 is outside every memslot runs on the dummy root:
	// every access faults into the guest.
	e := shadowEnv(t, Paging4, ShadowConfig{})
	e.regs.CR3 = 0x7000000000
	e.load()
	st := e.doCheck(read(0x1000, false))
	if st.Result.Fault == nil || !hasFunc(st, "kvm_mmu_get_dummy_root") {
		t.Errorf("dummy root: %+v %v", st.Result, funcs(st))
	}
}

// FuzzShadowActions throws arbitrary actions at machines on shadow
// paging: no panic, refused actions change nothing, and the trace always
// encodes.
func FuzzShadowActions(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte("\x02\x07\x00\x00\x00\x40\x00\x00\x00\x00\x00\x01\x00\x00\x00\x04"))
	f.Add(bytes.Repeat([]byte{0xff}, 64))
	f.Fuzz(func(t *testing.T, data []byte) {
		fb := &fuzzBytes{b: data}
		c := shadowWorldConfigs[int(fb.u8())%len(shadowWorldConfigs)]
		e := scriptEnv(t, c.mode)
		if err := e.m.EnableShadow(c.cfg); err != nil {
			t.Fatal(err)
		}
		e.load()
		e.m.Quiet = fb.u8()&1 == 1
		for i := 0; i < 8 && fb.i < len(fb.b); i++ {
			k := fb.u8()
			var a Action
			switch k % 6 {
			case 0:
				a = &Access{GVA: GVA(fb.u64() & 0xffffffff), Kind: AccessKind(int8(fb.u8()) % 4), User: k&8 != 0,
					HasValue: k&16 != 0, Size: int(fb.u8() % 10), Value: fb.u64()}
			case 1:
				a = &SetReg{Reg: Reg(int8(fb.u8()) % 8), Op: RegOp(int8(fb.u8()) % 4), Value: fb.u64()}
			case 2:
				a = &GuestWrite{GPA: GPA(fb.u64() >> (fb.u8() & 63)), Size: int(int8(fb.u8())) % 10, Value: fb.u64()}
			case 3:
				a = &WriteEntry{GVA: GVA(fb.u64()), Level: int(int8(fb.u8())) % 7, Value: fb.u64()}
			case 4:
				a = &Invlpg{GVA: GVA(fb.u64())}
			default:
				a = &ZapGFNRange{GPA: GPA(fb.u64()>>(fb.u8()&63)) &^ pageMask, Size: PageSize}
			}
			before := machineState(e.m)
			var st Step
			var err error
			mustNotPanic(t, fmt.Sprintf("%T", a), func() { st, err = e.m.Do(a) })
			if err != nil && machineState(e.m) != before {
				t.Fatalf("%T %+v: refused (%v) but changed the machine", a, a, err)
			}
			var b bytes.Buffer
			if err := WriteJSON(&b, []Step{st}); err != nil {
				t.Fatal(err)
			}
		}
		mustNotPanic(t, "check", func() { _ = e.m.CheckShadowInvariants() })
	})
}
