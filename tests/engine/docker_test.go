//go:build integration

package engine

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/petrel-edge/petrel/tests/internal/testenv"
)

// TestDockerCLI drives petreld with the stock docker client (Debian's
// docker.io, client only): petreld speaks its API.
func TestDockerCLI(t *testing.T) {
	docker := "/usr/bin/docker"
	if _, err := os.Stat(docker); err != nil {
		docker = testenv.LookPath(t, "docker")
	}
	d := startDaemon(t)
	run := func(args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(docker, append([]string{"-H", "unix://" + d.sock}, args...)...)
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+t.TempDir())
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}
	if out, code := run("version"); code != 0 || !strings.Contains(out, "Petrel Engine") || !strings.Contains(out, "1.41") {
		t.Fatalf("docker version: %d %s", code, out)
	}
	d.must(d.runArgs("-d", "--name", "web", "none", "sh", "-c", "echo started; sleep 1000")...)
	d.waitFor("the first log line", func() bool { return d.must("logs", "web") == "started" })
	steps := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"ps"}, 0, "web"},
		{[]string{"ps", "-a", "--filter", "status=running", "-q"}, 0, ""},
		{[]string{"logs", "web"}, 0, "started"},
		{[]string{"top", "web"}, 0, "sleep 1000"},
		{[]string{"inspect", "-f", "{{.State.Status}}", "web"}, 0, "running"},
		{[]string{"exec", "web", "sh", "-c", "echo from-exec; exit 3"}, 3, "from-exec"},
		{[]string{"rm", "web"}, 1, "cannot remove a running container"},
		{[]string{"stop", "-t", "1", "web"}, 0, "web"},
		{[]string{"wait", "web"}, 0, "137"},
		{[]string{"rm", "web"}, 0, "web"},
		{[]string{"inspect", "web"}, 1, "No such"},
		{[]string{"info"}, 0, "Live Restore Enabled: true"},
	}
	for _, s := range steps {
		out, code := run(s.args...)
		if code != s.code || !strings.Contains(out, s.want) {
			t.Errorf("docker %s: exit %d, %q; want %d and %q", strings.Join(s.args, " "), code, out, s.code, s.want)
		}
	}
}
