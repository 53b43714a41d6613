//go:build integration

package engine

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestRunOutputAndExitCode(t *testing.T) {
	d := startDaemon(t)
	tests := []struct {
		name           string
		flags, cmd     []string
		stdin          string
		stdout, stderr string
		code           int
	}{
		{"echo", nil, []string{"echo", "hello"}, "", "hello\n", "", 0},
		{"streams and code", nil, []string{"sh", "-c", "echo out; echo err >&2; exit 3"}, "", "out\n", "err\n", 3},
		{"env workdir user", []string{"-e", "FOO=bar", "-w", "/tmp", "-u", "nobody"}, []string{"sh", "-c", "echo $FOO $(pwd) $(id -u)"}, "", "bar /tmp 65534\n", "", 0},
		{"entrypoint", []string{"--entrypoint", "echo"}, []string{"from-entrypoint"}, "", "from-entrypoint\n", "", 0},
		{"hostname and etc files", []string{"--hostname", "box1"}, []string{"sh", "-c", "hostname; cat /etc/hostname; grep -c box1 /etc/hosts; grep -q nameserver /etc/resolv.conf && echo ns"}, "", "box1\nbox1\n1\nns\n", "", 0},
		{"stdin", []string{"-i"}, []string{"sh", "-c", "read x; echo got $x"}, "line\n", "got line\n", "", 0},
		{"exit 255", nil, []string{"sh", "-c", "exit 255"}, "", "", "", 255},
		{"missing command", nil, []string{"/nonexistent"}, "", "", "", 125},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := d.runArgs("--rm")
			args = append(append(append(args, tc.flags...), "none"), tc.cmd...)
			out, errs, code := d.petrelIn(tc.stdin, args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d (stdout %q, stderr %q)", code, tc.code, out, errs)
			}
			if tc.code == 125 {
				if !strings.Contains(errs, "Error response from daemon") {
					t.Errorf("stderr %q lacks the daemon's error", errs)
				}
				return
			}
			if out != tc.stdout || errs != tc.stderr {
				t.Errorf("stdout %q stderr %q, want %q %q", out, errs, tc.stdout, tc.stderr)
			}
		})
	}
	// --rm removed every container, the one that failed to start too.
	d.waitFor("--rm containers to go", func() bool {
		return d.must("ps", "-aq") == ""
	})
}

func TestDetachedLogs(t *testing.T) {
	d := startDaemon(t)
	gate := filepath.Join(d.rootfs, "tmp", "gate")
	id := d.must(d.runArgs("-d", "--name", "ticker", "none", "sh", "-c",
		"for i in 1 2 3 4 5; do echo line $i; done; while [ ! -e /tmp/gate ]; do sleep 0.05; done; echo oops >&2; sleep 1000")...)
	if len(id) != 64 {
		t.Fatalf("run -d printed %q, want a 64-hex id", id)
	}
	d.waitFor("stdout in the log", func() bool {
		out, _, _ := d.petrel("logs", "ticker")
		return out == "line 1\nline 2\nline 3\nline 4\nline 5\n"
	})
	os.WriteFile(gate, nil, 0o644)
	d.waitFor("stderr in the log", func() bool {
		_, errs, _ := d.petrel("logs", "ticker")
		return errs == "oops\n"
	})
	out, errs, _ := d.petrel("logs", "--tail", "2", "ticker")
	if out != "line 5\n" || errs != "oops\n" {
		t.Errorf("logs --tail 2: stdout %q stderr %q", out, errs)
	}
	// logs -f ends when the container stops.
	done := make(chan string)
	go func() {
		out, _, _ := d.petrel("logs", "-f", "ticker")
		done <- out
	}()
	d.must("kill", "ticker")
	if out := <-done; !strings.HasPrefix(out, "line 1\n") {
		t.Errorf("logs -f: %q", out)
	}
	if got := d.inspect("ticker", ".State.ExitCode"); got != "137" {
		t.Errorf("exit code after kill %s, want 137", got)
	}
	// The log file is Docker's json-file format.
	data, err := os.ReadFile(d.inspect("ticker", ".LogPath"))
	if err != nil {
		t.Fatal(err)
	}
	if first := strings.SplitN(string(data), "\n", 2)[0]; !strings.HasPrefix(first, `{"log":"line 1\n","stream":"stdout","time":"`) {
		t.Errorf("log line %s", first)
	}
}

