package scenarios

import (
	"errors"
	"path"
	"strings"

	"mmuviz/mmu"
)

// Scenario is a built scenario: the machine in its initial state and the
// script of actions to run on it.
type Scenario struct {
	Name    string // the file's base name without .mmu
	Title   string
	Machine *mmu.Machine // the initial state; runs work on clones
	Script  []mmu.Action
	File    *File
	// Variants are the named behaviours the file declares (`variants`,
	// `variant`), the default first; none for most scenarios. Variant is
	// the one this scenario was built with ("" when there are none).
	Variants []Variant
	Variant  string
	// At holds, for each action of Script, where an engine error that the
	// action causes is reported: the argument it is most likely about.
	At []Pos
}

// Load parses and builds a scenario file, under its default variant.
func Load(name string, src []byte) (*Scenario, error) {
	return LoadVariant(name, src, "")
}

// LoadVariant parses and builds a scenario file under the named variant
// ("" is the file's default).
func LoadVariant(name string, src []byte, variant string) (*Scenario, error) {
	f, err := Parse(name, src)
	if err != nil {
		return nil, err
	}
	return BuildVariant(f, variant)
}

// Build turns a parsed file into a scenario under its default variant: it
// runs the setup commands (untraced) on a new machine and turns the script
// commands into actions. The first error stops it; it is an *Error with
// the position it concerns.
func Build(f *File) (*Scenario, error) { return BuildVariant(f, "") }

// BuildVariant is Build under the named variant ("" is the default, the
// first the file declares). A variant the file does not declare is an
// error at its `variants` line naming the ones it does. f is not changed,
// so one parsed file can be built under each of its variants.
func BuildVariant(f *File, variant string) (*Scenario, error) {
	if f == nil {
		return nil, errors.New("scenarios: Build of a nil file")
	}
	b := newBuilder(f)
	b.want = variant
	for _, c := range f.Commands {
		if err := b.command(c); err != nil {
			return nil, err
		}
	}
	if err := b.closeVariants(); err != nil {
		return nil, err
	}
	if !b.inScript {
		if err := b.finishSetup(Pos{File: f.Name, Line: 1, Col: 1}); err != nil {
			return nil, err
		}
	}
	return b.sc, nil
}

// WithVariant builds the scenario's file again under another variant ("" is
// the default).
func (s *Scenario) WithVariant(variant string) (*Scenario, error) {
	if s == nil || s.File == nil {
		return nil, errors.New("scenarios: WithVariant of a scenario without a file")
	}
	return BuildVariant(s.File, variant)
}

// Timeline runs the script once and records it for seeking.
func (s *Scenario) Timeline() *mmu.Timeline { return mmu.NewTimeline(s.Machine, s.Script) }

// Run performs the script on a copy of the initial machine and returns its
// steps. An engine error stops the run: the steps before it are returned
// with the error, located at the failing action's line.
func (s *Scenario) Run() ([]mmu.Step, error) {
	m := s.Machine.Clone()
	steps := make([]mmu.Step, 0, len(s.Script))
	for i, a := range s.Script {
		st, err := m.Do(a)
		if err != nil {
			return steps, s.ActionError(i, err)
		}
		steps = append(steps, st)
	}
	return steps, nil
}

// ActionError locates an engine error raised by action i of the script.
func (s *Scenario) ActionError(i int, err error) error {
	if i < 0 || i >= len(s.At) || i >= len(s.Script) {
		return err
	}
	if name, _, _ := strings.Cut(s.Script[i].Src().Text, " "); name != "" {
		return Errorf(s.At[i], "%s: %v", name, err)
	}
	return Errorf(s.At[i], "%v", err)
}

// builder holds the state of a Build between commands.
type builder struct {
	sc       *Scenario
	file     string
	cfg      mmu.Config
	nvcpus   int
	opts     mmu.MMUOptions // set by kvm, applied when the machine is built
	m        *mmu.Machine   // nil until a command needs the machine
	once     map[string]Pos
	inScript bool
	regs     []mmu.Regs
	regsAt   []Pos // where each vCPU's CR3 was last set, for PDPTE errors
	tables   []*mmu.GuestTables
	pools    []pool
	mapped   uint64 // leaf entries written by map, against maxMapped
	variants variantState
	want     string         // the variant asked for ("" is the default)
	nested   []*nestedBuild // nested set-ups by vCPU (build_nested.go)
}

// pool is a guest-table pool already handed out, to refuse overlaps.
type pool struct {
	start, end mmu.GPA
	line       int
}

