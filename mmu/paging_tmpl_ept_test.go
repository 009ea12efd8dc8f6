package mmu

import (
	"fmt"
	"math/rand"
	"testing"
)

// wb is the write-back memory type of an EPT leaf.
const wb = EPTMemWB << EPTMTShift

var (
	accRead  = sdmAccess{read: true}
	accWrite = sdmAccess{write: true}
	accFetch = sdmAccess{fetch: true}
	accTable = sdmAccess{read: true, write: true} // a guest paging-structure access with EPT A/D
)

// checkAgainstSDM runs both the walker and the reference on a copy of the
// machine and compares verdict, level, L1 GPA, qualification and A/D.
func checkAgainstSDM(t *testing.T, e *eptEnv, l2 GPA, acc sdmAccess) (*GuestWalker, sdmResult) {
	t.Helper()
	read := func(a GPA) uint64 {
		v, err := e.m.ReadGuest(a, 8)
		if err != nil {
			t.Fatalf("reference read of %s: %v", a, err)
		}
		return v
	}
	want := sdmTranslate(read, e.eptp, e.caps, e.m.Config.MaxPhyAddr, l2, acc)
	before := snapshot(e.m)
	w := e.walk(l2, acc.pferr())
	got := walkerOutcome(w)
	if got.outcome != want.outcome || got.level != want.level || got.l1 != want.l1 || got.qual != want.qual {
		t.Fatalf("L2 GPA %s %+v: walker %s at level %d → %s qual %#x; SDM %s at level %d → %s qual %#x (fault: %v)",
			l2, acc, got.outcome, got.level, got.l1, got.qual, want.outcome, want.level, want.l1, want.qual, w.Fault)
	}
	diff := before.diff(snapshot(e.m))
	if len(diff) != len(want.writes) {
		t.Fatalf("L2 GPA %s %+v: the walker wrote %v, the SDM sets %v", l2, acc, diff, want.writes)
	}
	for at, v := range want.writes {
		if got := read(at); got != v {
			t.Fatalf("L2 GPA %s: entry at %s is %#x, the SDM sets %#x", l2, at, got, v)
		}
	}
	return w, want
}

