// Package testenv holds what Petrel's end-to-end tests share: the root
// and prerequisite checks (fatal under CI=true, a skip otherwise), the
// petrel binary under test, and busybox bundles.
package testenv

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Require fails the test under CI=true and skips it otherwise when ok is
// false: CI must run every suite, a developer's machine may lack things.
func Require(t testing.TB, ok bool, what string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("missing prerequisite: %s", what)
	}
	t.Skipf("missing prerequisite: %s", what)
}

// RequireRoot needs uid 0.
func RequireRoot(t testing.TB) {
	t.Helper()
	Require(t, os.Geteuid() == 0, "root")
}

// LookPath returns the path of a program or fails/skips.
func LookPath(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	Require(t, err == nil, name+" in $PATH")
	return p
}

var build struct {
	once sync.Once
	path string
	err  error
}

// Binary returns the petrel binary under test: $PETREL_BIN, or one built
// once per test process from this checkout.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("PETREL_BIN"); p != "" {
		return p
	}
	build.once.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		top := filepath.Join(filepath.Dir(file), "..", "..", "..")
		dir, err := os.MkdirTemp("", "petrel-bin-")
		if err != nil {
			build.err = err
			return
		}
		build.path = filepath.Join(dir, "petrel")
		cmd := exec.Command("go", "build", "-o", build.path, ".")
		cmd.Dir = top
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = &buildError{string(out), err}
		}
	})
	if build.err != nil {
		t.Fatalf("build petrel: %v", build.err)
	}
	return build.path
}

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return e.err.Error() + ": " + e.out }

// Link makes dir/name a symlink to the petrel binary and returns it, so
// the binary runs as that applet.
func Link(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.Symlink(Binary(t), p); err != nil {
		t.Fatal(err)
	}
	return p
}

// BusyboxRootfs fills dir with a static busybox and its applet links.
func BusyboxRootfs(t testing.TB, dir string) {
	t.Helper()
	bb := "/bin/busybox"
	_, err := os.Stat(bb)
	Require(t, err == nil, "static busybox at /bin/busybox (Debian busybox-static)")
	for _, d := range []string{"bin", "proc", "sys", "dev", "tmp", "etc", "root"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bin", "busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bb, "--list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range strings.Fields(string(out)) {
		if a == "busybox" || strings.Contains(a, "/") {
			continue
		}
		os.Symlink("busybox", filepath.Join(dir, "bin", a))
	}
	os.WriteFile(filepath.Join(dir, "etc", "passwd"), []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "etc", "group"), []byte("root:x:0:\nnogroup:x:65534:\n"), 0o644)
}

// Bundle makes a busybox bundle with petrel-runtime's default spec, lets
// mutate change it, and returns the bundle directory.
func Bundle(t testing.TB, mutate func(*specs.Spec)) string {
	t.Helper()
	dir := t.TempDir()
	BusyboxRootfs(t, filepath.Join(dir, "rootfs"))
	out, err := exec.Command(Binary(t), "runtime", "spec", "--bundle", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("petrel runtime spec: %v: %s", err, out)
	}
	WriteSpec(t, dir, func(s *specs.Spec) {
		s.Process.Terminal = false
		if mutate != nil {
			mutate(s)
		}
	})
	return dir
}

// WriteSpec rewrites bundle/config.json through mutate.
func WriteSpec(t testing.TB, bundle string, mutate func(*specs.Spec)) {
	t.Helper()
	p := filepath.Join(bundle, "config.json")
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	mutate(&s)
	if data, err = json.MarshalIndent(&s, "", "  "); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// BuildVersion builds the petrel binary of this checkout as the Makefile
// does (static, stripped, trimmed) with version stamped in, writes it to
// out and returns out. Two calls with different versions give the "old"
// and "new" binaries of an update from one tree.
func BuildVersion(t testing.TB, out, version string) string {
	t.Helper()
	LookPath(t, "go")
	_, file, _, _ := runtime.Caller(0)
	top := filepath.Join(filepath.Dir(file), "..", "..", "..")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out,
		"-ldflags", "-s -w -X github.com/petrel-edge/petrel/applets/version.Version="+version, ".")
	cmd.Dir = top
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if data, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build petrel %s: %v: %s", version, err, data)
	}
	return out
}
