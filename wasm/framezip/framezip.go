// Package framezip writes a ZIP archive of stored (uncompressed) files
// whose data the caller keeps. The page exports a lesson's frames as one
// ZIP: the PNG data of each frame stays in the browser (a Blob), and only
// the small headers come from here. The archive is the concatenation of,
// for each file in order, the header Add returned and the file's data,
// then the bytes Close returns.
//
// PNG files are compressed already, so nothing is deflated. Every entry
// has the same fixed time (1980-01-01 00:00, the first the format can
// hold), so the same frames always give the same archive. The format is
// the plain one of PKWARE's APPNOTE without ZIP64: at most 65,535 files
// and 4 GiB in all, far more than a lesson's frames need.
package framezip

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"unicode/utf8"
)

// Record signatures and fields of the format (APPNOTE 4.3).
const (
	sigLocal      = 0x04034b50 // local file header
	sigCentral    = 0x02014b50 // central directory file header
	sigEnd        = 0x06054b50 // end of central directory record
	localLen      = 30         // fixed part of a local header
	centralLen    = 46         // fixed part of a central directory header
	endLen        = 22         // end record without comment
	versionStored = 10         // version 1.0 suffices for stored files
	madeByUnix    = 3<<8 | 20  // "made by" Unix, spec 2.0, so the mode below counts
	flagUTF8      = 1 << 11    // names are UTF-8
	methodStore   = 0
	dosDate1980   = 1<<5 | 1 // 1980-01-01: day 1, month 1, year 1980+0
	dosTime0      = 0
	modeFile      = 0o100644 << 16 // a regular file, rw-r--r--, as external attributes
)

// Limits of the format without ZIP64.
const (
	MaxFiles = 0xffff     // entries in one archive
	MaxBytes = 0xffffffff // offsets and sizes
	MaxName  = 0xffff     // bytes in a name
)

// Writer builds the headers of one archive.
type Writer struct {
	entries []entry
	off     uint64 // bytes of the archive so far: headers and data
	closed  bool
}

type entry struct {
	name      string
	crc, size uint32
	off       uint32 // where its local header starts
}

// Len returns the number of files added.
func (w *Writer) Len() int { return len(w.entries) }

// Size returns the bytes of the archive so far (headers and data).
func (w *Writer) Size() uint64 { return w.off }

// Add records the file name holding data and returns its local header,
// which the caller writes just before data. The name is a relative
// slash-separated path (no "..", no leading "/").
func (w *Writer) Add(name string, data []byte) ([]byte, error) {
	switch {
	case w.closed:
		return nil, errors.New("framezip: Add after Close")
	case len(w.entries) >= MaxFiles:
		return nil, fmt.Errorf("framezip: more than %d files", MaxFiles)
	}
	if err := checkName(name); err != nil {
		return nil, err
	}
	hdrLen := uint64(localLen + len(name))
	if w.off+hdrLen+uint64(len(data)) > MaxBytes {
		return nil, fmt.Errorf("framezip: the archive would pass %d bytes", uint64(MaxBytes))
	}
	e := entry{name: name, crc: crc32.ChecksumIEEE(data), size: uint32(len(data)), off: uint32(w.off)}
	b := make([]byte, 0, hdrLen)
	b = binary.LittleEndian.AppendUint32(b, sigLocal)
	b = binary.LittleEndian.AppendUint16(b, versionStored)
	b = e.common(b)
	b = append(b, name...)
	w.entries = append(w.entries, e)
	w.off += hdrLen + uint64(len(data))
	return b, nil
}

// common appends the fields a local and a central header share, from the
// flags to the extra field's length.
func (e entry) common(b []byte) []byte {
	b = binary.LittleEndian.AppendUint16(b, flagUTF8)
	b = binary.LittleEndian.AppendUint16(b, methodStore)
	b = binary.LittleEndian.AppendUint16(b, dosTime0)
	b = binary.LittleEndian.AppendUint16(b, dosDate1980)
	b = binary.LittleEndian.AppendUint32(b, e.crc)
	b = binary.LittleEndian.AppendUint32(b, e.size) // compressed size: stored
	b = binary.LittleEndian.AppendUint32(b, e.size)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(e.name)))
	return binary.LittleEndian.AppendUint16(b, 0) // no extra field
}

// Close returns the central directory and the end record, which end the
// archive. The Writer takes no more files.
func (w *Writer) Close() ([]byte, error) {
	if w.closed {
		return nil, errors.New("framezip: Close twice")
	}
	w.closed = true
	var b []byte
	for _, e := range w.entries {
		b = binary.LittleEndian.AppendUint32(b, sigCentral)
		b = binary.LittleEndian.AppendUint16(b, madeByUnix)
		b = binary.LittleEndian.AppendUint16(b, versionStored)
		b = e.common(b)
		b = binary.LittleEndian.AppendUint16(b, 0) // comment length
		b = binary.LittleEndian.AppendUint16(b, 0) // disk number
		b = binary.LittleEndian.AppendUint16(b, 0) // internal attributes
		b = binary.LittleEndian.AppendUint32(b, modeFile)
		b = binary.LittleEndian.AppendUint32(b, e.off)
		b = append(b, e.name...)
	}
	dirLen := len(b)
	if w.off+uint64(dirLen)+endLen > MaxBytes {
		return nil, fmt.Errorf("framezip: the archive would pass %d bytes", uint64(MaxBytes))
	}
	n := uint16(len(w.entries))
	b = binary.LittleEndian.AppendUint32(b, sigEnd)
	b = binary.LittleEndian.AppendUint16(b, 0) // this disk
	b = binary.LittleEndian.AppendUint16(b, 0) // disk of the directory
	b = binary.LittleEndian.AppendUint16(b, n)
	b = binary.LittleEndian.AppendUint16(b, n)
	b = binary.LittleEndian.AppendUint32(b, uint32(dirLen))
	b = binary.LittleEndian.AppendUint32(b, uint32(w.off)) // where the directory starts
	b = binary.LittleEndian.AppendUint16(b, 0)             // no comment
	w.off += uint64(len(b))
	return b, nil
}

// checkName refuses names that would unpack outside the folder or that
// the format cannot hold.
func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("framezip: empty file name")
	case len(name) > MaxName:
		return fmt.Errorf("framezip: file name of %d bytes", len(name))
	case !utf8.ValidString(name):
		return fmt.Errorf("framezip: file name %q is not UTF-8", name)
	case strings.HasPrefix(name, "/") || strings.Contains(name, `\`):
		return fmt.Errorf("framezip: file name %q is not a relative slash-separated path", name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == "" || part == "." || part == ".." {
			return fmt.Errorf("framezip: file name %q has an empty, . or .. part", name)
		}
	}
	return nil
}