func TestEPTWalkCases(t *testing.T) {
	const l2 = GPA(0x7f_4020_3000)
	const l1 = GPA(0x45_6000)
	noExec := DefaultEPTCaps()
	noExec.ExecOnly = false
	only2M := DefaultEPTCaps()
	only2M.LargePageLevel = 2
	cases := []struct {
		name    string
		levels  int
		ad      bool
		caps    EPTCaps
		setup   func(e *eptEnv)
		acc     sdmAccess
		outcome string
		level   int
		qual    uint64
	}{
		{"4-level read", 4, false, DefaultEPTCaps(), func(e *eptEnv) { e.mapPage(l2, l1, PageSize, EPTRWX|wb) },
			accRead, "ok", 1, 0},
		{"5-level fetch", 5, false, DefaultEPTCaps(), func(e *eptEnv) { e.mapPage(l2, l1, PageSize, EPTRead|EPTExec|wb) },
			accFetch, "ok", 1, 0},
		{"write to R-X page", 4, false, DefaultEPTCaps(), func(e *eptEnv) { e.mapPage(l2, l1, PageSize, EPTRead|EPTExec|wb) },
			accWrite, "violation", 1, EPTViolationAccWrite | EPTViolationProtRead | EPTViolationProtExec},
		{"fetch from RW- page", 4, false, DefaultEPTCaps(), func(e *eptEnv) { e.mapPage(l2, l1, PageSize, EPTRead|EPTWrite|wb) },
			accFetch, "violation", 1, EPTViolationAccInstr | EPTViolationProtRead | EPTViolationProtWrite},
		{"execute-only page fetched", 4, false, DefaultEPTCaps(), func(e *eptEnv) { e.mapPage(l2, l1, PageSize, EPTExec|wb) },
			accFetch, "ok", 1, 0},
		{"execute-only page read", 4, false, DefaultEPTCaps(), func(e *eptEnv) { e.mapPage(l2, l1, PageSize, EPTExec|wb) },
			accRead, "violation", 1, EPTViolationAccRead | EPTViolationProtExec},
		{"execute-only without support", 4, false, noExec, func(e *eptEnv) { e.mapPage(l2, l1, PageSize, EPTExec|wb) },
			accFetch, "misconfig", 1, 0},
		{"write-only is misconfigured", 4, false, DefaultEPTCaps(), func(e *eptEnv) { e.mapPage(l2, l1, PageSize, EPTWrite|wb) },
			accRead, "misconfig", 1, 0},
		{"memory type 2", 4, false, DefaultEPTCaps(), func(e *eptEnv) { e.mapPage(l2, l1, PageSize, EPTRWX|2<<3) },
			accRead, "misconfig", 1, 0},
		{"memory type 7 on a 2 MiB page", 4, false, DefaultEPTCaps(),
			func(e *eptEnv) { e.mapPage(l2&^0x1fffff, 0x400000, 2<<20, EPTRWX|7<<3) }, accRead, "misconfig", 2, 0},
		{"2 MiB page", 4, false, DefaultEPTCaps(), func(e *eptEnv) { e.mapPage(l2&^0x1fffff, 0x400000, 2<<20, EPTRWX|wb) },
			accWrite, "ok", 2, 0},
		{"1 GiB page", 4, false, DefaultEPTCaps(), func(e *eptEnv) { e.mapPage(l2&^0x3fffffff, 0, 1<<30, EPTRWX|wb) },
			accRead, "ok", 3, 0},
		{"1 GiB page not offered", 4, false, only2M, func(e *eptEnv) { e.mapPage(l2&^0x3fffffff, 0, 1<<30, EPTRWX|wb) },
			accRead, "misconfig", 3, 0},
		{"2 MiB page with bit 13 set", 4, false, DefaultEPTCaps(),
			func(e *eptEnv) { e.set(l2, 2, 0x402000|EPTRWX|wb|EPTPageSize) }, accRead, "misconfig", 2, 0},
		{"bit 7 in a PML4E", 4, false, DefaultEPTCaps(), func(e *eptEnv) {
			e.mapPage(l2, l1, PageSize, EPTRWX|wb)
			a, _ := e.ept.EntryAddr(l2, 4)
			e.m.WriteGuest(a, 8, e.read(a)|EPTPageSize)
		}, accRead, "misconfig", 4, 0},
		{"memory type bits in a PDE", 4, false, DefaultEPTCaps(), func(e *eptEnv) {
			e.mapPage(l2, l1, PageSize, EPTRWX|wb)
			a, _ := e.ept.EntryAddr(l2, 2)
			e.m.WriteGuest(a, 8, e.read(a)|wb)
		}, accRead, "misconfig", 2, 0},
		{"address above MAXPHYADDR", 4, false, DefaultEPTCaps(),
			func(e *eptEnv) { e.mapPage(l2, l1|GPA(1)<<47, PageSize, EPTRWX|wb) }, accRead, "misconfig", 1, 0},
		{"bits 52-62 are ignored", 4, false, DefaultEPTCaps(),
			func(e *eptEnv) { e.set(l2, 1, uint64(l1)|EPTRWX|wb|0x7ff<<52|EPTSuppressVE) }, accRead, "ok", 1, 0},
		{"PTE not present", 4, false, DefaultEPTCaps(), func(e *eptEnv) { e.set(l2, 1, uint64(l1)|wb) },
			accWrite, "violation", 1, EPTViolationAccWrite},
		{"PML4E not present", 4, false, DefaultEPTCaps(), func(e *eptEnv) {}, accRead, "violation", 4, EPTViolationAccRead},
		{"read-only PDPTE above a RWX PTE", 4, false, DefaultEPTCaps(), func(e *eptEnv) {
			e.mapPage(l2, l1, PageSize, EPTRWX|wb)
			a, _ := e.ept.EntryAddr(l2, 3)
			e.m.WriteGuest(a, 8, e.read(a)&^(EPTWrite|EPTExec))
		}, accFetch, "violation", 1, EPTViolationAccInstr | EPTViolationProtRead},
		{"table access needs R and W", 4, true, DefaultEPTCaps(), func(e *eptEnv) { e.mapPage(l2, l1, PageSize, EPTRead|wb) },
			accTable, "violation", 1, EPTViolationAccRead | EPTViolationAccWrite | EPTViolationProtRead},
		{"A/D: a write sets A everywhere and D on the leaf", 4, true, DefaultEPTCaps(),
			func(e *eptEnv) { e.mapPage(l2, l1, PageSize, EPTRWX|wb) }, accWrite, "ok", 1, 0},
		{"A/D on a 5-level read", 5, true, DefaultEPTCaps(),
			func(e *eptEnv) { e.mapPage(l2&^0x1fffff, 0x400000, 2<<20, EPTRWX|wb) }, accRead, "ok", 2, 0},
		{"A/D: nothing written on a violation", 4, true, DefaultEPTCaps(),
			func(e *eptEnv) { e.mapPage(l2, l1, PageSize, EPTRead|wb) }, accWrite, "violation", 1,
			EPTViolationAccWrite | EPTViolationProtRead},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEPTEnv(t, c.levels, c.ad, c.caps)
			c.setup(e)
			w, want := checkAgainstSDM(t, e, l2, c.acc)
			if want.outcome != c.outcome || want.level != c.level || want.qual != c.qual {
				t.Fatalf("expected %s at level %d qual %#x, got %s at level %d qual %#x (%v)", c.outcome, c.level,
					c.qual, want.outcome, want.level, want.qual, w.Fault)
			}
			if c.ad && c.outcome == "ok" && len(want.writes) == 0 {
				t.Fatalf("an A/D walk that succeeded wrote nothing")
			}
		})
	}
}

