package render

import (
	"fmt"

	"mmuviz/mmu"
)

// The 2D walk grid: one row per guest level whose table the walk reaches
// (root first, then the final GPA), one column per host (EPT/NPT) level
// plus one for the read of the guest entry itself. Each memory reference
// of the hardware's two-dimensional walk fills its cell with its number,
// in walk order, so that the (g+1)(h+1)−1 references are counted on the
// screen as they happen.

// cellKey is a cell of the grid: the guest level whose table is being
// reached (0: the final GPA) and the host level of the entry read (0: the
// guest entry itself), as mmu.Event's GuestLevel and HostLevel.
type cellKey struct{ guest, host int }

// gridModel is the 2D walk of one attempt at an access, as far as the
// step has got. It is built from the trace alone (the attempt's events),
// so it is tested with synthetic events.
type gridModel struct {
	mode   mmu.PagingMode
	rows   []int // guest levels, root first; 0 is the final GPA
	regRow int   // level of a row that is registers (PAE: 3), 0 when none
	h      int   // host levels
	g      int   // guest levels whose entries are read from memory

	refs     map[cellKey]int // references made so far, by cell
	cur      cellKey         // the reference of this step
	hasCur   bool
	fault    cellKey // where an EPT violation stopped the walk
	hasFault bool
	stopped  bool // a fault of the guest's own ended the walk
	count    int  // references so far (the highest Ref seen)
	total    int  // references the whole attempt makes
	lastPos  int  // grid position of the latest reference, -1 when none
	try      int  // 1 for the first attempt at the access, 2 after a retry…
	byGPA    bool // the attempt is a store by GPA: the data page's row alone
}

// guestRows lists the grid's rows for a guest paging mode: its levels from
// the root down, then 0 for the final GPA.
func guestRows(mode mmu.PagingMode) []int {
	var rows []int
	if mode != mmu.PagingOff {
		for l := mmu.RootLevel(mode); l >= 1; l-- {
			rows = append(rows, l)
		}
	}
	return append(rows, 0)
}

// isRef reports whether e is a memory reference of a 2D walk.
func isRef(e *mmu.Event) bool { return e.TwoD && e.Ref > 0 && e.Kind == mmu.EvRead }

// newGridModel builds the grid of an attempt: events are the attempt's
// whole trace (from its begin to the next), done how many of them have
// happened (the current one last), h the host levels, regRow the guest
// level read from registers (0 when none).
func newGridModel(mode mmu.PagingMode, h, regRow int, events []mmu.Event, done, try int) *gridModel {
	m := &gridModel{mode: mode, h: h, refs: map[cellKey]int{}, lastPos: -1, try: try, regRow: regRow}
	m.rows = guestRows(mode)
	if len(events) > 0 && events[0].Kind == mmu.EvBegin && events[0].Space == mmu.SpaceGPA {
		m.storeByGPA()
	}
	m.countLevels()
	for i := range events {
		e := &events[i]
		if isRef(e) {
			m.total = max(m.total, e.Ref)
		}
		if i >= done {
			continue
		}
		k := cellKey{e.GuestLevel, e.HostLevel}
		switch {
		case isRef(e):
			m.refs[k] = e.Ref
			m.count = max(m.count, e.Ref)
			m.lastPos = max(m.lastPos, m.pos(k))
		case e.Kind == mmu.EvFault && e.TwoD:
			m.fault, m.hasFault = m.faultCell(e), true
		case e.Kind == mmu.EvFault:
			m.stopped = true // the guest's own fault: the rest is not reached
		case e.Kind == mmu.EvResult && !m.hasFault && !m.stopped:
			m.lastPos = len(m.rows) * (h + 1) // a complete walk passed every cell
		}
		if i == done-1 && isRef(e) {
			m.cur, m.hasCur = k, true
		}
	}
	return m
}

// storeByGPA makes the grid that of a store by guest-physical address: no
// guest tables to walk, only the data page's GPA through the host tables.
func (m *gridModel) storeByGPA() {
	m.rows, m.byGPA = []int{0}, true
	m.countLevels()
}

// countLevels counts the guest levels whose entries come from memory.
func (m *gridModel) countLevels() {
	m.g = 0
	for _, l := range m.rows {
		if l != 0 && l != m.regRow {
			m.g++
		}
	}
}

// faultCell is the cell where a violation happened: its own position when
// the event has one, else the last reference made.
func (m *gridModel) faultCell(e *mmu.Event) cellKey {
	if e.TwoD && e.HostLevel > 0 {
		return cellKey{e.GuestLevel, e.HostLevel}
	}
	best, at := cellKey{}, -1
	for k := range m.refs {
		if p := m.pos(k); p > at {
			best, at = k, p
		}
	}
	return best
}

// formula is (g+1)(h+1)−1, the references of a walk without huge pages.
func (m *gridModel) formula() int { return (m.g+1)*(m.h+1) - 1 }

// rowIndex is the position of a guest level among the rows, -1 if none.
func (m *gridModel) rowIndex(level int) int {
	for i, l := range m.rows {
		if l == level {
			return i
		}
	}
	return -1
}

