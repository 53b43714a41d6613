package securepath

import (
	"os"
	"path/filepath"
	"testing"
)

func TestSecurePath(t *testing.T) {
	root := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "a/b"), 0o755))
	must(os.Symlink("/etc", filepath.Join(root, "abs")))
	must(os.Symlink("../../../../..", filepath.Join(root, "a/up")))
	must(os.Symlink("b", filepath.Join(root, "a/rel")))
	must(os.Symlink("loop2", filepath.Join(root, "loop1")))
	must(os.Symlink("loop1", filepath.Join(root, "loop2")))
	tests := []struct {
		in, want string
		err      bool
	}{
		{"/", "/", false},
		{"/a/b", "/a/b", false},
		{"/abs/passwd", "/etc/passwd", false},
		{"/a/up/etc", "/etc", false},
		{"/../../etc", "/etc", false},
		{"/a/rel/c", "/a/b/c", false},
		{"/missing/x", "/missing/x", false},
		{"a/b", "/a/b", false},
		{"/loop1", "", true},
	}
	for _, tc := range tests {
		got, err := Join(root, tc.in)
		if tc.err {
			if err == nil {
				t.Errorf("%s: resolved to %s, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != filepath.Join(root, tc.want) {
			t.Errorf("%s: got %s, %v; want %s", tc.in, got, err, filepath.Join(root, tc.want))
		}
	}
}
