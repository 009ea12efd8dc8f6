// Package scenarios reads the scenario language: text files (extension .mmu)
// in which a lecturer declares a machine and scripts actions on it.
//
// This file is the syntax layer. It turns text into a tree of commands,
// arguments and values, each with its position, and knows no command names;
// the builder gives the commands their meaning. The language is described for
// lecturers in LANGUAGE.md.
package scenarios

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits on the input accepted by Parse.
const (
	MaxFileSize = 1 << 20 // bytes in a file
	MaxLineSize = 4096    // bytes in a line, without its line ending
	MaxErrors   = 10      // errors reported by one Parse before it stops
)

// Pos is a position in a scenario file. Line and Col count from 1; Col counts
// bytes from the start of the line.
type Pos struct {
	File      string
	Line, Col int
}

// String formats the position as "file:line:col" ("line:col" without a file
// name, "-" for the zero position).
func (p Pos) String() string {
	s := p.File
	if p.Line > 0 {
		if s != "" {
			s += ":"
		}
		s += strconv.Itoa(p.Line) + ":" + strconv.Itoa(p.Col)
	}
	if s == "" {
		s = "-"
	}
	return s
}

// Error is an error at a position in a scenario file.
type Error struct {
	Pos Pos
	Msg string
}

// Error formats the error as "file:line:col: message".
func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

