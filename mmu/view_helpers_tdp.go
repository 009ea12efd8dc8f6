package mmu

import "encoding/binary"

// Read-only helpers for pictures (render/) that the 2D view needs to be
// quick: a host table read as one page, and every step of a timeline
// visited with one replay per action instead of one per step.

// HostTable reads the 512 eight-byte entries of the host page at hpa (an
// EPT/NPT table); a page never written reads as zeros.
func (m *Machine) HostTable(hpa HPA) []uint64 {
	out := make([]uint64, 512)
	pg := m.Mem.pages[hpa.PFN()]
	if pg == nil {
		return out
	}
	for i := range out {
		out[i] = binary.LittleEndian.Uint64(pg[8*i : 8*i+8])
	}
	return out
}

// EachView calls fn with the view of every step of the timeline, in
// order, as Seek would return it, but replaying each action once: for a
// script whose actions have hundreds of events (a walk on an empty EPT)
// that is hundreds of times fewer replays. The view and its machine are
// valid only during the call: fn must not keep them or change them.
func (t *Timeline) EachView(fn func(v *View)) {
	fn(&View{Step: 0, Machine: t.initial, Action: -1})
	for a, st := range t.Steps {
		m := t.checkpoints[a].Clone()
		if len(st.Events) == 0 {
			_, _ = m.Do(st.Action)
			fn(&View{Step: t.first[a], Machine: m, Action: a})
			continue
		}
		m.observe = func(cur *Machine, i int) {
			if i < len(st.Events) {
				fn(&View{Step: t.first[a] + i, Machine: cur, Action: a, Event: &st.Events[i], Events: st.Events[:i+1]})
			}
		}
		_, _ = m.Do(st.Action)
		m.observe = nil
	}
}
