//go:build integration

package dropin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/bench/busybox"
)

// image is the tag of the busybox test image every engine loads.
const image = "localhost/busybox:dropin"

// need stops the test for a missing prerequisite: a failure under CI=true,
// else a skip.
func need(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("missing prerequisite: "+format, args...)
	}
	t.Skipf("missing prerequisite: "+format, args...)
}

// requireRoot stops the test when not run as root.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		need(t, "root (engines create namespaces, mounts and cgroups)")
	}
}

// lookPath returns the absolute path of an engine program, or stops the
// test naming the Debian package that provides it.
func lookPath(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		need(t, "%s (apt-get install %s): %v", name, pkg, err)
	}
	return p
}

// runtimeUnderTest returns the runc-compatible runtime the engines get in
// runc's place: $PETREL_DROPIN_RUNTIME when set (to check the harness with
// crun or runc), else $PETREL_BIN called through a petrel-runtime symlink.
func runtimeUnderTest(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PETREL_DROPIN_RUNTIME"); p != "" {
		path, err := exec.LookPath(p)
		if err != nil {
			t.Fatalf("PETREL_DROPIN_RUNTIME: %v", err)
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			t.Fatal(err)
		}
		return abs
	}
	bin := os.Getenv("PETREL_BIN")
	if bin == "" {
		need(t, "PETREL_BIN, the petrel binary (make build; PETREL_BIN=$PWD/bin/petrel)")
	}
	bin, err := filepath.Abs(bin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		need(t, "PETREL_BIN: %v (make build)", err)
	}
	link := filepath.Join(t.TempDir(), "petrel-runtime")
	if err := os.Symlink(bin, link); err != nil {
		t.Fatal(err)
	}
	return link
}

// workDir returns a fresh directory for an engine's storage, state and
// sockets (short, for socket paths), removed with every mount under it when
// the test ends. Call it before starting anything that lives in it, so that
// its clean-up runs last.
func workDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "dropin-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unmountUnder(t, dir)
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("remove %s: %v", dir, err)
		}
	})
	return dir
}

// unmountUnder detaches every mount at or below dir, deepest first.
func unmountUnder(t *testing.T, dir string) {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Errorf("unmount under %s: %v", dir, err)
		return
	}
	var points []string
	for l := range strings.Lines(string(b)) {
		f := strings.Fields(l)
		if len(f) < 5 {
			continue
		}
		if p := f[4]; p == dir || strings.HasPrefix(p, dir+"/") {
			points = append(points, p)
		}
	}
	slices.SortFunc(points, func(a, b string) int { return len(b) - len(a) })
	for _, p := range points {
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			t.Errorf("unmount %s: %v", p, err)
		}
	}
}

