package web

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

// The server's Content-Security-Policy forbids inline scripts, inline styles
// and event-handler attributes; a page that used them would break only in a
// browser. These checks catch that at `go test` time.
var (
	scriptTag   = regexp.MustCompile(`(?is)<script\b[^>]*>`)
	styleAttr   = regexp.MustCompile(`(?i)\sstyle\s*=`)
	styleElem   = regexp.MustCompile(`(?i)<style\b`)
	handlerAttr = regexp.MustCompile(`(?i)\son[a-z]+\s*=`)
	jsURL       = regexp.MustCompile(`(?i)(?:href|src)\s*=\s*["']?\s*javascript:`)
	localRef    = regexp.MustCompile(`(?i)\s(?:src|href)="([^"#:]+)"`)
)

// cspProblems lists what in an HTML page the CSP would block.
func cspProblems(page string) []string {
	var out []string
	for _, tag := range scriptTag.FindAllString(page, -1) {
		if !strings.Contains(strings.ToLower(tag), "src=") {
			out = append(out, "an inline script: "+tag)
		}
	}
	for what, re := range map[string]*regexp.Regexp{
		"a style attribute": styleAttr, "a <style> element": styleElem,
		"an event handler": handlerAttr, "a javascript: URL": jsURL,
	} {
		if m := re.FindString(page); m != "" {
			out = append(out, what+": "+m)
		}
	}
	return out
}

func TestPagesAreCSPClean(t *testing.T) {
	for _, name := range []string{"index.html", "game.html"} {
		data, err := fs.ReadFile(FS, name)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range cspProblems(string(data)) {
			t.Errorf("%s has %s", name, p)
		}
	}
}

func TestCSPProblemsFindsThem(t *testing.T) {
	for _, bad := range []string{
		`<script>alert(1)</script>`, `<SCRIPT type="module">x()</SCRIPT>`, `<p style="color:red">`,
		`<style>p{}</style>`, `<button onclick="x()">`, `<a href="javascript:x()">`,
	} {
		if len(cspProblems(bad)) == 0 {
			t.Errorf("cspProblems(%q) found nothing", bad)
		}
	}
	if p := cspProblems(`<script src="app.js" defer></script><p class="on">`); len(p) != 0 {
		t.Errorf("clean page reported: %v", p)
	}
}

// TestLocalReferencesExist checks that every file a page loads is embedded
// (the build output in dist/ only once `make wasm` has run).
func TestLocalReferencesExist(t *testing.T) {
	for _, name := range []string{"index.html", "game.html"} {
		data, err := fs.ReadFile(FS, name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range localRef.FindAllStringSubmatch(string(data), -1) {
			ref := m[1]
			if strings.HasPrefix(ref, "dist/") {
				continue // build output; cmd/server's tests cover it
			}
			if _, err := fs.Stat(FS, ref); err != nil {
				t.Errorf("%s loads %s, which is not embedded: %v", name, ref, err)
			}
		}
	}
}

func TestEmbedHasTheSite(t *testing.T) {
	for _, name := range []string{"index.html", "game.html", "app.js", "game.js", "hash.js", "panel.js", "share.js", "export.js",
		"dom.js", "lessonindex.js", "quiz.js", "dropin.js", "style.css", "favicon.svg", "dist/.gitkeep"} {
		if _, err := fs.Stat(FS, name); err != nil {
			t.Errorf("%s is not embedded: %v", name, err)
		}
	}
}
