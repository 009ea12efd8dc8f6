package scenarios

import (
	"strings"
)

// Variants: a scenario may declare named behaviours it can run under
// (`variants merged level-expanded`, or one `variant NAME "TEXT"` line
// each), the first being the default. BuildVariant picks one. The chosen
// variant reaches the commands in two ways, both resolved here before a
// command is matched against its spec, so builders see ordinary keys:
//
//   - a keyed argument whose param has follows set (shadow's variant=)
//     takes the variant's name when it is one of the param's words and the
//     command does not give the key itself;
//   - a `variant` line may set keys of other commands under that variant
//     (`variant fixed "…" shadow.root-level=5`): each is added to every
//     such command of the file that does not give the key itself.
//
// A later engine behaviour plugs in the same way: a key of its command
// (say `roots free-obsolete=loop-bug|fixed`) marked follows, or set by the
// variant lines.

// Variant is a named behaviour a scenario declares: its name and a one-line
// description ("" when the file gives none).
type Variant struct {
	Name string `json:"name"`
	Text string `json:"text"`
}

// maxVariants bounds the variants of one file.
const maxVariants = 16

// variantState is the builder's record of the declared variants.
type variantState struct {
	list       []Variant
	at         []Pos       // where each name was declared
	settings   [][]setting // keys each variant sets on other commands
	first      Pos         // the first `variants` or `variant` line
	closed     bool        // a command other than title came: no more declarations
	closedBy   Pos         // that command
	closedName string      // and its name
	chosen     int         // index in list, -1 for none
}

// setting is a key a variant line sets on a command: arg.Key is the
// command's own key (variant for shadow.variant=…).
type setting struct {
	cmd string
	arg Arg
}

// isVariantDecl reports whether s declares variants.
func isVariantDecl(s *cmdSpec) bool { return s.name == "variants" || s.name == "variant" }

// variantsBefore keeps the declarations ahead of every command but title,
// and closes them (choosing the variant) at the first other command.
func (b *builder) variantsBefore(c Command, s *cmdSpec) error {
	v := &b.variants
	switch {
	case isVariantDecl(s) && v.closed:
		return Errorf(c.Pos, "%s: variants are declared before every command but title (line %d: %s)",
			c.Name, v.closedBy.Line, v.closedName)
	case isVariantDecl(s) || s.name == "title":
		return nil
	}
	if !v.closed {
		v.closedBy = c.Pos
		v.closedName = c.Name
	}
	return b.closeVariants()
}

// closeVariants ends the declarations and picks the variant asked for (the
// first declared when none is): an unknown one is an error at the first
// declaration, naming them all.
func (b *builder) closeVariants() error {
	v := &b.variants
	if v.closed {
		return nil
	}
	v.closed = true
	v.chosen = -1
	want := b.want
	if len(v.list) == 0 {
		if want != "" {
			return Errorf(Pos{File: b.file, Line: 1, Col: 1},
				"no variant %q: the scenario declares no variants", clipName(want))
		}
		return nil
	}
	if want == "" {
		v.chosen = 0
	}
	var names []string
	for i, x := range v.list {
		names = append(names, x.Name)
		if x.Name == want {
			v.chosen = i
		}
	}
	if v.chosen < 0 {
		return Errorf(v.first, "unknown variant %q; the variants are %s (the default is %s)%s",
			clipName(want), strings.Join(names, ", "), names[0], suggest(want, names))
	}
	b.sc.Variants = append([]Variant(nil), v.list...)
	b.sc.Variant = v.list[v.chosen].Name
	return nil
}

