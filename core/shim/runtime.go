package shim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/oci/container"
)

// stdio is what a runtime gives the container's init: files for a
// process without a terminal, or a console socket end for one with.
type stdio struct {
	in, out, err *os.File
	console      *os.File // socket end that receives the pty master (lcr)
	consoleSock  string   // socket path that receives it (external runtimes)
}

// ociRuntime is the one seam between the shim and a runtime: the
// built-in lcr called in-process, or an external binary with runc's
// command line.
type ociRuntime interface {
	create(io stdio) (pid int, err error)
	start() error
	wait() (code int, err error) // blocks until the init exits, reaps it
	kill(sig unix.Signal, all bool) error
	pause() error
	resume() error
	delete() error
	update(r *specs.LinuxResources) error
	// exec starts p in the running container; wait reaps it.
	exec(p *specs.Process, io stdio) (pid int, wait func() (int, error), err error)
	// adopt takes on the container a former image of this process
	// created, whose init is pid.
	adopt(pid int) error
}

// newRuntime returns lcr for "" or "lcr", else the external runtime at
// path with its extra arguments.
func newRuntime(path string, args []string, root, id, bundle string) ociRuntime {
	if path == "" || path == "lcr" {
		return &lcr{root: root, id: id, bundle: bundle}
	}
	return &external{path: path, args: args, root: root, id: id, bundle: bundle}
}

// lcr runs the container through oci/container in this process: the init
// is our child and c.Wait reaps it.
type lcr struct {
	root, id, bundle string
	c                *container.Container
}

func (r *lcr) create(io stdio) (int, error) {
	c, err := container.Create(container.CreateOptions{
		Root: r.root, ID: r.id, Bundle: r.bundle,
		Stdin: io.in, Stdout: io.out, Stderr: io.err, ConsoleConn: io.console,
		Warn: func(msg string) { fmt.Fprintln(os.Stderr, "warning:", msg) },
	})
	if err != nil {
		return 0, err
	}
	r.c = c
	return c.Pid, nil
}

func (r *lcr) adopt(pid int) error {
	c, err := container.Adopt(r.root, r.id, pid)
	if err != nil {
		return err
	}
	r.c = c
	return nil
}

func (r *lcr) adoptHandover(pid int, handover []byte) error {
	c, err := container.AdoptHandover(r.root, r.id, pid, handover)
	if err != nil {
		return err
	}
	r.c = c
	return nil
}

func (r *lcr) start() error {
	return r.c.Start(func(msg string) { fmt.Fprintln(os.Stderr, "warning:", msg) })
}

func (r *lcr) wait() (int, error)                   { return r.c.Wait() }
func (r *lcr) kill(sig unix.Signal, all bool) error { return r.c.Signal(sig, all) }
func (r *lcr) pause() error                         { return r.c.Pause() }
func (r *lcr) resume() error                        { return r.c.Resume() }

func (r *lcr) update(res *specs.LinuxResources) error { return r.c.Update(res) }

func (r *lcr) exec(p *specs.Process, io stdio) (int, func() (int, error), error) {
	proc, err := r.c.Exec(container.ExecOptions{Process: p, Stdin: io.in, Stdout: io.out, Stderr: io.err, ConsoleConn: io.console})
	if err != nil {
		return 0, nil, err
	}
	return proc.Pid, proc.Wait, nil
}

func (r *lcr) delete() error {
	c := r.c // adopted: from a hand-over, it needs no config.json
	if c == nil {
		var err error
		if c, err = container.Load(r.root, r.id); err != nil {
			if errors.Is(err, container.ErrNotExist) {
				return nil
			}
			return err
		}
	}
	return c.Delete(true, nil)
}

// external drives a runc-compatible binary. The shim is a child
// subreaper, so the init, orphaned when `runtime create` exits, becomes
// our child and wait4 reaps it.
type external struct {
	path             string
	args             []string
	root, id, bundle string
	pid              int
}

func (r *external) run(stdin, stdout, stderr *os.File, args ...string) error {
	full := append(append(append([]string{}, r.args...), "--root", r.root), args...)
	cmd := exec.Command(r.path, full...)
	var errb bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, &errb
	if stderr != nil {
		cmd.Stderr = stderr
	}
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(errb.String())
		if msg == "" {
			msg = err.Error()
		}
		return fmt.Errorf("%s %s: %s", filepath.Base(r.path), args[0], msg)
	}
	return nil
}

