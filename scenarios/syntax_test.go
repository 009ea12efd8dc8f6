package scenarios

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// sNum, sIdent, sStr and sList build expected values at column col of line 1.
func sNum(col int, text string, n uint64) Value {
	return Value{Pos: Pos{"t.mmu", 1, col}, Kind: NumberValue, Num: n, Text: text}
}

func sIdent(col int, text string) Value {
	return Value{Pos: Pos{"t.mmu", 1, col}, Kind: IdentValue, Text: text}
}

func sStr(col int, text string) Value {
	return Value{Pos: Pos{"t.mmu", 1, col}, Kind: StringValue, Text: text}
}

func sList(col int, text string, items ...Value) Value {
	return Value{Pos: Pos{"t.mmu", 1, col}, Kind: ListValue, Text: text, Items: items}
}

func sPos(v Value) Arg { return Arg{Pos: v.Pos, Value: v} }

func sKV(col int, key, op string, v Value) Arg {
	return Arg{Pos: Pos{"t.mmu", 1, col}, Key: key, Op: op, Value: v}
}

func TestParseValues(t *testing.T) {
	tests := []struct {
		src  string
		args []Arg
	}{
		{"c 42", []Arg{sPos(sNum(3, "42", 42))}},
		{"c 0", []Arg{sPos(sNum(3, "0", 0))}},
		{"c 007", []Arg{sPos(sNum(3, "007", 7))}},
		{"c 1_000_000", []Arg{sPos(sNum(3, "1_000_000", 1000000))}},
		{"c 0x1000", []Arg{sPos(sNum(3, "0x1000", 0x1000))}},
		{"c 0XfF", []Arg{sPos(sNum(3, "0XfF", 0xff))}},
		{"c 0x1B", []Arg{sPos(sNum(3, "0x1B", 0x1b))}},
		{"c 0xffff_ffff_ffff_ffff", []Arg{sPos(sNum(3, "0xffff_ffff_ffff_ffff", 1<<64-1))}},
		{"c 18446744073709551615", []Arg{sPos(sNum(3, "18446744073709551615", 1<<64-1))}},
		{"c 0b1011", []Arg{sPos(sNum(3, "0b1011", 11))}},
		{"c 0b1K", []Arg{sPos(sNum(3, "0b1K", 1024))}},
		{"c 4K", []Arg{sPos(sNum(3, "4K", 4096))}},
		{"c 2M", []Arg{sPos(sNum(3, "2M", 2<<20))}},
		{"c 1G", []Arg{sPos(sNum(3, "1G", 1<<30))}},
		{"c 3T", []Arg{sPos(sNum(3, "3T", 3<<40))}},
		{"c 0x10M", []Arg{sPos(sNum(3, "0x10M", 16<<20))}},
		{"c 16_777_215T", []Arg{sPos(sNum(3, "16_777_215T", 16777215<<40))}},
		{"c x1000", []Arg{sPos(sIdent(3, "x1000"))}},
		{"c pml4", []Arg{sPos(sIdent(3, "pml4"))}},
		{"c root:pml4/3.a-b_c", []Arg{sPos(sIdent(3, "root:pml4/3.a-b_c"))}},
		{`c "hello world"`, []Arg{sPos(sStr(3, "hello world"))}},
		{`c ""`, []Arg{sPos(sStr(3, ""))}},
		{`c "a\"b\\c\nd\te"`, []Arg{sPos(sStr(3, "a\"b\\c\nd\te"))}},
		{`c "# not a comment"`, []Arg{sPos(sStr(3, "# not a comment"))}},
		{`c "héllo ✓"`, []Arg{sPos(sStr(3, "héllo ✓"))}},
		{"c p,w,u", []Arg{sPos(sList(3, "p,w,u", sIdent(3, "p"), sIdent(5, "w"), sIdent(7, "u")))}},
		{"c 1,0x2,3K", []Arg{sPos(sList(3, "1,0x2,3K", sNum(3, "1", 1), sNum(5, "0x2", 2), sNum(9, "3K", 3072)))}},
		{"c a,1", []Arg{sPos(sList(3, "a,1", sIdent(3, "a"), sNum(5, "1", 1)))}},
		{"c size=4K", []Arg{sKV(3, "size", "=", sNum(8, "4K", 4096))}},
		{"c flags+=w", []Arg{sKV(3, "flags", "+=", sIdent(10, "w"))}},
		{"c flags-=w,u", []Arg{sKV(3, "flags", "-=", sList(10, "w,u", sIdent(10, "w"), sIdent(12, "u")))}},
		{"c max-level=4", []Arg{sKV(3, "max-level", "=", sNum(13, "4", 4))}},
		{"c a.b_c-d+=1", []Arg{sKV(3, "a.b_c-d", "+=", sNum(12, "1", 1))}},
		{"c a--=1", []Arg{sKV(3, "a-", "-=", sNum(7, "1", 1))}},
		{`c name="x y"`, []Arg{sKV(3, "name", "=", sStr(8, "x y"))}},
		{"c k=v:w/x", []Arg{sKV(3, "k", "=", sIdent(5, "v:w/x"))}},
		{"c 1 two k=3 \"s\"", []Arg{sPos(sNum(3, "1", 1)), sPos(sIdent(5, "two")), sKV(9, "k", "=", sNum(11, "3", 3)),
			sPos(sStr(13, "s"))}},
		{"c\t1\t \tx # comment", []Arg{sPos(sNum(3, "1", 1)), sPos(sIdent(7, "x"))}},
		{"c 1#comment", []Arg{sPos(sNum(3, "1", 1))}},
		{"c k=1# comment", []Arg{sKV(3, "k", "=", sNum(5, "1", 1))}},
	}
	for _, tt := range tests {
		f, err := Parse("t.mmu", []byte(tt.src))
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.src, err)
			continue
		}
		if len(f.Commands) != 1 {
			t.Errorf("Parse(%q): %d commands, want 1", tt.src, len(f.Commands))
			continue
		}
		if got := f.Commands[0].Args; !reflect.DeepEqual(got, tt.args) {
			t.Errorf("Parse(%q):\n got %+v\nwant %+v", tt.src, got, tt.args)
		}
	}
}

