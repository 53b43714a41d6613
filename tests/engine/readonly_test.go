//go:build integration

package engine

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/tests/internal/testenv"
)

// TestReadOnlyRoot runs the engine as on a device whose root filesystem
// is read-only: the binary, its links and daemon.json sit on a read-only
// mount, and daemon.json puts the root, the state and the socket on a
// writable partition.
func TestReadOnlyRoot(t *testing.T) {
	testenv.RequireRoot(t)
	dir, err := os.MkdirTemp("", "pr")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// The image of the read-only root: usr/bin with the binary and its
	// links, etc/petrel/daemon.json.
	img := filepath.Join(dir, "img")
	bindir := filepath.Join(img, "usr", "bin")
	if err := os.MkdirAll(bindir, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(testenv.Binary(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bindir, "petrel"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(filepath.Join(bindir, "petrel"), "--install", bindir).CombinedOutput(); err != nil {
		t.Fatalf("petrel --install: %v: %s", err, out)
	}
	part := filepath.Join(dir, "data") // the writable partition
	cfg := `{"graph": "` + part + `/lib", "state": "` + part + `/run", "hosts": ["unix://` + part + `/p.sock"],
		"cni-conf-dir": "` + part + `/net.d", "default-network-bridge": "ptro", "default-network-subnet": "10.204.1.0/24"}`
	if err := os.MkdirAll(filepath.Join(img, "etc", "petrel"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(img, "etc", "petrel", "daemon.json"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ro := filepath.Join(dir, "ro")
	if err := os.Mkdir(ro, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(img, ro, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		t.Fatalf("bind mount: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(ro, unix.MNT_DETACH) })
	if err := unix.Mount("", ro, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, ""); err != nil {
		t.Fatalf("remount read-only: %v", err)
	}
	if err := os.WriteFile(filepath.Join(ro, "probe"), nil, 0o644); !errors.Is(err, unix.EROFS) {
		t.Fatalf("the mount is not read-only: %v", err)
	}
	// An init script may run --install at every boot: with the links in
	// place it writes nothing and succeeds; where links are missing it
	// says why it cannot make them.
	robin := filepath.Join(ro, "usr", "bin")
	if out, err := exec.Command(filepath.Join(robin, "petrel"), "--install", robin).CombinedOutput(); err != nil {
		t.Errorf("petrel --install over the read-only links: %v: %s", err, out)
	}
	out, err := exec.Command(filepath.Join(robin, "petrel"), "--install", filepath.Join(ro, "etc")).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "read-only file system") {
		t.Errorf("petrel --install into a read-only directory: %v: %s", err, out)
	}

	d := &daemon{t: t, dir: dir, bin: filepath.Join(robin, "petrel"), petreld: filepath.Join(robin, "petreld"),
		configFile: filepath.Join(ro, "etc", "petrel", "daemon.json"),
		root:       filepath.Join(part, "lib"), state: filepath.Join(part, "run"), sock: filepath.Join(part, "p.sock"),
		rootfs: filepath.Join(dir, "rootfs"), bridge: "ptro"}
	testenv.BusyboxRootfs(t, d.rootfs)
	t.Cleanup(d.cleanup)
	d.start()

	if out := d.must(d.runArgs("--rm", "none", "echo", "hello from a read-only root")...); out != "hello from a read-only root" {
		t.Errorf("run printed %q", out)
	}
	d.must(d.runArgs("-d", "--name", "ro", "none", "sh", "-c", "echo up; exec sleep 1000")...)
	if out := d.must("exec", "ro", "echo", "exec"); out != "exec" {
		t.Errorf("exec printed %q", out)
	}
	d.waitFor("the log line", func() bool { return d.must("logs", "ro") == "up" })
	d.must("stop", "-t", "1", "ro")
	if code := d.inspect("ro", ".State.ExitCode"); code != "137" {
		t.Errorf("exit code %s after stop, want 137", code)
	}
	d.must("rm", "ro")
	// The engine's files are all on the writable partition.
	for _, p := range []string{d.root, d.state, d.sock} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%v", err)
		}
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "petreld.log")); strings.Contains(string(data), "read-only file system") {
		t.Errorf("petreld tried to write to the read-only root:\n%s", data)
	}
}
