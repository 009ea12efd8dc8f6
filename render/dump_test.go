package render_test

import (
	"fmt"
	"strings"

	"mmuviz/render"
)

// dump prints a scene as text, for test failures and for eyeballing.
func dump(sc *render.Scene) string {
	var b strings.Builder
	fmt.Fprintf(&b, "scene step %d scale %.2f size %.0fx%.0f\n", sc.Step, sc.Scale, sc.Size.W, sc.Size.H)
	for _, p := range sc.Panels {
		fmt.Fprintf(&b, "panel %s %v\n", p.ID, p.Rect)
		for _, t := range p.Texts {
			fmt.Fprintf(&b, "  text %q\n", t.S)
		}
		for _, bx := range p.Boxes {
			fmt.Fprintf(&b, "  box %s %.0f,%.0f %.0fx%.0f lit=%v\n", bx.ID, bx.Rect.X, bx.Rect.Y, bx.Rect.W, bx.Rect.H, bx.Lit)
			for _, t := range bx.Title {
				fmt.Fprintf(&b, "    title %q\n", t.S)
			}
			for _, r := range bx.Rows {
				var s []string
				for _, t := range r.Texts {
					s = append(s, t.S)
				}
				fmt.Fprintf(&b, "    %-9s %s\n", r.Style, strings.Join(s, " | "))
			}
		}
		for _, e := range p.Edges {
			lbl := ""
			if e.Label != nil {
				lbl = e.Label.S
			}
			fmt.Fprintf(&b, "  edge %s %s->%s %d pts %q lit=%v\n", e.ID, e.From, e.To, len(e.Points), lbl, e.Lit)
		}
	}
	fmt.Fprintf(&b, "highlight %+v\n", sc.Highlight)
	return b.String()
}
