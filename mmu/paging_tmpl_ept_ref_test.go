package mmu

import (
	"testing"
)

// A reference for the EPT walker written from the SDM's description of EPT
// translation (Vol. 3C, "EPT Translation Mechanism", "EPT Misconfigurations",
// "EPT Violations", "Accessed and Dirty Flags for EPT"), independently of
// KVM's mask tables, and the test environment both are checked in.

// eptEnv is one vCPU whose guest_mmu shadows a set of EPT12 tables built
// in L1 memory (16 MiB at L1 GPA 0, tables from a pool at 1 MiB).
type eptEnv struct {
	t    testing.TB
	m    *Machine
	v    *VCPU
	ept  *EPT12Tables
	caps EPTCaps
	eptp uint64
}

const (
	eptTestRAM  = 16 << 20
	eptTestPool = GPA(0x100000)
)

func newEPTEnv(t testing.TB, levels int, ad bool, caps EPTCaps) *eptEnv {
	t.Helper()
	m, err := NewMachine(DefaultConfig(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.AddMemslot(Memslot{ID: 0, NPages: eptTestRAM >> PageShift, BasePFN: 0x10000}); err != nil {
		t.Fatal(err)
	}
	ept, err := NewEPT12Tables(m, levels, eptTestPool, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	e := &eptEnv{t: t, m: m, v: m.VCPUs[0], ept: ept, caps: caps, eptp: ept.EPTP(ad)}
	m.Quiet = true
	m.initShadowEPTContext(e.v, caps, e.eptp)
	m.Quiet = false
	return e
}

// walk runs the EPT walker for l2 with the PFERR_* bits access.
func (e *eptEnv) walk(l2 GPA, access uint64) *GuestWalker {
	return e.m.eptWalkAddrGeneric(e.v, &e.v.GuestMMU, e.eptp, l2, access, 0)
}

func (e *eptEnv) mapPage(l2, l1 GPA, size, flags uint64) GPA {
	e.t.Helper()
	a, err := e.ept.Map(l2, l1, size, flags)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

func (e *eptEnv) set(l2 GPA, level int, v uint64) GPA {
	e.t.Helper()
	a, err := e.ept.SetEntry(l2, level, v)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

func (e *eptEnv) read(a GPA) uint64 {
	e.t.Helper()
	v, err := e.m.ReadGuest(a, 8)
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

// sdmAccess is what the processor is doing with the guest-physical address.
type sdmAccess struct{ read, write, fetch bool }

// pferr turns it into the error code __vmx_handle_ept_violation would give
// KVM's walker (a read is PFERR_USER).
func (a sdmAccess) pferr() uint64 {
	var ec uint64
	if a.read {
		ec |= PFErrUser
	}
	if a.write {
		ec |= PFErrWrite
	}
	if a.fetch {
		ec |= PFErrFetch
	}
	return ec
}

// sdmResult is the outcome of the SDM's translation.
type sdmResult struct {
	outcome string // "ok", "violation" or "misconfig"
	level   int    // level of the leaf, or of the entry that stopped the walk
	l1      GPA
	qual    uint64 // exit qualification bits 5:0 of a violation
	writes  map[GPA]uint64
}

// sdmReserved lists what the SDM calls reserved in a present EPT entry at
// level: address bits from MAXPHYADDR to 51; bits 7:3 of a PML5E or PML4E;
// for a PDPTE or PDE that references a table, bits 6:3; for one that maps
// a page, the bits between bit 12 and the page's alignment; bit 7 of a
// PDPTE or PDE when the processor has no page of that size.
func sdmReserved(e uint64, level, maxPhy int, caps EPTCaps) bool {
	for b := maxPhy; b <= 51; b++ {
		if e>>b&1 != 0 {
			return true
		}
	}
	ps := e>>7&1 != 0
	switch {
	case level >= 4:
		return e>>3&0x1f != 0
	case level == 1:
		return false
	case ps && level > caps.LargePageLevel:
		return true
	case ps:
		low := 12 + 9*(level-1)
		return e&((uint64(1)<<low-1)&^0xfff) != 0
	}
	return e>>3&0xf != 0
}

// sdmMisconfigured: W without R, execute-only without support, reserved
// bits, or an unsupported memory type (2, 3, 7) in an entry that maps a
// page.
func sdmMisconfigured(e uint64, level, maxPhy int, caps EPTCaps) bool {
	r, w, x := e&1 != 0, e&2 != 0, e&4 != 0
	if w && !r {
		return true
	}
	if x && !r && !w && !caps.ExecOnly {
		return true
	}
	if sdmReserved(e, level, maxPhy, caps) {
		return true
	}
	leaf := level == 1 || e>>7&1 != 0
	mt := e >> 3 & 7
	return leaf && (mt == 2 || mt == 3 || mt == 7)
}

// sdmTranslate translates gpa through the EPT rooted at eptp, reading
// entries with read. With A/D enabled (EPTP bit 6) a successful
// translation sets A in every entry it used and D in the leaf of a write;
// those writes are returned, not made.
func sdmTranslate(read func(GPA) uint64, eptp uint64, caps EPTCaps, maxPhy int, gpa GPA, acc sdmAccess) sdmResult {
	levels := int(eptp>>3&7) + 1
	table := GPA(eptp & 0x000ffffffffff000)
	and := uint64(7)
	type used struct {
		at GPA
		e  uint64
	}
	var path []used
	res := sdmResult{}
	for level := levels; level >= 1; level-- {
		shift := 12 + 9*(level-1)
		at := table + GPA(8*(uint64(gpa)>>shift&511))
		e := read(at)
		and &= e & 7
		res.level = level
		if e&7 == 0 {
			res.outcome = "violation"
			break
		}
		if sdmMisconfigured(e, level, maxPhy, caps) {
			res.outcome = "misconfig"
			return res
		}
		path = append(path, used{at, e})
		if level == 1 || e>>7&1 != 0 {
			res.l1 = GPA(e&(0x000fffffffffffff&^(uint64(1)<<shift-1)) | uint64(gpa)&(uint64(1)<<shift-1))
			break
		}
		table = GPA(e & 0x000ffffffffff000)
	}
	if res.outcome == "" && (acc.read && and&1 == 0 || acc.write && and&2 == 0 || acc.fetch && and&4 == 0) {
		res.outcome = "violation"
	}
	if res.outcome == "violation" {
		res.l1 = 0
		if acc.read {
			res.qual |= 1
		}
		if acc.write {
			res.qual |= 2
		}
		if acc.fetch {
			res.qual |= 4
		}
		res.qual |= and << 3
		return res
	}
	res.outcome = "ok"
	if eptp>>6&1 != 0 {
		res.writes = map[GPA]uint64{}
		for i, u := range path {
			n := u.e | 1<<8
			if acc.write && i == len(path)-1 {
				n |= 1 << 9
			}
			if n != u.e {
				res.writes[u.at] = n
			}
		}
	}
	return res
}

// walkerOutcome reads the same verdict off KVM's walker.
func walkerOutcome(w *GuestWalker) sdmResult {
	r := sdmResult{level: w.Level}
	switch {
	case w.Fault == nil:
		r.outcome, r.l1 = "ok", w.GPA
	case w.Fault.Exit != nil && w.Fault.Exit.Reason == ExitEPTMisconfig:
		r.outcome = "misconfig"
	default:
		r.outcome = "violation"
		if w.Fault.Exit != nil {
			r.qual = w.Fault.Exit.Qualification
		}
	}
	return r
}
