package scenarios

import (
	"strings"

	"mmuviz/mmu"
)

// The commands of roles and CPUID (seeds 000 and 003): `kvm` chooses the
// MMU's design options before the machine exists, `cpuid` is userspace's
// KVM_SET_CPUID2 during the script.

// callbackWords and markerWords are the values of kvm's keys.
var (
	callbackWords = []string{"upstream", "constants-once"}
	markerWords   = []string{"valid", "level0", "cpuid-stale", "none"}
)

func (b *builder) kvmCmd(c *call) error {
	if err := b.onlyOnce(c); err != nil {
		return err
	}
	if err := b.beforeMachine(c); err != nil {
		return err
	}
	if keyIs(c, "callbacks", "constants-once") {
		b.opts.Callbacks = mmu.CallbacksConstantsOnce
	}
	switch {
	case keyIs(c, "role-marker", "level0"):
		b.opts.Marker = mmu.MarkerLevel0
	case keyIs(c, "role-marker", "cpuid-stale"):
		b.opts.Marker = mmu.MarkerCPUIDStale
	case keyIs(c, "role-marker", "none"):
		b.opts.Marker = mmu.MarkerNone
	}
	return nil
}

func (b *builder) cpuidCmd(c *call) error {
	if _, err := b.machine(c); err != nil {
		return err
	}
	a := &mmu.SetCPUID{Source: source(c)}
	if v, ok := c.key("maxphyaddr"); ok {
		if v.Value.Num < 32 || v.Value.Num > 52 {
			return Errorf(v.Value.Pos, "cpuid: maxphyaddr is 32 to 52 bits, not %s", v.Value)
		}
		a.MaxPhyAddr = int(v.Value.Num)
	}
	if v, ok := c.key("features"); ok {
		if v.Op == "=" {
			return Errorf(v.Pos, "cpuid: write features+=LIST or features-=LIST: the CPU model changes from the current one")
		}
		set, err := names(c, v, features)
		if err != nil {
			return err
		}
		for _, f := range features {
			if _, listed := set[f]; listed {
				if v.Op == "+=" {
					a.Enable = append(a.Enable, f)
				} else {
					a.Disable = append(a.Disable, f)
				}
			}
		}
	}
	if a.MaxPhyAddr == 0 && len(a.Enable)+len(a.Disable) == 0 {
		return Errorf(c.Pos, "cpuid: give maxphyaddr=BITS or features+=LIST / features-=LIST")
	}
	b.add(a, c.Pos)
	return nil
}

// kvmSpecs are the rows of the command table for roles and CPUID.
func kvmSpecs() []*cmdSpec {
	return []*cmdSpec{
		{name: "kvm", phase: setupPhase,
			usage: "kvm [callbacks=" + strings.Join(callbackWords, "|") + "] [role-marker=" +
				strings.Join(markerWords, "|") + "]",
			keys: []param{{what: "callbacks", kinds: kIdent, words: callbackWords, follows: true},
				{what: "role-marker", kinds: kIdent, words: markerWords, follows: true}},
			build: (*builder).kvmCmd},
		{name: "cpuid", phase: scriptPhase, usage: "cpuid [maxphyaddr=BITS] [features+=LIST] [features-=LIST]",
			keys:  []param{{what: "maxphyaddr", kinds: kNum}, {what: "features", kinds: kNames, ops: "= += -="}},
			build: (*builder).cpuidCmd},
	}
}
