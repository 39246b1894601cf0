package fsmode

import (
	"os"
	"path/filepath"
	"testing"
)

func mode(t *testing.T, p string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestCreateAndTighten(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "a", "b")
	if err := MkdirAll(dir); err != nil {
		t.Fatal(err)
	}
	if m := mode(t, filepath.Join(root, "a")); m != Dir {
		t.Errorf("parent %o", m)
	}
	f := filepath.Join(dir, "db")
	if err := CreateFile(f); err != nil || mode(t, f) != File {
		t.Fatalf("created %v %o", err, mode(t, f))
	}
	if err := os.Chmod(f, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := CreateFile(f); err != nil || mode(t, f) != 0o644 {
		t.Fatalf("CreateFile changed an existing file: %v %o", err, mode(t, f))
	}
	old, changed, err := Tighten(f)
	if err != nil || !changed || old != 0o644 || mode(t, f) != 0o600 {
		t.Fatalf("Tighten: %o %v %v -> %o", old, changed, err, mode(t, f))
	}
	if _, changed, _ := Tighten(f); changed {
		t.Error("tightened twice")
	}
	if _, changed, err := Tighten(filepath.Join(dir, "missing")); changed || err != nil {
		t.Errorf("missing: %v %v", changed, err)
	}
	_ = os.Chmod(dir, 0o755)
	_ = os.WriteFile(filepath.Join(dir, "meta.json"), nil, 0o666)
	_ = os.Chmod(filepath.Join(dir, "meta.json"), 0o666)
	_ = os.Chmod(f, 0o640)
	n, err := TightenTree(dir)
	if err != nil || n != 3 {
		t.Fatalf("TightenTree: %d %v", n, err)
	}
	for p, want := range map[string]os.FileMode{dir: 0o700, f: 0o600, filepath.Join(dir, "meta.json"): 0o600} {
		if m := mode(t, p); m != want {
			t.Errorf("%s: %o, want %o", p, m, want)
		}
	}
}
