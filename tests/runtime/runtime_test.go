//go:build integration

// End-to-end tests of petrel-runtime: real containers from busybox
// bundles, driven through the command line as engines drive runc.
package runtime

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/tests/internal/testenv"
)

// rt runs petrel-runtime with its own state root.
type rt struct {
	t    *testing.T
	bin  string
	root string
	env  []string // added to the runtime's environment
}

func newRT(t *testing.T) *rt {
	testenv.RequireRoot(t)
	return &rt{t: t, bin: testenv.Link(t, "petrel-runtime"), root: t.TempDir()}
}

func (r *rt) cmd(args ...string) *exec.Cmd {
	cmd := exec.Command(r.bin, append([]string{"--root", r.root}, args...)...)
	if r.env != nil {
		cmd.Env = append(os.Environ(), r.env...)
	}
	return cmd
}

// initPaths are the two ways Create starts a container's init: forked
// (the default where the configuration allows) and re-executed.
var initPaths = []struct {
	name string
	env  []string
}{{"forked", nil}, {"reexec", []string{"PETREL_INIT=exec"}}}

// run runs a command and returns stdout, stderr and the exit code.
func (r *rt) run(args ...string) (string, string, int) {
	r.t.Helper()
	cmd := r.cmd(args...)
	// Files, not pipes: a detached container keeps its stdio open, and
	// waiting for a pipe's end would wait for the container.
	dir := r.t.TempDir()
	outf, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		r.t.Fatal(err)
	}
	defer outf.Close()
	errf, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		r.t.Fatal(err)
	}
	defer errf.Close()
	cmd.Stdout, cmd.Stderr = outf, errf
	err = cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		r.t.Fatalf("%v: %v", args, err)
	}
	out, _ := os.ReadFile(outf.Name())
	errs, _ := os.ReadFile(errf.Name())
	return string(out), string(errs), code
}

func (r *rt) ok(args ...string) string {
	r.t.Helper()
	out, errs, code := r.run(args...)
	if code != 0 {
		r.t.Fatalf("petrel-runtime %v: exit %d: %s", args, code, errs)
	}
	return out
}

func (r *rt) state(id string) specs.State {
	r.t.Helper()
	var s specs.State
	if err := json.Unmarshal([]byte(r.ok("state", id)), &s); err != nil {
		r.t.Fatal(err)
	}
	return s
}

// cleanup deletes the container at the end of the test whatever happened.
func (r *rt) cleanup(id string) {
	r.t.Cleanup(func() { r.run("delete", "--force", id) })
}

func uniqueID(t *testing.T) string {
	return fmt.Sprintf("t%d-%s", os.Getpid(), strings.NewReplacer("/", "-", "_", "-", "=", "-").Replace(strings.ToLower(t.Name())))
}

func TestRunPassesOutputAndExitCode(t *testing.T) {
	r := newRT(t)
	b := testenv.Bundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", "echo out-$(hostname); echo err >&2; exit 7"}
	})
	id := uniqueID(t)
	out, errs, code := r.run("run", "--bundle", b, id)
	if code != 7 {
		t.Fatalf("exit %d, want 7 (stderr %q)", code, errs)
	}
	if out != "out-petrel\n" || !strings.Contains(errs, "err") {
		t.Errorf("stdout %q stderr %q", out, errs)
	}
	if _, err := os.Stat(filepath.Join(r.root, id)); !os.IsNotExist(err) {
		t.Errorf("run left state behind: %v", err)
	}
}

func TestRunKilledBySignal(t *testing.T) {
	r := newRT(t)
	b := testenv.Bundle(t, func(s *specs.Spec) { s.Process.Args = []string{"sleep", "1000"} })
	id := uniqueID(t)
	done := make(chan int, 1)
	go func() { _, _, code := r.run("run", "--bundle", b, id); done <- code }()
	waitFor(t, func() bool { _, _, code := r.run("state", id); return code == 0 && r.state(id).Status == "running" })
	r.ok("kill", id, "KILL")
	if code := <-done; code != 128+9 {
		t.Fatalf("exit %d, want %d", code, 128+9)
	}
}

