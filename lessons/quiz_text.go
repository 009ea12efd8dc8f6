package lessons

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// WriteText prints the quiz as a problem sheet, in the manner of OSTEP's
// homework simulators: the registers, a dump of the page-table pages
// (non-zero entries only, by GPA), and the numbered questions. With answers
// it prints, under each question, the answer and the engine's walk steps
// that explain it. The output depends only on the quiz.
func (q *Quiz) WriteText(w io.Writer, answers bool) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", q.Command)
	if q.Mode == "32bit" {
		fmt.Fprintf(&b, "%s, MAXPHYADDR %d.\n\n", q.Title, q.MaxPhyAddr)
	} else {
		fmt.Fprintf(&b, "%s, MAXPHYADDR %d: entry bits %d to 51 are reserved.\n\n", q.Title, q.MaxPhyAddr,
			q.MaxPhyAddr)
	}
	q.writeRegisters(&b)
	q.writeTables(&b)
	b.WriteString("Questions: vCPU 0 makes these accesses in this order. (The A and D bits a walk sets change no\n" +
		"answer.)\n")
	for i := range q.Questions {
		qu := &q.Questions[i]
		fmt.Fprintf(&b, "\n%2d. %s\n", qu.N, qu.Prompt)
		if !answers {
			continue
		}
		fmt.Fprintf(&b, "    Answer: %s\n", qu.Answer)
		b.WriteString("    Why, in the engine's own steps:\n")
		for _, line := range qu.Explanation {
			fmt.Fprintf(&b, "      %s\n", line)
		}
	}
	if answers {
		fmt.Fprintf(&b, "\nThe scenario behind this quiz: add -scenario to print it, then run it with `mmuviz run FILE`.\n")
	} else {
		fmt.Fprintf(&b, "\nAnswers: the same command with -c.\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeRegisters prints the registers, one a line.
func (q *Quiz) writeRegisters(b *strings.Builder) {
	b.WriteString("Registers:\n")
	for _, r := range q.Registers {
		line := fmt.Sprintf("  %-6s %-12s %s", strings.ToUpper(r.Name), r.Value, r.Bits)
		b.WriteString(strings.TrimRight(line, " ") + "\n")
	}
	b.WriteByte('\n')
}

// writeTables prints the memory dump of the table pages.
func (q *Quiz) writeTables(b *strings.Builder) {
	size := 8
	if len(q.Tables) > 0 {
		size = q.Tables[0].EntrySize
	}
	fmt.Fprintf(b, "Guest physical memory: the page-table pages, non-zero %d-byte entries only:\n", size)
	width := 2 * size
	for _, t := range q.Tables {
		fmt.Fprintf(b, "\n  %s at GPA %s\n", t.Name, t.GPA)
		if len(t.Entries) == 0 {
			b.WriteString("    (all zero)\n")
		}
		for _, e := range t.Entries {
			fmt.Fprintf(b, "    %-10s [%4d]  0x%0*x\n", e.GPA, e.Index, width, uint64(e.Value))
		}
	}
	b.WriteByte('\n')
}

// WriteJSON prints the quiz, problem and answers, as one indented JSON
// object with a trailing newline: the shape of Quiz's JSON tags. Numbers
// that may exceed 2^53 (the seed, addresses, entries) are strings.
func (q *Quiz) WriteJSON(w io.Writer) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(q); err != nil {
		return err
	}
	_, err := w.Write(b.Bytes())
	return err
}
