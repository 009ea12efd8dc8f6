package mmu

import (
	"bytes"
	"fmt"
	"testing"
)

// scriptEnv builds a guest in mode with eight 4 KiB pages mapped at
// scriptGVA(mode, i) (and, outside 32-bit paging, a 2 MiB page), ready for
// testScript.
func scriptEnv(t testing.TB, mode PagingMode) *testEnv {
	e := newTestEnv(t, mode, DefaultConfig())
	for i := 0; i < 8; i++ {
		e.mapPage(scriptGVA(mode, i), testGPA+GPA(i)*PageSize, PageSize, PTWritable|PTUser)
	}
	if mode != Paging32 {
		e.mapPage(testGVA(mode)&^0x3fffffff+0x200000, 0x600000, 2<<20, PTWritable|PTUser)
	}
	e.load()
	return e
}

func scriptGVA(mode PagingMode, i int) GVA { return testGVA(mode) + GVA(i)*0x1000 }

// testScript is a deterministic mix of n actions for a scriptEnv guest:
// accesses that succeed and fault, register writes, edits of the guest's
// own entries, stores and prints. No action is malformed.
func testScript(mode PagingMode, n int) []Action {
	x := uint64(0x9e3779b97f4a7c15) ^ uint64(mode)
	rnd := func() uint64 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		return x
	}
	var out []Action
	for i := 0; i < n; i++ {
		r := rnd()
		src := Source{Line: i + 1, Text: fmt.Sprintf("action %d", i)}
		gva := scriptGVA(mode, int(r>>8)%8) + GVA(r>>16)&0xff8
		switch r % 10 {
		case 0, 1, 2, 3:
			out = append(out, &Access{Source: src, GVA: gva, Kind: AccessKind(r >> 24 % 3), User: r>>26&1 == 1})
		case 4:
			if mode != Paging32 {
				big := testGVA(mode)&^0x3fffffff + 0x200000 + GVA(r>>20)&0x1ffff8
				out = append(out, &Access{Source: src, GVA: big, Kind: AccessKind(r >> 24 % 3)})
			} else {
				out = append(out, &Access{Source: src, GVA: 0x10000000, User: true}) // not mapped
			}
		case 5:
			var w SetReg
			switch r >> 8 % 5 {
			case 0:
				w = SetReg{Reg: RegCR0, Op: RegOp(1 + r>>12%2), Value: CR0WP}
			case 1:
				w = SetReg{Reg: RegCR4, Op: RegOp(1 + r>>12%2), Value: CR4SMAP}
			case 2:
				w = SetReg{Reg: RegCR4, Op: RegOp(1 + r>>12%2), Value: CR4SMEP}
			case 3:
				w = SetReg{Reg: RegRFLAGS, Op: RegOp(1 + r>>12%2), Value: RFLAGSAC}
			default:
				w = SetReg{Reg: RegPKRU, Value: r >> 32}
			}
			w.Source = src
			out = append(out, &w)
		case 6:
			// The guest edits one of its PTEs: new flags, same frame, and
			// sometimes not present.
			flags := PTPresent | (r>>30)&(PTWritable|PTUser|PTAccessed|PTDirty)
			if r>>40%8 == 0 {
				flags = 0
			}
			page := int(r>>8) % 8
			out = append(out, &WriteEntry{Source: src, GVA: scriptGVA(mode, page), Level: 1,
				Value: uint64(testGPA) + uint64(page)*PageSize | flags})
		case 7:
			out = append(out, &GuestWrite{Source: src, GPA: testGPA + GPA(r>>8)&0x7ff8, Size: 8, Value: r})
		case 8:
			switch r >> 8 % 3 {
			case 0:
				out = append(out, &PrintEntry{Source: src, GVA: gva, Level: 1 + int(r>>12)%2})
			case 1:
				out = append(out, &PrintReg{Source: src, Reg: Reg(r >> 12 % 6)})
			default:
				out = append(out, &PrintMem{Source: src, GPA: testGPA + GPA(r>>12)&0xff8, Size: 8})
			}
		case 9:
			if mode == PagingPAE {
				// Rewrite CR3: reloads the PDPTRs.
				out = append(out, &SetReg{Source: src, Reg: RegCR3, Value: uint64(testPool)})
			} else {
				out = append(out, &Access{Source: src, GVA: gva, Kind: AccessWrite, User: true, Implicit: false})
			}
		}
	}
	return out
}

