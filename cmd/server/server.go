package main

import (
	"net/http"
	"strconv"
	"strings"
)

// csp is the Content-Security-Policy of every response. Scripts and styles
// come only from files of the site (no inline code); 'wasm-unsafe-eval' lets
// the page compile the Go program; the stage iframe is same-origin.
const csp = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; " +
	"img-src 'self' data: blob:; connect-src 'self'; frame-src 'self'; frame-ancestors 'self'; " +
	"base-uri 'none'; form-action 'none'; object-src 'none'; worker-src 'none'; " +
	"media-src 'none'; manifest-src 'none'"

// Cache policies. HTML is always revalidated so a new build is picked up at
// once; the other assets are not content-hashed, so they may be reused only
// briefly before being revalidated with their ETag.
const (
	cacheHTML   = "no-cache"
	cacheAssets = "public, max-age=60, must-revalidate"
)

// handler serves the in-memory site.
type handler struct {
	files siteFiles
}

// newHandler returns the HTTP handler for files.
func newHandler(files siteFiles) http.Handler {
	return &handler{files: files}
}

func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("X-Frame-Options", "SAMEORIGIN")
}

func (s *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w.Header())
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		plainError(w, r, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	name, ok := siteName(r)
	if !ok {
		plainError(w, r, http.StatusBadRequest, "bad path")
		return
	}
	a := s.files[name]
	if a == nil {
		notFound(w, r)
		return
	}
	s.serveAsset(w, r, a)
}

func (s *handler) serveAsset(w http.ResponseWriter, r *http.Request, a *asset) {
	rep := a.pick(r.Header.Get("Accept-Encoding"))
	h := w.Header()
	if a.varies() {
		h.Set("Vary", "Accept-Encoding")
	}
	h.Set("ETag", rep.etag)
	if strings.HasPrefix(a.ctype, "text/html") {
		h.Set("Cache-Control", cacheHTML)
	} else {
		h.Set("Cache-Control", cacheAssets)
	}
	if etagMatches(r.Header.Get("If-None-Match"), rep.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", a.ctype)
	if rep.encoding != "" {
		h.Set("Content-Encoding", rep.encoding)
	}
	h.Set("Content-Length", strconv.Itoa(len(rep.body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(rep.body) //nolint:errcheck // the client went away; nothing to do
	}
}

// siteName maps a request to a file name of the site. It refuses anything
// that could name a file outside it, in decoded or raw (percent-encoded)
// form: "..", backslashes, NUL and other control bytes, and empty segments.
func siteName(r *http.Request) (string, bool) {
	raw := r.URL.EscapedPath()
	lower := strings.ToLower(raw)
	for _, bad := range []string{"..", "\\", "%5c", "%00", "%2e%2e", "%2e.", ".%2e", "%2f"} {
		if strings.Contains(lower, bad) {
			return "", false
		}
	}
	p := r.URL.Path
	if !strings.HasPrefix(p, "/") || strings.Contains(p, "//") {
		return "", false
	}
	for _, c := range []byte(p) {
		if c < 0x20 || c == 0x7f || c == '\\' {
			return "", false
		}
	}
	for seg := range strings.SplitSeq(p[1:], "/") {
		if seg == "." || seg == ".." {
			return "", false
		}
	}
	if p == "/" {
		return "index.html", true
	}
	return p[1:], true
}

// etagMatches implements the weak comparison of If-None-Match (RFC 9110
// 13.1.2): "*" or any listed tag equal to etag, ignoring W/ prefixes.
func etagMatches(header, etag string) bool {
	header = strings.TrimSpace(header)
	if header == "" {
		return false
	}
	if header == "*" {
		return true
	}
	etag = strings.TrimPrefix(etag, "W/")
	for t := range strings.SplitSeq(header, ",") {
		if strings.TrimPrefix(strings.TrimSpace(t), "W/") == etag {
			return true
		}
	}
	return false
}

func plainError(w http.ResponseWriter, r *http.Request, code int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	body := strconv.Itoa(code) + " " + msg + "\n"
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		w.Write([]byte(body)) //nolint:errcheck // the client went away
	}
}

const notFoundPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Not found — mmuviz</title></head>
<body><h1>Not found</h1><p>There is no such page here. <a href="/">Open mmuviz</a>.</p></body></html>
`

func notFound(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(notFoundPage)))
	w.WriteHeader(http.StatusNotFound)
	if r.Method != http.MethodHead {
		w.Write([]byte(notFoundPage)) //nolint:errcheck // the client went away
	}
}