func TestParseFile(t *testing.T) {
	src := "\uFEFF# a scenario\n\nmachine  mode=level4  # the machine\r\n\t  map 0x1000 size=4K\n#only a comment\n   \nrun.all\n"
	f, err := Parse("native.mmu", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := &File{Name: "native.mmu", Commands: []Command{
		{Pos: Pos{"native.mmu", 3, 1}, Name: "machine", Line: "machine  mode=level4", Args: []Arg{
			{Pos: Pos{"native.mmu", 3, 10}, Key: "mode", Op: "=",
				Value: Value{Pos: Pos{"native.mmu", 3, 15}, Kind: IdentValue, Text: "level4"}}}},
		{Pos: Pos{"native.mmu", 4, 4}, Name: "map", Line: "map 0x1000 size=4K", Args: []Arg{
			{Pos: Pos{"native.mmu", 4, 8}, Value: Value{Pos: Pos{"native.mmu", 4, 8}, Kind: NumberValue, Num: 0x1000,
				Text: "0x1000"}},
			{Pos: Pos{"native.mmu", 4, 15}, Key: "size", Op: "=",
				Value: Value{Pos: Pos{"native.mmu", 4, 20}, Kind: NumberValue, Num: 4096, Text: "4K"}}}},
		{Pos: Pos{"native.mmu", 7, 1}, Name: "run.all", Line: "run.all"},
	}}
	if !reflect.DeepEqual(f, want) {
		t.Errorf("got  %+v\nwant %+v", f, want)
	}
	for _, src := range []string{"", "\n\n", "# x\n", "\uFEFF", "  \t \r\n"} {
		f, err := Parse("e.mmu", []byte(src))
		if err != nil || len(f.Commands) != 0 || f.Name != "e.mmu" {
			t.Errorf("Parse(%q) = %+v, %v; want no commands", src, f, err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ src, want string }{
		{"= 3", `t.mmu:1:1: expected a command word, found "="`},
		{"  3x", `t.mmu:1:3: expected a command word, found "3x"`},
		{"_x", `t.mmu:1:1: expected a command word, found "_x"`},
		{"\"x\"", `t.mmu:1:1: expected a command word, found a quoted string`},
		{"walk,3", `t.mmu:1:5: expected a space after command word "walk", found ","`},
		{"map=3", `t.mmu:1:4: expected a space after command word "map", found "="`},
		{"sync!", `t.mmu:1:5: expected a space after command word "sync", found "!"`},
		{"c size=", `t.mmu:1:8: expected a value after "size=", found end of line`},
		{"c size= 3", `t.mmu:1:8: expected a value after "size=", found a space`},
		{"c size=#x", `t.mmu:1:8: expected a value after "size=", found a comment`},
		{"c a+=", `t.mmu:1:6: expected a value after "a+=", found end of line`},
		{"c a-=\t", `t.mmu:1:6: expected a value after "a-=", found a tab`},
		{"c a==b", `t.mmu:1:5: expected a value, found "="`},
		{"c =3", `t.mmu:1:3: expected a value, found "="`},
		{"c .5", `t.mmu:1:3: expected a value, found ".5"`},
		{"c -5", `t.mmu:1:3: expected a value, found "-5": numbers cannot be negative`},
		{"c a=b=c", `t.mmu:1:6: expected a space or end of line after "b", found "="`},
		{"c a:b=1", `t.mmu:1:6: expected a space or end of line after "a:b", found "="`},
		{"c 0x10=5", `t.mmu:1:7: expected a space or end of line after "0x10", found "="`},
		{"c a+b", `t.mmu:1:4: expected a space or end of line after "a", found "+"`},
		{`c "a"b`, `t.mmu:1:6: expected a space or end of line after the string, found "b"`},
		{`c "a","b"`, `t.mmu:1:6: expected a space or end of line after the string, found ","`},
		{"c café", `t.mmu:1:6: unexpected "é" after "caf": names use ASCII letters only; quote other text`},
		{"c x\r1", `t.mmu:1:4: expected a space or end of line after "x", found "\r"`},
		{`c "abc`, `t.mmu:1:3: unterminated string`},
		{`c k="abc\"`, `t.mmu:1:5: unterminated string`},
		{`c "ab\`, `t.mmu:1:3: unterminated string`},
		{`c "a\qb"`, `t.mmu:1:5: unknown escape \q in string (use \", \\, \n or \t)`},
		{`c "a\é"`, `t.mmu:1:5: unknown escape \é in string (use \", \\, \n or \t)`},
		{"c p,", `t.mmu:1:5: expected a list item after ",", found end of line`},
		{"c p, w", `t.mmu:1:5: expected a list item after ",", found a space`},
		{"c p,,w", `t.mmu:1:5: expected a list item after ",", found ","`},
		{`c p,"w"`, `t.mmu:1:5: expected a list item after ",", found a quoted string`},
		{"c p,=", `t.mmu:1:5: expected a value, found "="`},
		{"c 1,2x", `t.mmu:1:5: bad number suffix "x" in "2x" (a size suffix is K, M, G or T)`},
		{"c 4Kb", `t.mmu:1:3: bad number suffix "Kb" in "4Kb" (a size suffix is K, M, G or T)`},
		{"c 4k", `t.mmu:1:3: bad number suffix "k" in "4k" (a size suffix is K, M, G or T)`},
		{"c 1.5M", `t.mmu:1:3: bad number suffix ".5M" in "1.5M" (a size suffix is K, M, G or T)`},
		{"c 0x1g", `t.mmu:1:3: bad number suffix "g" in "0x1g" (a size suffix is K, M, G or T)`},
		{"c 0x", `t.mmu:1:3: bad number "0x": no digits after "0x"`},
		{"c 0bK", `t.mmu:1:3: bad number "0bK": no digits after "0b"`},
		{"c 0b102", `t.mmu:1:3: bad number "0b102": "2" is not a binary digit`},
		{"c 0x_10", `t.mmu:1:3: bad number "0x_10": "_" may only separate digits`},
		{"c 1__0", `t.mmu:1:3: bad number "1__0": "_" may only separate digits`},
		{"c 10_", `t.mmu:1:3: bad number "10_": "_" may only separate digits`},
		{"c 10_K", `t.mmu:1:3: bad number "10_K": "_" may only separate digits`},
		{"c 0x1_0000_0000_0000_0000", `t.mmu:1:3: number 0x1_0000_0000_0000_0000 does not fit in 64 bits`},
		{"c 18446744073709551616", `t.mmu:1:3: number 18446744073709551616 does not fit in 64 bits`},
		{"c 16777216T", `t.mmu:1:3: number 16777216T does not fit in 64 bits`},
		{"c 0xffff_ffff_ffff_ffffK", `t.mmu:1:3: number 0xffff_ffff_ffff_ffffK does not fit in 64 bits`},
		{"c a\x00", `t.mmu:1:4: unexpected NUL byte`},
		{"c \"\xff\"", `t.mmu:1:4: invalid UTF-8 (byte 0xff)`},
		{"# é\xe9", `t.mmu:1:5: invalid UTF-8 (byte 0xe9)`},
		{"c\n\nd 1\ne \"x", `t.mmu:4:3: unterminated string`},
		{"c\r\nd é", `t.mmu:2:3: expected a value, found "é"`},
		{"c " + strings.Repeat("x", MaxLineSize), `t.mmu:1:4097: line is 4098 bytes long, longer than the limit of 4096 bytes`},
		{strings.Repeat("#", MaxFileSize+1), `t.mmu:1:1: file is 1048577 bytes, larger than the limit of 1 MiB (1048576 bytes)`},
	}
	for _, tt := range tests {
		f, err := Parse("t.mmu", []byte(tt.src))
		if err == nil {
			t.Errorf("Parse(%q) = %+v, want error %s", tt.src, f, tt.want)
			continue
		}
		var e *Error
		if f != nil || !errors.As(err, &e) || err.Error() != tt.want {
			t.Errorf("Parse(%q):\n got %T %v\nwant %s", tt.src, err, err, tt.want)
		}
	}
}

func TestParseLineLimit(t *testing.T) {
	line := "c " + strings.Repeat("x", MaxLineSize-2) + "\r\n"
	if _, err := Parse("t.mmu", []byte(line)); err != nil {
		t.Errorf("a line of exactly %d bytes: %v", MaxLineSize, err)
	}
}

func TestErrorList(t *testing.T) {
	_, err := Parse("t.mmu", []byte("c 1\n= 2\nd 3\ne 4x\n"))
	var l ErrorList
	if !errors.As(err, &l) || len(l) != 2 {
		t.Fatalf("got %T %v, want an ErrorList of 2", err, err)
	}
	want := "t.mmu:2:1: expected a command word, found \"=\"\n" +
		"t.mmu:4:3: bad number suffix \"x\" in \"4x\" (a size suffix is K, M, G or T)"
	if err.Error() != want {
		t.Errorf("got\n%s\nwant\n%s", err, want)
	}
	var e *Error
	if !errors.As(err, &e) || e.Pos.Line != 2 {
		t.Errorf("errors.As *Error gave %v, want the first error", e)
	}

	_, err = Parse("t.mmu", []byte(strings.Repeat("=\n", 20)))
	if !errors.As(err, &l) || len(l) != MaxErrors+1 || l[MaxErrors].Error() != "t.mmu:11:1: too many errors" {
		t.Errorf("got %d errors, last %v; want %d and too many errors", len(l), l[len(l)-1], MaxErrors+1)
	}
}

func TestPosString(t *testing.T) {
	for _, tt := range []struct {
		p    Pos
		want string
	}{
		{Pos{"a.mmu", 3, 7}, "a.mmu:3:7"},
		{Pos{"", 3, 7}, "3:7"},
		{Pos{"a.mmu", 0, 0}, "a.mmu"},
		{Pos{}, "-"},
	} {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.p, got, tt.want)
		}
	}
	if got := Errorf(Pos{"a.mmu", 1, 2}, "bad %s", "thing").Error(); got != "a.mmu:1:2: bad thing" {
		t.Errorf("Errorf: %q", got)
	}
}

func TestHelpers(t *testing.T) {
	f, err := Parse("h.mmu", []byte(`map 0x1000 size=2M 7 perm=p,w name="a \"b\"" perm+=u`))
	if err != nil {
		t.Fatal(err)
	}
	c := f.Commands[0]
	var got []string
	for _, a := range c.Positional() {
		got = append(got, a.String())
	}
	if strings.Join(got, " ") != "0x1000 7" {
		t.Errorf("Positional: %v", got)
	}
	if a, ok := c.Keyed("perm"); !ok || a.String() != "perm=p,w" || a.Value.Kind.String() != "list" {
		t.Errorf("Keyed(perm) = %v, %v", a, ok)
	}
	if a, ok := c.Keyed("name"); !ok || a.Value.String() != `"a \"b\""` || a.Value.Text != `a "b"` {
		t.Errorf("Keyed(name) = %v, %v", a, ok)
	}
	if _, ok := c.Keyed(""); ok {
		t.Error("Keyed(\"\") found a positional argument")
	}
	if _, ok := c.Keyed("nope"); ok {
		t.Error("Keyed(nope) found something")
	}
	err = c.DuplicateKey()
	if err == nil || err.Error() != `h.mmu:1:46: map: key "perm" given twice (first at column 22)` {
		t.Errorf("DuplicateKey: %v", err)
	}
	f, _ = Parse("h.mmu", []byte("map 1 2 a=1 b=2"))
	if err := f.Commands[0].DuplicateKey(); err != nil {
		t.Errorf("DuplicateKey without duplicates: %v", err)
	}
	for k, want := range map[ValueKind]string{NumberValue: "number", IdentValue: "identifier",
		StringValue: "string", ListValue: "list", 9: "ValueKind(9)"} {
		if k.String() != want {
			t.Errorf("%d.String() = %q, want %q", k, k.String(), want)
		}
	}
	if s := (Value{Kind: StringValue, Text: "a\\b\n\t"}).String(); s != `"a\\b\n\t"` {
		t.Errorf("string Value.String() = %s", s)
	}
}