// TestEPTWalkUnreachableTable: an EPT12 table outside every memslot ends
// the walk as an EPT violation whose bits 5:3 are the AND of the levels
// above (all ones at the top level), which is KVM's answer; the processor
// could never be there.
func TestEPTWalkUnreachableTable(t *testing.T) {
	const l2 = GPA(0x1234_5000)
	e := newEPTEnv(t, 4, false, DefaultEPTCaps())
	e.set(l2, 4, uint64(0x4000_0000)|EPTRead|EPTExec) // a PDPT beyond the 16 MiB slot
	w := e.walk(l2, PFErrUser)
	if w.Fault == nil || w.Fault.Exit.Reason != ExitEPTViolation || w.Level != 3 {
		t.Fatalf("want an EPT violation at level 3, got %+v", w.Fault)
	}
	want := uint64(EPTViolationAccRead | EPTViolationProtRead | EPTViolationProtExec)
	if w.Fault.Exit.Qualification != want {
		t.Fatalf("qualification %#x, want %#x", w.Fault.Exit.Qualification, want)
	}
	e.ept.Root = 0x4000_0000
	w = e.m.eptWalkAddrGeneric(e.v, &e.v.GuestMMU, e.ept.EPTP(false), l2, PFErrUser, 0)
	if w.Fault.Exit.Qualification != EPTViolationAccRead|EPTViolationProtRead|EPTViolationProtWrite|EPTViolationProtExec {
		t.Fatalf("an unreachable top table: qualification %#x, want all three rights", w.Fault.Exit.Qualification)
	}
}

// TestEPTProtectCleanGPTE: with A/D, a read through a writable clean leaf
// grants no write (so EPT02 maps it read-only) and sets only A; a write
// sets D; without A/D the write right stays.
func TestEPTProtectCleanGPTE(t *testing.T) {
	const l2, l1 = GPA(0x20_0000), GPA(0x30_0000)
	for _, ad := range []bool{false, true} {
		e := newEPTEnv(t, 4, ad, DefaultEPTCaps())
		leaf := e.mapPage(l2, l1, PageSize, EPTRWX|wb)
		w := e.walk(l2, PFErrUser)
		if w.Fault != nil {
			t.Fatal(w.Fault)
		}
		if got := w.PTEAccess&AccWrite != 0; got == ad {
			t.Fatalf("ad=%t: a read grants write=%t", ad, got)
		}
		if got := e.read(leaf) & (EPTAccessed | EPTDirty); ad && got != EPTAccessed || !ad && got != 0 {
			t.Fatalf("ad=%t: leaf A/D after a read = %#x", ad, got)
		}
		w = e.walk(l2, PFErrWrite)
		if w.Fault != nil || w.PTEAccess&AccWrite == 0 {
			t.Fatalf("ad=%t: a write: %v, access %d", ad, w.Fault, w.PTEAccess)
		}
		if ad && e.read(leaf)&EPTDirty == 0 {
			t.Fatal("a write with A/D did not set D")
		}
		if w = e.walk(l2, PFErrUser); ad && w.PTEAccess&AccWrite == 0 {
			t.Fatal("a read of a dirty page still grants no write")
		}
	}
}

