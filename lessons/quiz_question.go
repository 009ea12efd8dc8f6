package lessons

import (
	"fmt"
	"strconv"

	"mmuviz/mmu"
	"mmuviz/scenarios"
)

// newQuestion turns action i of the timeline, the access a, into a
// question: the prompt, and the answer read from the engine's result and
// trace.
func newQuestion(i int, a quizAccess, sc *scenarios.Scenario, tl *mmu.Timeline) Question {
	st := tl.Steps[i]
	res := st.Result
	who := "supervisor"
	if a.user {
		who = "user"
	}
	what := a.kind.String()
	if a.kind == mmu.AccessFetch {
		what = "instruction fetch"
	}
	q := Question{N: i + 1, Kind: a.ask,
		Access: QuizAccess{GVA: Hex(a.gva), Kind: a.kind.String(), User: a.user, Line: st.Action.Src().Line,
			Step: tl.StepOf(i, 0)},
		Want: Want{Fault: res.Fault != nil}, Explanation: explain(tl, i)}
	access := fmt.Sprintf("A %s %s of GVA %s", who, what, mmu.Hex(a.gva))
	mode := sc.Machine.GuestMode(0)
	switch a.ask {
	case KindErrorCode:
		errorCodeQuestion(&q, access, res, mode)
	case KindRefs:
		refsQuestion(&q, access, res, mode)
	case KindTranslate:
		translateQuestion(&q, access, res)
	default:
		nextEntryQuestion(&q, access, st, a.pick, mode)
	}
	return q
}

// explain lists the engine's steps for action i: one line per event with
// its timeline step and kernel function, then the result.
func explain(tl *mmu.Timeline, i int) []string {
	st := tl.Steps[i]
	out := make([]string, 0, len(st.Events)+1)
	for k, e := range st.Events {
		out = append(out, fmt.Sprintf("step %d [%s] %s", tl.StepOf(i, k), e.Func, e.Text))
	}
	return append(out, "=> "+mmu.ResultString(st.Result))
}

// faultAt names where a faulting walk stopped, for hints.
func faultAt(res mmu.Result, mode mmu.PagingMode) string {
	if res.Fault == nil || res.Fault.Level < 1 {
		return ""
	}
	return fmt.Sprintf(" The walk stops at the %s (level %d).", mmu.EntryName(mode, res.Fault.Level), res.Fault.Level)
}

func errorCodeQuestion(q *Question, access string, res mmu.Result, mode mmu.PagingMode) {
	q.Prompt = access + ": what is the page-fault error code? (\"no fault\" if the access succeeds)"
	switch {
	case res.Fault != nil && res.Fault.Vector == "#PF":
		ec := Hex(res.Fault.ErrorCode)
		q.Want.ErrorCode = &ec
		q.Answer = fmt.Sprintf("%s (%s)", ec, mmu.DecodeErrorCode(res.Fault.ErrorCode))
		q.Hint = "P says whether the entry that stopped the walk was present; W, U and I/D describe the " +
			"access; RSVD and PK name special causes." + faultAt(res, mode)
	case res.Fault != nil:
		q.Answer = "no page fault: " + res.Fault.Vector
		q.Hint = "Can this address be walked at all?"
	default:
		q.Answer = "no fault"
		q.Hint = "Check P, W, U and NX at every level of the path, then the rules of CR0.WP, SMEP, SMAP and PKRU."
	}
}

func refsQuestion(q *Question, access string, res mmu.Result, mode mmu.PagingMode) {
	q.Prompt = access + ": how many memory references does the walk make (entries read from memory)?"
	n := res.Refs
	q.Want.Refs = &n
	q.Answer = strconv.Itoa(n)
	q.Hint = "Count one reference per entry read from memory, from the top table down to the leaf or to the " +
		"entry that stops the walk."
	if mode == mmu.PagingPAE {
		q.Hint += " The PDPTEs come from the PDPTR registers, not from memory."
	}
	q.Hint += faultAt(res, mode)
}

