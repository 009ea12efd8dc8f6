package mmu

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// jsonEvent is the public shape of an event in `mmuviz run --json`.
type jsonEvent struct {
	Kind  EventKind `json:"kind"`
	MMU   string    `json:"mmu"`
	Func  string    `json:"func"`
	Space Space     `json:"space,omitempty"`
	Addr  string    `json:"addr,omitempty"`
	Level *int      `json:"level,omitempty"`
	Index *int      `json:"index,omitempty"`
	Old   string    `json:"old,omitempty"`
	New   string    `json:"new,omitempty"`
	Text  string    `json:"text"`
}

// jsonResult is the public shape of a step's result. refs counts the
// memory references of the access (for an access on EPT/NPT that exited to
// KVM and was retried, those of the last, successful attempt); refs_total,
// present only after such retries, counts those of every attempt.
type jsonResult struct {
	OK        bool   `json:"ok"`
	GPA       string `json:"gpa,omitempty"`
	HPA       string `json:"hpa,omitempty"`
	Fault     string `json:"fault,omitempty"`
	ErrorCode string `json:"error_code,omitempty"`
	Refs      *int   `json:"refs,omitempty"`
	RefsTotal *int   `json:"refs_total,omitempty"`
	Value     string `json:"value,omitempty"`
	Note      string `json:"note,omitempty"`
}

type jsonStep struct {
	Line   int         `json:"line"`
	Action string      `json:"action"`
	Events []jsonEvent `json:"events"`
	Result jsonResult  `json:"result"`
}

type jsonTrace struct {
	Steps []jsonStep `json:"steps"`
}

func toJSONEvent(e Event) jsonEvent {
	j := jsonEvent{Kind: e.Kind, MMU: e.MMU, Func: e.Func, Space: e.Space, Text: e.Text}
	switch e.Space {
	case SpaceNone:
	case SpaceReg:
		j.Addr = e.Reg.String()
	default:
		j.Addr = hex(e.Addr)
	}
	if e.HasEntry {
		l, i := e.Level, e.Index
		j.Level, j.Index = &l, &i
	}
	if e.Kind == EvRead || e.Kind == EvWrite || e.Kind == EvSet || e.Kind == EvCheck || e.Kind == EvFault {
		j.Old, j.New = hex(e.Old), hex(e.New)
	}
	return j
}

func toJSONResult(r Result) jsonResult {
	j := jsonResult{OK: r.OK, Note: r.Note}
	if r.HasGPA {
		j.GPA = hex(uint64(r.GPA))
	}
	if r.HasHPA {
		j.HPA = hex(uint64(r.HPA))
	}
	if r.Fault != nil {
		j.Fault = r.Fault.Vector
		j.ErrorCode = hex(r.Fault.ErrorCode)
	}
	if r.HasRefs {
		n := r.Refs
		j.Refs = &n
	}
	if r.HasRefsTotal {
		n := r.RefsTotal
		j.RefsTotal = &n
	}
	if r.HasValue {
		j.Value = hex(r.Value)
	}
	return j
}

// WriteJSON writes steps as the JSON object `mmuviz run --json` prints,
// indented, with a trailing newline. The output depends only on steps.
func WriteJSON(w io.Writer, steps []Step) error {
	t := jsonTrace{Steps: make([]jsonStep, 0, len(steps))}
	for _, st := range steps {
		src := actionSource(st.Action)
		js := jsonStep{Line: src.Line, Action: src.Text, Events: make([]jsonEvent, 0, len(st.Events)),
			Result: toJSONResult(st.Result)}
		for _, e := range st.Events {
			js.Events = append(js.Events, toJSONEvent(e))
		}
		t.Steps = append(t.Steps, js)
	}
	b, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	_, err = w.Write(b)
	return err
}

// WriteText writes steps as narrated text: each action's line, then one
// line per event naming the kernel function, then the result.
func WriteText(w io.Writer, steps []Step) error {
	var b strings.Builder
	for i, st := range steps {
		if i > 0 {
			b.WriteByte('\n')
		}
		src := actionSource(st.Action)
		fmt.Fprintf(&b, "line %d: %s\n", src.Line, src.Text)
		for _, e := range st.Events {
			fmt.Fprintf(&b, "  [%s] %s\n", e.Func, e.Text)
		}
		fmt.Fprintf(&b, "  => %s\n", ResultString(st.Result))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// ResultString summarises a result in one line.
func ResultString(r Result) string {
	var parts []string
	switch {
	case r.Fault != nil && r.Fault.Vector == "#PF":
		parts = append(parts, fmt.Sprintf("#PF error code %s (%s) at GVA %s", hex(r.Fault.ErrorCode),
			DecodeErrorCode(r.Fault.ErrorCode), r.Fault.Addr))
	case r.Fault != nil:
		parts = append(parts, fmt.Sprintf("%s: %s", r.Fault.Vector, r.Fault.Reason))
	case r.OK:
		parts = append(parts, "ok")
	}
	if r.HasGPA {
		parts = append(parts, "GPA "+hex(uint64(r.GPA)))
	}
	if r.HasHPA {
		parts = append(parts, "HPA "+hex(uint64(r.HPA)))
	}
	if r.HasValue {
		parts = append(parts, "value "+hex(r.Value))
	}
	if r.HasRefs {
		parts = append(parts, refsString(r.Refs))
	}
	if r.HasRefsTotal {
		parts = append(parts, fmt.Sprintf("%d in all attempts", r.RefsTotal))
	}
	if r.Note != "" {
		parts = append(parts, r.Note)
	}
	return strings.Join(parts, ", ")
}
