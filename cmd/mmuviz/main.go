// Command mmuviz runs the mmuviz engine on the command line: it builds a
// scenario, runs its script and prints the trace as narrated text or JSON;
// prints a lesson as a text handout; and generates seeded exercises.
//
//	mmuviz run [--json] [--variant NAME] FILE|NAME
//	mmuviz list
//	mmuviz lesson FILE|NAME
//	mmuviz quiz [-s SEED] [-n N] [-mode MODE] [-kind KIND] [-c] [--json] [-scenario]
//
// Exit status: 0 when the script ran (a fault the guest takes is a result,
// not an error), 2 on bad input, with FILE:LINE:COL on stderr.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"mmuviz/mmu"
	"mmuviz/scenarios"
)

const usage = `usage:
  mmuviz run [--json] [--variant NAME] FILE|NAME
                                  run a scenario file, or a built-in scenario by name,
                                  and print its trace (--json: one JSON object);
                                  --variant runs one of the behaviours the scenario
                                  declares (default: the first)
  mmuviz list                     list the built-in scenarios, with their variants
  mmuviz lesson FILE|NAME         print a lesson file, or a built-in lesson by name, as
                                  text: each section's prose, then every step it covers
                                  with the engine's narration and kernel function
  mmuviz quiz [flags]             generate an exercise from a seed: a guest's registers
                                  and page tables, and questions about its accesses
      -s SEED                     the seed (default 0): the same seed and flags give the
                                  same exercise on every machine
      -n N                        number of questions, 1 to 50 (default 5)
      -mode MODE                  32bit, pae, 4level, 5level or any (default any)
      -kind KIND                  next-entry, error-code, refs, translate or any (default
                                  any): which entry the walk reads next, the page-fault
                                  error code, the memory references, the GPA reached
      -c                          also print the answers, with the engine's walk steps
      --json                      print problem and answers as one JSON object
      -scenario                   print the generated scenario file instead
  mmuviz -h                       show this help

Exit status: 0 when the script ran (page faults are results), 2 on bad input.
The scenario language is described in scenarios/LANGUAGE.md, lessons in
lessons/content/README.md.
`

// exitBad is the exit status for bad input or usage.
const exitBad = 2

// parseFlags parses a subcommand's arguments. On -h it prints the usage to
// stdout, on a bad flag to stderr; ok is false then, with the exit status.
func parseFlags(fset *flag.FlagSet, args []string, stdout, stderr io.Writer) (code int, ok bool) {
	err := fset.Parse(args)
	switch {
	case err == nil:
		return 0, true
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, usage)
		return 0, false
	}
	fmt.Fprint(stderr, usage)
	return exitBad, false
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole command, testable: it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitBad
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	case "list":
		return list(args[1:], stdout, stderr)
	case "run":
		return runCmd(args[1:], stdout, stderr)
	case "lesson":
		return lessonCmd(args[1:], stdout, stderr)
	case "quiz":
		return quizCmd(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "mmuviz: unknown command %q\n%s", args[0], usage)
	return exitBad
}

func list(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintf(stderr, "mmuviz list: takes no arguments\n")
		return exitBad
	}
	names := scenarios.Builtin()
	width := 16
	for _, name := range names {
		width = max(width, len(name))
	}
	for _, name := range names {
		s, err := scenarios.LoadBuiltin(name)
		if err != nil {
			fmt.Fprintf(stdout, "%-*s\n", width, name)
			continue
		}
		fmt.Fprintf(stdout, "%-*s %s\n", width, name, s.Title)
		for i, v := range s.Variants {
			text := v.Text
			if i == 0 {
				text = strings.TrimSpace("(default) " + text)
			}
			fmt.Fprintf(stdout, "%-*s   @%s: %s\n", width, "", v.Name, text)
		}
	}
	return 0
}

func runCmd(args []string, stdout, stderr io.Writer) int {
	fset := flag.NewFlagSet("mmuviz run", flag.ContinueOnError)
	fset.SetOutput(stderr)
	asJSON := fset.Bool("json", false, "print the trace as one JSON object")
	variant := fset.String("variant", "", "the variant to run (default: the scenario's first)")
	fset.Usage = func() {}
	var files []string
	// Accept the flag before or after the file name.
	for rest := args; ; {
		if code, ok := parseFlags(fset, rest, stdout, stderr); !ok {
			return code
		}
		if fset.NArg() == 0 {
			break
		}
		files = append(files, fset.Arg(0))
		rest = fset.Args()[1:]
	}
	if len(files) != 1 {
		fmt.Fprintf(stderr, "mmuviz run: expected one scenario file or built-in name\n%s", usage)
		return exitBad
	}
	sc, err := load(files[0], *variant)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitBad
	}
	steps, err := sc.Run()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitBad
	}
	if err := writeTrace(stdout, sc, steps, *asJSON); err != nil {
		fmt.Fprintf(stderr, "mmuviz: %v\n", err)
		return 1
	}
	return 0
}

// writeTrace prints the trace as text or JSON. When the scenario declares
// variants, the text starts with the one that ran, and the JSON object has
// a "variant" key before "steps" (which is as mmu.WriteJSON writes it).
func writeTrace(w io.Writer, sc *scenarios.Scenario, steps []mmu.Step, asJSON bool) error {
	if sc.Variant == "" {
		if asJSON {
			return mmu.WriteJSON(w, steps)
		}
		return mmu.WriteText(w, steps)
	}
	var b bytes.Buffer
	if !asJSON {
		text := ""
		for _, v := range sc.Variants {
			if v.Name == sc.Variant && v.Text != "" {
				text = ": " + v.Text
			}
		}
		fmt.Fprintf(&b, "variant %s%s\n\n", sc.Variant, text)
		if err := mmu.WriteText(&b, steps); err != nil {
			return err
		}
		_, err := w.Write(b.Bytes())
		return err
	}
	if err := mmu.WriteJSON(&b, steps); err != nil {
		return err
	}
	name, err := json.Marshal(sc.Variant)
	if err != nil {
		return err
	}
	rest, ok := bytes.CutPrefix(b.Bytes(), []byte("{\n"))
	if !ok {
		return errors.New("the JSON trace does not start with an object")
	}
	out := append([]byte("{\n  \"variant\": "), name...)
	out = append(append(out, ",\n"...), rest...)
	_, err = w.Write(out)
	return err
}

// load reads a scenario file, or a built-in scenario when no file has that
// name, and builds it under variant ("" is the default).
func load(arg, variant string) (*scenarios.Scenario, error) {
	src, err := os.ReadFile(arg)
	if err == nil {
		return scenarios.LoadVariant(arg, src, variant)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("mmuviz: %v", err)
	}
	if strings.ContainsAny(arg, `/\`) {
		return nil, fmt.Errorf("mmuviz: %v", err)
	}
	sc, berr := scenarios.LoadBuiltinVariant(arg, variant)
	if berr != nil && strings.HasPrefix(berr.Error(), "no built-in") {
		return nil, fmt.Errorf("mmuviz: %s is neither a file nor a built-in scenario (mmuviz list shows them)", arg)
	}
	return sc, berr
}