// TestEPTPermissionBitmask: with EPT every slot faults exactly when a
// write lacks W, a read (PFERR_USER) lacks R (ACC_USER) or a fetch lacks X,
// whatever the other bits.
func TestEPTPermissionBitmask(t *testing.T) {
	perms := updatePermissionBitmaskEPT()
	for i := range perms {
		pfec := uint64(i) << 1
		for acc := 0; acc < 8; acc++ {
			want := pfec&PFErrWrite != 0 && acc&AccWrite == 0 || pfec&PFErrUser != 0 && acc&AccUser == 0 ||
				pfec&PFErrFetch != 0 && acc&AccExec == 0
			if got := perms[i]>>acc&1 != 0; got != want {
				t.Errorf("pfec %#x access %s: fault %t, want %t", pfec, accessString(acc), got, want)
			}
		}
	}
}

// TestEPTWalkRandom compares the walker with the SDM reference on random
// EPT12 paths: every level's entry takes random R/W/X, memory type, bit 7,
// A/D and now and then a reserved address bit, under random capabilities.
func TestEPTWalkRandom(t *testing.T) {
	r := rand.New(rand.NewSource(6))
	counts := map[string]int{}
	for i := 0; i < 3000; i++ {
		caps := EPTCaps{ExecOnly: r.Intn(2) == 0, LargePageLevel: 1 + r.Intn(3), AD: true, FiveLevel: true}
		levels := 4 + r.Intn(2)
		e := newEPTEnv(t, levels, r.Intn(2) == 0, caps)
		l2 := GPA(r.Uint64() & bits(12, 12+9*levels-1))
		table := e.ept.Root
		for level := levels; level >= 1; level-- {
			at := table + GPA(8*spteIndex(l2, level))
			var next GPA
			if level > 1 {
				next = e.ept.next
				e.ept.next += PageSize
			}
			v := randomEPTEntry(r, level, next)
			if err := e.m.WriteGuest(at, 8, v); err != nil {
				t.Fatal(err)
			}
			if level == 1 || v&EPTPageSize != 0 || v&EPTRWX == 0 {
				break
			}
			table = next
		}
		acc := []sdmAccess{accRead, accWrite, accFetch, accTable}[r.Intn(4)]
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			_, want := checkAgainstSDM(t, e, l2, acc)
			counts[want.outcome]++
		})
	}
	t.Logf("outcomes: %v", counts)
	for _, k := range []string{"ok", "violation", "misconfig"} {
		if counts[k] < 100 {
			t.Errorf("only %d random walks ended %s: the generator does not exercise it", counts[k], k)
		}
	}
}

// randomEPTEntry makes an entry at level: usually R/W/X set and WB for a
// leaf, sometimes anything; next is the table it points to (0 at level 1).
func randomEPTEntry(r *rand.Rand, level int, next GPA) uint64 {
	v := uint64(r.Intn(8))
	if r.Intn(8) > 0 {
		v = []uint64{EPTRWX, EPTRWX, EPTRWX, EPTRead | EPTWrite, EPTRead | EPTExec, EPTRead}[r.Intn(6)]
	}
	leaf := level == 1 || (level == 2 && r.Intn(4) == 0) || (level == 3 && r.Intn(8) == 0)
	if leaf {
		v |= uint64(r.Intn(0x40000)) << PageShift &^ (uint64(1)<<(PageShift+9*(level-1)) - 1) & bits(12, 25)
		if r.Intn(6) > 0 {
			v |= wb
		} else {
			v |= uint64(r.Intn(8)) << EPTMTShift
		}
		if level > 1 {
			v |= EPTPageSize
		}
		v |= uint64(r.Intn(4)) << 8 // A, D
	} else {
		v |= uint64(next) | uint64(r.Intn(2))<<8
	}
	switch r.Intn(40) {
	case 0:
		v |= 1 << (46 + r.Intn(6)) // above MAXPHYADDR 46
	case 1:
		v |= 1 << (3 + r.Intn(5)) // bits 7:3
	case 2:
		if leaf {
			v |= uint64(1) << (12 + r.Intn(18)) // inside a large page's frame
		}
	}
	return v
}
