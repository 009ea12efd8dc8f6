package lessons

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"mmuviz/mmu"
	"mmuviz/scenarios"
)

// The kinds of quiz questions.
const (
	KindNextEntry = "next-entry" // which entry the walk reads next (level, index, GPA), or none
	KindErrorCode = "error-code" // the page-fault error code, or no fault
	KindRefs      = "refs"       // how many memory references the translation makes
	KindTranslate = "translate"  // the GPA the access reaches, or a fault
	KindAny       = "any"        // a mix of the four
)

// QuizKinds are the question kinds QuizOptions.Kind accepts, "any" last.
var QuizKinds = []string{KindNextEntry, KindErrorCode, KindRefs, KindTranslate, KindAny}

// QuizModes are the paging modes QuizOptions.Mode accepts, "any" last.
var QuizModes = []string{"32bit", "pae", "4level", "5level", "any"}

// MaxQuestions is the largest number of questions a quiz has.
const MaxQuestions = 50

// QuizOptions choose what NewQuiz generates: N questions (0 means 5) of
// Kind (a kind or "any", "" meaning "any") about a guest in Mode (a mode of
// QuizModes, "" meaning "any").
type QuizOptions struct {
	N    int    `json:"n"`
	Mode string `json:"mode"`
	Kind string `json:"kind"`
}

// Quiz is a generated exercise: a guest, shown as registers and a dump of
// its page tables, and questions about accesses it makes. Scenario is the
// guest as scenario-language text (it builds the same machine, so the page
// can open it); the answers come from running it on the engine.
type Quiz struct {
	Seed       uint64      `json:"seed,string"`
	Options    QuizOptions `json:"options"`
	Command    string      `json:"command"` // the mmuviz command line that prints this quiz
	Mode       string      `json:"mode"`    // the paging mode used, from QuizModes
	Title      string      `json:"title"`
	MaxPhyAddr int         `json:"maxphyaddr"`
	Scenario   string      `json:"scenario"`
	Registers  []QuizReg   `json:"registers"`
	Tables     []QuizTable `json:"tables"`
	Questions  []Question  `json:"questions"`
}

// QuizReg is a register of the guest before the script: its value and the
// named bits set in it.
type QuizReg struct {
	Name  string `json:"name"`
	Value Hex    `json:"value"`
	Bits  string `json:"bits,omitempty"`
}

// QuizTable is one page of the guest's page tables, with its non-zero
// entries: the memory dump of the problem.
type QuizTable struct {
	GPA       Hex         `json:"gpa"`
	Level     int         `json:"level"`
	Name      string      `json:"name"` // PML4, PDPT, PD, PT, ...
	EntrySize int         `json:"entry_size"`
	Entries   []QuizEntry `json:"entries"`
}

// QuizEntry is one non-zero entry of a table page.
type QuizEntry struct {
	Index int `json:"index"`
	GPA   Hex `json:"gpa"`
	Value Hex `json:"value"`
}

// QuizAccess is the access a question is about. Line is its line in the
// scenario text; Step is the first timeline step of its walk.
type QuizAccess struct {
	GVA  Hex    `json:"gva"`
	Kind string `json:"kind"` // read, write or fetch
	User bool   `json:"user"`
	Line int    `json:"line"`
	Step int    `json:"step"`
}

// Question is one question of a quiz: the access, the prompt, the answer
// as text and as data (Want, which Check uses), a hint for a wrong answer,
// and the engine's walk steps that explain the answer.
type Question struct {
	N           int        `json:"n"`
	Kind        string     `json:"kind"`
	Access      QuizAccess `json:"access"`
	Prompt      string     `json:"prompt"`
	Answer      string     `json:"answer"`
	Hint        string     `json:"hint"`
	Want        Want       `json:"want"`
	Explanation []string   `json:"explanation"`
}