// Errorf returns an *Error at pos with a message formatted as by fmt.Sprintf.
func Errorf(pos Pos, format string, args ...any) *Error {
	return &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

// ErrorList is what Parse returns when it finds more than one error: the
// errors in the order of the file, at most MaxErrors of them (and then one
// more saying "too many errors"). errors.As finds the first *Error in it.
type ErrorList []*Error

// Error joins the messages of the errors, one per line.
func (l ErrorList) Error() string {
	s := make([]string, len(l))
	for i, e := range l {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Unwrap returns the errors, so that errors.Is and errors.As look into them.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

// ValueKind says which form a Value has.
type ValueKind int

// The forms of a value.
const (
	NumberValue ValueKind = iota // 42, 0x1000, 0b101, 4K, 2M
	IdentValue                   // pml4, rw, vcpu0, root:pml4/3
	StringValue                  // "a quoted string"
	ListValue                    // p,w,u or 1,2,3
)

// String names the kind for messages: "number", "identifier", "string" or
// "list".
func (k ValueKind) String() string {
	switch k {
	case NumberValue:
		return "number"
	case IdentValue:
		return "identifier"
	case StringValue:
		return "string"
	case ListValue:
		return "list"
	}
	return "ValueKind(" + strconv.Itoa(int(k)) + ")"
}

// Value is an argument's value. Num is set for numbers. Text is the text of an
// identifier, the unescaped text of a string, and the source text of a number
// or a list. Items holds the items of a list (numbers and identifiers).
type Value struct {
	Pos   Pos
	Kind  ValueKind
	Num   uint64
	Text  string
	Items []Value
}

// String returns the value as it would be written in a scenario file, for
// messages: strings are quoted, numbers and lists appear as in the source.
func (v Value) String() string {
	if v.Kind == StringValue {
		r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\t", `\t`)
		return `"` + r.Replace(v.Text) + `"`
	}
	return v.Text
}

// Arg is one argument of a command: positional (Key and Op empty) or keyed
// with Op "=", "+=" or "-=". Pos is where the argument starts.
type Arg struct {
	Pos   Pos
	Key   string
	Op    string
	Value Value
}

// String returns the argument as it would be written, such as size=2M.
func (a Arg) String() string { return a.Key + a.Op + a.Value.String() }

// Command is one line of a scenario: a command word and its arguments. Line
// is the source line without its comment, trimmed.
type Command struct {
	Pos  Pos
	Name string
	Args []Arg
	Line string
}

// Positional returns the positional arguments in order.
func (c Command) Positional() []Arg {
	var out []Arg
	for _, a := range c.Args {
		if a.Key == "" {
			out = append(out, a)
		}
	}
	return out
}

// Keyed returns the first argument with the given key, whatever its operator.
func (c Command) Keyed(key string) (Arg, bool) {
	for _, a := range c.Args {
		if a.Key != "" && a.Key == key {
			return a, true
		}
	}
	return Arg{}, false
}

// DuplicateKey reports a key given more than once in the command (with any
// operators) as an error at its second occurrence; it returns nil if every key
// is given once. The error's dynamic type is *Error.
func (c Command) DuplicateKey() error {
	for i, a := range c.Args {
		for _, b := range c.Args[:i] {
			if a.Key != "" && a.Key == b.Key {
				return Errorf(a.Pos, "%s: key %q given twice (first at column %d)",
					c.Name, a.Key, b.Pos.Col)
			}
		}
	}
	return nil
}

// File is a parsed scenario file.
type File struct {
	Name     string
	Commands []Command
}

// Parse reads a scenario file. name is used in positions. On failure it
// returns a nil *File and an error: an *Error, or an ErrorList when there are
// several (each line is parsed even when an earlier one fails). A UTF-8 byte
// order mark at the start is skipped and not counted in columns.
func Parse(name string, src []byte) (*File, error) {
	if len(src) > MaxFileSize {
		return nil, Errorf(Pos{name, 1, 1}, "file is %d bytes, larger than the limit of 1 MiB (%d bytes)",
			len(src), MaxFileSize)
	}
	src = bytes.TrimPrefix(src, []byte("\uFEFF"))
	f := &File{Name: name}
	var errs ErrorList
	for n := 1; len(src) > 0; n++ {
		line := src
		if i := bytes.IndexByte(src, '\n'); i >= 0 {
			line, src = src[:i], src[i+1:]
		} else {
			src = nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		l := &lexer{file: name, line: n, src: line}
		cmd, err := l.command()
		if err != nil {
			if len(errs) == MaxErrors {
				errs = append(errs, Errorf(err.Pos, "too many errors"))
				break
			}
			errs = append(errs, err)
		} else if cmd != nil {
			f.Commands = append(f.Commands, *cmd)
		}
	}
	switch len(errs) {
	case 0:
		return f, nil
	case 1:
		return nil, errs[0]
	}
	return nil, errs
}

// lexer reads one line.
type lexer struct {
	file string
	line int
	src  []byte // the line, without its line ending
	i    int    // the next byte to read
}

func (l *lexer) pos(i int) Pos { return Pos{l.file, l.line, i + 1} }

func (l *lexer) errorf(i int, format string, args ...any) *Error {
	return Errorf(l.pos(i), format, args...)
}

// check rejects lines that are too long, contain NUL bytes or are not UTF-8.
func (l *lexer) check() *Error {
	if len(l.src) > MaxLineSize {
		return l.errorf(MaxLineSize, "line is %d bytes long, longer than the limit of %d bytes",
			len(l.src), MaxLineSize)
	}
	for i := 0; i < len(l.src); {
		r, n := utf8.DecodeRune(l.src[i:])
		switch {
		case r == 0:
			return l.errorf(i, "unexpected NUL byte")
		case r == utf8.RuneError && n == 1:
			return l.errorf(i, "invalid UTF-8 (byte 0x%02x)", l.src[i])
		}
		i += n
	}
	return nil
}

// command reads the line as a command; it returns nil for a blank or
// comment-only line.
func (l *lexer) command() (*Command, *Error) {
	if err := l.check(); err != nil {
		return nil, err
	}
	l.skipSpace()
	if l.atEnd() {
		return nil, nil
	}
	start := l.i
	if !isLetter(l.peek()) {
		return nil, l.errorf(l.i, "expected a command word, found %s", l.found(l.i))
	}
	for l.i < len(l.src) && isWordByte(l.src[l.i]) {
		l.i++
	}
	cmd := &Command{Pos: l.pos(start), Name: string(l.src[start:l.i])}
	if !l.atSep() {
		return nil, l.errorf(l.i, "expected a space after command word %q, found %s", cmd.Name, l.found(l.i))
	}
	end := l.i
	for l.skipSpace(); !l.atEnd(); l.skipSpace() {
		a, err := l.arg()
		if err != nil {
			return nil, err
		}
		cmd.Args = append(cmd.Args, a)
		end = l.i
	}
	cmd.Line = string(l.src[start:end])
	return cmd, nil
}

// arg reads one argument: VALUE, key=VALUE, key+=VALUE or key-=VALUE.
func (l *lexer) arg() (Arg, *Error) {
	start := l.i
	if isLetter(l.peek()) {
		j := start
		for j < len(l.src) && isWordByte(l.src[j]) {
			j++
		}
		key, op := string(l.src[start:j]), ""
		switch {
		case j < len(l.src) && l.src[j] == '=':
			op = "="
			if strings.HasSuffix(key, "-") {
				key, op = key[:len(key)-1], "-="
			}
		case j+1 < len(l.src) && l.src[j] == '+' && l.src[j+1] == '=':
			op = "+="
		}
		if op != "" {
			l.i = start + len(key) + len(op)
			if l.atSep() {
				return Arg{}, l.errorf(l.i, "expected a value after %q, found %s", key+op, l.found(l.i))
			}
			v, err := l.value()
			return Arg{Pos: l.pos(start), Key: key, Op: op, Value: v}, err
		}
	}
	v, err := l.value()
	return Arg{Pos: l.pos(start), Value: v}, err
}

// value reads a VALUE and checks that a separator follows it.
func (l *lexer) value() (Value, *Error) {
	start := l.i
	var v Value
	var err *Error
	if l.peek() == '"' {
		v, err = l.str()
	} else {
		v, err = l.item()
		if err == nil && l.peek() == ',' {
			v, err = l.list(v)
		}
	}
	if err != nil {
		return Value{}, err
	}
	if !l.atSep() {
		what := string(l.src[start:l.i])
		if v.Kind == StringValue {
			what = "the string"
		} else {
			what = strconv.Quote(what)
		}
		if c := l.peek(); c >= utf8.RuneSelf {
			return Value{}, l.errorf(l.i, "unexpected %s after %s: names use ASCII letters only; quote other text",
				l.found(l.i), what)
		}
		return Value{}, l.errorf(l.i, "expected a space or end of line after %s, found %s", what, l.found(l.i))
	}
	return v, nil
}

// item reads a number or an identifier.
func (l *lexer) item() (Value, *Error) {
	start := l.i
	for l.i < len(l.src) && isValueByte(l.src[l.i]) {
		l.i++
	}
	tok := string(l.src[start:l.i])
	v := Value{Pos: l.pos(start), Text: tok}
	switch {
	case tok != "" && isDigit(tok[0]):
		v.Kind = NumberValue
		n, msg := parseNumber(tok)
		if msg != "" {
			return Value{}, l.errorf(start, "%s", msg)
		}
		v.Num = n
	case tok != "" && isLetter(tok[0]):
		v.Kind = IdentValue
	case len(tok) > 1 && tok[0] == '-' && isDigit(tok[1]):
		return Value{}, l.errorf(start, "expected a value, found %q: numbers cannot be negative", tok)
	default:
		return Value{}, l.errorf(start, "expected a value, found %s", l.found(start))
	}
	return v, nil
}

// list reads the rest of a comma-separated list whose first item is first.
func (l *lexer) list(first Value) (Value, *Error) {
	v := Value{Pos: first.Pos, Kind: ListValue, Items: []Value{first}}
	start := first.Pos.Col - 1
	for l.peek() == ',' {
		l.i++
		if l.atSep() || l.peek() == ',' || l.peek() == '"' {
			return Value{}, l.errorf(l.i, "expected a list item after \",\", found %s", l.found(l.i))
		}
		it, err := l.item()
		if err != nil {
			return Value{}, err
		}
		v.Items = append(v.Items, it)
	}
	v.Text = string(l.src[start:l.i])
	return v, nil
}

// str reads a quoted string.
func (l *lexer) str() (Value, *Error) {
	start := l.i
	var b strings.Builder
	for l.i++; l.i < len(l.src); l.i++ {
		c := l.src[l.i]
		switch c {
		case '"':
			l.i++
			return Value{Pos: l.pos(start), Kind: StringValue, Text: b.String()}, nil
		case '\\':
			if l.i+1 == len(l.src) {
				continue // a backslash at the end of the line: unterminated
			}
			r, ok := unescape(l.src[l.i+1])
			if !ok {
				return Value{}, l.errorf(l.i, "unknown escape \\%s in string (use \\\", \\\\, \\n or \\t)",
					l.foundRune(l.i+1))
			}
			b.WriteByte(r)
			l.i++
		default:
			b.WriteByte(c)
		}
	}
	return Value{}, l.errorf(start, "unterminated string")
}

// unescape returns the byte that the escape \c stands for in a string.
func unescape(c byte) (byte, bool) {
	switch c {
	case '"', '\\':
		return c, true
	case 'n':
		return '\n', true
	case 't':
		return '\t', true
	}
	return 0, false
}

// parseNumber converts the text of a number; on failure it returns a message.
func parseNumber(tok string) (uint64, string) {
	base, digits := uint64(10), tok
	if len(tok) > 1 && tok[0] == '0' {
		switch tok[1] {
		case 'x', 'X':
			base, digits = 16, tok[2:]
		case 'b', 'B':
			base, digits = 2, tok[2:]
		}
	}
	end := 0
	for end < len(digits) && (digits[end] == '_' || digitValue(digits[end]) < base) {
		end++
	}
	body, suffix := digits[:end], digits[end:]
	if body == "" {
		return 0, fmt.Sprintf("bad number %q: no digits after %q", tok, tok[:2])
	}
	if body[0] == '_' || body[len(body)-1] == '_' || strings.Contains(body, "__") {
		return 0, fmt.Sprintf("bad number %q: \"_\" may only separate digits", tok)
	}
	var n uint64
	for i := 0; i < len(body); i++ {
		if body[i] == '_' {
			continue
		}
		d := digitValue(body[i])
		if n > (^uint64(0)-d)/base {
			return 0, fmt.Sprintf("number %s does not fit in 64 bits", tok)
		}
		n = n*base + d
	}
	if suffix == "" {
		return n, ""
	}
	shift := strings.Index("KMGT", suffix) + 1
	if len(suffix) != 1 || shift == 0 {
		if base == 2 && isDigit(suffix[0]) {
			return 0, fmt.Sprintf("bad number %q: %q is not a binary digit", tok, suffix[:1])
		}
		return 0, fmt.Sprintf("bad number suffix %q in %q (a size suffix is K, M, G or T)", suffix, tok)
	}
	if n > ^uint64(0)>>(10*shift) {
		return 0, fmt.Sprintf("number %s does not fit in 64 bits", tok)
	}
	return n << (10 * shift), ""
}

// digitValue returns the value of a hex digit, or 99 for another byte.
func digitValue(c byte) uint64 {
	switch {
	case '0' <= c && c <= '9':
		return uint64(c - '0')
	case 'a' <= c && c <= 'f':
		return uint64(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return uint64(c-'A') + 10
	}
	return 99
}

func (l *lexer) peek() byte {
	if l.i < len(l.src) {
		return l.src[l.i]
	}
	return 0
}

func (l *lexer) skipSpace() {
	for l.i < len(l.src) && (l.src[l.i] == ' ' || l.src[l.i] == '\t') {
		l.i++
	}
}

// atEnd reports whether the rest of the line is empty or a comment.
func (l *lexer) atEnd() bool { return l.i >= len(l.src) || l.src[l.i] == '#' }

// atSep reports whether the next byte may end a word or value.
func (l *lexer) atSep() bool { return l.atEnd() || l.src[l.i] == ' ' || l.src[l.i] == '\t' }

// found describes what is at byte i, for "expected ..., found ..." messages.
func (l *lexer) found(i int) string {
	if i >= len(l.src) {
		return "end of line"
	}
	switch l.src[i] {
	case ' ':
		return "a space"
	case '\t':
		return "a tab"
	case '#':
		return "a comment"
	case '"':
		return "a quoted string"
	}
	j := i
	for j < len(l.src) && isValueByte(l.src[j]) {
		j++
	}
	if j > i {
		return strconv.Quote(string(l.src[i:j]))
	}
	return strconv.Quote(l.foundRune(i))
}

// foundRune returns the character at byte i.
func (l *lexer) foundRune(i int) string {
	r, _ := utf8.DecodeRune(l.src[i:])
	return string(r)
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }

// isWordByte reports whether c may appear in a command word or a key.
func isWordByte(c byte) bool {
	return isLetter(c) || isDigit(c) || c == '-' || c == '_' || c == '.'
}

// isValueByte reports whether c may appear in a number or an identifier.
func isValueByte(c byte) bool { return isWordByte(c) || c == ':' || c == '/' }