func runScript(t testing.TB, m *Machine, script []Action) []Step {
	t.Helper()
	var steps []Step
	for i, a := range script {
		st, err := m.Do(a)
		if err != nil {
			t.Fatalf("action %d (%T %+v): %v", i, a, a, err)
		}
		steps = append(steps, st)
	}
	return steps
}

func traceBytes(t testing.TB, steps []Step) ([]byte, []byte) {
	t.Helper()
	var j, x bytes.Buffer
	if err := WriteJSON(&j, steps); err != nil {
		t.Fatal(err)
	}
	if err := WriteText(&x, steps); err != nil {
		t.Fatal(err)
	}
	return j.Bytes(), x.Bytes()
}

// TestDeterminism: the same script on two fresh machines gives the same
// trace byte for byte, and the same final machine.
func TestDeterminism(t *testing.T) {
	for _, mode := range pagingModes {
		t.Run(modeShort(mode), func(t *testing.T) {
			script := testScript(mode, 120)
			m1, m2 := scriptEnv(t, mode).m, scriptEnv(t, mode).m
			j1, x1 := traceBytes(t, runScript(t, m1, script))
			j2, x2 := traceBytes(t, runScript(t, m2, script))
			if !bytes.Equal(j1, j2) || !bytes.Equal(x1, x2) {
				t.Fatal("two runs of the same script differ")
			}
			if machineState(m1) != machineState(m2) {
				t.Fatal("two runs of the same script end in different machines")
			}
			// A timeline records the same trace as running the script.
			tl := NewTimeline(scriptEnv(t, mode).m, script)
			if tl.Err != nil {
				t.Fatal(tl.Err)
			}
			j3, _ := traceBytes(t, tl.Steps)
			if !bytes.Equal(j1, j3) {
				t.Fatal("the timeline's trace differs from running the script")
			}
			// The script must exercise both outcomes and A/D writes.
			var ok, faults, writes int
			for _, st := range tl.Steps {
				if st.Result.Fault != nil {
					faults++
				} else if st.Result.OK {
					ok++
				}
				for _, ev := range st.Events {
					if ev.Kind == EvWrite {
						writes++
					}
				}
			}
			if ok == 0 || faults == 0 || writes == 0 {
				t.Errorf("weak script: %d ok, %d faults, %d writes", ok, faults, writes)
			}
		})
	}
}

// memState is a machine's memory and registers only: what a timeline step
// in the middle of an action must already show.
func memState(m *Machine) string {
	s := ""
	for _, v := range m.VCPUs {
		s += fmt.Sprintf("regs %+v pdptrs %x\n", v.Regs, v.PDPTRs)
	}
	snap := snapshot(m)
	return s + fmt.Sprint(len(snap)) + fmt.Sprint(snap)
}