func TestLifecycle(t *testing.T) {
	r := newRT(t)
	marker := "started"
	b := testenv.Bundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", "touch /tmp/" + marker + "; exec sleep 1000"}
		s.Root.Readonly = false
	})
	id := uniqueID(t)
	r.cleanup(id)
	pidFile := filepath.Join(t.TempDir(), "pid")
	r.ok("create", "--bundle", b, "--pid-file", pidFile, id)
	st := r.state(id)
	if st.Status != "created" || st.Pid <= 0 {
		t.Fatalf("after create: %+v", st)
	}
	if data, _ := os.ReadFile(pidFile); string(data) != fmt.Sprint(st.Pid) {
		t.Errorf("pid file %q, state pid %d", data, st.Pid)
	}
	if _, err := os.Stat(filepath.Join(b, "rootfs/tmp", marker)); err == nil {
		t.Fatal("the process ran before start")
	}
	if _, _, code := r.run("create", "--bundle", b, id); code == 0 {
		t.Fatal("a second create with the same id succeeded")
	}
	r.ok("start", id)
	if st := r.state(id); st.Status != "running" {
		t.Fatalf("after start: %s", st.Status)
	}
	waitFor(t, func() bool { _, err := os.Stat(filepath.Join(b, "rootfs/tmp", marker)); return err == nil })
	if _, _, code := r.run("start", id); code == 0 {
		t.Error("starting a running container succeeded")
	}
	list := r.ok("list", "--format", "json")
	if !strings.Contains(list, `"id":"`+id+`"`) {
		t.Errorf("list lacks the container: %s", list)
	}
	if _, errs, code := r.run("delete", id); code == 0 || !strings.Contains(errs, "not stopped") {
		t.Errorf("delete of a running container: exit %d, %q", code, errs)
	}
	r.ok("kill", id, "KILL")
	waitFor(t, func() bool { return r.state(id).Status == "stopped" })
	r.ok("delete", id)
	if _, errs, code := r.run("state", id); code == 0 || !strings.Contains(errs, "does not exist") {
		t.Errorf("state after delete: exit %d, %q", code, errs)
	}
	assertNoCgroup(t, id)
}

func TestExecPauseResumeUpdate(t *testing.T) {
	r := newRT(t)
	b := testenv.Bundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"sleep", "1000"}
		s.Hostname = "exectest"
	})
	id := uniqueID(t)
	r.cleanup(id)
	r.ok("run", "--detach", "--bundle", b, id)
	out, errs, code := r.run("exec", "--env", "FOO=bar", "--cwd", "/tmp", id, "sh", "-c", "echo $FOO $(pwd) $(hostname) $$; ps | wc -l; exit 4")
	if code != 4 {
		t.Fatalf("exec exit %d (%s)", code, errs)
	}
	f := strings.Fields(out)
	if len(f) < 4 || f[0] != "bar" || f[1] != "/tmp" || f[2] != "exectest" || f[3] == "1" {
		t.Errorf("exec output %q: want env, cwd, the container's hostname, a pid in its namespace", out)
	}
	var pids []int
	if err := json.Unmarshal([]byte(r.ok("ps", "--format", "json", id)), &pids); err != nil || len(pids) != 1 {
		t.Errorf("ps: %v %v", pids, err)
	}
	r.ok("pause", id)
	if st := r.state(id); st.Status != "paused" {
		t.Errorf("after pause: %s", st.Status)
	}
	r.ok("resume", id)
	if st := r.state(id); st.Status != "running" {
		t.Errorf("after resume: %s", st.Status)
	}
	r.ok("update", "--memory", "32m", "--pids-limit", "20", id)
	var ev struct {
		Data struct {
			Memory struct{ Usage struct{ Limit uint64 } }
			Pids   struct{ Limit uint64 }
		}
	}
	if err := json.Unmarshal([]byte(r.ok("events", "--stats", id)), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Data.Memory.Usage.Limit != 32<<20 || ev.Data.Pids.Limit != 20 {
		t.Errorf("stats after update: %+v", ev.Data)
	}
	r.ok("kill", "--all", id, "9")
	waitFor(t, func() bool { return r.state(id).Status == "stopped" })
	r.ok("delete", id)
	assertNoCgroup(t, id)
}

