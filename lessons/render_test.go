package lessons

import (
	"strings"
	"testing"
)

func TestRender(t *testing.T) {
	tests := []struct {
		name, body string
		html, text []string // substrings the HTML and the text must hold
		notHTML    []string // substrings the HTML must not hold
	}{
		{name: "table", body: "| a | b |\n| - | -: |\n| 1 | *2* |\n",
			html: []string{"<table>", "<th>a</th>", `<td style="text-align:right"><em>2</em></td>`},
			text: []string{"a | b\n1 | 2"}},
		{name: "strikethrough", body: "~~old~~ new\n",
			html: []string{"<del>old</del> new"}, text: []string{"~~old~~ new"}},
		{name: "task list", body: "- [x] done\n- [ ] todo\n",
			html: []string{`<li><input checked="" disabled="" type="checkbox"> done</li>`,
				`<li><input disabled="" type="checkbox"> todo</li>`},
			text: []string{"- [x] done\n- [ ] todo"}},
		{name: "lists", body: "3. three\n4. four\n   - nested\n\n* a\n* b\n",
			html: []string{`<ol start="3">`}, text: []string{"3. three\n4. four\n  - nested", "- a\n- b"}},
		{name: "linkify", body: "See https://kernel.org now.\n",
			html: []string{`<a href="https://kernel.org">https://kernel.org</a>`}},
		{name: "heading ids", body: "## Shadow pages\n\n## Shadow pages\n",
			html: []string{`<h2 id="shadow-pages">`, `<h2 id="shadow-pages-1">`}},
		{name: "escapes and entities", body: "a \\* b &amp; c &#65; `x\\*y`\n",
			html: []string{"a * b &amp; c A <code>x\\*y</code>"}, text: []string{"a * b & c A x\\*y"}},
		{name: "hard break", body: "one  \ntwo\nthree\n", html: []string{"one<br>\ntwo"},
			text: []string{"one\ntwo three"}},
		{name: "code block", body: "```go\nx := 1 < 2\n```\n\n    indented\n",
			html: []string{`<code class="language-go">x := 1 &lt; 2`}, text: []string{"x := 1 < 2\n\nindented"}},
		{name: "script block", body: "<script>alert(1)</script>\n\nok\n",
			html: []string{"<!-- raw HTML omitted -->"}, notHTML: []string{"<script", "alert"}, text: []string{"ok"}},
		{name: "inline html", body: "a <script>alert(1)</script> <img src=x onerror=alert(2)> b\n",
			notHTML: []string{"<script", "<img", "onerror"}, text: []string{"a"}},
		{name: "dangerous links", body: "[x](javascript:alert(1)) ![y](javascript:alert(2))\n",
			notHTML: []string{"javascript", "alert"}},
		{name: "jump links", body: "[go](#step=7) [ref][r] [other](#stepx=1) [plain](#step)\n\n[r]: #step=012\n",
			html: []string{`<a href="#step=7" data-step="7">go</a>`, `<a href="#step=012" data-step="12">ref</a>`,
				`<a href="#stepx=1">other</a>`, `<a href="#step">plain</a>`},
			text: []string{"go ref other plain"}},
		{name: "footnotes", body: "Claim[^a] and[^b] again[^a].\n\n[^a]: First.\n[^b]: Second.\n",
			html: []string{`<a href="#fn:1" class="footnote-ref"`, `<a href="#fn:2" class="footnote-ref"`,
				`<li id="fn:1">`, `<a href="#fnref:1" class="footnote-backref"`, `<a href="#fnref1:1"`},
			text: []string{"Claim[1] and[2] again[1].", "Notes:\n[1] First.", "[2] Second."}},
		{name: "autolink and image", body: "<https://a.example/x> ![alt text](p.png)\n",
			html: []string{`<img src="p.png" alt="alt text">`}, text: []string{"https://a.example/x alt text"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := mustParse(t, front+tt.body)
			var html, text string
			for _, s := range l.Sections {
				html += s.HTML
				text += s.Text + "\n"
			}
			for _, want := range tt.html {
				if !strings.Contains(html, want) {
					t.Errorf("HTML lacks %q:\n%s", want, html)
				}
			}
			for _, bad := range tt.notHTML {
				if strings.Contains(html, bad) {
					t.Errorf("HTML holds %q:\n%s", bad, html)
				}
			}
			for _, want := range tt.text {
				if !strings.Contains(text, want) {
					t.Errorf("text lacks %q:\n%s", want, text)
				}
			}
		})
	}
}

func TestFootnotesAcrossSections(t *testing.T) {
	l := mustParse(t, front+"Intro[^x].\n\n[^x]: A note defined early.\n\n<!-- step 2 -->\nTwo[^y].\n\n"+
		"<!-- step 4 -->\nFour.\n\n[^y]: Another.\n")
	if len(l.Sections) != 3 {
		t.Fatalf("%d sections", len(l.Sections))
	}
	if !strings.Contains(l.Sections[0].HTML, `href="#fn:1"`) || !strings.Contains(l.Sections[1].HTML, `href="#fn:2"`) {
		t.Errorf("references: %q %q", l.Sections[0].HTML, l.Sections[1].HTML)
	}
	last := l.Sections[2].HTML
	if !strings.Contains(last, `<li id="fn:1">`) || !strings.Contains(last, `<li id="fn:2">`) ||
		strings.Contains(l.Sections[0].HTML, "footnotes") {
		t.Errorf("the footnotes are not all in the last section:\n%s", last)
	}
}

func TestBuiltin(t *testing.T) {
	names := Builtin()
	for i, n := range names {
		if n == "README" || strings.HasSuffix(n, ".md") || i > 0 && names[i-1] >= n {
			t.Errorf("Builtin() = %q", names)
		}
		l, err := LoadBuiltin(n)
		if err != nil {
			t.Errorf("LoadBuiltin(%q): %v", n, err)
		} else if l.Name != n {
			t.Errorf("LoadBuiltin(%q).Name = %q", n, l.Name)
		}
	}
	if _, err := LoadBuiltin("README"); err == nil {
		t.Error("LoadBuiltin(README) succeeded")
	}
	if _, err := LoadBuiltin("../lesson.go"); err == nil {
		t.Error("LoadBuiltin(../lesson.go) succeeded")
	}
}

func TestContentReadme(t *testing.T) {
	// The examples in the format description must be right.
	src, err := content.ReadFile("content/README.md")
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(src), "```\n---\n")
	j := strings.Index(string(src[i+4:]), "```\n")
	if i < 0 || j < 0 {
		t.Fatal("no front matter example in content/README.md")
	}
	l := mustParse(t, string(src[i+4:i+4+j])+"Text.\n")
	if l.Title == "" || l.Scenario == "" || l.Variant == "" || l.Summary == "" || len(l.Seeds) != 2 {
		t.Errorf("the README's front matter example parses to %+v", l)
	}
}