// Want is the answer of a question as data. Fault tells whether the
// access faults. ErrorCode is set for an error-code question about a fault,
// Refs for a refs question, GPA for a translate question without a fault,
// Entry for a next-entry question whose walk reads another entry.
type Want struct {
	Fault     bool       `json:"fault"`
	ErrorCode *Hex       `json:"error_code,omitempty"`
	Refs      *int       `json:"refs,omitempty"`
	GPA       *Hex       `json:"gpa,omitempty"`
	Entry     *WantEntry `json:"entry,omitempty"`
	// After is the entry the walk has just read when a next-entry question
	// asks for the next one; nil when it asks for the first.
	After *WantEntry `json:"after,omitempty"`
}

// WantEntry names one entry the walk reads: its level, SDM name, index and
// GPA. FromReg marks a PAE PDPTE, which the walk takes from the PDPTR
// register loaded from GPA.
type WantEntry struct {
	Level   int    `json:"level"`
	Name    string `json:"name"`
	Index   int    `json:"index"`
	GPA     Hex    `json:"gpa"`
	FromReg bool   `json:"from_register,omitempty"`
}

// Hex is a number shown, and written in JSON, as a 0x string: JavaScript
// numbers cannot hold every 64-bit value.
type Hex uint64

// String writes h as 0x... in lower case.
func (h Hex) String() string { return mmu.Hex(uint64(h)) }

// MarshalJSON writes h as a JSON string "0x...".
func (h Hex) MarshalJSON() ([]byte, error) { return []byte(`"` + h.String() + `"`), nil }

// UnmarshalJSON reads a JSON string "0x..." (or a decimal string).
func (h *Hex) UnmarshalJSON(b []byte) error {
	s, err := strconv.Unquote(string(b))
	if err != nil {
		return fmt.Errorf("expected a string such as \"0x1000\", found %s", b)
	}
	v, err := strconv.ParseUint(s, 0, 64)
	if err != nil {
		return fmt.Errorf("bad number %q", s)
	}
	*h = Hex(v)
	return nil
}

