package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"path"
	"sort"
	"strings"
	"sync"
)

// asset is one file of the site, held in memory with its compressed forms.
type asset struct {
	name  string // slash path inside the site, e.g. "dist/mmuviz.wasm"
	ctype string
	data  []byte
	etag  string // strong ETag of the identity bytes

	br []byte // from the sibling NAME.br that the Makefile writes, if it matches data

	// gz is computed on first use (or by warm) and cached: gzip -9 of a
	// 20 MB wasm takes a second or two, too long to block startup.
	gzOnce sync.Once
	gz     []byte // nil when gzip does not pay
}

// siteFiles is every served file by name, loaded once from an fs.FS.
type siteFiles map[string]*asset

// contentTypes pins the types that matter (instantiateStreaming needs
// application/wasm; the CSP and nosniff need exact script and style types)
// instead of trusting the host's mime tables.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".wasm": "application/wasm",
	".md":   "text/markdown; charset=utf-8",
	".json": "application/json",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".txt":  "text/plain; charset=utf-8",
	".mmu":  "text/plain; charset=utf-8",
}

func contentType(name string) string {
	ext := strings.ToLower(path.Ext(name))
	if t, ok := contentTypes[ext]; ok {
		return t
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return "application/octet-stream"
}

// compressible reports whether a content type is worth gzipping.
func compressible(ctype string) bool {
	return strings.HasPrefix(ctype, "text/") ||
		strings.HasPrefix(ctype, "application/wasm") ||
		strings.HasPrefix(ctype, "application/json") ||
		strings.HasPrefix(ctype, "image/svg+xml")
}

// hidden reports whether a file of the source tree is not part of the site:
// dot files (dist/.gitkeep) and the compressed siblings, which are served
// only as encodings of their base file.
func hidden(name string) bool {
	base := path.Base(name)
	return strings.HasPrefix(base, ".") || strings.HasSuffix(base, ".br") ||
		strings.HasSuffix(base, ".gz") || strings.HasSuffix(base, ".sha256")
}

// loadSite reads every file of fsys into memory.
func loadSite(fsys fs.FS) (siteFiles, error) {
	files := siteFiles{}
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || hidden(name) {
			return nil
		}
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		a := &asset{name: name, ctype: contentType(name), data: data, etag: etagOf(data, "")}
		a.br = brotliSibling(fsys, name, data)
		files[name] = a
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("loading the site: %w", err)
	}
	return files, nil
}

// brotliSibling returns the precompressed NAME.br if its NAME.br.sha256
// sidecar (written by the Makefile) is the hash of data; a .br made from an
// older build must never be served in place of the current file.
func brotliSibling(fsys fs.FS, name string, data []byte) []byte {
	br, err := fs.ReadFile(fsys, name+".br")
	if err != nil || len(br) == 0 {
		return nil
	}
	sum, err := fs.ReadFile(fsys, name+".br.sha256")
	if err != nil {
		return nil
	}
	want := sha256.Sum256(data)
	if strings.TrimSpace(string(sum)) != hex.EncodeToString(want[:]) {
		return nil
	}
	return br
}

// names returns the file names in sorted order.
func (s siteFiles) names() []string {
	out := make([]string, 0, len(s))
	for n := range s {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// warm gzips every compressible file in the background, so the first
// browser that asks for gzip does not wait for the wasm to be compressed.
func (s siteFiles) warm() {
	go func() {
		for _, n := range s.names() {
			s[n].gzipped()
		}
	}()
}

// etagOf is a strong ETag from the content hash; variant distinguishes the
// encodings, since each is a different representation.
func etagOf(data []byte, variant string) string {
	sum := sha256.Sum256(data)
	tag := hex.EncodeToString(sum[:12])
	if variant != "" {
		tag += "-" + variant
	}
	return `"` + tag + `"`
}

// gzipped returns the gzip -9 encoding, or nil if the type is not worth
// compressing or compression saves less than a tenth.
func (a *asset) gzipped() []byte {
	a.gzOnce.Do(func() {
		if !compressible(a.ctype) || len(a.data) < 512 {
			return
		}
		var buf bytes.Buffer
		zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		if err != nil {
			return
		}
		if _, err := zw.Write(a.data); err != nil {
			return
		}
		if err := zw.Close(); err != nil {
			return
		}
		if buf.Len() < len(a.data)*9/10 {
			a.gz = buf.Bytes()
		}
	})
	return a.gz
}

// encoded is one representation of an asset chosen for a request.
type encoded struct {
	body     []byte
	encoding string // "" for identity
	etag     string
}

// pick chooses the representation for an Accept-Encoding header: br, then
// gzip, then identity.
func (a *asset) pick(acceptEncoding string) encoded {
	acc := parseAcceptEncoding(acceptEncoding)
	if a.br != nil && acc.allows("br") {
		return encoded{a.br, "br", etagOf(a.data, "br")}
	}
	if acc.allows("gzip") {
		if gz := a.gzipped(); gz != nil {
			return encoded{gz, "gzip", etagOf(a.data, "gz")}
		}
	}
	return encoded{a.data, "", a.etag}
}

// varies reports whether the response depends on Accept-Encoding.
func (a *asset) varies() bool {
	return a.br != nil || compressible(a.ctype)
}

// acceptEncoding is a parsed Accept-Encoding header: coding → quality.
type acceptEncoding map[string]float64

func parseAcceptEncoding(h string) acceptEncoding {
	acc := acceptEncoding{}
	for part := range strings.SplitSeq(h, ",") {
		coding, params, _ := strings.Cut(part, ";")
		coding = strings.ToLower(strings.TrimSpace(coding))
		if coding == "" {
			continue
		}
		acc[coding] = quality(params)
	}
	return acc
}

// quality reads "q=0.5" from the parameters of one coding; a missing or
// unreadable q counts as 1, as RFC 9110 says for a missing one.
func quality(params string) float64 {
	for p := range strings.SplitSeq(params, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok || strings.ToLower(strings.TrimSpace(k)) != "q" {
			continue
		}
		var q float64
		if _, err := fmt.Sscanf(strings.TrimSpace(v), "%g", &q); err != nil || q < 0 || q > 1 {
			return 1
		}
		return q
	}
	return 1
}

// allows reports whether coding is acceptable: named with q > 0, or covered
// by "*" with q > 0.
func (acc acceptEncoding) allows(coding string) bool {
	if q, ok := acc[coding]; ok {
		return q > 0
	}
	q, ok := acc["*"]
	return ok && q > 0
}
