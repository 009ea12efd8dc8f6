package scenarios

import (
	"sort"
	"strings"
)

// phase says where in a file a command may appear: before the line
// `script` (setup, untraced) or after it (script, traced).
type phase uint8

const (
	setupPhase phase = 1 << iota
	scriptPhase
)

// kinds is a set of value kinds an argument accepts.
type kinds uint8

const (
	kNum kinds = 1 << iota
	kIdent
	kString
	kList
	// kNames is one name or a comma-separated list of names (flags).
	kNames = kIdent | kList
	// kNumOrNames is a register value: a number or named bits.
	kNumOrNames = kNum | kIdent | kList
)

// has reports whether k accepts values of kind v.
func (k kinds) has(v ValueKind) bool {
	switch v {
	case NumberValue:
		return k&kNum != 0
	case IdentValue:
		return k&kIdent != 0
	case StringValue:
		return k&kString != 0
	case ListValue:
		return k&kList != 0
	}
	return false
}

// String names the kinds for "expected ..." messages.
func (k kinds) String() string {
	var out []string
	if k&kNum != 0 {
		out = append(out, "a number")
	}
	if k&kList != 0 {
		out = append(out, "a list of names")
	} else if k&kIdent != 0 {
		out = append(out, "a name")
	}
	if k&kString != 0 {
		out = append(out, "a quoted string")
	}
	return strings.Join(out, " or ")
}

// param describes one argument of a command: a positional one (what names
// it in messages, e.g. "GVA") or a keyed one (what is the key).
type param struct {
	what     string
	kinds    kinds
	ops      string   // operators a keyed argument accepts ("=" when empty)
	required bool     // for positionals, required ones come first
	words    []string // the names an identifier may be, if restricted
	// follows: when the command does not give this key and the scenario's
	// variant is one of words, the key takes the variant's name
	// (build_variant.go).
	follows bool
}

// cmdSpec is one command of the language: its name, where it may appear,
// its arguments and the function that gives it meaning. New commands (EPT,
// shadow paging, nested...) are new rows of the table.
type cmdSpec struct {
	name  string
	phase phase
	usage string
	pos   []param
	keys  []param
	// subs, if set, are variants chosen by the first positional word
	// (print entry, print gpa, print cr0...): each sub's pos[0].words.
	subs []*cmdSpec
	// more, if set, describes any number of positional arguments after
	// pos (variants NAME NAME...).
	more *param
	// openKeys: the builder checks the keys itself (variant's
	// COMMAND.KEY=VALUE settings).
	openKeys bool
	build    func(b *builder, c *call) error
}

// call is a command matched against its spec: positional arguments in
// order, keyed ones by key, and the position just past the line's end.
type call struct {
	Command
	spec *cmdSpec
	args []Arg
	end  Pos
}

// arg returns positional argument i.
func (c *call) arg(i int) (Arg, bool) {
	if i < len(c.args) {
		return c.args[i], true
	}
	return Arg{}, false
}

// key returns the keyed argument k.
func (c *call) key(k string) (Arg, bool) { return c.Keyed(k) }

// vcpuKey is the vcpu=N argument many commands take.
var vcpuKey = param{what: "vcpu", kinds: kNum}

// regKeys are the registers regs and set accept, each with = += -=.
var regKeys = []param{
	{what: "cr0", kinds: kNumOrNames, ops: "= += -="},
	{what: "cr3", kinds: kNum, ops: "= += -="},
	{what: "cr4", kinds: kNumOrNames, ops: "= += -="},
	{what: "efer", kinds: kNumOrNames, ops: "= += -="},
	{what: "pkru", kinds: kNum, ops: "= += -="},
	{what: "rflags", kinds: kNumOrNames, ops: "= += -="},
}

var accessWords = []string{"user", "supervisor", "implicit"}

// onOffWords are the values of an on/off switch.
var onOffWords = []string{"on", "off"}

// regWords are the registers print accepts.
var regWords = []string{"cr0", "cr3", "cr4", "efer", "pkru", "rflags"}

