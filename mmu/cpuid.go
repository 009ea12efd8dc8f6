package mmu

import (
	"fmt"
	"strings"
)

// SetCPUID is KVM_SET_CPUID2 issued by userspace for every vCPU: a new
// CPU model (MAXPHYADDR, paging features). KVM refuses a different model
// once a vCPU has run (kvm_cpuid_check_equal); before that,
// kvm_vcpu_after_set_cpuid → kvm_mmu_after_set_cpuid marks the roles of
// all three MMUs so that kvm_init_mmu recomputes what CPUID feeds into
// (the reserved-bit masks), even though no register changed.
type SetCPUID struct {
	Source
	MaxPhyAddr int      // 0 keeps the current width
	Enable     []string // features to turn on (pse36, gbpages, nx, smep, smap, pku, la57)
	Disable    []string // features to turn off
}

// Src returns where the action was written.
func (a *SetCPUID) Src() Source { return a.Source }

// FeatureNames are the CPUID features a CPU model can turn on and off.
var FeatureNames = []string{"pse36", "gbpages", "nx", "smep", "smap", "pku", "la57"}

// Feature returns a pointer to the named feature flag of c, nil if none.
func (c *Config) Feature(name string) *bool {
	switch name {
	case "pse36":
		return &c.PSE36
	case "gbpages":
		return &c.GBPages
	case "nx":
		return &c.NX
	case "smep":
		return &c.SMEP
	case "smap":
		return &c.SMAP
	case "pku":
		return &c.PKU
	case "la57":
		return &c.LA57
	}
	return nil
}

// newModel applies the action to cfg, checking what the machine needs.
func (a *SetCPUID) newModel(m *Machine) (Config, error) {
	cfg := m.Config
	if a.MaxPhyAddr != 0 {
		if a.MaxPhyAddr < 32 || a.MaxPhyAddr > 52 {
			return cfg, fmt.Errorf("cpuid: MAXPHYADDR must be between 32 and 52 bits, not %d", a.MaxPhyAddr)
		}
		cfg.MaxPhyAddr = a.MaxPhyAddr
	}
	for _, list := range []struct {
		names []string
		on    bool
	}{{a.Enable, true}, {a.Disable, false}} {
		for _, n := range list.names {
			p := cfg.Feature(n)
			if p == nil {
				return cfg, fmt.Errorf("cpuid: no feature %q (the features are %s)", n, strings.Join(FeatureNames, ", "))
			}
			*p = list.on
		}
	}
	limit := uint64(1) << cfg.MaxPhyAddr
	if m.Config.HostMemory > limit {
		return cfg, fmt.Errorf("cpuid: MAXPHYADDR %d cannot address the %s of memory", cfg.MaxPhyAddr,
			sizeString(m.Config.HostMemory))
	}
	for _, s := range m.Slots {
		if (uint64(s.BaseGFN)+s.NPages)<<12 > limit {
			return cfg, fmt.Errorf("cpuid: memslot %d ends above 2^%d, the new MAXPHYADDR", s.ID, cfg.MaxPhyAddr)
		}
	}
	return cfg, nil
}

func (a *SetCPUID) do(m *Machine) (Result, error) {
	cfg, err := a.newModel(m)
	if err != nil {
		return Result{}, err
	}
	for _, v := range m.VCPUs {
		if v.HasRun && cfg != m.Config {
			if !m.Quiet {
				m.emit(Event{Kind: EvCheck, MMU: "root_mmu", Func: "kvm_cpuid_check_equal", VCPU: v.ID,
					Text: fmt.Sprintf("KVM_SET_CPUID2 on vCPU %d fails with -EBUSY: the vCPU has already run "+
						"(kvm_vcpu_has_run), and after that KVM only accepts a CPUID identical to the current one "+
						"(kvm_cpuid_check_equal). The CPU model stays as it was.", v.ID)})
			}
			return Result{Note: "KVM_SET_CPUID2 refused: -EBUSY"}, nil
		}
	}
	old := m.Config
	m.Config = cfg
	if !m.Quiet {
		m.emit(Event{Kind: EvSet, MMU: "root_mmu", Func: "kvm_set_cpuid", Text: fmt.Sprintf(
			"KVM_SET_CPUID2 (kvm_set_cpuid), for every vCPU: the CPU model changes from %s to %s.",
			describeModel(old), describeModel(cfg))})
	}
	for _, v := range m.VCPUs {
		m.kvmMMUAfterSetCPUID(v)
	}
	return Result{OK: true}, nil
}

// describeModel summarizes a CPU model for the trace.
func describeModel(c Config) string {
	var on []string
	for _, n := range FeatureNames {
		if *c.Feature(n) {
			on = append(on, n)
		}
	}
	return fmt.Sprintf("MAXPHYADDR %d [%s]", c.MaxPhyAddr, strings.Join(on, " "))
}

// kvmMMUAfterSetCPUID is kvm_mmu_after_set_cpuid: the roles of the three
// contexts are marked as not computed, in the way the options choose
// (seed 003), then kvm_mmu_reset_context unloads the roots and runs
// kvm_init_mmu, which the marker forces past its early return.
func (m *Machine) kvmMMUAfterSetCPUID(v *VCPU) {
	var how string
	for _, mmu := range []*MMU{&v.RootMMU, &v.GuestMMU, &v.NestedMMU} {
		switch m.Opts.Marker {
		case MarkerValid:
			mmu.CPURole.Ext.Valid = false
			mmu.RootRole = mmu.RootRole.WithInvalid(true)
			how = "clears cpu_role.ext.valid and sets root_role.invalid"
		case MarkerLevel0:
			mmu.CPURole.Base = mmu.CPURole.Base.WithLevel(0)
			mmu.RootRole = mmu.RootRole.WithLevel(0)
			how = "sets cpu_role.base.level and root_role.level to 0 (the patch as posted: a real role never has level 0)"
		case MarkerCPUIDStale:
			mmu.CPURole.Ext.CPUIDStale = true
			how = "sets cpu_role.ext.cpuid_stale (the reviewer's proposal)"
		default:
			how = "marks nothing (a counterfactual: no marker at all)"
		}
		mmu.staleMarked = m.Opts.Marker != MarkerNone
	}
	if !m.Quiet {
		m.emit(Event{Kind: EvSet, MMU: "root_mmu", Func: "kvm_mmu_after_set_cpuid", VCPU: v.ID, Text: fmt.Sprintf(
			"kvm_mmu_after_set_cpuid (vCPU %d): CPUID feeds the reserved-bit masks, which no register write "+
				"will recompute, so KVM %s in root_mmu, guest_mmu and nested_mmu, then resets the MMU.", v.ID, how)})
	}
	m.kvmMMUResetContextAll(v)
}
