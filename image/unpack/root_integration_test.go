//go:build integration

package unpack

import (
	"archive/tar"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root")
		}
		t.Skip("needs root")
	}
}

func TestApplyOwnershipAndDevices(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	_, err := apply(t, root, Options{},
		E{Name: "home/u/", Type: tar.TypeDir, Uid: 1000, Gid: 1000, Mode: 0o750},
		E{Name: "home/u/f", Body: "x", Uid: 1000, Gid: 100, Mode: 0o2755},
		E{Name: "dev/null", Type: tar.TypeChar, Major: 1, Minor: 3, Mode: 0o666},
	)
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	unix.Stat(filepath.Join(root, "home/u/f"), &st)
	if st.Uid != 1000 || st.Gid != 100 || st.Mode&unix.S_ISGID == 0 {
		t.Errorf("f: uid %d gid %d mode %o", st.Uid, st.Gid, st.Mode)
	}
	unix.Stat(filepath.Join(root, "home/u"), &st)
	if st.Uid != 1000 || st.Mode&0o777 != 0o750 {
		t.Errorf("dir: uid %d mode %o", st.Uid, st.Mode)
	}
	unix.Lstat(filepath.Join(root, "dev/null"), &st)
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(st.Rdev) != 1 || unix.Minor(st.Rdev) != 3 {
		t.Errorf("dev/null mode %o rdev %d", st.Mode, st.Rdev)
	}
}

func TestApplyOverlayWhiteouts(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	_, err := apply(t, root, Options{Whiteouts: OverlayWhiteouts},
		E{Name: "a/.wh.gone", Body: ""}, E{Name: "o/.wh..wh..opq", Body: ""}, E{Name: "o/new", Body: "x"})
	if err != nil {
		if errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EPERM) {
			t.Skipf("filesystem of %s takes no trusted xattrs: %v", root, err)
		}
		t.Fatal(err)
	}
	var st unix.Stat_t
	unix.Lstat(filepath.Join(root, "a/gone"), &st)
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Errorf("whiteout mode %o rdev %d", st.Mode, st.Rdev)
	}
	buf := make([]byte, 4)
	if n, err := unix.Lgetxattr(filepath.Join(root, "o"), "trusted.overlay.opaque", buf); err != nil || string(buf[:n]) != "y" {
		t.Errorf("opaque xattr %q, %v", buf[:n], err)
	}
}
