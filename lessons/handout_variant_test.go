package lessons

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"mmuviz/scenarios"
)

// variantScenario has two variants; the second turns the write into a
// zap of the slot only, which the trace says.
const variantScenario = "title \"Two ways\"\nvariant all \"zap all\"\nvariant slot \"the slot only\" memslot-remove.zap=slot\n" +
	"memslot 0 gpa=0 size=4M hpa=16M\nmemslot 1 gpa=4M size=4M hpa=32M\ntdp ept\nprefault 0x400000\n" +
	"script\nmemslot-remove 1\n"

// TestHandoutVariant: a lesson's variant chooses the scenario's variant;
// without one the default runs; a variant the scenario lacks is an error
// at the lesson's variant key.
func TestHandoutVariant(t *testing.T) {
	lesson := func(variant string) []byte {
		v := ""
		if variant != "" {
			v = "variant: " + variant + "\n"
		}
		return []byte("---\ntitle: T\nscenario: x.mmu\n" + v + "---\nText.\n")
	}
	for _, tc := range []struct{ variant, want, text string }{
		{"", "all", "Variant: all (the scenario's default)."},
		{"all", "all", "Variant: all."},
		{"slot", "slot", "Variant: slot."},
	} {
		h, err := OpenHandout("l.md", lesson(tc.variant), tinyLoader(variantScenario))
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := h.WriteText(&b); err != nil {
			t.Fatal(err)
		}
		if h.Scenario.Variant != tc.want || !strings.Contains(b.String(), tc.text) {
			t.Errorf("variant %q: runs %q, text %q", tc.variant, h.Scenario.Variant, b.String())
		}
	}
	for _, tc := range []struct{ src, scenario, want string }{
		{variantScenario, "zap", `l.md:4:10: variant "zap": scenario "x.mmu" has no such variant; its variants are all, slot`},
		{handoutScenario, "zap", `l.md:4:10: variant "zap": scenario "x.mmu" declares no variants`},
	} {
		_, err := OpenHandout("l.md", lesson(tc.scenario), tinyLoader(tc.src))
		var pe *scenarios.Error
		if err == nil || err.Error() != tc.want || !errors.As(err, &pe) {
			t.Errorf("got %v\nwant %s", err, tc.want)
		}
	}
}
