package mmu

// A second translator, written straight from the Intel SDM (vol. 3A, chapter
// 4: "Paging") with no permission tables and no code shared with the walker
// besides the types and the memory reads. The fuzzer checks the walker
// against it.
//
// Where KVM's behaviour differs from the SDM the kernel wins, because the
// engine models KVM; each such place is marked "KVM:" below.

// refCPU is the state the reference needs.
type refCPU struct {
	cr0, cr3, cr4, efer, rflags, pkru uint64
	pdptr                             [4]uint64 // PAE only, as loaded
	maxPhy                            int
	pse36, gbpages                    bool
}

// refAccess is one access: what kind and from which privilege.
type refAccess struct {
	gva                          uint64
	write, fetch, user, implicit bool
}

// refOut is what the reference says happens.
type refOut struct {
	gp    bool   // #GP before any walk (non-canonical address)
	fault bool   // #PF
	ec    uint64 // its error code
	level int    // level where the walk stopped (leaf level on success)
	gpa   uint64
	reads int // paging-structure entries read from memory
	// writes are the final values of the entries whose A/D bits the walk
	// set, by guest-physical address.
	writes map[uint64]uint64
	size   int // entry size
}

// refMode is 0 (no paging), 2 (32-bit), 3 (PAE), 4 or 5, per SDM 4.1.1.
func refMode(c *refCPU) int {
	if c.cr0&(1<<31) == 0 {
		return 0
	}
	if c.cr4&(1<<5) == 0 {
		return 2
	}
	if c.efer&(1<<10) == 0 {
		return 3
	}
	if c.cr4&(1<<12) != 0 {
		return 5
	}
	return 4
}

func refMask(lo, hi int) uint64 {
	var m uint64
	for i := lo; i <= hi && i < 64; i++ {
		m |= 1 << uint(i)
	}
	return m
}

// refLoadPDPTEs says whether MOV to CR3 (or any write that loads the PDPTE
// registers in PAE mode) succeeds, and what it loads (SDM 4.4.1): a present
// PDPTE must have bits 2:1, 8:5 and 63:MAXPHYADDR clear, else #GP.
func refLoadPDPTEs(c *refCPU, read func(uint64, int) (uint64, bool)) bool {
	base := c.cr3 & 0xffffffe0
	bad := refMask(1, 2) | refMask(5, 8) | refMask(c.maxPhy, 63)
	for i := 0; i < 4; i++ {
		v, ok := read(base+uint64(8*i), 8)
		if !ok {
			return false // KVM: an unreadable PDPT fails the load
		}
		if v&1 != 0 && v&bad != 0 {
			return false
		}
		c.pdptr[i] = v
	}
	return true
}

