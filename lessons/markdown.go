package lessons

import (
	"bytes"
	"strconv"
	"strings"
	"unicode"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/text"

	"mmuviz/scenarios"
)

// md renders lessons: GitHub-flavoured Markdown with footnotes and heading
// IDs. The renderer is the default, safe one: raw HTML in a lesson is
// replaced by a comment and never reaches the page.
var md = goldmark.New(
	goldmark.WithExtensions(extension.GFM, extension.Footnote),
	goldmark.WithParserOptions(parser.WithAutoHeadingID()),
)

// maxStep is the largest step number a marker or a jump link may name.
const maxStep = 1_000_000_000

// part is a section being built: its first step, where it starts, and its
// top-level nodes.
type part struct {
	from     int
	at       scenarios.Pos
	implicit bool // the text before the first marker
	nodes    []ast.Node
}

// markdown parses the body, which starts at byte off of src, into sections.
func (l *Lesson) markdown(p *positions, src []byte, off int) error {
	body := src[off:]
	doc := md.Parser().Parse(text.NewReader(body))
	if err := l.scan(p, off, body, doc); err != nil {
		return err
	}
	parts := []*part{{at: p.at(off), implicit: true}}
	for n := doc.FirstChild(); n != nil; n = n.NextSibling() {
		step, isMarker, err := topMarker(p, off, body, n)
		if err != nil {
			return err
		}
		last := parts[len(parts)-1]
		switch {
		case !isMarker:
			if last.implicit && len(last.nodes) == 0 {
				last.at = p.at(off + nodeOffset(n))
			}
			last.nodes = append(last.nodes, n)
			continue
		case last.implicit && len(last.nodes) == 0:
			parts = parts[:0]
		case last.implicit && step == 0:
			last.implicit = false
			continue // "<!-- step 0 -->" after the opening text: one section
		case step <= last.from:
			return scenarios.Errorf(p.at(off+nodeOffset(n)), "step marker %d does not come after the previous "+
				"marker (step %d, line %d): the step numbers of markers must increase", step, last.from, last.at.Line)
		}
		parts = append(parts, &part{from: step, at: p.at(off + nodeOffset(n))})
	}
	if last := parts[len(parts)-1]; last.implicit && len(last.nodes) == 0 {
		parts = parts[:0]
	}
	return l.render(body, parts)
}

// render renders each part into a section.
func (l *Lesson) render(body []byte, parts []*part) error {
	for i, pt := range parts {
		doc := ast.NewDocument()
		for _, n := range pt.nodes {
			n.Parent().RemoveChild(n.Parent(), n)
			doc.AppendChild(doc, n)
		}
		var buf bytes.Buffer
		if err := md.Renderer().Render(&buf, body, doc); err != nil {
			return scenarios.Errorf(pt.at, "rendering the section: %v", err)
		}
		s := Section{From: pt.from, To: -1, Line: pt.at.Line, HTML: buf.String(), Text: plainText(doc, body)}
		if i+1 < len(parts) {
			s.To = parts[i+1].from - 1
		}
		l.Sections = append(l.Sections, s)
		l.starts = append(l.starts, pt.at)
	}
	return nil
}

// markerArg reports whether an HTML comment is a step marker, that is
// whether its first word is "step", and returns the rest of the line after
// "step".
func markerArg(line string) (string, bool) {
	s, ok := strings.CutPrefix(strings.TrimSpace(line), "<!--")
	if !ok {
		return "", false
	}
	s = strings.TrimLeftFunc(s, unicode.IsSpace)
	word := strings.Fields(strings.SplitN(s, "-->", 2)[0])
	if len(word) == 0 || !strings.EqualFold(word[0], "step") {
		return "", false
	}
	return s[len(word[0]):], true
}

// topMarker reads a top-level node: if it is a step marker, it returns its
// step number.
func topMarker(p *positions, off int, body []byte, n ast.Node) (int, bool, error) {
	h, ok := n.(*ast.HTMLBlock)
	if !ok || h.HTMLBlockType != ast.HTMLBlockType2 || h.Lines().Len() == 0 {
		return 0, false, nil
	}
	seg := h.Lines().At(0)
	line := string(seg.Value(body))
	rest, ok := markerArg(line)
	if !ok {
		return 0, false, nil
	}
	at := p.at(off + seg.Start + len(line) - len(strings.TrimLeft(line, " \t")))
	arg, after, closed := strings.Cut(rest, "-->")
	switch {
	case h.Lines().Len() > 1 || h.HasClosure() || !closed:
		return 0, false, scenarios.Errorf(at, "a step marker must be on one line: write <!-- step N -->")
	case strings.TrimSpace(after) != "":
		return 0, false, scenarios.Errorf(at, "a step marker must be alone on its line, found %q after it",
			strings.TrimSpace(after))
	}
	step, ok := stepNumber(strings.TrimSpace(arg))
	if !ok {
		return 0, false, scenarios.Errorf(at, "bad step marker: expected <!-- step N --> with N a whole number, "+
			"found %q", strings.TrimSpace(line))
	}
	return step, true, nil
}

// stepNumber reads a step number: decimal digits, at most maxStep.
func stepNumber(s string) (int, bool) {
	if s == "" || len(s) > 10 || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n <= maxStep
}

// scan walks the whole document before it is split: it marks jump links with
// data-step and rejects step markers that are not on a line of their own at
// the top level.
func (l *Lesson) scan(p *positions, off int, body []byte, doc ast.Node) error {
	var err error
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch n := n.(type) {
		case *ast.Link:
			err = l.jumpLink(p.at(off+nodeOffset(n)), n)
		case *ast.HTMLBlock:
			if _, ok := markerArg(string(n.Lines().Value(body))); ok && n.Parent() != doc {
				err = scenarios.Errorf(p.at(off+nodeOffset(n)), "a step marker must start at the left margin, "+
					"outside any list or quote")
			}
		case *ast.RawHTML:
			if _, ok := markerArg(string(n.Segments.Value(body))); ok {
				err = scenarios.Errorf(p.at(off+nodeOffset(n)), "a step marker must be alone on its line, "+
					"with blank lines or other blocks around it")
			}
		}
		if err != nil {
			return ast.WalkStop, nil
		}
		return ast.WalkContinue, nil
	})
	return err
}

// jumpLink gives a link to "#step=N" the attribute data-step="N".
func (l *Lesson) jumpLink(at scenarios.Pos, n *ast.Link) error {
	arg, ok := strings.CutPrefix(string(n.Destination), "#step=")
	if !ok {
		return nil
	}
	step, ok := stepNumber(arg)
	if !ok {
		return scenarios.Errorf(at, "bad jump link %q: expected #step=N with N a whole number", n.Destination)
	}
	n.SetAttributeString("data-step", []byte(strconv.Itoa(step)))
	l.jumps = append(l.jumps, jump{step: step, pos: at})
	return nil
}

// nodeOffset returns the offset in the body where a node starts, as near as
// goldmark knows it.
func nodeOffset(n ast.Node) int {
	for ; n != nil; n = n.Parent() {
		if pos := n.Pos(); pos >= 0 {
			return pos
		}
		if n.Type() == ast.TypeBlock && n.Lines().Len() > 0 {
			return n.Lines().At(0).Start
		}
	}
	return 0
}