func TestLogRotation(t *testing.T) {
	d := startDaemon(t)
	d.must(d.runArgs("--name", "chatty", "--log-opt", "max-size=1k", "--log-opt", "max-file=2", "none",
		"sh", "-c", "i=0; while [ $i -lt 200 ]; do echo line $i; i=$((i+1)); done")...)
	p := d.inspect("chatty", ".LogPath")
	for _, f := range []string{p, p + ".1"} {
		fi, err := os.Stat(f)
		if err != nil || fi.Size() > 1024 {
			t.Errorf("%s: %v, size above max-size", f, err)
		}
	}
	if _, err := os.Stat(p + ".2"); err == nil {
		t.Errorf("max-file=2 kept a third file")
	}
	out := d.must("logs", "--tail", "1", "chatty")
	if out != "line 199" {
		t.Errorf("last line %q", out)
	}
}

func TestStopKillRemove(t *testing.T) {
	d := startDaemon(t)
	d.must(d.runArgs("-d", "--name", "polite", "none", "sh", "-c", "trap 'echo bye; exit 0' TERM; while true; do sleep 0.1; done")...)
	d.must(d.runArgs("-d", "--name", "stubborn", "none", "sleep", "1000")...)

	// rm of a running container without -f is refused and changes nothing.
	_, errs, code := d.petrel("rm", "polite")
	if code == 0 || !strings.Contains(errs, "cannot remove a running container") {
		t.Errorf("rm running: exit %d, %q", code, errs)
	}
	if st := d.inspect("polite", ".State.Status"); st != "running" {
		t.Errorf("after refused rm the container is %s", st)
	}

	if out := d.must("stop", "polite"); out != "polite" {
		t.Errorf("stop printed %q", out)
	}
	if got := d.inspect("polite", ".State.ExitCode"); got != "0" {
		t.Errorf("polite exit code %s, want 0 (it trapped TERM)", got)
	}
	// sleep as PID 1 ignores TERM: stop falls back to KILL after -t.
	d.must("stop", "-t", "1", "stubborn")
	if got := d.inspect("stubborn", ".State.ExitCode"); got != "137" {
		t.Errorf("stubborn exit code %s, want 137", got)
	}
	// stop of a stopped container is fine (304 from the API).
	d.must("stop", "stubborn")

	d.must("start", "stubborn")
	if st := d.inspect("stubborn", ".State.Status"); st != "running" {
		t.Errorf("after start: %s", st)
	}
	// A PID 1 only dies of signals it handles (or KILL); one that comes
	// before the shell has set its trap is discarded, so wait for it.
	d.must(d.runArgs("-d", "--name", "handler", "none", "sh", "-c", "trap 'exit 42' USR1; echo trapped; while true; do sleep 0.1; done")...)
	d.waitFor("the trap to be set", func() bool { return strings.Contains(d.must("logs", "handler"), "trapped") })
	d.must("kill", "-s", "USR1", "handler")
	d.waitFor("USR1 to end it", func() bool { return d.inspect("handler", ".State.Status") == "exited" })
	if got := d.inspect("handler", ".State.ExitCode"); got != "42" {
		t.Errorf("exit code after USR1 %s, want 42", got)
	}
	d.must("kill", "stubborn")
	d.waitFor("KILL to end it", func() bool { return d.inspect("stubborn", ".State.Status") == "exited" })
	_, errs, code = d.petrel("kill", "stubborn")
	if code == 0 || !strings.Contains(errs, "is not running") {
		t.Errorf("kill of a stopped container: exit %d, %q", code, errs)
	}

	d.must("start", "stubborn")
	d.must("rm", "-f", "stubborn", "polite", "handler")
	if out := d.must("ps", "-aq"); out != "" {
		t.Errorf("ps -aq after rm: %q", out)
	}
	_, errs, code = d.petrel("inspect", "stubborn")
	if code != 1 || !strings.Contains(errs, "No such container: stubborn") {
		t.Errorf("inspect after rm: exit %d, %q", code, errs)
	}
	// Nothing is left of the container on disk: the records and the
	// writable layers go at once, their files in the background.
	ents, _ := os.ReadDir(filepath.Join(d.root, "containers"))
	if len(ents) != 0 {
		t.Errorf("%d container directories left", len(ents))
	}
	if ents, _ := os.ReadDir(filepath.Join(d.root, "image", "snapshots", "active")); len(ents) != 0 {
		t.Errorf("%d writable layers left", len(ents))
	}
	d.waitFor("the removed containers' files to be deleted", func() bool {
		trash, _ := os.ReadDir(filepath.Join(d.root, "trash"))
		tmp, _ := os.ReadDir(filepath.Join(d.root, "image", "snapshots", "tmp"))
		return len(trash) == 0 && len(tmp) == 0
	})
}

