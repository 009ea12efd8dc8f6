package render

import "fmt"

// Size is the size of the stage in CSS pixels.
type Size struct{ W, H float64 }

// Point is a position in CSS pixels.
type Point struct{ X, Y float64 }

// Rect is an axis-aligned rectangle: top-left corner and size.
type Rect struct{ X, Y, W, H float64 }

// Right is the x coordinate of the right edge.
func (r Rect) Right() float64 { return r.X + r.W }

// Bottom is the y coordinate of the bottom edge.
func (r Rect) Bottom() float64 { return r.Y + r.H }

// Center is the middle of the rectangle.
func (r Rect) Center() Point { return Point{r.X + r.W/2, r.Y + r.H/2} }

// Offset returns r moved by (dx, dy).
func (r Rect) Offset(dx, dy float64) Rect { return Rect{r.X + dx, r.Y + dy, r.W, r.H} }

// Inset returns r shrunk by d on every side.
func (r Rect) Inset(d float64) Rect { return Rect{r.X + d, r.Y + d, r.W - 2*d, r.H - 2*d} }

// Overlaps reports whether r and o share interior area.
func (r Rect) Overlaps(o Rect) bool {
	return r.X < o.Right() && o.X < r.Right() && r.Y < o.Bottom() && o.Y < r.Bottom()
}

// Contains reports whether p lies inside r or on its edge.
func (r Rect) Contains(p Point) bool {
	return p.X >= r.X && p.X <= r.Right() && p.Y >= r.Y && p.Y <= r.Bottom()
}

// Union is the smallest rectangle holding r and o; the zero Rect is
// treated as empty.
func (r Rect) Union(o Rect) Rect {
	if r == (Rect{}) {
		return o
	}
	if o == (Rect{}) {
		return r
	}
	x, y := min(r.X, o.X), min(r.Y, o.Y)
	return Rect{x, y, max(r.Right(), o.Right()) - x, max(r.Bottom(), o.Bottom()) - y}
}

// Color is an sRGB colour with straight alpha.
type Color struct{ R, G, B, A uint8 }

// Hex formats the colour as #rrggbb, as probe() reports it.
func (c Color) Hex() string { return fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B) }

// Font selects a face: monospace for addresses and entries, proportional
// ("prose") for narration.
type Font uint8

// The faces a Scene uses: Go Mono, Go Mono Bold and Go Regular. (Every
// face costs the wasm its TrueType file, so there is no bold prose.)
const (
	Mono Font = iota
	MonoBold
	Prose
)

// Align says where a Text's X is: its left edge, centre or right edge.
type Align uint8

// Horizontal alignments of a Text.
const (
	AlignLeft Align = iota
	AlignCenter
	AlignRight
)

// Text is one line of text. X and Y are the top-left of its line box (the
// centre or right edge for other alignments); inside a Box they are relative
// to the box's top-left corner.
type Text struct {
	S     string
	X, Y  float64
	Size  float64 // font size in CSS px
	Font  Font
	Color Color
	Align Align
}

// RowStyle says what a row is, so pictures and tests agree on its meaning;
// the colour and the marker follow from it.
type RowStyle uint8

// The styles of a row.
const (
	RowNormal    RowStyle = iota // an entry that is merely there
	RowPath                      // an entry the walk already went through
	RowCurrent                   // the entry of the current step
	RowWritten                   // an entry the current step wrote
	RowFaulted                   // the entry where the walk faulted
	RowCollapsed                 // a run of entries folded into one line
)

// String names the style for test messages.
func (s RowStyle) String() string {
	return [...]string{"normal", "path", "current", "written", "faulted", "collapsed"}[s]
}

// Row is one line of a box: an entry, a register, a collapsed run. Rect and
// Texts are relative to the box's top-left corner.
type Row struct {
	Rect  Rect
	Style RowStyle
	Fill  Color // A == 0: no fill of its own
	Level int   // the entry's paging level, 0 when the row is no entry
	Index int   // the entry's index; for a collapsed row the first index
	Count int   // entries a collapsed row stands for; 1 for an entry
	Texts []Text
}

