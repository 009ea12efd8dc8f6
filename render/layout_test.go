package render_test

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"mmuviz/mmu"
	"mmuviz/render"
	"mmuviz/scenarios"
)

// stageSizes are the stages every step is laid out for: the page at
// 1280×800 (stage 870×800), the whole of a 1280×800 screen, a projector at
// 1920×1080 without the panel, a small laptop, and a phone in portrait.
var stageSizes = []render.Size{{W: 870, H: 800}, {W: 1280, H: 800}, {W: 1920, H: 1080}, {W: 900, H: 520},
	{W: 380, H: 700}}

// TestLayoutEveryStep lays out every step of every built-in scenario
// (native, 2D and shadow paging) at every size and checks the picture's
// promises.
func TestLayoutEveryStep(t *testing.T) {
	for _, name := range scenarios.Builtin() {
		for _, variant := range variantsOf(t, name) {
			label := strings.TrimSuffix(name+":"+variant, ":")
			t.Run(label, func(t *testing.T) {
				s, err := scenarios.LoadBuiltinVariant(name, variant)
				if err != nil {
					t.Fatal(err)
				}
				layoutEveryStep(t, label, s.Timeline())
			})
		}
	}
}

// variantsOf lists the variants of a built-in scenario to lay out: "" (the
// default) and every other one it declares.
func variantsOf(t testing.TB, name string) []string {
	s, err := scenarios.LoadBuiltin(name)
	if err != nil {
		t.Fatal(err)
	}
	out := []string{""}
	for i, v := range s.Variants {
		if i > 0 {
			out = append(out, v.Name)
		}
	}
	return out
}

// layoutEveryStep checks every step of tl at every stage size.
func layoutEveryStep(t *testing.T, name string, tl *mmu.Timeline) {
	t.Helper()
	for step := 0; step < tl.Len(); step++ {
		v, err := tl.Seek(step)
		if err != nil {
			t.Fatal(err)
		}
		for _, size := range stageSizes {
			sc := render.Layout(v, tl, size)
			for _, p := range checkScene(sc, v) {
				t.Errorf("%s step %d at %.0fx%.0f: %s", name, step, size.W, size.H, p)
			}
			if t.Failed() {
				t.Fatalf("first failing scene:\n%s", dump(sc))
			}
		}
	}
}

// checkScene returns every broken promise of a scene.
func checkScene(sc *render.Scene, v *mmu.View) []string {
	var bad []string
	add := func(f string, a ...any) { bad = append(bad, fmt.Sprintf(f, a...)) }
	boxes := sc.Boxes()
	bounds := render.Rect{W: sc.Size.W, H: sc.Size.H}.Inset(-0.5)
	for i, b := range boxes {
		if !bounds.Contains(render.Point{X: b.Rect.X, Y: b.Rect.Y}) ||
			!bounds.Contains(render.Point{X: b.Rect.Right(), Y: b.Rect.Bottom()}) {
			add("box %s %v leaves the stage", b.ID, b.Rect)
		}
		for _, o := range boxes[i+1:] {
			if b.Rect.Inset(0.5).Overlaps(o.Rect.Inset(0.5)) {
				add("boxes %s and %s overlap", b.ID, o.ID)
			}
		}
		bad = append(bad, checkTexts(b)...)
	}
	bad = append(bad, checkEdges(sc)...)
	bad = append(bad, checkHighlight(sc, v)...)
	bad = append(bad, checkTables(sc, v)...)
	bad = append(bad, checkHostTables(sc, v)...)
	if v.Machine.ShadowEnabled() {
		bad = append(bad, checkShadowScene(sc, v)...)
	}
	if v.Machine.TDPEnabled() {
		bad = append(bad, checkGrid(sc, v)...)
	}
	if v.Event != nil && v.Event.Kind == mmu.EvFault && !hasKind(sc, render.BoxFault) {
		add("fault step without a fault box")
	}
	return bad
}

func hasKind(sc *render.Scene, k render.BoxKind) bool {
	for _, b := range sc.Boxes() {
		if b.Kind == k {
			return true
		}
	}
	return false
}

// textSpan is the horizontal extent of a text.
func textSpan(t render.Text) (float64, float64) {
	w := render.TextWidth(t.S, t.Font, t.Size)
	switch t.Align {
	case render.AlignCenter:
		return t.X - w/2, t.X + w/2
	case render.AlignRight:
		return t.X - w, t.X
	}
	return t.X, t.X + w
}

// checkTexts checks that every text of a box stays inside it.
func checkTexts(b *render.Box) []string {
	var bad []string
	check := func(t render.Text) {
		l, r := textSpan(t)
		if l < -0.5 || r > b.Rect.W+0.5 || t.Y < -0.5 || t.Y+render.LineHeight(t.Size) > b.Rect.H+0.5 {
			bad = append(bad, fmt.Sprintf("text %q sticks out of box %s", t.S, b.ID))
		}
		for _, c := range t.S {
			if !render.HasGlyph(c) {
				bad = append(bad, fmt.Sprintf("text %q of box %s has %q, which the fonts' table lacks", t.S, b.ID, c))
				break
			}
		}
	}
	for _, t := range b.Title {
		check(t)
	}
	for _, r := range b.Rows {
		for _, t := range r.Texts {
			check(t)
		}
	}
	return bad
}

