//go:build !js

package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"mmuviz/web"
)

// wasmBody is compressible, like a real Go wasm, so gzip is worth it.
var wasmBody = bytes.Repeat([]byte("\x00asm\x01\x00\x00\x00 go go go "), 4000)

func testSite(t testing.TB) siteFiles {
	t.Helper()
	fsys := fstest.MapFS{
		"index.html":                 {Data: []byte(`<!doctype html><iframe id=stage src="game.html"></iframe>`)},
		"game.html":                  {Data: []byte(`<!doctype html><script src="game.js"></script>`)},
		"app.js":                     {Data: []byte(strings.Repeat("console.log('app');\n", 100))},
		"style.css":                  {Data: []byte("body{margin:0}")},
		"lesson.md":                  {Data: []byte("# Lesson\n")},
		"favicon.svg":                {Data: []byte("<svg/>")},
		"dist/.gitkeep":              {Data: nil},
		"dist/mmuviz.wasm":           {Data: wasmBody},
		"dist/mmuviz.wasm.br":        {Data: []byte("pretend-brotli")},
		"dist/mmuviz.wasm.br.sha256": {Data: []byte(sha256Hex(wasmBody) + "\n")},
		"app.js.br":                  {Data: []byte("stale")}, // no sidecar: ignored
		"style.css.br":               {Data: []byte("stale")},
		"style.css.br.sha256":        {Data: []byte(sha256Hex([]byte("an older style.css")))},
		"dist/wasm_exec.js":          {Data: []byte(strings.Repeat("// wasm_exec\n", 100))},
	}
	files, err := loadSite(fsys)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func get(t testing.TB, h http.Handler, method, target string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestContentTypes(t *testing.T) {
	h := newHandler(testSite(t))
	want := map[string]string{
		"/":                  "text/html; charset=utf-8",
		"/index.html":        "text/html; charset=utf-8",
		"/app.js":            "text/javascript; charset=utf-8",
		"/style.css":         "text/css; charset=utf-8",
		"/lesson.md":         "text/markdown; charset=utf-8",
		"/favicon.svg":       "image/svg+xml",
		"/dist/mmuviz.wasm":  "application/wasm",
		"/dist/wasm_exec.js": "text/javascript; charset=utf-8",
	}
	for path, ct := range want {
		w := get(t, h, "GET", path)
		if w.Code != 200 || w.Header().Get("Content-Type") != ct {
			t.Errorf("%s: %d %q, want 200 %q", path, w.Code, w.Header().Get("Content-Type"), ct)
		}
	}
}

func TestEncodings(t *testing.T) {
	h := newHandler(testSite(t))
	cases := []struct {
		path, accept, want string
	}{
		{"/dist/mmuviz.wasm", "gzip, deflate, br", "br"},
		{"/dist/mmuviz.wasm", "br;q=0, gzip", "gzip"},
		{"/dist/mmuviz.wasm", "gzip;q=0.5", "gzip"},
		{"/dist/mmuviz.wasm", "", ""},
		{"/dist/mmuviz.wasm", "identity", ""},
		{"/dist/mmuviz.wasm", "*", "br"},
		{"/dist/mmuviz.wasm", "*;q=0, identity", ""},
		{"/dist/mmuviz.wasm", "BR", "br"},
		{"/app.js", "gzip, br", "gzip"}, // .br without sidecar: ignored; gzip computed by the server
		{"/style.css", "gzip, br", ""},  // stale .br ignored; too small to gzip
		{"/favicon.svg", "gzip, br", ""},
	}
	for _, c := range cases {
		w := get(t, h, "GET", c.path, "Accept-Encoding", c.accept)
		got := w.Header().Get("Content-Encoding")
		if got != c.want {
			t.Errorf("%s with Accept-Encoding %q: Content-Encoding %q, want %q", c.path, c.accept, got, c.want)
		}
		if w.Header().Get("Content-Length") != strconv.Itoa(w.Body.Len()) {
			t.Errorf("%s %q: Content-Length %s for %d bytes", c.path, c.accept, w.Header().Get("Content-Length"), w.Body.Len())
		}
		if c.path == "/dist/mmuviz.wasm" && w.Header().Get("Vary") != "Accept-Encoding" {
			t.Errorf("%s %q: Vary %q", c.path, c.accept, w.Header().Get("Vary"))
		}
	}
}

func TestGzipRoundTrip(t *testing.T) {
	h := newHandler(testSite(t))
	w := get(t, h, "GET", "/dist/mmuviz.wasm", "Accept-Encoding", "gzip")
	zr, err := gzip.NewReader(w.Body)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(got, wasmBody) {
		t.Fatalf("gunzipped body differs (err %v, %d vs %d bytes)", err, len(got), len(wasmBody))
	}
	if w.Body.Len() >= len(wasmBody)/2 {
		t.Errorf("gzip did not compress: %d -> %d", len(wasmBody), w.Body.Len())
	}
}

func TestConditionalGet(t *testing.T) {
	h := newHandler(testSite(t))
	for _, accept := range []string{"", "gzip", "br"} {
		first := get(t, h, "GET", "/dist/mmuviz.wasm", "Accept-Encoding", accept)
		etag := first.Header().Get("ETag")
		if !regexp.MustCompile(`^"[0-9a-f]{24}(-gz|-br)?"$`).MatchString(etag) {
			t.Fatalf("%q: ETag %q", accept, etag)
		}
		for _, inm := range []string{etag, "W/" + etag, `"nope", ` + etag, "*"} {
			w := get(t, h, "GET", "/dist/mmuviz.wasm", "Accept-Encoding", accept, "If-None-Match", inm)
			if w.Code != http.StatusNotModified || w.Body.Len() != 0 || w.Header().Get("ETag") != etag {
				t.Errorf("%q If-None-Match %s: %d, %d bytes, ETag %q", accept, inm, w.Code, w.Body.Len(), w.Header().Get("ETag"))
			}
			if w.Header().Get("Content-Encoding") != "" || w.Header().Get("Content-Length") != "" {
				t.Errorf("304 carries Content-Encoding/Length: %v", w.Header())
			}
		}
		w := get(t, h, "GET", "/dist/mmuviz.wasm", "Accept-Encoding", accept, "If-None-Match", `"other"`)
		if w.Code != 200 {
			t.Errorf("%q with a stale ETag: %d", accept, w.Code)
		}
	}
	// Different encodings are different representations with different tags.
	a := get(t, h, "GET", "/dist/mmuviz.wasm", "Accept-Encoding", "br").Header().Get("ETag")
	b := get(t, h, "GET", "/dist/mmuviz.wasm", "Accept-Encoding", "gzip").Header().Get("ETag")
	if a == b {
		t.Errorf("br and gzip share the ETag %s", a)
	}
}

func TestMethods(t *testing.T) {
	h := newHandler(testSite(t))
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "BREW"} {
		w := get(t, h, m, "/")
		if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: %d Allow %q", m, w.Code, w.Header().Get("Allow"))
		}
	}
	w := get(t, h, "HEAD", "/dist/mmuviz.wasm", "Accept-Encoding", "gzip")
	if w.Code != 200 || w.Body.Len() != 0 || w.Header().Get("Content-Length") == "" || w.Header().Get("Content-Length") == "0" {
		t.Errorf("HEAD: %d, %d bytes, Content-Length %q", w.Code, w.Body.Len(), w.Header().Get("Content-Length"))
	}
}