func TestNames(t *testing.T) {
	d := startDaemon(t)
	d.must(d.runArgs("-d", "--name", "web", "none", "sleep", "1000")...)
	_, errs, code := d.petrel(d.runArgs("-d", "--name", "web", "none", "true")...)
	if code != 125 || !strings.Contains(errs, `The container name "/web" is already in use`) {
		t.Errorf("duplicate name: exit %d, %q", code, errs)
	}
	_, errs, code = d.petrel(d.runArgs("--name", "bad/name", "none", "true")...)
	if code != 125 || !strings.Contains(errs, "Invalid container name") {
		t.Errorf("bad name: exit %d, %q", code, errs)
	}
	if n := len(strings.Fields(d.must("ps", "-aq"))); n != 1 {
		t.Errorf("%d containers after refused creates, want 1", n)
	}
	d.must("rename", "web", "site")
	if got := d.inspect("site", ".Name"); got != "/site" {
		t.Errorf("renamed: %s", got)
	}
	// The old name is free again; ids and prefixes work as references.
	id := d.must(d.runArgs("-d", "--name", "web", "none", "sleep", "1000")...)
	if got := d.inspect(id[:8], ".Name"); got != "/web" {
		t.Errorf("prefix lookup: %s", got)
	}
	d.must("pause", "web")
	if got := d.inspect("web", ".State.Status"); got != "paused" {
		t.Errorf("paused: %s", got)
	}
	d.must("unpause", "web")
	if got := d.inspect("web", ".State.Status"); got != "running" {
		t.Errorf("unpaused: %s", got)
	}
}

func TestRestartPolicy(t *testing.T) {
	d := startDaemon(t)
	d.must(d.runArgs("-d", "--name", "flaky", "--restart", "on-failure:2", "none", "sh", "-c", "echo run; exit 1")...)
	d.waitFor("two restarts", func() bool {
		return d.inspect("flaky", ".RestartCount") == "2" && d.inspect("flaky", ".State.Status") == "exited"
	})
	if out := d.must("logs", "flaky"); out != "run\nrun\nrun" {
		t.Errorf("logs of three runs: %q", out)
	}
	if out := d.must("wait", "flaky"); out != "1" {
		t.Errorf("wait printed %q", out)
	}
	// always restarts a clean exit too; stop ends it for good.
	d.must(d.runArgs("-d", "--name", "loop", "--restart", "always", "none", "sh", "-c", "sleep 0.2")...)
	d.waitFor("a restart", func() bool {
		n, _ := strconv.Atoi(d.inspect("loop", ".RestartCount"))
		return n >= 1
	})
	d.must("stop", "loop")
	if st := d.inspect("loop", ".State.Status"); st != "exited" {
		t.Errorf("after stop: %s", st)
	}
}

func TestLiveRestore(t *testing.T) {
	d := startDaemon(t)
	d.must(d.runArgs("-d", "--name", "long", "none", "sh", "-c", "while true; do echo tick; sleep 0.1; done")...)
	gate := filepath.Join(d.rootfs, "tmp", "gate")
	d.must(d.runArgs("-d", "--name", "short", "none", "sh", "-c", "while [ ! -e /tmp/gate ]; do sleep 0.05; done; exit 7")...)
	longPid := d.inspect("long", ".State.Pid")

	d.kill9()
	// While no daemon runs, one container exits and the other goes on.
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	d.waitFor("short's exit file", func() bool {
		_, err := os.Stat(filepath.Join(d.root, "containers", shortID(t, d), "exit.json"))
		return err == nil
	})
	if _, err := os.Stat("/proc/" + longPid); err != nil {
		t.Fatalf("long's init died with the daemon: %v", err)
	}

	// A removal that a crash interrupted left files in the trash.
	left := filepath.Join(d.root, "trash", "left-by-a-crash")
	if err := os.MkdirAll(filepath.Join(left, "rootfs"), 0o700); err != nil {
		t.Fatal(err)
	}
	d.start()
	d.waitFor("the trash to be emptied at start", func() bool {
		_, err := os.Stat(left)
		return os.IsNotExist(err)
	})
	if st := d.inspect("long", ".State.Status"); st != "running" {
		t.Errorf("long after restore: %s", st)
	}
	if got := d.inspect("long", ".State.Pid"); got != longPid {
		t.Errorf("long's pid %s, was %s", got, longPid)
	}
	if st, code := d.inspect("short", ".State.Status"), d.inspect("short", ".State.ExitCode"); st != "exited" || code != "7" {
		t.Errorf("short after restore: %s %s, want exited 7", st, code)
	}
	if !strings.Contains(d.must("logs", "--tail", "1", "long"), "tick") {
		t.Error("no logs from the restored container")
	}
	if out := d.must("exec", "long", "echo", "exec-after-restore"); out != "exec-after-restore" {
		t.Errorf("exec in the restored container: %q", out)
	}
	// logs -f and attach follow the restored container's output.
	follow := d.stream("logs", "-f", "--tail", "0", "long")
	attach := d.stream("attach", "long")
	for _, r := range []*bufio.Reader{follow, attach} {
		if line, err := r.ReadString('\n'); err != nil || line != "tick\n" {
			t.Errorf("streamed %q, %v; want tick", line, err)
		}
	}
	// Operations work on the restored container.
	done := make(chan string)
	go func() {
		out, _, _ := d.petrel("wait", "long")
		done <- out
	}()
	d.must("stop", "-t", "1", "long")
	if out := strings.TrimSpace(<-done); out != "137" {
		t.Errorf("wait on the restored container printed %q", out)
	}
	// Both end with the container.
	for _, r := range []*bufio.Reader{follow, attach} {
		io.Copy(io.Discard, r)
	}
	d.must("rm", "long", "short")
}

