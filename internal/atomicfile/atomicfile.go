// Package atomicfile replaces files so that a crash at any moment leaves
// either the old file or the new one, never a mix: the data goes to a
// temporary file beside the target, is synced, renamed (or linked) into
// place, and the directory is synced so the rename itself survives a power
// loss.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrExist is returned by WriteNew when path already exists.
var ErrExist = fs.ErrExist

// WriteFile replaces path with data, created with perm. A path that exists
// and is not a regular file is refused.
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	if fi, err := os.Lstat(path); err == nil && !fi.Mode().IsRegular() {
		return fmt.Errorf("%s exists and is not a regular file", path)
	}
	p, err := Stage(path, data, perm)
	if err != nil {
		return err
	}
	return p.Replace()
}

// WriteNew creates path with data, failing with an error that matches
// ErrExist (errors.Is) rather than replacing a file already there. Readers
// never see a partly written file.
func WriteNew(path string, data []byte, perm fs.FileMode) error {
	p, err := Stage(path, data, perm)
	if err != nil {
		return err
	}
	return p.PlaceNew()
}

// Pending is a file written and synced under a temporary name beside its
// path, not yet in place: the first half of WriteFile or WriteNew, for a
// caller that must hold the file ready before a step it cannot undo (a
// password set on a database server) and put it in place right after.
// Exactly one of Replace, PlaceNew or Discard ends it.
type Pending struct {
	tmp  string
	Path string // where the file goes
}

// Stage writes data (mode perm) to a temporary file beside path.
func Stage(path string, data []byte, perm fs.FileMode) (*Pending, error) {
	tmp, err := stage(path, data, perm)
	if err != nil {
		return nil, err
	}
	return &Pending{tmp: tmp, Path: path}, nil
}

// Replace renames the file over Path atomically: a reader sees the old
// file or the new one, never a mix.
func (p *Pending) Replace() error {
	if err := os.Rename(p.tmp, p.Path); err != nil {
		p.Discard()
		return err
	}
	return syncDir(filepath.Dir(p.Path))
}

// PlaceNew links the file in at Path, failing with ErrExist rather than
// replacing a file already there.
func (p *Pending) PlaceNew() error {
	defer p.Discard()
	if err := os.Link(p.tmp, p.Path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s: %w", p.Path, ErrExist)
		}
		return err
	}
	return syncDir(filepath.Dir(p.Path))
}

// Discard removes the temporary file; after Replace or PlaceNew it does
// nothing.
func (p *Pending) Discard() { _ = os.Remove(p.tmp) }

// stage writes data to a synced temporary file beside path and returns its
// name; the caller renames or removes it.
func stage(path string, data []byte, perm fs.FileMode) (tmp string, err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return "", err
	}
	tmp = f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return "", err
	}
	// Chmod, not CreateTemp's 0600: perm may be wider (a report) or the
	// umask may not apply as the caller expects.
	if err = f.Chmod(perm); err != nil {
		return "", err
	}
	if err = f.Sync(); err != nil {
		return "", err
	}
	if err = f.Close(); err != nil {
		return "", err
	}
	return tmp, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
