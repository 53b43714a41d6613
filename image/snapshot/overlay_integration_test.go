//go:build integration

package snapshot

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/petrel-edge/petrel/image/digest"
	"github.com/petrel-edge/petrel/image/internal/regtest"
	"github.com/petrel-edge/petrel/image/manifest"
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

// TestOverlayDeepStack mounts more layers than fit mount(2)'s option page
// with full paths.
func TestOverlayDeepStack(t *testing.T) {
	if !OverlaySupported() {
		if os.Getenv("CI") == "true" {
			t.Fatal("overlayfs needs root and kernel support")
		}
		t.Skip("overlayfs needs root and kernel support")
	}
	root := filepath.Join(t.TempDir(), strings.Repeat("long-directory-name-", 4))
	s, err := New(root, Overlay)
	if err != nil {
		t.Fatal(err)
	}
	var diffs []digest.Digest
	var tars [][]byte
	for i := range 60 {
		tb := regtest.Tar(E{Name: fmt.Sprintf("layer%02d", i), Body: strconv.Itoa(i)})
		tars = append(tars, tb)
		diffs = append(diffs, digest.FromBytes(tb))
	}
	chain := manifest.ChainIDs(diffs)
	for i := range chain {
		var parent digest.Digest
		if i > 0 {
			parent = chain[i-1]
		}
		if _, err := s.Unpack(chain[i], parent, diffs[i], bytes.NewReader(tars[i])); err != nil {
			t.Fatal(err)
		}
	}
	m, err := s.Prepare("deep", chain[len(chain)-1], nil)
	if err != nil {
		t.Fatal(err)
	}
	target := t.TempDir()
	if err := MountAt(m, target); err != nil {
		t.Fatal(err)
	}
	defer Unmount(target)
	for _, i := range []int{0, 30, 59} {
		if got := read(filepath.Join(target, fmt.Sprintf("layer%02d", i))); got != strconv.Itoa(i) {
			t.Errorf("layer %d: %q", i, got)
		}
	}
	Unmount(target)
	s.RemoveActive("deep")
	for i := len(chain) - 1; i >= 0; i-- {
		s.Remove(chain[i])
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "l")); len(ents) != 0 {
		t.Errorf("%d short links left", len(ents))
	}
}
