package render_test

import (
	"fmt"
	"strconv"
	"strings"

	"mmuviz/mmu"
	"mmuviz/render"
)

// checkShadowScene checks the promises of the shadow view: every shadow
// table box accounts for its 512 entries once, with folds true to what the
// processor sees as present; every box of a shadow page is one the engine
// has (or is freeing at this step) at its level; the root box counts the
// engine's pages; every dashed link runs from a shadow page to the guest
// table of its frame; and the highlight is where the event happens.
func checkShadowScene(sc *render.Scene, v *mmu.View) []string {
	var bad []string
	for _, b := range sc.Boxes() {
		if strings.HasPrefix(b.ID, "spt:") {
			bad = append(bad, checkShadowTable(b, v)...)
		}
	}
	if info, _ := v.Machine.ShadowInfo(); rootRow(sc, "pages") != strconv.Itoa(info.Pages) {
		bad = append(bad, fmt.Sprintf("the root box counts %q pages, the engine %d", rootRow(sc, "pages"), info.Pages))
	}
	for _, e := range sc.Edges() {
		if strings.HasPrefix(e.ID, "shadows:spt:") {
			bad = append(bad, checkShadowLink(e, v)...)
		}
	}
	if want := shadowHighlightBox(v); want != "" && sc.Highlight.Box != want {
		bad = append(bad, fmt.Sprintf("the %s event of %s is highlighted in box %s, want %s",
			v.Event.Kind, v.Event.Func, sc.Highlight.Box, want))
	}
	return bad
}

// checkShadowTable checks one box of the shadow column.
func checkShadowTable(b *render.Box, v *mmu.View) []string {
	hpa, err := strconv.ParseUint(strings.TrimPrefix(b.ID, "spt:0x"), 16, 64)
	if err != nil {
		return []string{"shadow table box with a bad ID " + b.ID}
	}
	var bad []string
	p, isPage := v.Machine.ShadowPageAt(mmu.HPA(hpa))
	freed := v.Event != nil && v.Event.Kind == mmu.EvFree && v.Event.Addr == hpa
	title := b.Title[0].S
	switch {
	case isPage && !strings.HasPrefix(title, fmt.Sprintf("L%d shadow page @ HPA %#x", p.Level, hpa)):
		bad = append(bad, fmt.Sprintf("%s: title %q for a level-%d page", b.ID, title, p.Level))
	case !isPage && !freed && !strings.Contains(title, "_root @ HPA"):
		bad = append(bad, fmt.Sprintf("%s: %q is neither a shadow page nor a special root", b.ID, title))
	}
	present := make([]bool, 512)
	for i := range present {
		e, _ := v.Machine.ReadSPTE(mmu.HPA(hpa) + mmu.HPA(8*i))
		present[i] = v.Machine.SPTEPresent(e)
	}
	next := 0
	for _, r := range b.Rows {
		if r.Count == 0 {
			continue
		}
		if r.Index != next {
			bad = append(bad, fmt.Sprintf("%s: row starts at %d, want %d", b.ID, r.Index, next))
		}
		next = r.Index + r.Count
		if r.Style == render.RowCollapsed {
			bad = append(bad, checkHostFold(b.ID, r, present)...)
		}
	}
	if next != 0 && next != 512 {
		bad = append(bad, fmt.Sprintf("%s: rows account for %d entries of 512", b.ID, next))
	}
	return bad
}

// checkShadowLink checks that a dashed link ends at the guest table of the
// shadow page's frame (or at a PAE guest's PDPTE registers, from pae_root).
func checkShadowLink(e *render.Edge, v *mmu.View) []string {
	hpa, _ := strconv.ParseUint(strings.TrimPrefix(e.From, "spt:0x"), 16, 64)
	p, ok := v.Machine.ShadowPageAt(mmu.HPA(hpa))
	if !ok {
		if strings.HasPrefix(e.To, "pdptr:") {
			return nil
		}
		return []string{fmt.Sprintf("link %s from a box that is no shadow page", e.ID)}
	}
	gpa, err := strconv.ParseUint(strings.TrimPrefix(e.To, "gpt:0x"), 16, 64)
	if err != nil || mmu.GPA(gpa).GFN() != p.GFN || !p.HasGPTEs {
		return []string{fmt.Sprintf("link %s: a page of gfn %s (guest entries %v) to %s", e.ID, p.GFN, p.HasGPTEs, e.To)}
	}
	return nil
}

// rootRow is the value of a row of the root box.
func rootRow(sc *render.Scene, name string) string {
	for _, b := range sc.Boxes() {
		if !strings.HasPrefix(b.ID, "sroot:") {
			continue
		}
		for _, r := range b.Rows {
			if len(r.Texts) >= 3 && r.Texts[len(r.Texts)-3].S == name {
				return r.Texts[len(r.Texts)-2].S
			}
		}
	}
	return ""
}

// shadowHighlightBox is the box the event's highlight must be in, where
// the event says so unambiguously; "" when it does not.
func shadowHighlightBox(v *mmu.View) string {
	e := v.Event
	switch {
	case e == nil:
		return ""
	case e.Space == mmu.SpaceHPA && e.HasEntry:
		return "spt:" + mmu.Hex(e.Table)
	case e.Kind == mmu.EvAlloc, e.Kind == mmu.EvFree:
		return "spt:" + mmu.Hex(e.Addr)
	case e.Kind == mmu.EvResult && e.Func == "cpu":
		return "sresult"
	case e.Kind == mmu.EvFault && e.Func == "cpu" && e.Level > 0:
		return "sfault"
	case e.Func == "invariants":
		return "scheck"
	case e.Kind == mmu.EvBegin && e.Func == "cpu", e.Func == "kvm_mmu_load_pgd":
		return "sroot:" + strconv.Itoa(e.VCPU)
	}
	return ""
}
