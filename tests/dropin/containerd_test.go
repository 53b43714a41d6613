//go:build integration

package dropin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ctr is containerd's client against a private containerd, in a namespace
// of its own, with the runtime under test as the runc shim's binary.
type ctr struct {
	bin, sock, ns, runtime string
}

func (c *ctr) run(t *testing.T, args ...string) result {
	t.Helper()
	return run(t, nil, c.bin, append([]string{"--address", c.sock, "--namespace", c.ns}, args...)...)
}

func (c *ctr) must(t *testing.T, args ...string) result {
	t.Helper()
	return must(t, nil, c.bin, append([]string{"--address", c.sock, "--namespace", c.ns}, args...)...)
}

// runArgs are the options of every `ctr run`: the runc shim with the
// runtime under test in runc's place. The default spec puts the container
// in the cgroup /<namespace>/<id> and in a new network namespace.
func (c *ctr) runArgs(extra ...string) []string {
	return append([]string{"run", "--runtime", "io.containerd.runc.v2", "--runc-binary", c.runtime}, extra...)
}

func TestContainerd(t *testing.T) {
	requireRoot(t)
	c := &ctr{bin: lookPath(t, "ctr", "containerd"), runtime: runtimeUnderTest(t)}
	dir := workDir(t)
	c.ns = fmt.Sprintf("petrel-dropin-ctr-%d", os.Getpid())
	t.Cleanup(func() {
		removeCgroup(t, c.ns)
		// The runc shim keeps the runtime's state under --root
		// /run/containerd/runc/<namespace>.
		os.RemoveAll(filepath.Join("/run/containerd/runc", c.ns))
	})
	c.sock = startContainerd(t, dir)
	t.Cleanup(func() {
		// Before containerd stops: remove what a failed test left.
		for _, id := range strings.Fields(c.run(t, "task", "list", "--quiet").stdout) {
			c.run(t, "task", "kill", "--signal", "SIGKILL", id)
			c.run(t, "task", "delete", "--force", id)
		}
		for _, id := range strings.Fields(c.run(t, "containers", "list", "--quiet").stdout) {
			c.run(t, "containers", "delete", id)
		}
	})
	c.must(t, "images", "import", imageArchive(t, dir))

	t.Run("true", func(t *testing.T) {
		c.must(t, c.runArgs("--rm", image, "c-true", "true")...)
	})

	t.Run("output and exit code", func(t *testing.T) {
		r := c.run(t, c.runArgs("--rm", image, "c-exit", "sh", "-c", "echo hi; echo oops >&2; exit 3")...)
		if r.code != 3 || r.stdout != "hi\n" || !strings.Contains(r.stderr, "oops") {
			t.Errorf("ctr run: exit %d, stdout %q, stderr %q; want exit 3, stdout \"hi\\n\", stderr with \"oops\"", r.code, r.stdout, r.stderr)
		}
	})

	t.Run("detached, pause, resume, exec, kill", func(t *testing.T) {
		const id = "c-sleep"
		c.must(t, c.runArgs("--detach", image, id, "sleep", "1000")...)
		if st := c.taskStatus(t, id); st != "RUNNING" {
			t.Errorf("task status after run --detach = %q, want RUNNING", st)
		}
		c.checkBinary(t, id)
		c.must(t, "task", "pause", id)
		if st := c.taskStatus(t, id); st != "PAUSED" {
			t.Errorf("task status after pause = %q, want PAUSED", st)
		}
		c.must(t, "task", "resume", id)
		if st := c.taskStatus(t, id); st != "RUNNING" {
			t.Errorf("task status after resume = %q, want RUNNING", st)
		}
		r := c.run(t, "task", "exec", "--exec-id", "e1", id, "sh", "-c", "echo from-exec; exit 4")
		if r.code != 4 || r.stdout != "from-exec\n" {
			t.Errorf("ctr task exec: exit %d, stdout %q; want 4, \"from-exec\\n\"", r.code, r.stdout)
		}
		c.must(t, "task", "kill", "--signal", "SIGKILL", id)
		deadline := time.Now().Add(20 * time.Second)
		for c.taskStatus(t, id) != "STOPPED" {
			if time.Now().After(deadline) {
				t.Fatalf("task %s not STOPPED 20s after SIGKILL", id)
			}
			time.Sleep(100 * time.Millisecond)
		}
		c.must(t, "task", "delete", id)
		c.must(t, "containers", "delete", id)
	})
}

// checkBinary checks that the container's runc shim options name the
// runtime under test as its BinaryName.
func (c *ctr) checkBinary(t *testing.T, id string) {
	t.Helper()
	var info struct {
		Runtime struct {
			Name    string
			Options struct {
				Value []byte `json:"value"` // protobuf runc.v1.Options, base64 in JSON
			}
		}
	}
	out := c.must(t, "containers", "info", id).stdout
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatalf("ctr containers info: %v\n%s", err, out)
	}
	if info.Runtime.Name != "io.containerd.runc.v2" || !bytes.Contains(info.Runtime.Options.Value, []byte(c.runtime)) {
		t.Errorf("container runtime %s with options %q, want io.containerd.runc.v2 with BinaryName %s", info.Runtime.Name, info.Runtime.Options.Value, c.runtime)
	}
}

// taskStatus returns the STATUS column of `ctr task list` for id.
func (c *ctr) taskStatus(t *testing.T, id string) string {
	t.Helper()
	for l := range strings.Lines(c.must(t, "task", "list").stdout) {
		if f := strings.Fields(l); len(f) == 3 && f[0] == id {
			return f[2]
		}
	}
	return ""
}
