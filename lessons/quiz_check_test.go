package lessons

import (
	"fmt"
	"strings"
	"testing"

	"mmuviz/mmu"
)

// errorCodeWords spells an error code as bit names joined by sep, in the
// student's words (not mmu.DecodeErrorCode's).
func errorCodeWords(ec uint64, sep string, long bool) string {
	names := []string{"P", "W", "U", "RSVD", "I/D", "PK"}
	if long {
		names = []string{"present", "write", "user", "reserved", "fetch", "pkey"}
	}
	var out []string
	for i, n := range names {
		if ec>>uint(i)&1 != 0 {
			out = append(out, n)
		}
	}
	return strings.Join(out, sep)
}

// spellings returns answers that must be accepted and answers that must be
// refused for a question, from its Want.
func spellings(qu *Question) (right, wrong []string) {
	w := qu.Want
	right = []string{qu.Answer, strings.ToUpper(qu.Answer), " " + qu.Answer + ". "}
	switch qu.Kind {
	case KindErrorCode:
		if w.ErrorCode == nil {
			return append(right, "no fault", "None", "no #PF"), []string{"0x0", "0", "P", "fault"}
		}
		ec := uint64(*w.ErrorCode)
		right = append(right, fmt.Sprintf("0x%x", ec), fmt.Sprintf("%x", ec), fmt.Sprintf("%#X", ec),
			fmt.Sprintf("error code 0x%x", ec), fmt.Sprintf("0x%x = P?", ec))
		if ec != 0 {
			right = append(right, errorCodeWords(ec, " ", false), errorCodeWords(ec, "|", false),
				strings.ToLower(errorCodeWords(ec, "+", false)), errorCodeWords(ec, ", ", true))
		}
		return right, []string{fmt.Sprintf("0x%x", ec^1), fmt.Sprintf("0x%x", ec^4), fmt.Sprintf("%x", ec^2),
			"no fault"}
	case KindRefs:
		n := *w.Refs
		return append(right, fmt.Sprint(n), fmt.Sprintf("%d refs", n), fmt.Sprintf("%d memory references", n),
				countWords[n]),
			[]string{fmt.Sprint(n + 1), fmt.Sprint(n - 1), countWords[n+1]}
	case KindTranslate:
		if w.GPA == nil {
			return append(right, "fault", "#PF", "page fault", "it faults"), []string{"0x1000", "0"}
		}
		g := uint64(*w.GPA)
		return append(right, fmt.Sprintf("0x%x", g), fmt.Sprintf("%x", g), fmt.Sprintf("GPA 0x%x", g),
				fmt.Sprintf("0x%X", g)),
			[]string{fmt.Sprintf("0x%x", g+0x1000), fmt.Sprintf("0x%x", g^1), "fault", fmt.Sprint(g)}
	}
	if w.Entry == nil {
		return append(right, "none", "nothing", "None: the walk ends"),
			[]string{"level 1 index 0", "PTE 0", "0x100000"}
	}
	e := w.Entry
	name := mmu.EntryName(0, e.Level)
	right = append(right, fmt.Sprintf("level %d index %d", e.Level, e.Index), fmt.Sprintf("%s %d", name, e.Index),
		fmt.Sprintf("%s[%d]", strings.ToLower(name), e.Index), fmt.Sprintf("L%d idx %d", e.Level, e.Index),
		fmt.Sprintf("0x%x", uint64(e.GPA)), fmt.Sprintf("gpa %x", uint64(e.GPA)),
		fmt.Sprintf("%s %d at 0x%x", name, e.Index, uint64(e.GPA)), fmt.Sprintf("%d %d", e.Level, e.Index))
	wrong = []string{fmt.Sprintf("level %d index %d", e.Level, e.Index+1), fmt.Sprintf("0x%x", uint64(e.GPA)+8),
		fmt.Sprintf("level %d index %d", e.Level%5+1, e.Index), "none",
		fmt.Sprintf("%s %d at 0x%x", name, e.Index, uint64(e.GPA)+0x1000),
		fmt.Sprintf("%s %d", mmu.EntryName(0, e.Level%5+1), e.Index)}
	return right, wrong
}

// checkSpellings checks that a question accepts its answer spelled every
// way and refuses wrong answers, with feedback either way.
func checkSpellings(t *testing.T, where string, qu *Question) {
	t.Helper()
	right, wrong := spellings(qu)
	for _, a := range right {
		if ok, fb := qu.Check(a); !ok || !strings.HasPrefix(fb, "Right: ") {
			t.Errorf("%s: %q refused: %s", where, a, fb)
		}
	}
	for _, a := range wrong {
		if ok, fb := qu.Check(a); ok || fb == "" {
			t.Errorf("%s: wrong answer %q accepted (%s)", where, a, fb)
		}
	}
}