// specs is the table of commands. It is filled in init because builders
// refer back to it (for suggestions).
var specs []*cmdSpec

func init() {
	specs = []*cmdSpec{
		{name: "title", phase: setupPhase, usage: `title "TEXT"`,
			pos: []param{{what: "title", kinds: kString, required: true}}, build: (*builder).title},
		{name: "variants", phase: setupPhase, usage: "variants NAME NAME...",
			pos:   []param{{what: "variant name", kinds: kNames, required: true}},
			more:  &param{what: "variant name", kinds: kNames},
			build: (*builder).variantsCmd},
		{name: "variant", phase: setupPhase, usage: `variant NAME ["TEXT"] [COMMAND.KEY=VALUE ...]`,
			pos:      []param{{what: "variant name", kinds: kIdent, required: true}, {what: "description", kinds: kString}},
			openKeys: true, build: (*builder).variantCmd},
		{name: "machine", phase: setupPhase,
			usage: "machine [maxphyaddr=BITS] [host-memory=SIZE] [features=LIST | features+=LIST | features-=LIST]",
			keys: []param{{what: "maxphyaddr", kinds: kNum}, {what: "host-memory", kinds: kNum},
				{what: "features", kinds: kNames, ops: "= += -="}},
			build: (*builder).machineCmd},
		{name: "vcpus", phase: setupPhase, usage: "vcpus N",
			pos: []param{{what: "number of vCPUs", kinds: kNum, required: true}}, build: (*builder).vcpus},
		{name: "memslot", phase: setupPhase, usage: "memslot ID gpa=ADDR size=SIZE hpa=ADDR [host-page=4K|2M|1G]",
			pos: []param{{what: "memslot ID", kinds: kNum, required: true}},
			keys: []param{{what: "gpa", kinds: kNum, required: true}, {what: "size", kinds: kNum, required: true},
				{what: "hpa", kinds: kNum, required: true}, {what: "host-page", kinds: kNum}},
			build: (*builder).memslot},
		{name: "tdp", phase: setupPhase,
			usage: "tdp ept|npt [levels=4|5] [ad=on|off] [exec-only=on|off] [gva-fix=on|off]",
			pos:   []param{{what: "kind of TDP", kinds: kIdent, required: true, words: []string{"ept", "npt"}}},
			keys: []param{{what: "levels", kinds: kNum}, {what: "ad", kinds: kIdent, words: onOffWords},
				{what: "exec-only", kinds: kIdent, words: onOffWords}, {what: "gva-fix", kinds: kIdent, words: onOffWords}},
			build: (*builder).tdpCmd},
		{name: "prefault", phase: setupPhase | scriptPhase, usage: "prefault GPA [size=SIZE] [vcpu=N]",
			pos:   []param{{what: "GPA", kinds: kNum, required: true}},
			keys:  []param{{what: "size", kinds: kNum}, vcpuKey},
			build: (*builder).prefault},
		{name: "tdp-entry", phase: setupPhase,
			usage: "tdp-entry GPA level=N (value=RAW | addr=HPA [flags=r,w,x,ipat,ps,a,d,ve | p,w,u,a,d,ps,nx] [memtype=N]) [vcpu=N]",
			pos:   []param{{what: "GPA", kinds: kNum, required: true}},
			keys: []param{{what: "level", kinds: kNum, required: true}, {what: "value", kinds: kNum}, {what: "addr", kinds: kNum},
				{what: "flags", kinds: kNames}, {what: "memtype", kinds: kNum}, vcpuKey},
			build: (*builder).tdpEntry},
		{name: "shadow", phase: setupPhase,
			usage: "shadow [variant=merged|level-expanded] [root-level=4|5] [obsolete-roots=fixed|posted|reload-all]",
			keys: []param{{what: "variant", kinds: kIdent, words: []string{"merged", "level-expanded"}, follows: true},
				{what: "root-level", kinds: kNum},
				{what: "obsolete-roots", kinds: kIdent, words: []string{"fixed", "posted", "reload-all"}, follows: true}},
			build: (*builder).shadowCmd},
		{name: "paging", phase: setupPhase,
			usage: "paging off|level2|pae|level4|level5 [vcpu=N] [pool=GPA] [pool-size=SIZE]",
			pos: []param{{what: "paging mode", kinds: kIdent, required: true,
				words: []string{"off", "level2", "pae", "level4", "level5"}}},
			keys:  []param{vcpuKey, {what: "pool", kinds: kNum}, {what: "pool-size", kinds: kNum}, spaceKey},
			build: (*builder).paging},
		{name: "regs", phase: setupPhase, usage: "regs [vcpu=N] REG=VALUE|REG+=BITS|REG-=BITS ...",
			keys: append([]param{vcpuKey, spaceKey}, regKeys...), build: (*builder).regsCmd},
		{name: "map", phase: setupPhase,
			usage: "map GVA GPA [size=4K|2M|4M|1G] [pages=N] [flags=w,u,nx,g,a,d,pwt,pcd,pat] [pkey=K] [vcpu=N]",
			pos:   []param{{what: "GVA", kinds: kNum, required: true}, {what: "GPA", kinds: kNum, required: true}},
			keys: []param{{what: "size", kinds: kNum}, {what: "pages", kinds: kNum}, {what: "flags", kinds: kNames},
				{what: "pkey", kinds: kNum}, vcpuKey, spaceKey},
			build: (*builder).mapCmd},
		{name: "entry", phase: setupPhase | scriptPhase,
			usage: "entry GVA level=N (value=RAW | addr=GPA [flags=p,w,u,a,d,ps,nx,g,pwt,pcd,pat] [pkey=K]) [vcpu=N]",
			pos:   []param{{what: "GVA", kinds: kNum, required: true}},
			keys: []param{{what: "level", kinds: kNum, required: true}, {what: "value", kinds: kNum}, {what: "addr", kinds: kNum},
				{what: "flags", kinds: kNames}, {what: "pkey", kinds: kNum}, vcpuKey, spaceKey},
			build: (*builder).entry},
		{name: "script", phase: setupPhase, usage: "script", build: (*builder).scriptCmd},
		accessSpec("read", accessWords),
		writeSpec(),
		accessSpec("fetch", accessWords[:2]),
		{name: "invlpg", phase: scriptPhase, usage: "invlpg GVA [vcpu=N]",
			pos:  []param{{what: "GVA", kinds: kNum, required: true}},
			keys: []param{vcpuKey}, build: (*builder).invlpgCmd},
		{name: "check", phase: scriptPhase, usage: "check", build: (*builder).checkCmd},
		{name: "set", phase: scriptPhase, usage: "set [vcpu=N] REG=VALUE|REG+=BITS|REG-=BITS ...",
			keys: append([]param{vcpuKey}, regKeys...), build: (*builder).set},
		{name: "guest-write", phase: scriptPhase, usage: "guest-write GPA VALUE [size=1|2|4|8] [vcpu=N]",
			pos:   []param{{what: "GPA", kinds: kNum, required: true}, {what: "value", kinds: kNum, required: true}},
			keys:  []param{{what: "size", kinds: kNum}, vcpuKey},
			build: (*builder).guestWrite},
		{name: "memslot-remove", phase: scriptPhase, usage: "memslot-remove ID [zap=all|slot]",
			pos:   []param{{what: "memslot ID", kinds: kNum, required: true}},
			keys:  []param{{what: "zap", kinds: kIdent, words: []string{"all", "slot"}}},
			build: (*builder).memslotRemove},
		{name: "zap", phase: scriptPhase, usage: "zap gpa=ADDR [size=SIZE]",
			keys:  []param{{what: "gpa", kinds: kNum, required: true}, {what: "size", kinds: kNum}},
			build: (*builder).zapCmd},
		{name: "print", phase: scriptPhase,
			usage: "print entry GVA level=N | print gpa ADDR [size=N] | print spte GPA | print REG",
			subs: []*cmdSpec{
				{name: "print", usage: "print entry GVA level=N [vcpu=N]",
					pos: []param{{what: "what to print", kinds: kIdent, required: true, words: []string{"entry"}},
						{what: "GVA", kinds: kNum, required: true}},
					keys: []param{{what: "level", kinds: kNum, required: true}, vcpuKey}, build: (*builder).printEntry},
				{name: "print", usage: "print gpa ADDR [size=1|2|4|8]",
					pos: []param{{what: "what to print", kinds: kIdent, required: true, words: []string{"gpa"}},
						{what: "GPA", kinds: kNum, required: true}},
					keys: []param{{what: "size", kinds: kNum}}, build: (*builder).printGPA},
				{name: "print", usage: "print spte GPA [vcpu=N]",
					pos: []param{{what: "what to print", kinds: kIdent, required: true, words: []string{"spte"}},
						{what: "GPA", kinds: kNum, required: true}},
					keys: []param{vcpuKey}, build: (*builder).printSPTE},
				{name: "print", usage: "print cr0|cr3|cr4|efer|pkru|rflags [vcpu=N]",
					pos:  []param{{what: "what to print", kinds: kIdent, required: true, words: regWords}},
					keys: []param{vcpuKey}, build: (*builder).printReg},
			}},
	}
	specs = append(specs, kvmSpecs()...)
	specs = append(specs, nestedSpecs()...)
}