func TestIsolation(t *testing.T) {
	r := newRT(t)
	b := testenv.Bundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", strings.Join([]string{
			"echo pid=$$",
			"grep -q . /proc/kcore 2>/dev/null && echo kcore=readable || echo kcore=masked",
			"touch /rootfs-write 2>/dev/null && echo root=rw || echo root=ro",
			"echo x > /proc/sys/kernel/hostname 2>/dev/null && echo procsys=rw || echo procsys=ro",
			"ls /dev | tr '\\n' ' '",
			"echo; grep CapEff /proc/self/status",
			"ulimit -n",
			"ip link 2>/dev/null | grep -c '^[0-9]'",
		}, "; ")}
		s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 512, Soft: 256}}
	})
	out, errs, code := r.run("run", "--bundle", b, uniqueID(t))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"pid=1\n", "kcore=masked", "root=ro", "procsys=ro", "null", "zero", "urandom", "tty", "CapEff:\t00000000200004", "\n256\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestUserNamespace(t *testing.T) {
	r := newRT(t)
	b := testenv.Bundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", "id -u; cat /proc/self/uid_map"}
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		s.Linux.UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
		s.Linux.GIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 100000, Size: 65536}}
	})
	// The mapped root is another host user: it must be able to reach
	// the rootfs, which t.TempDir makes 0700.
	for _, d := range []string{filepath.Dir(b), b} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	out, errs, code := r.run("run", "--bundle", b, uniqueID(t))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	f := strings.Fields(out)
	if len(f) < 4 || f[0] != "0" || f[2] != "100000" || f[3] != "65536" {
		t.Errorf("output %q: want uid 0 mapped to 100000", out)
	}
}

func TestHooksRunInOrderWithState(t *testing.T) {
	r := newRT(t)
	log := filepath.Join(t.TempDir(), "hooks.log")
	hook := func(name string) specs.Hook {
		return specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", `read -r s; echo "` + name + ` $s" >> ` + log}}
	}
	b := testenv.Bundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"true"}
		s.Hooks = &specs.Hooks{
			Prestart:        []specs.Hook{hook("prestart")},
			CreateRuntime:   []specs.Hook{hook("createRuntime")},
			CreateContainer: []specs.Hook{hook("createContainer")},
			Poststart:       []specs.Hook{hook("poststart")},
			Poststop:        []specs.Hook{hook("poststop")},
			// Runs in the container: resolves there and writes there.
			StartContainer: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "cat > /tmp/startContainer"}}},
		}
		s.Root.Readonly = false
	})
	id := uniqueID(t)
	r.ok("run", "--bundle", b, id)
	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		name, st, _ := strings.Cut(line, " ")
		var s specs.State
		if err := json.Unmarshal([]byte(st), &s); err != nil || s.ID != id {
			t.Errorf("%s hook got state %q: %v", name, st, err)
		}
		order = append(order, name)
	}
	if got := strings.Join(order, ","); got != "prestart,createRuntime,createContainer,poststart,poststop" {
		t.Errorf("hook order %s", got)
	}
	if data, err := os.ReadFile(filepath.Join(b, "rootfs/tmp/startContainer")); err != nil || !strings.Contains(string(data), id) {
		t.Errorf("startContainer hook: %q, %v", data, err)
	}
}

func TestFailingHookFailsCreateAndCleansUp(t *testing.T) {
	r := newRT(t)
	b := testenv.Bundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"true"}
		s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/sh", Args: []string{"sh", "-c", "echo hook-broke >&2; exit 1"}}}}
	})
	id := uniqueID(t)
	before := mounts(t)
	_, errs, code := r.run("create", "--bundle", b, id)
	if code == 0 || !strings.Contains(errs, "hook-broke") {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	assertClean(t, r, id, b, before)
}