func TestHeaders(t *testing.T) {
	h := newHandler(testSite(t))
	for _, c := range []struct{ method, path, cache string }{
		{"GET", "/", "no-cache"},
		{"GET", "/game.html", "no-cache"},
		{"GET", "/app.js", cacheAssets},
		{"GET", "/dist/mmuviz.wasm", cacheAssets},
		{"GET", "/missing", "no-store"},
		{"POST", "/", "no-store"},
		{"GET", "/../x", "no-store"},
	} {
		w := get(t, h, c.method, c.path)
		hd := w.Header()
		if hd.Get("Content-Security-Policy") != csp || hd.Get("X-Content-Type-Options") != "nosniff" ||
			hd.Get("Referrer-Policy") != "no-referrer" || hd.Get("Cross-Origin-Opener-Policy") != "same-origin" {
			t.Errorf("%s %s: security headers missing: %v", c.method, c.path, hd)
		}
		if hd.Get("Cache-Control") != c.cache {
			t.Errorf("%s %s: Cache-Control %q, want %q", c.method, c.path, hd.Get("Cache-Control"), c.cache)
		}
	}
	if !strings.Contains(csp, "frame-ancestors 'self'") || !strings.Contains(csp, "'wasm-unsafe-eval'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP lost a needed rule or gained a weak one: %s", csp)
	}
}

func TestNotFound(t *testing.T) {
	h := newHandler(testSite(t))
	for _, p := range []string{"/missing", "/dist/", "/dist", "/dist/.gitkeep", "/dist/mmuviz.wasm.br", "/dist/mmuviz.wasm.br.sha256", "/index.html/"} {
		w := get(t, h, "GET", p)
		if w.Code != 404 || !strings.Contains(w.Body.String(), "Not found") || w.Header().Get("Content-Type") != "text/html; charset=utf-8" {
			t.Errorf("%s: %d %q %q", p, w.Code, w.Header().Get("Content-Type"), w.Body.String())
		}
	}
}