// refTranslate translates a.gva the way the SDM describes.
func refTranslate(c *refCPU, a refAccess, read func(uint64, int) (uint64, bool)) refOut {
	mode := refMode(c)
	out := refOut{writes: map[uint64]uint64{}}
	if mode == 0 {
		out.gpa = a.gva
		return out
	}
	wide := mode != 2
	out.size = 4
	if wide {
		out.size = 8
	}
	// Canonical addresses (SDM 3.3.7.1): in 4-level paging bits 63:47 are
	// copies of bit 47, in 5-level bits 63:56 copies of bit 56.
	if mode >= 4 {
		top := 47
		if mode == 5 {
			top = 56
		}
		hi := a.gva >> uint(top)
		if hi != 0 && hi != (1<<uint(64-top))-1 {
			out.gp = true
			return out
		}
	}
	nxe := c.efer&(1<<11) != 0
	pse := c.cr4&(1<<4) != 0
	wp := c.cr0&(1<<16) != 0
	smep := c.cr4&(1<<20) != 0
	smap := c.cr4&(1<<21) != 0
	lma := c.efer&(1<<10) != 0
	pke := c.cr4&(1<<22) != 0 && lma // keys exist only in IA-32e paging
	ac := c.rflags&(1<<18) != 0

	// The error code's W and U bits describe the access (SDM 4.7). The SDM
	// sets I/D for a fetch when SMEP=1 or when PAE/4-level paging runs with
	// NXE=1; KVM: walk_addr_generic tests EFER.NX alone, so 32-bit paging
	// with NXE=1 reports I/D too.
	var accBits uint64
	if a.write {
		accBits |= 1 << 1
	}
	if a.user {
		accBits |= 1 << 2
	}
	if a.fetch && (smep || nxe) {
		accBits |= 1 << 4
	}
	fail := func(level int, ec uint64) refOut {
		out.fault = true
		out.level = level
		out.ec = ec | accBits
		out.writes = map[uint64]uint64{}
		return out
	}

	// What the walk reads, in order: the address of each entry and its value.
	type used struct {
		level int
		addr  uint64
		val   uint64
	}
	var path []used

	addrMask := refMask(12, c.maxPhy-1)
	var table uint64
	level := mode
	idxBits := 9
	switch mode {
	case 2:
		table = c.cr3 & 0xfffff000
		idxBits = 10
	case 3:
		// PDPTEs come from the registers: no memory read, no A bit.
		p := c.pdptr[(a.gva>>30)&3]
		if p&1 == 0 {
			return fail(3, 0)
		}
		table = p & addrMask
		level = 2
	default:
		table = c.cr3 & addrMask
	}
	userOK, writeOK, execOK := true, true, true
	var leaf uint64
	for ; ; level-- {
		shift := 12 + idxBits*(level-1)
		idx := (a.gva >> uint(shift)) & (1<<uint(idxBits) - 1)
		addr := table + idx*uint64(out.size)
		v, ok := read(addr, out.size)
		if !ok {
			return fail(level, 0) // KVM: a table outside guest memory is "not present"
		}
		out.reads++
		if v&1 == 0 {
			return fail(level, 0)
		}
		ps := v&(1<<7) != 0
		// 32-bit paging: PS counts only in a PDE and only with CR4.PSE.
		large := level > 1 && ps && (wide || pse)
		// Reserved bits (SDM tables 4-4..4-6, 4-8..4-11, 4-14..4-20).
		var rsvd uint64
		if wide {
			if mode == 3 {
				rsvd |= refMask(c.maxPhy, 62)
			} else {
				rsvd |= refMask(c.maxPhy, 51)
			}
			if !nxe {
				rsvd |= 1 << 63
			}
			switch {
			case level >= 4:
				rsvd |= 1 << 7 // PML4Es and PML5Es have no PS
			case level == 3 && ps && !c.gbpages:
				rsvd |= 1 << 7
			case level == 3 && ps:
				rsvd |= refMask(13, 29)
			case level == 2 && ps:
				rsvd |= refMask(13, 20)
			}
		} else if large {
			// KVM: a 4 MiB PDE always reserves bits 21:17 with PSE-36 (36-bit
			// physical addresses); the SDM reserves 21:(M-19) with M capped
			// at 40, so bits 20:17 carry address bits 39:36 when M > 36.
			if c.pse36 {
				rsvd = refMask(17, 21)
			} else {
				rsvd = refMask(13, 21)
			}
		}
		if v&rsvd != 0 {
			return fail(level, 1<<0|1<<3)
		}
		path = append(path, used{level, addr, v})
		userOK = userOK && v&(1<<2) != 0
		writeOK = writeOK && v&(1<<1) != 0
		if wide && v&(1<<63) != 0 {
			execOK = false
		}
		if level == 1 || large {
			leaf = v
			break
		}
		if wide {
			table = v & addrMask
		} else {
			table = v & 0xfffff000
		}
	}
	out.level = level

	// Access rights (SDM 4.6.1). A "user-mode address" has U/S=1 at every
	// level; everything else is a supervisor-mode address.
	denied := false
	if a.user {
		switch {
		case !userOK:
			denied = true
		case a.write && !writeOK:
			denied = true
		case a.fetch && nxe && !execOK:
			denied = true
		}
	} else {
		switch {
		case a.fetch:
			if nxe && !execOK {
				denied = true
			}
			if smep && userOK {
				denied = true
			}
		default:
			if smap && userOK && (a.implicit || !ac) {
				denied = true
			}
			if a.write && !writeOK && wp {
				denied = true
			}
		}
	}
	// Protection keys (SDM 4.6.2): only user-mode addresses, only data
	// accesses; AD forbids all of them, WD forbids writes by user mode and,
	// with CR0.WP=1, by supervisor mode.
	pk := false
	if pke && userOK && !a.fetch {
		key := (leaf >> 59) & 0xf
		ad := (c.pkru>>(2*key))&1 != 0
		wd := (c.pkru>>(2*key+1))&1 != 0
		if ad || (a.write && wd && (a.user || wp)) {
			pk = true
		}
	}
	if denied || pk {
		ec := uint64(1)
		if pk {
			ec |= 1 << 5
		}
		return fail(level, ec)
	}

	// The physical address: the leaf's frame plus the untranslated low bits.
	switch {
	case !wide && level == 2:
		out.gpa = leaf&0xffc00000 | a.gva&0x3fffff
		if c.pse36 {
			out.gpa |= ((leaf >> 13) & 0xf) << 32
		}
	case !wide:
		out.gpa = leaf&0xfffff000 | a.gva&0xfff
	default:
		shift := 12 + 9*(level-1)
		out.gpa = leaf&refMask(shift, 51) | a.gva&refMask(0, shift-1)
	}

	// Accessed and dirty flags (SDM 4.8): A in every entry used, D in the
	// entry that maps the page when the access is a write. Entries are
	// updated in walk order, each read back from memory as updated so far,
	// so aliased entries (a table that points to itself) come out right.
	cur := func(addr uint64) uint64 {
		if v, ok := out.writes[addr]; ok {
			return v
		}
		v, _ := read(addr, out.size)
		return v
	}
	for i, u := range path {
		v := cur(u.addr)
		n := v | 1<<5
		if i == len(path)-1 && a.write {
			n |= 1 << 6
		}
		if n != v {
			out.writes[u.addr] = n
		}
	}
	return out
}
