package lessons

import (
	"strconv"
	"strings"

	"github.com/yuin/goldmark/ast"
	east "github.com/yuin/goldmark/extension/ast"
	"github.com/yuin/goldmark/util"
)

// plainText renders a section as plain text: paragraphs separated by blank
// lines, list items starting with "- " or "N. ", table cells separated by
// " | ", footnote references as "[N]", and no raw HTML.
func plainText(doc ast.Node, src []byte) string {
	var b strings.Builder
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if n.Type() != ast.TypeBlock || n.Kind() == ast.KindDocument {
			return inline(&b, n, entering, src), nil
		}
		switch {
		case entering && n.PreviousSibling() == nil && n.Parent() != nil &&
			(n.Parent().Kind() == ast.KindListItem || n.Parent().Kind() == east.KindFootnote):
			// the first block of an item goes on the item's line
		case n.Kind() == ast.KindTextBlock || n.Kind() == ast.KindListItem || n.Kind() == east.KindTableRow ||
			n.Kind() == east.KindTableHeader || n.Kind() == east.KindFootnote:
			newlines(&b, 1)
		default:
			newlines(&b, 1+btoi(!entering))
		}
		if !entering {
			return ast.WalkContinue, nil
		}
		return textNode(&b, n, src), nil
	})
	return tidy(b.String())
}

// newlines ends the text so far with at least n newlines.
func newlines(b *strings.Builder, n int) {
	s := b.String()
	if s == "" {
		return
	}
	for have := len(s) - len(strings.TrimRight(s, "\n")); have < n; have++ {
		b.WriteByte('\n')
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// inline writes the text of an inline node as the walk enters or leaves it.
func inline(b *strings.Builder, n ast.Node, entering bool, src []byte) ast.WalkStatus {
	if n.Kind() == east.KindStrikethrough {
		b.WriteString("~~")
	}
	if !entering {
		return ast.WalkContinue
	}
	return textNode(b, n, src)
}

// textNode writes the text a node starts with and says whether to walk into
// its children.
func textNode(b *strings.Builder, n ast.Node, src []byte) ast.WalkStatus {
	switch n := n.(type) {
	case *ast.Text:
		v := n.Segment.Value(src)
		if !n.IsRaw() {
			v = util.ResolveEntityNames(util.ResolveNumericReferences(util.UnescapePunctuations(v)))
		}
		b.Write(v)
		switch {
		case n.HardLineBreak():
			b.WriteString("\n")
		case n.SoftLineBreak():
			b.WriteString(" ")
		}
	case *ast.String:
		b.Write(n.Value)
	case *ast.AutoLink:
		b.Write(n.Label(src))
	case *ast.CodeBlock, *ast.FencedCodeBlock:
		lines := n.Lines()
		for i := 0; i < lines.Len(); i++ {
			seg := lines.At(i)
			b.Write(seg.Value(src))
		}
		return ast.WalkSkipChildren
	case *ast.HTMLBlock, *ast.RawHTML, *east.FootnoteBacklink:
		return ast.WalkSkipChildren
	case *ast.ListItem:
		for p := n.Parent(); p != nil; p = p.Parent() {
			if p.Kind() == ast.KindListItem {
				b.WriteString("  ")
			}
		}
		b.WriteString(listMarker(n))
	case *ast.ThematicBreak:
		b.WriteString("---")
	case *east.TaskCheckBox:
		if n.IsChecked {
			b.WriteString("[x] ")
		} else {
			b.WriteString("[ ] ")
		}
	case *east.FootnoteLink:
		b.WriteString("[" + strconv.Itoa(n.Index) + "]")
	case *east.FootnoteList:
		b.WriteString("Notes:")
	case *east.Footnote:
		b.WriteString("[" + strconv.Itoa(n.Index) + "] ")
	case *east.TableRow, *east.TableHeader:
		return tableRow(b, n, src)
	}
	return ast.WalkContinue
}

// listMarker returns "- " for an item of a bullet list and "N. " for the Nth
// item of an ordered list.
func listMarker(item *ast.ListItem) string {
	list, ok := item.Parent().(*ast.List)
	if !ok || !list.IsOrdered() {
		return "- "
	}
	i := list.Start
	for c := list.FirstChild(); c != nil && c != ast.Node(item); c = c.NextSibling() {
		i++
	}
	return strconv.Itoa(i) + ". "
}

// tableRow writes a table row on one line, its cells separated by " | ".
func tableRow(b *strings.Builder, row ast.Node, src []byte) ast.WalkStatus {
	for c := row.FirstChild(); c != nil; c = c.NextSibling() {
		if c != row.FirstChild() {
			b.WriteString(" | ")
		}
		var cell strings.Builder
		_ = ast.Walk(c, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
			if n == c {
				return ast.WalkContinue, nil
			}
			return inline(&cell, n, entering, src), nil
		})
		b.WriteString(strings.TrimSpace(cell.String()))
	}
	return ast.WalkSkipChildren
}

// tidy trims trailing spaces from lines and collapses runs of blank lines.
func tidy(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	blank := 0
	for line := range strings.SplitSeq(strings.TrimSpace(s), "\n") {
		line = strings.TrimRight(line, " \t")
		if line == "" {
			blank++
			continue
		}
		if b.Len() > 0 {
			b.WriteString("\n\n"[:1+min(blank, 1)])
		}
		b.WriteString(line)
		blank = 0
	}
	return b.String()
}
