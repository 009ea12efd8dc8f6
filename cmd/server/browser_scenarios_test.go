//go:build !js

package main

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"mmuviz/scenarios"
)

// TestBrowserScenarios opens every built-in scenario under every variant
// it declares, by its permalink, at its first, middle and last step: the
// page must show that step of that timeline (as many steps as the Go
// program's), with no notice, no crash and no console error; the middle
// step of each default variant must draw a picture.
func TestBrowserScenarios(t *testing.T) {
	ctx, console, _ := openPage(t, 1280, 800, "")
	start, opened := time.Now(), 0
	for _, name := range scenarios.Builtin() {
		s, err := scenarios.LoadBuiltin(name)
		if err != nil {
			t.Fatal(err)
		}
		variants := []string{""}
		for i, v := range s.Variants {
			if i > 0 {
				variants = append(variants, v.Name)
			}
		}
		for _, variant := range variants {
			sv := s
			if variant != "" {
				if sv, err = s.WithVariant(variant); err != nil {
					t.Fatal(err)
				}
			}
			total := sv.Timeline().Len()
			for _, step := range []int{0, total / 2, total - 1} {
				openScenarioStep(t, ctx, name, variant, step, total)
				opened++
			}
			if variant == "" {
				openScenarioStep(t, ctx, name, "", total/2, total)
				img, si, _ := screenshotStable(t, ctx)
				scale := float64(img.Bounds().Dx()) / si.ViewW
				if distinct, dominant := colourStats(img, rect(si.X, si.Y, si.W, si.H, scale)); distinct < 5 || dominant > 0.985 {
					saveShot(t, img, "scenario-"+name)
					t.Errorf("scenario %s: the stage looks blank at step %d", name, total/2)
				}
			}
		}
	}
	t.Logf("opened %d scenario steps by permalink in %v", opened, time.Since(start).Round(time.Millisecond))
	console.check(t)
}

// openScenarioStep follows the permalink of a scenario's step and checks
// that the panel shows it.
func openScenarioStep(t *testing.T, ctx context.Context, name, variant string, step, total int) {
	t.Helper()
	hash := "#scenario=" + url.QueryEscape(name) + fmt.Sprintf("&step=%d", step)
	if variant != "" {
		hash += "&variant=" + url.QueryEscape(variant)
	}
	eval[bool](t, ctx, fmt.Sprintf(`(location.hash = %q, true)`, hash))
	what := fmt.Sprintf("scenario %s@%s step %d", name, variant, step)
	pollJS[bool](t, ctx, 30*time.Second, what, fmt.Sprintf(
		`document.getElementById("counter").textContent === "Step %d / %d" && `+
			`document.getElementById("stage").contentWindow.mmuviz.seek(%d).includes('"scenario":"%s"')`,
		step, total-1, step, name))
	p := readPage(t, ctx)
	if p.Notice != "" {
		t.Errorf("%s: the page says %q", what, p.Notice)
	}
	if p.Narration == "" && step > 0 {
		t.Errorf("%s: no narration in the panel", what)
	}
	g := readGame(t, ctx, step)
	if g.Step != step || g.Total != total {
		t.Errorf("%s: the game is at step %d of %d, want %d of %d", what, g.Step, g.Total, step, total)
	}
	if variant != "" && !containsVariant(p.Hash, variant) {
		t.Errorf("%s: the permalink lost the variant: %s", what, p.Hash)
	}
}

// containsVariant says the hash names the variant.
func containsVariant(hash, variant string) bool {
	v, err := url.ParseQuery(trimHash(hash))
	return err == nil && v.Get("variant") == variant
}

// trimHash drops the leading '#'.
func trimHash(h string) string {
	if len(h) > 0 && h[0] == '#' {
		return h[1:]
	}
	return h
}
