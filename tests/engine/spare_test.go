//go:build integration

package engine

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// spareShims returns the pids of the processes started as spare shims of
// d (a taken one keeps that command line).
func (d *daemon) spareShims() map[int]bool {
	want := "petrel-shim\x00--spare\x00" + d.state + "\x00"
	pids := map[int]bool{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline"); err == nil && strings.HasPrefix(string(b), want) {
			pids[pid] = true
		}
	}
	return pids
}

// waitingSpare waits for a spare shim of d that is not the shim of one
// of the containers named and returns it. It asks the daemon for the
// containers' shims once: a spare starts only once the API is quiet.
func (d *daemon) waitingSpare(names ...string) int {
	d.t.Helper()
	taken := d.shims(names...)
	var spare int
	d.waitFor("a spare shim", func() bool {
		spare = 0
		for pid := range d.spareShims() {
			if !taken[pid] {
				if spare != 0 {
					d.t.Fatalf("more than one spare shim waits: %d and %d", spare, pid)
				}
				spare = pid
			}
		}
		return spare != 0
	})
	return spare
}

// shims returns the shims of the running containers named.
func (d *daemon) shims(names ...string) map[int]bool {
	d.t.Helper()
	m := map[int]bool{}
	for _, n := range names {
		if pid := d.inspect(n, ".State.Pid"); pid != "0" {
			m[shimOf(d.t, pid)] = true
		}
	}
	return m
}

// noSpare fails the test if a spare shim of d that is not the shim of
// one of the containers named waits, half a second after the call.
func (d *daemon) noSpare(names ...string) {
	d.t.Helper()
	taken := d.shims(names...)
	time.Sleep(500 * time.Millisecond)
	for pid := range d.spareShims() {
		if !taken[pid] {
			d.t.Errorf("a spare shim (%d) waits", pid)
		}
	}
}

// TestSpareShim: once a container has started, petreld keeps a spare
// shim, which the next start takes: it becomes the container's shim, and
// the container runs under the normal scheduling policy, not the
// spare's boot-time SCHED_IDLE. A spare no start takes goes after
// "spare-shim", and with its daemon when that is killed; "0" keeps none.
func TestSpareShim(t *testing.T) {
	d := startDaemon(t)
	d.restartWith(`{"spare-shim": "2s"}`)
	d.noSpare() // before any start
	d.must(d.runArgs("-d", "--name", "first", "none", "sleep", "1000")...)
	spare := d.waitingSpare("first")
	// ps -e, top and pgrep know shims by name, not as "exe" (petreld
	// executes them through /proc/self/exe). A process takes its name
	// once its Go runtime is up, which a spare booting under SCHED_IDLE
	// may not be when it is found.
	name := func(pid int) string {
		comm, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
		return string(comm)
	}
	if first := shimOf(t, d.inspect("first", ".State.Pid")); name(first) != "petrel-shim\n" {
		t.Errorf("the first container's shim %d is named %q, not petrel-shim", first, name(first))
	}
	d.waitFor("the spare's name", func() bool { return name(spare) == "petrel-shim\n" })

	d.must(d.runArgs("-d", "--name", "second", "none", "sh", "-c", "echo up; sleep 1000")...)
	init := d.inspect("second", ".State.Pid")
	if got := shimOf(t, init); got != spare {
		t.Errorf("the second container's shim is %d, not the spare %d", got, spare)
	}
	pid, _ := strconv.Atoi(init)
	if attr, err := unix.SchedGetAttr(pid, 0); err != nil || attr.Policy != unix.SCHED_NORMAL {
		t.Errorf("the container's init runs under %+v (%v), want SCHED_NORMAL", attr, err)
	}
	if out := d.must("exec", "second", "echo", "exec"); out != "exec" {
		t.Errorf("exec in a spare's container: %q", out)
	}
	d.waitFor("the container's log", func() bool { out, _, _ := d.petrel("logs", "second"); return out == "up\n" })

	// The next spare goes once no start has taken it for 2 s.
	next := d.waitingSpare("first", "second")
	began := time.Now()
	d.waitFor("the untaken spare to go", func() bool { return unix.Kill(next, 0) != nil })
	if waited := time.Since(began); waited > 6*time.Second {
		t.Errorf("the untaken spare lived %v, want about 2 s", waited)
	}
	if out := d.must("stop", "-t", "1", "second"); out != "second" {
		t.Errorf("stop: %q", out)
	}
	if code := d.inspect("second", ".State.ExitCode"); code != "143" && code != "137" {
		t.Errorf("the stopped container's exit code is %s", code)
	}

	// A daemon killed with SIGKILL takes its spare with it.
	d.must("start", "second")
	next = d.waitingSpare("first", "second")
	d.kill9()
	d.waitFor("the spare to go with its daemon", func() bool { return unix.Kill(next, 0) != nil })

	d.restartWith(`{"spare-shim": "0"}`)
	d.must(d.runArgs("-d", "--name", "third", "none", "sleep", "1000")...)
	d.noSpare("first", "second", "third") // with "spare-shim": "0"
}