// BoxKind says what a box depicts.
type BoxKind uint8

// The kinds of boxes.
const (
	BoxTable     BoxKind = iota // a page-table page in memory
	BoxRegisters                // registers (CR3, PDPTRs): not memory
	BoxResult                   // the end of a walk: the page and the address
	BoxFault                    // a fault and its error code
	BoxMemory                   // a piece of memory that is no table
	BoxField                    // a bit field of the address being translated
	BoxCaption                  // the narration of the step
	BoxGrid                     // the 2D walk grid: a cell per memory reference
)

// Box is a rectangle with an optional title band and rows. ID is stable
// across steps for the same thing (a table's GPA, a register file), which
// is what lets motion ease from one step to the next.
type Box struct {
	ID     string
	Kind   BoxKind
	Rect   Rect
	Level  int // paging level of a table or field, 0 otherwise
	Fill   Color
	Border Color
	// BorderW is the border width; Lit boxes are the ones the step is about.
	BorderW float64
	Lit     bool
	Dashed  bool // registers are drawn dashed: they are not memory
	TitleH  float64
	TitleBG Color
	// Strip is the colour of the strip at the left of the title band; when
	// its A is 0 the drawing picks it from Kind and Level (the guest's
	// level colours).
	Strip Color
	Title []Text // relative to the box
	Rows  []Row
	Alpha float64 // 1 opaque; Tween fades boxes in and out with it
}

// Edge is an arrow, a polyline from a row (or box) to another box, drawn
// with a head at the last point. Points are absolute.
type Edge struct {
	ID       string
	From, To string // box IDs
	Points   []Point
	Color    Color
	Width    float64
	Dashed   bool
	Label    *Text // absolute; nil when none
	Alpha    float64
	FromRow  int // index of the row the arrow leaves from, -1 for the box
	Lit      bool
	HeadSize float64
}

// Panel is a group of boxes, edges and free texts that one view owns: the
// guest walk today; shadow pages, EPT, the 2D grid, roots and vCPUs later.
type Panel struct {
	ID    string
	Title string
	Rect  Rect
	Boxes []Box
	Edges []Edge
	Texts []Text // absolute
}

// Highlight is the thing the current step is about, drawn as a flat,
// opaque fill of Color over Rect. Probe is a part of Rect where nothing
// else is drawn, so a test reading the pixel at its centre sees Color.
type Highlight struct {
	Valid bool
	Box   string // ID of the box holding it
	Row   int    // index of the row in that box, -1 for the whole box
	Rect  Rect   // absolute
	Probe Rect   // absolute, inside Rect
	Color Color
}

// Scene is the whole picture of one step.
type Scene struct {
	Size       Size
	Scale      float64 // how much the natural layout was scaled to fit
	Background Color
	Panels     []Panel
	Highlight  Highlight
	Step       int
}

// Box returns the box with id and whether there is one.
func (s *Scene) Box(id string) (*Box, bool) {
	for p := range s.Panels {
		for b := range s.Panels[p].Boxes {
			if s.Panels[p].Boxes[b].ID == id {
				return &s.Panels[p].Boxes[b], true
			}
		}
	}
	return nil, false
}

// Boxes returns every box of every panel, in drawing order.
func (s *Scene) Boxes() []*Box {
	var out []*Box
	for p := range s.Panels {
		for b := range s.Panels[p].Boxes {
			out = append(out, &s.Panels[p].Boxes[b])
		}
	}
	return out
}

// Edges returns every edge of every panel.
func (s *Scene) Edges() []*Edge {
	var out []*Edge
	for p := range s.Panels {
		for e := range s.Panels[p].Edges {
			out = append(out, &s.Panels[p].Edges[e])
		}
	}
	return out
}
