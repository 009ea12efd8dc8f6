package render

// The palette: dark ink on light paper, saturated enough to survive a
// washed-out projector. Level colours follow the Okabe–Ito set, which stays
// distinguishable with the common colour-vision deficiencies, and every
// colour is paired with text (a level name, a marker) so colour is never
// the only carrier of meaning.
var (
	Paper     = Color{0xf7, 0xf5, 0xef, 0xff}
	Ink       = Color{0x16, 0x18, 0x1d, 0xff}
	MutedInk  = Color{0x4b, 0x50, 0x59, 0xff}
	BoxFill   = Color{0xff, 0xff, 0xff, 0xff}
	BoxBorder = Color{0x3a, 0x3f, 0x4a, 0xff}
	EdgeInk   = Color{0x44, 0x4a, 0x55, 0xff}
	RegFill   = Color{0xee, 0xf1, 0xf5, 0xff}
	RegTitle  = Color{0x37, 0x41, 0x51, 0xff}
	PaperInk  = Color{0xff, 0xff, 0xff, 0xff} // text on dark title bands

	// CurrentFill is the highlight of the entry the step reads.
	CurrentFill = Color{0xff, 0xd4, 0x3b, 0xff}
	// WrittenFill is the highlight of an entry or register the step writes.
	WrittenFill = Color{0x7f, 0xdc, 0x8c, 0xff}
	// FaultFill is the highlight of the entry where a walk faults.
	FaultFill   = Color{0xff, 0x8a, 0x80, 0xff}
	FaultInk    = Color{0xb3, 0x1b, 0x1b, 0xff}
	FaultPaper  = Color{0xff, 0xeb, 0xe9, 0xff}
	ResultInk   = Color{0x1b, 0x6e, 0x2f, 0xff}
	ResultPaper = Color{0xe6, 0xf4, 0xe7, 0xff}
	WrittenTint = Color{0xd8, 0xf3, 0xdc, 0xff} // rows written earlier in the action

	// HostInk and HostTint mark what belongs to the host: the EPT/NPT
	// tables KVM builds and the host references of the 2D walk. They are
	// neutral slate, so that the guest's level colours keep their meaning.
	HostInk  = Color{0x45, 0x5a, 0x64, 0xff}
	HostTint = Color{0xdf, 0xe6, 0xea, 0xff}
	// ZapPaper fills a shadow page KVM has zapped or is freeing.
	ZapPaper = Color{0xe2, 0xe2, 0xe0, 0xff}
	// GridEmpty is a cell of the 2D grid no reference has filled.
	GridEmpty = Color{0xf1, 0xf0, 0xea, 0xff}
)

// levelInk and levelTint are the strong and the pale colour of each paging
// level; index 0 is the page offset.
var (
	levelInk = [6]Color{
		{0x5f, 0x63, 0x68, 0xff}, // offset: grey
		{0xb8, 0x2e, 0x7a, 0xff}, // PT: reddish purple
		{0xb3, 0x5c, 0x00, 0xff}, // PD: orange
		{0x00, 0x7a, 0x56, 0xff}, // PDPT: bluish green
		{0x00, 0x5a, 0xb5, 0xff}, // PML4: blue
		{0x6a, 0x3d, 0x9a, 0xff}, // PML5: purple
	}
	levelTint = [6]Color{
		{0xe9, 0xea, 0xec, 0xff},
		{0xf8, 0xdf, 0xed, 0xff},
		{0xfc, 0xe8, 0xd2, 0xff},
		{0xd5, 0xf0, 0xe5, 0xff},
		{0xd9, 0xe8, 0xfa, 0xff},
		{0xe9, 0xdf, 0xf5, 0xff},
	}
)

// LevelInk is the strong colour of a paging level (0: the page offset).
func LevelInk(level int) Color {
	if level < 0 || level >= len(levelInk) {
		return MutedInk
	}
	return levelInk[level]
}

// LevelTint is the pale colour of a paging level, for fills behind text.
func LevelTint(level int) Color {
	if level < 0 || level >= len(levelTint) {
		return RegFill
	}
	return levelTint[level]
}
