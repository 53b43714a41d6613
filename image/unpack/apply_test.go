package unpack

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/image/digest"
	"github.com/petrel-edge/petrel/image/internal/regtest"
)

type E = regtest.Entry

// resolvers runs f with openat2 (where the kernel has it) and with the
// portable walk.
func resolvers(t *testing.T, f func(t *testing.T, opt Options)) {
	t.Run("openat2", func(t *testing.T) {
		if !haveOpenat2() {
			t.Skip("kernel without openat2")
		}
		f(t, Options{})
	})
	t.Run("walk", func(t *testing.T) { f(t, Options{noOpenat2: true}) })
}

func apply(t *testing.T, root string, opt Options, entries ...E) (Result, error) {
	t.Helper()
	return Apply(root, bytes.NewReader(regtest.Tar(entries...)), opt)
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestApplyBasic(t *testing.T) {
	resolvers(t, func(t *testing.T, opt Options) {
		root := t.TempDir()
		res, err := apply(t, root, opt,
			E{Name: "bin/", Type: tar.TypeDir, Mode: 0o755},
			E{Name: "bin/busybox", Body: "#!elf", Mode: 0o4755},
			E{Name: "bin/sh", Type: tar.TypeSymlink, Linkname: "busybox"},
			E{Name: "bin/ls", Type: tar.TypeLink, Linkname: "bin/busybox"},
			E{Name: "./etc/passwd", Body: "root:x:0:0::/root:/bin/sh\n", Mode: 0o600},
			E{Name: "/tmp/", Type: tar.TypeDir, Mode: 0o1777},
			E{Name: "run/fifo", Type: tar.TypeFifo, Mode: 0o644},
			E{Name: "deep/a/b/c", Body: "x"},
			E{Name: "x", Body: "user", Xattrs: map[string]string{"user.petrel": "yes"}},
		)
		if err != nil {
			t.Fatal(err)
		}
		if res.Size != int64(len("#!elf")+len("root:x:0:0::/root:/bin/sh\n")+1+4) {
			t.Errorf("size %d", res.Size)
		}
		fi, err := os.Stat(filepath.Join(root, "bin/busybox"))
		if err != nil || fi.Mode()&os.ModeSetuid == 0 || fi.Mode().Perm() != 0o755 {
			t.Errorf("busybox mode %v, %v", fi.Mode(), err)
		}
		if l, _ := os.Readlink(filepath.Join(root, "bin/sh")); l != "busybox" {
			t.Errorf("bin/sh -> %q", l)
		}
		var a, b unix.Stat_t
		unix.Stat(filepath.Join(root, "bin/busybox"), &a)
		unix.Stat(filepath.Join(root, "bin/ls"), &b)
		if a.Ino != b.Ino || a.Nlink != 2 {
			t.Errorf("hard link: inodes %d %d, nlink %d", a.Ino, b.Ino, a.Nlink)
		}
		if fi, _ := os.Stat(filepath.Join(root, "tmp")); fi.Mode()&os.ModeSticky == 0 || fi.Mode().Perm() != 0o777 {
			t.Errorf("tmp mode %v", fi.Mode())
		}
		if fi, _ := os.Lstat(filepath.Join(root, "run/fifo")); fi.Mode()&os.ModeNamedPipe == 0 {
			t.Errorf("fifo mode %v", fi.Mode())
		}
		if readFile(t, filepath.Join(root, "deep/a/b/c")) != "x" {
			t.Error("deep file")
		}
		buf := make([]byte, 16)
		if n, err := unix.Getxattr(filepath.Join(root, "x"), "user.petrel", buf); err == nil && string(buf[:n]) != "yes" {
			t.Errorf("xattr %q", buf[:n])
		}
	})
}

func TestApplyWhiteouts(t *testing.T) {
	resolvers(t, func(t *testing.T, opt Options) {
		root := t.TempDir()
		if _, err := apply(t, root, opt,
			E{Name: "a/keep", Body: "1"}, E{Name: "a/gone", Body: "2"},
			E{Name: "o/old1", Body: "3"}, E{Name: "o/sub/old2", Body: "4"},
			E{Name: "d/x/y", Body: "5"},
		); err != nil {
			t.Fatal(err)
		}
		if _, err := apply(t, root, opt,
			E{Name: "a/.wh.gone", Body: ""},
			E{Name: "o/", Type: tar.TypeDir},
			E{Name: "o/new", Body: "6"},
			E{Name: "o/.wh..wh..opq", Body: ""},
			E{Name: ".wh.d", Body: ""},
			E{Name: "nothere/.wh.x", Body: ""},
		); err != nil {
			t.Fatal(err)
		}
		for p, want := range map[string]bool{"a/keep": true, "a/gone": false, "o/new": true, "o/old1": false, "o/sub": false, "d": false, "nothere": false} {
			_, err := os.Lstat(filepath.Join(root, p))
			if (err == nil) != want {
				t.Errorf("%s exists=%v, want %v", p, err == nil, want)
			}
		}
	})
}

// TestHostileLayers checks that no entry reaches outside the root: those
// that try fail with ErrHostile, and absolute symlinks are followed inside.
func TestHostileLayers(t *testing.T) {
	resolvers(t, func(t *testing.T, opt Options) {
		base := t.TempDir()
		outside := filepath.Join(base, "outside")
		os.Mkdir(outside, 0o755)
		secret := filepath.Join(outside, "secret")
		os.WriteFile(secret, []byte("host secret"), 0o644)
		tests := []struct {
			name    string
			entries []E
			hostile bool // must fail with ErrHostile
		}{
			{"dotdot", []E{{Name: "../outside/pwned", Body: "x"}}, true},
			{"inner dotdot", []E{{Name: "a/../../outside/pwned", Body: "x"}}, true},
			{"relative symlink escape", []E{{Name: "l", Type: tar.TypeSymlink, Linkname: "../outside"}}, true},
			{"deep relative symlink escape", []E{{Name: "a/b/l", Type: tar.TypeSymlink, Linkname: "../../../outside/secret"}}, true},
			{"hard link escape", []E{{Name: "h", Type: tar.TypeLink, Linkname: "../outside/secret"}}, true},
			{"hard link to root", []E{{Name: "h", Type: tar.TypeLink, Linkname: "/"}}, true},
			{"bad whiteout", []E{{Name: "a/.wh..", Body: ""}}, true},
			{"absolute symlink then write", []E{{Name: "l", Type: tar.TypeSymlink, Linkname: outside}, {Name: "l/pwned", Body: "x"}}, false},
			{"symlink chain then write", []E{
				{Name: "l1", Type: tar.TypeSymlink, Linkname: "/l2"},
				{Name: "l2", Type: tar.TypeSymlink, Linkname: "l3/.."},
				{Name: "l3", Type: tar.TypeSymlink, Linkname: outside + "/x"},
				{Name: "l1/" + strings.TrimPrefix(outside, "/") + "/pwned", Body: "x"}}, false},
			{"dotdot through absolute symlink", []E{{Name: "l", Type: tar.TypeSymlink, Linkname: "/"}, {Name: "l/x", Type: tar.TypeSymlink, Linkname: "/../../../../" + strings.TrimPrefix(outside, "/")}, {Name: "l/x/pwned", Body: "x"}}, false},
			{"hard link through symlink", []E{{Name: "l", Type: tar.TypeSymlink, Linkname: outside}, {Name: "h", Type: tar.TypeLink, Linkname: "l/secret"}}, false},
			{"whiteout through symlink", []E{{Name: "l", Type: tar.TypeSymlink, Linkname: outside}, {Name: "l/.wh.secret", Body: ""}}, false},
			{"overwrite symlink to outside", []E{{Name: "f", Type: tar.TypeSymlink, Linkname: secret}, {Name: "f", Body: "overwritten"}}, false},
			{"symlink loop", []E{{Name: "a", Type: tar.TypeSymlink, Linkname: "b"}, {Name: "b", Type: tar.TypeSymlink, Linkname: "a"}, {Name: "a/x", Body: "x"}}, false},
		}
		for _, tt := range tests {
			root := filepath.Join(base, "root-"+strings.ReplaceAll(tt.name, " ", "-"))
			os.Mkdir(root, 0o755)
			_, err := apply(t, root, opt, tt.entries...)
			if tt.hostile && !errors.Is(err, ErrHostile) {
				t.Errorf("%s: Apply = %v, want ErrHostile", tt.name, err)
			}
			confinedOK := map[string]bool{"absolute symlink then write": true, "symlink chain then write": true,
				"dotdot through absolute symlink": true, "whiteout through symlink": true, "overwrite symlink to outside": true}
			if confinedOK[tt.name] && err != nil {
				t.Errorf("%s: Apply = %v, want success inside the root", tt.name, err)
			}
			// Whatever happened, the outside is as it was.
			ents, _ := os.ReadDir(outside)
			if len(ents) != 1 || readFile(t, secret) != "host secret" {
				t.Fatalf("%s: the layer changed %s (%d entries)", tt.name, outside, len(ents))
			}
			var st unix.Stat_t
			if unix.Stat(secret, &st); st.Nlink != 1 {
				t.Fatalf("%s: %s got a hard link", tt.name, secret)
			}
		}
		// The confined write landed inside the root.
		inside := filepath.Join(base, "root-absolute-symlink-then-write", outside, "pwned")
		if readFile(t, inside) != "x" {
			t.Errorf("confined write missing at %s", inside)
		}
	})
}

func TestCompression(t *testing.T) {
	tarBytes := regtest.Tar(E{Name: "f", Body: strings.Repeat("compress me ", 1000)})
	want := digest.FromBytes(tarBytes)
	for name, blob := range map[string][]byte{"plain": tarBytes, "gzip": regtest.Gzip(tarBytes), "zstd": regtest.Zstd(tarBytes)} {
		res, err := Apply(t.TempDir(), bytes.NewReader(blob), Options{})
		if err != nil || res.DiffID != want {
			t.Errorf("%s: diff ID %s, %v; want %s", name, res.DiffID, err, want)
		}
	}
	gz := regtest.Gzip(tarBytes)
	for name, blob := range map[string][]byte{"gzip": gz[:len(gz)/2], "zstd": regtest.Zstd(tarBytes)[:40], "tar": tarBytes[:700]} {
		_, err := Apply(t.TempDir(), bytes.NewReader(blob), Options{})
		if err == nil || !strings.Contains(err.Error(), "truncated") && !strings.Contains(err.Error(), "EOF") {
			t.Errorf("truncated %s: %v", name, err)
		}
	}
}

// FuzzApply feeds arbitrary layers to Apply and checks that nothing
// appears outside the root.
func FuzzApply(f *testing.F) {
	f.Add(regtest.Tar(E{Name: "a/b", Body: "x"}, E{Name: "l", Type: tar.TypeSymlink, Linkname: "/a"}, E{Name: "l/c", Body: "y"}))
	f.Add(regtest.Tar(E{Name: "../x", Body: "x"}))
	f.Add(regtest.Tar(E{Name: "h", Type: tar.TypeLink, Linkname: "a"}, E{Name: "a/.wh..wh..opq"}))
	f.Add(regtest.Gzip(regtest.Tar(E{Name: "d/", Type: tar.TypeDir}, E{Name: "d/.wh.x"})))
	f.Add([]byte("not a tar"))
	f.Fuzz(func(t *testing.T, layer []byte) {
		base := fastTempDir(t)
		root := filepath.Join(base, "root")
		os.Mkdir(root, 0o755)
		yes := true
		Apply(root, bytes.NewReader(layer), Options{Rootless: &yes})
		ents, err := os.ReadDir(base)
		if err != nil || len(ents) != 1 {
			t.Fatalf("layer wrote outside its root: %v", ents)
		}
	})
}

// fastTempDir prefers tmpfs: on disks mounted with discard, removing the
// many small trees a fuzzer makes is slower than the fuzzing.
func fastTempDir(t *testing.T) string {
	dir, err := os.MkdirTemp("/dev/shm", "petrel-unpack-")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
