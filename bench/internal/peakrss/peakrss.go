// Package peakrss measures the peak resident set size of a program
// itself, stopping it at its exit with ptrace to read its VmHWM.
//
// Why not wait4's ru_maxrss: os/exec starts a child with
// clone(CLONE_VM|CLONE_VFORK), so until it calls execve the child runs on
// the parent's memory, and execve records the high-water RSS of that
// memory in the child's rusage. ru_maxrss of a small program started by a
// large benchmark is then at least the benchmark's own RSS.
package peakrss

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Run starts cmd under ptrace, lets it run to its exit and returns the
// VmHWM in KiB of its process: the peak RSS of the program, without the
// processes it starts. cmd must not have been started; its SysProcAttr is
// replaced. A non-zero exit is an error. The run is not for timing: every
// signal the program receives stops it once.
func Run(cmd *exec.Cmd) (int64, error) {
	// The tracer is the thread that started the tracee.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cmd.SysProcAttr = &unix.SysProcAttr{Ptrace: true}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer cmd.Process.Release()
	pid := cmd.Process.Pid
	var ws unix.WaitStatus
	// The tracee stops with SIGTRAP after its execve.
	if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil {
		return 0, fmt.Errorf("wait4: %w", err)
	}
	if !ws.Stopped() {
		return 0, fmt.Errorf("not stopped after execve: %v", ws)
	}
	if err := unix.PtraceSetOptions(pid, unix.PTRACE_O_TRACEEXIT|unix.PTRACE_O_EXITKILL); err != nil {
		unix.Kill(pid, unix.SIGKILL)
		unix.Wait4(pid, &ws, 0, nil)
		return 0, fmt.Errorf("ptrace set options: %w", err)
	}
	var hwm int64
	var hwmErr error
	sig := 0
	for {
		if err := unix.PtraceCont(pid, sig); err != nil && !errors.Is(err, unix.ESRCH) {
			return 0, fmt.Errorf("ptrace cont: %w", err)
		}
		if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil {
			return 0, fmt.Errorf("wait4: %w", err)
		}
		if ws.Exited() || ws.Signaled() {
			break
		}
		sig = 0
		switch {
		case !ws.Stopped():
		case ws.StopSignal() == unix.SIGTRAP && ws.TrapCause() == unix.PTRACE_EVENT_EXIT:
			hwm, hwmErr = VmHWM(pid)
		case ws.StopSignal() != unix.SIGTRAP:
			// A signal for the program (SIGCHLD, Go's SIGURG, …):
			// deliver it. A bare SIGTRAP follows a later execve.
			sig = int(ws.StopSignal())
		}
	}
	switch {
	case ws.Signaled():
		return 0, fmt.Errorf("killed by %v", ws.Signal())
	case ws.ExitStatus() != 0:
		return 0, fmt.Errorf("exit status %d", ws.ExitStatus())
	case hwmErr != nil:
		return 0, hwmErr
	}
	return hwm, nil
}

// VmHWM reads the peak resident set size of a process, in KiB.
func VmHWM(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return ParseVmHWM(b)
}

// ParseVmHWM finds "VmHWM:   1234 kB" in /proc/PID/status text.
func ParseVmHWM(status []byte) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), "VmHWM:")
		if !ok {
			continue
		}
		v = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB"))
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("VmHWM %q: %w", v, err)
		}
		return n, nil
	}
	return 0, errors.New("no VmHWM in /proc/PID/status")
}
