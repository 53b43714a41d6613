package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFilesReplacesEachAndLeavesNoTemp(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	pa, pb := filepath.Join(a, "record.json"), filepath.Join(b, "hostconfig.json")
	if err := os.WriteFile(pa, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := WriteFiles([]File{
		{Path: pa, Data: []byte("new record"), Perm: 0o600},
		{Path: pb, Data: []byte("host config"), Perm: 0o640},
	}, filepath.Dir(a))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		path, want string
		perm       os.FileMode
	}{{pa, "new record", 0o600}, {pb, "host config", 0o640}} {
		got, err := os.ReadFile(f.path)
		if err != nil || string(got) != f.want {
			t.Errorf("%s: read %q, %v; want %q", f.path, got, err, f.want)
		}
		if fi, err := os.Stat(f.path); err != nil || fi.Mode().Perm() != f.perm {
			t.Errorf("%s: mode %v, %v; want %v", f.path, fi.Mode().Perm(), err, f.perm)
		}
		if ents, _ := os.ReadDir(filepath.Dir(f.path)); len(ents) != 1 {
			t.Errorf("%s: directory holds %d entries, want only the target", f.path, len(ents))
		}
	}
}

func TestWriteFilesFailureLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	err := WriteFiles([]File{
		{Path: filepath.Join(dir, "first"), Data: []byte("x"), Perm: 0o600},
		{Path: filepath.Join(dir, "missing", "second"), Data: []byte("y"), Perm: 0o600},
	})
	if err == nil {
		t.Fatal("a write into a missing directory succeeded")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("a failed batch left %d entries, want none (nothing was renamed yet)", len(ents))
	}
	if err := WriteFiles(nil, filepath.Join(dir, "missing")); err == nil {
		t.Error("syncing a missing directory succeeded")
	}
}

func TestSyncAllReturnsAnError(t *testing.T) {
	boom := errors.New("boom")
	ran := make([]bool, 3)
	err := SyncAll(
		func() error { ran[0] = true; return nil },
		func() error { ran[1] = true; return boom },
		func() error { ran[2] = true; return nil },
	)
	if !errors.Is(err, boom) {
		t.Errorf("SyncAll = %v, want %v", err, boom)
	}
	for i, r := range ran {
		if !r {
			t.Errorf("sync %d did not run", i)
		}
	}
}