// clipName shortens a name for messages: it may come from a URL.
func clipName(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// applyVariant returns c with the keys the chosen variant gives it: the
// variant line's settings for this command, then the variant's name for
// keys that follow it. Keys c gives itself win. c's own slice is never
// changed (the File is shared between builds).
func (b *builder) applyVariant(c Command, s *cmdSpec) Command {
	v := &b.variants
	if !v.closed || v.chosen < 0 || v.chosen >= len(v.settings) || isVariantDecl(s) {
		return c
	}
	var extra []Arg
	has := func(key string) bool {
		if _, ok := c.Keyed(key); ok {
			return true
		}
		for _, a := range extra {
			if a.Key == key {
				return true
			}
		}
		return false
	}
	for _, st := range v.settings[v.chosen] {
		if st.cmd == c.Name && !has(st.arg.Key) {
			extra = append(extra, st.arg)
		}
	}
	name, at := v.list[v.chosen].Name, v.at[v.chosen]
	for _, p := range s.keys {
		if p.follows && contains(p.words, name) && !has(p.what) {
			extra = append(extra, Arg{Pos: at, Key: p.what, Op: "=", Value: Value{Pos: at, Kind: IdentValue, Text: name}})
		}
	}
	if len(extra) == 0 {
		return c
	}
	c.Args = append(append([]Arg(nil), c.Args...), extra...)
	return c
}

// variantsCmd declares variants by name: `variants merged level-expanded`.
func (b *builder) variantsCmd(c *call) error {
	for _, a := range c.args {
		items := []Value{a.Value}
		if a.Value.Kind == ListValue {
			items = a.Value.Items
		}
		for _, it := range items {
			if err := b.declare(c, it, "", nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// variantCmd declares one variant with its description and the keys it
// sets on other commands: `variant fixed "the upstream fix" shadow.root-level=5`.
func (b *builder) variantCmd(c *call) error {
	name, _ := c.arg(0)
	text := ""
	if t, ok := c.arg(1); ok {
		text = t.Value.Text
		if strings.ContainsAny(text, "\n\t") || len(text) > 200 {
			return Errorf(t.Value.Pos, "variant: the description is one line of at most 200 bytes")
		}
	}
	var sets []setting
	for _, a := range c.Args {
		if a.Key == "" {
			continue
		}
		st, err := parseSetting(a)
		if err != nil {
			return err
		}
		sets = append(sets, st)
	}
	return b.declare(c, name.Value, text, sets)
}

// declare adds one variant.
func (b *builder) declare(c *call, name Value, text string, sets []setting) error {
	v := &b.variants
	if !validVariantName(name.Text) {
		return Errorf(name.Pos, "%s: a variant name is letters, digits, '-', '_' and '.', at most 40 bytes, not %s",
			c.Name, name)
	}
	for i, x := range v.list {
		if x.Name == name.Text {
			return Errorf(name.Pos, "%s: variant %s declared twice (first on line %d)", c.Name, name, v.at[i].Line)
		}
	}
	if len(v.list) >= maxVariants {
		return Errorf(name.Pos, "%s: at most %d variants", c.Name, maxVariants)
	}
	if len(v.list) == 0 {
		v.first = c.Pos
	}
	v.list = append(v.list, Variant{Name: name.Text, Text: text})
	v.at = append(v.at, name.Pos)
	v.settings = append(v.settings, sets)
	return nil
}

// validVariantName accepts names safe in a URL and a file name.
func validVariantName(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isLetter(c) && !isDigit(c) && c != '-' && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

// parseSetting reads COMMAND.KEY=VALUE of a variant line and checks it
// against the command's spec, as if it were written on that command.
func parseSetting(a Arg) (setting, error) {
	for i := 0; i < len(a.Key); i++ {
		if a.Key[i] != '.' {
			continue
		}
		s := lookupSpec(a.Key[:i])
		if s == nil {
			continue
		}
		if isVariantDecl(s) {
			return setting{}, Errorf(a.Pos, "variant: a variant cannot set keys of %s", s.name)
		}
		key := Arg{Pos: a.Pos, Key: a.Key[i+1:], Op: a.Op, Value: a.Value}
		spec := s
		for _, sub := range s.subs {
			for _, p := range sub.keys {
				if p.what == key.Key {
					spec = sub
				}
			}
		}
		if err := checkKeyed(spec, key); err != nil {
			return setting{}, err
		}
		return setting{cmd: s.name, arg: key}, nil
	}
	cmd, _, _ := strings.Cut(a.Key, ".")
	hint := ""
	if strings.Contains(a.Key, ".") {
		hint = "; there is no command " + quote(cmd) + suggest(cmd, CommandNames())
	}
	return setting{}, Errorf(a.Pos, "variant: a setting is written COMMAND.KEY=VALUE, such as shadow.variant=merged, "+
		"not %s%s", a.Key+a.Op+a.Value.String(), hint)
}

func quote(s string) string { return `"` + s + `"` }
