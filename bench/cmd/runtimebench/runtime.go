package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// A runtime is one OCI runtime under test, called through runc's command
// line with its own --root.
type runtime struct {
	name    string
	path    string
	root    string // --root, private to this run
	version string
	errlog  *os.File // stderr of every call, read back on failure
	outlog  *os.File // stdout of calls whose output is read
	// failures are the failed iterations, each with the failing command
	// and its stderr; a dropped runtime runs no further iterations.
	failures []string
	dropped  bool
}

// A sample is one timed call: wall time from fork to reaped exit, and the
// CPU time of the process and of the descendants it waited for.
type sample struct {
	wall      time.Duration
	user, sys time.Duration
}

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

// callTimeout bounds every runtime call, so that a hanging runtime fails
// the benchmark instead of stalling it.
const callTimeout = 30 * time.Second

// call runs the runtime with the global --root and args, stdin and stdout
// on /dev/null, and returns its wall time and peak RSS.
func (r *runtime) call(args ...string) (sample, error) {
	s, _, err := r.callOut(false, args...)
	return s, err
}

// callOut is call that also returns stdout when wantOut is set. Output goes
// through a file, not a pipe, so that reading it costs the call nothing.
func (r *runtime) callOut(wantOut bool, args ...string) (sample, []byte, error) {
	argv := append([]string{"--root", r.root}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.path, argv...)
	if err := rewind(r.errlog); err != nil {
		return sample{}, nil, err
	}
	cmd.Stderr = r.errlog
	if wantOut {
		if err := rewind(r.outlog); err != nil {
			return sample{}, nil, err
		}
		cmd.Stdout = r.outlog
	}
	start := time.Now()
	err := cmd.Run()
	s := sample{wall: time.Since(start)}
	if ps := cmd.ProcessState; ps != nil {
		if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
			s.user = time.Duration(ru.Utime.Nano())
			s.sys = time.Duration(ru.Stime.Nano())
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w after %v", ctx.Err(), callTimeout)
		}
		b, _ := os.ReadFile(r.errlog.Name())
		return s, nil, &callError{cmd: r.path + " " + strings.Join(argv, " "), err: err, stderr: string(b)}
	}
	if !wantOut {
		return s, nil, nil
	}
	out, err := os.ReadFile(r.outlog.Name())
	return s, out, err
}

// rewind empties f for the next call.
func rewind(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.Seek(0, 0)
	return err
}

// versionLine returns the first line of `runtime --version`.
func versionLine(path string) string {
	out, err := exec.Command(path, "--version").Output()
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	l, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(l)
}

// reapTimeout bounds the wait for a killed container process.
const reapTimeout = 10 * time.Second

// waitGone waits until the process pid has exited: reaped by this process
// (the benchmark is a child subreaper, as a shim is, so container processes
// whose runtime exited are its children) or gone from /proc.
func waitGone(pid int) error {
	deadline := time.Now().Add(reapTimeout)
	for {
		var ws syscall.WaitStatus
		wpid, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
		switch {
		case wpid == pid:
			return nil
		case errors.Is(err, syscall.ECHILD):
			// Not our child: watch /proc instead.
			if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
				return nil
			}
			if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
				if _, rest, ok := strings.Cut(string(b), ") "); ok && strings.HasPrefix(rest, "Z") {
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("process %d still running %v after kill", pid, reapTimeout)
		}
		time.Sleep(200 * time.Microsecond)
	}
}
