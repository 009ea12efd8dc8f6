package scenarios

import (
	"reflect"
	"strings"
	"testing"

	"mmuviz/mmu"
)

// variantErrors are bad declarations, checked with the other build errors
// (TestBuildErrors, and the examples of LANGUAGE.md).
var variantErrors = []struct{ src, want string }{
	{"memslot 0 gpa=0 size=64M hpa=256M\nvariants a b",
		"t.mmu:2:1: variants: variants are declared before every command but title (line 1: memslot)"},
	{`variant a "the first" foo=1`,
		"t.mmu:1:23: variant: a setting is written COMMAND.KEY=VALUE, such as shadow.variant=merged, not foo=1"},
	{"variants a b a",
		"t.mmu:1:14: variants: variant a declared twice (first on line 1)"},
	{"variants a,b\nvariant b",
		"t.mmu:2:9: variant: variant b declared twice (first on line 1)"},
	{"variants a:b",
		"t.mmu:1:10: variants: a variant name is letters, digits, '-', '_' and '.', at most 40 bytes, not a:b"},
	{"variants",
		"t.mmu:1:9: variants: missing the variant name (usage: variants NAME NAME...)"},
	{"variants 1",
		"t.mmu:1:10: variants: expected a list of names for variant name, found number 1"},
	{`variant a "x" shadow.flavour=1`,
		`t.mmu:1:15: shadow: unknown key "flavour" (usage: shadow [variant=merged|level-expanded] [root-level=4|5] [obsolete-roots=fixed|posted|reload-all])`},
	{`variant a "x" shadow.variant=flat`,
		"t.mmu:1:30: shadow: expected the variant (merged, level-expanded), found identifier flat"},
	{`variant a "x" shadw.variant=merged`,
		`t.mmu:1:15: variant: a setting is written COMMAND.KEY=VALUE, such as shadow.variant=merged, not shadw.variant=merged; there is no command "shadw"; did you mean "shadow"?`},
	{`variant a "x" variants.k=1`,
		"t.mmu:1:15: variant: a variant cannot set keys of variants"},
	{`variant a "x" memslot-remove.zap+=slot`,
		"t.mmu:1:15: memslot-remove: zap takes zap=, not zap+= (usage: memslot-remove ID [zap=all|slot])"},
	{"variant a \"two\\nlines\"",
		"t.mmu:1:11: variant: the description is one line of at most 200 bytes"},
	{"variants a\nvariant b c",
		"t.mmu:2:11: variant: expected a quoted string for description, found identifier c"},
	{"variants a b\nmemslot 0 gpa=0 size=64M hpa=256M\nshadow root-level=5\nscript\nvariants c",
		"t.mmu:5:1: variants: variants are declared before every command but title (line 2: memslot)"},
}

func init() { buildErrors = append(buildErrors, variantErrors...) }

// TestVariantChoice: the variants a file declares, the default, and the
// errors of a variant it does not declare.
func TestVariantChoice(t *testing.T) {
	const src = "title \"T\"\nvariant a \"the first\"\nvariants b,c d\nmemslot 0 gpa=0 size=4M hpa=16M\n"
	s, err := Load("t.mmu", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := []Variant{{"a", "the first"}, {"b", ""}, {"c", ""}, {"d", ""}}
	if !reflect.DeepEqual(s.Variants, want) || s.Variant != "a" {
		t.Errorf("Variants %v, Variant %q", s.Variants, s.Variant)
	}
	for _, v := range []string{"a", "c", "d"} {
		s, err := LoadVariant("t.mmu", []byte(src), v)
		if err != nil || s.Variant != v || len(s.Variants) != 4 {
			t.Errorf("LoadVariant %s: %v, %v", v, s, err)
		}
	}
	for _, tc := range []struct{ src, variant, want string }{
		{src, "e", `t.mmu:2:1: unknown variant "e"; the variants are a, b, c, d (the default is a)`},
		{"variants merged level-expanded", "mergd",
			`t.mmu:1:1: unknown variant "mergd"; the variants are merged, level-expanded (the default is merged); did you mean "merged"?`},
		{src, "zzzzzz", `t.mmu:2:1: unknown variant "zzzzzz"; the variants are a, b, c, d (the default is a)`},
		{"memslot 0 gpa=0 size=4M hpa=16M\n", "a", `t.mmu:1:1: no variant "a": the scenario declares no variants`},
		{"", "a", `t.mmu:1:1: no variant "a": the scenario declares no variants`},
		{"variants x y", strings.Repeat("q", 50), `t.mmu:1:1: unknown variant "` + strings.Repeat("q", 40) +
			`…"; the variants are x, y (the default is x)`},
	} {
		_, err := LoadVariant("t.mmu", []byte(tc.src), tc.variant)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%q under %q:\n got %v\nwant %s", tc.src, tc.variant, err, tc.want)
		}
	}
	s, err = Load("t.mmu", []byte("memslot 0 gpa=0 size=4M hpa=16M\n"))
	if err != nil || s.Variant != "" || s.Variants != nil {
		t.Errorf("a file without variants: %v %q %v", err, s.Variant, s.Variants)
	}
}