// accessSpec is the spec of read, write and fetch.
func accessSpec(name string, words []string) *cmdSpec {
	return &cmdSpec{name: name, phase: scriptPhase,
		usage: name + " GVA [" + strings.Join(words, "|") + "] [vcpu=N]",
		pos: []param{{what: "GVA", kinds: kNum, required: true},
			{what: "privilege", kinds: kIdent, words: words}},
		keys: []param{vcpuKey}, build: (*builder).access}
}

// writeSpec is the spec of write, which may store a value.
func writeSpec() *cmdSpec {
	s := accessSpec("write", accessWords)
	s.usage = "write GVA [user|supervisor|implicit] [value=V [size=1|2|4|8]] [vcpu=N]"
	s.keys = append(s.keys, param{what: "value", kinds: kNum}, param{what: "size", kinds: kNum})
	return s
}

// lookupSpec finds a command by name.
func lookupSpec(name string) *cmdSpec {
	for _, s := range specs {
		if s.name == name {
			return s
		}
	}
	return nil
}

// CommandNames lists the commands of the language, sorted.
func CommandNames() []string {
	var out []string
	for _, s := range specs {
		out = append(out, s.name)
	}
	sort.Strings(out)
	return out
}

// match checks a command against its spec: the arguments' number, keys,
// operators and kinds, duplicate keys and required arguments.
func match(c Command, s *cmdSpec) (*call, error) {
	cl := &call{Command: c, spec: s,
		end: Pos{c.Pos.File, c.Pos.Line, c.Pos.Col + len(c.Line)}}
	for _, a := range c.Args {
		if a.Key == "" {
			cl.args = append(cl.args, a)
		}
	}
	if s.subs != nil {
		return matchSub(cl, s)
	}
	if err := c.DuplicateKey(); err != nil {
		return nil, err
	}
	for _, a := range c.Args {
		if a.Key != "" && !s.openKeys {
			if err := checkKeyed(s, a); err != nil {
				return nil, err
			}
		}
	}
	for i, a := range cl.args {
		p := s.more
		if i < len(s.pos) {
			p = &s.pos[i]
		}
		if p == nil {
			return nil, Errorf(a.Pos, "%s: unexpected argument %s (usage: %s)", s.name, a.Value, s.usage)
		}
		if err := checkValue(s, *p, a); err != nil {
			return nil, err
		}
	}
	for i := len(cl.args); i < len(s.pos); i++ {
		if s.pos[i].required {
			return nil, Errorf(cl.end, "%s: missing the %s (usage: %s)", s.name, s.pos[i].what, s.usage)
		}
	}
	for _, p := range s.keys {
		if _, ok := c.Keyed(p.what); p.required && !ok {
			return nil, Errorf(cl.end, "%s: missing %s= (usage: %s)", s.name, p.what, s.usage)
		}
	}
	return cl, nil
}

