package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// wasmName is the Go program's file in the site; without it the page can
// only show an error.
const wasmName = "dist/mmuviz.wasm"

// exportStatic writes every file of the site under dir, which it creates if
// needed; existing files of the same names are replaced and others are left
// alone. The compressed siblings are not written: a static host compresses
// on its own. All URLs in the pages are relative, so the result works from
// any static host and any sub-path.
func exportStatic(files siteFiles, dir string) error {
	if files[wasmName] == nil {
		return errors.New(wasmName + " is missing from the embedded site: run `make wasm` and rebuild the server")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, name := range files.names() {
		dst := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := writeFileAtomic(dst, files[name].data); err != nil {
			return fmt.Errorf("writing %s: %w", name, err)
		}
	}
	return nil
}

// writeFileAtomic writes through a temporary file and a rename, so a static
// host never serves a half-written wasm.
func writeFileAtomic(dst string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".tmp-*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), dst)
}
