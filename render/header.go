package render

import (
	"fmt"
	"strconv"
	"strings"

	"mmuviz/mmu"
)

// The header shows the address being translated as the bit fields the walk
// consumes, one coloured box per level, the field of the current level lit.

const (
	fieldTitleFont = 11.0
	fieldGap       = 6.0
	fieldPad       = 6.0
	headFont       = 16.0
	headSub        = 14.0
	fieldRowH      = 19.0
	fieldTitleH    = 19.0
)

// gvaField is a field of the address as the picture shows it.
type gvaField struct {
	level  int // 0: the page offset; -1: the sign extension
	lo, hi int
	name   string
}

// fieldsOf splits the GVA for the picture: the walk's fields, the sign
// extension of a long-mode address, and, once a large leaf is known, the
// fields below it merged into one offset.
func fieldsOf(f *focus) []gvaField {
	var out []gvaField
	switch f.mode {
	case mmu.Paging4:
		out = append(out, gvaField{-1, 48, 63, "sign"})
	case mmu.Paging5:
		out = append(out, gvaField{-1, 57, 63, "sign"})
	}
	for _, g := range mmu.GVAFields(f.mode) {
		if f.leafLevel > 1 && g.Level < f.leafLevel {
			if g.Level == 0 {
				out = append(out, gvaField{0, 0, leafOffsetHi(f), "offset"})
			}
			continue
		}
		out = append(out, gvaField{g.Level, g.Lo, g.Hi, g.Name})
	}
	return out
}

// leafOffsetHi is the top bit of the offset inside a large page.
func leafOffsetHi(f *focus) int {
	size := mmu.LevelPageSize(f.mode, f.leafLevel)
	hi := 0
	for size > 1 {
		size >>= 1
		hi++
	}
	return hi - 1
}

// litLevel is the field the current step uses: the level of the entry it
// reads, writes or faults on, the offset once the walk has its result.
func litLevel(f *focus) (int, bool) {
	switch f.cur.kind {
	case tgtEntry:
		if f.cur.loadPDP {
			return 0, false
		}
		return f.cur.level, true
	case tgtPDPTR:
		return 3, true
	case tgtResult:
		return 0, true
	case tgtShadow:
		// A shadow table's entry is indexed by the same GVA bits when the
		// guest's tables have 8-byte entries at that level.
		sh := f.cur.sh
		same := f.mode == mmu.Paging4 || f.mode == mmu.Paging5 || (f.mode == mmu.PagingPAE && sh.level <= 2)
		return sh.level, sh.box == sbTable && same && f.shadow.onPath(sh.table, sh.level, sh.row)
	}
	return 0, false
}

// headerBoxes lays out the header line and the field boxes from y = 0 and
// returns them with the texts and the height they take.
func headerBoxes(f *focus) ([]Box, []Text, float64) {
	if !f.hasGVA || f.mode == mmu.PagingOff {
		return nil, nil, 0
	}
	line := f.levelWord() + "GVA " + f.gva.String() // L1 or L2 in a nested run
	texts := []Text{{S: line, X: 0, Y: 0, Size: headFont, Font: MonoBold, Color: Ink}}
	sub := f.access
	switch {
	case sub != "":
	case f.step == 0:
		sub = "the first address the script translates"
	default:
		sub = "the address of the last walk"
	}
	sub = fmt.Sprintf("%s · vCPU %d · %s", sub, f.vcpu, f.mode)
	texts = append(texts, Text{S: sub, X: TextWidth(line+"  ", MonoBold, headFont), Y: (headFont - headSub) * 0.7,
		Size: headSub, Font: Prose, Color: MutedInk})
	y := LineHeight(headFont) + 6
	lit, hasLit := litLevel(f)
	var boxes []Box
	x := 0.0
	for _, g := range fieldsOf(f) {
		b := fieldBox(f, g, hasLit && g.level == lit)
		b.Rect = b.Rect.Offset(x, y)
		if b.Lit {
			texts = append(texts, Text{S: "▲", X: b.Rect.Center().X, Y: b.Rect.Bottom() + 1, Size: 12,
				Font: Mono, Color: LevelInk(g.level), Align: AlignCenter})
		}
		x = b.Rect.Right() + fieldGap
		boxes = append(boxes, b)
	}
	return boxes, texts, y + fieldTitleH + 2*fieldRowH + 4 + 14
}