// normalize fills in the defaults and checks the options.
func (o QuizOptions) normalize() (QuizOptions, error) {
	if o.N == 0 {
		o.N = 5
	}
	if o.Mode == "" {
		o.Mode = "any"
	}
	if o.Kind == "" {
		o.Kind = KindAny
	}
	switch {
	case o.N < 1 || o.N > MaxQuestions:
		return o, fmt.Errorf("the number of questions is 1 to %d, not %d", MaxQuestions, o.N)
	case !containsString(QuizModes, o.Mode):
		return o, fmt.Errorf("unknown paging mode %q (the modes are %s)", o.Mode, strings.Join(QuizModes, ", "))
	case !containsString(QuizKinds, o.Kind):
		return o, fmt.Errorf("unknown question kind %q (the kinds are %s)", o.Kind, strings.Join(QuizKinds, ", "))
	}
	return o, nil
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// command is the mmuviz command line that prints the quiz.
func (o QuizOptions) command(seed uint64) string {
	return fmt.Sprintf("mmuviz quiz -s %d -n %d -mode %s -kind %s", seed, o.N, o.Mode, o.Kind)
}

// NewQuiz generates the quiz of a seed: the same seed and options give the
// same quiz everywhere. The guest is written as scenario text, built with
// scenarios.Load and run on the engine, whose results are the answers.
func NewQuiz(seed uint64, opts QuizOptions) (*Quiz, error) {
	opts, err := opts.normalize()
	if err != nil {
		return nil, err
	}
	g := newQuizGen(seed, opts.Mode)
	regs := g.build()
	ar, qr := newQuizRand(seed, streamAccesses), newQuizRand(seed, streamQuestions)
	accesses := make([]quizAccess, opts.N)
	for i := range accesses {
		accesses[i] = g.access(ar)
		accesses[i].ask = opts.Kind
		if k := QuizKinds[qr.intn(4)]; opts.Kind == KindAny {
			accesses[i].ask = k
		}
		accesses[i].pick = qr.next()
	}
	q := &Quiz{Seed: seed, Options: opts, Command: opts.command(seed), Mode: g.mode.name, MaxPhyAddr: g.maxPhy}
	q.Scenario = g.text(q.Command, regs, accesses)
	sc, err := scenarios.Load(fmt.Sprintf("quiz-%d.mmu", seed), []byte(q.Scenario))
	if err != nil {
		return nil, fmt.Errorf("%s: the generated scenario does not build, please report it: %v", internalError, err)
	}
	tl := sc.Timeline()
	if tl.Err != nil || len(tl.Steps) != len(accesses) {
		return nil, fmt.Errorf("%s: the generated scenario does not run: %v", internalError,
			sc.ActionError(tl.ErrStep, tl.Err))
	}
	q.Title = sc.Title
	q.Registers = quizRegisters(sc.Machine)
	q.Tables = quizTables(sc.Machine)
	for i, a := range accesses {
		q.Questions = append(q.Questions, newQuestion(i, a, sc, tl))
	}
	return q, nil
}

// quizRegisters lists vCPU 0's registers with their named bits.
func quizRegisters(m *mmu.Machine) []QuizReg {
	r := m.VCPUs[0].Regs
	var out []QuizReg
	for _, reg := range []mmu.Reg{mmu.RegCR0, mmu.RegCR3, mmu.RegCR4, mmu.RegEFER, mmu.RegPKRU, mmu.RegRFLAGS} {
		v := r.Get(reg)
		qr := QuizReg{Name: reg.String(), Value: Hex(v)}
		switch {
		case reg == mmu.RegPKRU:
			qr.Bits = pkruBits(v)
		case reg != mmu.RegCR3:
			qr.Bits = mmu.DecodeReg(reg, v)
		}
		out = append(out, qr)
	}
	return out
}

// pkruBits spells PKRU per key: "key 1: WD, key 2: AD".
func pkruBits(v uint64) string {
	var out []string
	for key := 0; key < 16; key++ {
		var b []string
		if v>>uint(2*key)&1 != 0 {
			b = append(b, "AD")
		}
		if v>>uint(2*key+1)&1 != 0 {
			b = append(b, "WD")
		}
		if len(b) > 0 {
			out = append(out, fmt.Sprintf("key %d: %s", key, strings.Join(b, " ")))
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}

// quizTables dumps the table pages reachable from vCPU 0's CR3, by GPA,
// with their non-zero entries. It reads memory as the pictures do
// (mmu.Machine.GuestTable); it decides nothing about any walk.
func quizTables(m *mmu.Machine) []QuizTable {
	mode := m.GuestMode(0)
	if mode == mmu.PagingOff {
		return nil
	}
	path := m.PathOf(0, 0)
	if len(path.Levels) == 0 {
		return nil
	}
	pse := m.VCPUs[0].Regs.CR4&mmu.CR4PSE != 0
	seen := map[mmu.GPA]bool{}
	var out []QuizTable
	var visit func(gpa mmu.GPA, level int)
	visit = func(gpa mmu.GPA, level int) {
		if seen[gpa] || level < 1 || len(out) >= 64 {
			return
		}
		seen[gpa] = true
		size := mmu.EntrySize(mode)
		t := QuizTable{GPA: Hex(gpa), Level: level, Name: mmu.TableName(mode, level), EntrySize: size}
		var next []mmu.GPA
		for i, v := range m.GuestTable(mode, gpa, mmu.TableEntries(mode, level)) {
			if v == 0 {
				continue
			}
			t.Entries = append(t.Entries, QuizEntry{Index: i, GPA: Hex(uint64(gpa) + uint64(i*size)), Value: Hex(v)})
			e := mmu.PTE(v)
			if e.Present() && level > 1 && !mmu.EntryIsLeaf(mode, e, level, pse) {
				next = append(next, mmu.TableAddrOf(mode, e))
			}
		}
		out = append(out, t)
		for _, n := range next {
			visit(n, level-1)
		}
	}
	visit(path.Levels[0].Table, mmu.RootLevel(mode))
	sort.SliceStable(out, func(i, j int) bool { return out[i].GPA < out[j].GPA })
	return out
}