// matchSub picks the variant of s named by the first positional word.
func matchSub(cl *call, s *cmdSpec) (*call, error) {
	var all []string
	for _, sub := range s.subs {
		all = append(all, sub.pos[0].words...)
	}
	a, ok := cl.arg(0)
	if !ok {
		return nil, Errorf(cl.end, "%s: missing what to print, one of %s (usage: %s)",
			s.name, strings.Join(all, ", "), s.usage)
	}
	if a.Value.Kind == IdentValue {
		for _, sub := range s.subs {
			if contains(sub.pos[0].words, a.Value.Text) {
				return match(cl.Command, sub)
			}
		}
	}
	return nil, Errorf(a.Pos, "%s: expected one of %s, found %s%s", s.name, strings.Join(all, ", "),
		describe(a.Value), suggest(a.Value.Text, all))
}

// checkKeyed checks a keyed argument's key, operator and value.
func checkKeyed(s *cmdSpec, a Arg) error {
	for _, p := range s.keys {
		if p.what != a.Key {
			continue
		}
		ops := p.ops
		if ops == "" {
			ops = "="
		}
		if !contains(strings.Fields(ops), a.Op) {
			return Errorf(a.Pos, "%s: %s takes %s, not %s (usage: %s)", s.name, a.Key,
				strings.Join(prefixEach(a.Key, strings.Fields(ops)), " or "), a.Key+a.Op, s.usage)
		}
		return checkValue(s, p, a)
	}
	var keys []string
	for _, p := range s.keys {
		keys = append(keys, p.what)
	}
	if len(keys) == 0 {
		return Errorf(a.Pos, "%s: takes no key=value arguments, found %s (usage: %s)", s.name, a.Key+a.Op, s.usage)
	}
	return Errorf(a.Pos, "%s: unknown key %q%s (usage: %s)", s.name, a.Key, suggest(a.Key, keys), s.usage)
}

