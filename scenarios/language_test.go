package scenarios

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// commandsDoc returns the "Commands" part of LANGUAGE.md followed by the
// topic files it links to (language/*.md), where the commands are
// described.
func commandsDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("LANGUAGE.md")
	if err != nil {
		t.Fatal(err)
	}
	_, doc, ok := strings.Cut(string(b), "\n## Commands\n")
	if !ok {
		t.Fatal("LANGUAGE.md has no Commands section")
	}
	topics, err := filepath.Glob("language/*.md")
	if err != nil || len(topics) == 0 {
		t.Fatalf("no topic files in language/: %v", err)
	}
	for _, name := range topics {
		if !strings.Contains(doc, "]("+name+")") {
			t.Errorf("LANGUAGE.md does not link to %s", name)
		}
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		doc += "\n" + string(b)
	}
	return doc
}

// codeBlocks returns the fenced code blocks of a Markdown text.
func codeBlocks(doc string) []string {
	var blocks []string
	parts := strings.Split(doc, "```")
	for i := 1; i < len(parts); i += 2 {
		blocks = append(blocks, strings.TrimPrefix(parts[i], "\n"))
	}
	return blocks
}

// TestLanguageDoc keeps the Commands part of LANGUAGE.md honest: every
// command has a heading, the opening example runs, and the error examples
// are messages the builder really gives.
func TestLanguageDoc(t *testing.T) {
	doc := commandsDoc(t)
	for _, name := range CommandNames() {
		if !strings.Contains(doc, "### `"+name) && !strings.Contains(doc, ", `"+name+" ") {
			t.Errorf("command %s is not documented", name)
		}
	}
	blocks := codeBlocks(doc)
	s, err := Load("example.mmu", []byte(blocks[0]))
	if err != nil {
		t.Fatalf("the first example: %v", err)
	}
	if _, err := s.Run(); err != nil {
		t.Fatalf("the first example: %v", err)
	}
	_, errs, _ := strings.Cut(doc, "### What errors look like")
	real := map[string]bool{}
	for _, tc := range buildErrors {
		real[tc.want] = true
	}
	for _, line := range strings.Split(codeBlocks(errs)[0], "\n") {
		if line != "" && !real[line] {
			t.Errorf("LANGUAGE.md shows an error the tests do not: %s", line)
		}
	}
}

// TestLanguageExamples parses every example of the Commands part and
// checks that each line is a known command.
func TestLanguageExamples(t *testing.T) {
	for _, block := range codeBlocks(commandsDoc(t)) {
		if strings.HasPrefix(block, "t.mmu:") {
			continue
		}
		f, err := Parse("doc.mmu", []byte(block))
		if err != nil {
			t.Errorf("example does not parse: %v\n%s", err, block)
			continue
		}
		for _, c := range f.Commands {
			if lookupSpec(c.Name) == nil {
				t.Errorf("example uses unknown command %q", c.Name)
			}
		}
	}
}
