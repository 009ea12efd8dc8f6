package lessons

import (
	"os"
	"testing"
)

// BenchmarkParseLesson parses a realistic lesson of about three pages (1,200
// words, 11 sections, tables, code, lists, footnotes).
func BenchmarkParseLesson(b *testing.B) {
	src, err := os.ReadFile("testdata/walk.md")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		l, err := Parse("walk.md", src)
		if err != nil || len(l.Sections) != 11 {
			b.Fatal(err)
		}
	}
}
