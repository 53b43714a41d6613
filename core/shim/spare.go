package shim

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// A spare shim is started before any container needs it, so that a
// start finds a shim whose Go runtime is up instead of waiting for one
// (about 10 ms of CPU here, most of it page faults and the binary's
// package initialisers). It boots under SCHED_IDLE, so that it takes
// only CPU time nothing else wants, returns its threads to the normal
// policy, says so with a newline on its readiness pipe and waits on its
// control socket for
//
//	ctlContainer ARGS [log]   the command line (after "petrel-shim",
//	                          NUL-separated) of the shim it becomes,
//	                          and the file for its own stderr
//
// after which it is the launched shim of that container (launch.go). The
// end of the socket before that makes it exit: the daemon let it go.

// Spare is a spare shim started by LaunchSpare.
type Spare struct {
	l *Launched
}

// LaunchSpare starts a spare shim of binary ("" for /proc/self/exe).
// tag, the daemon's state directory, goes on its command line, so that
// tools can tell whose it is; log receives its stderr until it is taken.
func LaunchSpare(binary, tag string, log *os.File) (*Spare, error) {
	l, err := spawn(binary, []string{"petrel-shim", "--spare", tag, "--control-fd", "4"}, log, true)
	if err != nil {
		return nil, err
	}
	return &Spare{l: l}, nil
}

// Pid is the spare's process id.
func (s *Spare) Pid() int { return s.l.cmd.Process.Pid }

// WaitReady waits up to timeout for the spare to be up and waiting for
// a container.
func (s *Spare) WaitReady(timeout time.Duration) error {
	r := s.l.readyR
	r.SetReadDeadline(time.Now().Add(timeout))
	defer r.SetReadDeadline(time.Time{})
	var b [1]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return fmt.Errorf("spare shim did not come up: %w", err)
	}
	if b[0] != '\n' {
		rest, _ := io.ReadAll(io.LimitReader(r, 4096))
		return fmt.Errorf("spare shim failed: %s", strings.TrimSpace(string(append(b[:], rest...))))
	}
	return nil
}

// Take hands the spare a container: it becomes the launched shim that
// Launch(opts) would have started, with opts.Binary ignored. The spare is
// used up either way; on an error the caller launches a shim of its own.
func (s *Spare) Take(opts SpawnOptions) (*Launched, error) {
	args := opts.args()[1:]
	for _, a := range args {
		if strings.IndexByte(a, 0) >= 0 {
			s.Close()
			return nil, fmt.Errorf("shim argument %q holds a NUL byte", a)
		}
	}
	var files []*os.File
	if opts.Log != nil {
		files = append(files, opts.Log)
	}
	if err := sendControl(s.l.ctl, ctlContainer, []byte(strings.Join(args, "\x00")), files...); err != nil {
		s.Close()
		return nil, fmt.Errorf("spare shim: %w", err)
	}
	l := s.l
	s.l = nil
	return l, nil
}

// Close makes an untaken spare exit and reaps it.
func (s *Spare) Close() error {
	if s.l == nil {
		return nil
	}
	l := s.l
	s.l = nil
	l.cmd.Process.Kill() // it holds nothing: no socket, no file, no child
	l.ctl.Close()
	l.readyR.Close()
	err := l.cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) && !ee.Exited() {
		err = nil // the kill
	}
	return err
}

// startIdle starts cmd under SCHED_IDLE: it is forked from a thread set
// to that policy, which then ends with its goroutine. A daemon thread
// that is not under SCHED_NORMAL (a real-time daemon) starts it as is.
func startIdle(cmd *exec.Cmd) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		attr, err := unix.SchedGetAttr(0, 0)
		if err == nil && attr.Policy == unix.SCHED_NORMAL {
			idle := *attr
			idle.Policy = unix.SCHED_IDLE
			unix.SchedSetAttr(0, &idle, 0) // no SCHED_IDLE: a spare that competes
		}
		errc <- cmd.Start()
	}()
	return <-errc
}

// AwaitContainer is a spare shim's part (ready is its readiness pipe,
// ctl its control socket): it returns its threads to SCHED_NORMAL, says
// it is ready, and returns the command line (after "petrel-shim") of the
// shim it is to become, its stderr moved to the file the daemon sent.
// ErrAborted means the daemon let the spare go.
func AwaitContainer(ready, ctl *os.File) ([]string, error) {
	if err := normalPolicy(); err != nil {
		return nil, err
	}
	if _, err := ready.Write([]byte{'\n'}); err != nil {
		return nil, fmt.Errorf("readiness pipe: %w", err)
	}
	op, payload, files, err := recvControl(ctl)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	switch op {
	case 0:
		return nil, ErrAborted
	case ctlContainer:
	default:
		return nil, fmt.Errorf("unexpected control message %q", op)
	}
	if len(files) > 0 {
		if err := unix.Dup3(int(files[0].Fd()), 2, 0); err != nil {
			return nil, fmt.Errorf("stderr: %w", err)
		}
	}
	return strings.Split(string(payload), "\x00"), nil
}

// normalPolicy moves every thread of the process from SCHED_IDLE to
// SCHED_NORMAL, at its nice value; threads that start meanwhile are
// found by the next pass (one started by a moved thread is normal).
func normalPolicy() error {
	moved := map[int]bool{}
	for {
		ents, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return err
		}
		found := false
		for _, e := range ents {
			tid, err := strconv.Atoi(e.Name())
			if err != nil || moved[tid] {
				continue
			}
			found = true
			moved[tid] = true
			attr, err := unix.SchedGetAttr(tid, 0)
			if errors.Is(err, unix.ESRCH) {
				continue
			}
			if err != nil {
				return fmt.Errorf("thread %d: sched_getattr: %w", tid, err)
			}
			if attr.Policy != unix.SCHED_IDLE {
				continue
			}
			attr.Policy = unix.SCHED_NORMAL
			if err := unix.SchedSetAttr(tid, attr, 0); err != nil && !errors.Is(err, unix.ESRCH) {
				return fmt.Errorf("thread %d back to SCHED_NORMAL: %w", tid, err)
			}
		}
		if !found {
			return nil
		}
	}
}
