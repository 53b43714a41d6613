//go:build integration

package dropin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// docker is the docker CLI against a private dockerd (on a private
// containerd) that knows the runtime under test as "petrel".
type docker struct {
	bin string
	env []string
}

func (d *docker) run(t *testing.T, args ...string) result {
	t.Helper()
	return run(t, d.env, d.bin, args...)
}

func (d *docker) must(t *testing.T, args ...string) result {
	t.Helper()
	return must(t, d.env, d.bin, args...)
}

// dockerCLI prefers Debian's client, the one released with its dockerd;
// any client negotiates the API version.
func dockerCLI(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/usr/bin/docker"); err == nil {
		return "/usr/bin/docker"
	}
	p, err := exec.LookPath("docker")
	if err != nil {
		need(t, "docker (apt-get install docker.io): %v", err)
	}
	return p
}

func TestDocker(t *testing.T) {
	requireRoot(t)
	dockerd := lookPath(t, "dockerd", "docker.io")
	d := &docker{bin: dockerCLI(t)}
	rt := runtimeUnderTest(t)
	dir := workDir(t)
	cgroup := fmt.Sprintf("petrel-dropin-docker-%d", os.Getpid())
	t.Cleanup(func() { removeCgroup(t, cgroup) })
	csock := startContainerd(t, dir)

	sock := filepath.Join(dir, "docker.sock")
	// dockerd 20.10 writes a trust key, by default to /etc/docker/key.json.
	conf := fmt.Sprintf("{\"deprecated-key-path\": %q}\n", filepath.Join(dir, "key.json"))
	if err := os.WriteFile(filepath.Join(dir, "daemon.json"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	dd := startDaemon(t, filepath.Join(dir, "dockerd.log"), dockerd,
		"--host", "unix://"+sock,
		"--containerd", csock,
		"--containerd-namespace", "petrel-dropin-moby",
		"--containerd-plugins-namespace", "petrel-dropin-plugins",
		"--data-root", filepath.Join(dir, "docker"),
		"--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "docker.pid"),
		"--config-file", filepath.Join(dir, "daemon.json"),
		"--cgroup-parent", "/"+cgroup,
		// No bridge, no iptables rules: the host's network stays as it is.
		"--bridge", "none", "--iptables=false", "--ip-masq=false",
		"--add-runtime", "petrel="+rt,
	)
	dd.waitSocket(t, sock)
	d.env = []string{"DOCKER_HOST=unix://" + sock, "DOCKER_CONFIG=" + filepath.Join(dir, "cli")}
	t.Cleanup(func() {
		// Before dockerd stops: remove what a failed test left.
		if ids := strings.Fields(d.run(t, "ps", "--all", "--quiet").stdout); len(ids) > 0 {
			d.run(t, append([]string{"rm", "--force"}, ids...)...)
		}
	})
	d.must(t, "load", "--input", imageArchive(t, dir))

	runArgs := func(extra ...string) []string {
		return append([]string{"run", "--runtime", "petrel", "--network", "none"}, extra...)
	}

	t.Run("true", func(t *testing.T) {
		d.must(t, runArgs("--rm", image, "true")...)
	})

	t.Run("output and exit code", func(t *testing.T) {
		r := d.run(t, runArgs("--rm", image, "sh", "-c", "echo hi; echo oops >&2; exit 3")...)
		if r.code != 3 || r.stdout != "hi\n" || !strings.Contains(r.stderr, "oops") {
			t.Errorf("docker run: exit %d, stdout %q, stderr %q; want exit 3, stdout \"hi\\n\", stderr with \"oops\"", r.code, r.stdout, r.stderr)
		}
	})

	t.Run("terminal", func(t *testing.T) {
		// The runtime hands the shim the pty master via --console-socket.
		r := d.must(t, runArgs("--rm", "--tty", image, "tty")...)
		if !strings.HasPrefix(r.stdout, "/dev/pts/") {
			t.Errorf("tty in the container printed %q, want /dev/pts/N", r.stdout)
		}
	})

	t.Run("pause, update, unpause", func(t *testing.T) {
		id := strings.TrimSpace(d.must(t, runArgs("--detach", image, "sleep", "1000")...).stdout)
		defer d.run(t, "rm", "--force", id)
		d.must(t, "pause", id)
		if st := strings.TrimSpace(d.must(t, "inspect", "--format", "{{.State.Status}}", id).stdout); st != "paused" {
			t.Errorf("status after pause = %q, want paused", st)
		}
		d.must(t, "unpause", id)
		// The shim passes new limits to the runtime's update command.
		d.must(t, "update", "--memory", "64m", "--memory-swap", "64m", id)
		limit := filepath.Join("/sys/fs/cgroup/memory", cgroup, id, "memory.limit_in_bytes")
		if b, err := os.ReadFile(limit); err != nil {
			if _, serr := os.Stat("/sys/fs/cgroup/memory"); serr == nil {
				t.Errorf("memory limit after update: %v", err)
			}
		} else if got := strings.TrimSpace(string(b)); got != "67108864" {
			t.Errorf("%s = %s after docker update --memory 64m, want 67108864", limit, got)
		} else {
			t.Logf("%s = %s", limit, got)
		}
		r := d.run(t, "exec", id, "echo", "alive")
		if r.code != 0 || r.stdout != "alive\n" {
			t.Errorf("exec after unpause: exit %d, stdout %q", r.code, r.stdout)
		}
	})

	t.Run("detached, exec, stop", func(t *testing.T) {
		id := strings.TrimSpace(d.must(t, runArgs("--detach", image, "sleep", "1000")...).stdout)
		defer d.run(t, "rm", "--force", id)
		got := strings.TrimSpace(d.must(t, "inspect", "--format", "{{.HostConfig.Runtime}} {{.State.Status}}", id).stdout)
		if got != "petrel running" {
			t.Errorf("runtime and status after run --detach = %q, want \"petrel running\"", got)
		}
		r := d.run(t, "exec", id, "sh", "-c", "echo from-exec; exit 4")
		if r.code != 4 || r.stdout != "from-exec\n" {
			t.Errorf("docker exec: exit %d, stdout %q; want 4, \"from-exec\\n\"", r.code, r.stdout)
		}
		d.must(t, "stop", "--time", "1", id)
		if st := strings.TrimSpace(d.must(t, "inspect", "--format", "{{.State.Status}}", id).stdout); st != "exited" {
			t.Errorf("status after stop = %q, want exited", st)
		}
		d.must(t, "rm", id)
	})
}