// TestTimelineSeek: Seek(k) for every step equals running the script
// step by step; in the middle of an action memory shows exactly the writes
// of the events so far.
func TestTimelineSeek(t *testing.T) {
	for _, mode := range pagingModes {
		t.Run(modeShort(mode), func(t *testing.T) {
			script := testScript(mode, 60)
			tl, initial := newTimelineOf(t, scriptEnv(t, mode).m, script)
			// Reference states: before[i] is the machine before action i.
			cur := scriptEnv(t, mode).m
			var before []*Machine
			for _, a := range script {
				before = append(before, cur.Clone())
				if _, err := cur.Do(a); err != nil {
					t.Fatal(err)
				}
			}
			before = append(before, cur)

			total := 1
			for _, st := range tl.Steps {
				total += max(1, len(st.Events))
			}
			if tl.Len() != total {
				t.Fatalf("Len() = %d, want %d", tl.Len(), total)
			}
			states := make([]string, tl.Len())
			for k := 0; k < tl.Len(); k++ {
				v, err := tl.Seek(k)
				if err != nil {
					t.Fatalf("Seek(%d): %v", k, err)
				}
				states[k] = machineState(v.Machine)
				if v.Step != k {
					t.Fatalf("Seek(%d).Step = %d", k, v.Step)
				}
				a, ev := tl.Locate(k)
				if v.Action != a {
					t.Fatalf("Seek(%d).Action = %d, Locate says %d", k, v.Action, a)
				}
				if k == 0 {
					if a != -1 || v.Event != nil || states[0] != initial {
						t.Fatalf("step 0 is not the initial state")
					}
					continue
				}
				if tl.StepOf(a, ev) != k {
					t.Fatalf("StepOf(Locate(%d)) = %d", k, tl.StepOf(a, ev))
				}
				events := tl.Steps[a].Events
				last := len(events) == 0 || ev == len(events)-1
				if last {
					if states[k] != machineState(before[a+1]) {
						t.Fatalf("Seek(%d), the end of action %d (%T), differs from running the script", k, a, script[a])
					}
				} else {
					// Mid-action: memory is the state before the action plus
					// the writes reported so far.
					want := before[a].Clone()
					for _, e := range events[:ev+1] {
						if e.Kind == EvWrite && e.HasHPA {
							if _, err := want.Mem.Write(e.HPA, e.Size, e.New); err != nil {
								t.Fatal(err)
							}
						}
					}
					gs, ws := snapshot(v.Machine), snapshot(want)
					if d := ws.diff(gs); len(d) > 0 {
						t.Fatalf("Seek(%d), event %d of action %d: memory differs from the events so far: %v", k, ev, a, d)
					}
				}
				if len(events) > 0 && (v.Event == nil || *v.Event != events[ev] || len(v.Events) != ev+1) {
					t.Fatalf("Seek(%d): wrong event", k)
				}
			}
			// Seeking again, backwards, and in a scrambled order gives the
			// same machines; changing a view's machine changes nothing else.
			order := make([]int, 0, 3*tl.Len())
			for k := tl.Len() - 1; k >= 0; k-- {
				order = append(order, k)
			}
			for i := 0; i < 2*tl.Len(); i++ {
				order = append(order, (i*7919+13)%tl.Len())
			}
			for _, k := range order {
				v, err := tl.Seek(k)
				if err != nil {
					t.Fatal(err)
				}
				if machineState(v.Machine) != states[k] {
					t.Fatalf("Seek(%d) is not stable", k)
				}
				_, _ = v.Machine.Do(&GuestWrite{GPA: testGPA, Size: 8, Value: 0xdead})
				_, _ = v.Machine.Do(&Access{GVA: scriptGVA(mode, 0), Kind: AccessWrite})
			}
			for _, k := range []int{-1, tl.Len(), tl.Len() + 100} {
				if _, err := tl.Seek(k); err == nil {
					t.Errorf("Seek(%d) of %d steps is not an error", k, tl.Len())
				}
			}
		})
	}
}

// TestTimelineError: a malformed action stops the timeline; the steps
// before it are kept and can be seen.
func TestTimelineError(t *testing.T) {
	script := testScript(Paging4, 20)
	bad := 12
	script = append(script[:bad:bad], append([]Action{&Access{VCPU: 3, GVA: 0x1000}}, script[bad:]...)...)
	tl := NewTimeline(scriptEnv(t, Paging4).m, script)
	if tl.Err == nil || tl.ErrStep != bad || len(tl.Steps) != bad {
		t.Fatalf("Err %v ErrStep %d, %d steps", tl.Err, tl.ErrStep, len(tl.Steps))
	}
	m := scriptEnv(t, Paging4).m
	runScript(t, m, script[:bad])
	v, err := tl.Seek(tl.Len() - 1)
	if err != nil {
		t.Fatal(err)
	}
	if machineState(v.Machine) != machineState(m) {
		t.Fatal("the last step before the error differs from running the script")
	}
	if _, err := tl.Seek(tl.Len()); err == nil {
		t.Fatal("seeking past the error is not an error")
	}
	// An empty script has one step, the initial state.
	empty := NewTimeline(m, nil)
	if empty.Len() != 1 {
		t.Fatalf("empty timeline has %d steps", empty.Len())
	}
	if v, err := empty.Seek(0); err != nil || machineState(v.Machine) != machineState(m) {
		t.Fatalf("empty timeline step 0: %v", err)
	}
}

