package main

import (
	"flag"
	"fmt"
	"io"

	"mmuviz/lessons"
)

// quizCmd generates a seeded exercise and prints it.
func quizCmd(args []string, stdout, stderr io.Writer) int {
	fset := flag.NewFlagSet("mmuviz quiz", flag.ContinueOnError)
	fset.SetOutput(stderr)
	fset.Usage = func() {}
	seed := fset.Uint64("s", 0, "the seed")
	var opts lessons.QuizOptions
	fset.IntVar(&opts.N, "n", 5, "number of questions")
	fset.StringVar(&opts.Mode, "mode", "any", "paging mode")
	fset.StringVar(&opts.Kind, "kind", "any", "question kind")
	answers := fset.Bool("c", false, "print the answers")
	asJSON := fset.Bool("json", false, "print problem and answers as JSON")
	scenario := fset.Bool("scenario", false, "print the generated scenario file")
	if code, ok := parseFlags(fset, args, stdout, stderr); !ok {
		return code
	}
	if fset.NArg() > 0 {
		fmt.Fprintf(stderr, "mmuviz quiz: unexpected argument %q (the quiz takes only flags)\n%s", fset.Arg(0), usage)
		return exitBad
	}
	if opts.N < 1 || opts.N > lessons.MaxQuestions {
		fmt.Fprintf(stderr, "mmuviz quiz: -n is 1 to %d questions, not %d\n", lessons.MaxQuestions, opts.N)
		return exitBad
	}
	q, err := lessons.NewQuiz(*seed, opts)
	if err != nil {
		fmt.Fprintf(stderr, "mmuviz quiz: %v\n", err)
		return exitBad
	}
	switch {
	case *scenario:
		_, err = io.WriteString(stdout, q.Scenario)
	case *asJSON:
		err = q.WriteJSON(stdout)
	default:
		err = q.WriteText(stdout, *answers)
	}
	if err != nil {
		fmt.Fprintf(stderr, "mmuviz: %v\n", err)
		return 1
	}
	return 0
}