func translateQuestion(q *Question, access string, res mmu.Result) {
	q.Prompt = access + ": which GPA does it reach? (\"fault\" if it faults)"
	switch {
	case res.OK && res.HasGPA:
		gpa := Hex(res.GPA)
		q.Want.GPA = &gpa
		q.Answer = gpa.String()
		q.Hint = "Find the leaf on the path (a PTE, or an entry with PS), then add the GVA bits below that " +
			"level to the frame address it holds."
	case res.Fault != nil && res.Fault.Vector == "#PF":
		q.Answer = fmt.Sprintf("page fault (error code %s)", mmu.Hex(res.Fault.ErrorCode))
		q.Hint = "Is every entry on the path present and free of reserved bits, and does every level allow this access?"
	default:
		q.Answer = "fault"
		q.Hint = "Can this address be walked at all?"
	}
}

// walkReads returns the entries the guest walk of a step reads, in order:
// the PDPTR registers and the entries read from guest memory.
func walkReads(st mmu.Step, mode mmu.PagingMode) []WantEntry {
	var out []WantEntry
	for _, e := range st.Events {
		if e.Kind != mmu.EvRead || !e.HasEntry || e.Level < 1 || (e.TwoD && e.HostLevel != 0) {
			continue
		}
		w := WantEntry{Level: e.Level, Name: mmu.EntryName(mode, e.Level), Index: e.Index, GPA: Hex(e.Addr)}
		switch {
		case e.Space == mmu.SpacePDPTR:
			w.FromReg, w.GPA = true, Hex(e.Table+uint64(8*e.Index))
		case e.Func != "walk_addr_generic":
			continue
		}
		out = append(out, w)
	}
	return out
}

// entryText spells an entry for answers: "level 2 (PDE) index 3 at GPA 0x102018".
func entryText(w WantEntry) string {
	s := fmt.Sprintf("level %d (%s) index %d", w.Level, w.Name, w.Index)
	if w.FromReg {
		return s + fmt.Sprintf(", from the PDPTR register loaded from GPA %s", w.GPA)
	}
	return s + " at GPA " + w.GPA.String()
}

func nextEntryQuestion(q *Question, access string, st mmu.Step, pick uint64, mode mmu.PagingMode) {
	reads := walkReads(st, mode)
	j := len(reads)
	if len(reads) > 0 && (pick>>32)%100 < 85 {
		j = int(pick % uint64(len(reads)))
	}
	if j == 0 {
		q.Prompt = access + ": which entry does the walk read first? (its level and index, or its GPA)"
	} else {
		prev := reads[j-1]
		q.Want.After = &prev
		q.Prompt = fmt.Sprintf("%s: the walk has just read the %s at GPA %s (level %d, index %d). Which entry "+
			"does it read next? (level and index, or GPA; \"none\" if it reads no more)",
			access, prev.Name, prev.GPA, prev.Level, prev.Index)
		if prev.FromReg {
			q.Prompt = fmt.Sprintf("%s: the walk has just taken PDPTE %d from its PDPTR register. Which entry "+
				"does it read next? (level and index, or GPA; \"none\" if it reads no more)", access, prev.Index)
		}
	}
	if j == len(reads) {
		q.Answer = "none"
		q.Hint = "Does the entry just read end the walk? A PTE, or an entry with PS, is a leaf; an entry without " +
			"P, or with reserved bits set, stops the walk with a fault."
		return
	}
	w := reads[j]
	q.Want.Entry = &w
	q.Answer = entryText(w)
	q.Hint = indexHint(w, mode)
}

// indexHint says where an entry's index and address come from.
func indexHint(w WantEntry, mode mmu.PagingMode) string {
	if w.FromReg {
		return "GVA bits 31:30 pick one of the four PDPTEs, which the CPU loaded into its PDPTR registers from " +
			"the PDPT that CR3 points to."
	}
	for _, f := range mmu.GVAFields(mode) {
		if f.Level == w.Level {
			return fmt.Sprintf("GVA bits %d:%d give the index of the %s; its GPA is the %s's address (from CR3 or "+
				"the entry above) plus index × %d bytes.", f.Hi, f.Lo, w.Name, mmu.TableName(mode, w.Level),
				mmu.EntrySize(mode))
		}
	}
	return ""
}
