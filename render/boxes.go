package render

// Natural sizes, in CSS px before the scene is scaled to fit the stage.
const (
	rowFont   = 13.0 // entries, registers: Go Mono
	titleFont = 13.0 // box titles: Go Mono Bold
	rowH      = 20.0
	titleH    = 26.0
	padX      = 8.0
	stripW    = 5.0 // the level-coloured strip at the left of a title band
	// tailW is the part at the right of every row where no text goes: the
	// highlight's probe looks there, and arrows leave from that edge.
	tailW    = 26.0
	boxInset = 2.0 // rows sit this far inside the border
	padBot   = 4.0
)

// cell is one column of a row.
type cell struct {
	s     string
	font  Font
	color Color
	right bool // right-aligned in its column (indices)
}

// rowSpec is a row before geometry: a marker and cells in columns, or (for
// a fold or a sentence) one text spanning the columns.
type rowSpec struct {
	style   RowStyle
	level   int
	index   int
	count   int
	marker  string
	cells   []cell
	span    *cell
	fill    Color
	onPath  bool // the entry the walk follows out of this box
	faultAt bool // the entry the walk faulted on
}

// boxSpec is a box before geometry.
type boxSpec struct {
	id       string
	kind     BoxKind
	level    int
	title    string
	titleInk Color
	titleBG  Color
	strip    Color // level strip colour; A == 0 for none
	fill     Color
	border   Color
	borderW  float64
	dashed   bool
	lit      bool
	rows     []rowSpec
	minW     float64
}

func newTableSpec(id string, kind BoxKind, level int, title string) *boxSpec {
	return &boxSpec{id: id, kind: kind, level: level, title: title, titleInk: Ink,
		titleBG: LevelTint(level), strip: LevelInk(level), fill: BoxFill, border: BoxBorder, borderW: 1.5}
}

// markerW is the width of the marker column ("►", "→", "×", "Δ").
func markerW() float64 { return TextWidth("► ", Mono, rowFont) }

// colWidths measures the columns of the rows.
func (s *boxSpec) colWidths() []float64 {
	var w []float64
	for _, r := range s.rows {
		for i, c := range r.cells {
			if i >= len(w) {
				w = append(w, 0)
			}
			w[i] = max(w[i], TextWidth(c.s, c.font, rowFont))
		}
	}
	return w
}

// build lays the box out at the origin: the title band, then one row per
// rowSpec, columns aligned across rows, a tail of empty fill on the right.
func (s *boxSpec) build() Box {
	cols := s.colWidths()
	gap := TextWidth(" ", Mono, rowFont)
	content := markerW()
	for i, w := range cols {
		if i > 0 {
			content += gap
		}
		content += w
	}
	for _, r := range s.rows {
		if r.span != nil {
			content = max(content, markerW()+TextWidth(r.span.s, r.span.font, rowFont))
		}
	}
	titleW := stripW + TextWidth(s.title, MonoBold, titleFont) + 2*padX + 4
	w := max(s.minW, titleW, padX+content+tailW)
	h := titleH + float64(len(s.rows))*rowH + padBot
	if len(s.rows) == 0 {
		h = titleH
	}
	b := Box{ID: s.id, Kind: s.kind, Level: s.level, Rect: Rect{0, 0, w, h}, Fill: s.fill,
		Border: s.border, BorderW: s.borderW, Dashed: s.dashed, Lit: s.lit, TitleH: titleH,
		TitleBG: s.titleBG, Strip: s.strip, Alpha: 1}
	tx := padX
	if s.strip.A != 0 {
		tx += stripW
	}
	b.Title = []Text{{S: s.title, X: tx, Y: (titleH - LineHeight(titleFont)) / 2, Size: titleFont,
		Font: MonoBold, Color: s.titleInk}}
	for i, r := range s.rows {
		b.Rows = append(b.Rows, s.buildRow(r, i, w, cols, gap))
	}
	return b
}

func (s *boxSpec) buildRow(r rowSpec, i int, w float64, cols []float64, gap float64) Row {
	y := titleH + float64(i)*rowH
	row := Row{Rect: Rect{boxInset, y, w - 2*boxInset, rowH}, Style: r.style, Fill: r.fill,
		Level: r.level, Index: r.index, Count: r.count}
	ty := y + (rowH-LineHeight(rowFont))/2
	x := padX
	if r.marker != "" {
		row.Texts = append(row.Texts, Text{S: r.marker, X: x, Y: ty, Size: rowFont, Font: MonoBold, Color: Ink})
	}
	x += markerW()
	if r.span != nil {
		row.Texts = append(row.Texts, Text{S: r.span.s, X: x, Y: ty, Size: rowFont, Font: r.span.font, Color: r.span.color})
		return row
	}
	for c, cl := range r.cells {
		t := Text{S: cl.s, X: x, Y: ty, Size: rowFont, Font: cl.font, Color: cl.color}
		if cl.right {
			t.X, t.Align = x+cols[c], AlignRight
		}
		if cl.s != "" {
			row.Texts = append(row.Texts, t)
		}
		x += cols[c] + gap
	}
	return row
}

// probeOf is the part of a row's tail that holds nothing but its fill.
func probeOf(row Rect) Rect {
	return Rect{row.Right() - tailW + 6, row.Y + 4, tailW - 14, row.H - 8}
}
