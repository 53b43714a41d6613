//go:build integration

package engine

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestEvents(t *testing.T) {
	d := startDaemon(t)
	since := strconv.FormatInt(time.Now().Add(-time.Second).Unix(), 10)
	d.must(d.runArgs("--name", "ev", "none", "true")...)
	d.must("rm", "ev")
	until := strconv.FormatInt(time.Now().Add(time.Second).Unix(), 10)
	out := d.must("events", "--since", since, "--until", until)
	var actions []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[1] == "container" {
			actions = append(actions, f[2])
		}
	}
	if got := strings.Join(actions, " "); got != "create start die destroy" {
		t.Errorf("events %q, want create start die destroy:\n%s", got, out)
	}
}

func TestAutoRemoveDetached(t *testing.T) {
	d := startDaemon(t)
	id := d.must(d.runArgs("-d", "--rm", "none", "sh", "-c", "exit 0")...)
	// The daemon removes it; no client waits.
	d.waitFor("the container to be removed", func() bool {
		_, _, code := d.petrel("inspect", id)
		return code != 0
	})
}

func TestParallelContainers(t *testing.T) {
	d := startDaemon(t)
	const n = 10
	var wg sync.WaitGroup
	errs := make(chan string, 2*n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			name := fmt.Sprintf("par%d", i)
			if out, e, code := d.petrel(d.runArgs("-d", "--name", name, "none", "sleep", "1000")...); code != 0 {
				errs <- fmt.Sprintf("run %s: %d %s%s", name, code, out, e)
			}
			// Operations on one container from two clients at once are
			// serialised: both stops succeed, the container ends once.
			var inner sync.WaitGroup
			for j := 0; j < 2; j++ {
				inner.Add(1)
				go func() {
					defer inner.Done()
					if out, e, code := d.petrel("stop", "-t", "1", name); code != 0 {
						errs <- fmt.Sprintf("stop %s: %d %s%s", name, code, out, e)
					}
				}()
			}
			inner.Wait()
		}(i)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	out := d.must("ps", "-a", "--filter", "status=exited", "-q")
	if got := len(strings.Fields(out)); got != n {
		t.Errorf("%d exited containers, want %d", got, n)
	}
}

func TestShimKilled(t *testing.T) {
	d := startDaemon(t)
	d.must(d.runArgs("-d", "--name", "orphan", "none", "sleep", "1000")...)
	pid := d.inspect("orphan", ".State.Pid")
	data, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(data)[strings.LastIndexByte(string(data), ')')+2:])
	shimPid, _ := strconv.Atoi(f[1])
	syscall.Kill(shimPid, syscall.SIGKILL)
	d.waitFor("the lost container to be marked exited", func() bool {
		return d.inspect("orphan", ".State.Status") == "exited"
	})
	if code := d.inspect("orphan", ".State.ExitCode"); code != "255" {
		t.Errorf("exit code %s, want 255", code)
	}
	if e := d.inspect("orphan", ".State.Error"); !strings.Contains(e, "shim") {
		t.Errorf("state error %q", e)
	}
	// Its processes do not outlive the shim.
	d.waitFor("the container's init to be gone", func() bool {
		_, err := os.Stat("/proc/" + pid)
		return err != nil
	})
	d.must("rm", "orphan")
}

// TestRestartAfterReboot: a container with --restart always whose shim
// and processes died with the host (here: killed while no daemon ran)
// is started again by the next daemon.
func TestRestartAfterReboot(t *testing.T) {
	d := startDaemon(t)
	d.must(d.runArgs("-d", "--name", "boot", "--restart", "always", "none", "sleep", "1000")...)
	d.must(d.runArgs("-d", "--name", "once", "none", "sleep", "1000")...)
	var pids []string
	for _, name := range []string{"boot", "once"} {
		pid := d.inspect(name, ".State.Pid")
		data, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(string(data)[strings.LastIndexByte(string(data), ')')+2:])
		pids = append(pids, pid, f[1]) // init and shim
	}
	d.kill9()
	for _, p := range pids {
		n, _ := strconv.Atoi(p)
		syscall.Kill(n, syscall.SIGKILL)
	}
	d.waitFor("the processes to be gone", func() bool {
		for _, p := range pids {
			if _, err := os.Stat("/proc/" + p); err == nil {
				return false
			}
		}
		return true
	})
	d.start()
	d.waitFor("boot to run again", func() bool { return d.inspect("boot", ".State.Status") == "running" })
	if st := d.inspect("once", ".State.Status"); st != "exited" {
		t.Errorf("once (no restart policy) is %s", st)
	}
	d.must("rm", "-f", "boot", "once")
}

func TestHealthCheck(t *testing.T) {
	d := startDaemon(t)
	d.must(d.runArgs("-d", "--name", "doc", "--health-cmd", "test -e /tmp/ok && echo fine", "--health-interval", "100ms",
		"--health-retries", "2", "none", "sleep", "1000")...)
	d.waitFor("unhealthy", func() bool { return d.inspect("doc", ".State.Health.Status") == "unhealthy" })
	if st := d.must("ps", "--format", "{{.Status}}"); !strings.HasSuffix(st, "(unhealthy)") {
		t.Errorf("ps status %q", st)
	}
	d.must("exec", "doc", "touch", "/tmp/ok")
	d.waitFor("healthy", func() bool { return d.inspect("doc", ".State.Health.Status") == "healthy" })
	if out := d.inspect("doc", "json .State.Health.FailingStreak"); out != "0" {
		t.Errorf("failing streak %s", out)
	}
	if !strings.Contains(d.inspect("doc", "json .State.Health.Log"), `fine\n`) {
		t.Error("the probe's output is not in the health log")
	}
	_, errs, code := d.petrel(d.runArgs("--health-interval", "1s", "none", "true")...)
	if code != 125 || !strings.Contains(errs, "need --health-cmd") {
		t.Errorf("interval without command: exit %d, %q", code, errs)
	}
}

