package mmu

// Roles of shadow pages: kvm_mmu_child_role, sp_has_gptes, the passthrough
// pages, and the proposal's role.glevel.

// The proposal of seed 001 adds role.glevel, the level of the guest table
// behind a page (0 for a direct page). Linux never had it; the model keeps
// it in bits 20-23 of the role word, which 6.16 leaves unused, and only
// the level-expanded variant sets it.
const (
	roleGLevelShift = 20
	roleGLevelMask  = 0xf
)

// GLevel is the proposal's role.glevel: the level of the guest table the
// page shadows; below Level it marks a page that only passes through. 0
// outside the level-expanded variant and for direct pages.
func (r PageRole) GLevel() int { return int(r>>roleGLevelShift) & roleGLevelMask }

// WithGLevel returns r with the proposal's glevel replaced.
func (r PageRole) WithGLevel(l int) PageRole { return setField(r, roleGLevelShift, roleGLevelMask, l) }

// WithHas4ByteGPTE returns r with has_4_byte_gpte set or cleared.
func (r PageRole) WithHas4ByteGPTE(on bool) PageRole { return setFlag(r, roleHas4ByteGPTE, on) }

// isPassthroughSP says the page has no guest table of its own and only
// links to the next level: role.passthrough (merged, and the model's mark
// of the proposal's page acting as a PAE guest's pae_root), or a glevel
// below the level (the proposal).
func isPassthroughSP(r PageRole) bool {
	return r.Passthrough() || (r.GLevel() != 0 && r.GLevel() < r.Level())
}

// spHasGPTEs is sp_has_gptes: the page shadows entries of a guest table
// (neither direct nor passthrough), so it is write-protected and hashed
// for kvm_mmu_track_write.
func spHasGPTEs(r PageRole) bool { return !r.Direct() && !isPassthroughSP(r) }

// kvmMMUChildRole is kvm_mmu_child_role: the parent's role one level down
// with the given access and directness, passthrough cleared. A 32-bit
// guest's 1024-entry table is shadowed by two 512-entry pages: the child
// of level 1 takes quadrant = bit 0 of the parent entry's index (GVA bit
// 21). In the level-expanded variant glevel follows min(glevel, level),
// a level-2 child of the page acting as pae_root of a 32-bit guest takes
// quadrant = index (GVA bits 31:30), and the level-3 page under a PAE
// guest's expanded levels acts as its pae_root.
func kvmMMUChildRole(parent PageRole, index int, direct bool, access int) PageRole {
	role := parent.WithLevel(parent.Level() - 1).WithAccess(access).WithDirect(direct).WithPassthrough(false)
	role = role.WithInvalid(false)
	level := role.Level()
	if parent.GLevel() != 0 {
		return levelExpandedChildRole(parent, role, index, direct)
	}
	if role.Has4ByteGPTE() && level == 1 {
		role = role.WithQuadrant(index & 1)
	}
	return role
}

// levelExpandedChildRole finishes a child role in the level-expanded
// variant (seed 001).
func levelExpandedChildRole(parent, role PageRole, index int, direct bool) PageRole {
	level := role.Level()
	switch {
	case role.Has4ByteGPTE() && level == 1:
		role = role.WithQuadrant(index & 1)
	case role.Has4ByteGPTE() && level == 2 && !direct && parent.GLevel() < parent.Level():
		role = role.WithQuadrant(index & 3)
	default:
		role = role.WithQuadrant(0)
	}
	if direct {
		return role.WithGLevel(0)
	}
	role = role.WithGLevel(min(parent.GLevel(), level))
	// A PAE guest's top is its four PDPTEs, which have no page of their
	// own: the level-3 page under its expanded levels acts as pae_root.
	if !role.Has4ByteGPTE() && level == 3 && parent.GLevel() == 3 && parent.Level() > 3 {
		role = role.WithPassthrough(true)
	}
	return role
}

// kvmMMUPageGetGFN is kvm_mmu_page_get_gfn: the guest frame entry index
// maps. A passthrough page maps its own gfn at every index; a page with
// guest entries remembers each; a direct page maps a linear range.
func (s *shadowState) kvmMMUPageGetGFN(sp *KVMMMUPage, index int) GFN {
	switch {
	case isPassthroughSP(sp.Role) && !sp.Role.Direct():
		return sp.GFN
	case !sp.Role.Direct():
		if sp.shadowedTranslation == nil {
			return sp.GFN
		}
		return GFN(sp.shadowedTranslation[index&511] >> PageShift)
	}
	return sp.GFN + GFN(uint64(index)<<(9*uint(sp.Role.Level()-1)))
}

// kvmMMUPageGetAccess is kvm_mmu_page_get_access: the guest's rights for
// a leaf entry (role.access for direct and passthrough pages).
func kvmMMUPageGetAccess(sp *KVMMMUPage, index int) int {
	if spHasGPTEs(sp.Role) && sp.shadowedTranslation != nil {
		return int(sp.shadowedTranslation[index&511] & AccAll)
	}
	return sp.Role.Access()
}

// kvmMMUPageSetTranslation is kvm_mmu_page_set_translation: remember the
// frame and the guest's access an entry of a page with guest entries maps.
func kvmMMUPageSetTranslation(sp *KVMMMUPage, index int, gfn GFN, access int) {
	if spHasGPTEs(sp.Role) && sp.shadowedTranslation != nil {
		sp.shadowedTranslation[index&511] = uint64(gfn)<<PageShift | uint64(access&AccAll)
	}
}

// roleWord names the fields of a shadow role for narration, with the
// proposal's glevel when it is set.
func roleWord(r PageRole) string {
	s := r.String()
	if g := r.GLevel(); g != 0 {
		s += " glevel=" + itoa(g)
	}
	return s
}

// spName describes a shadow page in a few words: "the level-2 shadow page
// at HPA x (GFN y, quadrant 1)".
func spName(sp *KVMMMUPage) string {
	s := "the level-" + itoa(sp.Role.Level()) + " shadow page at HPA " + sp.SPT.String() + " (GFN " + sp.GFN.String()
	if q := sp.Role.Quadrant(); q != 0 {
		s += ", quadrant " + itoa(q)
	}
	switch {
	case sp.Role.Direct():
		s += ", direct"
	case isPassthroughSP(sp.Role):
		s += ", passthrough"
	}
	return s + ")"
}
