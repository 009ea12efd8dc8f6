package scenarios

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

// builtins holds the scenario files shipped with mmuviz.
//
//go:embed *.mmu
var builtins embed.FS

// Builtin returns the names of the built-in scenarios (file names without
// .mmu), sorted.
func Builtin() []string {
	files, err := fs.Glob(builtins, "*.mmu")
	if err != nil {
		return nil
	}
	names := make([]string, 0, len(files))
	for _, f := range files {
		names = append(names, strings.TrimSuffix(f, ".mmu"))
	}
	sort.Strings(names)
	return names
}

// BuiltinSource returns the text of a built-in scenario.
func BuiltinSource(name string) ([]byte, error) {
	name = strings.TrimSuffix(name, ".mmu")
	if !validName(name) {
		return nil, fmt.Errorf("no built-in scenario %q (built-ins: %s)", name, strings.Join(Builtin(), ", "))
	}
	src, err := builtins.ReadFile(name + ".mmu")
	if err != nil {
		return nil, fmt.Errorf("no built-in scenario %q (built-ins: %s)", name, strings.Join(Builtin(), ", "))
	}
	return src, nil
}

// LoadBuiltin parses and builds a built-in scenario under its default
// variant; positions in its errors name the file as scenarios/NAME.mmu.
func LoadBuiltin(name string) (*Scenario, error) { return LoadBuiltinVariant(name, "") }

// LoadBuiltinVariant parses and builds a built-in scenario under the named
// variant ("" is the default).
func LoadBuiltinVariant(name, variant string) (*Scenario, error) {
	src, err := BuiltinSource(name)
	if err != nil {
		return nil, err
	}
	return LoadVariant("scenarios/"+strings.TrimSuffix(name, ".mmu")+".mmu", src, variant)
}

// validName accepts the names a built-in can have, so that no path
// (a/b, ../x) reaches the embedded file system.
func validName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}