// TestCheckParsing pins how Check reads answers and what it says back.
func TestCheckParsing(t *testing.T) {
	ec := Hex(0x7)
	refs := 4
	gpa := Hex(0x5a3123)
	entry := &WantEntry{Level: 2, Name: "PDE", Index: 3, GPA: 0x102018}
	qs := map[string]*Question{
		"ec":    {Kind: KindErrorCode, Answer: "0x7 (P W U)", Hint: "h", Want: Want{Fault: true, ErrorCode: &ec}},
		"ok":    {Kind: KindErrorCode, Answer: "no fault", Hint: "h"},
		"gp":    {Kind: KindErrorCode, Answer: "no page fault: #GP", Hint: "h", Want: Want{Fault: true}},
		"refs":  {Kind: KindRefs, Answer: "4", Hint: "h", Want: Want{Refs: &refs}},
		"gpa":   {Kind: KindTranslate, Answer: "0x5a3123", Hint: "h", Want: Want{GPA: &gpa}},
		"entry": {Kind: KindNextEntry, Answer: "level 2 (PDE) index 3 at GPA 0x102018", Hint: "h", Want: Want{Entry: entry}},
		"pdptr": {Kind: KindNextEntry, Answer: "x", Hint: "h",
			Want: Want{Entry: &WantEntry{Level: 3, Name: "PDPTE", Index: 2, GPA: 0x100010, FromReg: true}}},
		"none": {Kind: KindNextEntry, Answer: "none", Hint: "h"},
	}
	tests := []struct {
		q, answer string
		ok        bool
		feedback  string
	}{
		{"ec", "0x7", true, "Right: 0x7 (P W U)."},
		{"ec", "P W U", true, ""},
		{"ec", "#PF, error code = 0x07", true, ""},
		{"ec", "u w p", true, ""},
		{"ec", "0x5", false, "Not right. Hint: h"},
		{"ec", "11", false, ""}, // bare digits are hexadecimal: 0x11
		{"ec", "P W Q", false, `I could not read "P W Q": "q" is not an error-code bit`},
		{"ec", "", false, "Write an answer: write the error code as 0x7, 7 or P W U, or \"no fault\"."},
		{"ec", strings.Repeat("7", 300), false, "longer than 200"},
		{"ok", "no fault", true, ""},
		{"ok", "-", true, ""},
		{"ok", "0", false, ""},
		{"gp", "#GP", true, ""},
		{"gp", "0xd", false, ""},
		{"refs", "4", true, ""},
		{"refs", "four", true, ""},
		{"refs", "0x4", true, ""},
		{"refs", "5", false, ""},
		{"refs", "many", false, `I could not read "many": no number in it; write a number, such as 4.`},
		{"gpa", "5a3123", true, ""},
		{"gpa", "0x5A3123", true, ""},
		{"gpa", "no", false, ""},
		{"gpa", "here", false, "no GPA in it"},
		{"entry", "PDE 3", true, ""},
		{"entry", "pd[3]", true, ""},
		{"entry", "level 2, entry 3", true, ""},
		{"entry", "l2 3", true, ""},
		{"entry", "level2 index 0x3", true, ""},
		{"entry", "0x102018", true, ""},
		{"entry", "PDE at 102018", true, ""},
		{"entry", "PDE 0x102018", true, ""},
		{"entry", "2 3", true, ""},
		{"entry", "PDE", false, "it needs the level and the index, or the GPA"},
		{"entry", "PTE 3", false, ""},
		{"entry", "PDE 3 at 0x102020", false, ""},
		{"entry", "PTE level 2 index 3", false, "it names two different levels"},
		{"entry", "none", false, ""},
		{"pdptr", "PDPTR2", true, ""},
		{"pdptr", "PDPTE 2", true, ""},
		{"pdptr", "0x100010", true, ""},
		{"pdptr", "PDPTE 1", false, ""},
		{"none", "none", true, ""},
		{"none", "The walk ends.", true, ""},
		{"none", "PTE 5", false, ""},
		{"none", "whatever", false, "it needs the level and the index"},
	}
	for _, tc := range tests {
		ok, fb := qs[tc.q].Check(tc.answer)
		if ok != tc.ok || !strings.Contains(fb, tc.feedback) {
			t.Errorf("%s: Check(%q) = %v, %q; want %v, %q", tc.q, tc.answer, ok, fb, tc.ok, tc.feedback)
		}
	}
	var nilQ *Question
	if ok, _ := nilQ.Check("1"); ok {
		t.Errorf("a nil question accepted an answer")
	}
	if ok, fb := (&Question{Kind: "essay"}).Check("1"); ok || !strings.Contains(fb, "unknown question kind") {
		t.Errorf("unknown kind: %v %q", ok, fb)
	}
}