func TestConsoleSocket(t *testing.T) {
	r := newRT(t)
	b := testenv.Bundle(t, func(s *specs.Spec) {
		s.Process.Terminal = true
		s.Process.Args = []string{"sh", "-c", "tty; sleep 1000"}
	})
	sock, got := consoleListener(t)
	id := uniqueID(t)
	r.cleanup(id)
	if _, errs, code := r.run("create", "--bundle", b, id); code == 0 || !strings.Contains(errs, "console-socket") {
		t.Fatalf("create with terminal and no console socket: exit %d, %q", code, errs)
	}
	r.ok("create", "--bundle", b, "--console-socket", sock, id)
	master := <-got
	if master == nil {
		t.Fatal("no pty master received")
	}
	defer master.Close()
	r.ok("start", id)
	master.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64)
	n, _ := master.Read(buf)
	if !strings.Contains(string(buf[:n]), "/dev/pts/") {
		t.Errorf("container stdout on the pty: %q", buf[:n])
	}
}

func TestBadInputLeavesNothingBehind(t *testing.T) {
	for _, path := range initPaths {
		t.Run(path.name, func(t *testing.T) {
			r := newRT(t)
			r.env = path.env
			testBadInput(t, r)
		})
	}
}

func testBadInput(t *testing.T, r *rt) {
	tests := []struct {
		name   string
		mutate func(*specs.Spec)
		raw    string // config.json content instead of a mutated spec
		want   string
	}{
		{name: "malformed config", raw: `{"ociVersion": "1.0.2", "root": {"path": "rootfs"},`, want: "malformed JSON"},
		{name: "missing rootfs", mutate: func(s *specs.Spec) { s.Root.Path = "no-such-rootfs" }, want: "no-such-rootfs"},
		{name: "unknown namespace", mutate: func(s *specs.Spec) {
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "bogus"})
		}, want: `unknown namespace type "bogus"`},
		{name: "bad capability", mutate: func(s *specs.Spec) { s.Process.Capabilities.Effective = []string{"CAP_TELEPORT"} }, want: "CAP_TELEPORT"},
		{name: "invalid mount", mutate: func(s *specs.Spec) {
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "bind", Source: "/no/such/dir", Options: []string{"rbind"}})
		}, want: "/no/such/dir"},
		{name: "missing executable", mutate: func(s *specs.Spec) { s.Process.Args = []string{"no-such-program"} }, want: "no-such-program"},
		{name: "not executable", mutate: func(s *specs.Spec) { s.Process.Args = []string{"/etc/passwd"} }, want: "/etc/passwd"},
		{name: "bad cwd", mutate: func(s *specs.Spec) { s.Process.Cwd = "/no/such/dir" }, want: "/no/such/dir"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := testenv.Bundle(t, func(s *specs.Spec) {
				s.Process.Args = []string{"true"}
				if tc.mutate != nil {
					tc.mutate(s)
				}
			})
			if tc.raw != "" {
				os.WriteFile(filepath.Join(b, "config.json"), []byte(tc.raw), 0o644)
			}
			id := "bad-" + strings.ReplaceAll(tc.name, " ", "-")
			before := mounts(t)
			_, errs, code := r.run("create", "--bundle", b, id)
			if code == 0 {
				r.run("delete", "--force", id)
				t.Fatal("create succeeded")
			}
			if !strings.Contains(errs, tc.want) {
				t.Errorf("stderr %q does not name %q", errs, tc.want)
			}
			assertClean(t, r, id, b, before)
		})
	}
	t.Run("existing id", func(t *testing.T) {
		b := testenv.Bundle(t, func(s *specs.Spec) { s.Process.Args = []string{"sleep", "100"} })
		r.ok("create", "--bundle", b, "dup")
		defer r.run("delete", "--force", "dup")
		pid := r.state("dup").Pid
		if _, errs, code := r.run("create", "--bundle", b, "dup"); code == 0 || !strings.Contains(errs, "already exists") {
			t.Fatalf("exit %d, %q", code, errs)
		}
		if st := r.state("dup"); st.Pid != pid || st.Status != "created" {
			t.Errorf("the first container changed: %+v", st)
		}
	})
	t.Run("bad id", func(t *testing.T) {
		b := testenv.Bundle(t, nil)
		if _, errs, code := r.run("create", "--bundle", b, "../escape"); code == 0 || !strings.Contains(errs, "invalid container id") {
			t.Fatalf("exit %d, %q", code, errs)
		}
	})
	t.Run("unknown signal", func(t *testing.T) {
		if _, errs, code := r.run("kill", "x", "SIGNOPE"); code != 2 || !strings.Contains(errs, "SIGNOPE") {
			t.Fatalf("exit %d, %q", code, errs)
		}
	})
}