// fieldBox is one field: its name and bit range, its bits, its value.
func fieldBox(f *focus, g gvaField, lit bool) Box {
	v := (uint64(f.gva) >> uint(g.lo)) & (1<<uint(g.hi-g.lo+1) - 1)
	title := fmt.Sprintf("%s %d:%d", g.name, g.hi, g.lo)
	bitsS := fmt.Sprintf("%0*b", g.hi-g.lo+1, v)
	val := "= " + strconv.FormatUint(v, 10)
	switch g.level {
	case 0:
		val = "= " + hexVal(v)
	case -1:
		bitsS = "all " + bitsS[:1] + "s"
		val = "canonical"
		if !canonical(f.gva, g.lo) {
			bitsS, val = fmt.Sprintf("%#x", v), "not canonical"
		}
	}
	w := max(TextWidth(title, Mono, fieldTitleFont), TextWidth(bitsS, Mono, rowFont),
		TextWidth(val, MonoBold, rowFont)) + 2*fieldPad
	ink := LevelInk(max(g.level, 0))
	b := Box{ID: fmt.Sprintf("gva:%d", g.level), Kind: BoxField, Level: g.level, Fill: LevelTint(max(g.level, 0)),
		Border: ink, BorderW: 1, TitleH: fieldTitleH, Alpha: 1, Lit: lit,
		Rect: Rect{0, 0, w, fieldTitleH + 2*fieldRowH + 4}}
	if lit {
		b.BorderW, b.Fill = 3, BoxFill
	}
	if g.level == -1 && !canonical(f.gva, g.lo) {
		ink = FaultInk
		b.Border, b.BorderW, b.Fill = FaultInk, 3, FaultPaper
	}
	center := w / 2
	b.Title = []Text{{S: title, X: center, Y: (fieldTitleH - LineHeight(fieldTitleFont)) / 2, Size: fieldTitleFont,
		Font: Mono, Color: ink, Align: AlignCenter}}
	for i, s := range []string{bitsS, val} {
		font := Mono
		if i == 1 {
			font = MonoBold
		}
		y := fieldTitleH + float64(i)*fieldRowH
		b.Rows = append(b.Rows, Row{Rect: Rect{boxInset, y, w - 2*boxInset, fieldRowH}, Index: -1,
			Texts: []Text{{S: s, X: center, Y: y + (fieldRowH-LineHeight(rowFont))/2, Size: rowFont, Font: font,
				Color: Ink, Align: AlignCenter}}})
	}
	return b
}

// canonical reports whether the bits of gva from lo-1 (the top bit the
// walk uses) up to 63 are all equal, as long mode requires.
func canonical(gva mmu.GVA, lo int) bool {
	top := uint64(gva) >> uint(lo-1)
	return top == 0 || top == ^uint64(0)>>uint(lo-1)
}

// captionBox is the narration of the step with its kernel function, as
// wide as the picture, always room for maxCaptionLines lines so that the
// picture does not jump when a sentence is longer.
func captionBox(f *focus, width float64) Box {
	const size, lines = 15.0, 3
	fn, text := "", "The initial state, before the first step. Press → or Space to step."
	if f.event != nil {
		fn, text = f.event.Func, f.event.Text
	}
	lh := LineHeight(size) + 2
	b := Box{ID: "caption", Kind: BoxCaption, Fill: BoxFill, Border: BoxBorder, BorderW: 1, Alpha: 1,
		Rect: Rect{0, 0, width, titleH + lines*lh + 8}, TitleH: titleH, TitleBG: LevelTint(0)}
	label := fmt.Sprintf("step %d of %d", f.step, f.total-1)
	b.Title = []Text{
		{S: label, X: width - padX, Y: (titleH - LineHeight(13)) / 2, Size: 13, Font: Prose, Color: MutedInk, Align: AlignRight},
	}
	switch {
	case fn == "cpu":
		fn = "the CPU's page walker (no KVM code runs)"
	case fn != "" && !strings.Contains(fn, " "):
		fn += "()" // a kernel function; "guest store" is not one
	}
	if fn != "" {
		b.Title = append(b.Title, Text{S: fn, X: padX, Y: (titleH - LineHeight(13)) / 2, Size: 13,
			Font: MonoBold, Color: Ink})
	}
	wrapped := Wrap(text, Prose, size, width-2*padX)
	if len(wrapped) > lines {
		wrapped = wrapped[:lines]
		wrapped[lines-1] = ellipsis(wrapped[lines-1], size, width-2*padX)
	}
	for i, s := range wrapped {
		y := titleH + 4 + float64(i)*lh
		b.Rows = append(b.Rows, Row{Rect: Rect{boxInset, y, width - 2*boxInset, lh}, Index: -1,
			Texts: []Text{{S: s, X: padX, Y: y + 1, Size: size, Font: Prose, Color: Ink}}})
	}
	return b
}

// ellipsis ends a line cut short with " …", dropping words until it fits
// in maxW.
func ellipsis(line string, size, maxW float64) string {
	for {
		out := strings.TrimRight(line, " .,;:") + " …"
		i := strings.LastIndexByte(line, ' ')
		if TextWidth(out, Prose, size) <= maxW || i < 0 {
			return out
		}
		line = line[:i]
	}
}
