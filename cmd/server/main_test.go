//go:build !js

package main

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"mmuviz/web"
)

// The real binary is built once per test run and shared by the tests that
// need it (this file's and the browser test): linking in a 20 MB wasm takes
// seconds, and the machine is small.
var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// goTool returns the go command of the toolchain running the tests, so the
// binary is built with the same Go even if PATH has another one.
func goTool() string {
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return "go"
}

// serverBinary builds cmd/server into a temporary directory (once).
func serverBinary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "mmuviz-server-test-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "mmuviz-server")
		cmd := exec.Command(goTool(), "build", "-o", binPath, ".")
		out, err := cmd.CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

var servingLine = regexp.MustCompile(`^mmuviz: serving on (http://127\.0\.0\.1:[0-9]+/)$`)

// startServer runs the real binary on a free loopback port and returns its
// URL. The server is stopped with SIGINT at the end of the test and must exit
// cleanly.
func startServer(t testing.TB) string {
	t.Helper()
	cmd := exec.Command(serverBinary(t), "-addr", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	t.Cleanup(func() { stopServer(t, cmd, done, &stderr) })

	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		io.Copy(io.Discard, stdout) //nolint:errcheck // drain until exit
		done <- cmd.Wait()
	}()
	select {
	case line, ok := <-lines:
		m := servingLine.FindStringSubmatch(line)
		if !ok || m == nil {
			t.Fatalf("server printed %q, want %q; stderr: %s", line, "mmuviz: serving on http://127.0.0.1:PORT/", stderr.String())
		}
		return m[1]
	case <-time.After(30 * time.Second):
		t.Fatalf("server printed nothing in 30s; stderr: %s", stderr.String())
	}
	return ""
}

func stopServer(t testing.TB, cmd *exec.Cmd, done chan error, stderr *strings.Builder) {
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		return // already gone; the test has failed elsewhere
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("server exited with %v after SIGINT; stderr: %s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill() //nolint:errcheck // last resort
		t.Errorf("server did not stop within 10s of SIGINT")
	}
}

func TestBinaryServes(t *testing.T) {
	base := startServer(t)
	cases := []struct {
		path, ctype, contains string
		code                  int
	}{
		{"", "text/html; charset=utf-8", `id="stage"`, 200},
		{"game.html", "text/html; charset=utf-8", "game.js", 200},
		{"app.js", "text/javascript; charset=utf-8", "mmuvizHost", 200},
		{"style.css", "text/css; charset=utf-8", "#stage", 200},
		{"no-such-page", "text/html; charset=utf-8", "Not found", 404},
	}
	for _, c := range cases {
		resp, err := http.Get(base + c.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.code || resp.Header.Get("Content-Type") != c.ctype || !strings.Contains(string(body), c.contains) {
			t.Errorf("GET /%s: %d %q, body has %q: %v", c.path, resp.StatusCode, resp.Header.Get("Content-Type"),
				c.contains, strings.Contains(string(body), c.contains))
		}
		if resp.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("GET /%s: no CSP header", c.path)
		}
	}
}

func TestBinaryStaticExport(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "site")
	out, err := exec.Command(serverBinary(t), "-static", dir).CombinedOutput()
	if _, statErr := fs.Stat(web.FS, wasmName); statErr != nil {
		if err == nil || !strings.Contains(string(out), "make wasm") {
			t.Fatalf("without an embedded wasm, -static must fail and mention make wasm; got %v: %s", err, out)
		}
		return
	}
	if err != nil {
		t.Fatalf("-static: %v: %s", err, out)
	}
	for _, name := range []string{"index.html", "game.html", "app.js", "game.js", "style.css", wasmName, "dist/wasm_exec.js"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("export lacks %s: %v", name, err)
		}
	}
}

func TestBinaryRejectsBadFlags(t *testing.T) {
	out, err := exec.Command(serverBinary(t), "-addr", "127.0.0.1:0", "extra").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "unexpected argument") {
		t.Fatalf("extra argument: %v: %s", err, out)
	}
}
