//go:build integration

package dropin

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// podman is a podman with private storage, run state, network config and
// cgroup parent, calling the runtime under test.
type podman struct {
	bin     string
	env     []string
	global  []string // options before the command
	cgroup  string
	runtime string
}

func newPodman(t *testing.T) *podman {
	t.Helper()
	requireRoot(t)
	bin := lookPath(t, "podman", "podman")
	lookPath(t, "conmon", "conmon")
	rt := runtimeUnderTest(t)
	dir := workDir(t)
	// Root lacks CAP_SYS_RESOURCE on some hosts: podman's default rlimits
	// (1048576 open files and processes) would fail; no systemd either.
	conf := `[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
`
	storage := fmt.Sprintf("[storage]\ndriver = \"overlay\"\ngraphroot = %q\nrunroot = %q\n",
		filepath.Join(dir, "root"), filepath.Join(dir, "runroot"))
	for name, text := range map[string]string{"containers.conf": conf, "storage.conf": storage} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := &podman{
		bin: bin,
		env: []string{
			"CONTAINERS_CONF=" + filepath.Join(dir, "containers.conf"),
			"CONTAINERS_STORAGE_CONF=" + filepath.Join(dir, "storage.conf"),
		},
		global: []string{
			"--root", filepath.Join(dir, "root"),
			"--runroot", filepath.Join(dir, "runroot"),
			"--tmpdir", filepath.Join(dir, "tmp"),
			"--network-config-dir", filepath.Join(dir, "net"),
			"--runtime", rt,
		},
		cgroup:  fmt.Sprintf("petrel-dropin-podman-%d", os.Getpid()),
		runtime: rt,
	}
	t.Cleanup(func() {
		p.run(t, "rm", "--all", "--force", "--time", "0")
		removeCgroup(t, p.cgroup)
	})
	p.must(t, "load", "--input", imageArchive(t, dir))
	return p
}

func (p *podman) run(t *testing.T, args ...string) result {
	t.Helper()
	return run(t, p.env, p.bin, append(p.global, args...)...)
}

func (p *podman) must(t *testing.T, args ...string) result {
	t.Helper()
	return must(t, p.env, p.bin, append(p.global, args...)...)
}

// runArgs are the options of every `podman run`: no network (podman's
// default bridge would take 10.88.0.0/16 on the host) and a private cgroup
// parent that the test removes.
func (p *podman) runArgs(extra ...string) []string {
	return append([]string{"run", "--network", "none", "--cgroup-parent", "/" + p.cgroup}, extra...)
}

func TestPodman(t *testing.T) {
	p := newPodman(t)

	t.Run("true", func(t *testing.T) {
		p.must(t, p.runArgs("--rm", image, "true")...)
	})

	t.Run("output and exit code", func(t *testing.T) {
		r := p.run(t, p.runArgs("--rm", image, "sh", "-c", "echo hi; echo oops >&2; exit 3")...)
		if r.code != 3 || r.stdout != "hi\n" || !strings.Contains(r.stderr, "oops") {
			t.Errorf("podman run: exit %d, stdout %q, stderr %q; want exit 3, stdout \"hi\\n\", stderr with \"oops\"", r.code, r.stdout, r.stderr)
		}
	})

	t.Run("inspect names the runtime", func(t *testing.T) {
		p.must(t, p.runArgs("--name", "inspected", image, "true")...)
		got := strings.TrimSpace(p.must(t, "inspect", "--format", "{{.OCIRuntime}}", "inspected").stdout)
		p.must(t, "rm", "inspected")
		if got != p.runtime {
			t.Errorf("container's OCI runtime = %q, want %q", got, p.runtime)
		}
	})

	t.Run("terminal", func(t *testing.T) {
		// The runtime hands conmon the pty master via --console-socket.
		r := p.must(t, p.runArgs("--rm", "--tty", image, "tty")...)
		if !strings.HasPrefix(r.stdout, "/dev/pts/") {
			t.Errorf("tty in the container printed %q, want /dev/pts/N", r.stdout)
		}
	})

	t.Run("pause and unpause", func(t *testing.T) {
		id := strings.TrimSpace(p.must(t, p.runArgs("--detach", image, "sleep", "1000")...).stdout)
		defer p.run(t, "rm", "--force", "--time", "0", id)
		p.must(t, "pause", id)
		if st := strings.TrimSpace(p.must(t, "inspect", "--format", "{{.State.Status}}", id).stdout); st != "paused" {
			t.Errorf("status after pause = %q, want paused", st)
		}
		p.must(t, "unpause", id)
		if st := strings.TrimSpace(p.must(t, "inspect", "--format", "{{.State.Status}}", id).stdout); st != "running" {
			t.Errorf("status after unpause = %q, want running", st)
		}
		p.must(t, "exec", id, "true")
	})

	t.Run("detached, exec, stop", func(t *testing.T) {
		id := strings.TrimSpace(p.must(t, p.runArgs("--detach", image, "sleep", "1000")...).stdout)
		defer p.run(t, "rm", "--force", "--time", "0", id)
		if st := strings.TrimSpace(p.must(t, "inspect", "--format", "{{.State.Status}}", id).stdout); st != "running" {
			t.Errorf("status after run --detach = %q, want running", st)
		}
		r := p.run(t, "exec", id, "sh", "-c", "echo from-exec; exit 4")
		if r.code != 4 || r.stdout != "from-exec\n" {
			t.Errorf("podman exec: exit %d, stdout %q; want 4, \"from-exec\\n\"", r.code, r.stdout)
		}
		p.must(t, "stop", "--time", "1", id)
		if st := strings.TrimSpace(p.must(t, "inspect", "--format", "{{.State.Status}}", id).stdout); st != "exited" {
			t.Errorf("status after stop = %q, want exited", st)
		}
		p.must(t, "rm", id)
	})
}