// shortID finds the id of the container named short from its record
// while the daemon is down.
func shortID(t *testing.T, d *daemon) string {
	ents, err := os.ReadDir(filepath.Join(d.root, "containers"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		data, _ := os.ReadFile(filepath.Join(d.root, "containers", e.Name(), "config.v2.json"))
		if strings.Contains(string(data), `"Name":"short"`) {
			return e.Name()
		}
	}
	t.Fatal("no record of short")
	return ""
}

func TestBadInput(t *testing.T) {
	d := startDaemon(t)
	t.Run("unknown flag", func(t *testing.T) {
		_, errs, code := d.petrel(d.runArgs("--bogus", "none", "true")...)
		if code != 125 || !strings.Contains(errs, "unknown flag: --bogus") {
			t.Errorf("exit %d, %q", code, errs)
		}
	})
	t.Run("bad restart policy", func(t *testing.T) {
		_, errs, code := d.petrel(d.runArgs("--restart", "sometimes", "none", "true")...)
		if code != 125 || !strings.Contains(errs, "invalid restart policy") {
			t.Errorf("exit %d, %q", code, errs)
		}
	})
	t.Run("bad log opt", func(t *testing.T) {
		_, errs, code := d.petrel(d.runArgs("--log-opt", "max-size=lots", "none", "true")...)
		if code != 125 || !strings.Contains(errs, "max-size") {
			t.Errorf("exit %d, %q", code, errs)
		}
	})
	t.Run("no image", func(t *testing.T) {
		_, errs, code := d.petrel("run", "--pull", "never", "busybox", "true")
		if code != 125 || !strings.Contains(errs, "No such image: busybox") {
			t.Errorf("exit %d, %q", code, errs)
		}
	})
	t.Run("unknown command", func(t *testing.T) {
		_, errs, code := d.petrel("frobnicate")
		if code != 125 || !strings.Contains(errs, "'frobnicate' is not a petrel command") {
			t.Errorf("exit %d, %q", code, errs)
		}
	})
	t.Run("broken JSON", func(t *testing.T) {
		for _, body := range []string{`{"Image": `, `{"Cmd": "not a list"}`, `[]`, `{} {}`} {
			resp, err := d.httpClient().Post("http://petrel/v1.41/containers/create", "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			msg, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 400 || !strings.Contains(string(msg), `"message":"invalid JSON`) {
				t.Errorf("%s: %d %s", body, resp.StatusCode, msg)
			}
		}
	})
	t.Run("api version", func(t *testing.T) {
		resp, err := d.httpClient().Get("http://petrel/v1.99/containers/json")
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.Contains(string(msg), "Maximum supported API version is 1.41") {
			t.Errorf("%d %s", resp.StatusCode, msg)
		}
	})
	if out := d.must("ps", "-aq"); out != "" {
		t.Errorf("bad requests left containers: %q", out)
	}
}

func TestBadDaemonConfig(t *testing.T) {
	d := startDaemon(t)
	tests := []struct {
		config, want string
	}{
		{`{"log-levle": "debug"}`, `unknown key "log-levle"`},
		{`{"log-level": "loud"}`, `key "log-level"`},
		{`{"hosts": "unix:///x"}`, `key "hosts"`},
		{`{"default-runtime": "nosuch"}`, `key "default-runtime"`},
		{`{"storage-opts": ["overlay2.size=1G"]}`, `key "storage-opts"`},
		{"{\n\"graph\": \"/x\",\n}", `line 3`},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			root := filepath.Join(d.dir, "never")
			cmd := execCommand(d.bin, "daemon", "--config-file", d.config(tc.config), "--graph", root, "--state", root+"-s", "-H", "unix://"+root+".sock")
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), tc.want) {
				t.Errorf("petreld: %v: %s; want an error naming %s", err, out, tc.want)
			}
			if _, err := os.Stat(root); err == nil {
				t.Error("a refused configuration created the root")
			}
		})
	}
}

func TestInfoVersionMemory(t *testing.T) {
	d := startDaemon(t)
	if out := d.must("info"); !strings.Contains(out, "Live Restore Enabled: true") {
		t.Errorf("info: %s", out)
	}
	if out := d.must("version"); !strings.Contains(out, "API version:  1.41") {
		t.Errorf("version: %s", out)
	}
	// `petrel version`, the applet: the binary's own version, then the
	// daemon's when one answers on $PETREL_HOST.
	cmd := exec.Command(d.bin, "version")
	cmd.Env = append(os.Environ(), "PETREL_HOST=unix://"+d.sock)
	if out, err := cmd.Output(); err != nil || !strings.HasPrefix(string(out), "petrel version ") || !strings.Contains(string(out), "\nServer: Petrel Engine\n") {
		t.Errorf("petrel version with a daemon: %v\n%s", err, out)
	}
	cmd = exec.Command(d.bin, "version")
	cmd.Env = append(os.Environ(), "PETREL_HOST=unix://"+d.sock+".none")
	if out, err := cmd.Output(); err != nil || strings.Contains(string(out), "Server:") {
		t.Errorf("petrel version without a daemon: %v\n%s", err, out)
	}
	idle, err := pss(d.cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	d.must(d.runArgs("-d", "--name", "mem", "none", "sleep", "1000")...)
	// The shim is the parent of the container's init.
	pid := d.inspect("mem", ".State.Pid")
	data, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(data)[strings.LastIndexByte(string(data), ')')+2:])
	shimPid, _ := strconv.Atoi(f[1])
	comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", shimPid))
	if !strings.HasPrefix(string(comm), "petrel-shim\x00") {
		t.Fatalf("init's parent %d is %q, not the shim", shimPid, comm)
	}
	shim, err := pss(shimPid)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("petreld idle PSS %d kB; petrel-shim PSS %d kB", idle, shim)
}

// TestRestoreDeletesLeftRuntimeState: a daemon that dies during a start,
// after the init's fork, leaves the runtime's state and cgroups of a
// created container; the next daemon deletes them, and the container
// starts again.
func TestRestoreDeletesLeftRuntimeState(t *testing.T) {
	d := startDaemon(t)
	if _, errs, code := d.petrel(d.runArgs("--name", "half", "--network", "host", "none", "sh", "-c", "exit 3")...); code != 3 {
		t.Fatalf("run: exit %d, want 3: %s", code, errs)
	}
	id := d.inspect("half", ".Id")
	d.kill9()
	// What such a daemon leaves, made with the runtime applet from the
	// bundle the run left: state, cgroups and an init waiting to start.
	root := filepath.Join(d.state, "runtime", "lcr")
	// Its output in a file: the init keeps the descriptors it inherits.
	outPath := filepath.Join(d.dir, "runtime-create.out")
	out, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	create := execCommand(d.bin, "runtime", "--root", root, "create", "--bundle", filepath.Join(d.root, "containers", id), id)
	create.Stdout, create.Stderr = out, out
	err = create.Run()
	out.Close()
	if err != nil {
		msg, _ := os.ReadFile(outPath)
		t.Fatalf("petrel runtime create: %v: %s", err, msg)
	}
	d.start()
	if _, err := os.Stat(filepath.Join(root, id)); !os.IsNotExist(err) {
		t.Errorf("the runtime state a failed start left is still there (%v)", err)
	}
	d.must("start", "half")
	if code := d.must("wait", "half"); code != "3" {
		t.Errorf("the container started again exited %s, want 3", code)
	}
}
