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
// Coordinates are CSS pixels of the stage, origin top-left; the drawing code
// multiplies them by the device scale factor.
package render
