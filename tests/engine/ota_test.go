//go:build integration

package engine

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/petrel-edge/petrel/tests/internal/testenv"
)

// TestOverTheAirUpdate replaces the installed binary as a firmware update
// does (write the new file beside the old one, rename it over) and
// restarts petreld, stopped cleanly or killed: the containers started by
// the old version keep running under their old shims and the new daemon
// manages them.
func TestOverTheAirUpdate(t *testing.T) {
	for _, stop := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(stop.String(), func(t *testing.T) { overTheAir(t, stop) })
	}
}

func overTheAir(t *testing.T, stop syscall.Signal) {
	// Version A installed as on a device: the binary and its links.
	d := installedDaemon(t, func(path string) string { return testenv.BuildVersion(t, path, "ota-A") })
	installed := d.bin
	// Version B, as the update delivers it.
	update := testenv.BuildVersion(t, filepath.Join(d.dir, "petrel-B"), "ota-B")
	d.start()
	if out := d.must("version"); !strings.Contains(out, "Version:      ota-A\n") {
		t.Fatalf("daemon A's version:\n%s", out)
	}

	// Both trap TERM with an exit code of their own, so that the codes
	// recorded after the update are the processes' own: svc's reported by
	// A's shim, keeper's (restarted after the update) by B's.
	loop := `trap "exit %d" TERM; echo %s; while :; do sleep 1 & wait $!; done`
	d.must(d.runArgs("-d", "--name", "svc", "none", "sh", "-c", fmt.Sprintf(loop, 42, "svc-up"))...)
	d.must(d.runArgs("-d", "--name", "keeper", "--restart", "always", "none", "sh", "-c", fmt.Sprintf(loop, 3, "keeper-up"))...)
	svcPid, keeperPid := d.inspect("svc", ".State.Pid"), d.inspect("keeper", ".State.Pid")
	svcShim := shimOf(t, svcPid)

	// The update: B is written beside A, synced, renamed over it.
	swapBinary(t, update, installed)
	switch stop {
	case syscall.SIGKILL:
		d.kill9()
	default:
		d.cmd.Process.Signal(stop)
		d.waitFor("petreld to exit", func() bool { return d.cmd.ProcessState != nil })
		d.log.Close()
	}
	if code := d.cmd.ProcessState.ExitCode(); stop == syscall.SIGTERM && code != 0 {
		t.Errorf("petreld A exited %d on SIGTERM", code)
	}
	d.start()

	// The daemon and the client are B now.
	if out := d.must("version"); !strings.Contains(out, "Version:      ota-B\n") {
		t.Errorf("after the update the daemon reports:\n%s", out)
	}
	if out := d.must("info"); !strings.Contains(out, "Server Version: ota-B\n") {
		t.Errorf("after the update petrel info says:\n%s", out)
	}
	if out, err := exec.Command(installed, "version").Output(); err != nil || !strings.HasPrefix(string(out), "petrel version ota-B\n") {
		t.Errorf("installed petrel version: %q, %v", out, err)
	}
	// The containers did not restart: same processes, under A's shims.
	for name, pid := range map[string]string{"svc": svcPid, "keeper": keeperPid} {
		if st, got := d.inspect(name, ".State.Status"), d.inspect(name, ".State.Pid"); st != "running" || got != pid {
			t.Errorf("%s after the update: %s pid %s, was running pid %s", name, st, got, pid)
		}
		if _, err := os.Stat("/proc/" + pid); err != nil {
			t.Errorf("%s's process %s is gone: %v", name, pid, err)
		}
	}
	if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", svcShim)); !strings.HasSuffix(exe, " (deleted)") {
		t.Errorf("svc's shim runs %q, want version A's replaced binary", exe)
	}
	if n := d.inspect("keeper", ".RestartCount"); n != "0" {
		t.Errorf("keeper restarted %s times across the update", n)
	}

	// exec and logs go through A's shim.
	if out := d.must("exec", "svc", "echo", "exec-after-update"); out != "exec-after-update" {
		t.Errorf("exec after the update: %q", out)
	}
	d.must("exec", "svc", "sh", "-c", "echo logged-after-update > /proc/1/fd/1")
	d.waitFor("the log line written after the update", func() bool {
		return d.must("logs", "svc") == "svc-up\nlogged-after-update"
	})

	// B applies keeper's restart policy: a crash restarts it under B's shim.
	kp, _ := strconv.Atoi(keeperPid)
	syscall.Kill(kp, syscall.SIGKILL)
	d.waitFor("keeper's restart", func() bool {
		return d.inspect("keeper", ".RestartCount") == "1" && d.inspect("keeper", ".State.Status") == "running"
	})
	newPid := d.inspect("keeper", ".State.Pid")
	if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", shimOf(t, newPid))); exe != installed {
		t.Errorf("keeper's new shim runs %q, want %s", exe, installed)
	}
	d.waitFor("keeper's second start in its log", func() bool { return d.must("logs", "keeper") == "keeper-up\nkeeper-up" })

	// New containers run under B.
	if out := d.must(d.runArgs("--rm", "none", "echo", "new")...); out != "new" {
		t.Errorf("a new container printed %q", out)
	}

	// stop ends both with their own exit codes; keeper stays stopped.
	d.must("stop", "svc", "keeper")
	for name, want := range map[string]string{"svc": "42", "keeper": "3"} {
		if st, code := d.inspect(name, ".State.Status"), d.inspect(name, ".State.ExitCode"); st != "exited" || code != want {
			t.Errorf("%s after stop: %s %s, want exited %s", name, st, code, want)
		}
	}
	if out := d.must("wait", "svc"); out != "42" {
		t.Errorf("wait svc printed %q", out)
	}
	d.must("rm", "svc", "keeper")
}

// shimOf returns the parent of a container's init: its shim.
func shimOf(t *testing.T, pid string) int {
	t.Helper()
	data, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(data)[strings.LastIndexByte(string(data), ')')+2:])
	ppid, _ := strconv.Atoi(f[1])
	comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", ppid))
	if !strings.HasPrefix(string(comm), "petrel-shim\x00") {
		t.Fatalf("the parent %d of %s is %q, not a shim", ppid, pid, comm)
	}
	return ppid
}

// swapBinary installs src at dst as README's update procedure does: copy
// to a temporary name in dst's directory, fsync, rename over dst, fsync
// the directory. The running processes keep the old file's inode.
func swapBinary(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	tmp := filepath.Join(filepath.Dir(dst), ".petrel.new")
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
	dirf, err := os.Open(filepath.Dir(dst))
	if err != nil {
		t.Fatal(err)
	}
	defer dirf.Close()
	if err := dirf.Sync(); err != nil {
		t.Fatal(err)
	}
}
