package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// buildCLI compiles mmuviz into a temporary directory, once per test.
func buildCLI(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "mmuviz")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// runCLI runs the binary from the repository root and returns its output
// and exit status.
func runCLI(t *testing.T, bin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = "../.."
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

// trace is the part of the JSON contract the test reads.
type trace struct {
	Steps []struct {
		Line   int    `json:"line"`
		Action string `json:"action"`
		Events []struct {
			Kind, MMU, Func, Text string
		} `json:"events"`
		Result struct {
			OK        bool   `json:"ok"`
			GPA       string `json:"gpa"`
			Fault     string `json:"fault"`
			ErrorCode string `json:"error_code"`
			Refs      *int   `json:"refs"`
		} `json:"result"`
	} `json:"steps"`
}

// TestCLI runs the real binary: the 4-level scenario as JSON has a
// 4-reference walk and a #PF with its error code; a bad file exits 2 with
// FILE:LINE:COL on stderr.
func TestCLI(t *testing.T) {
	bin := buildCLI(t)
	out, errOut, code := runCLI(t, bin, "run", "--json", "scenarios/native-4level.mmu")
	if code != 0 {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	var tr trace
	if err := json.Unmarshal([]byte(out), &tr); err != nil {
		t.Fatalf("output is not JSON: %v", err)
	}
	var refs4, pf bool
	for _, st := range tr.Steps {
		r := st.Result
		refs4 = refs4 || (r.OK && r.Refs != nil && *r.Refs == 4 && r.GPA != "")
		pf = pf || (r.Fault == "#PF" && strings.HasPrefix(r.ErrorCode, "0x") && st.Line > 0 && len(st.Events) > 0)
	}
	if !refs4 || !pf {
		t.Errorf("refs 4: %v, #PF with error code: %v", refs4, pf)
	}

	bad := filepath.Join(t.TempDir(), "bad.mmu")
	if err := os.WriteFile(bad, []byte("memslot 0 gpa=0 size=64M hpa=256M\npaging level4\nmapp 0 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = runCLI(t, bin, "run", bad)
	want := bad + `:3:1: unknown command "mapp"; did you mean "map"?` + "\n"
	if code != 2 || errOut != want || out != "" {
		t.Errorf("bad file: exit %d, stdout %q, stderr %q; want 2 and %q", code, out, errOut, want)
	}
}

// TestRun checks the command in-process: help, list, built-in names, text
// output, flags after the file, engine errors in the script and usage errors.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "s.mmu")
	src := "memslot 0 gpa=0 size=64M hpa=256M\npaging level4\nmap 0x1000 0x2000\nscript\nread 0x1000\n" +
		"print entry 0x200000 level=1\n"
	if err := os.WriteFile(script, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	loc := regexp.QuoteMeta(script)
	tests := []struct {
		args         []string
		code         int
		stdout, errs string // regular expressions
	}{
		{[]string{"-h"}, 0, `(?s)^usage:.*mmuviz run`, `^$`},
		{[]string{"run", "-h"}, 0, `^usage:`, `^$`},
		{nil, 2, `^$`, `^usage:`},
		{[]string{"frob"}, 2, `^$`, `unknown command "frob"`},
		{[]string{"list"}, 0, `(?m)^native-32bit +32-bit paging.*\n(.*\n){2}native-pae +PAE paging`, `^$`},
		{[]string{"list", "x"}, 2, `^$`, `takes no arguments`},
		{[]string{"run", "native-pae"}, 0, `(?s)^line \d+: read 0x400123 user\n  \[paging64_gva_to_gpa\].*load_pdptrs`, `^$`},
		{[]string{"run", "nope"}, 2, `^$`, `^mmuviz: nope is neither a file nor a built-in scenario`},
		{[]string{"run", dir + "/none.mmu"}, 2, `^$`, `no such file`},
		{[]string{"run"}, 2, `^$`, `expected one scenario`},
		{[]string{"run", "a", "b"}, 2, `^$`, `expected one scenario`},
		{[]string{"run", "--frob", "a"}, 2, `^$`, `not defined: -frob`},
		{[]string{"run", script, "--json"}, 2, `^$`,
			`^` + loc + `:6:13: print: the PDE for GVA 0x200000 \(at GPA 0x102008\) is not present, so there is no level-1 entry\n$`},
	}
	for _, tc := range tests {
		var o, e bytes.Buffer
		code := run(tc.args, &o, &e)
		if code != tc.code || !regexp.MustCompile(tc.stdout).MatchString(o.String()) ||
			!regexp.MustCompile(tc.errs).MatchString(e.String()) {
			t.Errorf("mmuviz %q: exit %d\nstdout %.300q\nstderr %.300q", tc.args, code, o.String(), e.String())
		}
	}
}
