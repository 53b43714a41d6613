//go:build integration

package engine

import (
	"strings"
	"testing"

	"github.com/petrel-edge/petrel/tests/internal/testenv"
)

// TestExternalRuntimes runs containers through runc and crun with the
// runc command-line contract instead of the built-in lcr.
func TestExternalRuntimes(t *testing.T) {
	d := startDaemon(t)
	for _, rt := range []string{"runc", "crun"} {
		t.Run(rt, func(t *testing.T) {
			testenv.LookPath(t, rt)
			out, errs, code := d.petrel(d.runArgs("--rm", "--runtime", rt, "none", "sh", "-c", "echo out; echo err >&2; exit 3")...)
			if code != 3 || out != "out\n" || errs != "err\n" {
				t.Errorf("run: exit %d, %q %q", code, out, errs)
			}
			// --network none: a namespace of its own, with lo up.
			out, errs, code = d.petrel(d.runArgs("--rm", "--network", "none", "--runtime", rt, "none", "sh", "-c",
				"ip -o link; ping -c 1 -W 1 127.0.0.1 >/dev/null && echo pong")...)
			if lines := strings.Split(strings.TrimSpace(out), "\n"); code != 0 || len(lines) != 2 || !strings.Contains(lines[0], "lo:") ||
				!strings.Contains(lines[0], ",UP") || lines[1] != "pong" {
				t.Errorf("--network none: exit %d, %q %q", code, out, errs)
			}
			name := "on-" + rt
			d.must(d.runArgs("-d", "--name", name, "--runtime", rt, "none", "sleep", "1000")...)
			if got := d.inspect(name, ".HostConfig.Runtime"); got != rt {
				t.Errorf("runtime recorded as %q", got)
			}
			out, _, code = d.petrel("exec", name, "sh", "-c", "echo in; exit 2")
			if code != 2 || out != "in\n" {
				t.Errorf("exec: exit %d, %q", code, out)
			}
			// The shim adopts the runtime's init (subreaper) and survives
			// a daemon crash with it.
			d.kill9()
			d.start()
			if st := d.inspect(name, ".State.Status"); st != "running" {
				t.Errorf("after restore: %s", st)
			}
			d.must("stop", "-t", "1", name)
			if got := d.inspect(name, ".State.ExitCode"); got != "137" {
				t.Errorf("exit code %s, want 137", got)
			}
			_, errs, code = d.petrel(d.runArgs("--rm", "--runtime", rt, "none", "/nonexistent")...)
			if code != 125 || !strings.Contains(errs, rt+" create") {
				t.Errorf("missing command: exit %d, %q", code, errs)
			}
		})
	}
	_, errs, code := d.petrel(d.runArgs("--runtime", "nosuch", "none", "true")...)
	if code != 125 || !strings.Contains(errs, `unknown runtime "nosuch"`) {
		t.Errorf("unknown runtime: exit %d, %q", code, errs)
	}
}
