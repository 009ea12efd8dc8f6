package lessons

import (
	"bytes"
	"strings"
	"unicode/utf8"

	"mmuviz/scenarios"
)

// frontKeys are the keys the front matter may hold, in the order of messages.
var frontKeys = []string{"title", "scenario", "variant", "summary", "seeds"}

// frontMatter reads the front matter into l and returns the offset of the
// body, the byte after the closing "---" line.
func (l *Lesson) frontMatter(p *positions, src []byte) (int, error) {
	off := 0
	if bytes.HasPrefix(src, []byte("\uFEFF")) {
		off = 3
	}
	line, next := lineAt(src, off)
	if strings.TrimRight(line, " \t") != "---" {
		return 0, scenarios.Errorf(p.at(off), "expected front matter: a lesson starts with a line \"---\", then lines "+
			"\"key: value\" (title, scenario, ...), then a line \"---\"; found %s", quoteLine(line))
	}
	seen := map[string]scenarios.Pos{} // where each key was given
	for off = next; off < len(src); off = next {
		line, next = lineAt(src, off)
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "---":
			return next, l.checkRequired(p, seen)
		case trimmed == "" || trimmed[0] == '#':
			continue
		}
		if err := l.frontLine(p, off, line, seen); err != nil {
			return 0, err
		}
	}
	return 0, scenarios.Errorf(p.at(0), "the front matter that starts here never ends: close it with a line \"---\"")
}

// frontLine reads one "key: value" line starting at byte off.
func (l *Lesson) frontLine(p *positions, off int, line string, seen map[string]scenarios.Pos) error {
	indent := len(line) - len(strings.TrimLeft(line, " \t"))
	colon := strings.IndexByte(line, ':')
	if colon < 0 {
		return scenarios.Errorf(p.at(off+indent), "expected \"key: value\" in the front matter, found %s",
			quoteLine(line))
	}
	key := strings.TrimSpace(line[:colon])
	at := p.at(off + indent)
	if first, ok := seen[key]; ok {
		return scenarios.Errorf(at, "front matter key %q given twice (first on line %d)", key, first.Line)
	}
	seen[key] = at
	voff := colon + 1 + len(line[colon+1:]) - len(strings.TrimLeft(line[colon+1:], " \t"))
	value, err := unquote(p, off+voff, strings.TrimRight(line[voff:], " \t"))
	if err != nil {
		return err
	}
	switch key {
	case "title":
		l.Title = value
	case "scenario":
		l.Scenario = value
	case "variant":
		l.Variant = value
	case "summary":
		l.Summary = value
	case "seeds":
		return l.seeds(p.at(off+voff), value)
	default:
		return scenarios.Errorf(at, "unknown front matter key %q (the keys are %s)", key,
			strings.Join(frontKeys, ", "))
	}
	return nil
}

// seeds reads the comma-separated list of the "seeds" key.
func (l *Lesson) seeds(at scenarios.Pos, value string) error {
	if value == "" {
		return nil
	}
	for _, s := range strings.Split(value, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			return scenarios.Errorf(at, "empty item in the list of seeds %q", value)
		}
		l.Seeds = append(l.Seeds, s)
	}
	return nil
}

// checkRequired checks that the keys every lesson needs are set.
func (l *Lesson) checkRequired(p *positions, seen map[string]scenarios.Pos) error {
	for _, k := range []struct {
		key, value string
	}{{"title", l.Title}, {"scenario", l.Scenario}} {
		if k.value == "" {
			if at, ok := seen[k.key]; ok {
				return scenarios.Errorf(at, "front matter key %q is empty", k.key)
			}
			return scenarios.Errorf(p.at(0), "the front matter has no %q; add a line \"%s: ...\"", k.key, k.key)
		}
	}
	return nil
}

// unquote returns a value, without its quotes if it is quoted. Inside quotes,
// \" stands for a quote and \\ for a backslash.
func unquote(p *positions, off int, v string) (string, error) {
	if !strings.HasPrefix(v, `"`) {
		return v, nil
	}
	var b strings.Builder
	for i := 1; i < len(v); i++ {
		switch c := v[i]; {
		case c == '"':
			if i != len(v)-1 {
				return "", scenarios.Errorf(p.at(off+i+1), "unexpected text after the closing quote: %q", v[i+1:])
			}
			return b.String(), nil
		case c == '\\' && i+1 < len(v) && (v[i+1] == '"' || v[i+1] == '\\'):
			b.WriteByte(v[i+1])
			i++
		default:
			b.WriteByte(c)
		}
	}
	return "", scenarios.Errorf(p.at(off), "unterminated quoted value: add a closing \"")
}

// lineAt returns the line starting at byte off, without its line ending, and
// the offset of the next line.
func lineAt(src []byte, off int) (string, int) {
	end := bytes.IndexByte(src[off:], '\n')
	if end < 0 {
		return strings.TrimSuffix(string(src[off:]), "\r"), len(src)
	}
	return strings.TrimSuffix(string(src[off:off+end]), "\r"), off + end + 1
}

// quoteLine describes a line for messages.
func quoteLine(line string) string {
	if strings.TrimSpace(line) == "" {
		return "an empty line"
	}
	if len(line) > 60 {
		n := 60
		for n > 0 && !utf8.RuneStart(line[n]) {
			n--
		}
		line = line[:n] + "..."
	}
	return `"` + line + `"`
}
