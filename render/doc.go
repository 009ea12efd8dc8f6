// Package render turns the engine's state at one step of a timeline into a
// Scene: boxes with rows of text, arrows between them, labels and the one
// highlighted thing the step is about. It is pure Go, with no Ebiten, so that
// every layout decision is unit-tested natively; render/draw paints a Scene
// with Ebiten and the wasm program puts the two together.
//
// A Scene is a list of panels: the header (the address as bit fields), the
// guest's own page-table walk, the caption, and, when the VM runs on TDP
// (EPT or NPT), the 2D walk grid and the host tables, or, on shadow paging,
// KVM's shadow pages beside the guest's tables. Later views (root caches,
// several vCPUs) are further panels laid out in the same Scene, each a
// group of boxes with stable IDs so that motion between steps can ease.
//
// The 2D view (tdp.go, grid.go, ept.go, violation.go, layout2d.go) plugs
// in the same way: tdpFocusAt gathers, from the trace (mmu.Event's TwoD,
// GuestLevel, HostLevel, Ref) and the engine's TDP views (mmu/tdp_view.go),
// the attempt at the access the step belongs to, the row of the grid the
// current reference is in, the GPA its host walk translates and that walk's
// path through the EPT/NPT tables, the violation if one stopped the walk,
// and what KVM's handling touches. focusAt keeps it in focus.tdp (nil for a
// VM without TDP: the picture is then exactly the native one); the guest
// chain reveals a table as soon as its GPA is being translated; gridBox
// draws the (guest levels + 1) × (host levels + 1) cells, hostChain the
// column of host tables ("ept:HPA" IDs), a new table, the frame a leaf maps
// and the violation ("hostfault"). layoutTDP puts the grid under the guest's
// walk and the host column to the right of both, from the top.
//
// The shadow view (shadow.go, shadow_target.go, shadow_boxes.go,
// layout_shadow.go) replaces the guest's zig-zag chain when the VM runs on
// shadow paging: shadowFocusAt gathers, from the engine's read-only views
// (mmu/shadow_view.go: ShadowInfo, ShadowRoots, ShadowPages, ShadowPath,
// WriteTracked) and the trace (the processor's reads of the shadow tables,
// its #PF, what KVM allocates, writes, zaps and frees), the vCPU's root,
// the shadow path of the GVA and the processor's references so far; its
// targetOf maps each event to a box and row of the view (the guest's own
// entries and registers keep their native targets, with tgtShadow for the
// rest); buildItems picks, level by level, the page the GVA uses, the
// other pages of the same guest table (quadrants, other roles) and the
// page the event touches. layoutShadow puts the guest's chain in a column
// on the left and the shadow pages ("spt:HPA" IDs, special roots too) in a
// column on the right, in bands: the registers beside root_mmu ("sroot:N"),
// each level's guest table level with its shadow page (the dashed link
// "shadows:" between them runs straight across the gap), then the guest's
// page or fault beside the end of the processor's walk ("sresult") or its
// #PF ("sfault"), and the checker's verdict ("scheck"). Guest tables get a
// status line (write-tracked, read-only, unsync), shadow pages one with
// their role; status lines are rows with Count 0.
//
// The root cache (shadow_roots.go) adds, under the root_mmu box, one box
// per vCPU ("sroots:N"): its current root and prev_roots[0..2], most
// recently used first, as "pgd → HPA" with the root page's root_count, an
// empty slot as "—", a zapped root still held marked OBSOLETE or invalid
// in words; the slot the step's cache event touches (a hit made current,
// the root kept on a miss, a cached root freed) is the highlight, and the
// last box ends with the VM's RootStats. They are shown once the cache
// matters (several vCPUs, a cached root, a switch or a root freed so far).
//
// How a step becomes a picture: focusAt gathers what the step is about from
// the view and the timeline (the address, how far the walk has got, the
// entry or register the event touches); a view turns that into boxes at
// scale 1 (chainFor and layoutChain for the walk, headerBoxes for the bit
// fields, captionBox for the narration); natural stacks the panels and
// measures them; LayoutWith scales and centres the result on the stage. A
// later view adds a builder of its own Panel and a place for it in natural
// (beside the walk: the shadow page next to the guest table it shadows, the
// EPT tree to the right, the vCPUs in a row); IDs stay unique by prefix
// ("gpt:", "spt:", "ept:", "regs:N"), so Tween eases each box on its own.
// The one highlight of a step is whichever row a view styles current,
// written or faulted.
//
// Coordinates are CSS pixels of the stage, origin top-left; the drawing code
// multiplies them by the device scale factor.
package render