// TestVariantFollows: shadow's variant= takes the scenario's variant, and
// an explicit one wins.
func TestVariantFollows(t *testing.T) {
	const head = "variants merged level-expanded other\nmemslot 0 gpa=0 size=64M hpa=256M\n"
	const tail = "paging level2\nmap 0x400000 0x200000\nscript\nread 0x400000\ncheck\n"
	census := func(src, variant string) string {
		t.Helper()
		s, err := LoadVariant("t.mmu", []byte(src), variant)
		if err != nil {
			t.Fatal(err)
		}
		steps, err := s.Run()
		if err != nil {
			t.Fatal(err)
		}
		return mmu.ResultString(steps[len(steps)-1].Result)
	}
	merged := census(head+"shadow root-level=5\n"+tail, "")
	expanded := census(head+"shadow root-level=5\n"+tail, "level-expanded")
	other := census(head+"shadow root-level=5\n"+tail, "other")
	if !strings.Contains(merged, "pml5_root") || !strings.Contains(expanded, "3 passthrough") || other != merged {
		t.Errorf("merged: %s\nlevel-expanded: %s\nother: %s", merged, expanded, other)
	}
	if got := census(head+"shadow root-level=5 variant=merged\n"+tail, "level-expanded"); got != merged {
		t.Errorf("an explicit variant=merged under level-expanded: %s", got)
	}
	// The level-expanded design needs root-level: the error points at the
	// variant's name, which gave the key.
	_, err := LoadVariant("t.mmu", []byte(head+"shadow\n"+tail), "level-expanded")
	if err == nil || !strings.HasPrefix(err.Error(), "t.mmu:1:17: shadow: the level-expanded proposal") {
		t.Errorf("level-expanded without root-level: %v", err)
	}
}

// TestVariantSettings: COMMAND.KEY=VALUE on a variant line reaches every
// such command under that variant, explicit keys win, and the parsed file
// is never changed, so builds in any order agree.
func TestVariantSettings(t *testing.T) {
	const src = "variant all \"zap all\"\nvariant slot \"zap the slot\" memslot-remove.zap=slot memslot.host-page=2M\n" +
		"memslot 0 gpa=0 size=64M hpa=256M\nmemslot 1 gpa=64M size=4M hpa=512M\nshadow\npaging level4\n" +
		"script\nmemslot-remove 1\nmemslot-remove 0 zap=all\n"
	f, err := Parse("t.mmu", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	zaps := func(variant string) []bool {
		t.Helper()
		s, err := BuildVariant(f, variant)
		if err != nil {
			t.Fatal(err)
		}
		var out []bool
		for _, a := range s.Script {
			out = append(out, a.(*mmu.RemoveMemslot).SlotZapOnly)
		}
		return out
	}
	before := reflect.ValueOf(f.Commands[8].Args).Len()
	if got := zaps("slot"); !reflect.DeepEqual(got, []bool{true, false}) {
		t.Errorf("slot: %v", got)
	}
	if got := zaps(""); !reflect.DeepEqual(got, []bool{false, false}) {
		t.Errorf("all: %v", got)
	}
	if got := zaps("slot"); !reflect.DeepEqual(got, []bool{true, false}) {
		t.Errorf("slot again: %v", got)
	}
	if reflect.ValueOf(f.Commands[8].Args).Len() != before {
		t.Error("the build changed the parsed file")
	}
	s, _ := BuildVariant(f, "slot")
	other, err := s.WithVariant("all")
	if err != nil || other.Variant != "all" {
		t.Errorf("WithVariant: %v %v", other, err)
	}
	// host-page=2M under slot: memslot 0 has 2M host pages then, and a
	// bad value is reported at the variant line.
	if _, err := LoadVariant("t.mmu", []byte(strings.Replace(src, "host-page=2M", "host-page=3M", 1)), "slot"); err == nil ||
		!strings.HasPrefix(err.Error(), "t.mmu:2:") {
		t.Errorf("a bad setting: %v", err)
	}
}

// TestVariantDocExamples builds the examples of LANGUAGE.md that declare
// variants, under each of their variants.
func TestVariantDocExamples(t *testing.T) {
	n := 0
	for _, block := range codeBlocks(commandsDoc(t)) {
		if strings.HasPrefix(block, "t.mmu:") || !strings.Contains("\n"+block, "\nvariant") {
			continue
		}
		n++
		s, err := Load("doc.mmu", []byte(block))
		if err != nil {
			t.Fatalf("example: %v\n%s", err, block)
		}
		if len(s.Variants) < 2 {
			t.Errorf("example declares %v", s.Variants)
		}
		for _, v := range s.Variants {
			if _, err := s.WithVariant(v.Name); err != nil {
				t.Errorf("example under %s: %v", v.Name, err)
			}
		}
	}
	if n < 2 {
		t.Errorf("%d examples with variants", n)
	}
}