// checkValue checks that a's value has a kind p accepts, and one of p's
// words if it names one.
func checkValue(s *cmdSpec, p param, a Arg) error {
	v := a.Value
	name := p.what
	if a.Key != "" {
		name = a.Key + a.Op
	}
	if !p.kinds.has(v.Kind) {
		return Errorf(v.Pos, "%s: expected %s for %s, found %s", s.name, p.kinds, name, describe(v))
	}
	if p.words != nil && !contains(p.words, v.Text) {
		return Errorf(v.Pos, "%s: expected the %s (%s), found %s%s", s.name, p.what,
			strings.Join(p.words, ", "), describe(v), suggest(v.Text, p.words))
	}
	if v.Kind == ListValue && p.kinds&kNum == 0 {
		for _, it := range v.Items {
			if it.Kind != IdentValue {
				return Errorf(it.Pos, "%s: expected a name in the list for %s, found %s", s.name, name, describe(it))
			}
		}
	}
	return nil
}

// describe names a value for "found ..." messages: `number 42`.
func describe(v Value) string { return v.Kind.String() + " " + v.String() }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func prefixEach(p string, list []string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = p + s
	}
	return out
}

// suggest returns `; did you mean "x"?` for the closest of names to s, or
// "" when none is close.
func suggest(s string, names []string) string {
	best, bestD := "", 3
	s = strings.ToLower(s)
	for _, n := range names {
		d := editDistance(s, n)
		if len(s) >= 3 && strings.HasPrefix(n, s) {
			d = 1 // an abbreviation
		}
		if d < bestD && d < len(n) {
			best, bestD = n, d
		}
	}
	if best == "" {
		return ""
	}
	return "; did you mean \"" + best + "\"?"
}

// editDistance is the Levenshtein distance between a and b, capped for
// long inputs so that a hostile line costs little.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
