//go:build !js

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp/kb"
)

// variantScenario is the built-in scenario with two designs.
const variantScenario = "shadow-2level-on-5level"

// variantGame is the game's state with the variant.
type variantGame struct {
	gameState
	Variant string `json:"variant"`
}

func readVariantGame(t testing.TB, ctx context.Context, step int) variantGame {
	t.Helper()
	raw := eval[string](t, ctx, fmt.Sprintf(`document.getElementById("stage").contentWindow.mmuviz.seek(%d)`, step))
	var g variantGame
	if err := json.Unmarshal([]byte(raw), &g); err != nil {
		t.Fatalf("seek(%d) returned %q: %v", step, raw, err)
	}
	return g
}

// variantSwitch is what the page shows of the variant switch.
type variantSwitch struct {
	Hidden   bool     `json:"hidden"`
	Value    string   `json:"value"`
	Options  []string `json:"options"`
	Disabled bool     `json:"disabled"`
}

const variantSwitchJS = `(() => {
  const s = document.getElementById("variant");
  return {hidden: document.getElementById("variant-box").hidden, value: s.value,
    options: [...s.options].map((o) => o.value), disabled: s.disabled};
})()`

// wantVariant waits for the panel to show step of a total-step timeline
// and checks the hash, the game's state and the switch.
func wantVariant(t testing.TB, ctx context.Context, variant string, step, total int) variantGame {
	t.Helper()
	pollJS[bool](t, ctx, 15*time.Second, fmt.Sprintf("step %d of %s", step, variant),
		fmt.Sprintf(`document.getElementById("counter").textContent === "Step %d / %d" && location.hash.endsWith(%q)`,
			step, total-1, "&variant="+variant))
	p := readPage(t, ctx)
	if want := fmt.Sprintf("#scenario=%s&step=%d&variant=%s", variantScenario, step, variant); p.Hash != want {
		t.Errorf("hash %q, want %q", p.Hash, want)
	}
	g := readVariantGame(t, ctx, step)
	if g.Variant != variant || g.Scenario != variantScenario || g.Kind != "scenario" || g.Step != step || g.Total != total {
		t.Errorf("the game is at %+v, want %s step %d of %d", g, variant, step, total)
	}
	if p.Narration != g.Narration {
		t.Errorf("the panel shows %q, the game says %q", p.Narration, g.Narration)
	}
	sw := eval[variantSwitch](t, ctx, variantSwitchJS)
	if sw.Hidden || sw.Disabled || sw.Value != variant || strings.Join(sw.Options, " ") != "merged level-expanded" {
		t.Errorf("the variant switch: %+v", sw)
	}
	return g
}

// variants opens the scenario with two designs by its permalink, switches
// the design with the panel's select (the step stays), and checks that a
// bad variant in the address falls back to the default with a notice.
func variants(t *testing.T, ctx context.Context) {
	eval[bool](t, ctx, fmt.Sprintf(`(location.hash = "#scenario=%s&variant=level-expanded&step=5", true)`, variantScenario))
	expandedTotal := pollJS[float64](t, ctx, 15*time.Second, "the level-expanded variant to open", `(() => {
	  const s = JSON.parse(document.getElementById("stage").contentWindow.mmuviz.seek(5));
	  return s.variant === "level-expanded" ? s.total : 0;
	})()`)
	expanded := wantVariant(t, ctx, "level-expanded", 5, int(expandedTotal))
	if p := readPage(t, ctx); p.Notice != "" {
		t.Errorf("a notice on a good permalink: %q", p.Notice)
	}

	// The switch, as a keyboard user reaches it: focus, then choose.
	eval[bool](t, ctx, `(() => {
	  const s = document.getElementById("variant");
	  s.focus();
	  s.value = "merged";
	  s.dispatchEvent(new Event("change", {bubbles: true}));
	  return document.activeElement === s;
	})()`)
	mergedTotal := pollJS[float64](t, ctx, 15*time.Second, "the merged variant to open", `(() => {
	  const s = JSON.parse(document.getElementById("stage").contentWindow.mmuviz.seek(5));
	  return s.variant === "merged" ? s.total : 0;
	})()`)
	merged := wantVariant(t, ctx, "merged", 5, int(mergedTotal))
	if merged.Total == expanded.Total && merged.Narration == expanded.Narration {
		t.Errorf("both designs have %d steps and say %q at step 5", merged.Total, merged.Narration)
	}
	// Keys still step after the switch (the select keeps its own arrows).
	eval[bool](t, ctx, `(document.activeElement && document.activeElement.blur(), true)`)
	press(t, ctx, kb.ArrowRight)
	wantVariant(t, ctx, "merged", 6, merged.Total)

	// Bad variants in the address fall back to the default, with a notice.
	for _, c := range []struct{ hash, mention string }{
		{"#scenario=" + variantScenario + "&step=3&variant=bogus", "bogus"},
		{"#scenario=" + variantScenario + "&step=3&variant=%3Cb%3E", "<b>"},
	} {
		eval[bool](t, ctx, `(location.hash = "#scenario=`+variantScenario+`&step=9&variant=level-expanded", true)`)
		wantVariant(t, ctx, "level-expanded", 9, expanded.Total)
		eval[bool](t, ctx, fmt.Sprintf(`(location.hash = %q, true)`, c.hash))
		wantVariant(t, ctx, "merged", 3, merged.Total)
		p := readPage(t, ctx)
		if !strings.Contains(p.Notice, c.mention) {
			t.Errorf("hash %s: notice %q, want one mentioning %q", c.hash, p.Notice, c.mention)
		}
		press(t, ctx, kb.Escape)
		pollJS[bool](t, ctx, 5*time.Second, "the notice to go", `document.getElementById("notice").hidden`)
	}

	// An older permalink, NAME:VARIANT, opens that variant and is rewritten.
	eval[bool](t, ctx, `(location.hash = "#scenario=`+variantScenario+`:level-expanded&step=4", true)`)
	wantVariant(t, ctx, "level-expanded", 4, expanded.Total)
	if p := readPage(t, ctx); p.Notice != "" {
		t.Errorf("a notice on an older permalink: %q", p.Notice)
	}

	// A scenario without variants hides the switch and keeps the hash plain.
	eval[bool](t, ctx, `(location.hash = "#scenario=shadow-4level&step=2", true)`)
	pollJS[bool](t, ctx, 15*time.Second, "shadow-4level to open",
		`location.hash === "#scenario=shadow-4level&step=2" && document.getElementById("variant-box").hidden`)
	if g := readVariantGame(t, ctx, 2); g.Variant != "" {
		t.Errorf("shadow-4level runs variant %q", g.Variant)
	}
	t.Logf("variants: %s has %d steps merged, %d level-expanded", variantScenario, merged.Total, expanded.Total)
}
