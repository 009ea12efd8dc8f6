package framezip

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// build makes an archive of files (name, data pairs) as the page does:
// each header, then the data, then Close's bytes.
func build(t *testing.T, files ...string) []byte {
	t.Helper()
	var w Writer
	var out bytes.Buffer
	for i := 0; i < len(files); i += 2 {
		h, err := w.Add(files[i], []byte(files[i+1]))
		if err != nil {
			t.Fatal(err)
		}
		out.Write(h)
		out.WriteString(files[i+1])
	}
	end, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	out.Write(end)
	if w.Size() != uint64(out.Len()) {
		t.Errorf("Size() = %d, the archive has %d bytes", w.Size(), out.Len())
	}
	return out.Bytes()
}

// TestArchiveReadsBack reads the archive with the standard library's
// reader, which checks every signature, offset, size and CRC.
func TestArchiveReadsBack(t *testing.T) {
	png := "\x89PNG\r\n\x1a\n" + strings.Repeat("frame", 1000)
	files := []string{"step-000.png", png, "step-001.png", png + "x", "steps.txt", "step 0: the start\n", "empty.txt", ""}
	data := build(t, files...)
	r, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.File) != len(files)/2 {
		t.Fatalf("%d entries, want %d", len(r.File), len(files)/2)
	}
	for i, f := range r.File {
		if f.Name != files[2*i] || f.Method != zip.Store {
			t.Errorf("entry %d: %q method %d", i, f.Name, f.Method)
		}
		if want := time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC); !f.Modified.Equal(want) {
			t.Errorf("%s: modified %v, want %v", f.Name, f.Modified, want)
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc) // fails on a CRC mismatch
		rc.Close()
		if err != nil || string(got) != files[2*i+1] {
			t.Errorf("%s: read %d bytes (%v), want %d", f.Name, len(got), err, len(files[2*i+1]))
		}
	}
}

func TestArchiveIsDeterministic(t *testing.T) {
	a := build(t, "a.png", "one", "b.png", "two")
	b := build(t, "a.png", "one", "b.png", "two")
	if !bytes.Equal(a, b) {
		t.Error("the same files gave two archives")
	}
	if c := build(t, "a.png", "one", "b.png", "twO"); bytes.Equal(a, c) {
		t.Error("different data gave the same archive")
	}
}

func TestEmptyArchive(t *testing.T) {
	data := build(t)
	r, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil || len(r.File) != 0 || len(data) != endLen {
		t.Errorf("empty archive: %d bytes, %v", len(data), err)
	}
}

func TestBadNamesAndMisuse(t *testing.T) {
	for _, name := range []string{"", "/abs.png", "../up.png", "a//b", "a/./b", `a\b`, "bad\xff", strings.Repeat("n", MaxName+1)} {
		var w Writer
		if _, err := w.Add(name, nil); err == nil {
			t.Errorf("Add(%q) accepted", name)
		}
	}
	var w Writer
	if _, err := w.Add("dir/ok.png", []byte("x")); err != nil {
		t.Errorf("a name in a folder: %v", err)
	}
	if _, err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Add("late.png", nil); err == nil {
		t.Error("Add after Close accepted")
	}
	if _, err := w.Close(); err == nil {
		t.Error("a second Close accepted")
	}
}

func TestTooManyFiles(t *testing.T) {
	var w Writer
	for i := 0; i < MaxFiles; i++ {
		if _, err := w.Add(fmt.Sprintf("f%d", i), nil); err != nil {
			t.Fatalf("file %d: %v", i, err)
		}
	}
	if _, err := w.Add("one-more", nil); err == nil {
		t.Error("file 65536 accepted")
	}
	if w.Len() != MaxFiles {
		t.Errorf("Len() = %d", w.Len())
	}
}
