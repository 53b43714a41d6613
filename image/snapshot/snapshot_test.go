package snapshot

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/petrel-edge/petrel/image/digest"
	"github.com/petrel-edge/petrel/image/internal/regtest"
	"github.com/petrel-edge/petrel/image/manifest"
	"github.com/petrel-edge/petrel/image/unpack"
)

type E = regtest.Entry

var (
	base  = regtest.Tar(E{Name: "bin/", Type: tar.TypeDir}, E{Name: "bin/sh", Body: "sh"}, E{Name: "etc/motd", Body: "hello"}, E{Name: "etc/old", Body: "old"})
	child = regtest.Tar(E{Name: "etc/.wh.old"}, E{Name: "etc/motd", Body: "hello again"}, E{Name: "app", Body: "app"})
)

func unpackBoth(t *testing.T, s *Snapshotter) []digest.Digest {
	t.Helper()
	diffs := []digest.Digest{digest.FromBytes(base), digest.FromBytes(child)}
	chain := manifest.ChainIDs(diffs)
	if _, err := s.Unpack(chain[0], "", diffs[0], bytes.NewReader(regtest.Gzip(base))); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Unpack(chain[1], chain[0], diffs[1], bytes.NewReader(regtest.Zstd(child))); err != nil {
		t.Fatal(err)
	}
	return chain
}

func read(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return string(b)
}

func TestCopyDriver(t *testing.T) {
	root := t.TempDir()
	s, err := New(root, Copy)
	if err != nil {
		t.Fatal(err)
	}
	chain := unpackBoth(t, s)
	top := s.Path(chain[1])
	if read(filepath.Join(top, "etc/motd")) != "hello again" || read(filepath.Join(top, "bin/sh")) != "sh" {
		t.Errorf("top layer tree wrong")
	}
	if _, err := os.Stat(filepath.Join(top, "etc/old")); err == nil {
		t.Error("whiteout not applied")
	}
	if read(filepath.Join(s.Path(chain[0]), "etc/motd")) != "hello" {
		t.Error("parent layer changed")
	}
	if _, err := s.Unpack(chain[1], chain[0], digest.FromBytes(child), bytes.NewReader(child)); !errors.Is(err, ErrExists) {
		t.Errorf("second unpack: %v", err)
	}
	m, err := s.Prepare("c1", chain[1], nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != "bind" || read(filepath.Join(m.Source, "app")) != "app" {
		t.Errorf("mount %+v", m)
	}
	os.WriteFile(filepath.Join(m.Source, "app"), []byte("changed"), 0o644)
	if read(filepath.Join(top, "app")) != "app" {
		t.Error("container write reached the layer")
	}
	if acts, _ := s.Actives(); len(acts) != 1 || acts[0].Parent != chain[1] {
		t.Errorf("actives %+v", acts)
	}
	if err := s.RemoveActive("c1"); err != nil {
		t.Fatal(err)
	}
	// DropActive: gone from the actives at once, its files once settled.
	if _, err := s.Prepare("c2", chain[1], nil); err != nil {
		t.Fatal(err)
	}
	if err := s.DropActive("c2"); err != nil {
		t.Fatal(err)
	}
	if acts, _ := s.Actives(); len(acts) != 0 {
		t.Errorf("actives after DropActive: %+v", acts)
	}
	if err := s.DropActive("c2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second DropActive: %v, want ErrNotFound", err)
	}
	s.Settle()
	if ents, _ := os.ReadDir(filepath.Join(root, "tmp")); len(ents) != 0 {
		t.Errorf("tmp holds %d entries once settled", len(ents))
	}
	if _, err := s.Prepare("../x", chain[1], nil); err == nil {
		t.Error("accepted a key with a slash")
	}
	chainL, err := s.Chain(chain[1])
	if err != nil || len(chainL) != 2 || chainL[1].ChainID != chain[0] {
		t.Errorf("Chain = %+v, %v", chainL, err)
	}
}

// A layer that does not match its diff ID, or is hostile, leaves nothing.
func TestUnpackFailureLeavesNothing(t *testing.T) {
	root := t.TempDir()
	s, err := New(root, Copy)
	if err != nil {
		t.Fatal(err)
	}
	d := digest.FromBytes(base)
	if _, err := s.Unpack(d, "", digest.FromBytes([]byte("other")), bytes.NewReader(base)); !errors.Is(err, digest.ErrMismatch) {
		t.Errorf("diff ID mismatch: %v", err)
	}
	hostile := regtest.Tar(E{Name: "../../x", Body: "x"})
	if _, err := s.Unpack(digest.FromBytes(hostile), "", digest.FromBytes(hostile), bytes.NewReader(hostile)); !errors.Is(err, unpack.ErrHostile) {
		t.Errorf("hostile: %v", err)
	}
	gz := regtest.Gzip(base)
	if _, err := s.Unpack(d, "", d, bytes.NewReader(gz[:len(gz)/2])); err == nil {
		t.Error("truncated gzip accepted")
	}
	for _, sub := range []string{"layers", "tmp"} {
		if ents, _ := os.ReadDir(filepath.Join(root, sub)); len(ents) != 0 {
			t.Errorf("%s holds %d entries after failures", sub, len(ents))
		}
	}
}

func TestDriverIsKept(t *testing.T) {
	root := t.TempDir()
	if _, err := New(root, Copy); err != nil {
		t.Fatal(err)
	}
	if s, err := New(root, ""); err != nil || s.Driver() != Copy {
		t.Errorf("reopened with the default driver: %v", err)
	}
	if _, err := New(root, "zfs"); err == nil {
		t.Error("unknown driver accepted")
	}
	if OverlaySupported() {
		if _, err := New(root, Overlay); err == nil {
			t.Error("a copy store reopened as overlay")
		}
	}
}
