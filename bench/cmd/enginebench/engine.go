package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/net/bridge"
	"github.com/petrel-edge/petrel/net/iptables"
)

// An engine is one container engine under test: its client, the options
// every create and run gets, and the daemons the benchmark started for it.
type engine struct {
	name    string
	cli     string   // client binary
	env     []string // added to the client's environment
	global  []string // client options before the command
	opts    []string // options of create and run before the image
	netOpts []string // with -network: run's options on the default network
	image   string
	version string
	dir     string // the engine's private directory

	daemons []*daemon
	// hostProc tells, from its command line, whether a process is one of
	// the engine's per-container host processes (shim, conmon).
	hostProc func(argv []string) bool
	// spareProcs is how many host processes besides one per container
	// may be up (petrel's spare shim); they count in the containers' cost.
	spareProcs int
	// teardown removes what the engine left: run once, last first.
	teardown []func()

	failures []string
	dropped  bool
}

// callTimeout bounds every client call, so that a hanging engine fails the
// benchmark instead of stalling it; 100 concurrent calls of a slow engine
// take a while.
const callTimeout = 5 * time.Minute

// callError is a failed call with the exact command line and its stderr.
type callError struct {
	cmd    string
	err    error
	stderr string
}

func (e *callError) Error() string {
	s := fmt.Sprintf("%s: %v", e.cmd, e.err)
	if e.stderr != "" {
		s += "\n  stderr: " + strings.ReplaceAll(strings.TrimSpace(e.stderr), "\n", "\n          ")
	}
	return s
}

func (e *callError) Unwrap() error { return e.err }

// call runs the client with args and returns its wall time (fork to reaped
// exit) and stdout.
func (e *engine) call(args ...string) (time.Duration, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	argv := append(slices.Clone(e.global), args...)
	cmd := exec.CommandContext(ctx, e.cli, argv...)
	cmd.Env = append(os.Environ(), e.env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w after %v", ctx.Err(), callTimeout)
		}
		return d, out.String(), &callError{cmd: e.cli + " " + strings.Join(argv, " "), err: err, stderr: errb.String()}
	}
	return d, out.String(), nil
}

// must is call for set-up steps, whose time does not count.
func (e *engine) must(args ...string) (string, error) {
	_, out, err := e.call(args...)
	return out, err
}

// close stops the daemons and removes what the engine left, last first.
func (e *engine) close() {
	for _, f := range slices.Backward(e.teardown) {
		f()
	}
	e.teardown = nil
}

// daemonPids returns the pids of the engine's daemons.
func (e *engine) daemonPids() []int {
	var pids []int
	for _, d := range e.daemons {
		pids = append(pids, d.cmd.Process.Pid)
	}
	return pids
}

// A daemon is a process the benchmark started in its own session, with its
// output in a log file.
type daemon struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// startDaemon starts name with args, its output in log.
func startDaemon(log, name string, env []string, args ...string) (*daemon, error) {
	f, err := os.Create(log)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	d := &daemon{name: filepath.Base(name), cmd: cmd, log: log, done: make(chan struct{})}
	go func() { d.err = cmd.Wait(); close(d.done) }()
	return d, nil
}

// stop ends the daemon with SIGTERM, then SIGKILL after 20 seconds.
func (d *daemon) stop() {
	select {
	case <-d.done:
		return
	default:
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(20 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
	}
}

// waitReady waits until ready reports true, the daemon exits, or a minute
// passes.
func (d *daemon) waitReady(what string, ready func() bool) error {
	deadline := time.Now().Add(time.Minute)
	for !ready() {
		select {
		case <-d.done:
			return fmt.Errorf("%s exited (%v) before %s:\n%s", d.name, d.err, what, tail(d.log, 20))
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: no %s after a minute:\n%s", d.name, what, tail(d.log, 20))
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// dialable reports whether a unix socket accepts connections.
func dialable(sock string) bool {
	c, err := net.Dial("unix", sock)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// procsMatching returns the pids of the processes whose command line
// satisfies match, except this process.
func procsMatching(match func(argv []string) bool) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, ent := range ents {
		var pid int
		if _, err := fmt.Sscanf(ent.Name(), "%d", &pid); err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile("/proc/" + ent.Name() + "/cmdline")
		if err != nil || len(b) == 0 {
			continue
		}
		if match(strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// argUnder reports whether an argument of argv is dir or a path below it
// (also as the value of --flag=path).
func argUnder(argv []string, dir string) bool {
	for _, a := range argv {
		if _, v, ok := strings.Cut(a, "="); ok && strings.HasPrefix(a, "-") {
			a = v
		}
		if a == dir || strings.HasPrefix(a, dir+"/") {
			return true
		}
	}
	return false
}

// killUnder kills the processes with an argument under dir: what an engine
// left running after a failure (shims, conmon).
func killUnder(dir string) {
	for _, pid := range procsMatching(func(argv []string) bool { return argUnder(argv, dir) }) {
		unix.Kill(pid, unix.SIGKILL)
	}
}

// unmountUnder detaches every mount at or below dir, deepest first.
func unmountUnder(dir string) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var points []string
	for l := range strings.Lines(string(b)) {
		f := strings.Fields(l)
		if len(f) < 5 {
			continue
		}
		if p := f[4]; p == dir || strings.HasPrefix(p, dir+"/") {
			points = append(points, p)
		}
	}
	slices.SortFunc(points, func(a, b string) int { return len(b) - len(a) })
	for _, p := range points {
		unix.Unmount(p, unix.MNT_DETACH)
	}
}

// removeCgroup removes the cgroup name and those below it from every
// hierarchy, retrying briefly while processes leave.
// removeMasquerade deletes petreld's masquerade rule for a bridge: the
// default network's rule outlives the daemon, as it does on a host.
func removeMasquerade(bridgeName string) {
	ipt, err := iptables.New(false)
	if err != nil {
		return
	}
	snap, err := ipt.Snapshot("nat")
	if err != nil {
		return
	}
	b := iptables.NewBatch("nat")
	for _, r := range snap.Rules("POSTROUTING") {
		if strings.Contains(r, bridge.NetworkMasqPrefix) && strings.Contains(r, " "+bridgeName+`"`) {
			b.DeleteLine(r)
		}
	}
	ipt.Apply(b)
}

func removeCgroup(name string) {
	hier, _ := filepath.Glob("/sys/fs/cgroup/*")
	for _, h := range append(hier, "/sys/fs/cgroup") {
		top := filepath.Join(h, name)
		if _, err := os.Stat(top); err != nil {
			continue
		}
		var dirs []string
		filepath.WalkDir(top, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		slices.SortFunc(dirs, func(a, b string) int { return len(b) - len(a) })
		for _, d := range dirs {
			for range 20 {
				if err := unix.Rmdir(d); err == nil || errors.Is(err, unix.ENOENT) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
}

// removeAll removes every container of the engine, ignoring errors.
func (e *engine) removeAll() {
	out, err := e.must("ps", "--all", "--quiet")
	if err != nil {
		return
	}
	if ids := strings.Fields(out); len(ids) > 0 {
		e.call(append([]string{"rm", "--force"}, ids...)...)
	}
}