// TestTimelineQuiet: a quiet machine's timeline has one step per action.
func TestTimelineQuiet(t *testing.T) {
	script := testScript(Paging5, 30)
	e := scriptEnv(t, Paging5)
	e.m.Quiet = true
	tl := NewTimeline(e.m, script)
	if tl.Err != nil || tl.Len() != len(script)+1 {
		t.Fatalf("quiet timeline: %v, %d steps", tl.Err, tl.Len())
	}
	m := scriptEnv(t, Paging5).m
	for k := 1; k < tl.Len(); k++ {
		if _, err := m.Do(script[k-1]); err != nil {
			t.Fatal(err)
		}
		v, err := tl.Seek(k)
		if err != nil {
			t.Fatal(err)
		}
		m.Quiet = true
		if machineState(v.Machine) != machineState(m) {
			t.Fatalf("quiet Seek(%d) differs", k)
		}
		m.Quiet = false
	}
}

// TestCloneIndependence: a clone shares pages until one side writes, and
// nothing one side does leaks into the other.
func TestCloneIndependence(t *testing.T) {
	for _, mode := range pagingModes {
		t.Run(modeShort(mode), func(t *testing.T) {
			e := scriptEnv(t, mode)
			m := e.m
			gva := scriptGVA(mode, 0)
			orig := machineState(m)
			c := m.Clone()
			if machineState(c) != orig {
				t.Fatal("a clone differs from its original")
			}
			// Copy on write: pages are shared right after the clone.
			leafHPA, _ := m.GPAToHPA(e.path(gva)[1])
			pfn := leafHPA.PFN()
			if m.Mem.pages[pfn] != c.Mem.pages[pfn] {
				t.Fatal("a fresh clone does not share its pages")
			}
			// Writes to the clone: A/D bits, a store, registers, a new slot.
			runScript(t, c, []Action{
				&Access{GVA: gva, Kind: AccessWrite, User: true},
				&GuestWrite{GPA: testGPA, Size: 8, Value: 42},
				&SetReg{Reg: RegCR0, Op: RegClearBits, Value: CR0WP},
				&SetReg{Reg: RegPKRU, Value: 0x55},
			})
			c.VCPUs[0].PDPTRs[0] ^= 1
			if err := c.AddMemslot(Memslot{ID: 9, BaseGFN: 0x80000, NPages: 16, BasePFN: 0x30000}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Mem.AllocPage(); err != nil {
				t.Fatal(err)
			}
			if machineState(m) != orig {
				t.Fatal("writes to a clone leaked into the original")
			}
			if m.Mem.pages[pfn] == c.Mem.pages[pfn] {
				t.Fatal("the written page is still shared")
			}
			if m.gfnToMemslot(0x80000) != nil || m.Mem.used[0x30000] {
				t.Fatal("the clone's memslot leaked into the original")
			}
			// Writes to the original do not reach the clone, nor a clone of
			// the clone.
			cs := machineState(c)
			cc := c.Clone()
			runScript(t, m, []Action{
				&Access{GVA: scriptGVA(mode, 1), Kind: AccessWrite},
				&GuestWrite{GPA: testGPA + 8, Size: 8, Value: 7},
				&SetReg{Reg: RegCR4, Op: RegSetBits, Value: CR4SMAP},
			})
			if machineState(c) != cs || machineState(cc) != cs {
				t.Fatal("writes to the original leaked into a clone")
			}
			runScript(t, cc, []Action{&GuestWrite{GPA: testGPA + 16, Size: 8, Value: 9}})
			if machineState(c) != cs {
				t.Fatal("writes to a clone of a clone leaked into its parent")
			}
			// Both sides allocate the same frame independently.
			p1, err1 := m.Mem.AllocPage()
			p2, err2 := cc.Mem.AllocPage()
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			if _, err := m.Mem.Write(p1.HPA(), 8, 1); err != nil {
				t.Fatal(err)
			}
			if v, _ := cc.Mem.Read(p2.HPA(), 8); p1 == p2 && v != 0 {
				t.Fatal("an allocated frame is shared between clones")
			}
			// Freeing a page in a clone leaves the original's copy.
			c2 := m.Clone()
			c2.Mem.FreePage(p1)
			if v, _ := m.Mem.Read(p1.HPA(), 8); v != 1 {
				t.Fatal("FreePage in a clone freed the original's page")
			}
		})
	}
}