// removeCgroup removes the cgroup name (and the cgroups below it) from every
// hierarchy under /sys/fs/cgroup, retrying while processes leave it.
func removeCgroup(t *testing.T, name string) {
	t.Helper()
	hier, _ := filepath.Glob("/sys/fs/cgroup/*")
	for _, h := range append(hier, "/sys/fs/cgroup") {
		top := filepath.Join(h, name)
		if _, err := os.Stat(top); err != nil {
			continue
		}
		var dirs []string
		filepath.WalkDir(top, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		slices.SortFunc(dirs, func(a, b string) int { return len(b) - len(a) })
		for _, d := range dirs {
			var err error
			for range 50 {
				if err = unix.Rmdir(d); err == nil || errors.Is(err, unix.ENOENT) {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if err != nil && !errors.Is(err, unix.ENOENT) {
				t.Errorf("remove cgroup %s: %v", d, err)
			}
		}
	}
}

// imageArchive writes the busybox test image as a docker-archive in dir.
func imageArchive(t *testing.T, dir string) string {
	t.Helper()
	if _, err := os.Stat(busybox.HostBinary); err != nil {
		need(t, "%s (apt-get install busybox-static)", busybox.HostBinary)
	}
	rootfs := filepath.Join(dir, "image-rootfs")
	if err := busybox.HostRootfs(rootfs); err != nil {
		t.Fatal(err)
	}
	tarPath := filepath.Join(dir, "busybox.tar")
	f, err := os.Create(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := busybox.WriteDockerArchive(f, rootfs, image, busybox.ImageConfig{}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(rootfs); err != nil {
		t.Fatal(err)
	}
	return tarPath
}

// result is the outcome of one engine command.
type result struct {
	stdout, stderr string
	code           int
}

// commandTimeout bounds each engine command.
const commandTimeout = 90 * time.Second

// run runs an engine command with env added to the environment and returns
// its output and exit code; it fails the test only if the command cannot
// run at all (or times out).
func run(t *testing.T, env []string, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	t.Logf("$ %s %s  (%v)", name, strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("%s %s: timed out after %v\nstdout: %s\nstderr: %s", name, strings.Join(args, " "), commandTimeout, r.stdout, r.stderr)
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("%s: %v", name, err)
	}
	if r.code != 0 || testing.Verbose() {
		t.Logf("exit %d\nstdout: %s\nstderr: %s", r.code, strings.TrimSpace(r.stdout), strings.TrimSpace(r.stderr))
	}
	return r
}

// must is run that fails the test unless the command exits 0.
func must(t *testing.T, env []string, name string, args ...string) result {
	t.Helper()
	r := run(t, env, name, args...)
	if r.code != 0 {
		t.Fatalf("%s %s: exit %d: %s", name, strings.Join(args, " "), r.code, strings.TrimSpace(r.stderr))
	}
	return r
}

// A daemon is an engine daemon started by a test, in its own session, with
// its output in a log file.
type daemon struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// startDaemon starts a daemon and stops it when the test ends, printing
// the end of its log if the test failed.
func startDaemon(t *testing.T, log, name string, args ...string) *daemon {
	t.Helper()
	f, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	d := &daemon{name: filepath.Base(name), cmd: cmd, log: log, done: make(chan struct{})}
	go func() { d.err = cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		d.stop(t)
		if t.Failed() {
			t.Logf("%s log (%s), last lines:\n%s", d.name, log, tail(log, 40))
		}
	})
	return d
}

// stop ends the daemon with SIGTERM, then SIGKILL after 20 seconds.
func (d *daemon) stop(t *testing.T) {
	t.Helper()
	select {
	case <-d.done:
		return
	default:
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(20 * time.Second):
		t.Errorf("%s did not stop on SIGTERM within 20s; killing it", d.name)
		d.cmd.Process.Kill()
		<-d.done
	}
}

// waitSocket waits until the daemon accepts connections on the unix socket.
func (d *daemon) waitSocket(t *testing.T, sock string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-d.done:
			t.Fatalf("%s exited (%v) before listening on %s:\n%s", d.name, d.err, sock, tail(d.log, 40))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not listening on %s after 60s:\n%s", d.name, sock, tail(d.log, 40))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// killByArg kills the processes whose command line holds arg (a path unique
// to this test, such as its containerd socket): the shims a test's
// containerd started that outlive it after a failure.
func killByArg(t *testing.T, arg string) {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !slices.Contains(strings.Split(string(b), "\x00"), arg) {
			continue
		}
		var pid int
		if _, err := fmt.Sscanf(p, "/proc/%d/cmdline", &pid); err != nil || pid == os.Getpid() {
			continue
		}
		t.Logf("killing leftover process %d: %s", pid, strings.ReplaceAll(string(b), "\x00", " "))
		unix.Kill(pid, unix.SIGKILL)
	}
}

// startContainerd starts a private containerd with its root, state, sockets
// and plugin directories under dir and returns its socket. The CRI plugin is
// off: the tests speak containerd's own API (ctr, dockerd).
func startContainerd(t *testing.T, dir string) string {
	t.Helper()
	bin := lookPath(t, "containerd", "containerd")
	lookPath(t, "containerd-shim-runc-v2", "containerd")
	sock := filepath.Join(dir, "containerd.sock")
	conf := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = %q

[ttrpc]
  address = %q

[plugins."io.containerd.internal.v1.opt"]
  path = %q
`, filepath.Join(dir, "containerd/root"), filepath.Join(dir, "containerd/state"), sock, sock+".ttrpc", filepath.Join(dir, "containerd/opt"))
	confPath := filepath.Join(dir, "containerd.toml")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	// Registered before the daemon, so it runs after the daemon stopped.
	t.Cleanup(func() { killByArg(t, sock) })
	d := startDaemon(t, filepath.Join(dir, "containerd.log"), bin, "--config", confPath)
	d.waitSocket(t, sock)
	return sock
}
