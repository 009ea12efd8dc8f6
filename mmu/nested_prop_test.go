package mmu

import (
	"fmt"
	"math/rand"
	"testing"
)

// The property test of nested NPT: random small set-ups (L1 in 32-bit,
// PAE or 4-level paging, the host on 4- or 5-level NPT, L2 in 32-bit or
// 4-level paging, both shadow designs), random NPT12 entries for L2's data
// pages, random L2 accesses and random edits of NPT12 by L1 between
// VM-entries. Every L2 access agrees with the composition of L2's tables,
// NPT12 and the memslots, read without side effects just before it: a
// fault of L2's own tables is L2's #PF; a mapping or right NPT12 lacks is
// reflected to L1 as #VMEXIT(NPF) with the L2 GPA in exit_info_2; anything
// else reaches the composed host address. The invariants hold after every
// step.

const (
	propPages   = 16
	propDataL2  = GPA(2 << 20)  // L2 GPA of data page 0
	propDataGVA = GVA(0x400000) // L2 GVA of data page 0
)

// nestedWorld is one random nested set-up.
type nestedWorld struct {
	*nestedEnv
	r    *rand.Rand
	seen map[string]int // outcomes met, so the test can tell it covered each
}

func newNestedWorld(t *testing.T, seed int64) *nestedWorld {
	r := rand.New(rand.NewSource(seed))
	l1 := []PagingMode{Paging32, PagingPAE, Paging4}[r.Intn(3)]
	l2 := []PagingMode{Paging32, Paging4}[r.Intn(2)]
	host := 4 + r.Intn(2)
	variant := ShadowMerged
	if r.Intn(3) == 0 {
		variant = ShadowLevelExpanded
	}
	t.Logf("seed %d: L1 %s, L2 %s, host %d levels, %s", seed, l1, l2, host, variant)
	w := &nestedWorld{nestedEnv: newNestedEnv(t, host, l1, l2, variant), r: r, seen: map[string]int{}}
	for i := 0; i < propPages; i++ {
		if r.Intn(5) > 0 {
			_, err := w.l2.Map(propDataGVA+GVA(i)*PageSize, propDataL2+GPA(i)*PageSize, PageSize, PTWritable|PTUser)
			w.must(err)
		}
		w.setNPT12(i, w.randNPT12(i))
	}
	return w
}

// randNPT12 picks NPT12's entry for data page i: absent, or mapping a
// random L1 page with random W and U.
func (w *nestedWorld) randNPT12(i int) uint64 {
	if w.r.Intn(4) == 0 {
		return 0
	}
	l1 := nestedL1Base + propDataL2 + GPA(w.r.Intn(2*propPages))*PageSize
	e := uint64(l1) | PTPresent
	if w.r.Intn(4) > 0 {
		e |= PTWritable
	}
	if w.r.Intn(5) > 0 {
		e |= PTUser
	}
	return e
}

// setNPT12 writes NPT12's entry for data page i at setup.
func (w *nestedWorld) setNPT12(i int, e uint64) {
	_, err := w.npt.SetEntry(GVA(propDataL2)+GVA(i)*PageSize, 1, PTE(e))
	w.must(err)
}

// expect is what the composition says an L2 access must give.
type expect struct {
	l2fault bool // L2's own tables fault
	reflect bool // NPT12 refuses: #VMEXIT(NPF) to L1
	hpa     HPA
	l2gpa   GPA
}

func (w *nestedWorld) oracle(gva GVA, write bool) expect {
	ref, err := w.m.LookupEntry(0, gva, 1)
	if err != nil || !ref.Value.Present() {
		return expect{l2fault: true}
	}
	l2 := GPA(uint64(ref.Value)&^pageMask) + GPA(uint64(gva)&pageMask)
	x := w.m.nestedLookup(w.m.VCPUs[0], l2)
	if !x.ok || x.access&AccUser == 0 || (write && x.access&AccWrite == 0) {
		return expect{reflect: true, l2gpa: l2}
	}
	return expect{hpa: x.hpa, l2gpa: l2}
}

// step makes one random move and checks it.
func (w *nestedWorld) step(n int) {
	v := w.m.VCPUs[0]
	if !v.GuestMode {
		if w.r.Intn(3) == 0 {
			i := w.r.Intn(propPages)
			w.do(&WriteNPT12Entry{VCPU: 0, L2GPA: propDataL2 + GPA(i)*PageSize, Level: 1, Value: w.randNPT12(i)})
			return
		}
		w.do(&NestedEntry{VCPU: 0})
		return
	}
	if w.r.Intn(8) == 0 {
		w.do(&NestedExit{VCPU: 0})
		return
	}
	i := w.r.Intn(propPages)
	gva := propDataGVA + GVA(i)*PageSize + GVA(w.r.Intn(PageSize/8)*8)
	write := w.r.Intn(2) == 0
	want := w.oracle(gva, write)
	kind := AccessRead
	if write {
		kind = AccessWrite
	}
	st := w.do(&Access{VCPU: 0, GVA: gva, Kind: kind, User: true})
	res, info := st.Result, v.Nested.Reflected
	where := fmt.Sprintf("step %d: %s GVA %s", n, kind, gva)
	switch {
	case want.l2fault:
		w.seen["l2 #PF"]++
		if res.Fault == nil || res.Fault.Vector != "#PF" || !v.GuestMode {
			w.t.Fatalf("%s: L2's tables do not map it, want L2's #PF; got %+v (guest mode %v)", where, res, v.GuestMode)
		}
	case want.reflect:
		w.seen["reflected"]++
		if v.GuestMode || res.OK || info.Code != svmExitNPF || GPA(info.Info2) != want.l2gpa {
			w.t.Fatalf("%s: NPT12 refuses L2 GPA %s, want #VMEXIT(NPF); got %+v, exit %+v", where, want.l2gpa, res, info)
		}
	default:
		w.seen["translated"]++
		if !res.OK || res.HPA != want.hpa || !v.GuestMode {
			w.t.Fatalf("%s: want HPA %s through L2 GPA %s; got %+v", where, want.hpa, want.l2gpa, res)
		}
	}
}

func TestNestedNPTComposition(t *testing.T) {
	total := map[string]int{}
	for seed := int64(1); seed <= 40; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			w := newNestedWorld(t, seed)
			for n := 0; n < 60; n++ {
				w.step(n)
			}
			for k, n := range w.seen {
				total[k] += n
			}
		})
	}
	for _, k := range []string{"l2 #PF", "reflected", "translated"} {
		if total[k] < 20 {
			t.Errorf("only %d accesses ended %s: the random set-ups do not cover it", total[k], k)
		}
	}
	t.Logf("outcomes: %v", total)
}
