package initscripts

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// need returns the path of a program the test needs: skipped without it,
// failed under CI=true.
func need(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not installed (scripts/setup.sh installs it): %v", name, err)
		}
		t.Skipf("%s not installed: %v", name, err)
	}
	return p
}

// fakePetreld is a stand-in daemon: it records its arguments and each start,
// starts a "shim" in a session of its own (as petreld does) and records the
// signal that ends it. With IGNORE_TERM it ignores SIGTERM.
// It appends to "starts" last, once ready.
const fakePetreld = `#!/bin/sh
dir=$(dirname "$0")
if [ -e "$dir/IGNORE_TERM" ]; then
	trap '' TERM
else
	trap 'echo TERM >"$dir/signal"; exit 0' TERM
fi
echo "$@" >"$dir/args"
setsid sleep 300 </dev/null >/dev/null 2>&1 &
echo $! >"$dir/shim.pid"
echo "petreld: serving"
echo start >>"$dir/starts"
while :; do sleep 1; done
`

type initEnv struct {
	dir, script, pidfile string
	env                  []string
}

func newInitEnv(t *testing.T, path []string) *initEnv {
	t.Helper()
	dir := t.TempDir()
	script, err := filepath.Abs("petreld.sysvinit")
	if err != nil {
		t.Fatal(err)
	}
	fake := filepath.Join(dir, "sbin", "petreld")
	if err := os.MkdirAll(filepath.Dir(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fake, []byte(fakePetreld), 0o755); err != nil {
		t.Fatal(err)
	}
	e := &initEnv{dir: dir, script: script, pidfile: filepath.Join(dir, "run", "petreld.pid")}
	e.env = []string{
		"PATH=" + strings.Join(path, ":"),
		"PETRELD=" + fake,
		"PETRELD_CONFIG=" + filepath.Join(dir, "etc", "daemon.json"),
		"PETRELD_OPTS=--data-root " + filepath.Join(dir, "data"),
		"PIDFILE=" + e.pidfile,
		"LOGFILE=" + filepath.Join(dir, "log", "petreld.log"),
		"DEFAULTS=" + filepath.Join(dir, "etc", "default"),
		"STOP_TIMEOUT=2",
	}
	t.Cleanup(func() {
		for _, f := range []string{e.pidfile, filepath.Join(dir, "sbin", "shim.pid")} {
			if pid, err := readPid(f); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	return e
}

// run runs the init script with an action and returns its exit code and
// output.
func (e *initEnv) run(t *testing.T, shell, action string) (int, string) {
	t.Helper()
	cmd := exec.Command(shell, e.script, action)
	cmd.Env = e.env
	// The script's children must not hold the test's output open.
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &ee):
		return ee.ExitCode(), string(out)
	}
	t.Fatalf("%s %s: %v", e.script, action, err)
	return 0, ""
}

func (e *initEnv) file(name string) string {
	b, _ := os.ReadFile(filepath.Join(e.dir, "sbin", name))
	return string(b)
}

// started waits until the fake daemon has been ready n times.
func (e *initEnv) started(t *testing.T, n int) {
	t.Helper()
	want := strings.Repeat("start\n", n)
	if got := waitFile(t, filepath.Join(e.dir, "sbin", "starts"), want); got != want {
		t.Fatalf("fake petreld started %q, want %d starts", got, n)
	}
}

// waitFile waits until the file holds want: the script returns once the
// daemon runs, which may be before it wrote anything on a busy machine.
func waitFile(t *testing.T, path, want string) string {
	t.Helper()
	var b []byte
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if b, _ = os.ReadFile(path); strings.Contains(string(b), want) {
			break
		}
	}
	return string(b)
}

func readPid(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	if err != nil {
		return false
	}
	// A zombie is dead to a user; its parent (the test) will reap it.
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	return err == nil && !bytes.Contains(b, []byte(") Z "))
}

// TestSysvinit runs /etc/init.d/petreld's start, status, restart and stop
// against a fake petreld, with Debian's start-stop-daemon and with busybox's
// (as on a busybox-init board).
func TestSysvinit(t *testing.T) {
	for _, tc := range []struct{ name, shell string }{
		{"debian", "sh"},
		{"busybox", "busybox"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // each waits a few seconds on the script's sleeps
			var path []string
			shell := need(t, tc.shell)
			if tc.name == "debian" {
				ssd := need(t, "start-stop-daemon")
				need(t, "setsid")
				path = []string{filepath.Dir(ssd), "/usr/sbin", "/usr/bin", "/sbin", "/bin"}
			} else {
				// A PATH of busybox applets only.
				bb := t.TempDir()
				for _, a := range []string{"sh", "start-stop-daemon", "setsid", "sleep", "kill", "rm", "mkdir", "dirname", "basename", "cat"} {
					if err := os.Symlink(shell, filepath.Join(bb, a)); err != nil {
						t.Fatal(err)
					}
				}
				path = []string{bb}
				shell = filepath.Join(bb, "sh")
			}
			e := newInitEnv(t, path)

			if code, out := e.run(t, shell, "status"); code != 3 {
				t.Fatalf("status before start = %d (%s), want 3 (not running)", code, out)
			}
			if code, out := e.run(t, shell, "start"); code != 0 {
				t.Fatalf("start = %d: %s", code, out)
			}
			pid, err := readPid(e.pidfile)
			if err != nil || !alive(pid) {
				t.Fatalf("after start: pidfile %v, pid %d alive %v", err, pid, alive(pid))
			}
			e.started(t, 1)
			if log, _ := os.ReadFile(filepath.Join(e.dir, "log", "petreld.log")); !strings.Contains(string(log), "petreld: serving") {
				t.Errorf("log file holds %q, want the daemon's output", log)
			}
			wantArgs := "--config-file " + filepath.Join(e.dir, "etc", "daemon.json") + " --data-root " + filepath.Join(e.dir, "data") + "\n"
			if got := e.file("args"); got != wantArgs {
				t.Errorf("petreld started with %q, want %q", got, wantArgs)
			}
			if code, out := e.run(t, shell, "start"); code != 0 || !strings.Contains(out, "already running") {
				t.Errorf("second start = %d (%s), want 0, already running", code, out)
			}
			if n := strings.Count(e.file("starts"), "start"); n != 1 {
				t.Errorf("petreld started %d times, want once", n)
			}
			if code, out := e.run(t, shell, "status"); code != 0 || !strings.Contains(out, strconv.Itoa(pid)) {
				t.Errorf("status = %d (%s), want 0 and pid %d", code, out, pid)
			}
			shim, err := readPid(filepath.Join(e.dir, "sbin", "shim.pid"))
			if err != nil {
				t.Fatal(err)
			}

			if code, out := e.run(t, shell, "restart"); code != 0 {
				t.Fatalf("restart = %d: %s", code, out)
			}
			e.started(t, 2)
			pid2, err := readPid(e.pidfile)
			if err != nil || pid2 == pid || !alive(pid2) || alive(pid) {
				t.Fatalf("restart: old pid %d (alive %v), new pid %d (alive %v), %v", pid, alive(pid), pid2, alive(pid2), err)
			}
			if got := e.file("signal"); got != "TERM\n" {
				t.Errorf("restart ended petreld with %q, want TERM", got)
			}
			if !alive(shim) {
				t.Errorf("restart killed the shim (pid %d): containers must outlive the daemon", shim)
			}

			// A daemon that ignores SIGTERM is killed after STOP_TIMEOUT.
			os.WriteFile(filepath.Join(e.dir, "sbin", "IGNORE_TERM"), nil, 0o644)
			e.run(t, shell, "restart")
			e.started(t, 3)
			pid3, _ := readPid(e.pidfile)
			start := time.Now()
			if code, out := e.run(t, shell, "stop"); code != 0 || !strings.Contains(out, "SIGKILL") {
				t.Errorf("stop of a daemon ignoring TERM = %d (%s), want 0 after SIGKILL", code, out)
			}
			t.Logf("stop took %v", time.Since(start))
			if alive(pid3) {
				t.Errorf("stop left petreld (pid %d) running", pid3)
			}
			if _, err := os.Stat(e.pidfile); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("stop left the pidfile: %v", err)
			}
			if !alive(shim) {
				t.Errorf("stop killed the shim (pid %d)", shim)
			}
			if code, _ := e.run(t, shell, "status"); code != 3 {
				t.Errorf("status after stop = %d, want 3", code)
			}

			// A pidfile left by a crash: status says so, start recovers.
			os.WriteFile(e.pidfile, []byte("999999999\n"), 0o644)
			if code, _ := e.run(t, shell, "status"); code != 1 {
				t.Errorf("status with a stale pidfile = %d, want 1", code)
			}
			os.Remove(filepath.Join(e.dir, "sbin", "IGNORE_TERM"))
			if code, out := e.run(t, shell, "start"); code != 0 {
				t.Errorf("start over a stale pidfile = %d: %s", code, out)
			}
			if code, out := e.run(t, shell, "stop"); code != 0 {
				t.Errorf("stop = %d: %s", code, out)
			}
			if code, out := e.run(t, shell, "stop"); code != 0 || !strings.Contains(out, "not running") {
				t.Errorf("stop when stopped = %d (%s), want 0, not running", code, out)
			}
		})
	}
}

