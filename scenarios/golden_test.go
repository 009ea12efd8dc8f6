package scenarios

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"mmuviz/mmu"
)

var update = flag.Bool("update", false, "rewrite the golden traces in testdata/")

// builtinRun is one built-in scenario under one of its variants ("" for a
// scenario without variants).
type builtinRun struct{ name, variant string }

// id names a run: NAME, or NAME@VARIANT for the variants after the
// default; the golden files are named after it.
func (r builtinRun) id(def string) string {
	if r.variant == "" || r.variant == def {
		return r.name
	}
	return r.name + "@" + r.variant
}

// builtinRuns lists every built-in scenario under every variant it
// declares, the default first, with their ids.
func builtinRuns(t *testing.T) (runs []builtinRun, ids []string) {
	t.Helper()
	for _, name := range Builtin() {
		s, err := LoadBuiltin(name)
		if err != nil {
			t.Fatal(err)
		}
		if len(s.Variants) == 0 {
			runs, ids = append(runs, builtinRun{name, ""}), append(ids, name)
			continue
		}
		for _, v := range s.Variants {
			r := builtinRun{name, v.Name}
			runs, ids = append(runs, r), append(ids, r.id(s.Variants[0].Name))
		}
	}
	return runs, ids
}

// traces builds and runs a built-in scenario under a variant and returns
// its text and JSON traces.
func traces(t *testing.T, r builtinRun) (text, js []byte) {
	t.Helper()
	s, err := LoadBuiltinVariant(r.name, r.variant)
	if err != nil {
		t.Fatal(err)
	}
	steps, err := s.Run()
	if err != nil {
		t.Fatal(err)
	}
	var tb, jb bytes.Buffer
	if err := mmu.WriteText(&tb, steps); err != nil {
		t.Fatal(err)
	}
	if err := mmu.WriteJSON(&jb, steps); err != nil {
		t.Fatal(err)
	}
	return tb.Bytes(), jb.Bytes()
}

// TestGolden compares each built-in scenario's traces byte for byte with
// testdata/NAME.txt and NAME.json, and those of its other variants with
// NAME@VARIANT.txt and .json; -update rewrites them. No golden file is
// left over from a scenario or variant that is gone.
func TestGolden(t *testing.T) {
	runs, ids := builtinRuns(t)
	want := map[string]bool{}
	for i, r := range runs {
		id := ids[i]
		want[id+".txt"], want[id+".json"] = true, true
		t.Run(id, func(t *testing.T) {
			text, js := traces(t, r)
			golden(t, filepath.Join("testdata", id+".txt"), text)
			golden(t, filepath.Join("testdata", id+".json"), js)
		})
	}
	files, err := filepath.Glob(filepath.Join("testdata", "*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if base := filepath.Base(f); (strings.HasSuffix(base, ".txt") || strings.HasSuffix(base, ".json")) && !want[base] {
			t.Errorf("%s is the trace of no built-in scenario or variant: remove it", f)
		}
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./scenarios/ -run Golden -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the trace; if the change is intended, run go test ./scenarios/ -run Golden -update\n%s",
			path, firstDiff(got, want))
	}
}

// firstDiff shows the first line where got and want differ.
func firstDiff(got, want []byte) string {
	g, w := bytes.Split(got, []byte("\n")), bytes.Split(want, []byte("\n"))
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl []byte
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if !bytes.Equal(gl, wl) {
			return "line " + strconv.Itoa(i+1) + ":\n got: " + string(gl) + "\nwant: " + string(wl)
		}
	}
	return ""
}