// TestTraversal sends escapes through a real TCP connection, so that nothing
// in the client cleans the path before the server sees it.
func TestTraversal(t *testing.T) {
	srv := httptest.NewServer(newHandler(testSite(t)))
	defer srv.Close()
	targets := []string{
		"/../index.html", "/dist/../index.html", "/..", "/%2e%2e/index.html", "/%2E%2E%2Findex.html",
		"/..%2findex.html", "/dist%2f..%2findex.html", "/dist%5c..%5cindex.html", "/dist\\..\\index.html",
		"/index.html%00", "/%00", "/./index.html", "//index.html", "/dist//mmuviz.wasm", "/.%2e/index.html",
		"/%252e%252e/index.html", "/%c0%ae%c0%ae/index.html", "/dist/%2e%2e", "/%0aindex.html",
	}
	for _, target := range targets {
		code := rawGet(t, srv.Listener.Addr().String(), target)
		if code != 400 && code != 404 {
			t.Errorf("GET %s: status %d, want 400 or 404", target, code)
		}
	}
}

func rawGet(t *testing.T, addr, target string) int {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET "+target+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// FuzzHandler checks that no request path panics the handler, and that only
// the site's own files are ever served with 200.
func FuzzHandler(f *testing.F) {
	for _, s := range []string{"/", "/index.html", "/../etc/passwd", "/%2e%2e/x", "/dist/mmuviz.wasm", "/a\\b", "/\x00", "/%zz", "//", "/dist/./x"} {
		f.Add(s)
	}
	files := testSite(f)
	h := newHandler(files)
	f.Fuzz(func(t *testing.T, p string) {
		u, err := url.ParseRequestURI(p)
		if err != nil {
			return
		}
		r := &http.Request{Method: "GET", URL: u, Header: http.Header{}, RequestURI: p}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code == 200 {
			name := strings.TrimPrefix(u.Path, "/")
			if name == "" {
				name = "index.html"
			}
			if files[name] == nil || strings.Contains(u.EscapedPath(), "..") {
				t.Fatalf("served %q (path %q) with 200", p, u.Path)
			}
		}
	})
}

func TestStaticExport(t *testing.T) {
	files := testSite(t)
	dir := filepath.Join(t.TempDir(), "out")
	if err := exportStatic(files, dir); err != nil {
		t.Fatal(err)
	}
	for name, a := range files {
		got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil || !bytes.Equal(got, a.data) {
			t.Errorf("%s: %v, equal %v", name, err, bytes.Equal(got, a.data))
		}
	}
	for _, name := range []string{"dist/mmuviz.wasm.br", "dist/mmuviz.wasm.br.sha256", "dist/.gitkeep", "dist/mmuviz.wasm.gz"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			t.Errorf("export wrote %s", name)
		}
	}
	delete(files, wasmName)
	if err := exportStatic(files, t.TempDir()); err == nil || !strings.Contains(err.Error(), "make wasm") {
		t.Errorf("export without wasm: %v", err)
	}
}

// TestRelativeURLs guards the static export: the real pages and scripts must
// not use root-relative URLs, or the site breaks under a sub-path.
func TestRelativeURLs(t *testing.T) {
	abs := regexp.MustCompile(`(?:src|href)="/|fetch\(\s*["'` + "`" + `]/|url\(\s*["']?/`)
	for _, name := range []string{"index.html", "game.html", "app.js", "game.js", "style.css"} {
		data, err := web.FS.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if m := abs.Find(data); m != nil {
			t.Errorf("%s uses a root-relative URL: %s", name, m)
		}
	}
}

func TestBrowseURL(t *testing.T) {
	cases := map[string]string{
		"127.0.0.1:8080": "http://127.0.0.1:8080/",
		"0.0.0.0:9000":   "http://127.0.0.1:9000/",
		"[::]:9001":      "http://127.0.0.1:9001/",
		"[::1]:9002":     "http://[::1]:9002/",
		"10.1.2.3:80":    "http://10.1.2.3:80/",
	}
	for in, want := range cases {
		a, err := net.ResolveTCPAddr("tcp", in)
		if err != nil {
			t.Fatal(err)
		}
		if got := browseURL(a); got != want {
			t.Errorf("browseURL(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestParseAcceptEncoding(t *testing.T) {
	acc := parseAcceptEncoding(" GZip ; q=0.8 , br;q=0, x;q=bogus,, *;q=0.1")
	if !acc.allows("gzip") || acc.allows("br") || !acc.allows("x") || !acc.allows("zstd") {
		t.Errorf("parsed %v", acc)
	}
	if parseAcceptEncoding("").allows("gzip") {
		t.Error("an empty header allows gzip")
	}
}
