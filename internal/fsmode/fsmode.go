// Package fsmode keeps the files the service creates (database, search
// index, pid file, keys) private to the service's user: directories 0700,
// files 0600, and existing ones found readable by others tightened.
package fsmode

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// Modes of what the service creates.
const (
	Dir  os.FileMode = 0o700
	File os.FileMode = 0o600
)

// MkdirAll creates dir and its missing parents with mode Dir; existing
// directories are left as they are (they may be shared, such as /data).
func MkdirAll(dir string) error { return os.MkdirAll(dir, Dir) }

// Tighten takes group and other permissions off path when it exists and
// has any. It reports the mode found when it changed something; a missing
// path is no error.
func Tighten(path string) (old os.FileMode, changed bool, err error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil || fi.Mode()&fs.ModeSymlink != 0 {
		return 0, false, err
	}
	perm := fi.Mode().Perm()
	if perm&0o077 == 0 {
		return perm, false, nil
	}
	if err := os.Chmod(path, perm&^0o077); err != nil {
		return perm, false, err
	}
	return perm, true, nil
}

// TightenTree applies Tighten to dir and everything below it and returns
// how many entries it changed.
func TightenTree(dir string) (int, error) {
	n := 0
	err := filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		_, changed, err := Tighten(path)
		if changed {
			n++
		}
		return err
	})
	return n, err
}

// CreateFile creates path with mode File when it does not exist yet, so a
// library that opens it afterwards (SQLite) keeps that mode.
func CreateFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, File)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return f.Close()
}