// TestDeterminism builds and runs each scenario twice, natively and via a
// timeline: the traces must be identical byte for byte.
func TestDeterminism(t *testing.T) {
	runs, ids := builtinRuns(t)
	for i, r := range runs {
		name := ids[i]
		t1, j1 := traces(t, r)
		t2, j2 := traces(t, r)
		if !bytes.Equal(t1, t2) || !bytes.Equal(j1, j2) {
			t.Errorf("%s: two runs differ", name)
		}
		s, _ := LoadBuiltinVariant(r.name, r.variant)
		tl := s.Timeline()
		if tl.Err != nil {
			t.Fatalf("%s: timeline: %v", name, tl.Err)
		}
		var jb bytes.Buffer
		if err := mmu.WriteJSON(&jb, tl.Steps); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(jb.Bytes(), j1) {
			t.Errorf("%s: the timeline's trace differs from Run's", name)
		}
	}
}

// coverage lists what a scenario's run shows, as the issue asks of the
// built-in scenarios.
func coverage(steps []mmu.Step) map[string]bool {
	got := map[string]bool{}
	for i, st := range steps {
		r := st.Result
		tdxCoverage(got, st)
		switch a := st.Action.(type) {
		case *mmu.Access:
			if r.OK {
				got["refs="+strconv.Itoa(r.Refs)] = true
			}
			if f := r.Fault; f != nil && f.Vector == "#PF" {
				ec := f.ErrorCode
				switch {
				case ec&mmu.PFErrPresent == 0:
					got["not present"] = true
				case ec&mmu.PFErrRsvd != 0:
					got["reserved bit"] = true
				case ec&mmu.PFErrPK != 0 || ec&mmu.PFErrFetch != 0 || strings.Contains(eventText(st), "SMAP"):
					got["nx/smep/smap/pku"] = true
				default:
					got["protection"] = true
				}
			}
			tdpCoverage(got, st)
			shadowCoverage(got, st)
			nestedCoverage(got, st)
			for _, e := range st.Events {
				guestAD := e.Func == "update_accessed_dirty_bits" || (e.Func == "cpu" && e.Kind == mmu.EvWrite && e.Space == mmu.SpaceGPA)
				if guestAD && e.New&mmu.PTDirty != 0 && e.Old&mmu.PTDirty == 0 {
					got["sets D"] = true
				}
				for _, size := range []string{"4 MiB", "2 MiB", "1 GiB"} {
					if e.Kind == mmu.EvResult && strings.Contains(e.Text, "a "+size+" page") {
						got[size] = true
					}
				}
			}
		case *mmu.WriteEntry:
			if i+1 < len(steps) && a.Level == 1 {
				if next, ok := steps[i+1].Action.(*mmu.Access); ok && next.GVA == a.GVA {
					got["edit then walk"] = true
				}
			}
		case *mmu.SetReg:
			if a.Reg == mmu.RegCR0 || a.Reg == mmu.RegCR3 || a.Reg == mmu.RegCR4 || a.Reg == mmu.RegEFER {
				got["CR write"] = true
			}
			shadowCoverage(got, st)
		case *mmu.RemoveMemslot:
			got["memslot-remove"] = true
			tdpCoverage(got, st)
			shadowCoverage(got, st)
		case *mmu.ZapGFNRange:
			got["zap"] = true
			shadowCoverage(got, st)
		case *mmu.GuestWrite:
			shadowCoverage(got, st)
			nestedCoverage(got, st)
		case *mmu.Invlpg:
			got["invlpg"] = true
			shadowCoverage(got, st)
		case *mmu.SetCPUID:
			shadowCoverage(got, st)
		case *mmu.NestedEntry, *mmu.NestedExit, *mmu.WriteNPT12Entry, *mmu.WriteEPT12Entry, *mmu.NestedGVAToGPA:
			nestedCoverage(got, st)
			shadowCoverage(got, st)
		case *mmu.CheckShadow:
			if r.OK {
				got["check ok"] = true
			} else {
				got["check broken"] = true
			}
		}
	}
	return got
}