// spawn runs create or exec: the processes they leave behind inherit
// the given stdio (never a pipe of ours, which would keep Run waiting),
// and errors come back through the runtime's --log file.
func (r *external) spawn(io stdio, args ...string) error {
	logFile := filepath.Join(filepath.Dir(r.root), r.id+"-"+args[0]+".log")
	os.Remove(logFile)
	defer os.Remove(logFile)
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer null.Close()
	in, out, errw := io.in, io.out, io.err
	for _, f := range []**os.File{&in, &out, &errw} {
		if *f == nil {
			*f = null
		}
	}
	full := append(append(append([]string{}, r.args...), "--root", r.root, "--log", logFile, "--log-format", "json"), args...)
	cmd := exec.Command(r.path, full...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = in, out, errw
	if err := cmd.Run(); err != nil {
		msg := err.Error()
		if data, rerr := os.ReadFile(logFile); rerr == nil {
			for _, line := range strings.Split(string(data), "\n") {
				var entry struct{ Level, Msg string }
				if json.Unmarshal([]byte(line), &entry) == nil && entry.Level == "error" && entry.Msg != "" {
					msg = entry.Msg
				}
			}
		}
		return fmt.Errorf("%s %s: %s", filepath.Base(r.path), args[0], msg)
	}
	return nil
}

func (r *external) create(io stdio) (int, error) {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return 0, fmt.Errorf("become subreaper: %w", err)
	}
	pidFile := filepath.Join(filepath.Dir(r.root), r.id+".pid")
	args := []string{"create", "--bundle", r.bundle, "--pid-file", pidFile}
	if io.consoleSock != "" {
		args = append(args, "--console-socket", io.consoleSock)
	}
	args = append(args, r.id)
	if err := r.spawn(io, args...); err != nil {
		return 0, err
	}
	data, err := os.ReadFile(pidFile)
	os.Remove(pidFile)
	if err != nil {
		return 0, fmt.Errorf("read pid file: %w", err)
	}
	if r.pid, err = strconv.Atoi(strings.TrimSpace(string(data))); err != nil {
		return 0, fmt.Errorf("pid file: %w", err)
	}
	return r.pid, nil
}

func (r *external) adopt(pid int) error { r.pid = pid; return nil }

func (r *external) start() error { return r.run(nil, nil, nil, "start", r.id) }

func (r *external) wait() (int, error) { return wait4(r.pid) }

// wait4 reaps pid, a child (or an orphan adopted by us as subreaper),
// and returns its shell-style exit code.
func wait4(pid int) (int, error) { return container.WaitPid(pid) }

func (r *external) kill(sig unix.Signal, all bool) error {
	args := []string{"kill"}
	if all {
		args = append(args, "--all")
	}
	return r.run(nil, nil, nil, append(args, r.id, strconv.Itoa(int(sig)))...)
}

func (r *external) exec(p *specs.Process, io stdio) (int, func() (int, error), error) {
	data, err := json.Marshal(p)
	if err != nil {
		return 0, nil, err
	}
	dir, err := os.MkdirTemp(filepath.Dir(r.root), "exec-")
	if err != nil {
		return 0, nil, err
	}
	defer os.RemoveAll(dir)
	procFile, pidFile := filepath.Join(dir, "process.json"), filepath.Join(dir, "pid")
	if err := os.WriteFile(procFile, data, 0o600); err != nil {
		return 0, nil, err
	}
	args := []string{"exec", "--detach", "--process", procFile, "--pid-file", pidFile}
	if io.consoleSock != "" {
		args = append(args, "--console-socket", io.consoleSock)
	}
	if err := r.spawn(io, append(args, r.id)...); err != nil {
		return 0, nil, err
	}
	pidData, err := os.ReadFile(pidFile)
	if err != nil {
		return 0, nil, fmt.Errorf("read exec pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(pidData)))
	if err != nil {
		return 0, nil, fmt.Errorf("exec pid file: %w", err)
	}
	return pid, func() (int, error) { return wait4(pid) }, nil
}

func (r *external) pause() error  { return r.run(nil, nil, nil, "pause", r.id) }
func (r *external) resume() error { return r.run(nil, nil, nil, "resume", r.id) }
func (r *external) delete() error { return r.run(nil, nil, nil, "delete", "--force", r.id) }

// update gives the runtime the resources as runc's --resources file.
func (r *external) update(res *specs.LinuxResources) error {
	data, err := json.Marshal(res)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(r.root), r.id+"-update-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return r.run(nil, nil, nil, "update", "--resources", f.Name(), r.id)
}

// consoleListener accepts the one connection on which an external
// runtime sends the pty master.
func consoleListener(path string) (*net.UnixListener, error) {
	os.Remove(path)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("console socket: %w", err)
	}
	return l, nil
}