// checkEdges checks that no arrow runs through a box: through one it does
// not touch at all, through its own ends only at their borders.
func checkEdges(sc *render.Scene) []string {
	var bad []string
	for _, e := range sc.Edges() {
		if len(e.Points) < 2 {
			bad = append(bad, "edge "+e.ID+" has fewer than 2 points")
			continue
		}
		for _, b := range sc.Boxes() {
			r := b.Rect.Inset(1)
			if b.ID == e.From || b.ID == e.To {
				r = b.Rect.Inset(2)
			}
			for i := 1; i < len(e.Points); i++ {
				if segmentHits(e.Points[i-1], e.Points[i], r) {
					bad = append(bad, fmt.Sprintf("edge %s crosses box %s", e.ID, b.ID))
				}
			}
		}
	}
	return bad
}

// segmentHits reports whether the axis-parallel segment a-b enters r.
func segmentHits(a, b render.Point, r render.Rect) bool {
	lo := render.Point{X: min(a.X, b.X), Y: min(a.Y, b.Y)}
	hi := render.Point{X: max(a.X, b.X), Y: max(a.Y, b.Y)}
	return lo.X < r.Right() && hi.X > r.X && lo.Y < r.Bottom() && hi.Y > r.Y
}

// checkHighlight checks that the step highlights one row, marked with text,
// that it is the entry the event is about, and that the probe is pure fill.
func checkHighlight(sc *render.Scene, v *mmu.View) []string {
	h := sc.Highlight
	if !h.Valid {
		return []string{"nothing is highlighted"}
	}
	b, ok := sc.Box(h.Box)
	if !ok || h.Row < 0 || h.Row >= len(b.Rows) {
		return []string{"the highlight names no row"}
	}
	var bad []string
	row := b.Rows[h.Row]
	abs := row.Rect.Offset(b.Rect.X, b.Rect.Y)
	if !within(abs, h.Rect.Inset(-1e-6)) || !within(h.Rect, abs.Inset(-1e-6)) {
		bad = append(bad, fmt.Sprintf("highlight %v is not its row %v", h.Rect, abs))
	}
	if !within(h.Probe, h.Rect) || h.Probe.W < 2 || h.Probe.H < 2 {
		bad = append(bad, fmt.Sprintf("probe %v is not a useful part of %v", h.Probe, h.Rect))
	}
	marked := false
	for _, t := range row.Texts {
		l, r := textSpan(t)
		if r+b.Rect.X > h.Probe.X && l+b.Rect.X < h.Probe.Right() {
			bad = append(bad, fmt.Sprintf("text %q lies over the probe", t.S))
		}
		marked = marked || t.S == "►" || t.S == "Δ" || t.S == "×"
	}
	if !marked {
		bad = append(bad, "the highlighted row has no ►, Δ or × marker")
	}
	if e := v.Event; e != nil && e.HasEntry && e.Level > 0 && (row.Level != e.Level || row.Index != e.Index) {
		bad = append(bad, fmt.Sprintf("highlight is entry %d[%d], the event is about %d[%d]",
			row.Level, row.Index, e.Level, e.Index))
	}
	if e := v.Event; e != nil && e.Kind == mmu.EvWrite && e.HasEntry && row.Style != render.RowWritten {
		bad = append(bad, "a written entry is highlighted as "+row.Style.String())
	}
	return bad
}

func within(in, out render.Rect) bool {
	return in.X >= out.X-1e-9 && in.Y >= out.Y-1e-9 && in.Right() <= out.Right()+1e-9 && in.Bottom() <= out.Bottom()+1e-9
}

var foldRe = regexp.MustCompile(`^… (\d+) (empty|more, (\d+) present)$`)