// shadowCoverage notes what a step shows of shadow paging, by the kernel
// functions in its trace.
func shadowCoverage(got map[string]bool, st mmu.Step) {
	names := map[string]string{
		"kvm_mmu_alloc_shadow_page": "shadow alloc", "kvm_mmu_find_shadow_page": "hash hit",
		"kvm_unsync_page": "unsync", "kvm_unlink_unsync_page": "resync", "paging64_sync_spte": "sync_spte",
		"paging32_sync_spte": "sync_spte", "kvm_mmu_track_write": "track write", "detect_write_misaligned": "misaligned",
		"detect_write_flooding": "flooding", "mmu_alloc_special_roots": "special roots",
		"kvm_inject_emulated_page_fault": "injected", "mark_mmio_spte": "mmio", "handle_mmio_page_fault": "mmio",
		"kvm_mmu_prepare_zap_page": "zap page", "kvm_mmu_free_shadow_page": "free page",
		"kvm_mmu_write_protect_fault": "emulate write", "kvm_mmu_zap_all_fast": "zap all",
		"kvm_mmu_free_roots": "free roots", "cached_root_find_and_keep_current": "root cache",
		"cached_root_find_without_current": "root cache", "kvm_mmu_new_pgd": "cached root",
		"kvm_mmu_free_obsolete_roots": "free obsolete", "kvm_mmu_unload": "unload", "kvm_mmu_reset_context": "reset context", "mmu_sync_children": "sync children",
		"shadow_mmu_init_context": "role unchanged", "init_kvm_softmmu": "role changed",
		"kvm_mmu_after_set_cpuid": "cpuid marker", "kvm_cpuid_check_equal": "cpuid ebusy",
	}
	for _, e := range st.Events {
		if n, ok := names[e.Func]; ok {
			got[n] = true
		}
		switch {
		case e.Kind == mmu.EvAlloc && strings.Contains(e.Text, "quadrant=3"):
			got["quadrant"] = true
		case e.Kind == mmu.EvAlloc && strings.Contains(e.Text, "it is direct"):
			got["direct"] = true
		case e.Kind == mmu.EvAlloc && strings.Contains(e.Text, "glevel=2"):
			got["glevel"] = true
		case e.Kind == mmu.EvResult && e.Func == "cpu" && strings.Contains(e.Text, "a 2 MiB shadow page"):
			got["2M leaf"] = true
		case e.Kind == mmu.EvResult && e.Func == "cpu" && strings.Contains(e.Text, "unsync shadow page"):
			got["through unsync"] = true
		case e.Kind == mmu.EvCheck && strings.Contains(e.Text, "CR0.WP=0: the guest's kernel may write"):
			got["wp rule"] = true
		}
	}
}

// tdpCoverage notes what a step shows of two-dimensional paging: VM exits
// (and #NPF error codes), KVM allocating and freeing tables, MMIO
// emulation, the processor setting EPT/NPT A/D bits, and guest page
// faults that cause no exit.
func tdpCoverage(got map[string]bool, st mmu.Step) {
	twoD := false
	for _, e := range st.Events {
		twoD = twoD || e.TwoD
		switch {
		case e.Kind == mmu.EvExit:
			got["exit"] = true
			if e.Func == "npf_interception" && e.Old&mmu.PFErrGuestFinal != 0 {
				got["NPF final"] = true
			}
			if e.Func == "npf_interception" && e.Old&mmu.PFErrGuestPage != 0 {
				got["NPF page"] = true
			}
		case e.Kind == mmu.EvAlloc:
			got["alloc"] = true
		case e.Kind == mmu.EvFree:
			got["free"] = true
		case e.Func == "x86_emulate_instruction":
			got["mmio"] = true
		case e.Func == "cpu" && e.Kind == mmu.EvWrite && e.Space == mmu.SpaceHPA:
			got["tdp A/D"] = true
		}
	}
	if f := st.Result.Fault; twoD && f != nil && f.Vector == "#PF" {
		got["#PF no exit"] = true
	}
}

func eventText(st mmu.Step) string {
	var b strings.Builder
	for _, e := range st.Events {
		b.WriteString(e.Text)
	}
	return b.String()
}