// mounts returns the mount points of this mount namespace.
func mounts(t *testing.T) map[string]bool {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]bool{}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 {
			m[f[4]] = true
		}
	}
	return m
}

// assertClean checks that a failed create left no state, no cgroup and no
// new mount in this mount namespace (other suites on the machine may add
// their own mounts meanwhile: only those under /tmp, where the bundles
// live, or naming the container count).
// assertClean checks that a failed create left nothing: no state, no
// cgroup, and no mount under the bundle or the state root (other
// processes on the host may mount elsewhere meanwhile).
func assertClean(t *testing.T, r *rt, id, bundle string, before map[string]bool) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(r.root, id)); !os.IsNotExist(err) {
		t.Errorf("state directory left behind: %v", err)
	}
	for m := range mounts(t) {
		if !before[m] && (strings.HasPrefix(m, bundle) || strings.HasPrefix(m, r.root) || strings.Contains(m, id)) {
			t.Errorf("mount left behind: %s", m)
		}
	}
	assertNoCgroup(t, id)
}

func assertNoCgroup(t *testing.T, id string) {
	t.Helper()
	found, _ := filepath.Glob("/sys/fs/cgroup/*/petrel/" + id)
	found2, _ := filepath.Glob("/sys/fs/cgroup/petrel/" + id)
	if left := append(found, found2...); len(left) > 0 {
		t.Errorf("cgroup directories left behind: %v", left)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSeccomp(t *testing.T) {
	r := newRT(t)
	for _, nnp := range []bool{true, false} {
		t.Run(fmt.Sprintf("no_new_privs=%v", nnp), func(t *testing.T) {
			b := testenv.Bundle(t, func(s *specs.Spec) {
				s.Root.Readonly = false
				s.Process.NoNewPrivileges = nnp
				s.Process.Args = []string{"sh", "-c", "mkdir /tmp/a 2>&1; echo mkdir=$?; touch /tmp/b && echo touch=ok"}
				s.Linux.Seccomp = &specs.LinuxSeccomp{
					DefaultAction: specs.ActAllow,
					Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchAARCH64, specs.ArchARM, specs.ArchRISCV64},
					Syscalls: []specs.LinuxSyscall{{
						Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno, ErrnoRet: func() *uint { v := uint(unix.EPERM); return &v }(),
					}},
				}
			})
			out, errs, code := r.run("run", "--bundle", b, uniqueID(t))
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			if !strings.Contains(out, "Operation not permitted") || !strings.Contains(out, "mkdir=1") || !strings.Contains(out, "touch=ok") {
				t.Errorf("output %q: want mkdir refused with EPERM and touch allowed", out)
			}
		})
	}
}

func TestSchedulerIOPriorityPersonality(t *testing.T) {
	r := newRT(t)
	b := testenv.Bundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", "uname -m; cut -d\" \" -f19 /proc/self/stat"}
		s.Process.Scheduler = &specs.Scheduler{Policy: specs.SchedBatch, Nice: 7}
		s.Process.IOPriority = &specs.LinuxIOPriority{Class: specs.IOPRIO_CLASS_IDLE}
		s.Linux.Personality = &specs.LinuxPersonality{Domain: specs.PerLinux32}
	})
	out, errs, code := r.run("run", "--bundle", b, uniqueID(t))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	f := strings.Fields(out)
	if len(f) < 2 || f[1] != "7" {
		t.Errorf("output %q: want nice 7", out)
	}
	if strings.HasSuffix(f[0], "64") {
		t.Errorf("uname -m %q under the linux32 personality", f[0])
	}
	b2 := testenv.Bundle(t, func(s *specs.Spec) { s.Process.Scheduler = &specs.Scheduler{Policy: "SCHED_FAST"} })
	if _, errs, code := r.run("create", "--bundle", b2, uniqueID(t)+"-bad"); code == 0 || !strings.Contains(errs, "SCHED_FAST") {
		t.Errorf("unknown policy: exit %d, %q", code, errs)
	}
}