func TestResourcesAndSecurity(t *testing.T) {
	d := startDaemon(t)
	vol := t.TempDir()
	os.WriteFile(vol+"/f", []byte("data\n"), 0o644)
	out, errs, code := d.petrel(d.runArgs("--rm", "-m", "64m", "--cpus", "0.5", "--pids-limit", "20", "--ulimit", "nofile=100:200",
		"-v", vol+":/vol:ro", "--tmpfs", "/scratch", "--cap-drop", "NET_RAW", "--sysctl", "net.ipv4.ip_forward=1",
		"none", "sh", "-c", `cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/pids/pids.max
ulimit -n; cat /vol/f; touch /vol/g 2>/dev/null || echo ro; grep -c " /scratch tmpfs" /proc/mounts; cat /proc/sys/net/ipv4/ip_forward`)...)
	want := "67108864\n50000\n20\n100\ndata\nro\n1\n1\n"
	if code != 0 || out != want {
		t.Errorf("exit %d, stdout %q (want %q), stderr %q", code, out, want, errs)
	}
	// Bad values are refused before anything is created.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-m", "lots"}, `invalid argument "lots" for "-m, --memory" flag`},
		{[]string{"-m", "1m"}, "Minimum memory limit allowed is 6MB"},
		{[]string{"--cpus", "1000"}, "Range of CPUs"},
		{[]string{"--cap-add", "FLY"}, "invalid capability: FLY"},
		{[]string{"--sysctl", "vm.swappiness=1"}, "only namespaced sysctls"},
		{[]string{"--ulimit", "bogus=1"}, "invalid ulimit type: bogus"},
		{[]string{"-v", "n@med:/data"}, "invalid characters for a local volume name"},
		{[]string{"--security-opt", "apparmor=docker-default"}, "no AppArmor"},
	} {
		_, errs, code := d.petrel(append(append(d.runArgs("--rm"), tc.args...), "none", "true")...)
		if code != 125 || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, %q; want 125 and %q", tc.args, code, errs, tc.want)
		}
	}
	if out := d.must("ps", "-aq"); out != "" {
		t.Errorf("refused runs left containers: %q", out)
	}
}

// TestShimModes: with the built-in runtime petreld creates the container
// around an init that the shim forks, and the shim, the init's parent,
// serves it as it is. PETREL_SHIM_CREATES=1 in petreld's environment has
// the shim create the container itself and then execute itself again, to
// shed what creating it cost (PETREL_SHIM_REEXEC=0 keeps the first
// image). Each way serves the container the same, with pipes and with a
// terminal.
func TestShimModes(t *testing.T) {
	for _, mode := range []struct {
		name, creates, reexec string
		resumed               bool
	}{
		{name: "daemon-created"},
		{name: "shim-created", creates: "1", resumed: true},
		{name: "shim-created without re-executing", creates: "1", reexec: "0"},
	} {
		t.Run(mode.name, func(t *testing.T) {
			t.Setenv("PETREL_SHIM_CREATES", mode.creates)
			t.Setenv("PETREL_SHIM_REEXEC", mode.reexec)
			d := startDaemon(t)
			d.must(d.runArgs("-d", "-i", "--name", "piped", "none", "sh", "-c", "echo out; echo err >&2; read line; echo got $line; exit 7")...)
			d.must(d.runArgs("-d", "-t", "--name", "tty", "none", "sh", "-c", "echo on a terminal; sleep 1000")...)
			for _, name := range []string{"piped", "tty"} {
				pid := d.inspect(name, ".State.Pid")
				data, err := os.ReadFile("/proc/" + pid + "/stat")
				if err != nil {
					t.Fatal(err)
				}
				ppid := strings.Fields(string(data)[strings.LastIndexByte(string(data), ')')+2:])[1]
				cmdline, _ := os.ReadFile("/proc/" + ppid + "/cmdline")
				if !strings.HasPrefix(string(cmdline), "petrel-shim\x00") {
					t.Errorf("%s: the init's parent (pid %s) is %q, not its shim", name, ppid, cmdline)
				}
				if resumed := strings.Contains(string(cmdline), "\x00--resume\x00"); resumed != mode.resumed {
					t.Errorf("%s: the shim (pid %s) re-executed itself: %v; want %v", name, ppid, resumed, mode.resumed)
				}
			}
			d.waitFor("the piped container's output", func() bool { out, _, _ := d.petrel("logs", "piped"); return strings.Contains(out, "out") })
			if out, errs, _ := d.petrel("logs", "piped"); out != "out\n" || errs != "err\n" {
				t.Errorf("piped logs: stdout %q, stderr %q", out, errs)
			}
			d.waitFor("the terminal's output", func() bool { out, _, _ := d.petrel("logs", "tty"); return strings.Contains(out, "on a terminal") })
			if out := d.must("exec", "tty", "echo", "exec"); out != "exec" {
				t.Errorf("exec: %q", out)
			}
			// stdin reaches the container through the taken-over pipe.
			out, errs, code := d.petrelIn("line\n", "attach", "piped")
			if !strings.Contains(out, "got line") || code != 7 {
				t.Errorf("attach: %q %q, exit %d", out, errs, code)
			}
			if c := d.inspect("piped", ".State.ExitCode"); c != "7" {
				t.Errorf("exit code %s, want 7", c)
			}
			d.must("stop", "-t", "1", "tty")
			d.must("rm", "piped", "tty")
		})
	}
}