// TestBuiltinCoverage checks that each built-in scenario shows what the
// issue asks: a full walk, its huge pages, the kinds of faults, D being
// set, a guest edit of its PTE seen by the next walk and a CR write.
func TestBuiltinCoverage(t *testing.T) {
	common := []string{"not present", "protection", "reserved bit", "nx/smep/smap/pku", "sets D",
		"edit then walk", "CR write"}
	want := map[string][]string{
		"native-32bit":  {"refs=2", "4 MiB"},
		"native-pae":    {"refs=2", "2 MiB"},
		"native-4level": {"refs=4", "2 MiB", "1 GiB"},
		"native-5level": {"refs=5", "2 MiB", "1 GiB"},
		// Lesson scenarios (lesson-*.mmu) exist for one lesson each.
		"lesson-guest-modes": {"refs=2", "refs=1", "refs=4", "refs=5", "4 MiB", "2 MiB", "1 GiB",
			"not present", "nx/smep/smap/pku", "CR write"},
		// 2D walks: 19 is a guest 2 MiB page over host 4 KiB pages, 23
		// a guest 4 KiB page over a host 2 MiB page.
		"ept-4on4":           {"refs=24", "refs=19", "refs=23", "tdp A/D", "#PF no exit", "sets D"},
		"ept-4on5":           {"refs=29", "refs=23", "tdp A/D"},
		"ept-5on5":           {"refs=35", "refs=29", "tdp A/D"},
		"ept-pae-on-4":       {"refs=14", "refs=9"},
		"npt-4on4":           {"refs=24", "exit", "NPF final", "NPF page", "alloc", "#PF no exit"},
		"ept-fault-populate": {"refs=24", "refs=23", "exit", "alloc", "free", "mmio", "zap", "memslot-remove"},
		// Shadow paging: refs count the processor's walk of the shadow
		// tables (PAE: the PDPTE is a register).
		"shadow-4level": {"refs=4", "shadow alloc", "unsync", "through unsync", "invlpg", "sync_spte", "resync",
			"track write", "emulate write", "injected", "hash hit", "check ok"},
		"shadow-32bit":                           {"refs=2", "refs=1", "quadrant", "2M leaf", "direct", "track write", "check ok"},
		"shadow-pae":                             {"refs=2", "refs=1", "injected", "free roots", "hash hit", "check ok"},
		"shadow-2level-on-5level":                {"refs=5", "special roots", "quadrant", "free roots", "hash hit", "check ok"},
		"shadow-2level-on-5level@level-expanded": {"refs=5", "glevel", "quadrant", "root cache", "cached root", "check ok"},
		"shadow-pte-write": {"refs=4", "track write", "emulate write", "misaligned", "flooding",
			"zap page", "check ok"},
		"shadow-unsync": {"refs=4", "unsync", "through unsync", "invlpg", "sync_spte", "resync", "sync children",
			"check ok"},
		"roots-cr3-switch": {"refs=4", "refs=2", "root cache", "cached root", "free roots", "hash hit", "check ok"},
		"roots-zap-obsolete": {"refs=4", "root cache", "misaligned", "unload", "free roots", "free page",
			"check ok"},
		"roots-zap-obsolete@posted": {"refs=4", "root cache", "cached root", "misaligned", "free obsolete",
			"free roots", "check ok", "check broken"},
		"roots-zap-obsolete@fixed": {"refs=4", "root cache", "cached root", "misaligned", "free obsolete",
			"free roots", "free page", "check ok"},
		"role-reconfig": {"cpuid marker", "role changed", "role unchanged", "reset context", "hash hit", "injected",
			"cpuid ebusy", "refs=4"},
		"role-reconfig@level0":      {"cpuid marker", "role changed", "role unchanged", "injected", "cpuid ebusy"},
		"role-reconfig@cpuid-stale": {"cpuid marker", "role changed", "role unchanged", "injected", "cpuid ebusy"},
		// No marker: the stale masks let the walk through to an MMIO GPA.
		"role-reconfig@none": {"cpuid marker", "role unchanged", "mmio", "cpuid ebusy"},
		// Nested NPT: a 32-bit L1 on 5-level NPT (29 = (4+1)(5+1)-1 for
		// the 4-level L2).
		"nested-npt-32bit-l1": {"refs=29", "vmrun", "vmexit", "npf reflected", "special roots", "free roots",
			"hash hit", "npt02 unsync", "sync children", "track write", "emulated l1 write", "tdp wrprot",
			"nested walk", "check ok"},
		"nested-npt-32bit-l1@level-expanded": {"refs=29", "vmrun", "vmexit", "npf reflected", "glevel", "root kept",
			"npt02 unsync", "sync children", "track write", "emulated l1 write", "nested walk", "check ok"},
		"nested-npt-pae-l1":                   {"refs=14", "vmrun", "vmexit", "special roots", "direct", "check ok"},
		"nested-npt-4level-l1":                {"refs=29", "vmrun", "vmexit", "root kept", "check ok"},
		"nested-npt-4level-l1@level-expanded": {"refs=29", "vmrun", "vmexit", "root kept", "check ok"},
		// Nested EPT: a 4-level L2 on 4-level EPT02 (24 = (4+1)(4+1)-1).
		"nested-ept": {"refs=24", "vmlaunch", "vmx exit", "l0 wants exit", "ept12 walk", "ept reflected",
			"ept misconfig reflected", "root kept", "npt02 unsync", "tdp wrprot", "clean ept12 leaf", "nested walk",
			"check ok"},
		"nested-ept@constants-once": {"refs=24", "vmlaunch", "vmx exit", "ept reflected", "ept misconfig reflected",
			"root kept", "nested walk", "check ok"},
		"shadow-zap": {"misaligned", "flooding", "zap page", "free page", "zap", "zap all", "memslot-remove",
			"mmio", "wp rule", "reset context", "hash hit", "check ok"},
		// TDX: the SEAMCALLs behind each hook, from the premap to teardown.
		"tdx-private-shared": {"refs=24", "exit", "alloc", "premap", "PAGE.ADD", "SEPT.ADD", "PAGE.AUG",
			"ACCEPT", "memory fault", "convert", "BLOCK", "TRACK", "REMOVE", "RECLAIM", "check ok"},
	}
	runs, ids := builtinRuns(t)
	for i, r := range runs {
		name := ids[i]
		s, err := LoadBuiltinVariant(r.name, r.variant)
		if err != nil {
			t.Fatal(err)
		}
		steps, err := s.Run()
		if err != nil {
			t.Fatal(err)
		}
		got := coverage(steps)
		all := want[name]
		if strings.HasPrefix(name, "native-") {
			all = append(all, common...)
		}
		if len(all) == 0 {
			t.Errorf("%s: no coverage expectations", name)
		}
		for _, w := range all {
			if !got[w] {
				t.Errorf("%s does not show %s", name, w)
			}
		}
	}
}

// TestPDPTRCache checks the PAE story: a PDPTE cleared in memory is still
// used until CR3 is written again.
func TestPDPTRCache(t *testing.T) {
	s, err := LoadBuiltin("native-pae")
	if err != nil {
		t.Fatal(err)
	}
	steps, err := s.Run()
	if err != nil {
		t.Fatal(err)
	}
	var story []string
	for _, st := range steps {
		switch a := st.Action.(type) {
		case *mmu.WriteEntry:
			if a.Level == 3 {
				story = append(story, "edit PDPTE")
			}
		case *mmu.SetReg:
			if a.Reg == mmu.RegCR3 {
				story = append(story, "write CR3")
			}
		case *mmu.Access:
			if len(story) > 0 && a.GVA == 0x40000123 {
				story = append(story, map[bool]string{true: "ok", false: "fault"}[st.Result.OK])
			}
		}
	}
	if got := strings.Join(story, ", "); got != "edit PDPTE, ok, write CR3, fault" {
		t.Errorf("PAE story: %s", got)
	}
}
