package lessons

import (
	"fmt"
	"strings"
)

// entryGuess is an answer naming a page-table entry.
type entryGuess struct {
	level, index        int
	gpa                 uint64
	hasLevel, hasIndex  bool
	hasGPA, none, clash bool
	pendingRole         string // what the next number is: "level", "index" or "gpa"
}

// entryNames maps the names of entries and tables to their levels.
var entryNames = map[string]int{
	"pte": 1, "pt": 1, "pde": 2, "pd": 2, "pdpte": 3, "pdpt": 3, "pdpe": 3, "pdptr": 3,
	"pml4e": 4, "pml4": 4, "pml5e": 5, "pml5": 5,
}

// setLevel records a level, noting a clash with one given before.
func (g *entryGuess) setLevel(l int) {
	if g.hasLevel && g.level != l {
		g.clash = true
	}
	g.level, g.hasLevel = l, true
}

// nameWord reads "pde", "l2", "level2" or "pdptr2" (a PDPTR with its
// index); it reports whether the word names a level.
func (g *entryGuess) nameWord(t string) bool {
	if l, ok := entryNames[t]; ok {
		g.setLevel(l)
		g.pendingRole = "index"
		return true
	}
	for _, p := range []string{"level", "lvl", "l", "pdptr"} {
		rest, ok := strings.CutPrefix(t, p)
		if !ok || rest == "" {
			continue
		}
		v, ok := number(rest, 10)
		if !ok || v > 1<<20 {
			continue
		}
		if p == "pdptr" {
			g.setLevel(3)
			g.index, g.hasIndex = int(v), true
		} else {
			g.setLevel(int(v))
		}
		return true
	}
	return false
}

// numberWord places a number: where the word before it said, else as a
// GPA when written in hex and too large for an index, else as the index.
func (g *entryGuess) numberWord(t string) bool {
	base := 10
	if g.pendingRole == "gpa" {
		base = 16
	}
	v, ok := number(t, base)
	if !ok {
		return false
	}
	role := g.pendingRole
	big := strings.HasPrefix(t, "0x") && v >= 1024 || v >= 1<<20 // no table has that many entries
	switch {
	case big && role != "level":
		role = "gpa"
	case role == "" && !g.hasLevel && !g.hasIndex && v >= 1 && v <= 5:
		role = "level"
	case role == "":
		role = "index"
	}
	switch role {
	case "level":
		g.setLevel(int(min(v, 99)))
	case "gpa":
		g.gpa, g.hasGPA = v, true
	default:
		g.index, g.hasIndex = int(min(v, 1<<20)), true
	}
	g.pendingRole = ""
	return true
}

// parseEntry reads an answer naming an entry, or "none".
func parseEntry(toks []string) entryGuess {
	var g entryGuess
	for _, t := range toks {
		switch {
		case g.nameWord(t), g.numberWord(t):
		case containsString([]string{"none", "no", "nothing", "end", "ends", "-", "stops"}, t):
			g.none = true
		case containsString([]string{"level", "lvl"}, t):
			g.pendingRole = "level"
		case containsString([]string{"index", "idx", "entry", "#", "i"}, t):
			g.pendingRole = "index"
		case containsString([]string{"gpa", "at", "@", "address", "addr"}, t):
			g.pendingRole = "gpa"
		}
	}
	return g
}

func (q *Question) checkEntry(toks []string) (bool, string) {
	g := parseEntry(toks)
	w := q.Want.Entry
	switch {
	case g.clash:
		return false, "it names two different levels"
	case g.none && !g.hasLevel && !g.hasIndex && !g.hasGPA:
		return w == nil, ""
	case !g.hasGPA && !(g.hasLevel && g.hasIndex):
		return false, "it needs the level and the index, or the GPA"
	case w == nil:
		return false, ""
	}
	ok := (!g.hasLevel || g.level == w.Level) && (!g.hasIndex || g.index == w.Index) &&
		(!g.hasGPA || g.gpa == uint64(w.GPA))
	return ok, ""
}

// String describes a guess, for tests and messages.
func (g entryGuess) String() string {
	return fmt.Sprintf("level %d(%v) index %d(%v) gpa %#x(%v) none %v clash %v", g.level, g.hasLevel, g.index,
		g.hasIndex, g.gpa, g.hasGPA, g.none, g.clash)
}
