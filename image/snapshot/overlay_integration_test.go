//go:build integration

package snapshot

import (
	"os"
	"path/filepath"
	"testing"
)

func TestOverlayDriver(t *testing.T) {
	if !OverlaySupported() {
		if os.Getenv("CI") == "true" {
			t.Fatal("overlayfs needs root and kernel support")
		}
		t.Skip("overlayfs needs root and kernel support")
	}
	s, err := New(t.TempDir(), Overlay)
	if err != nil {
		t.Fatal(err)
	}
	chain := unpackBoth(t, s)
	// The child layer holds its diff only.
	if _, err := os.Stat(filepath.Join(s.Path(chain[1]), "bin/sh")); err == nil {
		t.Error("overlay layer holds its parent's files")
	}
	m, err := s.Prepare("c1", chain[1], nil)
	if err != nil {
		t.Fatal(err)
	}
	target := t.TempDir()
	if err := MountAt(m, target); err != nil {
		t.Fatal(err)
	}
	defer Unmount(target)
	if read(filepath.Join(target, "etc/motd")) != "hello again" || read(filepath.Join(target, "bin/sh")) != "sh" || read(filepath.Join(target, "app")) != "app" {
		t.Error("merged view wrong")
	}
	if _, err := os.Stat(filepath.Join(target, "etc/old")); err == nil {
		t.Error("whited-out file visible")
	}
	if err := os.WriteFile(filepath.Join(target, "bin/sh"), []byte("changed"), 0o755); err != nil {
		t.Fatal(err)
	}
	if read(filepath.Join(s.Path(chain[0]), "bin/sh")) != "sh" {
		t.Error("container write reached a lower layer")
	}
	if read(filepath.Join(s.UpperDir("c1"), "bin/sh")) != "changed" {
		t.Error("write not in the upper dir")
	}
	if err := Unmount(target); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveActive("c1"); err != nil {
		t.Fatal(err)
	}
}
