package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"mmuviz/lessons"
	"mmuviz/scenarios"
)

// lessonCmd prints a lesson as a text handout.
func lessonCmd(args []string, stdout, stderr io.Writer) int {
	fset := flag.NewFlagSet("mmuviz lesson", flag.ContinueOnError)
	fset.SetOutput(stderr)
	fset.Usage = func() {}
	if code, ok := parseFlags(fset, args, stdout, stderr); !ok {
		return code
	}
	if fset.NArg() != 1 {
		fmt.Fprintf(stderr, "mmuviz lesson: expected one lesson file or built-in lesson name (built-in lessons: %s)\n",
			strings.Join(lessons.Builtin(), ", "))
		return exitBad
	}
	h, err := openLesson(fset.Arg(0))
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitBad
	}
	if err := h.WriteText(stdout); err != nil {
		fmt.Fprintf(stderr, "mmuviz: %v\n", err)
		return 1
	}
	return 0
}

// openLesson reads a lesson file, or a built-in lesson when no file has
// that name, with its scenario.
func openLesson(arg string) (*lessons.Handout, error) {
	src, err := os.ReadFile(arg)
	if err == nil {
		return lessons.OpenHandout(arg, src, scenarioBeside(arg))
	}
	if !errors.Is(err, fs.ErrNotExist) || strings.ContainsAny(arg, `/\`) || strings.HasSuffix(arg, ".md") {
		return nil, fmt.Errorf("mmuviz: %v", err)
	}
	if !containsName(lessons.Builtin(), arg) {
		return nil, fmt.Errorf("mmuviz: %s is neither a file nor a built-in lesson (built-in lessons: %s)", arg,
			strings.Join(lessons.Builtin(), ", "))
	}
	return lessons.BuiltinHandout(arg)
}

func containsName(names []string, name string) bool {
	for _, n := range names {
		if n == name {
			return true
		}
	}
	return false
}

// scenarioBeside loads the scenario a lesson file names: a file relative
// to the lesson when the name ends in .mmu, else a built-in scenario.
func scenarioBeside(lessonFile string) lessons.ScenarioLoader {
	return func(name string) (*scenarios.Scenario, error) {
		if !strings.HasSuffix(name, ".mmu") {
			return scenarios.LoadBuiltin(name)
		}
		p := name
		if !filepath.IsAbs(p) {
			p = filepath.Join(filepath.Dir(lessonFile), filepath.FromSlash(name))
		}
		src, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		return scenarios.Load(p, src)
	}
}