// pos is the order of a cell in the walk: row by row, the host levels from
// the root down, then the guest entry.
func (m *gridModel) pos(k cellKey) int {
	col := m.h
	if k.host > 0 {
		col = m.h - k.host
	}
	return m.rowIndex(k.guest)*(m.h+1) + col
}

// cellState says what a cell of the grid shows.
type cellState uint8

const (
	cellEmpty   cellState = iota // not reached (yet)
	cellDone                     // a reference made earlier
	cellCurrent                  // the reference of this step
	cellFault                    // where an EPT violation stopped the walk
	cellSkipped                  // passed without a reference: a huge page
	cellNone                     // no reference can be here (the final GPA's guest entry)
)

// state is what cell k shows, with its reference number if it has one.
func (m *gridModel) state(k cellKey) (cellState, int) {
	if k.guest == 0 && k.host == 0 {
		return cellNone, 0
	}
	n, ok := m.refs[k]
	switch {
	case m.hasFault && k == m.fault:
		return cellFault, n
	case ok && m.hasCur && k == m.cur:
		return cellCurrent, n
	case ok:
		return cellDone, n
	case m.pos(k) < m.lastPos:
		return cellSkipped, 0
	}
	return cellEmpty, 0
}

// filled counts the cells that show a reference number.
func (m *gridModel) filled() int { return len(m.refs) }

// countText is the running count and the formula with the actual numbers.
func (m *gridModel) countText() (string, string) {
	f := m.formula()
	count := fmt.Sprintf("refs: %d / %d", m.count, f)
	formula := fmt.Sprintf("(g+1)(h+1)-1 = (%d+1)(%d+1)-1 = %d", m.g, m.h, f)
	return count, formula
}

// noteText says why a finished attempt made fewer references than the
// formula, or that it is the walk's n-th try.
func (m *gridModel) noteText() string {
	skipped := 0
	for _, l := range m.rows {
		if l == m.regRow && l != 0 {
			continue
		}
		for c := m.h; c >= 0; c-- {
			if s, _ := m.state(cellKey{l, c}); s == cellSkipped {
				skipped++
			}
		}
	}
	switch {
	case m.hasFault:
		return fmt.Sprintf("a violation stopped the walk after %d", m.count)
	case skipped > 0:
		return fmt.Sprintf("huge pages skipped %d", skipped)
	case m.try > 1:
		return fmt.Sprintf("try %d, after KVM fixed the tables", m.try)
	}
	return ""
}

// Geometry of the grid box, at scale 1.
const (
	gridCellW   = 42.0
	gridCellH   = 22.0
	gridGap     = 3.0
	gridHeadH   = 18.0
	gridFont    = 13.0
	gridSmall   = 11.0
	gridCountF  = 15.0
	gridLineH   = 20.0
	gridLabelX  = padX + stripW
	gridLabelW0 = 64.0
)

// gridBox lays the grid out at the origin. guest names whose tables the
// rows are ("guest", "L2"), host the host tables ("EPT", "NPT", "EPT02").
func gridBox(m *gridModel, guest, host string) Box {
	labelW := gridLabelW0
	for _, l := range m.rows {
		labelW = max(labelW, TextWidth(gridRowLabel(m, l), Prose, gridSmall)+12)
	}
	cols := m.h + 1
	x0 := gridLabelX + labelW
	title := fmt.Sprintf("2D walk · %s %s × %d-level %s", guestShort(m.mode), guest, m.h, host)
	if m.byGPA {
		title = fmt.Sprintf("walk of a GPA · %d-level %s", m.h, host)
	}
	count, formula := m.countText()
	w := max(x0+float64(cols)*(gridCellW+gridGap)+padX,
		stripW+TextWidth(title, MonoBold, titleFont)+2*padX+4,
		gridLabelX+TextWidth(formula, Mono, gridSmall+1)+padX,
		gridLabelX+TextWidth(count, MonoBold, gridCountF)+padX)
	b := Box{ID: "grid", Kind: BoxGrid, Fill: BoxFill, Border: HostInk, BorderW: 1.5, TitleH: titleH,
		TitleBG: HostTint, Alpha: 1}
	b.Title = []Text{{S: title, X: padX + stripW, Y: (titleH - LineHeight(titleFont)) / 2, Size: titleFont,
		Font: MonoBold, Color: Ink}}
	y := titleH + 4
	b.Rows = append(b.Rows, gridHeader(m, guest, host, x0, y)...)
	y += 2 * gridHeadH
	for _, l := range m.rows {
		b.Rows = append(b.Rows, gridRow(m, l, x0, y, labelW)...)
		y += gridCellH + gridGap
	}
	y += 4
	lines := []Text{{S: count, Size: gridCountF, Font: MonoBold, Color: Ink},
		{S: formula, Size: gridSmall + 1, Font: Mono, Color: MutedInk}}
	if note := m.noteText(); note != "" {
		lines = append(lines, Text{S: note, Size: gridSmall + 1, Font: Prose, Color: MutedInk})
	}
	for _, t := range lines {
		t.X, t.Y = gridLabelX, y+(gridLineH-LineHeight(t.Size))/2
		b.Rows = append(b.Rows, Row{Rect: Rect{boxInset, y, w - 2*boxInset, gridLineH}, Index: -1, Texts: []Text{t}})
		y += gridLineH
	}
	b.Rect = Rect{0, 0, w, y + padBot}
	return b
}

