package scenarios

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// fuzzSeeds cover every form of the syntax and every kind of error.
var fuzzSeeds = []string{
	"",
	"# only a comment\n\n   \n",
	"\uFEFFmachine mode=level4 vcpus=2 # comment\r\n",
	"map 0x1000 size=4K perm=r,w,u name=\"text \\\"q\\\" \\\\ \\n \\t\"\n",
	"c 42 0x1000 0XfF 0b1011 1_000 4K 2M 1G 3T 0x10M 0b1K 007\n",
	"c x1000 root:pml4/3 a.b-c_d k=v:w/x\n",
	"c flags+=w flags-=u,p a--=1 max-level=4\n",
	"c 1,2,3 p,w,u a,1\n",
	"c\t1\t \tx#comment\n\tother \"# not a comment\" \"héllo ✓\"\n",
	"= 3\n3x\nwalk,3\nmap=3\nsync!\n",
	"c size=\nc size= 3\nc a+=\nc a==b\nc -5\nc .5\n",
	"c a=b=c\nc a:b=1\nc 0x10=5\nc \"a\"b\nc \"a\",\"b\"\nc café\n",
	"c \"abc\nc \"ab\\\nc \"a\\qb\"\nc p,\nc p,,w\nc p,\"w\"\n",
	"c 4Kb 4k 1.5M 0x1g 0x 0b102 0x_10 1__0 10_\n",
	"c 0x1_0000_0000_0000_0000 18446744073709551616 16777216T\n",
	"c 18446744073709551615 0xffff_ffff_ffff_ffff 16_777_215T\n",
	"c a\x00\nc \"\xff\"\n# é\xe9\n",
	"c x\r1\nd\r\r\n",
	"=\n=\n=\n=\n=\n=\n=\n=\n=\n=\n=\n=\n",
}

func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		file, err := Parse("f.mmu", src)
		file2, err2 := Parse("f.mmu", src)
		if !reflect.DeepEqual(file, file2) || !reflect.DeepEqual(err, err2) {
			t.Fatalf("Parse is not deterministic on %q", src)
		}
		lines := fuzzLines(src)
		if err != nil {
			if file != nil {
				t.Fatalf("Parse returned a file and an error on %q", src)
			}
			fuzzCheckErrors(t, src, lines, err)
			return
		}
		for _, c := range file.Commands {
			fuzzCheckAt(t, lines, c.Pos, c.Name)
			for _, a := range c.Args {
				fuzzCheckAt(t, lines, a.Pos, a.Key+a.Op)
				fuzzCheckValue(t, lines, a.Value)
			}
			fuzzCheckReparse(t, c)
		}
	})
}

// fuzzLines splits src as Parse does, skipping a byte order mark.
func fuzzLines(src []byte) [][]byte {
	src = bytes.TrimPrefix(src, []byte("\uFEFF"))
	lines := bytes.Split(src, []byte("\n"))
	for i := range lines {
		lines[i] = bytes.TrimSuffix(lines[i], []byte("\r"))
	}
	return lines
}

// fuzzCheckErrors checks that every error is an *Error within the input.
func fuzzCheckErrors(t *testing.T, src []byte, lines [][]byte, err error) {
	var list ErrorList
	if !errors.As(err, &list) {
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("error %T %v is not an *Error", err, err)
		}
		list = ErrorList{e}
	}
	for _, e := range list {
		if len(src) > MaxFileSize && e.Pos == (Pos{"f.mmu", 1, 1}) {
			continue
		}
		if e.Pos.File != "f.mmu" || e.Pos.Line < 1 || e.Pos.Line > len(lines) || e.Pos.Col < 1 ||
			e.Pos.Col > len(lines[e.Pos.Line-1])+1 || e.Msg == "" {
			t.Fatalf("error %v is outside the input %q", e, src)
		}
	}
}

// fuzzCheckAt checks that p is within the input and that the text there starts
// with prefix.
func fuzzCheckAt(t *testing.T, lines [][]byte, p Pos, prefix string) {
	t.Helper()
	if p.File != "f.mmu" || p.Line < 1 || p.Line > len(lines) || p.Col < 1 || p.Col > len(lines[p.Line-1]) {
		t.Fatalf("position %v is outside the input", p)
	}
	if !bytes.HasPrefix(lines[p.Line-1][p.Col-1:], []byte(prefix)) {
		t.Fatalf("at %v: found %q, want %q", p, lines[p.Line-1][p.Col-1:], prefix)
	}
}

// fuzzCheckValue checks a value's position, text and items.
func fuzzCheckValue(t *testing.T, lines [][]byte, v Value) {
	t.Helper()
	switch v.Kind {
	case StringValue:
		fuzzCheckAt(t, lines, v.Pos, `"`)
	case NumberValue, IdentValue:
		fuzzCheckAt(t, lines, v.Pos, v.Text)
		if v.Items != nil || v.Text == "" {
			t.Fatalf("value %+v has items or no text", v)
		}
	case ListValue:
		fuzzCheckAt(t, lines, v.Pos, v.Text)
		if len(v.Items) < 2 {
			t.Fatalf("list %v has %d items", v, len(v.Items))
		}
		for _, it := range v.Items {
			if it.Kind != NumberValue && it.Kind != IdentValue {
				t.Fatalf("list %v holds a %v", v, it.Kind)
			}
			fuzzCheckValue(t, lines, it)
		}
	default:
		t.Fatalf("value %+v has kind %v", v, v.Kind)
	}
}

// fuzzCheckReparse checks that the command's Line parses to the same command.
func fuzzCheckReparse(t *testing.T, c Command) {
	t.Helper()
	f, err := Parse("f.mmu", []byte(c.Line))
	if err != nil || len(f.Commands) != 1 {
		t.Fatalf("Line %q of %v does not parse alone: %v", c.Line, c.Pos, err)
	}
	d := f.Commands[0]
	if d.Name != c.Name || len(d.Args) != len(c.Args) || d.Line != c.Line {
		t.Fatalf("Line %q parses to %+v, want %+v", c.Line, d, c)
	}
	for i, a := range c.Args {
		b := d.Args[i]
		if a.Key != b.Key || a.Op != b.Op || a.Value.String() != b.Value.String() || a.Value.Num != b.Value.Num {
			t.Fatalf("argument %d of %q parses to %v, want %v", i, c.Line, b, a)
		}
	}
}