// Docker sets namespaced sysctls under /proc/sys, which is also one of the
// read-only paths: the sysctls must be written first.
func TestSysctlUnderReadonlyProcSys(t *testing.T) {
	r := newRT(t)
	b := testenv.Bundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start"}
		s.Linux.Sysctl = map[string]string{"net.ipv4.ip_unprivileged_port_start": "0"}
	})
	out, errs, code := r.run("run", "--bundle", b, uniqueID(t))
	if code != 0 || strings.TrimSpace(out) != "0" {
		t.Fatalf("exit %d, output %q, stderr %q", code, out, errs)
	}
}

// Without a mount namespace the container's mounts are made in the
// runtime's, under the rootfs, and delete removes them.
func TestNoMountNamespaceLeavesNoMounts(t *testing.T) {
	r := newRT(t)
	b := testenv.Bundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", "ls /proc/self/ns/ | wc -l; readlink /proc/self/ns/mnt"}
		var ns []specs.LinuxNamespace
		for _, n := range s.Linux.Namespaces {
			if n.Type != specs.MountNamespace {
				ns = append(ns, n)
			}
		}
		s.Linux.Namespaces = ns
	})
	hostMnt, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Fatal(err)
	}
	before := mounts(t)
	out, errs, code := r.run("run", "--bundle", b, uniqueID(t))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, hostMnt) {
		t.Errorf("output %q: want the runtime's mount namespace %s", out, hostMnt)
	}
	for m := range mounts(t) {
		if !before[m] && strings.HasPrefix(m, os.TempDir()) {
			t.Errorf("mount left behind: %s", m)
		}
	}
	b2 := testenv.Bundle(t, func(s *specs.Spec) {
		var ns []specs.LinuxNamespace
		for _, n := range s.Linux.Namespaces {
			if n.Type != specs.UTSNamespace {
				ns = append(ns, n)
			}
		}
		s.Linux.Namespaces = ns
		s.Hostname = "nope"
	})
	if _, errs, code := r.run("create", "--bundle", b2, uniqueID(t)+"-uts"); code == 0 || !strings.Contains(errs, "uts namespace") {
		t.Errorf("hostname without a uts namespace: exit %d, %q", code, errs)
	}
}

// A config without a process can be created; start fails and stops it.
func TestCreateWithoutProcess(t *testing.T) {
	r := newRT(t)
	b := testenv.Bundle(t, func(s *specs.Spec) { s.Process = nil })
	id := uniqueID(t)
	r.cleanup(id)
	r.ok("create", "--bundle", b, id)
	if st := r.state(id); st.Status != "created" {
		t.Fatalf("after create: %s", st.Status)
	}
	if _, errs, code := r.run("start", id); code == 0 || !strings.Contains(errs, "no process") {
		t.Fatalf("start: exit %d, %q", code, errs)
	}
	waitFor(t, func() bool { return r.state(id).Status == "stopped" })
	r.ok("delete", id)
}

// An fd the runtime's caller leaked to it (no close-on-exec) must not
// reach the container; --preserve-fds ones must.
func TestLeakedFdsDoNotReachTheContainer(t *testing.T) {
	r := newRT(t)
	b := testenv.Bundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", "ls /proc/self/fd | tr '\\n' ' '"}
	})
	f, err := os.Open("/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := r.cmd("run", "--preserve-fds", "1", "--bundle", b, uniqueID(t))
	// ExtraFiles[0] becomes fd 3 (preserved); [6] fd 9 (leaked).
	cmd.ExtraFiles = []*os.File{f, nil, nil, nil, nil, nil, f}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	fds := strings.Fields(string(out))
	got := map[string]bool{}
	for _, fd := range fds {
		got[fd] = true
	}
	if !got["3"] || got["9"] {
		t.Errorf("container fds %v: want 3 (preserved) and not 9 (leaked)", fds)
	}
}