func newBuilder(f *File) *builder {
	name := strings.TrimSuffix(path.Base(strings.ReplaceAll(f.Name, "\\", "/")), ".mmu")
	return &builder{
		sc:     &Scenario{Name: name, File: f},
		file:   f.Name,
		cfg:    mmu.DefaultConfig(),
		nvcpus: 1,
		once:   map[string]Pos{},
	}
}

// command checks one command against the table and runs its builder.
func (b *builder) command(c Command) error {
	s := lookupSpec(c.Name)
	if s == nil {
		return Errorf(c.Pos, "unknown command %q%s", c.Name, suggestCommand(c.Name))
	}
	if err := b.variantsBefore(c, s); err != nil {
		return err
	}
	c = b.applyVariant(c, s)
	switch {
	case b.inScript && s.phase&scriptPhase == 0:
		return Errorf(c.Pos, "%s: a setup command cannot come after `script` (line %d); move it above",
			c.Name, b.once["script"].Line)
	case !b.inScript && s.phase&setupPhase == 0:
		return Errorf(c.Pos, "%s: a script action must come after a line `script`", c.Name)
	}
	cl, err := match(c, s)
	if err != nil {
		return err
	}
	if done, err := b.nestedSpace(cl); done {
		return err
	}
	return cl.spec.build(b, cl)
}

// suggestCommand suggests the closest command name, or lists them all.
func suggestCommand(name string) string {
	names := CommandNames()
	if s := suggest(name, names); s != "" {
		return s
	}
	return "; the commands are " + strings.Join(names, ", ")
}

// onlyOnce refuses a second title, machine, vcpus or script.
func (b *builder) onlyOnce(c *call) error {
	if p, ok := b.once[c.Name]; ok {
		return Errorf(c.Pos, "%s: given twice (first on line %d)", c.Name, p.Line)
	}
	b.once[c.Name] = c.Pos
	return nil
}

// machine returns the machine, creating it from the configuration given so
// far: after this, machine and vcpus can no longer change it.
func (b *builder) machine(c *call) (*mmu.Machine, error) {
	if b.m != nil {
		return b.m, nil
	}
	m, err := mmu.NewMachine(b.cfg, b.nvcpus)
	if err != nil {
		at := c.Pos
		if p, ok := b.once["machine"]; ok {
			at = p
		}
		return nil, Errorf(at, "machine: %v", err)
	}
	if err := m.SetOptions(b.opts); err != nil {
		return nil, Errorf(c.Pos, "kvm: %v", err)
	}
	b.m = m
	b.once["machine-built"] = c.Pos
	b.sc.Machine = m
	b.regs = make([]mmu.Regs, b.nvcpus)
	b.regsAt = make([]Pos, b.nvcpus)
	b.tables = make([]*mmu.GuestTables, b.nvcpus)
	return m, nil
}

// beforeMachine refuses machine and vcpus once the machine exists.
func (b *builder) beforeMachine(c *call) error {
	if b.m != nil {
		return Errorf(c.Pos, "%s: must come before the first command that uses the machine (line %d)",
			c.Name, b.once["machine-built"].Line)
	}
	return nil
}

// finishSetup loads every vCPU's registers into the machine. It happens at
// `script` (or the end of a file without one) so that a PAE guest's PDPTR
// registers see the PDPTEs that map and entry wrote.
func (b *builder) finishSetup(at Pos) error {
	if _, err := b.machine(&call{Command: Command{Pos: at, Name: "script"}}); err != nil {
		return err
	}
	for i, r := range b.regs {
		if err := b.m.SetupRegs(i, r); err != nil {
			where := b.regsAt[i]
			if where.Line == 0 {
				where = at
			}
			return Errorf(where, "vCPU %d cannot start the script: %v", i, err)
		}
	}
	return b.finishNested()
}

func (b *builder) scriptCmd(c *call) error {
	if err := b.onlyOnce(c); err != nil {
		return err
	}
	if err := b.finishSetup(c.Pos); err != nil {
		return err
	}
	b.inScript = true
	return nil
}

func (b *builder) title(c *call) error {
	if err := b.onlyOnce(c); err != nil {
		return err
	}
	a, _ := c.arg(0)
	b.sc.Title = a.Value.Text
	return nil
}

// add appends an action to the script, reporting its errors at at.
func (b *builder) add(a mmu.Action, at Pos) {
	b.sc.Script = append(b.sc.Script, a)
	b.sc.At = append(b.sc.At, at)
}

// source is the mmu.Source of a command.
func source(c *call) mmu.Source { return mmu.Source{Line: c.Pos.Line, Text: c.Line} }
