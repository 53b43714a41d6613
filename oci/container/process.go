package container

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// Process is a child process started by this package: a container's init
// or an exec'd process. It is waited for with wait4, not os.Process,
// whose first use forks a probe child to test pidfd support.
type Process struct {
	Pid int
}

// Wait waits for the process to exit and returns its exit code, 128+n
// when killed by signal n.
func (p *Process) Wait() (int, error) { return WaitPid(p.Pid) }

// WaitPid reaps pid, a child of this process (or an orphan it adopted as
// subreaper), and returns its exit code, 128+n when killed by signal n.
//
// It parks between SIGCHLDs instead of blocking in wait4: a goroutine in a
// blocking system call keeps its P until sysmon takes it back, which in a
// process with one P (a shim) and an idle sysmon is milliseconds, and the
// other goroutines (a shim's accept loop, with the daemon's start request
// waiting) wait as long.
func WaitPid(pid int) (int, error) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, unix.SIGCHLD)
	defer signal.Stop(sigs)
	var ws unix.WaitStatus
	for {
		got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return -1, fmt.Errorf("wait for pid %d: %w", pid, err)
		case got == pid:
			if ws.Signaled() {
				return 128 + int(ws.Signal()), nil
			}
			return ws.ExitStatus(), nil
		}
		<-sigs
	}
}

// Signal sends sig to the process.
func (p *Process) Signal(sig unix.Signal) error { return unix.Kill(p.Pid, sig) }

func (p *Process) killAndWait() {
	unix.Kill(p.Pid, unix.SIGKILL)
	p.Wait()
}

// initCmd is the re-executed binary ("petrel-runtime init") with its
// stdio, the files it inherits from fd 3 on, and its environment.
type initCmd struct {
	stdio [3]*os.File
	extra []*os.File
	env   []string
	sys   syscall.SysProcAttr
}

// addFile passes f to the init and returns its fd number there.
func (c *initCmd) addFile(f *os.File) int {
	c.extra = append(c.extra, f)
	return 2 + len(c.extra)
}

// start forks and execs the init from a thread that first joined the given
// namespaces, so that the child starts inside them (onJoinedThread).
func (c *initCmd) start(joins []nsJoin) (*Process, error) {
	files := make([]uintptr, 0, 3+len(c.extra))
	for _, f := range c.stdio {
		if f == nil {
			null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
			if err != nil {
				return nil, err
			}
			defer null.Close()
			f = null
		}
		files = append(files, f.Fd())
	}
	for _, f := range c.extra {
		files = append(files, f.Fd())
	}
	attr := &syscall.ProcAttr{Env: c.env, Files: files, Sys: &c.sys}
	argv := []string{"petrel-runtime", "init"}
	if len(joins) == 0 {
		pid, err := syscall.ForkExec("/proc/self/exe", argv, attr)
		if err != nil {
			return nil, err
		}
		return &Process{Pid: pid}, nil
	}
	pid, err := onJoinedThread(joins, func() (int, error) { return syscall.ForkExec("/proc/self/exe", argv, attr) })
	if err != nil {
		return nil, err
	}
	return &Process{Pid: pid}, nil
}
