package mmu

import "fmt"

// Timeline runs a script once, keeps its trace, and can show the machine as
// it was after any event. A step is a position in the trace: step 0 is the
// initial state, step k the state right after the k-th event.
type Timeline struct {
	initial     *Machine
	checkpoints []*Machine // machine before each action
	Steps       []Step     // the script's actions with their events and results
	// first[i] is the global step of action i's first event; an action with
	// no events gets one step of its own anyway (see stepsOf).
	first []int
	total int
	// Err is the error that stopped the script, if any; the steps before it
	// are kept so a lesson can still show them.
	Err     error
	ErrStep int // index of the action that failed

	showsMMUs bool // see ShowsMMUContexts
}

// mmuContextFuncs are the kernel functions whose steps are about the
// vCPU's MMU contexts themselves (roles, CPUID, nested transitions).
var mmuContextFuncs = map[string]bool{
	"kvm_mmu_after_set_cpuid": true, "shadow_mmu_init_context": true, "init_kvm_nested_mmu": true,
	"init_kvm_tdp_mmu": true, "kvm_post_set_cr0": true, "kvm_post_set_cr4": true, "kvm_cpuid_check_equal": true,
	"kvm_init_shadow_npt_mmu": true, "kvm_init_shadow_ept_mmu": true, "nested_svm_init_mmu_context": true,
	"nested_ept_init_mmu_context": true,
}

// ShowsMMUContexts says the timeline is about the vCPUs' MMU contexts: it
// reconfigures them, updates CPUID or uses guest_mmu and nested_mmu, so
// a picture of the three contexts belongs beside its steps.
func (t *Timeline) ShowsMMUContexts() bool { return t.showsMMUs }

// findMMUContexts computes ShowsMMUContexts once the steps are recorded.
func (t *Timeline) findMMUContexts() {
	for _, st := range t.Steps {
		for _, e := range st.Events {
			if mmuContextFuncs[e.Func] || e.MMU == "guest_mmu" || e.MMU == "nested_mmu" {
				t.showsMMUs = true
				return
			}
		}
	}
}

// NewTimeline runs script on a clone of m, recording a checkpoint before
// each action. m itself is not changed.
func NewTimeline(m *Machine, script []Action) *Timeline {
	t := &Timeline{initial: m.Clone(), total: 1}
	cur := m.Clone()
	for i, a := range script {
		t.checkpoints = append(t.checkpoints, cur.Clone())
		st, err := cur.Do(a)
		if err != nil {
			t.checkpoints = t.checkpoints[:i]
			t.Err, t.ErrStep = err, i
			break
		}
		t.first = append(t.first, t.total)
		t.Steps = append(t.Steps, st)
		t.total += stepsOf(st)
	}
	t.findMMUContexts()
	return t
}

// stepsOf is how many timeline steps an action takes: one per event, and at
// least one so that every action can be seen.
func stepsOf(st Step) int {
	if len(st.Events) == 0 {
		return 1
	}
	return len(st.Events)
}

// Len is the number of steps, counting the initial state.
func (t *Timeline) Len() int { return t.total }

// Locate maps a step to the action it belongs to and the event index inside
// that action; action is -1 for step 0.
func (t *Timeline) Locate(step int) (action, event int) {
	if step <= 0 || len(t.first) == 0 {
		return -1, -1
	}
	if step >= t.total {
		step = t.total - 1
	}
	lo, hi := 0, len(t.first)-1
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if t.first[mid] <= step {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo, step - t.first[lo]
}

// StepOf is the global step of event ev of action a.
func (t *Timeline) StepOf(a, ev int) int {
	if a < 0 || a >= len(t.first) {
		return 0
	}
	return t.first[a] + ev
}

// View is the machine as it was at one step, with the event that led there.
type View struct {
	Step    int
	Machine *Machine
	Action  int    // index into Timeline.Steps, -1 at step 0
	Event   *Event // the event just performed, nil at step 0
	// Events are the action's events up to and including Event.
	Events []Event
}

// Seek rebuilds the machine at step by replaying, from the checkpoint before
// the step's action, that action up to the step's event. Steps outside
// 0..Len()-1 are an error.
func (t *Timeline) Seek(step int) (*View, error) {
	if step < 0 || step >= t.total {
		return nil, fmt.Errorf("step %d is outside 0..%d", step, t.total-1)
	}
	a, ev := t.Locate(step)
	if a < 0 {
		return &View{Step: 0, Machine: t.initial.Clone(), Action: -1}, nil
	}
	events := t.Steps[a].Events
	m := t.checkpoints[a].Clone()
	var snap *Machine
	if len(events) == 0 {
		_, _ = m.Do(t.Steps[a].Action)
		snap = m
	} else {
		m.observe = func(cur *Machine, i int) {
			if i == ev {
				snap = cur.Clone()
			}
		}
		_, _ = m.Do(t.Steps[a].Action)
		m.observe = nil
	}
	if snap == nil {
		return nil, fmt.Errorf("replaying action %d did not reach event %d: the engine is not deterministic", a, ev)
	}
	v := &View{Step: step, Machine: snap, Action: a}
	if len(events) > 0 {
		v.Event = &events[ev]
		v.Events = events[:ev+1]
	}
	return v, nil
}
