package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// census returns the page counts the `check` lines report, in order.
func census(text string) []string {
	return regexp.MustCompile(`(?m)^  => ok, (\d+ shadow page\(s\)[^;\n]*)`).FindAllString(text, -1)
}

// TestCLIVariants runs the real binary on the scenario with two designs:
// the merged run shows the special roots and quadrants, --variant
// level-expanded the passthrough pages and other page counts; the JSON
// names the variant; a bad variant exits 2 at the declaration; list shows
// the variants; a lesson's front-matter variant is honoured.
func TestCLIVariants(t *testing.T) {
	bin := buildCLI(t)
	merged, errOut, code := runCLI(t, bin, "run", "scenarios/shadow-2level-on-5level.mmu")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, w := range []string{"variant merged: Linux 6.16", "pml5_root", "pml4_root", "pae_root", "quadrant 3",
		"mmu_alloc_special_roots"} {
		if !strings.Contains(merged, w) {
			t.Errorf("the merged run does not show %q", w)
		}
	}
	expanded, errOut, code := runCLI(t, bin, "run", "--variant", "level-expanded", "shadow-2level-on-5level")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, w := range []string{"variant level-expanded: seed 001", "glevel=2", "3 passthrough"} {
		if !strings.Contains(expanded, w) {
			t.Errorf("the level-expanded run does not show %q", w)
		}
	}
	if strings.Contains(expanded, "mmu_alloc_special_roots") {
		t.Error("the level-expanded run allocates special roots")
	}
	cm, ce := census(merged), census(expanded)
	if len(cm) != 3 || len(ce) != 3 || cm[0] == ce[0] {
		t.Errorf("page counts: merged %q, level-expanded %q", cm, ce)
	}

	// JSON: "variant" before "steps", only for scenarios with variants.
	for _, tc := range []struct {
		args    []string
		variant string
	}{
		{[]string{"run", "--json", "shadow-2level-on-5level"}, "merged"},
		{[]string{"run", "--variant=level-expanded", "shadow-2level-on-5level", "--json"}, "level-expanded"},
		{[]string{"run", "--json", "shadow-4level"}, ""},
	} {
		out, errOut, code := runCLI(t, bin, tc.args...)
		var tr struct {
			Variant *string           `json:"variant"`
			Steps   []json.RawMessage `json:"steps"`
		}
		if code != 0 || json.Unmarshal([]byte(out), &tr) != nil || len(tr.Steps) == 0 {
			t.Fatalf("%q: exit %d, %s", tc.args, code, errOut)
		}
		switch {
		case tc.variant == "" && (tr.Variant != nil || strings.Contains(out, `"variant"`)):
			t.Errorf("%q has a variant key", tc.args)
		case tc.variant != "" && (tr.Variant == nil || *tr.Variant != tc.variant ||
			!strings.HasPrefix(out, "{\n  \"variant\": \""+tc.variant+"\",\n  \"steps\": [\n")):
			t.Errorf("%q: variant %v, starts %.60q", tc.args, tr.Variant, out)
		}
	}

	// A bad variant is bad input, located at the declaration.
	out, errOut, code := runCLI(t, bin, "run", "--variant", "bogus", "scenarios/shadow-2level-on-5level.mmu")
	want := regexp.MustCompile(`^scenarios/shadow-2level-on-5level\.mmu:\d+:1: unknown variant "bogus"; the variants are merged, level-expanded \(the default is merged\)\n$`)
	if code != 2 || out != "" || !want.MatchString(errOut) {
		t.Errorf("bad variant: exit %d, stdout %.80q, stderr %q", code, out, errOut)
	}
	out, errOut, code = runCLI(t, bin, "run", "--variant", "merged", "shadow-4level")
	if code != 2 || out != "" || errOut != "scenarios/shadow-4level.mmu:1:1: no variant \"merged\": the scenario declares no variants\n" {
		t.Errorf("variant of a scenario without: exit %d, stderr %q", code, errOut)
	}

	list, _, code := runCLI(t, bin, "list")
	if code != 0 || !regexp.MustCompile(`(?m)^shadow-2level-on-5level +2-level.*\n +@merged: \(default\) Linux 6\.16.*\n +@level-expanded: seed 001`).MatchString(list) {
		t.Errorf("list: exit %d\n%s", code, list)
	}

	// A lesson's front-matter variant.
	dir := t.TempDir()
	md := filepath.Join(dir, "v.md")
	src := "---\ntitle: Two designs\nscenario: shadow-2level-on-5level\nvariant: level-expanded\n---\nText.\n"
	if err := os.WriteFile(md, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = runCLI(t, bin, "lesson", md)
	if code != 0 || !strings.Contains(out, "Variant: level-expanded.") || !strings.Contains(out, "glevel=2") {
		t.Errorf("lesson with a variant: exit %d, stderr %q\n%.400s", code, errOut, out)
	}
	if err := os.WriteFile(md, []byte(strings.Replace(src, "level-expanded", "flat", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, code = runCLI(t, bin, "lesson", md)
	if code != 2 || errOut != md+`:4:10: variant "flat": scenario "shadow-2level-on-5level" has no such variant; its variants are merged, level-expanded`+"\n" {
		t.Errorf("lesson with a bad variant: exit %d, stderr %q", code, errOut)
	}
}
