package render

import (
	"fmt"
	"sort"
	"strconv"
)

// maxShownEntries caps how many non-empty entries a table box lists besides
// the ones the step is about; the others are folded into a counted row.
const maxShownEntries = 5

// entryPick is one line a table box will show: an entry, or a run of
// entries folded into one line.
type entryPick struct {
	index   int
	count   int // 1 for an entry, the run's length for a fold
	folded  bool
	present int // present entries inside a fold
}

// pickEntries chooses the lines of a table of len(entries) entries: the
// entries in must (the path, the current one) always, then non-empty
// entries nearest to the first of must, at most maxShownEntries of them;
// every run of entries left out becomes one folded line, so the lines
// together account for every entry exactly once.
func pickEntries(entries []uint64, must []int) []entryPick {
	return pickEntriesN(entries, must, maxShownEntries)
}

// pickEntriesN is pickEntries with at most n entries besides those in must.
func pickEntriesN(entries []uint64, must []int, n int) []entryPick {
	keep := make([]bool, len(entries))
	for _, i := range must {
		if i >= 0 && i < len(entries) {
			keep[i] = true
		}
	}
	var others []int
	for i, e := range entries {
		if e != 0 && !keep[i] {
			others = append(others, i)
		}
	}
	pivot := 0
	if len(must) > 0 {
		pivot = must[0]
	}
	sort.SliceStable(others, func(a, b int) bool { return absInt(others[a]-pivot) < absInt(others[b]-pivot) })
	for i, idx := range others {
		if i >= n {
			break
		}
		keep[idx] = true
	}
	var out []entryPick
	for i := 0; i < len(entries); {
		if keep[i] {
			out = append(out, entryPick{index: i, count: 1})
			i++
			continue
		}
		run := entryPick{index: i, folded: true}
		for ; i < len(entries) && !keep[i]; i++ {
			run.count++
			if entries[i]&1 != 0 {
				run.present++
			}
		}
		out = append(out, run)
	}
	return out
}

func absInt(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// foldText describes a folded run: "… 509 empty" when every entry in it is
// zero, otherwise how many of them are present.
func foldText(p entryPick, nonZero int) string {
	switch {
	case nonZero == 0 && p.count == 1:
		return "… 1 empty"
	case nonZero == 0:
		return "… " + strconv.Itoa(p.count) + " empty"
	case p.present == 1:
		return fmt.Sprintf("… %d more, 1 present", p.count)
	}
	return fmt.Sprintf("… %d more, %d present", p.count, p.present)
}

// nonZeroIn counts the non-zero entries of a run.
func nonZeroIn(entries []uint64, p entryPick) int {
	n := 0
	for _, e := range entries[p.index : p.index+p.count] {
		if e != 0 {
			n++
		}
	}
	return n
}

// hexVal formats a value the way the engine's trace does.
func hexVal(v uint64) string { return "0x" + strconv.FormatUint(v, 16) }