// RLIMIT_AS, applied at the last moment before exec, reaches the process.
func TestAddressSpaceLimit(t *testing.T) {
	r := newRT(t)
	b := testenv.Bundle(t, func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", "ulimit -v"}
		s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_AS", Hard: 64 << 20, Soft: 64 << 20}}
	})
	out, errs, code := r.run("run", "--bundle", b, uniqueID(t))
	if code != 0 || strings.TrimSpace(out) != "65536" {
		t.Fatalf("exit %d, output %q, stderr %q; want ulimit -v 65536", code, out, errs)
	}
}

// consoleListener listens on a console socket and delivers the first pty
// master sent to it (nil on failure).
func consoleListener(t *testing.T) (string, <-chan *os.File) {
	sock := filepath.Join(t.TempDir(), "console.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	got := make(chan *os.File, 1)
	go func() {
		c, err := l.AcceptUnix()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		f, _ := c.File()
		buf, oob := make([]byte, 256), make([]byte, unix.CmsgSpace(4))
		_, oobn, _, _, err := unix.Recvmsg(int(f.Fd()), buf, oob, 0)
		if err != nil {
			got <- nil
			return
		}
		msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
		fds, _ := unix.ParseUnixRights(&msgs[0])
		got <- os.NewFile(uintptr(fds[0]), "pty")
	}()
	return sock, got
}

// TestCreateReleasesCallersPipes: once create returns, the container
// holds none of the runtime's own fds (engines read the runtime's output
// until EOF); with a terminal its stdio is the pty, not the caller's.
func TestCreateReleasesCallersPipes(t *testing.T) {
	for _, path := range initPaths {
		t.Run(path.name, func(t *testing.T) {
			r := newRT(t)
			r.env = path.env
			b := testenv.Bundle(t, func(s *specs.Spec) {
				s.Process.Terminal = true
				s.Process.Args = []string{"sleep", "1000"}
			})
			sock, got := consoleListener(t)
			id := uniqueID(t)
			r.cleanup(id)
			outR, outW, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer outR.Close()
			leakR, leakW, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer leakR.Close()
			cmd := r.cmd("create", "--bundle", b, "--console-socket", sock, id)
			cmd.Stdout, cmd.Stderr = outW, outW
			cmd.ExtraFiles = []*os.File{leakW} // fd 3, not preserved
			err = cmd.Run()
			outW.Close()
			leakW.Close()
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			if master := <-got; master != nil {
				defer master.Close()
			}
			for name, f := range map[string]*os.File{"stdout": outR, "fd 3": leakR} {
				f.SetReadDeadline(time.Now().Add(20 * time.Second))
				if _, err := io.ReadAll(f); err != nil {
					t.Errorf("the runtime's %s is still open after create: %v", name, err)
				}
			}
			if st := r.state(id); st.Status != "created" {
				t.Errorf("status %q", st.Status)
			}
		})
	}
}

// TestInitPathsAgree runs one container that uses most process and
// namespace settings through both init paths: the container must see the
// same thing.
func TestInitPathsAgree(t *testing.T) {
	script := strings.Join([]string{
		"id", "umask", "pwd", "hostname", "echo HOME=$HOME",
		"grep -E '^(Cap|NoNewPrivs|Seccomp:)' /proc/self/status",
		"ulimit -n", "cat /proc/sys/net/ipv4/ip_forward",
		"touch /x 2>/dev/null && echo root=rw || echo root=ro",
		"cat /proc/kcore 2>&1 | head -c 0; test -s /proc/kcore && echo kcore=visible || echo kcore=masked",
		"mkdir /tmp/d 2>&1 || echo mkdir-denied",
		"echo pid=$$",
		"ip -o link show lo | grep -q ',UP' && echo lo=up || echo lo=down",
		"ls -l /proc/self/fd | grep -c -- '->'",
	}, "; ")
	mutate := func(s *specs.Spec) {
		s.Process.Args = []string{"sh", "-c", script}
		s.Process.Env = append(s.Process.Env, "HOME=/home/u")
		s.Process.Cwd = "/tmp"
		s.Process.User = specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{10, 20}, Umask: ptr[uint32](0o027)}
		s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 300, Soft: 200}}
		s.Process.NoNewPrivileges = true
		s.Process.Capabilities = &specs.LinuxCapabilities{
			Bounding: []string{"CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"}, Permitted: []string{"CAP_CHOWN", "CAP_NET_BIND_SERVICE"},
			Effective: []string{"CAP_NET_BIND_SERVICE"}, Inheritable: []string{"CAP_NET_BIND_SERVICE"}, Ambient: []string{"CAP_NET_BIND_SERVICE"},
		}
		s.Hostname = "agree"
		s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": "1"}
		s.Root.Readonly = true
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"mode=1777"}})
		s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
			{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno, ErrnoRet: ptr[uint](1)},
		}}
	}
	var outs []string
	for _, path := range initPaths {
		r := newRT(t)
		r.env = path.env
		b := testenv.Bundle(t, mutate)
		out, errs, code := r.run("run", "--bundle", b, uniqueID(t)+"-"+path.name)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", path.name, code, errs)
		}
		outs = append(outs, out)
	}
	for _, want := range []string{"uid=1000 gid=1000 groups=10,20", "\n0027\n", "\n/tmp\n", "\nagree\n", "HOME=/home/u", "CapEff:\t0000000000000400", "CapBnd:\t0000000000000421",
		"CapAmb:\t0000000000000400", "NoNewPrivs:\t1", "Seccomp:\t2", "\n200\n", "\n1\n", "root=ro", "kcore=masked", "mkdir-denied", "pid=1\n", "lo=up\n"} {
		if !strings.Contains(outs[0], want) {
			t.Errorf("forked init: output lacks %q:\n%s", want, outs[0])
		}
	}
	if outs[0] != outs[1] {
		t.Errorf("the init paths disagree:\nforked:\n%s\nre-executed:\n%s", outs[0], outs[1])
	}

	// The same process through exec into a running container.
	var spec specs.Spec
	spec.Process, spec.Linux, spec.Root = &specs.Process{}, &specs.Linux{}, &specs.Root{}
	mutate(&spec)
	proc, err := json.Marshal(spec.Process)
	if err != nil {
		t.Fatal(err)
	}
	procFile := filepath.Join(t.TempDir(), "process.json")
	if err := os.WriteFile(procFile, proc, 0o644); err != nil {
		t.Fatal(err)
	}
	r := newRT(t)
	b := testenv.Bundle(t, func(s *specs.Spec) {
		mutate(s)
		s.Process.Args = []string{"sleep", "1000"}
	})
	id := uniqueID(t) + "-exec"
	r.cleanup(id)
	r.ok("run", "--detach", "--bundle", b, id)
	var execOuts []string
	for _, path := range initPaths {
		r.env = path.env
		out, errs, code := r.run("exec", "--process", procFile, id)
		if code != 0 {
			t.Fatalf("exec, %s: exit %d: %s", path.name, code, errs)
		}
		// An exec'd process's pid is whatever is free: not compared.
		execOuts = append(execOuts, regexp.MustCompile(`pid=[0-9]+`).ReplaceAllString(out, "pid=N"))
	}
	for _, want := range []string{"uid=1000 gid=1000 groups=10,20", "\n0027\n", "\n/tmp\n", "\nagree\n", "CapEff:\t0000000000000400", "NoNewPrivs:\t1", "Seccomp:\t2", "\n200\n", "mkdir-denied"} {
		if !strings.Contains(execOuts[0], want) {
			t.Errorf("forked exec: output lacks %q:\n%s", want, execOuts[0])
		}
	}
	if execOuts[0] != execOuts[1] {
		t.Errorf("the exec paths disagree:\nforked:\n%s\nre-executed:\n%s", execOuts[0], execOuts[1])
	}
}

func ptr[T any](v T) *T { return &v }