// gridHeader labels the columns on two lines: "its GPA through the EPT"
// over the host levels' entries, "then" over the guest's own entry.
func gridHeader(m *gridModel, guest, host string, x0, y float64) []Row {
	colX := func(c int) float64 { return x0 + float64(c)*(gridCellW+gridGap) + gridCellW/2 }
	span := (colX(0) + colX(m.h-1)) / 2
	out := []Row{
		gridLabel("its GPA through the "+host, span, y, gridHeadH, MutedInk, AlignCenter),
		gridLabel("then", colX(m.h), y, gridHeadH, MutedInk, AlignCenter),
		gridLabel(guest+" table", gridLabelX, y+gridHeadH, gridHeadH, MutedInk, AlignLeft),
	}
	for c := 0; c <= m.h; c++ {
		name := "entry"
		if hl := m.h - c; hl > 0 {
			name = mmu.EntryName(mmu.Paging4, hl)
		}
		out = append(out, gridLabel(name, colX(c), y+gridHeadH, gridHeadH, MutedInk, AlignCenter))
	}
	return out
}

// gridLabel is a row holding one label.
func gridLabel(s string, x, y, h float64, c Color, a Align) Row {
	return Row{Rect: Rect{x, y, 0, h}, Index: -1,
		Texts: []Text{{S: s, X: x, Y: y + (h-LineHeight(gridSmall))/2, Size: gridSmall, Font: Prose, Color: c, Align: a}}}
}

// guestShort names a guest mode in a few characters.
func guestShort(mode mmu.PagingMode) string {
	switch mode {
	case mmu.PagingOff:
		return "unpaged"
	case mmu.Paging32:
		return "2-level"
	case mmu.PagingPAE:
		return "PAE"
	}
	return fmt.Sprintf("%d-level", int(mode))
}

// gridRowLabel names a row: the guest table being reached, or the page.
func gridRowLabel(m *gridModel, l int) string {
	switch {
	case l == 0:
		return "data page"
	case l == m.regRow:
		return "PDPTR"
	}
	return mmu.TableName(m.mode, l)
}

// gridRow is one row of the grid: its label and its cells.
func gridRow(m *gridModel, l int, x0, y, labelW float64) []Row {
	label := Row{Rect: Rect{boxInset + stripW, y, labelW + gridLabelX - stripW - boxInset - 4, gridCellH},
		Fill: LevelTint(l), Level: l, Index: -1,
		Texts: []Text{{S: gridRowLabel(m, l), X: gridLabelX, Y: y + (gridCellH-LineHeight(gridSmall))/2,
			Size: gridSmall, Font: Prose, Color: Ink}}}
	if l == 0 {
		label.Fill = LevelTint(0)
	}
	out := []Row{label}
	if l == m.regRow && l != 0 {
		w := float64(m.h+1)*(gridCellW+gridGap) - gridGap
		out = append(out, Row{Rect: Rect{x0, y, w, gridCellH}, Fill: RegFill, Level: l, Index: -1,
			Texts: []Text{{S: "register, no reference", X: x0 + w/2, Y: y + (gridCellH-LineHeight(gridSmall))/2,
				Size: gridSmall, Font: Prose, Color: MutedInk, Align: AlignCenter}}})
		return out
	}
	for c := 0; c <= m.h; c++ {
		hl := m.h - c
		if c == m.h {
			hl = 0
		}
		out = append(out, gridCell(m, cellKey{l, hl}, x0+float64(c)*(gridCellW+gridGap), y))
	}
	return out
}

// gridCell is one cell: its fill says its state, its text the reference.
func gridCell(m *gridModel, k cellKey, x, y float64) Row {
	st, n := m.state(k)
	r := Row{Rect: Rect{x, y, gridCellW, gridCellH}, Level: k.guest, Index: k.host, Count: 1}
	txt := ""
	font, ink := MonoBold, Ink
	switch st {
	case cellNone:
		return Row{Rect: r.Rect, Index: -1}
	case cellEmpty:
		r.Fill = GridEmpty
	case cellDone:
		r.Fill, txt = HostTint, fmt.Sprint(n)
		if k.host == 0 {
			r.Fill = LevelTint(k.guest)
		}
	case cellCurrent:
		r.Fill, txt = CurrentFill, fmt.Sprint(n)
	case cellFault:
		r.Fill, txt, ink = FaultFill, "×", FaultInk
		if n > 0 {
			txt = fmt.Sprintf("×%d", n)
		}
	case cellSkipped:
		r.Fill, txt, font, ink = GridEmpty, "—", Mono, MutedInk
	}
	if txt != "" {
		r.Texts = []Text{{S: txt, X: x + gridCellW/2, Y: y + (gridCellH-LineHeight(gridFont))/2, Size: gridFont,
			Font: font, Color: ink, Align: AlignCenter}}
	}
	return r
}
