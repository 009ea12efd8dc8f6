package mmu

import (
	"fmt"
	"strings"
)

// Control-register, EFER and RFLAGS bits that matter to paging.
const (
	CR0PE = 1 << 0  // protected mode
	CR0WP = 1 << 16 // supervisor writes honour R/W
	CR0PG = 1 << 31 // paging

	CR4PSE   = 1 << 4  // 4 MiB pages in 32-bit paging
	CR4PAE   = 1 << 5  // 64-bit entries
	CR4PGE   = 1 << 7  // global pages
	CR4LA57  = 1 << 12 // 5-level paging
	CR4PCIDE = 1 << 17 // process-context identifiers
	CR4SMEP  = 1 << 20 // no supervisor fetch from user pages
	CR4SMAP  = 1 << 21 // no supervisor data access to user pages
	CR4PKE   = 1 << 22 // protection keys for user pages

	EFERSCE = 1 << 0
	EFERLME = 1 << 8  // long mode enable
	EFERLMA = 1 << 10 // long mode active (set by the CPU)
	EFERNX  = 1 << 11 // no-execute enable

	RFLAGSAC = 1 << 18 // alignment check / SMAP override
)

// Reg names a register that scenarios read and write.
type Reg int

// The registers of a vCPU's paging state.
const (
	RegCR0 Reg = iota
	RegCR3
	RegCR4
	RegEFER
	RegPKRU
	RegRFLAGS
)

var regNames = [...]string{"cr0", "cr3", "cr4", "efer", "pkru", "rflags"}

func (r Reg) String() string {
	if r < 0 || int(r) >= len(regNames) {
		return fmt.Sprintf("reg(%d)", int(r))
	}
	return regNames[r]
}

// ParseReg maps a register's name ("cr0", "efer", ...) to its Reg.
func ParseReg(name string) (Reg, bool) {
	for i, n := range regNames {
		if strings.EqualFold(n, name) {
			return Reg(i), true
		}
	}
	return 0, false
}

// RegBit names one bit of a register, for scenarios ("wp", "smep") and for
// decoding values in the trace.
type RegBit struct {
	Name string
	Mask uint64
}

// RegBits lists the named bits of each register, lowest bit first.
var RegBits = map[Reg][]RegBit{
	RegCR0:    {{"pe", CR0PE}, {"wp", CR0WP}, {"pg", CR0PG}},
	RegCR4:    {{"pse", CR4PSE}, {"pae", CR4PAE}, {"pge", CR4PGE}, {"la57", CR4LA57}, {"pcide", CR4PCIDE}, {"smep", CR4SMEP}, {"smap", CR4SMAP}, {"pke", CR4PKE}},
	RegEFER:   {{"sce", EFERSCE}, {"lme", EFERLME}, {"lma", EFERLMA}, {"nx", EFERNX}},
	RegRFLAGS: {{"ac", RFLAGSAC}},
}

// DecodeReg spells out the named bits set in v ("pe wp pg").
func DecodeReg(r Reg, v uint64) string {
	var out []string
	for _, b := range RegBits[r] {
		if v&b.Mask != 0 {
			out = append(out, strings.ToUpper(b.Name))
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, " ")
}

// Regs is the paging state of a vCPU: what kvm_mmu_role_regs captures plus
// CR3, PKRU and RFLAGS.AC, which the walker needs.
type Regs struct {
	CR0, CR3, CR4, EFER, PKRU, RFLAGS uint64
}

// Get returns the value of register r.
func (g *Regs) Get(r Reg) uint64 {
	switch r {
	case RegCR0:
		return g.CR0
	case RegCR3:
		return g.CR3
	case RegCR4:
		return g.CR4
	case RegEFER:
		return g.EFER
	case RegPKRU:
		return g.PKRU
	case RegRFLAGS:
		return g.RFLAGS
	}
	return 0
}

// Set stores v in register r without any of the checks a guest write gets.
func (g *Regs) Set(r Reg, v uint64) {
	switch r {
	case RegCR0:
		g.CR0 = v
	case RegCR3:
		g.CR3 = v
	case RegCR4:
		g.CR4 = v
	case RegEFER:
		g.EFER = v
	case RegPKRU:
		g.PKRU = v & 0xffffffff
	case RegRFLAGS:
		g.RFLAGS = v
	}
}

// PagingMode is the guest's paging mode as the walker sees it.
type PagingMode int

// The paging modes, numbered by root level where one exists.
const (
	PagingOff PagingMode = 0 // CR0.PG=0: GVA equals GPA
	Paging32  PagingMode = 2 // 2-level, 4-byte entries
	PagingPAE PagingMode = 3 // PAE: PDPTRs, then 2 levels of 8-byte entries
	Paging4   PagingMode = 4 // 4-level long mode
	Paging5   PagingMode = 5 // 5-level long mode (LA57)
)

func (p PagingMode) String() string {
	switch p {
	case PagingOff:
		return "no paging"
	case Paging32:
		return "32-bit 2-level paging"
	case PagingPAE:
		return "PAE paging"
	case Paging4:
		return "4-level paging"
	case Paging5:
		return "5-level paging"
	}
	return fmt.Sprintf("paging mode %d", int(p))
}

// Mode derives the paging mode from the registers, as kvm_calc_cpu_role
// derives the role's level.
func (g *Regs) Mode() PagingMode {
	switch {
	case g.CR0&CR0PG == 0:
		return PagingOff
	case g.EFER&EFERLMA != 0 && g.CR4&CR4LA57 != 0:
		return Paging5
	case g.EFER&EFERLMA != 0:
		return Paging4
	case g.CR4&CR4PAE != 0:
		return PagingPAE
	}
	return Paging32
}