// checkTables checks that a table box accounts for each of its entries
// once and that folded runs say truly how many entries, and which, they
// stand for.
func checkTables(sc *render.Scene, v *mmu.View) []string {
	var bad []string
	for _, b := range sc.Boxes() {
		if b.Kind != render.BoxTable || !strings.HasPrefix(b.ID, "gpt:") {
			continue
		}
		gpa, err := strconv.ParseUint(strings.TrimPrefix(b.ID, "gpt:0x"), 16, 64)
		if err != nil {
			bad = append(bad, "table box with a bad ID "+b.ID)
			continue
		}
		// The tables drawn are those of the vCPU in focus; with vCPUs in
		// different paging modes, the one whose table size the rows add up
		// to. A nested guest's tables ("@ L2 GPA") are read from L2's
		// guest-physical space, in L2's mode.
		total := 0
		for _, r := range b.Rows {
			total += r.Count
		}
		l2 := strings.Contains(b.Title[0].S, "@ L2 GPA")
		vcpu, mode := 0, v.Machine.GuestMode(0)
		for id := range v.Machine.VCPUs {
			m := v.Machine.GuestMode(id)
			if l2 && tableSize(m, b) != total {
				m = v.Machine.L2Mode(id) // after a VM-exit, walk_mmu is L1's
			}
			if tableSize(m, b) == total {
				vcpu, mode = id, m
				break
			}
		}
		n := tableSize(mode, b)
		entries := v.Machine.GuestTable(mode, mmu.GPA(gpa), n)
		if l2 {
			entries = v.Machine.L2GuestTable(vcpu, mode, mmu.GPA(gpa), n)
		}
		next := 0
		for _, r := range b.Rows {
			if r.Count == 0 {
				continue // a status line (shadow paging): no entry
			}
			if r.Index != next {
				bad = append(bad, fmt.Sprintf("%s: row starts at %d, want %d", b.ID, r.Index, next))
			}
			next = r.Index + r.Count
			if r.Style == render.RowCollapsed {
				bad = append(bad, checkFold(b.ID, r, entries)...)
			}
		}
		if next != n {
			bad = append(bad, fmt.Sprintf("%s: rows account for %d entries of %d", b.ID, next, n))
		}
	}
	return bad
}

// tableSize is how many entries a guest table box of mode has.
func tableSize(mode mmu.PagingMode, b *render.Box) int {
	if strings.Contains(b.Title[0].S, "PDPT") && mode == mmu.PagingPAE {
		return 4
	}
	return mmu.TableEntries(mode, b.Level)
}

func checkFold(id string, r render.Row, entries []uint64) []string {
	m := foldRe.FindStringSubmatch(r.Texts[len(r.Texts)-1].S)
	if m == nil {
		return []string{fmt.Sprintf("%s: fold row %q", id, r.Texts[len(r.Texts)-1].S)}
	}
	if n, _ := strconv.Atoi(m[1]); n != r.Count {
		return []string{fmt.Sprintf("%s: fold says %d, stands for %d", id, n, r.Count)}
	}
	zero, present := true, 0
	for _, e := range entries[r.Index : r.Index+r.Count] {
		zero = zero && e == 0
		if e&1 != 0 {
			present++
		}
	}
	if (m[2] == "empty") != zero {
		return []string{fmt.Sprintf("%s: fold %q, but all zero is %v", id, m[0], zero)}
	}
	if m[3] != "" && m[3] != strconv.Itoa(present) {
		return []string{fmt.Sprintf("%s: fold %q, but %d are present", id, m[0], present)}
	}
	return nil
}

// checkHostTables checks the host (EPT/NPT) table boxes as checkTables
// checks the guest's: each of the 512 entries accounted for once, folds
// true to the host memory.
func checkHostTables(sc *render.Scene, v *mmu.View) []string {
	var bad []string
	for _, b := range sc.Boxes() {
		if !strings.HasPrefix(b.ID, "ept:") {
			continue
		}
		hpa, err := strconv.ParseUint(strings.TrimPrefix(b.ID, "ept:0x"), 16, 64)
		if err != nil {
			bad = append(bad, "host table box with a bad ID "+b.ID)
			continue
		}
		present := make([]bool, 512)
		for i := range present {
			e, _ := v.Machine.ReadSPTE(mmu.HPA(hpa) + mmu.HPA(8*i))
			present[i] = v.Machine.SPTEPresent(e)
		}
		next := 0
		for _, r := range b.Rows {
			if r.Index != next {
				bad = append(bad, fmt.Sprintf("%s: row starts at %d, want %d", b.ID, r.Index, next))
			}
			next = r.Index + r.Count
			if r.Style == render.RowCollapsed {
				bad = append(bad, checkHostFold(b.ID, r, present)...)
			}
		}
		if next != len(present) {
			bad = append(bad, fmt.Sprintf("%s: rows account for %d entries of %d", b.ID, next, len(present)))
		}
	}
	return bad
}

var hostFoldRe = regexp.MustCompile(`^… (\d+) (not present|more, (\d+) present)$`)

// checkHostFold checks a folded run of a host table against what the
// hardware sees as present.
func checkHostFold(id string, r render.Row, present []bool) []string {
	m := hostFoldRe.FindStringSubmatch(r.Texts[len(r.Texts)-1].S)
	if m == nil {
		return []string{fmt.Sprintf("%s: fold row %q", id, r.Texts[len(r.Texts)-1].S)}
	}
	if n, _ := strconv.Atoi(m[1]); n != r.Count {
		return []string{fmt.Sprintf("%s: fold says %d, stands for %d", id, n, r.Count)}
	}
	n := 0
	for _, p := range present[r.Index : r.Index+r.Count] {
		if p {
			n++
		}
	}
	if (m[2] == "not present") != (n == 0) || (m[3] != "" && m[3] != strconv.Itoa(n)) {
		return []string{fmt.Sprintf("%s: fold %q, but %d are present", id, m[0], n)}
	}
	return nil
}