func TestSysvinitBadDaemon(t *testing.T) {
	t.Parallel()
	shell := need(t, "sh")
	need(t, "start-stop-daemon")
	e := newInitEnv(t, []string{"/usr/sbin", "/usr/bin", "/sbin", "/bin"})
	// A daemon that exits at once, as petreld does on a bad daemon.json.
	os.WriteFile(filepath.Join(e.dir, "sbin", "petreld"), []byte("#!/bin/sh\necho 'petreld: bad daemon.json' >&2\nexit 1\n"), 0o755)
	code, out := e.run(t, shell, "start")
	if code == 0 || !strings.Contains(out, "exited at start") {
		t.Errorf("start of a failing daemon = %d (%s), want failure pointing at the log", code, out)
	}
	if log := waitFile(t, filepath.Join(e.dir, "log", "petreld.log"), "bad daemon.json"); !strings.Contains(log, "bad daemon.json") {
		t.Errorf("log holds %q, want the daemon's error", log)
	}
}

func TestShellcheck(t *testing.T) {
	sc := need(t, "shellcheck")
	for _, f := range []string{"petreld.sysvinit", "petreld.openrc", "petreld.procd"} {
		t.Run(f, func(t *testing.T) {
			out, err := exec.Command(sc, "-s", "sh", f).CombinedOutput()
			if err != nil {
				t.Errorf("shellcheck %s: %v\n%s", f, err, out)
			}
		})
	}
}

// TestSystemdUnit checks the unit with systemd-analyze verify (the binary
// path pointed at a stand-in) and the settings that keep containers running
// across a restart of the daemon.
func TestSystemdUnit(t *testing.T) {
	unit, err := os.ReadFile("petreld.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Type=simple", "KillMode=process", "Delegate=yes", "Restart=always",
		"ExecStart=/usr/bin/petreld --config-file /etc/petrel/daemon.json", "After=network-online.target"} {
		if !bytes.Contains(unit, []byte("\n"+want)) {
			t.Errorf("petreld.service lacks %s", want)
		}
	}
	sa := need(t, "systemd-analyze")
	dir := t.TempDir()
	fake := filepath.Join(dir, "petreld")
	os.WriteFile(fake, []byte("#!/bin/sh\n"), 0o755)
	u := filepath.Join(dir, "petreld.service")
	os.WriteFile(u, bytes.ReplaceAll(unit, []byte("/usr/bin/petreld"), []byte(fake)), 0o644)
	cmd := exec.Command(sa, "verify", "--man=no", u)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
