// Package render turns the engine's state at one step of a timeline into a
// Scene: boxes with rows of text, arrows between them, labels and the one
// highlighted thing the step is about. It is pure Go, with no Ebiten, so that
// every layout decision is unit-tested natively; render/draw paints a Scene
// with Ebiten and the wasm program puts the two together.
//
// A Scene is a list of panels. This package fills one panel, the guest's own
// page-table walk (the native walk); later views (shadow pages, EPT trees,
// the 2D walk grid, root caches, several vCPUs) are further panels laid out
// side by side in the same Scene, each a group of boxes with stable IDs so
// that motion between steps can ease.
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
