package archive

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

func mustRoot(t *testing.T, dir string) *Root {
	t.Helper()
	r, err := OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func self() *[2]int { return &[2]int{os.Getuid(), os.Getgid()} }

// entries lists a tar stream's names (and link targets).
func entries(t *testing.T, data []byte) []string {
	t.Helper()
	var out []string
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		s := h.Name
		if h.Linkname != "" {
			s += " -> " + h.Linkname
		}
		out = append(out, s)
	}
}

func tarOf(t *testing.T, files map[string]string) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		body := files[n]
		h := &tar.Header{Name: n, Mode: 0o644, Typeflag: tar.TypeReg, Size: int64(len(body))}
		switch {
		case strings.HasSuffix(n, "/"):
			h.Typeflag, h.Size, h.Mode = tar.TypeDir, 0, 0o755
		case strings.HasPrefix(body, "->"):
			h.Typeflag, h.Size, h.Linkname = tar.TypeSymlink, 0, strings.TrimPrefix(body, "->")
			body = ""
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, body)
	}
	tw.Close()
	return &buf
}

func TestTar(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc/sub"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/sub/f"), []byte("f"), 0o600)
	os.Symlink("/etc", filepath.Join(root, "link"))
	os.Symlink("../../../../..", filepath.Join(root, "up"))
	r := mustRoot(t, root)
	tests := []struct {
		path string
		want string
	}{
		{"/etc/passwd", "passwd"},
		{"/etc", "etc/ etc/passwd etc/sub/ etc/sub/f"},
		{"/etc/.", "./ ./passwd ./sub/ ./sub/f"},
		{"/link", "link -> /etc"},    // a final symlink is archived as such
		{"/link/passwd", "passwd"},   // links before it are followed, inside the root
		{"/up/etc/passwd", "passwd"}, // ".." stops at the root
	}
	for _, tc := range tests {
		var buf bytes.Buffer
		if err := r.Tar(tc.path, &buf); err != nil {
			t.Errorf("%s: %v", tc.path, err)
			continue
		}
		if got := strings.Join(entries(t, buf.Bytes()), " "); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.path, got, tc.want)
		}
	}
	if _, err := r.Stat("/missing"); !os.IsNotExist(err) {
		t.Errorf("stat of a missing path: %v", err)
	}
	st, err := r.Stat("/link")
	if err != nil || st.Mode&os.ModeSymlink == 0 || st.LinkTarget != "/etc" || st.Name != "link" {
		t.Errorf("stat /link: %+v %v", st, err)
	}
}

// Neither a symlink in the root nor one made by the archive lets an
// entry land outside the root.
func TestUntarStaysInRoot(t *testing.T) {
	outside := t.TempDir()
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "dst"), 0o755)
	os.MkdirAll(filepath.Join(root, outside), 0o755)            // where the links lead, seen from the root
	os.Symlink(outside, filepath.Join(root, "dst", "hostlink")) // absolute: means root+outside
	os.Symlink("../../../../../../..", filepath.Join(root, "dst", "uplink"))
	r := mustRoot(t, root)
	arch := tarOf(t, map[string]string{
		"hostlink/a": "1",
		"uplink/b":   "2",
		"mine":       "->" + outside,
		"mine/c":     "3",
		"ok/":        "",
		"ok/d":       "4",
	})
	if err := r.Untar("/dst", arch, UntarOptions{Owner: self()}); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Fatalf("files escaped the root: %v", ents)
	}
	for p, want := range map[string]string{
		outside + "/a": "1", // root/<outside>/a: the link resolved inside the root
		"b":            "2",
		outside + "/c": "3",
		"dst/ok/d":     "4",
	} {
		got, err := os.ReadFile(filepath.Join(root, p))
		if err != nil || string(got) != want {
			t.Errorf("%s: %q %v, want %q", p, got, err, want)
		}
	}
}

func TestUntarBadInput(t *testing.T) {
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "file"), nil, 0o644)
	os.MkdirAll(filepath.Join(root, "dir/sub"), 0o755)
	r := mustRoot(t, root)
	tests := []struct {
		dir   string
		files map[string]string
		o     UntarOptions
		want  string
	}{
		{"/file", map[string]string{"a": "1"}, UntarOptions{}, "not a directory"},
		{"/missing", map[string]string{"a": "1"}, UntarOptions{}, "no such file"},
		{"/dir", map[string]string{"../evil": "1"}, UntarOptions{}, "climbs out"},
		{"/dir", map[string]string{"sub": "1"}, UntarOptions{}, "cannot overwrite directory"},
		{"/", map[string]string{"file/": ""}, UntarOptions{NoOverwriteDirNonDir: true}, "cannot overwrite non-directory"},
	}
	for _, tc := range tests {
		tc.o.Owner = self()
		err := r.Untar(tc.dir, tarOf(t, tc.files), tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %v: %v, want %q", tc.dir, tc.files, err, tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "evil")); err == nil {
		t.Error("../evil was written")
	}
}

func TestRebase(t *testing.T) {
	root := t.TempDir()
	r := mustRoot(t, root)
	arch := tarOf(t, map[string]string{"src/": "", "src/a": "1", "srcx": "2"})
	if err := r.Untar("/", arch, UntarOptions{Owner: self(), Rebase: [2]string{"src", "dst"}}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"dst/a", "srcx"} {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}

// The "./" entry changes the destination only when asked.
func TestRootAttrs(t *testing.T) {
	root := t.TempDir()
	os.Mkdir(filepath.Join(root, "d"), 0o755)
	r := mustRoot(t, root)
	arch := func() *bytes.Buffer {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		tw.WriteHeader(&tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o1777})
		tw.Close()
		return &buf
	}
	mode := func() os.FileMode {
		fi, _ := os.Stat(filepath.Join(root, "d"))
		return fi.Mode()
	}
	if err := r.Untar("/d", arch(), UntarOptions{Owner: self()}); err != nil || mode() != os.ModeDir|0o755 {
		t.Errorf("without RootAttrs: %v, mode %v", err, mode())
	}
	if err := r.Untar("/d", arch(), UntarOptions{Owner: self(), RootAttrs: true}); err != nil || mode() != os.ModeDir|os.ModeSticky|0o777 {
		t.Errorf("with RootAttrs: %v, mode %v", err, mode())
	}
}
