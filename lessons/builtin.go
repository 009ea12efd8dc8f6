package lessons

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

// content holds the built-in lessons: every content/*.md except README.md.
//
//go:embed content
var content embed.FS

// Builtin returns the names of the built-in lessons, sorted.
func Builtin() []string {
	entries, err := fs.ReadDir(content, "content")
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() && strings.HasSuffix(name, ".md") && name != "README.md" {
			names = append(names, strings.TrimSuffix(name, ".md"))
		}
	}
	sort.Strings(names)
	return names
}

// LoadBuiltin parses the built-in lesson with the given name (see Builtin).
func LoadBuiltin(name string) (*Lesson, error) {
	found := false
	for _, n := range Builtin() {
		found = found || n == name
	}
	if !found {
		return nil, fmt.Errorf("no built-in lesson %q (there are: %s)", name, listOrNone(Builtin()))
	}
	src, err := content.ReadFile("content/" + name + ".md")
	if err != nil {
		return nil, err
	}
	return Parse("lessons/content/"+name+".md", src)
}

// listOrNone joins names for a message.
func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
