package render

import (
	"strings"
	"sync"
)

// Text is measured with a table of the Go fonts' advances (advances.go)
// rather than by parsing the fonts, which keeps render free of font code;
// render/draw's tests check that the table agrees with what Ebiten draws.

const (
	unitsPerEm = 2048.0
	// lineHeightEm is ascent + descent of every Go font (1935 + 432 units),
	// the height text/v2 gives one line.
	lineHeightEm = (1935.0 + 432.0) / unitsPerEm
	// fallbackEm is the advance assumed for a rune missing from the table:
	// the Go Mono advance, a little wider than the average prose glyph.
	fallbackEm = 1229.0 / unitsPerEm
)

var (
	runeIndexOnce sync.Once
	runeIndex     map[rune]int
)

// tableIndex is r's index in the advance table: ASCII by its code, other
// runes by their place in advanceRunes.
func tableIndex(r rune) (int, bool) {
	if r >= ' ' && r <= '~' {
		return int(r - ' '), true
	}
	runeIndexOnce.Do(func() {
		runeIndex = map[rune]int{}
		i := 0
		for _, r := range advanceRunes {
			runeIndex[r] = i
			i++
		}
	})
	i, ok := runeIndex[r]
	return i, ok
}

func advanceEm(f Font, r rune) float64 {
	if i, ok := tableIndex(r); ok {
		return float64(advances[f][i]) / unitsPerEm
	}
	return fallbackEm
}

// TextWidth measures s in face f at size px.
func TextWidth(s string, f Font, size float64) float64 {
	w := 0.0
	for _, r := range s {
		w += advanceEm(f, r)
	}
	return w * size
}

// LineHeight is the height of one line at size px (the same for every face).
func LineHeight(size float64) float64 { return lineHeightEm * size }

// Wrap breaks s into lines no wider than maxW, at spaces; a word longer
// than a line gets a line of its own. Newlines in s are kept.
func Wrap(s string, f Font, size, maxW float64) []string {
	var lines []string
	for _, para := range strings.Split(s, "\n") {
		words := strings.Fields(para)
		cur := ""
		for _, w := range words {
			try := w
			if cur != "" {
				try = cur + " " + w
			}
			if cur != "" && TextWidth(try, f, size) > maxW {
				lines = append(lines, cur)
				cur = w
				continue
			}
			cur = try
		}
		if cur != "" || len(words) == 0 {
			lines = append(lines, cur)
		}
	}
	return lines
}

// HasGlyph says the layout knows the advance of r: printable ASCII or a
// rune of the measured table. Text with other runes is drawn with
// whatever the font has (often an empty box) and measured by a guess.
func HasGlyph(r rune) bool {
	_, ok := tableIndex(r)
	return ok
}
