package lessons

import (
	"fmt"
	"strconv"
	"strings"

	"mmuviz/mmu"
)

// maxAnswer is the longest answer Check reads, in bytes.
const maxAnswer = 200

// Check reports whether answer answers the question, and says why in one
// or two sentences for the student: what was right, or what was read and a
// hint. It accepts the usual spellings: for an error code "0x7", "7" (read
// as hexadecimal, as error codes are written), "P W U" or "no fault"; for
// references "4"; for a GPA "0x1234" (bare digits are hexadecimal too) or
// "fault"; for an entry "level 2 index 3", "PDE 3", "PDE[3]", its GPA, or
// "none". It uses only the exported fields, so a Question read back from
// JSON checks answers too.
func (q *Question) Check(answer string) (ok bool, feedback string) {
	if q == nil {
		return false, "there is no question"
	}
	if len(answer) > maxAnswer {
		return false, fmt.Sprintf("That answer is longer than %d characters; %s.", maxAnswer, answerFormat(q.Kind))
	}
	toks := answerTokens(answer)
	if len(toks) == 0 {
		return false, "Write an answer: " + answerFormat(q.Kind) + "."
	}
	var err string
	switch q.Kind {
	case KindErrorCode:
		ok, err = q.checkErrorCode(toks)
	case KindRefs:
		ok, err = q.checkRefs(toks)
	case KindTranslate:
		ok, err = q.checkTranslate(toks)
	case KindNextEntry:
		ok, err = q.checkEntry(toks)
	default:
		return false, fmt.Sprintf("unknown question kind %q", q.Kind)
	}
	switch {
	case err != "":
		return false, fmt.Sprintf("I could not read %q: %s; %s.", strings.TrimSpace(answer), err, answerFormat(q.Kind))
	case ok:
		return true, "Right: " + q.Answer + "."
	}
	return false, "Not right. Hint: " + q.Hint
}

// answerFormat says how to write an answer of a kind.
func answerFormat(kind string) string {
	switch kind {
	case KindErrorCode:
		return `write the error code as 0x7, 7 or P W U, or "no fault"`
	case KindRefs:
		return "write a number, such as 4"
	case KindTranslate:
		return `write a GPA such as 0x1234, or "fault"`
	case KindNextEntry:
		return `write "level 2 index 3", "PDE 3" or the entry's GPA such as 0x102018, or "none"`
	}
	return "this kind of question cannot be answered"
}

// answerTokens lower-cases an answer and splits it into words; brackets,
// commas, "=", "|" and "+" separate words too, and a word's trailing ".",
// "?" or "!" is dropped.
func answerTokens(s string) []string {
	s = strings.ToLower(s)
	s = strings.NewReplacer("(", " ", ")", " ", "[", " ", "]", " ", ",", " ", ";", " ", ":", " ", "=", " ",
		"|", " ", "+", " ", "{", " ", "}", " ", "\"", " ", "'", " ", "×", " ").Replace(s)
	toks := strings.Fields(s)
	out := toks[:0]
	for _, t := range toks {
		if t = strings.TrimRight(t, ".?!"); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// number reads a number: 0x... is hexadecimal; a word without 0x is read
// in base bare (16 for error codes and addresses, so "d540c3" is a GPA; 10
// for counts and indices). Underscores may separate digits.
func number(tok string, bare int) (uint64, bool) {
	tok = strings.ReplaceAll(tok, "_", "")
	base := bare
	if rest, ok := strings.CutPrefix(tok, "0x"); ok {
		tok, base = rest, 16
	}
	if tok == "" || tok[0] == '+' || tok[0] == '-' {
		return 0, false
	}
	v, err := strconv.ParseUint(tok, base, 64)
	return v, err == nil
}

// hasWord reports whether any token is one of words.
func hasWord(toks []string, words ...string) bool {
	for _, t := range toks {
		if containsString(words, t) {
			return true
		}
	}
	return false
}

// errorCodeBits names the error-code bits in the words students use.
var errorCodeBits = []struct {
	bit   uint64
	words []string
}{
	{mmu.PFErrPresent, []string{"p", "present", "prot", "protection"}},
	{mmu.PFErrWrite, []string{"w", "write", "r/w", "rw", "wr"}},
	{mmu.PFErrUser, []string{"u", "user", "u/s", "us"}},
	{mmu.PFErrRsvd, []string{"rsvd", "reserved", "res"}},
	{mmu.PFErrFetch, []string{"i/d", "id", "i", "fetch", "instruction", "exec", "x"}},
	{mmu.PFErrPK, []string{"pk", "pkey", "protection-key", "pku"}},
}

// errorCodeFiller are words that may surround an error code.
var errorCodeFiller = []string{"error", "code", "ec", "#pf", "pf", "is", "="}

// parseErrorCode reads an error code: (code, false) or "no fault" (0, true).
func parseErrorCode(toks []string) (code uint64, noFault bool, err string) {
	var rest []string
	for _, t := range toks {
		if !containsString(errorCodeFiller, t) {
			rest = append(rest, t)
		}
	}
	if len(rest) == 0 {
		return 0, false, "no error code in it"
	}
	if v, ok := number(rest[0], 16); ok {
		return v, false, ""
	}
	if hasWord(rest, "no", "none", "ok", "nofault", "succeeds", "success", "allowed", "-") {
		return 0, true, ""
	}
	for _, t := range rest {
		known := false
		for _, b := range errorCodeBits {
			if containsString(b.words, t) {
				code, known = code|b.bit, true
			}
		}
		if !known {
			return 0, false, fmt.Sprintf("%q is not an error-code bit (P, W, U, RSVD, I/D, PK)", t)
		}
	}
	return code, false, ""
}

func (q *Question) checkErrorCode(toks []string) (bool, string) {
	if q.Want.Fault && q.Want.ErrorCode == nil { // not a #PF (a #GP)
		return hasWord(toks, "#gp", "gp"), ""
	}
	code, noFault, err := parseErrorCode(toks)
	if err != "" {
		return false, err
	}
	if q.Want.ErrorCode == nil {
		return noFault, ""
	}
	return !noFault && code == uint64(*q.Want.ErrorCode), ""
}

// countWords are counts written as words.
var countWords = []string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"}

func (q *Question) checkRefs(toks []string) (bool, string) {
	if q.Want.Refs == nil {
		return false, "this question has no count to compare with"
	}
	for _, t := range toks {
		if v, ok := number(t, 10); ok {
			return v == uint64(*q.Want.Refs), ""
		}
		for i, w := range countWords {
			if t == w {
				return i == *q.Want.Refs, ""
			}
		}
	}
	return false, "no number in it"
}

// faultWords say that an access faults.
var faultWords = []string{"fault", "faults", "#pf", "pf", "page-fault", "#gp", "gp", "none", "no"}

func (q *Question) checkTranslate(toks []string) (bool, string) {
	if hasWord(toks, faultWords...) {
		return q.Want.GPA == nil && q.Want.Fault, ""
	}
	for _, t := range toks {
		if v, ok := number(t, 16); ok {
			return q.Want.GPA != nil && v == uint64(*q.Want.GPA), ""
		}
	}
	return false, "no GPA in it"
}
